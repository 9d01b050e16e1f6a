//! `veritrail analytics export`: the ledger's audit records as Parquet, read back by DuckDB
//! (the pinned Python package `cargo xtask test` installs) with Hive partitioning, finding
//! exactly the ledger's records, each in the partition of its day.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::{S3_AUTH, s, s3, scratch, serve, text, veritrail, veritrail_ok};

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

/// The body of one S3 GET, bytes as they are (Parquet is binary).
fn get_object(addr: &str, path: &str) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{}: {}\r\n\r\n",
        S3_AUTH.0, S3_AUTH.1
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..at]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    raw[at + 4..].to_vec()
}

/// The keys under `prefix` in `bucket` (ListObjectsV2; fewer than a page here).
fn keys(addr: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let (status, body) = s3(
        addr,
        "GET",
        &format!("/{bucket}?list-type=2&prefix={prefix}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body.split("<Key>")
        .skip(1)
        .map(|k| k.split("</Key>").next().unwrap().to_owned())
        .collect()
}

#[test]
fn export_into_s3_replaces_the_days_it_writes() {
    let dir = scratch("analytics-s3");
    let data = dir.join("data");
    let d = s(&data);
    veritrail_ok(&["ledger", "create", "audit", "--data-dir", d]);
    let stratus = crate::shared_cloudtrail("stratus-red-team");
    veritrail_ok(&[
        "ingest",
        "--ledger",
        "audit",
        "--data-dir",
        d,
        "--from-dir",
        s(&stratus),
        "--quiet",
    ]);
    let (mut emulator, addr) = serve(s(&dir.join("emulator")), &[]);
    assert_eq!(s3(&addr, "PUT", "/exports", "").unwrap().0, 200);

    let endpoint = format!("http://{addr}");
    let export = || {
        let out = Command::new(env!("CARGO_BIN_EXE_veritrail"))
            .args(["analytics", "export", "--ledger", "audit", "--data-dir", d])
            .args(["--out", "s3://exports/audit/", "--endpoint-url", &endpoint])
            .args(["--region", "us-east-1", "--json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXPORT")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_str::<Value>(text(&out.stdout).trim()).unwrap()
    };
    let first = export();
    assert_eq!(first["records"], 310, "{first}");
    let put: Vec<String> = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert!(put.iter().all(|k| k.starts_with("audit/year=")), "{put:?}");
    let mut listed = keys(&addr, "exports", "audit/");
    listed.sort();
    let mut expected = put.clone();
    expected.sort();
    assert_eq!(listed, expected, "the bucket holds exactly the files put");

    // A part left from an earlier export of a day written again goes; other objects stay.
    let day = put[0].rsplit_once('/').unwrap().0.to_owned();
    let stale = format!("/exports/{day}/part-09999.parquet");
    assert_eq!(s3(&addr, "PUT", &stale, "old").unwrap().0, 200);
    assert_eq!(
        s3(&addr, "PUT", "/exports/audit/README", "kept").unwrap().0,
        200
    );
    let second = export();
    assert_eq!(second["files"], first["files"]);
    let mut listed = keys(&addr, "exports", "audit/");
    listed.sort();
    let mut with_readme = expected.clone();
    with_readme.push("audit/README".to_owned());
    with_readme.sort();
    assert_eq!(listed, with_readme);

    // What DuckDB reads from the objects is exactly the ledger's records.
    let local = dir.join("downloaded");
    for key in &put {
        let path = local.join(key.strip_prefix("audit/").unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, get_object(&addr, &format!("/exports/{key}"))).unwrap();
    }
    let read = Command::new(python())
        .args(["-c", READ_BACK, s(&local)])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", text(&read.stderr));
    let got: Value = serde_json::from_str(text(&read.stdout).trim()).unwrap();
    assert_eq!(got["ids"].as_array().unwrap().len(), 310);
    assert_eq!(got["misplaced"], 0);

    // A bucket that does not exist: exit 2, the S3 error named.
    let out = Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(["analytics", "export", "--ledger", "audit", "--data-dir", d])
        .args([
            "--out",
            "s3://no-such-bucket/x",
            "--endpoint-url",
            &endpoint,
        ])
        .args(["--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXPORT")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("NoSuchBucket"),
        "{}",
        text(&out.stderr)
    );
    let _ = emulator.kill();
    let _ = emulator.wait();
}
