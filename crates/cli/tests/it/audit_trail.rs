//! `veritrail serve` on its defaults as an audit trail (issue 13 item 6): API activity through
//! the AWS SDK for Rust (StopLogging, a bucket policy deletion, a failed console sign-in put on
//! the bus) ends as ledger records whose proofs verify; each alert fires once and is published
//! once; an alert acknowledged through the CLI shows in `history(Alerts)`; killing the serve
//! process at random points loses and duplicates nothing.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use veritrail_processor::alerts::alert_id;
use veritrail_processor::aws::Aws;

use crate::{Started, s, scratch, veritrail_ok};

const BUCKET: &str = "veritrail-trail-000000000000";

/// `veritrail serve` with its defaults over `data`: the child, its URL and an SDK for it.
fn serve_defaults(data: &Path) -> (Started, String, Aws) {
    let (child, mut out, addr) = crate::serve_with(&[], s(data));
    let mut set_up = String::new();
    out.read_line(&mut set_up).unwrap();
    assert!(set_up.starts_with("audit trail: ledger audit"), "{set_up}");
    let url = format!("http://{addr}");
    let aws = Aws::local(&url, "us-east-1").unwrap();
    (child, url, aws)
}

fn stop(mut child: Started) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A failed console sign-in as CloudTrail records it, on the bus through PutEvents (a
/// customer may not use an `aws.*` source; the packs match on detail-type and detail).
fn failed_login(aws: &Aws, event_id: &str) {
    let record = json!({
        "eventVersion": "1.08", "eventID": event_id, "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "eventType": "AwsConsoleSignIn", "awsRegion": "us-east-1",
        "recipientAccountId": "000000000000", "sourceIPAddress": "203.0.113.7",
        "userIdentity": {"type": "IAMUser", "userName": "mallory", "accountId": "000000000000"},
        "errorMessage": "Failed authentication",
        "responseElements": {"ConsoleLogin": "Failure"},
        "additionalEventData": {"MFAUsed": "No"}
    });
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("veritrail.scenario")
        .detail_type("AWS Console Sign In via CloudTrail")
        .detail(record.to_string())
        .build();
    let events = aws_sdk_eventbridge::Client::new(aws.config());
    let put = aws
        .block_on(events.put_events().entries(entry).send())
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
}

fn query(data: &Path, statement: &str) -> String {
    veritrail_ok(&[
        "ledger",
        "query",
        "audit",
        "--data-dir",
        s(&data.join("ledgers")),
        statement,
    ])
}

/// Alerts in the ledger: alertId → (ruleId, eventName).
fn alerts(data: &Path) -> BTreeMap<String, (String, String)> {
    veritrail_ok(&[
        "alerts",
        "list",
        "--ledger",
        "audit",
        "--data-dir",
        s(&data.join("ledgers")),
        "--json",
    ])
    .lines()
    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    .flat_map(|v| match v {
        Value::Array(a) => a,
        Value::Object(ref o) if o.contains_key("alerts") => {
            o["alerts"].as_array().cloned().unwrap_or_default()
        }
        other => vec![other],
    })
    .filter_map(|a| {
        Some((
            a["alertId"].as_str()?.to_owned(),
            (
                a["ruleId"].as_str()?.to_owned(),
                a["eventName"].as_str().unwrap_or("").to_owned(),
            ),
        ))
    })
    .collect()
}

/// Waits (polling, up to a minute) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// The messages waiting on a queue (up to ten), deleted once read, as JSON.
fn take_messages(aws: &Aws, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(aws.config());
    let got = aws
        .block_on(
            sqs.receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send(),
        )
        .unwrap();
    let mut bodies = Vec::new();
    for m in got.messages() {
        bodies.push(serde_json::from_str(m.body().unwrap()).unwrap());
        aws.block_on(
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send(),
        )
        .unwrap();
    }
    bodies
}

/// Alert ids in the delivery log.
fn delivered(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("processor/audit/delivered.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["alertId"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn activity_becomes_verified_records_and_alerts_reviewed_in_the_ledger() {
    let dir = scratch("audit-trail");
    let data = dir.join("data");
    let (child, _url, aws) = serve_defaults(&data);
    // See what the alerts topic publishes.
    let sqs = aws_sdk_sqs::Client::new(aws.config());
    let sns = aws_sdk_sns::Client::new(aws.config());
    let seen = aws
        .block_on(sqs.create_queue().queue_name("alerts-seen").send())
        .unwrap()
        .queue_url
        .unwrap();
    aws.block_on(
        sns.subscribe()
            .topic_arn("arn:aws:sns:us-east-1:000000000000:veritrail-alerts")
            .protocol("sqs")
            .endpoint("arn:aws:sqs:us-east-1:000000000000:alerts-seen")
            .attributes("RawMessageDelivery", "true")
            .send(),
    )
    .unwrap();

    let ct = aws_sdk_cloudtrail::Client::new(aws.config());
    aws.block_on(ct.stop_logging().name("veritrail").send())
        .unwrap();
    aws.block_on(ct.start_logging().name("veritrail").send())
        .unwrap();
    let s3 = aws_sdk_s3::Client::new(aws.config());
    aws.block_on(s3.delete_bucket_policy().bucket(BUCKET).send())
        .unwrap();
    failed_login(&aws, "scenario-failed-login-1");

    // Every alert published once: the topic's messages, collected until the ledger's alerts
    // for these four events are all in the delivery log.
    let mut published: Vec<Value> = Vec::new();
    let wanted = [
        "StopLogging",
        "StartLogging",
        "DeleteBucketPolicy",
        "ConsoleLogin",
    ];
    wait_for("the alerts of the four events", || {
        published.extend(take_messages(&aws, &seen));
        wanted
            .iter()
            .all(|w| published.iter().any(|a| a["eventName"] == *w))
    });
    // Anything published twice would be there by now.
    std::thread::sleep(Duration::from_secs(2));
    published.extend(take_messages(&aws, &seen));
    let rules: Vec<(&str, &str)> = published
        .iter()
        .map(|a| {
            (
                a["ruleId"].as_str().unwrap(),
                a["eventName"].as_str().unwrap(),
            )
        })
        .collect();
    for pair in [
        ("trail-logging-stopped", "StopLogging"),
        ("console-login-failed", "ConsoleLogin"),
        ("cis-4.6-console-authentication-failures", "ConsoleLogin"),
    ] {
        assert!(rules.contains(&pair), "{pair:?} not in {rules:?}");
    }
    assert!(
        rules.iter().any(|r| r.1 == "DeleteBucketPolicy"),
        "{rules:?}"
    );
    let mut ids: Vec<&str> = published
        .iter()
        .map(|a| a["alertId"].as_str().unwrap())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "an alert published twice: {rules:?}");
    stop(child);

    // The ledger has each of them once, with the records they concern.
    let ledger_alerts = alerts(&data);
    for id in &ids {
        assert!(ledger_alerts.contains_key(*id), "{id} not in Alerts");
    }
    let stop_id = query(
        &data,
        "SELECT r.eventID FROM AuditRecords AS r WHERE r.eventName = 'StopLogging'",
    );
    assert_eq!(stop_id.matches("eventID").count(), 1, "{stop_id}");

    // The StopLogging record's proof verifies against the ledger's digest.
    let meta = query(
        &data,
        "SELECT r.metadata.id, r.blockAddress.sequenceNo FROM _ql_committed_AuditRecords AS r WHERE r.data.eventName = 'StopLogging'",
    );
    let meta = meta.replace(' ', "");
    let doc = meta
        .split("id:\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("{meta}"));
    let seq = meta
        .split("sequenceNo:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_else(|| panic!("{meta}"));
    let ledgers = data.join("ledgers");
    let out = veritrail_ok(&["ledger", "digest", "audit", "--data-dir", s(&ledgers)]);
    std::fs::write(dir.join("digest.json"), &out).unwrap();
    let out = veritrail_ok(&[
        "ledger",
        "revision",
        "audit",
        "--data-dir",
        s(&ledgers),
        "--seq",
        seq,
        "--document-id",
        doc,
    ]);
    std::fs::write(dir.join("revision.json"), &out).unwrap();
    veritrail_ok(&[
        "verify",
        "revision",
        "--digest",
        s(&dir.join("digest.json")),
        "--revision",
        s(&dir.join("revision.json")),
    ]);
    // The whole journal recomputes, and the checkpoint serve signed matches.
    let out = veritrail_ok(&[
        "ledger",
        "verify",
        "audit",
        "--data-dir",
        s(&ledgers),
        "--key-dir",
        s(&data.join("keys")),
    ]);
    assert!(out.contains("signed checkpoint"), "{out}");

    // A reviewer acknowledges the StopLogging alert; the review is a revision.
    let stop_alert = published
        .iter()
        .find(|a| a["eventName"] == "StopLogging")
        .and_then(|a| a["alertId"].as_str())
        .unwrap();
    veritrail_ok(&[
        "alerts",
        "ack",
        stop_alert,
        "--ledger",
        "audit",
        "--data-dir",
        s(&ledgers),
        "--by",
        "alice",
        "--note",
        "trail restarted at once",
    ]);
    let history = query(
        &data,
        &format!(
            "SELECT h.data.state, h.data.review FROM history(Alerts) AS h WHERE h.data.alertId = '{stop_alert}'"
        ),
    );
    assert!(
        history.contains("OPEN") && history.contains("ACKNOWLEDGED"),
        "{history}"
    );
    assert!(history.contains("alice"), "{history}");

    // A restart puts back the bucket policy that was deleted (a change, alerted on) and
    // changes nothing else; a second restart changes nothing and raises nothing.
    let before = alerts(&data);
    let sent_before = delivered(&data).len();
    let (child, _, aws) = serve_defaults(&data);
    let qldb = aws_sdk_qldb::Client::new(aws.config());
    let digest = aws
        .block_on(qldb.get_digest().name("audit").send())
        .unwrap();
    assert!(
        digest.digest_tip_address().is_some(),
        "aws qldb get-digest --name audit"
    );
    wait_for("the restored policy's alerts", || {
        delivered(&data).len() > sent_before
    });
    stop(child);
    let after = alerts(&data);
    let new: Vec<&str> = after
        .iter()
        .filter(|(id, _)| !before.contains_key(*id))
        .map(|(_, (_, event))| event.as_str())
        .collect();
    assert!(
        !new.is_empty() && new.iter().all(|e| *e == "PutBucketPolicy"),
        "{new:?}"
    );
    let (child, _, _) = serve_defaults(&data);
    std::thread::sleep(Duration::from_secs(3));
    stop(child);
    assert_eq!(alerts(&data), after);
}

#[test]
fn killing_serve_at_random_points_loses_and_duplicates_nothing() {
    let dir = scratch("audit-trail-kill");
    let data = dir.join("data");
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut sent = Vec::new();
    for round in 0..4 {
        let (mut child, _, aws) = serve_defaults(&data);
        for i in 0..5 {
            let id = format!("kill-{round}-{i}");
            failed_login(&aws, &id);
            sent.push(id);
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..1500)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // A last run drains the queue; every alert of every event is delivered.
    let expected: Vec<String> = sent
        .iter()
        .flat_map(|id| {
            [
                alert_id("audit-trail-protection", "console-login-failed", id),
                alert_id(
                    "cis-aws-foundations",
                    "cis-4.6-console-authentication-failures",
                    id,
                ),
            ]
        })
        .collect();
    let (child, _, _aws) = serve_defaults(&data);
    wait_for("every alert delivered", || {
        let done = delivered(&data);
        expected.iter().all(|id| done.contains(id))
    });
    stop(child);
    let records = query(
        &data,
        "SELECT r.eventID FROM AuditRecords AS r WHERE r.eventName = 'ConsoleLogin'",
    );
    for id in &sent {
        assert_eq!(
            records.matches(&format!("\"{id}\"")).count(),
            1,
            "{id}: {records}"
        );
    }
    // Two rules fire on each failed sign-in: two alerts per event, each recorded once.
    let per_event = alerts(&data)
        .values()
        .filter(|(_, e)| e == "ConsoleLogin")
        .count();
    assert_eq!(per_event, sent.len() * 2);
}
