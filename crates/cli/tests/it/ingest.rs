//! `veritrail ingest` and `veritrail alerts`: exit codes, summaries, the review trail.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{s, scratch, text, veritrail};

fn stratus() -> PathBuf {
    crate::shared_cloudtrail("stratus-red-team")
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(text(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

fn create(data: &Path) {
    let out = veritrail(&["ledger", "create", "audit", "--data-dir", s(data)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn ingest(data: &Path, from: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "ingest",
        "--ledger",
        "audit",
        "--data-dir",
        s(data),
        "--from-dir",
        s(from),
    ];
    args.extend_from_slice(extra);
    veritrail(&args)
}

#[test]
fn ingest_twice_then_review_an_alert() {
    let dir = scratch("ingest-review");
    let data = dir.join("data");
    create(&data);

    let out = ingest(&data, &stratus(), &["--json", "--batch", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = json_of(&out);
    assert_eq!(first["records"], 310);
    assert_eq!(first["appended"], 310);
    assert_eq!(first["rejected"], 0);
    assert!(first["alerts"].as_u64().unwrap() > 0);
    assert!(
        text(&out.stderr).is_empty(),
        "no progress when stderr is not a terminal"
    );

    // Every file is in the checkpoint: nothing is read again.
    let out = ingest(&data, &stratus(), &["--json"]);
    let again = json_of(&out);
    assert_eq!(
        (again["records"].as_u64(), again["skippedFiles"].as_u64()),
        (Some(0), Some(35))
    );

    let out = veritrail(&[
        "alerts",
        "list",
        "--ledger",
        "audit",
        "--data-dir",
        s(&data),
        "--state",
        "open",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let alerts: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len() as u64, first["alerts"].as_u64().unwrap());
    let stopped = alerts
        .iter()
        .find(|a| a["ruleId"] == "trail-logging-stopped")
        .unwrap();
    let id = stopped["alertId"].as_str().unwrap();

    let review = |verb: &str, by: &str| {
        veritrail(&[
            "alerts",
            verb,
            id,
            "--ledger",
            "audit",
            "--data-dir",
            s(&data),
            "--by",
            by,
            "--note",
            "checked the trail",
        ])
    };
    assert_eq!(review("ack", "alice").status.code(), Some(0));
    assert_eq!(review("resolve", "bob").status.code(), Some(0));
    let out = review("resolve", "bob");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is RESOLVED"),
        "{}",
        text(&out.stderr)
    );
    let out = review("ack", "carol");
    assert_eq!(out.status.code(), Some(1));

    let out = veritrail(&[
        "alerts",
        "show",
        id,
        "--ledger",
        "audit",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(json_of(&out)["state"], "RESOLVED");
    let out = veritrail(&[
        "alerts",
        "show",
        "0000",
        "--ledger",
        "audit",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(out.status.code(), Some(2));

    // The review trail is in the ledger's history.
    let query = format!(
        "SELECT h.data.state AS state, h.data.review.by AS who FROM history(Alerts) AS h WHERE h.data.alertId = '{id}'"
    );
    let out = veritrail(&["ledger", "query", "audit", "--data-dir", s(&data), &query]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let history = text(&out.stdout);
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(
        history.contains("ACKNOWLEDGED") && history.contains("alice"),
        "{history}"
    );
    assert!(
        history.contains("RESOLVED") && history.contains("bob"),
        "{history}"
    );

    let out = veritrail(&["ledger", "verify", "audit", "--data-dir", s(&data)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn rejected_events_exit_1_and_are_named() {
    let dir = scratch("ingest-rejected");
    let data = dir.join("data");
    create(&data);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let records: Value = serde_json::from_slice(
        &std::fs::read(
            stratus().join("aws.credential-access.secretsmanager-retrieve-secrets.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let lines = [
        records[0].to_string(),
        "not json at all".to_owned(),
        records[1].to_string(),
    ];
    std::fs::write(input.join("events.jsonl"), lines.join("\n")).unwrap();

    let out = ingest(&data, &input, &["--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let summary = json_of(&out);
    assert_eq!(
        (summary["appended"].as_u64(), summary["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("events.jsonl line 2") && err.contains("not valid JSON"),
        "{err}"
    );
}

#[test]
fn unusable_input_exits_2() {
    let dir = scratch("ingest-bad");
    let data = dir.join("data");
    let out = ingest(&data, &stratus(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("veritrail ledger create audit"),
        "{}",
        text(&out.stderr)
    );

    create(&data);
    let out = ingest(&data, &dir.join("no-such-dir"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let pack = dir.join("pack.json");
    std::fs::write(
        &pack,
        r#"{"id":"p","title":"t","rules":[{"id":"r","pattern":{"detail":{"x":[{"nope":1}]}}}]}"#,
    )
    .unwrap();
    let out = ingest(&data, &stratus(), &["--pack", s(&pack)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pack.json"),
        "{}",
        text(&out.stderr)
    );

    let out = ingest(
        &data,
        &stratus(),
        &["--alert-webhook", "https://example.invalid/"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("http://"),
        "{}",
        text(&out.stderr)
    );
}

/// GET /metrics; the value of one sample.
fn metric(addr: &str, name: &str) -> Option<u64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

/// Polls until `f` holds (the follower works at its own pace on a shared machine).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn follow_serves_metrics_and_picks_up_new_files() {
    use std::io::BufRead as _;
    let dir = scratch("ingest-follow");
    let data = dir.join("data");
    create(&data);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let stop = "aws.defense-evasion.cloudtrail-stop.json";
    let secrets = "aws.credential-access.secretsmanager-retrieve-secrets.json";
    std::fs::copy(stratus().join(secrets), input.join(secrets)).unwrap();
    let signed = veritrail(&["ledger", "checkpoint", "audit", "--data-dir", s(&data)]);
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args([
            "ingest",
            "--ledger",
            "audit",
            "--data-dir",
            s(&data),
            "--from-dir",
            s(&input),
            "--follow",
            "--poll-seconds",
            "1",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("metrics on http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let appended = "veritrail_processor_records_appended_total";
    wait_for("the first file", || metric(&addr, appended) == Some(21));
    // Signed just now, by the same system clock.
    let age = metric(&addr, "veritrail_processor_checkpoint_age_seconds").unwrap();
    assert!(age < 3600, "{age}");

    std::fs::copy(stratus().join(stop), input.join(stop)).unwrap();
    wait_for("the new file", || metric(&addr, appended) == Some(22));
    wait_for("its alerts", || {
        metric(&addr, "veritrail_processor_alerts_recorded_total").is_some_and(|n| n >= 1)
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // Killed at an arbitrary moment: a rerun finds everything done and stores nothing twice.
    let out = ingest(&data, &input, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rerun = json_of(&out);
    assert_eq!(rerun["appended"], 0);
    let out = veritrail(&[
        "ledger",
        "query",
        "audit",
        "--data-dir",
        s(&data),
        "SELECT COUNT(*) AS n FROM AuditRecords",
    ]);
    assert_eq!(text(&out.stdout).trim(), "{n: 22}");
}

#[test]
fn logs_are_json_lines_when_asked() {
    let dir = scratch("ingest-logs");
    let data = dir.join("data");
    create(&data);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let records: Value = serde_json::from_slice(
        &std::fs::read(stratus().join("aws.defense-evasion.cloudtrail-stop.json")).unwrap(),
    )
    .unwrap();
    let lines = [records[0].to_string(), "{\"Records\": 7".to_owned()];
    std::fs::write(input.join("events.jsonl"), lines.join("\n")).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(["ingest", "--ledger", "audit", "--data-dir", s(&data)])
        .args(["--from-dir", s(&input), "--quiet", "--json"])
        .env("VERITRAIL_LOG", "info")
        .env("VERITRAIL_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let logs: Vec<Value> = text(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let find = |message: &str| {
        logs.iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {logs:?}"))
    };
    let rejected = find("event rejected");
    assert_eq!(rejected["level"], "WARN");
    assert!(
        rejected["at"]
            .as_str()
            .unwrap()
            .ends_with("events.jsonl line 2")
    );
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let matched = find("rule matched");
    assert_eq!(matched["level"], "INFO");
    assert!(
        matched["rule"].as_str().is_some_and(|r| !r.is_empty()),
        "{matched}"
    );
    let batch = find("batch durable and acknowledged");
    assert_eq!(
        (batch["appended"].as_u64(), batch["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(batch["alerts"].as_u64().unwrap() >= 1, "{batch}");
    assert!(
        batch["timestamp"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 in UTC: {batch}"
    );

    // A level the logger does not know is a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(["rules", "list"])
        .env("VERITRAIL_LOG", "loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("VERITRAIL_LOG=loud"),
        "{}",
        text(&out.stderr)
    );
}
