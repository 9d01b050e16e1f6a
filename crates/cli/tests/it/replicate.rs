//! `veritrail replicate` and `veritrail ledger import --from s3://…` against the emulator: a
//! replica made from a QLDB journal stream in Kinesis and one from a journal export in S3, each
//! passing `ledger verify` with the source's digest at the same tip; and a stream whose block
//! was changed in transit refused with the reason, leaving no replica.

use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_emulator::Emulator;
use veritrail_emulator::services::kinesis::aggregate::deaggregate;

use crate::aws_env::aws_env;
use crate::{s, scratch, text};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const ROLE: &str = "arn:aws:iam::000000000000:role/qldb-journal";

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    )
}

/// One call to the emulator without a socket: status and body as JSON (Null when empty).
fn call(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let response = emu.handle(&method, path, &h, body.as_bytes());
    let status = response.status().as_u16();
    let bytes = rt
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn kinesis(rt: &tokio::runtime::Runtime, emu: &Emulator, op: &str, body: Value) -> Value {
    let target = format!("Kinesis_20131202.{op}");
    let a = auth("kinesis");
    let (status, v) = call(
        rt,
        emu,
        Method::POST,
        "/",
        &[
            ("x-amz-target", target.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("authorization", a.as_str()),
        ],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{op}: {v}");
    v
}

fn qldb(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    let (status, v) = call(rt, emu, method, path, &[], &body.to_string());
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Every Kinesis record of stream `name` (one shard), de-aggregated: (partition key, data).
fn stream_records(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    name: &str,
) -> Vec<(String, Vec<u8>)> {
    let it = kinesis(
        rt,
        emu,
        "GetShardIterator",
        json!({"StreamName": name, "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )["ShardIterator"]
        .clone();
    let got = kinesis(rt, emu, "GetRecords", json!({"ShardIterator": it}));
    let mut out = Vec::new();
    for r in got["Records"].as_array().unwrap() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["Data"].as_str().unwrap())
            .unwrap();
        out.extend(deaggregate(r["PartitionKey"].as_str().unwrap(), &data).unwrap());
    }
    out
}

fn replicate(url: &str, home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"));
    cmd.args(args);
    aws_env(&mut cmd, url, home);
    cmd.output().unwrap()
}

fn digest_of(data: &Path, name: &str) -> Value {
    let out = crate::veritrail(&["ledger", "digest", name, "--data-dir", s(data)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn replicas_from_a_journal_stream_and_from_an_s3_export_verify_and_a_changed_block_is_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = rt
        .block_on(veritrail_emulator::spawn_with(|c| {
            c.clock = Arc::new(ManualClock::new(UtcMillis(T0), 0));
        }))
        .unwrap();
    let emu = Arc::clone(&running.emulator);
    let u = running.url.clone();
    let dir = scratch("replicate");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let data = dir.join("data");

    qldb(
        &rt,
        &emu,
        Method::POST,
        "/ledgers",
        json!({"Name": "source", "PermissionsMode": "STANDARD", "DeletionProtection": false}),
    );
    let db = emu.ledger_database("source").unwrap();
    db.execute("CREATE TABLE Accounts", &[]).unwrap();
    for (id, owner) in [("a", "Alice"), ("b", "Bob"), ("c", "Carol")] {
        db.execute(
            &format!("INSERT INTO Accounts {{'id': '{id}', 'owner': '{owner}'}}"),
            &[],
        )
        .unwrap();
    }
    db.execute("UPDATE Accounts SET owner = 'Dave' WHERE id = 'a'", &[])
        .unwrap();
    emu.clock().advance(1_000).unwrap();

    // From a journal stream (aggregated records, two shards' worth of partition keys on one).
    kinesis(
        &rt,
        &emu,
        "CreateStream",
        json!({"StreamName": "journal", "ShardCount": 1}),
    );
    let stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/journal";
    qldb(
        &rt,
        &emu,
        Method::POST,
        "/ledgers/source/journal-kinesis-streams",
        json!({"RoleArn": ROLE, "StreamName": "to-replica", "InclusiveStartTime": (T0 - 60_000) as f64 / 1000.0,
               "KinesisConfiguration": {"StreamArn": stream_arn, "AggregationEnabled": true}}),
    );
    emu.deliver().unwrap();
    let out = replicate(
        &u,
        &home,
        &[
            "replicate",
            "--from-stream",
            stream_arn,
            "--to",
            "replica",
            "--data-dir",
            s(&data),
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("every block hash and chain link verified"),
        "{}",
        text(&out.stdout)
    );
    let verified = crate::veritrail(&["ledger", "verify", "replica", "--data-dir", s(&data)]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let source = qldb(&rt, &emu, Method::POST, "/ledgers/source/digest", json!({}));
    let replica = digest_of(&data, "replica");
    assert_eq!(replica["Digest"], source["Digest"]);
    assert_eq!(
        replica["DigestTipAddress"]["IonText"],
        source["DigestTipAddress"]["IonText"]
    );
    // A replica is made once: the name is taken now.
    let again = replicate(
        &u,
        &home,
        &[
            "replicate",
            "--from-stream",
            stream_arn,
            "--to",
            "replica",
            "--data-dir",
            s(&data),
        ],
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));

    // A block changed in transit: the same records with one revision's data altered.
    kinesis(
        &rt,
        &emu,
        "CreateStream",
        json!({"StreamName": "tampered", "ShardCount": 1}),
    );
    for (key, bytes) in stream_records(&rt, &emu, "journal") {
        let e = Element::read_one(&bytes).unwrap();
        let changed =
            Element::read_one(e.to_string().replace("\"Carol\"", "\"Mallory\"").as_bytes())
                .unwrap()
                .encode_as(v1_0::Binary)
                .unwrap();
        kinesis(
            &rt,
            &emu,
            "PutRecord",
            json!({"StreamName": "tampered", "PartitionKey": key,
                   "Data": base64::engine::general_purpose::STANDARD.encode(changed)}),
        );
    }
    let out = replicate(
        &u,
        &home,
        &[
            "replicate",
            "--from-stream",
            "arn:aws:kinesis:us-east-1:000000000000:stream/tampered",
            "--to",
            "forged",
            "--data-dir",
            s(&data),
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let message = report["message"].as_str().unwrap();
    assert!(
        message.contains("block") && message.contains("nothing was imported"),
        "{message}"
    );
    assert!(!data.join("forged.ledger").exists());

    // From an export in S3, by `replicate --from-export` and by `ledger import --from s3://`.
    let (status, _) = call(
        &rt,
        &emu,
        Method::PUT,
        "/exports",
        &[("authorization", auth("s3").as_str())],
        "",
    );
    assert_eq!(status, 200);
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName=qldb-journal&AssumeRolePolicyDocument={}",
        veritrail_emulator::wire::query::encode_form(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"qldb.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
        )
    );
    let (status, v) = call(
        &rt,
        &emu,
        Method::POST,
        "/",
        &[
            ("authorization", auth("iam").as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &form,
    );
    assert_eq!(status, 200, "{v}");
    let export = qldb(
        &rt,
        &emu,
        Method::POST,
        "/ledgers/source/journal-s3-exports",
        json!({"InclusiveStartTime": (T0 - 60_000) as f64 / 1000.0, "ExclusiveEndTime": (emu.now().0 as f64) / 1000.0,
               "RoleArn": ROLE, "S3ExportConfiguration": {"Bucket": "exports", "Prefix": "source/",
               "EncryptionConfiguration": {"ObjectEncryptionType": "SSE_S3"}}}),
    );
    let id = export["ExportId"].as_str().unwrap();
    emu.deliver().unwrap();
    let described = qldb(
        &rt,
        &emu,
        Method::GET,
        &format!("/ledgers/source/journal-s3-exports/{id}"),
        json!({}),
    );
    assert_eq!(described["ExportDescription"]["Status"], "COMPLETED");
    let out = replicate(
        &u,
        &home,
        &[
            "replicate",
            "--from-export",
            "s3://exports/source/",
            "--to",
            "from-export",
            "--data-dir",
            s(&data),
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(digest_of(&data, "from-export")["Digest"], source["Digest"]);
    let out = replicate(
        &u,
        &home,
        &[
            "ledger",
            "import",
            "imported",
            "--from",
            "s3://exports/source/",
            "--data-dir",
            s(&data),
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let verified = crate::veritrail(&["ledger", "verify", "imported", "--data-dir", s(&data)]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let out = replicate(
        &u,
        &home,
        &[
            "ledger",
            "import",
            "nothing",
            "--from",
            "s3://exports/none/",
            "--data-dir",
            s(&data),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
