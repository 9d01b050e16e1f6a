//! Reading one Ion value that comes from outside (a file, a request parameter, a block address)
//! within a size limit and a nesting-depth limit.
//!
//! `ion-rs` 1.2 matches and builds containers recursively, about 6 KB of stack per level, so a
//! few kilobytes of `[[[[…` overflow any thread's stack and abort the process. [`read_one`]
//! therefore first measures the nesting of the raw input with an iterative scan (Ion text:
//! strings, quoted symbols, long strings, comments, blobs and clobs skipped as `ion-rs` skips
//! them; Ion binary: container lengths followed), refuses input over either limit with an
//! [`IonInputError`] that names the limit and the byte where it was passed, and only then hands
//! the bytes to `ion-rs`.
//!
//! Limits QLDB documents for what it accepts (`../shared/specs/qldb.md` §9): a statement
//! parameter is at most 128 KB as Ion binary and 1 MB as Ion text, a document 128 KB. QLDB
//! documents no depth limit; [`DEFAULT_MAX_DEPTH`] is deep enough for any JSON that `serde_json`
//! accepts (128 levels) inside a revision or block envelope, and shallow enough for `ion-rs` on
//! a 2 MB thread.

use std::fmt;

use ion_rs::Element;

/// The deepest nesting [`read_one`] accepts by default: 128 levels of JSON (`serde_json`'s own
/// limit) plus the envelope a block or revision puts around a document, with room to spare.
/// `ion-rs` needs about 0.9 MB of stack for it, under half of a 2 MB thread.
pub const DEFAULT_MAX_DEPTH: usize = 150;

/// How much input [`read_one`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IonLimits {
    /// The largest input, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting of containers (lists, s-expressions, structs); a scalar has depth 0,
    /// `[]` depth 1.
    pub max_depth: usize,
}

impl IonLimits {
    /// A QLDB statement parameter sent as Ion binary: 128 KB.
    pub const QLDB_PARAMETER_BINARY: Self = Self::new(128 * 1024, DEFAULT_MAX_DEPTH);
    /// A QLDB statement parameter sent as Ion text: 1 MB.
    pub const QLDB_PARAMETER_TEXT: Self = Self::new(1024 * 1024, DEFAULT_MAX_DEPTH);

    /// Limits of `max_bytes` bytes and `max_depth` levels.
    pub const fn new(max_bytes: usize, max_depth: usize) -> Self {
        Self {
            max_bytes,
            max_depth,
        }
    }
}

/// Why outside Ion was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IonInputError {
    /// The input is longer than the size limit.
    TooLarge { size: usize, limit: usize },
    /// A container at byte `offset` is nested deeper than the depth limit.
    TooDeep { offset: usize, limit: usize },
    /// The scan found input that is not Ion at byte `offset` (an unterminated string or
    /// comment, an unbalanced bracket, a binary length that runs past its container).
    Malformed { offset: usize, problem: String },
    /// `ion-rs` did not read exactly one valid value.
    Invalid(String),
    /// `ion-rs` panicked on the input (a bug in it, caught so that it is an error and not a
    /// crash). The property tests hold this at zero for every input they generate.
    ParserPanicked,
}

impl fmt::Display for IonInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(
                f,
                "{size} bytes of Ion is more than the limit of {limit} bytes"
            ),
            Self::TooDeep { offset, limit } => write!(
                f,
                "Ion nested more than {limit} levels deep (at byte {offset})"
            ),
            Self::Malformed { offset, problem } => {
                write!(
                    f,
                    "not a single valid Ion value: at byte {offset}: {problem}"
                )
            }
            Self::Invalid(e) => write!(f, "not a single valid Ion value: {e}"),
            Self::ParserPanicked => {
                f.write_str("not a single valid Ion value: the Ion parser failed on it")
            }
        }
    }
}

impl std::error::Error for IonInputError {}

/// The Ion 1.0 binary version marker, which starts every Ion binary stream.
const BINARY_IVM: [u8; 4] = [0xE0, 0x01, 0x00, 0xEA];

/// Reads exactly one Ion value from Ion text or Ion binary (recognised by its version marker,
/// as `ion-rs` does), refusing input over `limits` before `ion-rs` sees it.
pub fn read_one(input: &[u8], limits: IonLimits) -> Result<Element, IonInputError> {
    check(input, limits)?;
    // The scan bounds the recursion; a panic left in ion-rs still must not take the caller
    // down with it (nothing is shared with the parse, so nothing is left half-changed).
    std::panic::catch_unwind(|| Element::read_one(input))
        .map_err(|_| IonInputError::ParserPanicked)?
        .map_err(|e| IonInputError::Invalid(e.to_string()))
}

/// Checks `input` against `limits` without building anything: the scan [`read_one`] runs
/// before it parses. Never recurses, whatever the input.
pub fn check(input: &[u8], limits: IonLimits) -> Result<(), IonInputError> {
    if input.len() > limits.max_bytes {
        return Err(IonInputError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    if input.starts_with(&BINARY_IVM) {
        binary_depth(input, limits.max_depth)
    } else {
        // Ion text is UTF-8; ion-rs 1.2 panics on some strings that are not.
        std::str::from_utf8(input)
            .map_err(|e| malformed(e.valid_up_to(), "Ion text must be UTF-8"))?;
        text_depth(input, limits.max_depth)
    }
}

fn malformed(offset: usize, problem: &str) -> IonInputError {
    IonInputError::Malformed {
        offset,
        problem: problem.to_owned(),
    }
}

const fn is_ion_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// The characters of an s-expression operator (`ion-rs`'s `match_operator`).
const fn is_operator_char(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'%'
            | b'&'
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'/'
            | b';'
            | b'<'
            | b'='
            | b'>'
            | b'?'
            | b'@'
            | b'^'
            | b'`'
            | b'|'
            | b'~'
    )
}

/// The index just past the first unescaped `delimiter` at or after `from` (a backslash hides
/// the byte after it, as in `ion-rs`'s `match_text_until_unescaped`).
fn skip_quoted(
    input: &[u8],
    from: usize,
    delimiter: &[u8],
    start: usize,
) -> Result<usize, IonInputError> {
    let mut i = from;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            _ if input[i..].starts_with(delimiter) => return Ok(i + delimiter.len()),
            _ => i += 1,
        }
    }
    Err(malformed(start, "a string or quoted symbol is not closed"))
}

fn skip_whitespace(input: &[u8], mut i: usize) -> usize {
    while i < input.len() && is_ion_whitespace(input[i]) {
        i += 1;
    }
    i
}

/// Skips a blob or clob whose `{{` is at `start`; returns the index after its `}}`. Only
/// whitespace (no comments) may stand between its parts, as in `ion-rs`.
fn skip_lob(input: &[u8], start: usize) -> Result<usize, IonInputError> {
    let mut i = skip_whitespace(input, start + 2);
    if input.get(i) == Some(&b'"') {
        i = skip_quoted(input, i + 1, b"\"", i)?;
        i = skip_whitespace(input, i);
    } else if input[i..].starts_with(b"'''") {
        while input[i..].starts_with(b"'''") {
            i = skip_quoted(input, i + 3, b"'''", i)?;
            i = skip_whitespace(input, i);
        }
    } else {
        while i < input.len()
            && (input[i].is_ascii_alphanumeric()
                || matches!(input[i], b'+' | b'/' | b'=')
                || is_ion_whitespace(input[i]))
        {
            i += 1;
        }
    }
    if input[i..].starts_with(b"}}") {
        Ok(i + 2)
    } else {
        Err(malformed(start, "a blob or clob is not closed by `}}`"))
    }
}

/// The nesting of Ion text, measured without recursion. Everything `ion-rs` reads as structure
/// is counted; what it reads as text (strings, symbols, comments, lobs) is skipped by the same
/// rules, so the count is the depth `ion-rs` would recurse to.
fn text_depth(input: &[u8], max_depth: usize) -> Result<(), IonInputError> {
    let mut open: Vec<u8> = Vec::new();
    // Inside an s-expression, `/` right after an operator character continues the operator
    // (`ion-rs` matches operators greedily), so `+//` is an operator, not a comment.
    let mut after_operator = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        let in_sexp = open.last() == Some(&b'(');
        let next = input.get(i + 1).copied();
        if b == b'/' && matches!(next, Some(b'/' | b'*')) && !(in_sexp && after_operator) {
            i = if next == Some(b'/') {
                input[i..]
                    .iter()
                    .position(|c| matches!(c, b'\r' | b'\n'))
                    .map_or(input.len(), |p| i + p)
            } else {
                input[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map(|p| i + 2 + p + 2)
                    .ok_or_else(|| malformed(i, "a /* comment is not closed"))?
            };
            after_operator = false;
            continue;
        }
        after_operator = in_sexp && is_operator_char(b);
        match b {
            b'"' => i = skip_quoted(input, i + 1, b"\"", i)?,
            b'\'' if input[i..].starts_with(b"'''") => i = skip_quoted(input, i + 3, b"'''", i)?,
            b'\'' => i = skip_quoted(input, i + 1, b"'", i)?,
            b'{' if next == Some(b'{') => i = skip_lob(input, i)?,
            b'[' | b'(' | b'{' => {
                if open.len() >= max_depth {
                    return Err(IonInputError::TooDeep {
                        offset: i,
                        limit: max_depth,
                    });
                }
                open.push(b);
                i += 1;
            }
            b']' | b')' | b'}' => {
                let opener = match b {
                    b']' => b'[',
                    b')' => b'(',
                    _ => b'{',
                };
                if open.pop() != Some(opener) {
                    return Err(malformed(i, "a closing bracket does not match"));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// A VarUInt at `at`: its value and the index after it.
fn var_uint(input: &[u8], at: usize) -> Result<(usize, usize), IonInputError> {
    let mut value: usize = 0;
    for (n, &b) in input.get(at..).unwrap_or(&[]).iter().enumerate() {
        value = value
            .checked_mul(128)
            .and_then(|v| v.checked_add(usize::from(b & 0x7F)))
            .ok_or_else(|| malformed(at, "a length does not fit in memory"))?;
        if b & 0x80 != 0 {
            return Ok((value, at + n + 1));
        }
    }
    Err(malformed(at, "a length runs past the end of the input"))
}

/// The nesting of Ion 1.0 binary, measured by walking type descriptors and lengths with an
/// explicit stack of container ends.
fn binary_depth(input: &[u8], max_depth: usize) -> Result<(), IonInputError> {
    // One entry per open container or annotation wrapper: (end, counts toward depth, is struct).
    let mut open: Vec<(usize, bool, bool)> = Vec::new();
    let mut depth = 0usize;
    // Where the value an annotation wrapper wraps begins.
    let mut wrapped_at = usize::MAX;
    let mut i = 0;
    loop {
        while let Some(&(end, counted, _)) = open.last() {
            if i < end {
                break;
            }
            if i > end {
                return Err(malformed(end, "a value runs past the end of its container"));
            }
            open.pop();
            depth -= usize::from(counted);
        }
        if i >= input.len() {
            return if open.is_empty() {
                Ok(())
            } else {
                Err(malformed(i, "a container runs past the end of the input"))
            };
        }
        let limit = open.last().map_or(input.len(), |o| o.0);
        if open.is_empty() && input[i..].starts_with(&BINARY_IVM) {
            i += 4;
            continue;
        }
        if open.last().is_some_and(|o| o.2) {
            // A struct field: its name's symbol id comes first.
            i = var_uint(input, i)?.1;
        }
        let start = i;
        let descriptor = *input
            .get(i)
            .ok_or_else(|| malformed(i, "a field has no value"))?;
        let (t, l) = (descriptor >> 4, descriptor & 0x0F);
        i += 1;
        let length = match (t, l) {
            // Nulls, and booleans, have no body.
            (_, 15) | (1, _) => 0,
            (14, 0) => return Err(malformed(start, "a version marker inside a value")),
            (15, _) => return Err(malformed(start, "reserved type code 0xF")),
            // A struct of sorted fields, and any value of 14 bytes or more: the length follows.
            (13, 1) | (_, 14) => {
                let (n, after) = var_uint(input, i)?;
                i = after;
                n
            }
            _ => usize::from(l),
        };
        let end = i
            .checked_add(length)
            .filter(|e| *e <= limit)
            .ok_or_else(|| malformed(start, "a length runs past the end of its container"))?;
        match t {
            11..=13 if l != 15 => {
                if depth >= max_depth {
                    return Err(IonInputError::TooDeep {
                        offset: start,
                        limit: max_depth,
                    });
                }
                depth += 1;
                open.push((end, true, t == 13));
            }
            14 => {
                // Annotations, then the one value they annotate (not a level of its own, and
                // never another wrapper, so wrappers cannot pile up either).
                if open.last().is_some_and(|o| !o.1 && !o.2) && start == wrapped_at {
                    return Err(malformed(start, "an annotation wrapper inside another"));
                }
                let (annotations, after) = var_uint(input, i)?;
                i = after
                    .checked_add(annotations)
                    .filter(|e| *e < end)
                    .ok_or_else(|| malformed(start, "annotations run past their wrapper"))?;
                wrapped_at = i;
                open.push((end, false, false));
            }
            _ => i = end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: IonLimits = IonLimits::new(1 << 20, DEFAULT_MAX_DEPTH);

    fn depth_limit(text: &str, max_depth: usize) -> Result<(), IonInputError> {
        check(text.as_bytes(), IonLimits::new(1 << 20, max_depth))
    }

    #[test]
    fn counts_only_what_ion_rs_nests() {
        // Brackets inside strings, symbols, long strings, comments and lobs do not nest.
        let text = r#"{a:"[[[(",b:'{{[',c:'''[(''' '''{''',/* [[[ */ d:[1] // ((((
            , e:{{ "}}[[" }}, f:{{ '''[[''' '''(''' }}, g:{{aGVsbG8=}}, h:(a + - / b) }"#;
        assert_eq!(depth_limit(text, 2), Ok(()));
        assert!(matches!(
            depth_limit(text, 1),
            Err(IonInputError::TooDeep { limit: 1, .. })
        ));
        assert!(read_one(text.as_bytes(), ROOMY).is_ok());
        // An escaped quote does not end a string.
        assert_eq!(depth_limit(r#"["\"[[["]"#, 1), Ok(()));
        assert_eq!(depth_limit(r"['''\''' [[[ ''']", 1), Ok(()));
    }

    #[test]
    fn an_operator_swallows_slashes_in_s_expressions() {
        // `+//` is one operator in an s-expression: what follows on the line is nested.
        let sneaky = "(+//[[[\n)";
        assert!(matches!(
            depth_limit(sneaky, 3),
            Err(IonInputError::TooDeep { .. })
        ));
        // Outside an operator, `//` starts a comment, there and elsewhere.
        assert_eq!(depth_limit("(a //[[[\n)", 1), Ok(()));
        assert_eq!(depth_limit("[a, //[[[\n]", 1), Ok(()));
        assert_eq!(depth_limit("(/* */// [[[[\n)", 1), Ok(()));
        // ion-rs agrees: the operator `+//` and then a list of a list.
        let v = read_one(b"(+//[[]]\n)", ROOMY).unwrap();
        let items = v.as_sequence().unwrap();
        assert_eq!(
            items
                .get(0)
                .and_then(|o| o.as_symbol())
                .and_then(|s| s.text()),
            Some("+//")
        );
        assert!(items.get(1).and_then(|l| l.as_sequence()).is_some());
        let v = read_one(b"(a + //[[\n b)", ROOMY).unwrap();
        assert_eq!(v.as_sequence().map(|s| s.len()), Some(3));
    }

    #[test]
    fn deep_text_and_binary_are_refused_without_recursion() {
        let text = "[".repeat(100_000);
        let e = read_one(text.as_bytes(), IonLimits::new(1 << 20, 100)).unwrap_err();
        assert_eq!(
            e,
            IonInputError::TooDeep {
                offset: 100,
                limit: 100
            }
        );
        assert!(
            e.to_string()
                .contains("more than 100 levels deep (at byte 100)")
        );
        let mut binary = BINARY_IVM.to_vec();
        binary.extend(std::iter::repeat_n(0xBE, 100_000));
        assert!(matches!(
            read_one(&binary, IonLimits::new(1 << 20, 100)),
            Err(IonInputError::TooDeep { .. } | IonInputError::Malformed { .. })
        ));
        // A well-formed binary nest of lists, one level too deep.
        let mut nest = vec![0xB0u8];
        for _ in 1..=DEFAULT_MAX_DEPTH {
            let mut outer = if nest.len() < 14 {
                vec![0xB0 | nest.len() as u8]
            } else {
                let mut v = vec![0xBE];
                let n = nest.len();
                if n < 128 {
                    v.push(0x80 | n as u8);
                } else {
                    v.extend([(n >> 7) as u8, 0x80 | (n & 0x7F) as u8]);
                }
                v
            };
            outer.extend(nest);
            nest = outer;
        }
        let mut binary = BINARY_IVM.to_vec();
        binary.extend(&nest);
        // The innermost list, the last byte, is the one too many.
        assert_eq!(
            read_one(&binary, ROOMY),
            Err(IonInputError::TooDeep {
                offset: binary.len() - 1,
                limit: DEFAULT_MAX_DEPTH
            })
        );
        // One level less is read, on a test thread's 2 MB stack.
        let mut binary = BINARY_IVM.to_vec();
        binary.extend(&nest[3..]);
        let value = read_one(&binary, ROOMY).unwrap();
        assert!(value.as_sequence().is_some());
    }

    #[test]
    fn annotation_wrappers_do_not_nest() {
        // $0::1 is E4 81 80 21 01: one annotation (symbol 0), then the int.
        let mut binary = BINARY_IVM.to_vec();
        binary.extend([0xE4, 0x81, 0x80, 0x21, 0x01]);
        assert!(check(&binary, ROOMY).is_ok());
        let mut nested = BINARY_IVM.to_vec();
        nested.extend([0xE7, 0x81, 0x80, 0xE4, 0x81, 0x80, 0x21, 0x01]);
        assert_eq!(
            check(&nested, ROOMY),
            Err(malformed(7, "an annotation wrapper inside another"))
        );
    }

    #[test]
    fn sizes_are_limited() {
        let e = read_one(b"\"0123456789\"", IonLimits::new(8, 10)).unwrap_err();
        assert_eq!(e, IonInputError::TooLarge { size: 12, limit: 8 });
        assert!(e.to_string().contains("limit of 8 bytes"));
    }

    #[test]
    fn binary_and_text_read_the_same() {
        let text = r#"ann::{a:[1, 2.5, "s", {{aGk=}}], b:(x y), c:null.struct, d:true}"#;
        let value = read_one(text.as_bytes(), ROOMY).unwrap();
        let binary = value.encode_as(ion_rs::v1_0::Binary).unwrap();
        assert_eq!(read_one(&binary, ROOMY).unwrap(), value);
        for cut in 5..binary.len() {
            // A truncated stream is refused, never read as something else.
            assert!(read_one(&binary[..cut], ROOMY).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn malformed_text_is_named() {
        for (text, problem) in [
            ("\"abc", "not closed"),
            ("[1}", "does not match"),
            ("/* x", "not closed"),
            ("{{ abc", "not closed by"),
        ] {
            let e = depth_limit(text, 10).unwrap_err();
            assert!(e.to_string().contains(problem), "{text}: {e}");
        }
        assert!(matches!(
            read_one(b"1 2", ROOMY),
            Err(IonInputError::Invalid(_))
        ));
        // ion-rs 1.2 panics on an escaped string that is not UTF-8; it never sees one.
        assert_eq!(
            read_one(b"\"\\n\xFF\"", ROOMY),
            Err(IonInputError::Malformed {
                offset: 3,
                problem: "Ion text must be UTF-8".into()
            })
        );
    }
}
