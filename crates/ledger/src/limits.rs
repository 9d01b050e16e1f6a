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
