//! Crash safety: a writer (`veritrail ledger append`) is killed with SIGKILL at random points,
//! many times over the same ledger. After each kill the ledger opens, `ledger verify` passes,
//! and every transaction acknowledged before the kill is in the journal exactly once. Each run
//! appends fresh records and again the previous run's, as an operator re-running a killed
//! append would: in the end every record is stored exactly once.
//! The emulator is killed too: it loses no acknowledged S3 write, SQS message, SNS publication,
//! IAM role or KMS key (whose ciphertexts still decrypt)
//! (delivered to its queue), and its clock never goes back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use veritrail_ledger::LedgerOptions;

use crate::{
    Collecting, S3_AUTH, http, s, s3, scratch, serve, text, transactions_in, unique_records,
    veritrail,
};

const LOGS: &[&str] = &[
    "218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json",
    "218007301253_CloudTrail_us-east-1_20230710T1230Z_AvIajGd5rkz6vTy4.json",
    "218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
    "218007301253_CloudTrail_us-east-1_20230710T1215Z_nBsuPO1qSTEVerMD.json",
    "218007301253_CloudTrail_us-east-1_20230710T1230Z_9JM8uKEITHqwJKXr.json",
    "218007301253_CloudTrail_us-east-1_20230710T1215Z_MifI13MOmOjRfXzJ.json",
    "218007301253_CloudTrail_us-east-1_20230710T1215Z_P0WZuP2zvLW2RcUo.json",
    "218007301253_CloudTrail_us-east-1_20230710T1210Z_RBxlxVrF890sGHGg.json",
];

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Transaction id -> how many blocks carry it.
fn transactions(dir: &std::path::Path) -> HashMap<String, usize> {
    transactions_in(&dir.join("crash.ledger"), LedgerOptions::default())
}

/// The records of the test's log files with eventIDs unique to `run`, as JSON Lines.
fn run_file(dir: &std::path::Path, run: usize) -> String {
    unique_records(
        &dir.join(format!("run-{run}.jsonl")),
        LOGS,
        1,
        &format!("run{run}"),
    )
}

/// The eventIDs stored in table AuditRecords, with how often each is there.
fn stored_event_ids(d: &str) -> HashMap<String, usize> {
    let out = veritrail(&[
        "ledger",
        "query",
        "crash",
        "--data-dir",
        d,
        "--json",
        "SELECT VALUE r.eventID FROM AuditRecords AS r",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut ids = HashMap::new();
    for line in text(&out.stdout).lines() {
        let id: String = serde_json::from_str(line).unwrap();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_transaction() {
    let dir = scratch("crash");
    let d = s(&dir).to_owned();
    assert_eq!(
        veritrail(&["ledger", "create", "crash", "--data-dir", &d])
            .status
            .code(),
        Some(0)
    );
    let mut state = 0x5DEE_CE66_D1CE_4E5Bu64;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut kills_mid_run = 0;
    let runs = 12;
    let files: Vec<String> = (0..runs).map(|run| run_file(&dir, run)).collect();
    for run in 0..runs {
        let mut args = vec![
            "ledger".to_owned(),
            "append".into(),
            "crash".into(),
            "--data-dir".into(),
            d.clone(),
            "--batch".into(),
            "3".into(),
        ];
        for f in &files[run.saturating_sub(1)..=run] {
            args.push("--file".into());
            args.push(f.clone());
        }
        let writer = Collecting::spawn(&args);
        // Wait (at most 30 s) for the writer to start committing, then kill it at a random
        // moment.
        writer.wait_for_lines(1);
        std::thread::sleep(Duration::from_millis(next(&mut state) % 120));
        let (killed, lines) = writer.kill(); // SIGKILL on Unix
        if killed {
            kills_mid_run += 1;
        }
        for line in &lines {
            if let Some(rest) = line.strip_prefix("committed block ") {
                let tx = rest
                    .split(" tx ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                acknowledged.push(tx.to_owned());
            }
        }

        let out = veritrail(&["ledger", "verify", "crash", "--data-dir", &d]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {run}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let present = transactions(&dir);
        for tx in &acknowledged {
            assert_eq!(
                present.get(tx),
                Some(&1),
                "run {run}: acknowledged transaction {tx} is not present exactly once"
            );
        }
    }
    assert!(
        kills_mid_run >= 6,
        "only {kills_mid_run} of {runs} writers were killed while running"
    );
    assert!(acknowledged.len() > 12);
    // Appending everything once more, uninterrupted, completes what the kills cut short and
    // stores nothing twice.
    let mut args = vec!["ledger", "append", "crash", "--data-dir", &d, "--quiet"];
    for f in &files {
        args.extend(["--file", f]);
    }
    let out = veritrail(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stored = stored_event_ids(&d);
    let expected = runs * text(&std::fs::read(&files[0]).unwrap()).lines().count();
    assert_eq!(stored.len(), expected);
    assert!(
        stored.values().all(|n| *n == 1),
        "records stored twice: {:?}",
        stored
            .iter()
            .filter(|(_, n)| **n > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
}

#[test]
fn sigkill_of_the_emulator_loses_no_acknowledged_s3_write() {
    let dir = scratch("crash-s3");
    let d = s(&dir).to_owned();
    let mut rng = 0x5eed_u64 ^ u64::from(std::process::id());
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..6 {
        let (mut child, addr) = serve(&d, &[]);
        if round == 0 {
            assert_eq!(
                s3(&addr, "PUT", "/crash-bucket", "").map(|r| r.0),
                Some(200)
            );
            let versioning =
                "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
            assert_eq!(
                s3(&addr, "PUT", "/crash-bucket?versioning", versioning).map(|r| r.0),
                Some(200)
            );
        }
        let done = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (addr, done) = (addr.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = format!("r{round}-{i}");
                    match s3(&addr, "PUT", &format!("/crash-bucket/{key}"), &key) {
                        Some((200, _)) => done.lock().unwrap().push(key),
                        _ => break,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        writer.join().unwrap();
        acknowledged.extend(done.lock().unwrap().iter().cloned());

        // After the kill, every acknowledged object is there with its bytes.
        let (mut child, addr) = serve(&d, &[]);
        for key in &acknowledged {
            let got = s3(&addr, "GET", &format!("/crash-bucket/{key}"), "");
            assert_eq!(got, Some((200, key.clone())), "round {round}: {key} lost");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(acknowledged.len() > 50, "{} writes", acknowledged.len());
}

/// The emulator's clock reading, in milliseconds.
fn clock(addr: &str) -> i64 {
    let a = http(addr, "GET", "/_veritrail/clock", &[], "").unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["epochMillis"]
        .as_i64()
        .unwrap()
}

#[test]
fn sigkill_of_the_emulator_never_turns_its_clock_back() {
    let dir = scratch("crash-clock");
    let d = s(&dir).to_owned();
    let (mut child, addr) = serve(&d, &["--allow-clock-control"]);
    let lock = [S3_AUTH, ("x-amz-bucket-object-lock-enabled", "true")];
    assert_eq!(http(&addr, "PUT", "/vault", &lock, "").unwrap().status, 200);
    let body = "evidence";
    let md5 = veritrail_emulator::services::s3::content_md5(body.as_bytes());
    let put = http(
        &addr,
        "PUT",
        "/vault/log",
        &[
            S3_AUTH,
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            (
                "x-amz-object-lock-retain-until-date",
                "2200-01-01T00:00:00Z",
            ),
            ("Content-MD5", &md5),
        ],
        body,
    )
    .unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    let version = put.header("x-amz-version-id").unwrap().to_owned();
    // Two years on, then killed at once.
    for _ in 0..2 {
        let a = http(
            &addr,
            "POST",
            "/_veritrail/clock",
            &[],
            r#"{"advanceSeconds": 31622400}"#,
        )
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let moved = clock(&addr);
    child.kill().unwrap();
    child.wait().unwrap();

    // Restarted without clock control: the clock is where it was (or later), the endpoint
    // cannot move it, and the version is locked with its body.
    let (mut child, addr) = serve(&d, &[]);
    assert!(clock(&addr) >= moved, "the clock went back");
    let refused = http(
        &addr,
        "POST",
        "/_veritrail/clock",
        &[],
        r#"{"advanceSeconds": 1}"#,
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    let delete = http(
        &addr,
        "DELETE",
        &format!("/vault/log?versionId={version}"),
        &[S3_AUTH, ("x-amz-bypass-governance-retention", "true")],
        "",
    )
    .unwrap();
    assert_eq!(delete.status, 403, "{}", delete.body);
    assert_eq!(
        s3(&addr, "GET", &format!("/vault/log?versionId={version}"), ""),
        Some((200, body.to_owned()))
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// One SQS call (JSON protocol) to the emulator at `addr`: (status, body), or `None` if the
/// connection broke.
fn sqs(addr: &str, op: &str, body: &serde_json::Value) -> Option<(u16, serde_json::Value)> {
    json_call(addr, "sqs", &format!("AmazonSQS.{op}"), "1.0", body)
}

/// One awsJson call (`version` 1.0 or 1.1) signed for `service`: (status, body), or `None` if
/// the connection broke.
fn json_call(
    addr: &str,
    service: &str,
    target: &str,
    version: &str,
    body: &serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIACRASH/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    );
    let content = format!("application/x-amz-json-{version}");
    let a = http(
        addr,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", &content),
            ("Authorization", &auth),
        ],
        &body.to_string(),
    )?;
    Some((a.status, serde_json::from_str(&a.body).ok()?))
}

/// One SNS call (query protocol): the status, or `None` if the connection broke.
fn sns(addr: &str, form: &str) -> Option<(u16, String)> {
    form_call(addr, "sns", form)
}

/// One query-protocol call signed for `service`: (status, XML), or `None` if the connection
/// broke.
fn form_call(addr: &str, service: &str, form: &str) -> Option<(u16, String)> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIACRASH/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    );
    let content = "application/x-www-form-urlencoded";
    http(
        addr,
        "POST",
        "/",
        &[("Content-Type", content), ("Authorization", &auth)],
        form,
    )
    .map(|a| (a.status, a.body))
}

/// Every message body now visible on `queue`, received (and left in flight for 12 hours).
fn drain(addr: &str, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let body = serde_json::json!({"QueueUrl": queue, "MaxNumberOfMessages": 10, "VisibilityTimeout": 43200});
        let (status, got) = sqs(addr, "ReceiveMessage", &body).unwrap();
        assert_eq!(status, 200, "{got}");
        let Some(messages) = got["Messages"].as_array().filter(|m| !m.is_empty()) else {
            return bodies;
        };
        bodies.extend(
            messages
                .iter()
                .map(|m| m["Body"].as_str().unwrap().to_owned()),
        );
    }
}

#[test]
fn sigkill_of_the_emulator_loses_no_acknowledged_message() {
    let dir = scratch("crash-sqs");
    let d = s(&dir).to_owned();
    let mut rng = 0x51a5_u64 ^ u64::from(std::process::id());
    let queue = "http://h/000000000000/acked";
    let via_sns = "http://h/000000000000/via-sns";
    let topic = "arn:aws:sns:us-east-1:000000000000:acked";
    let mut total = 0usize;
    for round in 0..4 {
        let (mut child, addr) = serve(&d, &[]);
        if round == 0 {
            for name in ["acked", "via-sns"] {
                let r = sqs(
                    &addr,
                    "CreateQueue",
                    &serde_json::json!({"QueueName": name}),
                )
                .unwrap();
                assert_eq!(r.0, 200, "{}", r.1);
            }
            assert_eq!(sns(&addr, "Action=CreateTopic&Name=acked").unwrap().0, 200);
            let subscribe = format!(
                "Action=Subscribe&TopicArn={topic}&Protocol=sqs&Endpoint=arn:aws:sqs:us-east-1:000000000000:via-sns&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true"
            );
            assert_eq!(sns(&addr, &subscribe).unwrap().0, 200);
        }
        let done = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (addr, done) = (addr.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = format!("r{round}-{i}");
                    let acked = if i % 2 == 0 {
                        let body = serde_json::json!({"QueueUrl": queue, "MessageBody": key});
                        sqs(&addr, "SendMessage", &body).is_some_and(|r| r.0 == 200)
                    } else {
                        let form = format!("Action=Publish&TopicArn={topic}&Message={key}");
                        sns(&addr, &form).is_some_and(|r| r.0 == 200)
                    };
                    if !acked {
                        break;
                    }
                    done.lock().unwrap().push(key);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        writer.join().unwrap();
        let acknowledged = done.lock().unwrap().clone();
        total += acknowledged.len();

        // After the kill, every acknowledged message is on its queue.
        let (mut child, addr) = serve(&d, &[]);
        let mut received = drain(&addr, queue);
        received.extend(drain(&addr, via_sns));
        for key in &acknowledged {
            assert!(received.contains(key), "round {round}: {key} lost");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(total > 50, "{total} messages");
}

/// One KMS call: (status, body), or `None` if the connection broke.
fn kms(addr: &str, op: &str, body: &serde_json::Value) -> Option<(u16, serde_json::Value)> {
    json_call(addr, "kms", &format!("TrentService.{op}"), "1.1", body)
}

/// One IAM call (query protocol): (status, XML), or `None` if the connection broke.
fn iam(addr: &str, form: &str) -> Option<(u16, String)> {
    form_call(addr, "iam", form)
}

#[test]
fn sigkill_of_the_emulator_loses_no_acknowledged_role_or_key() {
    use base64::Engine as _;
    let dir = scratch("crash-iam-kms");
    let d = s(&dir).to_owned();
    let mut rng = 0x6b6d_u64 ^ u64::from(std::process::id());
    let trust = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
    // (role name) and (key id, ciphertext of the key id under it), acknowledged.
    let mut roles: Vec<String> = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    for round in 0..4 {
        let (mut child, addr) = serve(&d, &[]);
        let done = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let writer = {
            let (addr, done) = (addr.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                for i in 0.. {
                    let name = format!("r{round}-{i}");
                    let form = format!(
                        "Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={trust}"
                    );
                    if iam(&addr, &form).is_none_or(|r| r.0 != 200) {
                        break;
                    }
                    done.lock().unwrap().0.push(name.clone());
                    let Some((200, key)) = kms(&addr, "CreateKey", &serde_json::json!({})) else {
                        break;
                    };
                    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
                    let plain = base64::engine::general_purpose::STANDARD.encode(&id);
                    let body = serde_json::json!({"KeyId": id, "Plaintext": plain});
                    let Some((200, sealed)) = kms(&addr, "Encrypt", &body) else {
                        break;
                    };
                    let blob = sealed["CiphertextBlob"].as_str().unwrap().to_owned();
                    done.lock().unwrap().1.push((id, blob));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        writer.join().unwrap();
        roles.extend(done.lock().unwrap().0.iter().cloned());
        keys.extend(done.lock().unwrap().1.iter().cloned());

        // After the kill, every acknowledged role is there, and every key decrypts its blob.
        let (mut child, addr) = serve(&d, &[]);
        for name in &roles {
            let got = iam(&addr, &format!("Action=GetRole&RoleName={name}")).unwrap();
            assert_eq!(got.0, 200, "round {round}: role {name} lost: {}", got.1);
        }
        for (id, blob) in &keys {
            let got = kms(
                &addr,
                "Decrypt",
                &serde_json::json!({"CiphertextBlob": blob}),
            )
            .unwrap();
            assert_eq!(got.0, 200, "round {round}: key {id} lost: {}", got.1);
            let plain = base64::engine::general_purpose::STANDARD
                .decode(got.1["Plaintext"].as_str().unwrap())
                .unwrap();
            assert_eq!(plain, id.as_bytes());
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(
        roles.len() > 20 && keys.len() > 20,
        "{} roles, {} keys",
        roles.len(),
        keys.len()
    );
}
