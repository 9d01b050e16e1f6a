//! `cargo xtask live`: the smoke test of the whole system, against an emulator
//! (`--endpoint URL`, or `--spawn` to start `veritrail serve --no-defaults` on port 0) or, with
//! `VERITRAIL_LIVE=1` and credentials, a real sandbox account.
//!
//! It shells out to the built `veritrail` binary and the pinned AWS CLI (xtask depends on no
//! workspace crate). Every resource it makes is named by a unique prefix `vtlive-<hex>`; it
//! never touches anything else. The steps run in order and stop at the first failure, and
//! `destroy` always runs at the end (objects under retention are left and reported with their
//! retain-until date).
//!
//! Exit codes: 0 every step passed, 1 a step failed, 2 usage, 3 no target (neither an endpoint
//! nor `VERITRAIL_LIVE=1` with credentials).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask live [--endpoint URL | --spawn] [--wait-minutes N]

  --endpoint URL   an emulator (`veritrail serve --no-defaults --allow-clock-control`)
  --spawn          start `veritrail serve --no-defaults` on port 0 in a temporary directory
  (neither)        AWS itself: set VERITRAIL_LIVE=1 and credentials for a sandbox account
  --wait-minutes N how long to wait for CloudTrail's delivery on AWS (default 75: digests are hourly)";

/// Where the run is going.
#[derive(Debug, Clone)]
enum Target {
    Emulator(String),
    Aws,
}

/// What the steps share.
#[derive(Debug)]
pub struct Live {
    target: Target,
    veritrail: PathBuf,
    aws: PathBuf,
    prefix: String,
    work: PathBuf,
    wait: Duration,
    /// Filled by the steps.
    account: String,
    region: String,
    bucket: String,
    trail_arn: String,
    start_time: String,
    /// When the posture checks judged (the emulator's clock, or AWS's time): the evidence
    /// bundle's period ends there.
    checked_at: String,
}

type Step = fn(&mut Live) -> Result<String, String>;

/// The steps, in order; `destroy` follows them whatever happened.
const STEPS: &[(&str, Step)] = &[
    ("provision apply", provision_apply),
    ("apply again changes nothing", provision_idempotent),
    ("generate activity", generate_activity),
    ("wait for CloudTrail delivery", wait_for_delivery),
    ("ingest the delivered logs", ingest),
    ("the alert reached the alerts inbox", alert_in_inbox),
    ("validate-logs", validate_logs),
    ("posture checks", posture),
    ("evidence bundle", evidence_bundle),
    ("verify the bundle", verify_bundle),
];

pub fn run(args: &[String]) -> ExitCode {
    ExitCode::from(run_code(args))
}

/// What to say when there is nothing to run against: no emulator given, and not both
/// `VERITRAIL_LIVE=1` and credentials (the run then exits 3).
fn missing_target(emulator: bool, live_aws: bool, has_credentials: bool) -> Option<String> {
    if emulator || (live_aws && has_credentials) {
        return None;
    }
    Some(format!(
        "xtask live needs a target:\n  \
         --endpoint URL   an emulator started with `veritrail serve --no-defaults --allow-clock-control`\n  \
         --spawn          start one here\n  \
         VERITRAIL_LIVE=1 with credentials for a sandbox account (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …)\n                   and AWS_REGION, to run against AWS itself{}",
        if live_aws {
            "\n(VERITRAIL_LIVE=1 is set, but no credentials were found in the environment)"
        } else {
            ""
        }
    ))
}

/// The run, as its exit code.
pub fn run_code(args: &[String]) -> u8 {
    let mut endpoint = None;
    let mut spawn = false;
    let mut wait_minutes = 75u64;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--endpoint" if i + 1 < args.len() => {
                endpoint = Some(args[i + 1].clone());
                i += 1;
            }
            "--spawn" => spawn = true,
            "--wait-minutes" if i + 1 < args.len() => match args[i + 1].parse() {
                Ok(n) => {
                    wait_minutes = n;
                    i += 1;
                }
                Err(_) => {
                    eprintln!("xtask live: --wait-minutes takes a number\n\n{USAGE}");
                    return 2;
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            other => {
                eprintln!("xtask live: unknown argument `{other}`\n\n{USAGE}");
                return 2;
            }
        }
        i += 1;
    }
    let live_aws = std::env::var("VERITRAIL_LIVE").is_ok_and(|v| v == "1");
    let has_credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        || std::env::var_os("AWS_PROFILE").is_some()
        || std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || std::env::var_os("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
        || std::env::var_os("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some();
    if let Some(message) = missing_target(endpoint.is_some() || spawn, live_aws, has_credentials) {
        eprintln!("{message}");
        return 3;
    }
    let root = crate::tidy::workspace_root();
    let mut build = crate::cargo();
    build.args(["build", "--quiet", "-p", "veritrail"]);
    if !crate::step("build veritrail", build) {
        return 1;
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let veritrail = target_dir.join("debug").join("veritrail");
    let aws = match crate::aws_cli() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xtask live: the AWS CLI: {e}");
            return 1;
        }
    };
    let prefix = format!("vtlive-{}", random_hex());
    let work = std::env::temp_dir().join(format!("veritrail-live-{prefix}"));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("xtask live: {}: {e}", work.display());
        return 1;
    }
    let mut server: Option<Child> = None;
    let target = match (endpoint, spawn) {
        (Some(url), _) => Target::Emulator(url.trim_end_matches('/').to_owned()),
        (None, true) => match spawn_emulator(&veritrail, &work) {
            Ok((child, url)) => {
                server = Some(child);
                Target::Emulator(url)
            }
            Err(e) => {
                eprintln!("xtask live: {e}");
                return 1;
            }
        },
        (None, false) => Target::Aws,
    };
    let mut live = Live {
        target,
        veritrail,
        aws,
        prefix,
        work,
        wait: Duration::from_secs(wait_minutes * 60),
        account: String::new(),
        region: String::new(),
        bucket: String::new(),
        trail_arn: String::new(),
        start_time: String::new(),
        checked_at: String::new(),
    };
    eprintln!(
        "xtask live: prefix {} against {}",
        live.prefix,
        match &live.target {
            Target::Emulator(u) => u.as_str(),
            Target::Aws => "AWS",
        }
    );
    let mut failed = false;
    for (name, step) in STEPS {
        eprintln!("xtask live: {name} ...");
        match step(&mut live) {
            Ok(note) => eprintln!("xtask live: {name}: ok{}", prefixed(&note)),
            Err(e) => {
                eprintln!("xtask live: {name}: FAILED: {e}");
                failed = true;
                break;
            }
        }
    }
    // Always: remove what the run made (only its prefix).
    eprintln!("xtask live: provision destroy ...");
    match destroy(&mut live) {
        Ok(note) => eprintln!("xtask live: provision destroy: ok{}", prefixed(&note)),
        Err(e) => {
            eprintln!("xtask live: provision destroy: FAILED: {e}");
            failed = true;
        }
    }
    if let Some(mut child) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    if !failed {
        let _ = std::fs::remove_dir_all(&live.work);
        eprintln!("xtask live: every step passed");
        0
    } else {
        eprintln!("xtask live: work files kept in {}", live.work.display());
        1
    }
}

fn prefixed(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    }
}

/// 12 hex digits, from the standard library's per-process random hash keys and the time.
fn random_hex() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// `veritrail serve --no-defaults --allow-clock-control` on port 0; its URL from its first line.
fn spawn_emulator(veritrail: &Path, work: &Path) -> Result<(Child, String), String> {
    let mut child = Command::new(veritrail)
        .args([
            "serve",
            "--no-defaults",
            "--allow-clock-control",
            "--addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(work.join("emulator"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start veritrail serve: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).map_err(|e| e.to_string())? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .ok_or_else(|| format!("veritrail serve printed no URL: {line:?}"))?
        .to_owned();
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    Ok((child, url))
}

impl Live {
    /// A command with the target's environment: the endpoint and fixed credentials for an
    /// emulator, the caller's environment for AWS.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        if let Target::Emulator(url) = &self.target {
            cmd.env("AWS_ENDPOINT_URL", url)
                .env("AWS_ACCESS_KEY_ID", "vtlive")
                .env("AWS_SECRET_ACCESS_KEY", "vtlive")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env_remove("AWS_PROFILE");
        }
        cmd
    }

    /// Where the run's ledger lives.
    fn data_dir(&self) -> String {
        self.work.join("data").to_string_lossy().into_owned()
    }

    fn bundle_file(&self) -> String {
        self.work.join("live.bundle").to_string_lossy().into_owned()
    }

    fn topic_arn(&self) -> String {
        format!(
            "arn:aws:sns:{}:{}:{}-alerts",
            self.region, self.account, self.prefix
        )
    }

    fn veritrail(&self, args: &[&str]) -> Result<(i32, String), String> {
        let mut cmd = self.command(&self.veritrail);
        cmd.args(args);
        output(cmd)
    }

    fn aws(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = self.command(&self.aws);
        if let Target::Emulator(url) = &self.target {
            cmd.args(["--endpoint-url", url]);
        }
        cmd.args(args).args(["--output", "json"]);
        match output(cmd)? {
            (0, out) => Ok(out),
            (code, out) => Err(format!("aws {} exited {code}: {out}", args.join(" "))),
        }
    }
}

/// Runs a command; its exit code and stdout (stderr on failure).
fn output(mut cmd: Command) -> Result<(i32, String), String> {
    let o = cmd
        .output()
        .map_err(|e| format!("{:?} could not start: {e}", cmd.get_program()))?;
    let code = o.status.code().unwrap_or(-1);
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    if code != 0 {
        text.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    Ok((code, text))
}

fn json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text.trim()).map_err(|e| format!("not JSON ({e}): {text}"))
}

fn provision_apply(l: &mut Live) -> Result<String, String> {
    let me = json(&l.aws(&["sts", "get-caller-identity"])?)?;
    l.account = me["Account"].as_str().unwrap_or_default().to_owned();
    l.start_time = match &l.target {
        Target::Emulator(url) => emulator_now(url)?,
        // CloudTrail stamps events with AWS's time; validate-logs starts an hour back.
        Target::Aws => {
            let out = l.aws(&["cloudtrail", "list-public-keys"])?;
            let keys = json(&out)?;
            keys["PublicKeyList"][0]["ValidityStartTime"]
                .as_str()
                .unwrap_or("2026-01-01T00:00:00Z")
                .to_owned()
        }
    };
    let (code, out) = l.veritrail(&["provision", "apply", "--prefix", &l.prefix, "--json"])?;
    if code != 0 {
        return Err(format!("exit {code}: {out}"));
    }
    let v = json(&out)?;
    l.region = v["region"].as_str().unwrap_or("us-east-1").to_owned();
    l.bucket = format!("{}-evidence-{}-{}", l.prefix, l.account, l.region);
    l.trail_arn = format!(
        "arn:aws:cloudtrail:{}:{}:trail/{}-trail",
        l.region, l.account, l.prefix
    );
    let made = v["applied"].as_array().map_or(0, Vec::len);
    Ok(format!("{made} changes"))
}

fn provision_idempotent(l: &mut Live) -> Result<String, String> {
    let (code, out) = l.veritrail(&["provision", "plan", "--prefix", &l.prefix, "--json"])?;
    let v = json(&out)?;
    if code != 0 || v["pending"] != 0 {
        return Err(format!("plan after apply has changes (exit {code}): {out}"));
    }
    Ok(String::new())
}

/// A few calls CloudTrail records, and one the audit-trail pack alerts on (a bucket policy
/// read is harmless; StopLogging then StartLogging on the run's own trail is what an attacker
/// would do).
fn generate_activity(l: &mut Live) -> Result<String, String> {
    let trail = format!("{}-trail", l.prefix);
    l.aws(&["s3api", "get-bucket-versioning", "--bucket", &l.bucket])?;
    l.aws(&["sns", "list-topics"])?;
    l.aws(&["cloudtrail", "stop-logging", "--name", &trail])?;
    l.aws(&["cloudtrail", "start-logging", "--name", &trail])?;
    Ok("4 calls".into())
}

fn delivered(l: &Live) -> Result<(usize, usize), String> {
    let out = l.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        &l.bucket,
        "--prefix",
        &format!("AWSLogs/{}/", l.account),
    ])?;
    let v = json(&out)?;
    let keys: Vec<&str> = v["Contents"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["Key"].as_str()).collect())
        .unwrap_or_default();
    let digests = keys
        .iter()
        .filter(|k| k.contains("/CloudTrail-Digest/"))
        .count();
    let logs = keys.iter().filter(|k| k.contains("/CloudTrail/")).count();
    Ok((logs, digests))
}

fn wait_for_delivery(l: &mut Live) -> Result<String, String> {
    let (deadline, poll) = match &l.target {
        Target::Emulator(url) => {
            // Past the next hourly digest; the emulator delivers what is due at once.
            http(
                url,
                "POST",
                "/_veritrail/clock",
                r#"{"advanceSeconds": 3900}"#,
            )?;
            (60u64, 1u64)
        }
        Target::Aws => (l.wait.as_secs(), 60),
    };
    let mut waited = 0;
    loop {
        let (logs, digests) = delivered(l)?;
        if logs > 0 && digests > 0 {
            return Ok(format!(
                "{logs} log files, {digests} digests after {waited} s"
            ));
        }
        if waited >= deadline {
            return Err(format!(
                "after {waited} s: {logs} log files and {digests} digests in s3://{}",
                l.bucket
            ));
        }
        std::thread::sleep(Duration::from_secs(poll));
        waited += poll;
    }
}

fn ingest(l: &mut Live) -> Result<String, String> {
    let data = l.data_dir();
    let (code, out) = l.veritrail(&["ledger", "create", "live", "--data-dir", &data])?;
    if code != 0 {
        return Err(format!("ledger create exit {code}: {out}"));
    }
    let (code, out) = l.veritrail(&[
        "ingest",
        "--ledger",
        "live",
        "--data-dir",
        &data,
        "--from-s3",
        &format!("s3://{}/", l.bucket),
        "--alert-topic",
        &l.topic_arn(),
        "--json",
    ])?;
    if code != 0 {
        return Err(format!("ingest exit {code}: {out}"));
    }
    // What the ledger holds now, signed: the posture checks want a fresh checkpoint.
    let (code, signed) = l.veritrail(&["ledger", "checkpoint", "live", "--data-dir", &data])?;
    if code != 0 {
        return Err(format!("ledger checkpoint exit {code}: {signed}"));
    }
    let (code, verify) = l.veritrail(&["ledger", "verify", "live", "--data-dir", &data])?;
    if code != 0 {
        return Err(format!("ledger verify exit {code}: {verify}"));
    }
    Ok(out
        .lines()
        .last()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect())
}

/// The processor published its alerts to the prefix's topic; the StopLogging one waits in the
/// alerts inbox the provisioner subscribed to it.
fn alert_in_inbox(l: &mut Live) -> Result<String, String> {
    let inbox = format!("{}-alerts-inbox", l.prefix);
    let url = json(&l.aws(&["sqs", "get-queue-url", "--queue-name", &inbox])?)?;
    let url = url["QueueUrl"].as_str().ok_or("no QueueUrl")?.to_owned();
    let mut alerts = Vec::new();
    // Up to ten messages a call; a few calls are enough for the run's handful of alerts.
    for _ in 0..5 {
        let got = l.aws(&[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
        ])?;
        // The AWS CLI prints nothing when no message came.
        if got.trim().is_empty() {
            break;
        }
        let got = json(&got)?;
        let Some(messages) = got["Messages"].as_array().filter(|m| !m.is_empty()) else {
            break;
        };
        for m in messages {
            let note = json(m["Body"].as_str().unwrap_or_default())?;
            alerts.push(note["Message"].as_str().unwrap_or_default().to_owned());
        }
    }
    if !alerts.iter().any(|a| a.contains("StopLogging")) {
        return Err(format!(
            "{} alerts in {inbox}, none on StopLogging: {alerts:?}",
            alerts.len()
        ));
    }
    Ok(format!("{} alerts, StopLogging among them", alerts.len()))
}

fn validate_logs(l: &mut Live) -> Result<String, String> {
    let (code, out) = l.veritrail(&[
        "validate-logs",
        "--trail-arn",
        &l.trail_arn,
        "--start-time",
        &l.start_time,
    ])?;
    if code != 0 {
        return Err(format!("exit {code}: {out}"));
    }
    Ok(out
        .lines()
        .rev()
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .to_owned())
}

/// `veritrail check` on the run's trail (its bucket is the evidence bucket), its alert topic and
/// the ledger the logs went into, as of the emulator's clock (on AWS, now). Every check must
/// PASS: the provisioned architecture is meant to satisfy all of them. The results are kept
/// for the bundle.
fn posture(l: &mut Live) -> Result<String, String> {
    let policy = l.work.join("policy.json");
    let topic = format!("{}-alerts", l.prefix);
    std::fs::write(
        &policy,
        serde_json::json!({"alertTopic": topic}).to_string(),
    )
    .map_err(|e| format!("{}: {e}", policy.display()))?;
    let (trail, data) = (format!("{}-trail", l.prefix), l.data_dir());
    let policy = policy.to_string_lossy().into_owned();
    let mut args = vec![
        "check",
        "--json",
        "--trail",
        &trail,
        "--ledger",
        "live",
        "--data-dir",
        &data,
        "--policy",
        &policy,
    ];
    let at = match &l.target {
        Target::Emulator(url) => emulator_now(url)?,
        Target::Aws => String::new(),
    };
    if !at.is_empty() {
        args.extend(["--at", &at]);
    }
    let (code, out) = l.veritrail(&args)?;
    // The JSON is stdout's one line; a failing run appends stderr after it.
    let first = out.lines().next().unwrap_or_default();
    let run = json(first).map_err(|e| format!("exit {code}: {e}"))?;
    let file = l.work.join("posture.json");
    std::fs::write(&file, first).map_err(|e| format!("{}: {e}", file.display()))?;
    l.checked_at = run["generatedAt"]
        .as_str()
        .ok_or("the results have no generatedAt")?
        .to_owned();
    let checks = run["checks"].as_array().cloned().unwrap_or_default();
    let not_passing: Vec<String> = checks
        .iter()
        .filter(|c| c["status"] != "PASS")
        .map(|c| {
            format!(
                "{} {}: {}",
                c["id"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    if code != 0 || checks.is_empty() || !not_passing.is_empty() {
        return Err(format!(
            "exit {code}; {} of {} checks do not pass: {}",
            not_passing.len(),
            checks.len(),
            not_passing.join("; ")
        ));
    }
    Ok(format!("all {} checks PASS", checks.len()))
}

/// A signed evidence bundle of the run's period (from before `provision apply` to the posture
/// checks), with the trail's validate-logs report and the posture results inside.
fn evidence_bundle(l: &mut Live) -> Result<String, String> {
    let (data, out) = (l.data_dir(), l.bundle_file());
    let posture = l.work.join("posture.json").to_string_lossy().into_owned();
    let (code, text) = l.veritrail(&[
        "evidence",
        "bundle",
        "--ledger",
        "live",
        "--data-dir",
        &data,
        "--from",
        &l.start_time,
        "--to",
        &l.checked_at,
        "--out",
        &out,
        "--trail-arn",
        &l.trail_arn,
        "--posture",
        &posture,
        "--json",
    ])?;
    if code != 0 {
        return Err(format!("exit {code}: {text}"));
    }
    let v = json(text.lines().next().unwrap_or_default())?;
    Ok(format!(
        "{} to {}: {} records, digest at tip {}",
        l.start_time, l.checked_at, v["records"], v["tip"]
    ))
}

/// `veritrail verify bundle` with the ledger's public key: valid, logs valid, posture inside.
fn verify_bundle(l: &mut Live) -> Result<String, String> {
    let key = std::path::Path::new(&l.data_dir())
        .join("keys")
        .join("live.pub")
        .to_string_lossy()
        .into_owned();
    let (code, text) = l.veritrail(&[
        "verify",
        "bundle",
        &l.bundle_file(),
        "--key",
        &key,
        "--json",
    ])?;
    let v = json(text.lines().next().unwrap_or_default())?;
    if code != 0 || v["valid"] != true || v["logsValid"] != true {
        return Err(format!("exit {code}: {text}"));
    }
    Ok(format!("valid; posture {}", v["posture"]))
}

fn destroy(l: &mut Live) -> Result<String, String> {
    let (code, out) = l.veritrail(&["provision", "destroy", "--prefix", &l.prefix, "--json"])?;
    if code != 0 {
        return Err(format!("exit {code}: {out}"));
    }
    let v = json(&out)?;
    let d = &v["destroyed"];
    for r in d["retained"].as_array().into_iter().flatten() {
        eprintln!(
            "xtask live: left under retention: s3://{}/{} until {}",
            l.bucket,
            r["key"].as_str().unwrap_or("?"),
            r["retainUntil"].as_str().unwrap_or("(not given)")
        );
    }
    for k in d["kept"].as_array().into_iter().flatten() {
        eprintln!("xtask live: kept {}", k.as_str().unwrap_or("?"));
    }
    Ok(format!(
        "{} removed, {} object versions under retention",
        d["removed"].as_array().map_or(0, Vec::len),
        d["retained"].as_array().map_or(0, Vec::len)
    ))
}

/// The emulator's clock (`/_veritrail/clock`), as UTC text.
fn emulator_now(url: &str) -> Result<String, String> {
    let clock = json(&http(url, "GET", "/_veritrail/clock", "")?)?;
    clock["now"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the clock has no `now`".to_owned())
}

/// One HTTP/1.1 request to the emulator (plain HTTP on loopback); the response body.
fn http(url: &str, method: &str, path: &str, body: &str) -> Result<String, String> {
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// endpoints can be driven (the clock)"))?;
    let mut s = TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, rest) = response.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{method} {path}: {} {rest} (is the emulator run with --allow-clock-control?)",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok(rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::missing_target;

    #[test]
    fn without_a_target_it_says_what_it_needs() {
        let none = missing_target(false, false, false).unwrap();
        assert!(
            none.contains("--endpoint URL") && none.contains("VERITRAIL_LIVE=1"),
            "{none}"
        );
        assert!(!none.contains("no credentials were found"), "{none}");
        let no_credentials = missing_target(false, true, false).unwrap();
        assert!(
            no_credentials.contains("no credentials were found"),
            "{no_credentials}"
        );
        assert!(
            missing_target(false, false, true).is_some(),
            "credentials alone are not a yes"
        );
        assert!(missing_target(true, false, false).is_none());
        assert!(missing_target(false, true, true).is_none());
    }
}
