//! Kinesis Data Streams over real TCP: streams made, described, listed and deleted with
//! Kinesis's answers and errors; records put by partition key and by explicit hash key and read
//! back with every iterator type; iterators that expire on the emulator's clock; retention on
//! the clock; and streams and records surviving a kill.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::iam_kms::json_call;
use crate::{Instance, Reply};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn kinesis(url: &str, op: &str, body: Value) -> Reply {
    json_call(url, "kinesis", &format!("Kinesis_20131202.{op}"), &body)
}

fn ok(url: &str, op: &str, body: Value) -> Value {
    let r = kinesis(url, op, body);
    assert_eq!(r.status, 200, "{op}: {}", r.json);
    r.json
}

fn refused(url: &str, op: &str, body: Value, code: &str) -> String {
    let r = kinesis(url, op, body);
    assert_eq!((r.status, r.error_type()), (400, code), "{op}: {}", r.json);
    r.json["message"].as_str().unwrap_or("").to_owned()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn data(record: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["Data"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn advance(i: &Instance, seconds: i64) {
    i.running
        .as_ref()
        .unwrap()
        .emulator
        .clock()
        .advance(seconds * 1000)
        .unwrap();
}

fn iterator(url: &str, stream: &str, shard: &str, kind: &str, extra: Value) -> String {
    let mut body = json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    ok(url, "GetShardIterator", body)["ShardIterator"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An emulator at [`T0`] of its own, with stream `stream` of `shards` shards.
fn with_stream(test: &str, stream: &str, shards: u32) -> (Instance, String) {
    let mut i = Instance::new(test);
    i.start(T0, false);
    let u = i.url().to_owned();
    ok(
        &u,
        "CreateStream",
        json!({"StreamName": stream, "ShardCount": shards}),
    );
    (i, u)
}

#[test]
fn streams_are_made_described_listed_and_deleted_as_kinesis_does() {
    let (_i, u) = with_stream("kinesis-streams", "orders", 3);
    ok(
        &u,
        "CreateStream",
        json!({"StreamName": "journal", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    );
    let m = refused(
        &u,
        "CreateStream",
        json!({"StreamName": "orders", "ShardCount": 1}),
        "ResourceInUseException",
    );
    assert_eq!(
        m,
        "Stream orders under account 000000000000 already exists."
    );
    refused(
        &u,
        "CreateStream",
        json!({"StreamName": "p", "StreamModeDetails": {"StreamMode": "PROVISIONED"}}),
        "InvalidArgumentException",
    );
    refused(
        &u,
        "CreateStream",
        json!({"StreamName": "bad name"}),
        "ValidationException",
    );
    refused(
        &u,
        "CreateStream",
        json!({"StreamName": "huge", "ShardCount": 600}),
        "LimitExceededException",
    );

    let d = ok(&u, "DescribeStream", json!({"StreamName": "orders"}))["StreamDescription"].clone();
    assert_eq!(d["StreamStatus"], "ACTIVE");
    assert_eq!(
        d["StreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
    );
    assert_eq!(d["StreamModeDetails"]["StreamMode"], "PROVISIONED");
    assert_eq!(d["RetentionPeriodHours"], 24);
    let shards = d["Shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[0]["ShardId"], "shardId-000000000000");
    assert_eq!(shards[0]["HashKeyRange"]["StartingHashKey"], "0");
    assert_eq!(
        shards[2]["HashKeyRange"]["EndingHashKey"],
        u128::MAX.to_string()
    );
    // Paging through DescribeStream and ListShards.
    let d = ok(
        &u,
        "DescribeStream",
        json!({"StreamName": "orders", "Limit": 2}),
    )["StreamDescription"]
        .clone();
    assert_eq!(
        (
            d["Shards"].as_array().unwrap().len(),
            d["HasMoreShards"].clone()
        ),
        (2, json!(true))
    );
    let page = ok(
        &u,
        "ListShards",
        json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/orders", "MaxResults": 2}),
    );
    let token = page["NextToken"].as_str().unwrap().to_owned();
    let rest = ok(&u, "ListShards", json!({"NextToken": token}));
    assert_eq!(rest["Shards"][0]["ShardId"], "shardId-000000000002");
    assert!(rest.get("NextToken").is_none());
    refused(
        &u,
        "ListShards",
        json!({"NextToken": token, "StreamName": "orders"}),
        "InvalidArgumentException",
    );
    let s = ok(
        &u,
        "DescribeStreamSummary",
        json!({"StreamName": "journal"}),
    )["StreamDescriptionSummary"]
        .clone();
    assert_eq!(
        (
            s["OpenShardCount"].clone(),
            s["StreamModeDetails"]["StreamMode"].clone()
        ),
        (json!(4), json!("ON_DEMAND"))
    );
    let l = ok(&u, "ListStreams", json!({"Limit": 1}));
    assert_eq!(l["StreamNames"], json!(["journal"]));
    assert_eq!(l["HasMoreStreams"], true);
    let l = ok(
        &u,
        "ListStreams",
        json!({"NextToken": l["NextToken"].as_str().unwrap()}),
    );
    assert_eq!(l["StreamNames"], json!(["orders"]));
    assert_eq!(l["HasMoreStreams"], false);

    ok(&u, "DeleteStream", json!({"StreamName": "journal"}));
    let m = refused(
        &u,
        "DescribeStream",
        json!({"StreamName": "journal"}),
        "ResourceNotFoundException",
    );
    assert_eq!(m, "Stream journal under account 000000000000 not found.");
    refused(
        &u,
        "DeleteStream",
        json!({"StreamName": "journal"}),
        "ResourceNotFoundException",
    );
    refused(&u, "DescribeStream", json!({}), "InvalidArgumentException");
    let e = kinesis(&u, "SplitShard", json!({"StreamName": "orders"}));
    assert_eq!(e.error_type(), "UnknownOperationException");
}

#[test]
fn records_are_put_and_read_back_with_every_iterator_type_and_iterators_expire() {
    let (i, u) = with_stream("kinesis-records", "s", 2);
    // One partition key always lands on one shard; sequence numbers grow.
    let mut seqs = Vec::new();
    let mut shard = String::new();
    for n in 0..5 {
        let p = ok(
            &u,
            "PutRecord",
            json!({"StreamName": "s", "PartitionKey": "doc-1", "Data": b64(format!("r{n}").as_bytes())}),
        );
        if n == 0 {
            shard = p["ShardId"].as_str().unwrap().to_owned();
        }
        assert_eq!(p["ShardId"], shard.as_str());
        seqs.push(p["SequenceNumber"].as_str().unwrap().to_owned());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // An explicit hash key chooses the shard.
    let p = ok(
        &u,
        "PutRecords",
        json!({"StreamName": "s", "Records": [
            {"PartitionKey": "a", "Data": b64(b"low"), "ExplicitHashKey": "0"},
            {"PartitionKey": "a", "Data": b64(b"high"), "ExplicitHashKey": u128::MAX.to_string()},
        ]}),
    );
    assert_eq!(p["FailedRecordCount"], 0);
    assert_eq!(p["Records"][0]["ShardId"], "shardId-000000000000");
    assert_eq!(p["Records"][1]["ShardId"], "shardId-000000000001");

    let it = iterator(&u, "s", &shard, "TRIM_HORIZON", json!({}));
    let r = ok(&u, "GetRecords", json!({"ShardIterator": it, "Limit": 2}));
    let got: Vec<String> = r["Records"].as_array().unwrap().iter().map(data).collect();
    assert_eq!(&got[..2], ["r0", "r1"]);
    assert!(r["MillisBehindLatest"].as_i64().unwrap() >= 0);
    let r = ok(
        &u,
        "GetRecords",
        json!({"ShardIterator": r["NextShardIterator"].as_str().unwrap()}),
    );
    let rest: Vec<String> = r["Records"].as_array().unwrap().iter().map(data).collect();
    assert_eq!(&rest[..3], ["r2", "r3", "r4"]);
    assert_eq!(r["MillisBehindLatest"], 0);
    assert_eq!(r["Records"][0]["PartitionKey"], "doc-1");

    let at = iterator(
        &u,
        "s",
        &shard,
        "AT_SEQUENCE_NUMBER",
        json!({"StartingSequenceNumber": seqs[3]}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": at}));
    assert_eq!(data(&r["Records"][0]), "r3");
    let after = iterator(
        &u,
        "s",
        &shard,
        "AFTER_SEQUENCE_NUMBER",
        json!({"StartingSequenceNumber": seqs[3]}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": after}));
    assert_eq!(data(&r["Records"][0]), "r4");
    let latest = iterator(&u, "s", &shard, "LATEST", json!({}));
    assert_eq!(
        ok(&u, "GetRecords", json!({"ShardIterator": latest.clone()}))["Records"],
        json!([])
    );
    advance(&i, 10);
    ok(
        &u,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "doc-1", "Data": b64(b"later")}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": latest}));
    assert_eq!(data(&r["Records"][0]), "later");
    let ts = iterator(
        &u,
        "s",
        &shard,
        "AT_TIMESTAMP",
        json!({"Timestamp": (T0 + 5_000) as f64 / 1000.0}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": ts}));
    assert_eq!(r["Records"].as_array().unwrap().len(), 1);
    assert_eq!(data(&r["Records"][0]), "later");

    // Wrong sequence numbers, shards and iterators are refused as Kinesis refuses them.
    let other = if shard.ends_with('0') {
        "shardId-000000000001"
    } else {
        "shardId-000000000000"
    };
    refused(
        &u,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": other, "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": seqs[0]}),
        "InvalidArgumentException",
    );
    refused(
        &u,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": "shardId-000000000009", "ShardIteratorType": "LATEST"}),
        "ResourceNotFoundException",
    );
    refused(
        &u,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": shard, "ShardIteratorType": "SOMEWHERE"}),
        "ValidationException",
    );
    refused(
        &u,
        "GetRecords",
        json!({"ShardIterator": "bm90IGFuIGl0ZXJhdG9y"}),
        "InvalidArgumentException",
    );
    refused(
        &u,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "", "Data": b64(b"x")}),
        "ValidationException",
    );
    refused(
        &u,
        "PutRecord",
        json!({"StreamName": "nope", "PartitionKey": "k", "Data": b64(b"x")}),
        "ResourceNotFoundException",
    );

    // Five minutes later the iterator has expired, on the emulator's clock.
    let it = iterator(&u, "s", &shard, "TRIM_HORIZON", json!({}));
    advance(&i, 301);
    let m = refused(
        &u,
        "GetRecords",
        json!({"ShardIterator": it}),
        "ExpiredIteratorException",
    );
    assert!(m.starts_with("Iterator expired."), "{m}");
}

#[test]
fn records_outlive_a_kill_and_leave_with_their_retention() {
    let (mut i, u) = with_stream("kinesis-retention", "keep", 1);
    ok(
        &u,
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "keep", "RetentionPeriodHours": 48}),
    );
    refused(
        &u,
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "keep", "RetentionPeriodHours": 72}),
        "InvalidArgumentException",
    );
    refused(
        &u,
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "keep", "RetentionPeriodHours": 9000}),
        "InvalidArgumentException",
    );
    let first = ok(
        &u,
        "PutRecord",
        json!({"StreamName": "keep", "PartitionKey": "k", "Data": b64(b"old")}),
    );
    advance(&i, 40 * 3600);
    ok(
        &u,
        "PutRecord",
        json!({"StreamName": "keep", "PartitionKey": "k", "Data": b64(b"new")}),
    );

    // A kill keeps the stream, its settings and its records; sequence numbers keep growing.
    let now = i.running.as_ref().unwrap().emulator.now().0;
    i.kill();
    i.start(now, false);
    let u = i.url().to_owned();
    let d = ok(&u, "DescribeStreamSummary", json!({"StreamName": "keep"}));
    assert_eq!(d["StreamDescriptionSummary"]["RetentionPeriodHours"], 48);
    let it = iterator(
        &u,
        "keep",
        "shardId-000000000000",
        "TRIM_HORIZON",
        json!({}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": it}));
    let got: Vec<String> = r["Records"].as_array().unwrap().iter().map(data).collect();
    assert_eq!(got, ["old", "new"]);
    let third = ok(
        &u,
        "PutRecord",
        json!({"StreamName": "keep", "PartitionKey": "k", "Data": b64(b"third")}),
    );
    assert!(third["SequenceNumber"].as_str() > first["SequenceNumber"].as_str());

    // Past 48 hours the first record is gone, whether or not the sweep ran yet.
    advance(&i, 9 * 3600);
    let it = iterator(
        &u,
        "keep",
        "shardId-000000000000",
        "TRIM_HORIZON",
        json!({}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": it}));
    let got: Vec<String> = r["Records"].as_array().unwrap().iter().map(data).collect();
    assert_eq!(got, ["new", "third"]);
    i.running.as_ref().unwrap().emulator.deliver().unwrap();
    let it = iterator(
        &u,
        "keep",
        "shardId-000000000000",
        "TRIM_HORIZON",
        json!({}),
    );
    let r = ok(&u, "GetRecords", json!({"ShardIterator": it}));
    assert_eq!(r["Records"].as_array().unwrap().len(), 2);
}
