//! Issue 14 item 6, first half: `veritrail serve` on its defaults passes `veritrail check`;
//! then one thing at a time is broken (log file validation off, GOVERNANCE retention shorter
//! than the policy's, a pack rule deleted, a delivered log file tampered with, the checkpoint
//! left to age on the emulator's clock) and exactly the checks that guard it fail, with the
//! framework report saying so.

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use veritrail_processor::aws::Aws;

use crate::{Started, http, s, scratch, text};

const BUCKET: &str = "veritrail-trail-000000000000";
const TRAIL: &str = "veritrail";

/// `veritrail serve ARGS` over `data` (the defaults unless ARGS say otherwise), clock control on.
pub fn start(data: &Path, extra: &[&str]) -> (Started, String, String, Aws) {
    let args = [&["--allow-clock-control"][..], extra].concat();
    let (child, mut out, addr) = crate::serve_with(&args, s(data));
    if extra.is_empty() {
        let mut set_up = String::new();
        out.read_line(&mut set_up).unwrap();
        assert!(set_up.starts_with("audit trail: ledger audit"), "{set_up}");
    }
    let url = format!("http://{addr}");
    let aws = Aws::local(&url, "us-east-1").unwrap();
    (child, addr, url, aws)
}

pub fn stop(mut child: Started) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

pub fn clock(addr: &str) -> String {
    let a = http(addr, "GET", "/_veritrail/clock", &[], "").unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str::<Value>(&a.body).unwrap()["now"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn advance(addr: &str, seconds: u64) {
    let a = http(
        addr,
        "POST",
        "/_veritrail/clock",
        &[],
        &format!(r#"{{"advanceSeconds": {seconds}}}"#),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
}

/// `veritrail ARGS` against the emulator at `url`: (exit code, stdout, stderr).
pub fn run(url: &str, home: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veritrail"));
    cmd.args(args);
    crate::aws_env::aws_env(&mut cmd, url, home);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The scenario's policy: the default retention and checkpoint age, and a week for
/// validate-logs and deliveries, so a break stays in view when the clock moves two days.
fn policy(home: &Path) -> String {
    let p = home.join("policy.json");
    std::fs::write(&p, r#"{"validateHours": 168, "deliveryMaxAgeHours": 168}"#).unwrap();
    s(&p).to_owned()
}

/// Runs `veritrail check --json` as of the emulator's clock: the run and the ids of the checks
/// that did not pass.
fn check(url: &str, addr: &str, data: &Path, home: &Path) -> (Value, BTreeSet<String>) {
    let at = clock(addr);
    let ledgers = data.join("ledgers");
    let keys = data.join("keys");
    let policy = policy(home);
    let (code, out, err) = run(
        url,
        home,
        &[
            "check",
            "--json",
            "--ledger",
            "audit",
            "--data-dir",
            s(&ledgers),
            "--key-dir",
            s(&keys),
            "--policy",
            &policy,
            "--at",
            &at,
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let failing: BTreeSet<String> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "PASS")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(code, i32::from(!failing.is_empty()), "{out}{err}");
    (v, failing)
}

fn expect(run: &(Value, BTreeSet<String>), ids: &[&str]) {
    let want: BTreeSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let not_passing: Vec<(&Value, &Value)> = run.0["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "PASS")
        .map(|c| (&c["id"], &c["reason"]))
        .collect();
    assert_eq!(run.1, want, "{not_passing:#?}");
}

/// The report as JSON from a saved check run: requirement → status, for `framework`.
fn report_statuses(
    url: &str,
    home: &Path,
    checks: &Value,
    framework: &str,
) -> Vec<(String, String)> {
    let saved = home.join("checks.json");
    std::fs::write(&saved, checks.to_string()).unwrap();
    let (code, out, err) = run(
        url,
        home,
        &[
            "report",
            "--framework",
            framework,
            "--format",
            "json",
            "--checks",
            s(&saved),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["frameworks"][0]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["requirement"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn status_of<'a>(rows: &'a [(String, String)], requirement: &str) -> &'a str {
    &rows.iter().find(|(r, _)| r == requirement).unwrap().1
}

fn set_validation(aws: &Aws, on: bool) {
    let ct = aws_sdk_cloudtrail::Client::new(aws.config());
    aws.block_on(
        ct.update_trail()
            .name(TRAIL)
            .enable_log_file_validation(on)
            .send(),
    )
    .unwrap();
}

fn set_retention(aws: &Aws, mode: aws_sdk_s3::types::ObjectLockRetentionMode, days: i32) {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRule,
    };
    let s3 = aws_sdk_s3::Client::new(aws.config());
    let conf = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(DefaultRetention::builder().mode(mode).days(days).build())
                .build(),
        )
        .build();
    aws.block_on(
        s3.put_object_lock_configuration()
            .bucket(BUCKET)
            .object_lock_configuration(conf)
            .send(),
    )
    .unwrap();
}

/// A delivered log file: its key and its (gunzipped) records.
fn a_log_file(aws: &Aws) -> (String, Value) {
    let s3 = aws_sdk_s3::Client::new(aws.config());
    let listed = aws
        .block_on(s3.list_objects_v2().bucket(BUCKET).send())
        .unwrap();
    let key = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.contains("/CloudTrail/") && k.ends_with(".json.gz"))
        .expect("a delivered log file")
        .to_owned();
    let body = aws
        .block_on(async {
            s3.get_object()
                .bucket(BUCKET)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
        })
        .unwrap()
        .into_bytes();
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut json).unwrap();
    (key, serde_json::from_str(&json).unwrap())
}

#[test]
fn each_break_fails_exactly_the_checks_that_guard_it() {
    let data = scratch("posture-scenario");
    let home = data.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (child, addr, url, aws) = start(&data, &[]);

    // Activity, then two hours on the emulator's clock: log files and signed digests delivered.
    let s3 = aws_sdk_s3::Client::new(aws.config());
    aws.block_on(s3.create_bucket().bucket("app-data").send())
        .unwrap();
    for i in 0..3 {
        aws.block_on(
            s3.put_object()
                .bucket("app-data")
                .key(format!("o{i}"))
                .body(b"x".to_vec().into())
                .send(),
        )
        .unwrap();
    }
    advance(&addr, 2 * 3600);

    let healthy = check(&url, &addr, &data, &home);
    expect(&healthy, &[]);
    assert_eq!(
        healthy.0["target"]["trail"],
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/veritrail"
    );
    let pci = report_statuses(&url, &home, &healthy.0, "pci-dss");
    assert!(pci.iter().all(|(_, st)| st == "PASS"), "{pci:?}");

    // Log file validation off: only that check; back on.
    set_validation(&aws, false);
    let broken = check(&url, &addr, &data, &home);
    expect(&broken, &["trail.log_file_validation"]);
    let pci = report_statuses(&url, &home, &broken.0, "pci-dss");
    assert_eq!(status_of(&pci, "10.3.4"), "FAIL");
    assert_eq!(status_of(&pci, "10.5.1"), "PASS");
    set_validation(&aws, true);
    expect(&check(&url, &addr, &data, &home), &[]);

    // GOVERNANCE for 30 days: only the Object Lock check, and PCI DSS 10.5.1 fails.
    set_retention(
        &aws,
        aws_sdk_s3::types::ObjectLockRetentionMode::Governance,
        30,
    );
    let broken = check(&url, &addr, &data, &home);
    expect(&broken, &["bucket.object_lock_compliance"]);
    let reason = broken.0["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "bucket.object_lock_compliance")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("GOVERNANCE (30 days)"), "{reason}");
    let pci = report_statuses(&url, &home, &broken.0, "pci-dss");
    assert_eq!(status_of(&pci, "10.5.1"), "FAIL");
    assert_eq!(status_of(&pci, "10.2.1"), "PASS");
    set_retention(
        &aws,
        aws_sdk_s3::types::ObjectLockRetentionMode::Compliance,
        365,
    );
    expect(&check(&url, &addr, &data, &home), &[]);

    // A pack rule deleted: only the rules check, naming the rule; put back as it was.
    let events = aws_sdk_eventbridge::Client::new(aws.config());
    let name = "vt-audit-trail-protection-trail-deleted";
    let rule = aws
        .block_on(events.describe_rule().name(name).send())
        .unwrap();
    let targets = aws
        .block_on(events.list_targets_by_rule().rule(name).send())
        .unwrap();
    let ids: Vec<String> = targets
        .targets()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    aws.block_on(events.remove_targets().rule(name).set_ids(Some(ids)).send())
        .unwrap();
    aws.block_on(events.delete_rule().name(name).send())
        .unwrap();
    let broken = check(&url, &addr, &data, &home);
    expect(&broken, &["monitoring.rules"]);
    let md = {
        let saved = home.join("checks.json");
        std::fs::write(&saved, broken.0.to_string()).unwrap();
        let (code, out, err) = run(
            &url,
            &home,
            &[
                "report",
                "--framework",
                "soc2",
                "--format",
                "md",
                "--checks",
                s(&saved),
            ],
        );
        assert_eq!(code, 0, "{err}");
        out
    };
    assert!(md.contains("## SOC 2: FAIL"), "{md}");
    assert!(md.contains("`monitoring.rules` FAIL"), "{md}");
    aws.block_on(
        events
            .put_rule()
            .name(name)
            .event_pattern(rule.event_pattern().unwrap())
            .state(rule.state().unwrap().clone())
            .send(),
    )
    .unwrap();
    aws.block_on(
        events
            .put_targets()
            .rule(name)
            .set_targets(Some(targets.targets().to_vec()))
            .send(),
    )
    .unwrap();
    expect(&check(&url, &addr, &data, &home), &[]);

    // A delivered log file rewritten (one record's source address changed): validate-logs
    // reads the newest version, whose hash is not the digest's.
    let (key, mut records) = a_log_file(&aws);
    records["Records"][0]["sourceIPAddress"] = Value::from("198.51.100.66");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, records.to_string().as_bytes()).unwrap();
    aws.block_on(
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(gz.finish().unwrap().into())
            .send(),
    )
    .unwrap();
    let broken = check(&url, &addr, &data, &home);
    expect(&broken, &["integrity.validate_logs"]);
    let pci = report_statuses(&url, &home, &broken.0, "pci-dss");
    assert_eq!(status_of(&pci, "10.3.4"), "FAIL");

    // The checkpoint ages: the processor (which signs checkpoints as records come in) is
    // stopped, the bare emulator serves the same data, and two days pass on its clock.
    stop(child);
    let (child, addr, url, _aws) = start(&data, &["--no-defaults"]);
    advance(&addr, 2 * 86_400);
    let broken = check(&url, &addr, &data, &home);
    expect(
        &broken,
        &["integrity.checkpoint_fresh", "integrity.validate_logs"],
    );
    let iso = report_statuses(&url, &home, &broken.0, "iso27001");
    assert_eq!(status_of(&iso, "A.8.15"), "FAIL");
    assert_eq!(status_of(&iso, "A.8.16"), "PASS");

    // OCSF findings of that run: one per check, the failures as compliance status 3.
    let saved = home.join("checks.json");
    std::fs::write(&saved, broken.0.to_string()).unwrap();
    let (code, out, err) = run(
        &url,
        &home,
        &["report", "--format", "ocsf", "--checks", s(&saved)],
    );
    assert_eq!(code, 0, "{err}");
    let findings: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(findings.len(), 17);
    let failed: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f["compliance"]["status_id"] == 3)
        .map(|f| f["compliance"]["control"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from(["integrity.checkpoint_fresh", "integrity.validate_logs"])
    );
    stop(child);
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_account_is_error_not_pass() {
    let home = scratch("posture-usage");
    let policy = home.join("bad.json");
    std::fs::write(&policy, r#"{"retentionMonth": 12}"#).unwrap();
    let (code, _, err) = run(
        "http://127.0.0.1:9",
        &home,
        &["check", "--policy", s(&policy)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("retentionMonth"), "{err}");
    let (code, _, err) = run("http://127.0.0.1:9", &home, &["check", "--at", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        "http://127.0.0.1:9",
        &home,
        &["report", "--framework", "nist"],
    );
    assert_eq!(code, 2, "{err}");

    // Nothing listens on port 9: every call fails, every check is ERROR, and none passes.
    let (code, out, err) = run("http://127.0.0.1:9", &home, &["check", "--json"]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for c in v["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "PASS", "{c}");
    }
    assert_eq!(v["summary"]["pass"], 0);
    assert!(
        v["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("DescribeTrails"),
        "{}",
        v["checks"][0]
    );
}
