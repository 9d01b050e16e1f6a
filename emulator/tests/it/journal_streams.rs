//! QLDB's journal streams into the emulated Kinesis: CONTROL, BLOCK_SUMMARY and
//! REVISION_DETAILS records (Ion binary, KPL-aggregated or not) for every block from the start
//! time, in order per document; a deleted target stream turning the journal stream IMPAIRED and
//! a new one resuming it; a restart resuming where it stopped; an end time completing it; and
//! QLDB's refusals.

use base64::Engine as _;
use serde_json::{Value, json};
use veritrail_core::ion_rs::Element;
use veritrail_emulator::services::kinesis::aggregate::deaggregate;

use crate::iam_kms::json_call;
use crate::{Instance, request};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const ROLE: &str = "arn:aws:iam::000000000000:role/qldb-stream";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/journal";

fn kinesis(url: &str, op: &str, body: Value) -> Value {
    let r = json_call(url, "kinesis", &format!("Kinesis_20131202.{op}"), &body);
    assert_eq!(r.status, 200, "{op}: {}", r.json);
    r.json
}

fn field<'a>(e: &'a Element, name: &str) -> &'a Element {
    e.as_struct()
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("no {name} in {e}"))
}

fn text(e: &Element) -> String {
    e.as_string()
        .or_else(|| e.as_symbol().and_then(|s| s.text()))
        .unwrap_or_else(|| panic!("{e} is not text"))
        .to_owned()
}

/// Every stream record on `shard` of the stream `journal`, de-aggregated, in order.
fn stream_records(url: &str) -> Vec<Element> {
    let it = kinesis(
        url,
        "GetShardIterator",
        json!({"StreamName": "journal", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )["ShardIterator"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = kinesis(url, "GetRecords", json!({"ShardIterator": it}));
    let mut out = Vec::new();
    for r in got["Records"].as_array().unwrap() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["Data"].as_str().unwrap())
            .unwrap();
        for (_, bytes) in deaggregate(r["PartitionKey"].as_str().unwrap(), &data).unwrap() {
            assert_eq!(&bytes[..4], &[0xE0, 0x01, 0x00, 0xEA], "not Ion binary");
            out.push(Element::read_one(&bytes).unwrap());
        }
    }
    out
}

fn kinds(records: &[Element]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let kind = text(field(r, "recordType"));
            if kind == "CONTROL" {
                format!(
                    "CONTROL {}",
                    text(field(field(r, "payload"), "controlRecordType"))
                )
            } else {
                kind
            }
        })
        .collect()
}

fn start_stream(url: &str, body: Value) -> String {
    let r = request(
        url,
        "POST",
        "/ledgers/bank/journal-kinesis-streams",
        &[],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["StreamId"].as_str().unwrap().to_owned()
}

fn describe(url: &str, id: &str) -> Value {
    let r = request(
        url,
        "GET",
        &format!("/ledgers/bank/journal-kinesis-streams/{id}"),
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["Stream"].clone()
}

#[test]
fn a_journal_stream_carries_every_block_resumes_after_impairment_and_restart_and_completes() {
    let mut i = Instance::new("journal-streams");
    i.start(T0, false);
    let u = i.url().to_owned();
    let created = request(
        &u,
        "POST",
        "/ledgers",
        &[],
        r#"{"Name":"bank","PermissionsMode":"STANDARD","DeletionProtection":false}"#,
    );
    assert_eq!(created.status, 200, "{}", created.json);
    kinesis(
        &u,
        "CreateStream",
        json!({"StreamName": "journal", "ShardCount": 1}),
    );
    let emulator = std::sync::Arc::clone(&i.running.as_ref().unwrap().emulator);
    let db = emulator.ledger_database("bank").unwrap();
    db.execute("CREATE TABLE Accounts", &[]).unwrap();
    db.execute("INSERT INTO Accounts {'id': 'a', 'balance': 1}", &[])
        .unwrap();
    db.execute("UPDATE Accounts SET balance = 2 WHERE id = 'a'", &[])
        .unwrap();

    // QLDB's refusals.
    let bad = |body: Value, code: &str| {
        let r = request(
            &u,
            "POST",
            "/ledgers/bank/journal-kinesis-streams",
            &[],
            &body.to_string(),
        );
        assert_eq!(r.error_type(), code, "{}", r.json);
        r
    };
    let base = json!({
        "RoleArn": ROLE, "StreamName": "to-kinesis",
        "InclusiveStartTime": (T0 - 60_000) as f64 / 1000.0,
        "KinesisConfiguration": {"StreamArn": STREAM_ARN, "AggregationEnabled": true},
    });
    let mut end_first = base.clone();
    end_first["ExclusiveEndTime"] = json!((T0 - 120_000) as f64 / 1000.0);
    let r = bad(end_first, "InvalidParameterException");
    assert_eq!(r.status, 400);
    let mut no_arn = base.clone();
    no_arn["KinesisConfiguration"]["StreamArn"] = json!("journal");
    bad(no_arn, "InvalidParameterException");
    let r = request(
        &u,
        "POST",
        "/ledgers/nope/journal-kinesis-streams",
        &[],
        &base.to_string(),
    );
    assert_eq!(
        (r.status, r.error_type()),
        (404, "ResourceNotFoundException")
    );
    let r = request(
        &u,
        "GET",
        "/ledgers/bank/journal-kinesis-streams/AAAAAAAAAAAAAAAAAAAAAA",
        &[],
        "",
    );
    assert_eq!(
        (r.status, r.error_type()),
        (404, "ResourceNotFoundException")
    );

    let id = start_stream(&u, base.clone());
    emulator.deliver().unwrap();
    let records = stream_records(&u);
    let blocks = db.ledger().block_count();
    let k = kinds(&records);
    assert_eq!(k[0], "CONTROL CREATED");
    assert_eq!(
        k.iter().filter(|k| *k == "BLOCK_SUMMARY").count() as u64,
        blocks
    );
    // The account's two revisions, in order, with their table.
    let details: Vec<&Element> = records
        .iter()
        .filter(|r| text(field(r, "recordType")) == "REVISION_DETAILS")
        .map(|r| field(r, "payload"))
        .filter(|p| text(field(field(p, "tableInfo"), "tableName")) == "Accounts")
        .collect();
    let versions: Vec<i64> = details
        .iter()
        .map(|p| {
            field(field(field(p, "revision"), "metadata"), "version")
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, [0, 1]);
    let arn = text(field(&records[0], "qldbStreamArn"));
    assert_eq!(
        arn,
        format!("arn:aws:qldb:us-east-1:000000000000:stream/bank/{id}")
    );
    let d = describe(&u, &id);
    assert_eq!(
        (d["Status"].as_str(), d["Arn"].as_str()),
        (Some("ACTIVE"), Some(arn.as_str()))
    );
    let listed = request(&u, "GET", "/ledgers/bank/journal-kinesis-streams", &[], "");
    assert_eq!(listed.json["Streams"][0]["StreamId"], id.as_str());

    // The target stream is deleted: IMPAIRED, with QLDB's cause; a new one resumes it.
    kinesis(&u, "DeleteStream", json!({"StreamName": "journal"}));
    db.execute("INSERT INTO Accounts {'id': 'b', 'balance': 5}", &[])
        .unwrap();
    emulator.deliver().unwrap();
    let d = describe(&u, &id);
    assert_eq!(d["Status"], "IMPAIRED");
    assert_eq!(d["ErrorCause"], "KINESIS_STREAM_NOT_FOUND");
    kinesis(
        &u,
        "CreateStream",
        json!({"StreamName": "journal", "ShardCount": 1}),
    );
    emulator.deliver().unwrap();
    let d = describe(&u, &id);
    assert_eq!(d["Status"], "ACTIVE");
    assert!(d.get("ErrorCause").is_none());
    assert_eq!(
        kinds(&stream_records(&u)),
        ["BLOCK_SUMMARY", "REVISION_DETAILS"]
    );

    // A kill and a restart: the stream resumes after the last block it sent.
    let now = emulator.now().0;
    drop(db);
    drop(emulator);
    i.kill();
    i.start(now, false);
    let u = i.url().to_owned();
    let emulator = std::sync::Arc::clone(&i.running.as_ref().unwrap().emulator);
    let db = emulator.ledger_database("bank").unwrap();
    db.execute("INSERT INTO Accounts {'id': 'c', 'balance': 7}", &[])
        .unwrap();
    emulator.deliver().unwrap();
    assert_eq!(
        kinds(&stream_records(&u)),
        [
            "BLOCK_SUMMARY",
            "REVISION_DETAILS",
            "BLOCK_SUMMARY",
            "REVISION_DETAILS"
        ]
    );

    // Cancelled: CANCELED, no COMPLETED record; a second cancel is refused.
    let cancel = || {
        request(
            &u,
            "DELETE",
            &format!("/ledgers/bank/journal-kinesis-streams/{id}"),
            &[],
            "",
        )
    };
    let r = cancel();
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(describe(&u, &id)["Status"], "CANCELED");
    let r = cancel();
    assert_eq!(
        (r.status, r.error_type()),
        (412, "ResourcePreconditionNotMetException")
    );

    // An end time: every block before it, then CONTROL COMPLETED, and the stream is COMPLETED.
    kinesis(&u, "DeleteStream", json!({"StreamName": "journal"}));
    kinesis(
        &u,
        "CreateStream",
        json!({"StreamName": "journal", "ShardCount": 1}),
    );
    let mut bounded = base.clone();
    bounded["ExclusiveEndTime"] = json!((emulator.now().0 + 1_000) as f64 / 1000.0);
    bounded["KinesisConfiguration"]["AggregationEnabled"] = json!(false);
    let bounded_id = start_stream(&u, bounded);
    emulator.clock().advance(2_000).unwrap();
    db.execute("INSERT INTO Accounts {'id': 'late', 'balance': 0}", &[])
        .unwrap();
    emulator.deliver().unwrap();
    let k = kinds(&stream_records(&u));
    assert_eq!(k.first().map(String::as_str), Some("CONTROL CREATED"));
    assert_eq!(k.last().map(String::as_str), Some("CONTROL COMPLETED"));
    assert_eq!(
        k.iter().filter(|k| *k == "BLOCK_SUMMARY").count() as u64,
        db.ledger().block_count() - 1,
        "the block after the end time is not sent"
    );
    assert_eq!(describe(&u, &bounded_id)["Status"], "COMPLETED");
}
