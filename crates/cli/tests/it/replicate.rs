//! `veritrail replicate` and `veritrail ledger import --from s3://…` against the emulator: a
//! replica made from a QLDB journal stream in Kinesis and one from a journal export in S3 (the
//! export encrypted under a KMS key), each passing `ledger verify` with the source's digest at
//! the same tip; replicas kept current (resumed from their tip, from the stream and from a newer
//! export, and followed while the source is written); and what is refused with the reason,
//! leaving the replica as it was: a block changed in transit (before and after a resume),
//! another ledger's journal, an unknown stream, `--follow` with an export, an export key KMS
//! will not use.

use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use veritrail_core::ion_rs::{Element, v1_0};
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

/// One call to a service of the JSON protocol (`x-amz-target: <prefix>.<op>`), which must succeed.
fn json_call(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    (service, prefix): (&str, &str),
    op: &str,
    body: Value,
) -> Value {
    let target = format!("{prefix}.{op}");
    let a = auth(service);
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

fn kinesis(rt: &tokio::runtime::Runtime, emu: &Emulator, op: &str, body: Value) -> Value {
    json_call(rt, emu, ("kinesis", "Kinesis_20131202"), op, body)
}

fn kms(rt: &tokio::runtime::Runtime, emu: &Emulator, op: &str, body: Value) -> Value {
    json_call(rt, emu, ("kms", "TrentService"), op, body)
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

/// Every Kinesis record of one shard of stream `name`, de-aggregated: (partition key, data).
fn shard_records(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    name: &str,
    shard: &str,
) -> Vec<(String, Vec<u8>)> {
    let it = kinesis(
        rt,
        emu,
        "GetShardIterator",
        json!({"StreamName": name, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
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

/// An emulator on a socket whose clock stands at [`T0`] until moved, and a scratch directory
/// with a home for the AWS SDK and a data directory for the replicas.
struct Setup {
    rt: tokio::runtime::Runtime,
    running: veritrail_emulator::Running,
    emu: Arc<Emulator>,
    url: String,
    dir: std::path::PathBuf,
    home: std::path::PathBuf,
    data: std::path::PathBuf,
}

fn setup(name: &str) -> Setup {
    let (rt, running) = crate::emulator_at(T0);
    let dir = scratch(name);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Setup {
        emu: Arc::clone(&running.emulator),
        url: running.url.clone(),
        data: dir.join("data"),
        rt,
        running,
        dir,
        home,
    }
}

/// A new stream `to` holding the records of `shards` of stream `from` as `edit` changes their
/// Ion text (`None`: the record is lost in transit).
fn copy_changed(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    (from, shards): (&str, &[&str]),
    to: &str,
    edit: impl Fn(String) -> Option<String>,
) {
    kinesis(
        rt,
        emu,
        "CreateStream",
        json!({"StreamName": to, "ShardCount": 1}),
    );
    for shard in shards {
        for (key, bytes) in shard_records(rt, emu, from, shard) {
            let e = Element::read_one(&bytes).unwrap();
            let Some(text) = edit(e.to_string()) else {
                continue;
            };
            let changed = Element::read_one(text.as_bytes())
                .unwrap()
                .encode_as(v1_0::Binary)
                .unwrap();
            kinesis(
                rt,
                emu,
                "PutRecord",
                json!({"StreamName": to, "PartitionKey": key,
                       "Data": base64::engine::general_purpose::STANDARD.encode(changed)}),
            );
        }
    }
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
    let Setup {
        rt,
        running: _running,
        emu,
        url: u,
        dir,
        home,
        data,
    } = setup("replicate");

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
    // Run again with nothing new: the replica is current, nothing is appended.
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
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("appended 0 blocks"),
        "{}",
        text(&again.stdout)
    );

    // A block changed in transit: the same records with one revision's data altered.
    copy_changed(
        &rt,
        &emu,
        ("journal", &["shardId-000000000000"]),
        "tampered",
        |t| Some(t.replace("\"Carol\"", "\"Mallory\"")),
    );
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
    // The export is encrypted under a KMS key: every object, manifests included.
    let key_arn = kms(
        &rt,
        &emu,
        "CreateKey",
        json!({"Description": "journal exports"}),
    )["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, export) = export_to(&rt, &emu, "source/", &key_arn);
    assert_eq!(status, 200, "{export}");
    let id = export["ExportId"].as_str().unwrap();
    emu.deliver().unwrap();
    let keys = emu.s3_keys("exports", "source/");
    assert!(keys.len() >= 3, "{keys:?}");
    for key in &keys {
        let headers = head(&emu, &format!("/exports/{key}"));
        assert_eq!(headers["x-amz-server-side-encryption"], "aws:kms", "{key}");
        assert_eq!(
            headers["x-amz-server-side-encryption-aws-kms-key-id"],
            key_arn.as_str(),
            "{key}"
        );
    }
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

    // A newer export of the same ledger brings the replica made from the first one up to date.
    db.execute("INSERT INTO Accounts {'id': 'd', 'owner': 'Erin'}", &[])
        .unwrap();
    db.execute("UPDATE Accounts SET owner = 'Frank' WHERE id = 'b'", &[])
        .unwrap();
    emu.clock().advance(1_000).unwrap();
    let (status, later) = export_to(&rt, &emu, "later/", &key_arn);
    assert_eq!(status, 200, "{later}");
    emu.deliver().unwrap();
    let from_later = [
        "replicate",
        "--from-export",
        "s3://exports/later/",
        "--to",
        "from-export",
        "--data-dir",
        s(&data),
        "--json",
    ];
    let out = replicate(&u, &home, &from_later);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["appended"], 2, "{summary}");
    let source = qldb(&rt, &emu, Method::POST, "/ledgers/source/digest", json!({}));
    assert_eq!(digest_of(&data, "from-export")["Digest"], source["Digest"]);
    assert_eq!(summary["digest"], source["Digest"]);

    // --follow reads a stream, not an export: a usage error.
    let out = replicate(&u, &home, &[&from_later[..], &["--follow"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // The key disabled: the objects cannot be read (as on AWS), a new export is refused, and one
    // in progress when the key goes is CANCELLED.
    kms(&rt, &emu, "DisableKey", json!({"KeyId": key_arn}));
    let (status, v) = call(
        &rt,
        &emu,
        Method::GET,
        &format!("/exports/{}", keys[0]),
        &[("authorization", auth("s3").as_str())],
        "",
    );
    assert_eq!(status, 400, "{v}");
    let out = replicate(
        &u,
        &home,
        &[
            "replicate",
            "--from-export",
            "s3://exports/later/",
            "--to",
            "unreadable",
            "--data-dir",
            s(&data),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("KMS.DisabledException"),
        "{}",
        text(&out.stderr)
    );
    assert!(!data.join("unreadable.ledger").exists());
    let (status, refused) = export_to(&rt, &emu, "refused/", &key_arn);
    assert_eq!(status, 412, "{refused}");
    assert!(refused.to_string().contains("disabled"), "{refused}");
    let (status, _) = export_to(
        &rt,
        &emu,
        "refused/",
        "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    assert_eq!(status, 412);
    assert!(emu.s3_keys("exports", "refused/").is_empty());
    kms(&rt, &emu, "EnableKey", json!({"KeyId": key_arn}));
    let (status, pending) = export_to(&rt, &emu, "cancelled/", &key_arn);
    assert_eq!(status, 200, "{pending}");
    kms(&rt, &emu, "DisableKey", json!({"KeyId": key_arn}));
    emu.deliver().unwrap();
    let described = qldb(
        &rt,
        &emu,
        Method::GET,
        &format!(
            "/ledgers/source/journal-s3-exports/{}",
            pending["ExportId"].as_str().unwrap()
        ),
        json!({}),
    );
    assert_eq!(described["ExportDescription"]["Status"], "CANCELLED");
    kms(&rt, &emu, "EnableKey", json!({"KeyId": key_arn}));
    kms(
        &rt,
        &emu,
        "ScheduleKeyDeletion",
        json!({"KeyId": key_arn, "PendingWindowInDays": 7}),
    );
    let (status, refused) = export_to(&rt, &emu, "refused/", &key_arn);
    assert_eq!(status, 412, "{refused}");
    assert!(
        refused.to_string().contains("pending deletion"),
        "{refused}"
    );
    assert_eq!(
        described["ExportDescription"]["S3ExportConfiguration"]["EncryptionConfiguration"]["KmsKeyArn"],
        key_arn.as_str()
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ExportJournalToS3 of ledger `source` up to now into `s3://exports/<prefix>`, SSE-KMS under
/// `key`: the status and the answer.
fn export_to(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    prefix: &str,
    key: &str,
) -> (u16, Value) {
    let body = json!({"InclusiveStartTime": (T0 - 60_000) as f64 / 1000.0, "ExclusiveEndTime": (emu.now().0 as f64) / 1000.0,
        "RoleArn": ROLE, "S3ExportConfiguration": {"Bucket": "exports", "Prefix": prefix,
        "EncryptionConfiguration": {"ObjectEncryptionType": "SSE_KMS", "KmsKeyArn": key}}});
    call(
        rt,
        emu,
        Method::POST,
        "/ledgers/source/journal-s3-exports",
        &[],
        &body.to_string(),
    )
}

/// HeadObject's headers.
fn head(emu: &Emulator, path: &str) -> std::collections::BTreeMap<String, String> {
    let mut h = HeaderMap::new();
    h.insert("authorization", auth("s3").parse().unwrap());
    let response = emu.handle(&Method::HEAD, path, &h, b"");
    assert_eq!(response.status().as_u16(), 200, "HEAD {path}");
    response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// Reads `child`'s stderr line by line until one contains `wanted`; the lines read.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    wanted: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains(wanted);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("the replica's output ended before `{wanted}`: {seen:?}");
}

/// Sends SIGTERM to a `--follow --json` run; it must end with exit 0 and its summary.
fn terminated(child: std::process::Child) -> Value {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        text(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_replica_is_resumed_and_followed_from_the_stream_and_refuses_forks_and_changes() {
    use std::io::BufRead as _;

    let Setup {
        rt,
        running: _running,
        emu,
        url: u,
        dir,
        home,
        data,
    } = setup("replicate-follow");
    let digest_matches = |name: &str| {
        let source = qldb(&rt, &emu, Method::POST, "/ledgers/source/digest", json!({}));
        let replica = digest_of(&data, name);
        assert_eq!(replica["Digest"], source["Digest"]);
        assert_eq!(
            replica["DigestTipAddress"]["IonText"],
            source["DigestTipAddress"]["IonText"]
        );
    };

    // Two ledgers, each streaming to its own Kinesis stream.
    for (ledger, stream) in [("source", "journal"), ("elsewhere", "other-journal")] {
        qldb(
            &rt,
            &emu,
            Method::POST,
            "/ledgers",
            json!({"Name": ledger, "PermissionsMode": "STANDARD", "DeletionProtection": false}),
        );
        kinesis(
            &rt,
            &emu,
            "CreateStream",
            json!({"StreamName": stream, "ShardCount": 2}),
        );
        qldb(
            &rt,
            &emu,
            Method::POST,
            &format!("/ledgers/{ledger}/journal-kinesis-streams"),
            json!({"RoleArn": ROLE, "StreamName": "to-replica", "InclusiveStartTime": (T0 - 60_000) as f64 / 1000.0,
                   "KinesisConfiguration": {"StreamArn": format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"),
                                            "AggregationEnabled": true}}),
        );
    }
    let stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/journal";
    let db = emu.ledger_database("source").unwrap();
    db.execute("CREATE TABLE Accounts", &[]).unwrap();
    let written = std::cell::Cell::new(0);
    let write = |count: usize| {
        for _ in 0..count {
            let n = written.get() + 1;
            written.set(n);
            db.execute(
                &format!("INSERT INTO Accounts {{'id': 'a{n}', 'owner': 'Owner {n}'}}"),
                &[],
            )
            .unwrap();
        }
        emu.deliver().unwrap();
    };
    let elsewhere = emu.ledger_database("elsewhere").unwrap();
    elsewhere.execute("CREATE TABLE Accounts", &[]).unwrap();
    write(2);

    let run = |args: &[&str]| {
        let base = ["replicate", "--to", "replica", "--data-dir", s(&data)];
        replicate(&u, &home, &[&base[..], args].concat())
    };
    let out = run(&["--from-stream", stream_arn]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    digest_matches("replica");

    // More blocks, then the same command again: only the newer blocks are appended.
    write(3);
    let out = run(&["--from-stream", stream_arn, "--json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["appended"], 3, "{summary}");
    assert_eq!(summary["created"], false);
    assert_eq!(
        text(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("replicated block "))
            .count(),
        3,
        "{}",
        text(&out.stderr)
    );
    digest_matches("replica");
    let verified = crate::veritrail(&["ledger", "verify", "replica", "--data-dir", s(&data)]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));

    // A block changed in transit after the replica's tip: refused, the replica unchanged.
    let before = digest_of(&data, "replica");
    write(1);
    copy_changed(
        &rt,
        &emu,
        ("journal", &["shardId-000000000000", "shardId-000000000001"]),
        "tampered",
        |t| Some(t.replace(&format!("\"Owner {}\"", written.get()), "\"Mallory\"")),
    );
    let out = run(&[
        "--from-stream",
        "arn:aws:kinesis:us-east-1:000000000000:stream/tampered",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(&format!("block {}", 7))
            && text(&out.stderr).contains("nothing was written"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(digest_of(&data, "replica"), before);

    // Another ledger's journal, and a stream that does not exist.
    let out = run(&[
        "--from-stream",
        "arn:aws:kinesis:us-east-1:000000000000:stream/other-journal",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("another ledger"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "--from-stream",
        "arn:aws:kinesis:us-east-1:000000000000:stream/nowhere",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("ListShards on arn:aws:kinesis:us-east-1:000000000000:stream/nowhere failed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(digest_of(&data, "replica"), before);

    // Following a stream that lost a revision of block 5 (blocks after it are there): it does
    // not wait for ever.
    copy_changed(
        &rt,
        &emu,
        ("journal", &["shardId-000000000000", "shardId-000000000001"]),
        "holed",
        |t| (!t.contains("\"Owner 4\"")).then_some(t),
    );
    let holed = "arn:aws:kinesis:us-east-1:000000000000:stream/holed";
    let out = run(&["--from-stream", holed, "--follow", "--poll-ms", "10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("block 5: the revision of document")
            && text(&out.stderr).contains("did not come in two reads"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--from-stream", holed]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("block 5: the revision of document"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(digest_of(&data, "replica"), before);

    // Following: blocks written while it runs are appended, and it stops at --until-tip-seq.
    let follow_into = |to: &str, stream: &str, extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"));
        cmd.args([
            "replicate",
            "--to",
            to,
            "--data-dir",
            s(&data),
            "--from-stream",
            stream,
            "--follow",
            "--poll-ms",
            "20",
            "--json",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        aws_env(&mut cmd, &u, &home);
        cmd.spawn().unwrap()
    };
    let follow = |extra: &[&str]| follow_into("replica", stream_arn, extra);
    // Blocks 0 (the ledger), 1 (the table), 2 to 7 (six inserts) so far; four more come.
    let mut child = follow(&["--until-tip-seq", "11"]);
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let seen = read_until(&mut lines, "following");
    assert!(
        seen.iter().any(|l| l.starts_with("replicated block 1 (")),
        "{seen:?}"
    );
    assert!(seen.last().unwrap().ends_with("from block 8"), "{seen:?}");
    write(2);
    read_until(&mut lines, ", 9)");
    write(2);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["tip"], 11, "{summary}");
    assert_eq!(summary["appended"], 5, "{summary}");
    digest_matches("replica");

    // SIGTERM ends a follow run cleanly after the batch in hand: exit 0 and the summary.
    let mut child = follow(&[]);
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    read_until(&mut lines, "following");
    let summary = terminated(child);
    assert_eq!(summary["tip"], 11, "{summary}");
    assert_eq!(summary["appended"], 0, "{summary}");

    // Stopped while following a stream that has carried nothing yet: no replica is made.
    kinesis(
        &rt,
        &emu,
        "CreateStream",
        json!({"StreamName": "quiet", "ShardCount": 1}),
    );
    let mut child = follow_into(
        "not-yet",
        "arn:aws:kinesis:us-east-1:000000000000:stream/quiet",
        &[],
    );
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(
        read_until(&mut lines, "following")
            .last()
            .unwrap()
            .ends_with("from block 0")
    );
    let summary = terminated(child);
    assert_eq!(summary["created"], false, "{summary}");
    assert!(!data.join("not-yet.ledger").exists());
    drop((db, elsewhere));
    let _ = std::fs::remove_dir_all(&dir);
}
