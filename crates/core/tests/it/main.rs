//! Integration tests of veritrail-core against external vectors and data in `../shared`.
#![allow(clippy::unwrap_used)]

mod cloudtrail_dataset;
mod hostile_input;
mod ion_hash_suite;
mod mutate;
mod naughty_strings;

use std::path::PathBuf;

/// `../shared` beside the repository (CI puts it there), or `$VERITRAIL_SHARED`.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("vectors").is_dir(),
        "the shared vectors are missing: expected {} (set VERITRAIL_SHARED)",
        dir.display()
    );
    dir
}
