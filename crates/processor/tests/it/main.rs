//! The audit processor end to end over a real ledger in a temporary directory.
#![allow(clippy::unwrap_used)]

mod alerts;
mod ingest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;
use veritrail_core::id::SeededIds;
use veritrail_core::json_ion::ion_to_json;
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::{Ledger, LedgerOptions};
use veritrail_processor::notify::Deliverer;
use veritrail_processor::{
    Checkpoint, Counters, DirSource, Observer, Processor, ProcessorOptions, Rejection, RuleSet,
    Summary, checkpoint_path,
};

/// A fresh directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("veritrail-processor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `$VERITRAIL_SHARED` or `../shared`, and a file of its CloudTrail data.
pub fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = root.join("data/cloudtrail").join(rel);
    assert!(p.exists(), "missing shared data {}", p.display());
    p
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UtcMillis(1_767_225_600_000), 1))
}

/// A new ledger in `dir` on a manual clock.
pub fn ledger(dir: &Path) -> Database {
    let options = LedgerOptions {
        clock: clock(),
        ids: Arc::new(SeededIds::new(3)),
        ..LedgerOptions::default()
    };
    let path = dir.join("audit.ledger");
    let ledger = if path.exists() {
        Ledger::open(&path, options).unwrap()
    } else {
        Ledger::create(&path, "audit", options).unwrap()
    };
    Database::new(ledger, DatabaseOptions::default())
}

/// What the observer heard.
#[derive(Debug, Default)]
pub struct Heard {
    pub rejected: Vec<Rejection>,
    pub batches: Vec<String>,
}

impl Observer for Heard {
    fn rejected(&mut self, r: &Rejection) {
        self.rejected.push(r.clone());
    }
    fn batch_done(&mut self, origin: &str, _: &Summary, _: Option<usize>) {
        self.batches.push(origin.to_owned());
    }
}

/// Runs the processor with the built-in packs over `input` (its checkpoint in `state`); the
/// summary, what the observer heard, and the live counters.
pub fn run(
    db: &Database,
    input: &Path,
    state: &Path,
    batch_size: usize,
    deliverer: Option<Deliverer>,
) -> (Summary, Heard, Arc<Counters>) {
    let rules = RuleSet::builtin().unwrap();
    let mut source =
        DirSource::new(input, Checkpoint::open(&checkpoint_path(state)).unwrap()).unwrap();
    let mut processor = Processor::new(
        db,
        &rules,
        ProcessorOptions {
            batch_size,
            clock: clock(),
            deliverer,
        },
    );
    let mut heard = Heard::default();
    let summary = processor.run(&mut source, &mut heard).unwrap();
    (summary, heard, processor.counters())
}

/// Processes the first batch of `input` (records and alerts durable, no delivery) and stops
/// before acknowledging it, as a process killed at that instant would; its counters.
pub fn crash_after_first_batch(db: &Database, input: &Path, state: &Path) -> Arc<Counters> {
    use veritrail_processor::Source as _;
    let rules = RuleSet::builtin().unwrap();
    let mut source =
        DirSource::new(input, Checkpoint::open(&checkpoint_path(state)).unwrap()).unwrap();
    let mut batch = source.next_batch().unwrap().unwrap();
    let mut processor = Processor::new(
        db,
        &rules,
        ProcessorOptions {
            batch_size: 5,
            clock: clock(),
            deliverer: None,
        },
    );
    processor
        .process(&mut batch, &mut Heard::default())
        .unwrap();
    processor.counters()
}

/// Ingests `input` into the ledger with the built-in packs, its checkpoint in `state`.
pub fn ingest(db: &Database, input: &Path, state: &Path) -> (Summary, Heard) {
    let (summary, heard, _) = run(db, input, state, 7, None);
    (summary, heard)
}

/// A test directory with `in/` holding copies of these shared files, and a new ledger.
pub fn with_inputs(name: &str, files: &[&str]) -> (PathBuf, Database) {
    let dir = temp_dir(name);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for f in files {
        copy_into(&dir.join("in"), &shared(f));
    }
    let db = ledger(&dir);
    (dir, db)
}

/// Rows of a query, as JSON.
pub fn rows(db: &Database, statement: &str) -> Vec<Json> {
    db.execute(statement, &[])
        .unwrap()
        .iter()
        .map(|e| ion_to_json(e).unwrap())
        .collect()
}

/// Every eventID in AuditRecords, each once per stored document.
pub fn stored_ids(db: &Database) -> Vec<String> {
    let mut ids: Vec<String> = rows(db, "SELECT r.eventID FROM AuditRecords AS r")
        .iter()
        .map(|r| r["eventID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Copies a file into a directory.
pub fn copy_into(dir: &Path, src: &Path) -> PathBuf {
    let to = dir.join(src.file_name().unwrap());
    std::fs::copy(src, &to).unwrap();
    to
}

/// Writes `data` gzipped to `path`.
pub fn write_gz(path: &Path, data: &[u8]) {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    e.write_all(data).unwrap();
    e.finish().unwrap();
}
