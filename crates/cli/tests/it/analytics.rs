//! `veritrail analytics export`: the ledger's audit records as Parquet, read back by DuckDB
//! (the pinned Python package `cargo xtask test` installs) with Hive partitioning, finding
//! exactly the ledger's records, each in the partition of its day.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::{s, scratch, text, veritrail};

/// The Python that has DuckDB: `$VERITRAIL_PYTHON`, else the venv `cargo xtask test` makes.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/drivers-venv/bin/python");
    assert!(
        venv.is_file(),
        "DuckDB is not installed: run `cargo xtask test` (it installs duckdb 1.4.4 into target/drivers-venv) or set VERITRAIL_PYTHON"
    );
    venv
}

const READ_BACK: &str = r#"
import json, sys, duckdb
files = sys.argv[1] + "/**/*.parquet"
con = duckdb.connect()
rel = f"read_parquet('{files}', hive_partitioning = true)"
ids = sorted(r[0] for r in con.execute(f"SELECT eventID FROM {rel}").fetchall())
misplaced = con.execute(
    f"SELECT count(*) FROM {rel} WHERE year::INT != year(eventTime AT TIME ZONE 'UTC') "
    f"OR month::INT != month(eventTime AT TIME ZONE 'UTC') OR day::INT != day(eventTime AT TIME ZONE 'UTC')"
).fetchone()[0]
types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {rel})").fetchall())
stop = con.execute(
    f"SELECT eventName, userIdentityArn, json_extract_string(record, '$.eventSource'), blockSequenceNo > 0, length(revisionHash) "
    f"FROM {rel} WHERE eventName = 'StopLogging' LIMIT 1"
).fetchone()
print(json.dumps({"ids": ids, "misplaced": misplaced, "types": types, "stop": list(stop) if stop else None}))
"#;

#[test]
fn duckdb_reads_back_exactly_the_ledgers_records() {
    let dir = scratch("analytics");
    let data = dir.join("data");
    let out_dir = dir.join("parquet");
    let d = s(&data);
    let out = veritrail(&["ledger", "create", "audit", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stratus = crate::shared_cloudtrail("stratus-red-team");
    let out = veritrail(&[
        "ingest",
        "--ledger",
        "audit",
        "--data-dir",
        d,
        "--from-dir",
        s(&stratus),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let export = || {
        let out = veritrail(&[
            "analytics",
            "export",
            "--ledger",
            "audit",
            "--data-dir",
            d,
            "--out",
            s(&out_dir),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_str::<Value>(text(&out.stdout).trim()).unwrap()
    };
    let first = export();
    assert_eq!(first["records"], 310, "{first}");
    assert_eq!(first["undated"], 0);
    let files = first["files"].as_array().unwrap();
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f.as_str().unwrap().starts_with("year=")),
        "{files:?}"
    );
    // A rerun replaces the days it writes: the same files, nothing added.
    let second = export();
    assert_eq!(second["files"], first["files"]);

    // The ledger's records, as the ledger answers.
    let out = veritrail(&[
        "ledger",
        "query",
        "audit",
        "--data-dir",
        d,
        "SELECT r.eventID AS id FROM AuditRecords AS r",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut ledger_ids: Vec<String> = text(&out.stdout)
        .lines()
        // Ion text, one struct a line: {id: "…"}.
        .map(|l| l.split('"').nth(1).unwrap().to_owned())
        .collect();
    ledger_ids.sort();
    assert_eq!(ledger_ids.len(), 310);

    let read = Command::new(python())
        .args(["-c", READ_BACK, s(&out_dir)])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", text(&read.stderr));
    let got: Value = serde_json::from_str(text(&read.stdout).trim()).unwrap();
    let ids: Vec<String> = got["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ledger_ids, "DuckDB finds exactly the ledger's records");
    assert_eq!(got["misplaced"], 0, "every row is in its day's partition");
    assert_eq!(got["types"]["eventTime"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(got["types"]["readOnly"], "BOOLEAN");
    assert_eq!(got["types"]["blockSequenceNo"], "BIGINT");
    let stop = &got["stop"];
    assert_eq!(stop[0], "StopLogging", "{got}");
    assert_eq!(stop[2], "cloudtrail.amazonaws.com");
    assert_eq!(stop[3], true);
    assert_eq!(stop[4], 64, "a SHA-256 in hex");

    // No ledger: exit 2 and a message.
    let out = veritrail(&[
        "analytics",
        "export",
        "--ledger",
        "nope",
        "--data-dir",
        d,
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no ledger nope"),
        "{}",
        text(&out.stderr)
    );
}
