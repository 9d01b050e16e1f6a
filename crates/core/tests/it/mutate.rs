//! Mutations of real input for the property tests: bit flips, deletions, insertions of bytes
//! that matter to parsers (brackets, quotes, escapes, comment starts), duplications and
//! truncations. Shared with veritrail-verify's tests (`#[path]`).

use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a byte string.
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip(Index, u8),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Duplicate(Index, usize),
    Truncate(Index),
}

/// Bytes parsers treat specially, and any byte.
pub fn telling_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => proptest::sample::select(b"[]{}()\"'\\/*:,.-+$ \n0aE\xE0\xB0\xBE\xD0".to_vec()),
        1 => any::<u8>(),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<Index>(),
            proptest::collection::vec(telling_byte(), 1..12)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// `input` with `mutations` applied in order.
pub fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = input.to_vec();
    for m in mutations {
        let len = out.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len) };
        match m {
            Mutation::Flip(i, bit) if len > 0 => out[at(i)] ^= 1 << bit,
            Mutation::Delete(i, n) if len > 0 => {
                let from = at(i);
                out.drain(from..(from + n).min(len));
            }
            Mutation::Insert(i, bytes) => {
                let from = if len == 0 { 0 } else { i.index(len + 1) };
                out.splice(from..from, bytes.iter().copied());
            }
            Mutation::Duplicate(i, n) if len > 0 => {
                let from = at(i);
                let piece = out[from..(from + n).min(len)].to_vec();
                out.splice(from..from, piece);
            }
            Mutation::Truncate(i) if len > 0 => out.truncate(at(i)),
            _ => {}
        }
    }
    out
}

/// `input` changed by one to eight mutations.
pub fn mutated(input: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(mutation(), 1..8).prop_map(move |m| apply(&input, &m))
}

/// Property-test settings for this project: no files written, a fixed number of cases.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
