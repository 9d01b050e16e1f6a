//! `cargo xtask bench ingest`: CloudTrail records from local `.json.gz` log files into a ledger,
//! end to end, beside the ledger-only append rate and the parse-only rate measured in the same
//! run, printed as JSON lines (`{"bench":"ingest","metric":…,"value":…,"unit":…}`).
//!
//! The records are the shared dataset's (invictus-aws-dataset and stratus-red-team), repeated
//! with a fresh `eventID` each until there are `--records` of them (default 1,000,000), written
//! as gzipped log files of `--per-file` records (default 5,000) to a temporary directory first,
//! untimed. Then, each on a fresh ledger (durable: each commit synced):
//!
//! - `parse_only`: reading and gunzipping the files, JSON, record validation and the Ion form,
//!   nothing else (the processor's work before the rules);
//! - `ledger_only`: `Database::append` of the same records already in Ion, file by file, only
//!   the appends timed (the ceiling for ingest);
//! - `end_to_end`: `veritrail ingest`'s pipeline (`Processor::run` over the directory source):
//!   read, parse, the shipped packs in one machine, durable appends of records and alerts,
//!   the checkpoint after each file.
//!
//! Options: `--records N`, `--per-file N`, `--batch N` (documents per transaction, default 1000),
//! `--only parse|ledger|end-to-end` (one measurement, for a profiler; no ratios).

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value as Json, json};
use veritrail_core::ion_rs::Element;
use veritrail_core::json_ion::json_to_ion;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::{AppendRequest, Ledger, LedgerOptions};
use veritrail_processor::document::record_from_event;
use veritrail_processor::pipeline::{RECORD_KEY, RECORDS_TABLE};
use veritrail_processor::source::SourceBatch;
use veritrail_processor::{
    Checkpoint, DirSource, Processor, ProcessorOptions, RuleSet, Source, checkpoint_path,
};

/// The one clock read of this bench: it measures elapsed time.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> Instant {
    Instant::now()
}

fn emit(metric: &str, value: f64, unit: &str, extra: &str) {
    println!(
        "{{\"bench\":\"ingest\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\"{extra}}}"
    );
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn shared() -> PathBuf {
    std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/cloudtrail")
}

/// Every record of the shared dataset.
fn dataset() -> Vec<Json> {
    let mut out = Vec::new();
    for dir in ["invictus-aws-dataset", "stratus-red-team"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shared().join(dir))
            .expect("the shared dataset")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let v: Json = serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
            match v {
                Json::Object(mut o) => match o.remove("Records") {
                    Some(Json::Array(r)) => out.extend(r),
                    _ => panic!("{}: no Records", f.display()),
                },
                Json::Array(r) => out.extend(r),
                _ => panic!("{}: not records", f.display()),
            }
        }
    }
    out
}

/// Writes `records` records as gzipped log files of `per_file`, each with a fresh eventID.
fn write_input(dir: &Path, records: usize, per_file: usize) -> usize {
    use std::io::Write as _;
    let base = dataset();
    std::fs::create_dir_all(dir).expect("input dir");
    let mut files = 0;
    let mut i = 0;
    while i < records {
        let n = per_file.min(records - i);
        let batch: Vec<Json> = (i..i + n)
            .map(|k| {
                let mut r = base[k % base.len()].clone();
                r["eventID"] = json!(format!(
                    "bench-{k:012}-{:08x}",
                    k.wrapping_mul(2_654_435_761)
                ));
                r
            })
            .collect();
        let body = serde_json::to_vec(&json!({"Records": batch})).expect("json");
        let path = dir.join(format!(
            "000000000000_CloudTrail_us-east-1_{files:06}.json.gz"
        ));
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        gz.write_all(&body).expect("write");
        gz.finish().expect("gzip");
        files += 1;
        i += n;
    }
    files
}

fn fresh_db(dir: &Path, name: &str) -> Database {
    let path = dir.join(format!("{name}.ledger"));
    let _ = std::fs::remove_file(&path);
    let ledger = Ledger::create(&path, name, LedgerOptions::default()).expect("create ledger");
    Database::new(ledger, DatabaseOptions::default())
}

fn source(input: &Path, state: &Path) -> DirSource {
    let _ = std::fs::remove_dir_all(state);
    DirSource::new(
        input,
        Checkpoint::open(&checkpoint_path(state)).expect("checkpoint"),
    )
    .expect("source")
}

/// The parse stage of one batch: each event validated and in its Ion form.
fn parse<T>(batch: SourceBatch<T>) -> Vec<Element> {
    batch
        .events
        .into_iter()
        .map(|e| {
            let record = record_from_event(e.value.expect("json")).expect("a valid record");
            json_to_ion(&Json::Object(record.fields))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records = arg(&args, "--records", 1_000_000);
    let per_file = arg(&args, "--per-file", 5_000).max(1);
    let batch = arg(&args, "--batch", 1_000).max(1);
    let work = std::env::temp_dir().join(format!("veritrail-bench-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let input = work.join("in");
    let files = write_input(&input, records, per_file);
    let extra = format!(",\"records\":{records},\"files\":{files},\"batch\":{batch}");
    eprintln!(
        "bench ingest: {records} records in {files} files under {}",
        input.display()
    );

    let (mut parse_rate, mut ledger_rate) = (f64::NAN, f64::NAN);
    if runs("parse") {
        parse_rate = parse_only(&input, &work, records, &extra);
    }
    if runs("ledger") {
        ledger_rate = ledger_only(&input, &work, records, batch, &extra);
    }
    if runs("end-to-end") {
        let e2e = end_to_end(&input, &work, records, batch, &extra);
        if only.is_none() {
            emit(
                "end_to_end_vs_ledger_only",
                e2e / ledger_rate,
                "ratio",
                &extra,
            );
            emit(
                "end_to_end_vs_parse_only",
                e2e / parse_rate,
                "ratio",
                &extra,
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Reading, gunzip, JSON, validation and the Ion form.
fn parse_only(input: &Path, work: &Path, records: usize, extra: &str) -> f64 {
    let src = source(input, &work.join("state-parse"));
    let start = stopwatch();
    let mut parsed = 0;
    while let Some(b) = src.next_batch().expect("read") {
        parsed += parse(b).len();
    }
    let parse_rate = parsed as f64 / start.elapsed().as_secs_f64();
    assert_eq!(parsed, records);
    emit("parse_only_records_per_s", parse_rate, "records/s", extra);
    parse_rate
}

/// The same records, already parsed, appended file by file; only the appends timed.
fn ledger_only(input: &Path, work: &Path, records: usize, batch: usize, extra: &str) -> f64 {
    let db = fresh_db(work, "ledger-only");
    let request = AppendRequest {
        table: RECORDS_TABLE.into(),
        key_field: RECORD_KEY.into(),
        batch_size: batch,
    };
    let src = source(input, &work.join("state-ledger"));
    let mut appended = 0;
    let mut spent = 0.0;
    while let Some(b) = src.next_batch().expect("read") {
        let docs = parse(b);
        let start = stopwatch();
        appended += db.append(&request, docs, |_| {}).expect("append").appended;
        spent += start.elapsed().as_secs_f64();
    }
    assert_eq!(appended as usize, records);
    let ledger_rate = records as f64 / spent;
    emit("ledger_only_records_per_s", ledger_rate, "records/s", extra);
    ledger_rate
}

/// `veritrail ingest`'s pipeline over the directory.
fn end_to_end(input: &Path, work: &Path, records: usize, batch: usize, extra: &str) -> f64 {
    let db = fresh_db(work, "end-to-end");
    let rules = RuleSet::builtin().expect("packs");
    let src = source(input, &work.join("state-e2e"));
    let mut processor = Processor::new(
        &db,
        &rules,
        ProcessorOptions {
            batch_size: batch,
            clock: Arc::clone(&db.ledger().options().clock),
            deliverer: None,
        },
    );
    let start = stopwatch();
    let summary = processor
        .run(&src, &mut veritrail_processor::pipeline::Quiet)
        .expect("ingest");
    let e2e = records as f64 / start.elapsed().as_secs_f64();
    assert_eq!(summary.appended as usize, records);
    assert_eq!(summary.rejected, 0);
    emit(
        "end_to_end_records_per_s",
        e2e,
        "records/s",
        &format!(
            "{extra},\"rules\":{},\"alerts\":{}",
            rules.len(),
            summary.alerts
        ),
    );
    e2e
}
