//! Integration tests of veritrail-rules: the ported event-ruler and EventBridge cases (data files
//! under `tests/data/`, each naming its source), refusals with EventBridge's wording, and the
//! shipped rule packs against their own test events.
#![allow(clippy::unwrap_used)]

mod cases;
mod compile;
mod packs;
mod properties;

use std::path::PathBuf;

/// A data file of this crate's tests.
pub fn data(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
