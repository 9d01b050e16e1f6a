//! Limits on what enters the ledger: QLDB's quotas (`../shared/specs/qldb.md` §9) and
//! veritrail's own bounds on nesting, which keep hostile input from exhausting the stack.
//!
//! Every recursive walk in the ledger (Ion Hash, encoding, comparison, the PartiQL parser and
//! evaluator) runs only over values and statements already checked here, and the checks
//! themselves are iterative. Ion text and binary are read through `veritrail_core::ion_input`,
//! which measures them before `ion-rs` (whose reader recurses once per container) parses them.

use veritrail_core::ion_input::{self, DEFAULT_MAX_DEPTH, IonInputError, IonLimits};
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

/// Ion in a PartiQL statement (between backticks): within the statement, and nested no deeper
/// than a document.
pub const ION_LITERAL: IonLimits = IonLimits::new(MAX_STATEMENT_CHARS * 4, MAX_ION_DEPTH);
/// Ion the ledger stored itself (block headers, revisions): any size SQLite holds, nested as deep
/// as a document inside its revision and block envelopes.
pub const STORED_ION: IonLimits = IonLimits::new(usize::MAX, DEFAULT_MAX_DEPTH);
/// One data object or manifest of a journal export.
pub const EXPORT_OBJECT: IonLimits = IonLimits::new(1 << 30, DEFAULT_MAX_DEPTH);

/// Reads every top-level value of Ion text or binary within `limits`: its size and nesting are
/// checked without recursion (`veritrail_core::ion_input`) before `ion-rs` reads it.
pub fn read_all_ion(bytes: &[u8], limits: IonLimits) -> Result<Vec<Element>, IonInputError> {
    ion_input::check(bytes, limits)?;
    // As `ion_input::read_one` does: a panic left in ion-rs is an error, not a crash.
    std::panic::catch_unwind(|| Element::read_all(bytes))
        .map_err(|_| IonInputError::ParserPanicked)?
        .map(|seq| seq.into_iter().collect())
        .map_err(|e| IonInputError::Invalid(e.to_string()))
}

/// Bytes [`binary_size_bound`] allows for the Ion version marker and the local symbol table's
/// own structure (its annotation, the `symbols` field, the list around the texts).
const SYMBOL_TABLE_OVERHEAD: usize = 4 + 256;
/// Bytes it allows for one value's type descriptor and length (a VarUInt of a `usize` takes at
/// most 10), or for an annotation wrapper's.
const HEADER: usize = 16;
/// Bytes it allows for a symbol: its id where it is used (a VarUInt of a `u32`), and its text's
/// header in the symbol table (the text itself is added).
const SYMBOL: usize = 5 + HEADER;
/// Payload bytes it allows for an integer within 128 bits, and for a decimal whose coefficient
/// is: the magnitude, and the exponent (a VarInt of an `i64`).
const INT_PAYLOAD: usize = 17;
const DECIMAL_PAYLOAD: usize = INT_PAYLOAD + 10;

/// An upper bound on a value's size as Ion binary (`encode_as(v1_0::Binary)`), counted without
/// encoding it, without recursion: every header at its longest, and every symbol (field names,
/// annotations, symbol values) counted as if its text were new to the symbol table. `None` when
/// the value holds something whose size only encoding tells: an integer or a decimal's
/// coefficient beyond 128 bits, or a timestamp.
///
/// A document whose bound is within a limit is within it; only one whose bound is not needs
/// encoding to be measured (appending CloudTrail records of about 1.2 KB, a third of the time went
/// to encoding each one just to measure it, before the block encoded it again).
pub fn binary_size_bound(value: &Element) -> Option<usize> {
    let symbol = |text: Option<&str>| SYMBOL + text.map_or(0, str::len);
    let mut total = SYMBOL_TABLE_OVERHEAD;
    let mut stack = vec![value];
    while let Some(e) = stack.pop() {
        let annotations = e.annotations();
        let mut size = HEADER;
        if !annotations.is_empty() {
            size += HEADER + annotations.iter().map(|a| symbol(a.text())).sum::<usize>();
        }
        size += match e.value() {
            Value::Null(_) | Value::Bool(_) => 0,
            Value::Float(_) => 8,
            Value::Int(i) => i.as_i128().map(|_| INT_PAYLOAD)?,
            Value::Decimal(d) => d
                .coefficient()
                .magnitude()
                .as_u128()
                .map(|_| DECIMAL_PAYLOAD)?,
            Value::Timestamp(_) => return None,
            Value::Symbol(s) => symbol(s.text()),
            Value::String(s) => s.text().len(),
            Value::Clob(b) | Value::Blob(b) => b.as_ref().len(),
            Value::List(seq) | Value::SExp(seq) => {
                stack.extend(seq.iter());
                0
            }
            Value::Struct(st) => {
                let mut names = 0;
                for (name, v) in st.iter() {
                    names += symbol(name.text());
                    stack.push(v);
                }
                names
            }
        };
        total = total.saturating_add(size);
    }
    Some(total)
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

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    use proptest::collection::vec;
    use proptest::prelude::*;
    use veritrail_core::ion_rs::{Decimal, Int, IonType, v1_0};

    fn encoded(v: &Element) -> usize {
        v.encode_as(v1_0::Binary).unwrap().len()
    }

    /// Ion values of every type the bound counts, annotated and nested.
    fn value() -> impl Strategy<Value = Element> {
        let leaf = prop_oneof![
            Just(Element::null(IonType::Null)),
            Just(Element::null(IonType::Struct)),
            any::<bool>().prop_map(Element::from),
            any::<i64>().prop_map(Element::from),
            any::<i128>().prop_map(|i| Element::from(Int::from(i))),
            (any::<i64>(), -40i64..40).prop_map(|(c, e)| Element::from(Decimal::new(c, e))),
            any::<f64>().prop_map(Element::from),
            "\\PC{0,40}".prop_map(Element::string),
            "\\PC{0,20}".prop_map(Element::symbol),
            vec(any::<u8>(), 0..64).prop_map(Element::blob),
        ];
        leaf.prop_recursive(4, 96, 12, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..12).prop_map(|items| Element::from(
                    Element::sequence_builder().push_all(items).build_list()
                )),
                vec(inner.clone(), 0..6).prop_map(|items| Element::from(
                    Element::sequence_builder().push_all(items).build_sexp()
                )),
                vec(("\\PC{0,16}", inner.clone()), 0..12).prop_map(|fields| Element::from(
                    Element::struct_builder()
                        .with_fields(fields.iter().map(|(k, v)| (k.as_str(), v.clone())))
                        .build()
                )),
                (vec("\\PC{1,10}", 1..3), inner).prop_map(|(a, v)| v.with_annotations(a)),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_size_bound_is_never_below_the_encoded_size(v in value()) {
            let bound = binary_size_bound(&v).expect("no timestamps or big integers here");
            prop_assert!(bound >= encoded(&v), "bound {bound} < {} for {v}", encoded(&v));
        }
    }

    #[test]
    fn the_size_bound_holds_for_cloudtrail_records_and_stays_close() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/cloudtrail/invictus-aws-dataset");
        let mut records = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            let Ok(doc) = Element::read_one(text.as_bytes()) else {
                continue;
            };
            let Some(list) = doc.as_struct().and_then(|s| s.get("Records")) else {
                continue;
            };
            for r in list.as_sequence().unwrap().iter() {
                let (bound, size) = (binary_size_bound(r).unwrap(), encoded(r));
                assert!(bound >= size, "bound {bound} < {size} for {r}");
                assert!(
                    bound < size * 8,
                    "bound {bound} for {size} bytes: too loose to spare encoding"
                );
                records += 1;
            }
        }
        assert!(
            records > 1000,
            "{records} records read from {}",
            dir.display()
        );
    }

    #[test]
    fn values_only_encoding_measures_have_no_bound() {
        for text in [
            "{t: 2024-01-01T00:00:00.123Z}",
            "[123456789012345678901234567890123456789012345678901234567890]",
            "12345678901234567890123456789012345678901234567890d-3",
        ] {
            assert_eq!(
                binary_size_bound(&Element::read_one(text).unwrap()),
                None,
                "{text}"
            );
        }
        assert!(
            binary_size_bound(&Element::read_one("{a: [1, 2.5, x::\"y\"]}").unwrap()).is_some()
        );
    }

    #[test]
    fn value_depth_is_checked_iteratively() {
        let v = Element::read_one(nested(10)).unwrap();
        assert_eq!(check_value_depth(&v, 10), Ok(()));
        assert_eq!(check_value_depth(&v, 9), Err(10));
        assert_eq!(check_value_depth(&Element::from(1i64), 0), Ok(()));
    }

    #[test]
    fn several_values_are_read_within_limits() {
        let two = read_all_ion(b"{a:1} [2]", STORED_ION).unwrap();
        assert_eq!(two.len(), 2);
        let deep = nested(DEFAULT_MAX_DEPTH + 1);
        assert!(matches!(
            read_all_ion(deep.as_bytes(), STORED_ION),
            Err(IonInputError::TooDeep { .. })
        ));
        assert!(matches!(
            read_all_ion(b"{a:", STORED_ION),
            Err(IonInputError::Malformed { .. } | IonInputError::Invalid(_))
        ));
    }
}
