//! String matching beyond equality: wildcards and equals-ignore-case, with event-ruler's rules.
//!
//! Wildcards: `*` matches any run of bytes (including none), `\*` is a literal star and `\\` a
//! literal backslash; `**` and any other escape are refused, with the byte position in the value
//! as event-ruler counts it (from the opening quote, so the first character is at 1).
//!
//! Equals-ignore-case follows event-ruler's parser: each UTF-16 unit `c` of the pattern matches
//! the UTF-8 of `c.toLowerCase(ROOT)` or of `c.toUpperCase(ROOT)` (not `c` itself when it is
//! neither, as for titlecase letters). A character outside the BMP is two surrogate units, which
//! Java encodes as `?` each: event-ruler matches such a pattern against `??`, and so does this.

/// One piece of a compiled wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Piece {
    Literal(Vec<u8>),
    Star,
}

/// A wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Wildcard {
    pieces: Vec<Piece>,
}

impl Wildcard {
    /// Parses the text of a `wildcard` value; the error is event-ruler's message.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'*' => {
                    if bytes.get(i + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Star);
                }
                b'\\' => match bytes.get(i + 1) {
                    Some(&next @ (b'*' | b'\\')) => {
                        literal.push(next);
                        i += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
                },
                b => literal.push(b),
            }
            i += 1;
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self { pieces })
    }

    /// The literal bytes before the first star (the whole value when there is no star).
    pub(crate) fn literal_prefix(&self) -> &[u8] {
        match self.pieces.first() {
            Some(Piece::Literal(l)) => l,
            _ => &[],
        }
    }

    /// Whether `value` matches the whole pattern.
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let mut pieces = self.pieces.as_slice();
        let mut rest = value;
        if pieces.is_empty() {
            return value.is_empty();
        }
        // Anchor the first literal at the start and the last at the end; between stars, take the
        // leftmost occurrence of each literal (greedy leftmost is enough for `*` only patterns).
        if let Some(Piece::Literal(first)) = pieces.first() {
            if !rest.starts_with(first) {
                return false;
            }
            rest = &rest[first.len()..];
            pieces = &pieces[1..];
            if pieces.is_empty() {
                return rest.is_empty();
            }
        }
        if let Some(Piece::Literal(last)) = pieces.last() {
            if !rest.ends_with(last) {
                return false;
            }
            rest = &rest[..rest.len() - last.len()];
            pieces = &pieces[..pieces.len() - 1];
        }
        // Now pieces start and end with a star (or are a lone star / empty).
        for piece in pieces {
            if let Piece::Literal(lit) = piece {
                match find(rest, lit) {
                    Some(at) => rest = &rest[at + lit.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One pattern character for equals-ignore-case: its lower- and upper-case UTF-8 forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Unit {
    pub lower: Vec<u8>,
    pub upper: Vec<u8>,
}

/// The units of an equals-ignore-case pattern, in order.
pub(crate) fn fold_units(text: &str) -> Vec<Unit> {
    let mut units = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c.len_utf16() == 2 {
            // Two surrogates, each encoded by Java as '?'.
            for _ in 0..2 {
                units.push(Unit {
                    lower: b"?".to_vec(),
                    upper: b"?".to_vec(),
                });
            }
            continue;
        }
        let lower: String = c.to_lowercase().collect();
        let upper: String = c.to_uppercase().collect();
        units.push(Unit {
            lower: lower.into_bytes(),
            upper: upper.into_bytes(),
        });
    }
    units
}

/// The same units for matching from the end: units reversed, each one's bytes reversed.
pub(crate) fn reversed_units(units: &[Unit]) -> Vec<Unit> {
    units
        .iter()
        .rev()
        .map(|u| Unit {
            lower: u.lower.iter().rev().copied().collect(),
            upper: u.upper.iter().rev().copied().collect(),
        })
        .collect()
}

/// Whether the units match the start of `value` (`whole`: all of it).
pub(crate) fn units_match(units: &[Unit], value: &[u8], whole: bool) -> bool {
    // Depth-first over the (at most two) alternatives of each unit; a unit's alternatives are
    // distinct strings, so the search space is small in practice and bounded by value length.
    // The next branch is kept apart from the stack: the usual single path allocates nothing.
    let mut stack = Vec::new();
    let mut next = Some((0usize, 0usize));
    while let Some((i, pos)) = next.take().or_else(|| stack.pop()) {
        let Some(u) = units.get(i) else {
            if !whole || pos == value.len() {
                return true;
            }
            continue;
        };
        for len in unit_prefix(u, &value[pos..]).into_iter().flatten() {
            match next {
                None => next = Some((i + 1, pos + len)),
                Some(_) => stack.push((i + 1, pos + len)),
            }
        }
    }
    false
}

/// How many bytes of `rest` each of a unit's cases matches at its start (the upper case only
/// when it differs): one-byte cases, nearly all of them, are compared as bytes.
pub(crate) fn unit_prefix(u: &Unit, rest: &[u8]) -> [Option<usize>; 2] {
    let matches = |case: &[u8]| match (case, rest.first()) {
        ([one], Some(first)) => one == first,
        _ => rest.starts_with(case),
    };
    let lower = matches(&u.lower).then_some(u.lower.len());
    let upper = (u.upper != u.lower && matches(&u.upper)).then_some(u.upper.len());
    [lower, upper]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wc(p: &str, v: &str) -> bool {
        Wildcard::parse(p).unwrap().matches(v.as_bytes())
    }

    #[test]
    fn wildcard_matching() {
        assert!(wc("*bc", "abcbc"));
        assert!(wc("d*f", "deeeef"));
        assert!(!wc("d*f", "deeeefx"));
        assert!(wc("xy*", "xy"));
        assert!(wc("*", ""));
        assert!(wc("a*b*c", "abc"));
        assert!(wc("a*b*c", "axxbyyc"));
        assert!(!wc("a*b*c", "axxcyyb"));
        assert!(wc(r"a\*b", "a*b"));
        assert!(!wc(r"a\*b", "axb"));
        assert!(wc(r"a\\b", r"a\b"));
        assert!(wc("", ""));
        assert!(!wc("", "x"));
        assert!(wc("*ab*ab", "abab"));
        assert!(!wc("ab*ba", "aba"));
    }

    #[test]
    fn wildcard_refusals_count_from_the_opening_quote() {
        assert_eq!(
            Wildcard::parse("abc**def").unwrap_err(),
            "Consecutive wildcard characters at pos 4"
        );
        assert_eq!(
            Wildcard::parse(r"a*c\def").unwrap_err(),
            "Invalid escape character at pos 4"
        );
        assert_eq!(
            Wildcard::parse("foo*bar\\").unwrap_err(),
            "Invalid escape character at pos 8"
        );
    }

    #[test]
    fn ignore_case_units_follow_java() {
        let m = |p: &str, v: &str| units_match(&fold_units(p), v.as_bytes(), true);
        assert!(m("aBc", "ABC"));
        assert!(m("ß", "ß"));
        assert!(m("ß", "SS"));
        assert!(!m("ß", "ss"));
        assert!(!m("ǅ", "ǅ"));
        assert!(m("ǅ", "ǆ"));
        assert!(m("😀", "??"));
        assert!(!m("😀", "😀"));
        assert!(m("İ", "i\u{307}"));
    }
}
