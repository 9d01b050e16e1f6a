//! Limits on what enters the ledger: QLDB's quotas (`../shared/specs/qldb.md` §9) and
//! veritrail's own bounds on nesting, which keep hostile input from exhausting the stack.
//!
//! Every recursive walk in the ledger (Ion Hash, encoding, comparison, the PartiQL parser and
//! evaluator) runs only over values and statements already checked here, and the checks
//! themselves are iterative. Ion text and binary from outside are measured before `ion-rs`
//! (whose reader recurses once per container) parses them: [`read_ion`].

use std::fmt;

use veritrail_core::ion_rs::{Element, Value};

/// Statement text, in characters (QLDB).
pub const MAX_STATEMENT_CHARS: usize = 100_000;
/// One document, as Ion binary (QLDB).
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;
/// Documents one transaction writes (QLDB).
pub const MAX_DOCUMENTS_PER_TRANSACTION: usize = 40;
/// The documents one transaction writes, as Ion binary (QLDB: 4 MB).
pub const MAX_TRANSACTION_BYTES: usize = 4 << 20;
/// Indexes of one table (QLDB).
pub const MAX_INDEXES_PER_TABLE: usize = 5;
/// Active tables of a ledger (QLDB).
pub const MAX_ACTIVE_TABLES: usize = 20;
/// Tables of a ledger, dropped ones included (QLDB).
pub const MAX_TOTAL_TABLES: usize = 40;
/// A table name's length (QLDB).
pub const MAX_TABLE_NAME_CHARS: usize = 128;

/// Containers nested in one Ion value (documents, parameters, Ion literals). `serde_json`
/// reads JSON nested as deep by default, so every CloudTrail record it parses fits.
pub const MAX_ION_DEPTH: usize = 128;
/// Nesting of a PartiQL expression: parentheses, operators, collection literals, calls.
pub const MAX_EXPRESSION_DEPTH: usize = 100;
/// Items of one IN list, collection literal or argument list.
pub const MAX_LIST_ITEMS: usize = 1_000;
/// Steps of one path (`a.b[0].c`): a longer path cannot reach into a value of
/// [`MAX_ION_DEPTH`].
pub const MAX_PATH_STEPS: usize = MAX_ION_DEPTH;

/// Ion from outside that the ledger refuses to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IonInputError {
    /// Containers nested deeper than [`MAX_ION_DEPTH`]; `position` is the byte offset of the
    /// container that goes one level too deep.
    TooDeep { position: usize, max: usize },
    /// Binary Ion whose structure is broken at `position`.
    Malformed { position: usize, message: String },
    /// `ion-rs` could not read it.
    Unreadable(String),
}

impl fmt::Display for IonInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooDeep { position, max } => write!(
                f,
                "the Ion value nests containers deeper than {max} levels (at byte {position})"
            ),
            Self::Malformed { position, message } => {
                write!(f, "not valid Ion binary at byte {position}: {message}")
            }
            Self::Unreadable(e) => write!(f, "not readable Ion: {e}"),
        }
    }
}

impl std::error::Error for IonInputError {}

const IVM: [u8; 4] = [0xE0, 0x01, 0x00, 0xEA];

/// Reads every top-level value of Ion text or binary (binary starts with the version
/// marker), after checking its nesting without recursion.
pub fn read_ion(bytes: &[u8]) -> Result<Vec<Element>, IonInputError> {
    check_ion_nesting(bytes, MAX_ION_DEPTH)?;
    Element::read_all(bytes)
        .map(|seq| seq.into_iter().collect())
        .map_err(|e| IonInputError::Unreadable(e.to_string()))
}

/// Reads exactly one Ion value (text or binary), after checking its nesting.
pub fn read_one_ion(bytes: &[u8]) -> Result<Element, IonInputError> {
    check_ion_nesting(bytes, MAX_ION_DEPTH)?;
    Element::read_one(bytes).map_err(|e| IonInputError::Unreadable(e.to_string()))
}

/// Checks the container nesting of Ion text or binary without parsing it.
pub fn check_ion_nesting(bytes: &[u8], max: usize) -> Result<(), IonInputError> {
    if bytes.starts_with(&IVM) {
        binary_nesting(bytes, max)
    } else {
        text_nesting(bytes, max)
    }
}

/// Ion text: counts brackets outside strings, quoted symbols, comments and lobs. It never
/// counts fewer levels than a parser would open, so it errs only towards refusing.
fn text_nesting(text: &[u8], max: usize) -> Result<(), IonInputError> {
    let mut depth = 0usize;
    let mut i = 0;
    let at = |i: usize| text.get(i).copied();
    // Skips quoted text opened at `i` (after the opening quote) up to `close`; returns the
    // offset after it.
    let skip_quoted = |mut i: usize, close: &[u8]| -> usize {
        while i < text.len() {
            if text[i] == b'\\' {
                i += 2;
            } else if text[i..].starts_with(close) {
                return i + close.len();
            } else {
                i += 1;
            }
        }
        text.len()
    };
    while let Some(b) = at(i) {
        match b {
            b'"' => i = skip_quoted(i + 1, b"\""),
            b'\'' if text[i..].starts_with(b"'''") => i = skip_quoted(i + 3, b"'''"),
            b'\'' => i = skip_quoted(i + 1, b"'"),
            b'/' if at(i + 1) == Some(b'/') => {
                i = text[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(text.len(), |n| i + n + 1);
            }
            b'/' if at(i + 1) == Some(b'*') => {
                i = text[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(text.len(), |n| i + 2 + n + 2);
            }
            b'{' if at(i + 1) == Some(b'{') => {
                // A blob or clob: base64, or strings, up to `}}`.
                i += 2;
                while i < text.len() && !text[i..].starts_with(b"}}") {
                    i = match text[i] {
                        b'"' => skip_quoted(i + 1, b"\""),
                        b'\'' if text[i..].starts_with(b"'''") => skip_quoted(i + 3, b"'''"),
                        _ => i + 1,
                    };
                }
                i += 2;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(IonInputError::TooDeep { position: i, max });
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Ion 1.0 binary: walks type descriptors and lengths with an explicit stack of open
/// containers (annotation wrappers count as a level).
fn binary_nesting(bytes: &[u8], max: usize) -> Result<(), IonInputError> {
    let malformed = |position: usize, message: &str| IonInputError::Malformed {
        position,
        message: message.to_owned(),
    };
    let var_uint = |p: &mut usize| -> Result<usize, IonInputError> {
        let start = *p;
        let mut value = 0usize;
        for _ in 0..8 {
            let b = *bytes
                .get(*p)
                .ok_or_else(|| malformed(start, "a length runs past the end"))?;
            *p += 1;
            value = (value << 7) | usize::from(b & 0x7F);
            if b & 0x80 != 0 {
                return Ok(value);
            }
        }
        Err(malformed(start, "a length is longer than 8 bytes"))
    };
    // (end offset, holds struct fields)
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut p = 0;
    loop {
        while open.last().is_some_and(|&(end, _)| p >= end) {
            open.pop();
        }
        if p >= bytes.len() {
            return Ok(());
        }
        if open.is_empty() && bytes[p..].starts_with(&IVM) {
            p += IVM.len();
            continue;
        }
        if open.last().is_some_and(|&(_, is_struct)| is_struct) {
            var_uint(&mut p)?; // the field name's symbol id
        }
        let start = p;
        let descriptor = *bytes
            .get(p)
            .ok_or_else(|| malformed(p, "a struct field has no value"))?;
        p += 1;
        let (kind, low) = (descriptor >> 4, descriptor & 0x0F);
        let length = |p: &mut usize| -> Result<usize, IonInputError> {
            match low {
                14 => var_uint(p),
                15 => Ok(0),
                n => Ok(usize::from(n)),
            }
        };
        let end_of = |p: usize, len: usize| -> Result<usize, IonInputError> {
            let end = p
                .checked_add(len)
                .filter(|e| *e <= bytes.len())
                .ok_or_else(|| malformed(start, "a value runs past the end"))?;
            match open.last() {
                Some(&(outer, _)) if end > outer => {
                    Err(malformed(start, "a value runs past its container"))
                }
                _ => Ok(end),
            }
        };
        match kind {
            1 => {} // bool: the value is in the descriptor
            0 | 2..=10 => {
                let len = length(&mut p)?;
                p = end_of(p, len)?;
            }
            11..=14 => {
                let len = if kind == 13 && low == 1 {
                    var_uint(&mut p)? // a struct with sorted fields
                } else {
                    length(&mut p)?
                };
                let end = end_of(p, len)?;
                if low == 15 {
                    continue; // a typed null: not a container
                }
                if open.len() >= max {
                    return Err(IonInputError::TooDeep {
                        position: start,
                        max,
                    });
                }
                if kind == 14 {
                    // Annotation wrapper: skip the annotation symbols; the wrapped value follows.
                    let annotations = var_uint(&mut p)?;
                    p = p
                        .checked_add(annotations)
                        .filter(|q| *q <= end)
                        .ok_or_else(|| malformed(start, "annotations run past their wrapper"))?;
                }
                open.push((end, kind == 13));
            }
            _ => return Err(malformed(start, "reserved type code 15")),
        }
    }
}

/// Checks that a value nests at most `max` containers, without recursion.
pub fn check_value_depth(value: &Element, max: usize) -> Result<(), usize> {
    let mut stack = vec![(value, 0usize)];
    while let Some((e, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Element>> = match e.value() {
            Value::List(seq) | Value::SExp(seq) => Box::new(seq.iter()),
            Value::Struct(st) => Box::new(st.iter().map(|(_, v)| v)),
            _ => continue,
        };
        if level + 1 > max {
            return Err(level + 1);
        }
        stack.extend(children.map(|c| (c, level + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::ion_rs::v1_0;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn text_nesting_is_measured_outside_strings_comments_and_lobs() {
        assert!(read_ion(nested(MAX_ION_DEPTH).as_bytes()).is_ok());
        let deep = nested(100_000);
        assert_eq!(
            read_ion(deep.as_bytes()),
            Err(IonInputError::TooDeep {
                position: MAX_ION_DEPTH,
                max: MAX_ION_DEPTH
            })
        );
        // Brackets inside text do not count.
        let quiet = format!(
            "{{a:\"{0}\", b:'{0}', c:'''{0}''', d:{{{{\"{0}\"}}}}, /* {0} */ e:1}} // {0}",
            "[(".repeat(500)
        );
        assert!(read_ion(quiet.as_bytes()).is_ok());
        assert!(check_ion_nesting(b"{a:\"\\\"[[[\"}", 1).is_ok());
    }

    #[test]
    fn binary_nesting_is_measured_without_parsing() {
        let value = Element::read_one(nested(MAX_ION_DEPTH)).unwrap();
        let bytes = value.encode_as(v1_0::Binary).unwrap();
        assert_eq!(read_one_ion(&bytes).unwrap(), value);
        let annotated = Element::read_one("a::{x:b::[c::(1 2)], y:null.list, z:{}}").unwrap();
        let bytes = annotated.encode_as(v1_0::Binary).unwrap();
        assert_eq!(read_one_ion(&bytes).unwrap(), annotated);
        assert!(check_ion_nesting(&bytes, 5).is_err()); // 3 containers + 3 wrappers
        assert!(check_ion_nesting(&bytes, 6).is_ok());

        // 100,000 nested lists, each header with the exact length of what it holds.
        let var_uint = |mut v: usize| {
            let mut out = vec![(v & 0x7F) as u8 | 0x80];
            v >>= 7;
            while v > 0 {
                out.insert(0, (v & 0x7F) as u8);
                v >>= 7;
            }
            out
        };
        let n = 100_000;
        let mut inner_sizes = vec![1usize]; // the innermost empty list, 0xB0
        for _ in 1..n {
            let inner = *inner_sizes.last().unwrap();
            inner_sizes.push(1 + var_uint(inner).len() + inner);
        }
        let mut deep = IVM.to_vec();
        for level in (1..n).rev() {
            deep.push(0xBE);
            deep.extend(var_uint(inner_sizes[level - 1]));
        }
        deep.push(0xB0);
        assert_eq!(deep.len(), IVM.len() + inner_sizes[n - 1]);
        assert!(matches!(
            check_ion_nesting(&deep, MAX_ION_DEPTH),
            Err(IonInputError::TooDeep {
                max: MAX_ION_DEPTH,
                ..
            })
        ));
        // Truncated or reserved input is malformed, never a panic.
        for bad in [
            &[0xE0, 0x01, 0x00, 0xEA, 0xBE][..],
            &[0xE0, 1, 0, 0xEA, 0xF0],
        ] {
            assert!(matches!(
                check_ion_nesting(bad, MAX_ION_DEPTH),
                Err(IonInputError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn value_depth_is_checked_iteratively() {
        let v = Element::read_one(nested(10)).unwrap();
        assert_eq!(check_value_depth(&v, 10), Ok(()));
        assert_eq!(check_value_depth(&v, 9), Err(10));
        assert_eq!(check_value_depth(&Element::from(1i64), 0), Ok(()));
    }
}
