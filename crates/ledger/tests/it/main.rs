//! Integration tests of veritrail-ledger: what it writes verifies with `veritrail-verify`
//! (which shares no code with it), for every block, revision, tip and pair of tips.
#![allow(clippy::unwrap_used)]

mod append;
pub mod backend;
mod bank;
mod concurrency;
mod export;
mod hostile;
mod partiql_props;
mod postgres;
mod proofs;
mod replica;

use std::path::PathBuf;
use std::sync::Arc;

use veritrail_core::id::SeededIds;
use veritrail_core::ion_rs::Element;
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_ledger::{Ledger, LedgerOptions, NewTransaction, Statement, Write};

/// A fresh directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veritrail-ledger-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Options with a fixed clock and seeded ids, so every run writes the same journal.
pub fn deterministic(seed: u64) -> LedgerOptions {
    LedgerOptions {
        clock: Arc::new(ManualClock::new(UtcMillis(1_568_662_625_344), 7)),
        ids: Arc::new(SeededIds::new(seed)),
        ..LedgerOptions::default()
    }
}

/// A transaction inserting `n` small documents into table `T`.
pub fn insert(ledger_ids: &SeededIds, n: usize, tag: u64) -> NewTransaction {
    use veritrail_core::id::IdSource as _;
    let table_id = "TTTTTTTTTTTTTTTTTTTTTT".to_owned();
    let docs: Vec<Arc<Element>> = (0..n)
        .map(|i| {
            Arc::new(
                Element::read_one(format!(
                    "{{tag:{tag},i:{i},name:\"doc {tag}-{i}\",amount:12.50}}"
                ))
                .unwrap(),
            )
        })
        .collect();
    NewTransaction {
        id: None,
        statements: vec![Statement {
            text: "INSERT INTO T ?".into(),
            parameters: docs.clone(),
            start_time: None,
        }],
        writes: docs
            .into_iter()
            .map(|d| Write {
                table_name: "T".into(),
                table_id: table_id.clone(),
                document_id: ledger_ids.new_id(),
                version: 0,
                data: Some(d),
                statements: vec![0],
            })
            .collect(),
        ..Default::default()
    }
}

/// A ledger with `blocks` transactions after genesis, of 1 to 5 documents each.
pub fn sample_ledger(name: &str, blocks: u64) -> (Ledger, PathBuf) {
    let dir = temp_dir(name);
    let path = dir.join("l.ledger");
    let mut ledger = backend::create(&path, "sample", deterministic(1)).unwrap();
    let ids = SeededIds::new(99);
    for b in 0..blocks {
        ledger
            .commit(insert(&ids, (b % 5 + 1) as usize, b))
            .unwrap();
    }
    (ledger, path)
}
