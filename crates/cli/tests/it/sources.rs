//! `veritrail ingest` from AWS sources against the emulator (`veritrail serve --no-defaults`):
//! an SQS queue (EventBridge events, SNS-wrapped ones, a malformed message left for the
//! dead-letter queue or written to a file), CloudTrail log files in S3 from a checkpoint,
//! LookupEvents, EventBridge events over HTTP, and alerts to an SNS topic.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::{Started, s, scratch, shared_cloudtrail, text, veritrail};

/// The emulator, and the SDK's configuration and runtime for it.
struct Emu {
    /// Held for its drop, which stops the emulator.
    _server: Started,
    url: String,
    rt: veritrail_processor::aws::Aws,
    conf: aws_config::SdkConfig,
}

fn emulator(dir: &Path) -> Emu {
    let (child, addr) = crate::serve(s(&dir.join("emu")), &[]);
    let url = format!("http://{addr}");
    let rt = veritrail_processor::aws::Aws::local(&url, "us-east-1").unwrap();
    let conf = rt.config().clone();
    Emu {
        _server: child,
        url,
        rt,
        conf,
    }
}

fn create_ledger(data: &Path) {
    let out = veritrail(&["ledger", "create", "audit", "--data-dir", s(data)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn ingest(emu: &Emu, data: &Path, source: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec![
        "ingest",
        "--ledger",
        "audit",
        "--data-dir",
        s(data),
        "--json",
        "--endpoint-url",
        &emu.url,
        "--region",
        "us-east-1",
    ];
    args.extend_from_slice(source);
    let out = Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let summary = serde_json::from_str(text(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), summary, text(&out.stderr))
}

fn stored_ids(data: &Path) -> Vec<String> {
    let out = veritrail(&[
        "ledger",
        "query",
        "audit",
        "--data-dir",
        s(data),
        "SELECT r.eventID FROM AuditRecords AS r",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut ids: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn records(name: &str) -> Vec<Value> {
    let path = shared_cloudtrail(&format!("stratus-red-team/{name}"));
    match serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap() {
        Value::Array(r) => r,
        other => panic!("not an array: {other}"),
    }
}

fn event_of(record: &Value) -> Value {
    veritrail_rules::envelope::cloudtrail_event(record.as_object().unwrap())
}

fn queue(emu: &Emu, name: &str, dlq: Option<&str>) -> String {
    let sqs = aws_sdk_sqs::Client::new(&emu.conf);
    emu.rt.block_on(async {
        let mut create = sqs.create_queue().queue_name(name);
        if let Some(dlq) = dlq {
            let dlq_url = sqs.create_queue().queue_name(dlq).send().await.unwrap();
            let arn = format!("arn:aws:sqs:us-east-1:000000000000:{dlq}");
            assert!(dlq_url.queue_url().is_some());
            create = create.attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": 1}).to_string(),
            );
        }
        create.send().await.unwrap().queue_url.unwrap()
    })
}

fn send(emu: &Emu, url: &str, body: &str) {
    let sqs = aws_sdk_sqs::Client::new(&emu.conf);
    emu.rt
        .block_on(sqs.send_message().queue_url(url).message_body(body).send())
        .unwrap();
}

/// (visible, in flight) messages of a queue.
fn counts(emu: &Emu, url: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&emu.conf);
    let a = emu
        .rt
        .block_on(
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send(),
        )
        .unwrap();
    let a = a.attributes().unwrap();
    (
        a[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
        a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

#[test]
fn a_queue_of_eventbridge_and_sns_wrapped_events() {
    let dir = scratch("source-queue");
    let data = dir.join("data");
    create_ledger(&data);
    let emu = emulator(&dir);
    let url = queue(&emu, "trail-events", Some("trail-events-dlq"));
    let stop = records("aws.defense-evasion.cloudtrail-stop.json");
    let login = records("aws.initial-access.console-login-without-mfa.json");
    send(&emu, &url, &event_of(&stop[0]).to_string());
    let wrapped = json!({"Type": "Notification", "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": event_of(&login[0]).to_string()});
    send(&emu, &url, &wrapped.to_string());
    send(&emu, &url, "this is not an event");

    let (code, summary, stderr) = ingest(&emu, &data, &["--from-queue", &url]);
    assert_eq!(code, Some(1), "one message rejected: {stderr}");
    assert_eq!(
        (summary["appended"].as_u64(), summary["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{stderr}"
    );
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    assert!(
        summary["alerts"].as_u64().unwrap() >= 2,
        "StopLogging and a sign-in without MFA: {summary}"
    );
    let mut expected = vec![
        stop[0]["eventID"].as_str().unwrap().to_owned(),
        login[0]["eventID"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(stored_ids(&data), expected);
    // The two stored messages are deleted; the malformed one is left (in flight) for SQS to
    // move to the dead-letter queue.
    assert_eq!(counts(&emu, &url), ("0".into(), "1".into()));
    assert!(
        !data
            .join("processor/audit/rejected-messages.jsonl")
            .exists()
    );

    // A queue without a redrive policy: the rejected message is written down, then deleted.
    let bare = queue(&emu, "bare", None);
    send(&emu, &bare, "{\"not\": \"a record\"}");
    send(&emu, &bare, &event_of(&stop[0]).to_string());
    let (code, summary, _) = ingest(&emu, &data, &["--from-queue", &bare]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (
            summary["appended"].as_u64(),
            summary["duplicates"].as_u64(),
            summary["rejected"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(counts(&emu, &bare), ("0".into(), "0".into()));
    let file =
        std::fs::read_to_string(data.join("processor/audit/rejected-messages.jsonl")).unwrap();
    let line: Value = serde_json::from_str(file.lines().next().unwrap()).unwrap();
    assert_eq!(line["body"], "{\"not\": \"a record\"}");
    assert_eq!(line["queue"], bare.as_str());
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn put(emu: &Emu, bucket: &str, key: &str, body: Vec<u8>) {
    let s3 = aws_sdk_s3::Client::new(&emu.conf);
    emu.rt
        .block_on(
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into())
                .send(),
        )
        .unwrap();
}

#[test]
fn log_files_in_s3_from_a_checkpoint() {
    let dir = scratch("source-s3");
    let data = dir.join("data");
    create_ledger(&data);
    let emu = emulator(&dir);
    let s3 = aws_sdk_s3::Client::new(&emu.conf);
    emu.rt
        .block_on(s3.create_bucket().bucket("logs").send())
        .unwrap();
    let folder = "trails/AWSLogs/123456789012/CloudTrail";
    let log = |name: &str| gz(json!({"Records": records(name)}).to_string().as_bytes());
    put(
        &emu,
        "logs",
        &format!(
            "{folder}/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0100Z_a.json.gz"
        ),
        log("aws.defense-evasion.cloudtrail-stop.json"),
    );
    put(
        &emu,
        "logs",
        &format!(
            "{folder}/eu-west-1/2024/01/02/123456789012_CloudTrail_eu-west-1_20240102T0100Z_b.json.gz"
        ),
        log("aws.persistence.iam-create-admin-user.json"),
    );
    // A digest and an unrelated object are not log files.
    put(
        &emu,
        "logs",
        "trails/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz",
        gz(b"{}"),
    );
    put(&emu, "logs", "trails/readme.txt", b"hello".to_vec());

    let (code, first, stderr) = ingest(&emu, &data, &["--from-s3", "s3://logs/trails/"]);
    assert_eq!(code, Some(0), "{stderr}");
    let both = records("aws.defense-evasion.cloudtrail-stop.json").len()
        + records("aws.persistence.iam-create-admin-user.json").len();
    assert_eq!(
        (first["files"].as_u64(), first["appended"].as_u64()),
        (Some(2), Some(both as u64))
    );

    // Only what is new since the checkpoint is read: a later file in one region.
    put(
        &emu,
        "logs",
        &format!(
            "{folder}/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0105Z_c.json.gz"
        ),
        log("aws.initial-access.console-login-without-mfa.json"),
    );
    let (code, second, _) = ingest(&emu, &data, &["--from-s3", "s3://logs/trails/"]);
    assert_eq!(code, Some(0));
    let n = records("aws.initial-access.console-login-without-mfa.json").len() as u64;
    assert_eq!(
        (
            second["files"].as_u64(),
            second["records"].as_u64(),
            second["appended"].as_u64()
        ),
        (Some(1), Some(n), Some(n))
    );
    let (_, third, _) = ingest(&emu, &data, &["--from-s3", "s3://logs/trails/"]);
    assert_eq!(third["records"], 0);
    assert_eq!(stored_ids(&data).len() as u64, both as u64 + n);

    let (code, refused, _) = ingest(&emu, &data, &["--from-s3", "logs/trails"]);
    assert_eq!(code, Some(2));
    assert!(refused.to_string().contains("s3://"), "{refused}");
}

#[test]
fn lookup_events_from_a_start_time_then_the_checkpoint() {
    let dir = scratch("source-lookup");
    let data = dir.join("data");
    create_ledger(&data);
    let emu = emulator(&dir);
    let s3 = aws_sdk_s3::Client::new(&emu.conf);
    for b in ["one", "two"] {
        emu.rt
            .block_on(s3.create_bucket().bucket(b).send())
            .unwrap();
    }
    let (code, first, stderr) = ingest(
        &emu,
        &data,
        &[
            "--from-lookup-events",
            "--start-time",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let appended = first["appended"].as_u64().unwrap();
    assert!(appended >= 2, "both CreateBucket calls: {first}");
    let names = veritrail(&[
        "ledger",
        "query",
        "audit",
        "--data-dir",
        s(&data),
        "SELECT r.eventName FROM AuditRecords AS r WHERE r.eventName = 'CreateBucket'",
    ]);
    assert_eq!(text(&names.stdout).matches("CreateBucket").count(), 2);
    assert!(
        data.join("processor/audit/lookup-checkpoint.jsonl")
            .exists()
    );

    // Again from the checkpoint: the overlap is read again and stored once; the emulator has
    // recorded the first run's LookupEvents calls since, which are new.
    let (code, again, _) = ingest(&emu, &data, &["--from-lookup-events"]);
    assert_eq!(code, Some(0));
    assert!(again["duplicates"].as_u64().unwrap() >= appended, "{again}");
    let ids = stored_ids(&data);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}

/// POSTs `body` to `addr`; the status.
fn post(addr: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn eventbridge_events_over_http_are_answered_once_durable() {
    let dir = scratch("source-listen");
    let data = dir.join("data");
    create_ledger(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args([
            "ingest",
            "--ledger",
            "audit",
            "--data-dir",
            s(&data),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let stop = records("aws.defense-evasion.cloudtrail-stop.json");
    assert_eq!(post(&addr, &event_of(&stop[0]).to_string()), 200);
    // Stored already: a 200 means durable.
    assert_eq!(
        stored_ids(&data),
        vec![stop[0]["eventID"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        post(&addr, &event_of(&stop[0]).to_string()),
        200,
        "a repeat is stored once"
    );
    assert_eq!(post(&addr, "{\"detail-type\": 3"), 400);
    assert_eq!(post(&addr, "{\"source\": \"custom\", \"detail\": {}}"), 400);
    let big = format!("\"{}\"", "x".repeat(300 * 1024));
    assert_eq!(post(&addr, &big), 413);
    assert_eq!(stored_ids(&data).len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn alerts_to_an_sns_topic_or_its_dead_letter_file() {
    let dir = scratch("alert-topic");
    let data = dir.join("data");
    create_ledger(&data);
    let emu = emulator(&dir);
    let url = queue(&emu, "alerts-seen", None);
    let sns = aws_sdk_sns::Client::new(&emu.conf);
    let topic = emu
        .rt
        .block_on(sns.create_topic().name("alerts").send())
        .unwrap()
        .topic_arn
        .unwrap();
    emu.rt
        .block_on(
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("sqs")
                .endpoint("arn:aws:sqs:us-east-1:000000000000:alerts-seen")
                .attributes("RawMessageDelivery", "true")
                .send(),
        )
        .unwrap();
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(
        shared_cloudtrail("stratus-red-team/aws.defense-evasion.cloudtrail-stop.json"),
        input.join("stop.json"),
    )
    .unwrap();
    let (code, summary, stderr) = ingest(
        &emu,
        &data,
        &["--from-dir", s(&input), "--alert-topic", &topic],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let alerts = summary["alerts"].as_u64().unwrap();
    assert!(alerts >= 1);
    assert_eq!(summary["alertsSent"].as_u64(), Some(alerts));
    let sqs = aws_sdk_sqs::Client::new(&emu.conf);
    let got = emu
        .rt
        .block_on(
            sqs.receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send(),
        )
        .unwrap();
    let bodies: Vec<Value> = got
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len() as u64, alerts);
    assert!(
        bodies
            .iter()
            .all(|b| b["eventName"] == "StopLogging" && b["state"] == "OPEN")
    );

    // A topic that does not exist: retried, then the dead-letter file; nothing lost.
    let data2 = dir.join("data2");
    create_ledger(&data2);
    let missing = "arn:aws:sns:us-east-1:000000000000:no-such-topic";
    let (code, summary, stderr) = ingest(
        &emu,
        &data2,
        &["--from-dir", s(&input), "--alert-topic", missing],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary["alertsFailed"].as_u64(), Some(alerts));
    let dead = std::fs::read_to_string(data2.join("processor/audit/dead-letter.jsonl")).unwrap();
    assert_eq!(dead.lines().count() as u64, alerts);
    assert!(dead.contains("NotFound"), "{dead}");
}
