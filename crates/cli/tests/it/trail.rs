//! The issue's scenario end to end: an Object Lock bucket (COMPLIANCE, 365 days) and a trail
//! with log file validation in the emulator, hours of activity on the emulator's clock, then
//! `veritrail validate-logs` and the real `aws cloudtrail validate-logs` (awscli 1.40.45) read the
//! same bucket through S3 and must agree: on the intact trail and after each kind of tampering.
//! Locked versions cannot be deleted, and a delete marker does not hide what it covers.

use std::path::Path;
use std::process::{Command, Output};

use axum::http::{HeaderMap, HeaderValue, Method};
use veritrail_emulator::{Emulator, Running};

use crate::aws_env::{aws, aws_env};
use crate::{scratch, text};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const ARN: &str = "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit";
const BUCKET: &str = "evidence";
const DIGESTS: &str = "trails/AWSLogs/000000000000/CloudTrail-Digest/us-east-1/";
const LOGS: &str = "trails/AWSLogs/000000000000/CloudTrail/us-east-1/";

fn run_aws(url: &str, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(aws());
    cmd.args(args);
    aws_env(&mut cmd, url, home);
    cmd.output().unwrap()
}

/// (exit code, stdout, stderr) of a validate-logs run by `tool` over hours 0 to `hours`.
fn validate(
    tool: &str,
    url: &str,
    home: &Path,
    hours: i64,
    extra: &[&str],
) -> (i32, String, String) {
    let end = format!("2024-01-01T{hours:02}:00:00Z");
    let args = [
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-01-01T00:00:00Z",
        "--end-time",
        end.as_str(),
    ];
    let out = if tool == "aws" {
        let mut all = vec!["cloudtrail", "validate-logs"];
        all.extend(args);
        all.extend(extra);
        run_aws(url, home, &all)
    } else {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veritrail"));
        cmd.arg("validate-logs").args(args).args(extra);
        aws_env(&mut cmd, url, home);
        cmd.output().unwrap()
    };
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Both validators over the same emulator; they must agree line for line. Returns veritrail's.
fn both(url: &str, home: &Path, hours: i64) -> (i32, String, String) {
    let ours = validate("veritrail", url, home, hours, &[]);
    let theirs = validate("aws", url, home, hours, &[]);
    assert_eq!(
        ours.0, theirs.0,
        "exit codes differ:\nveritrail {ours:?}\naws {theirs:?}"
    );
    assert_eq!(ours.1, theirs.1, "stdout differs");
    let lines = |s: &str| {
        let mut l: Vec<String> = s
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        l.sort();
        l
    };
    assert_eq!(lines(&ours.2), lines(&theirs.2), "stderr differs");
    ours
}

/// One signed request to the emulator, in process.
fn call(
    emu: &Emulator,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl AsRef<[u8]>,
) -> u16 {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    emu.handle(&method, path, &h, body.as_ref())
        .status()
        .as_u16()
}

const S3: (&str, &str) = (
    "authorization",
    "AWS4-HMAC-SHA256 Credential=AKIAOPS/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
);

fn cloudtrail(emu: &Emulator, op: &str, body: &str) -> u16 {
    let target = format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
    call(
        emu,
        Method::POST,
        "/",
        &[
            ("x-amz-target", &target),
            ("content-type", "application/x-amz-json-1.1"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAOPS/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00",
            ),
        ],
        body,
    )
}

/// An emulator at 2024-01-01T00:00Z with an Object Lock bucket (COMPLIANCE, 365 days) and a
/// logging trail with validation, after `hours` of activity (a call every ten minutes).
fn trail(hours: i64, with_awscli: Option<&Path>) -> (tokio::runtime::Runtime, Running) {
    let (rt, running) = crate::emulator_at(T0);
    let emu = running.emulator.clone();
    let lock = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>365</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    let trail = r#"{"Name":"audit","S3BucketName":"evidence","S3KeyPrefix":"trails","EnableLogFileValidation":true}"#;
    let policy = veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy(BUCKET);
    if let Some(home) = with_awscli {
        // The way an operator sets it up, with the real AWS CLI.
        let u = running.url.as_str();
        for args in [
            &[
                "s3api",
                "create-bucket",
                "--bucket",
                BUCKET,
                "--object-lock-enabled-for-bucket",
            ][..],
            &[
                "s3api",
                "put-object-lock-configuration",
                "--bucket",
                BUCKET,
                "--object-lock-configuration",
                "ObjectLockEnabled=Enabled,Rule={DefaultRetention={Mode=COMPLIANCE,Days=365}}",
            ],
            &[
                "s3api",
                "put-bucket-policy",
                "--bucket",
                BUCKET,
                "--policy",
                &policy,
            ],
            &[
                "cloudtrail",
                "create-trail",
                "--name",
                "audit",
                "--s3-bucket-name",
                BUCKET,
                "--s3-key-prefix",
                "trails",
                "--enable-log-file-validation",
            ],
            &["cloudtrail", "start-logging", "--name", "audit"],
        ] {
            let out = run_aws(u, home, args);
            assert!(out.status.success(), "aws {args:?}: {}", text(&out.stderr));
        }
    } else {
        assert_eq!(
            call(
                &emu,
                Method::PUT,
                "/evidence",
                &[S3, ("x-amz-bucket-object-lock-enabled", "true")],
                ""
            ),
            200
        );
        assert_eq!(
            call(&emu, Method::PUT, "/evidence?object-lock", &[S3], lock),
            200
        );
        assert_eq!(
            call(&emu, Method::PUT, "/evidence?policy", &[S3], &policy),
            204
        );
        assert_eq!(cloudtrail(&emu, "CreateTrail", trail), 200);
        assert_eq!(cloudtrail(&emu, "StartLogging", r#"{"Name":"audit"}"#), 200);
    }
    for _ in 0..hours * 6 {
        assert_eq!(cloudtrail(&emu, "DescribeTrails", "{}"), 200);
        emu.clock().advance(600_000).unwrap();
        emu.deliver().unwrap();
    }
    (rt, running)
}

fn keys(emu: &Emulator, prefix: &str) -> Vec<String> {
    emu.s3_keys(BUCKET, prefix)
}

fn digest_logs(emu: &Emulator, digest: &str) -> Vec<String> {
    let (gz, _) = emu.s3_object(BUCKET, digest).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut raw).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["logFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["s3Object"].as_str().unwrap().to_owned())
        .collect()
}

/// Overwrites an object: Object Lock keeps the old version, but readers get the new one.
fn overwrite(emu: &Emulator, key: &str, body: &[u8], meta: &[(&str, &str)]) {
    let names: Vec<String> = meta
        .iter()
        .map(|(k, _)| format!("x-amz-meta-{k}"))
        .collect();
    let mut headers: Vec<(&str, &str)> = names
        .iter()
        .zip(meta)
        .map(|(k, (_, v))| (k.as_str(), *v))
        .collect();
    headers.push(S3);
    let path = format!("/{BUCKET}/{key}");
    assert_eq!(call(emu, Method::PUT, &path, &headers, body), 200);
}

fn delete(emu: &Emulator, key: &str) {
    assert_eq!(
        call(emu, Method::DELETE, &format!("/{BUCKET}/{key}"), &[S3], ""),
        204
    );
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn an_intact_trail_validates_the_same_with_veritrail_and_the_aws_cli() {
    let home = scratch("trail-intact-home");
    let (_rt, running) = trail(4, Some(&home));
    let emu = &running.emulator;
    let u = running.url.as_str();
    let digests = keys(emu, DIGESTS);
    assert_eq!(digests.len(), 4, "{digests:?}");
    let logs = keys(emu, LOGS).len();
    assert!(logs >= 24, "{logs} log files");

    let (code, out, err) = both(u, &home, 4);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!(
        "Validating log files for trail {ARN} between 2024-01-01T00:00:00Z and 2024-01-01T04:00:00Z\n\n"
    )));
    // awscli's own quirk, which veritrail keeps: the oldest digest starts exactly at
    // --start-time, so the found start printed is the next digest's start.
    assert!(
        out.contains("Results found for 2024-01-01T01:00:00Z to 2024-01-01T04:00:00Z:"),
        "{out}"
    );
    assert!(out.contains("\n4/4 digest files valid\n"), "{out}");
    // The digests list every log delivered in their hours (the setup calls' logs included).
    let listed: usize = digests.iter().map(|d| digest_logs(emu, d).len()).sum();
    assert!(
        out.contains(&format!("\n{listed}/{listed} log files valid\n")),
        "{out}"
    );

    // --verbose names every file, as awscli does.
    let ours = validate("veritrail", u, &home, 4, &["--verbose"]);
    let theirs = validate("aws", u, &home, 4, &["--verbose"]);
    assert_eq!(ours.1, theirs.1);
    assert_eq!(ours.1.matches("\tvalid\n").count(), 4 + listed);

    // --json: a report an evidence bundle can embed.
    let (code, json, _) = validate("veritrail", u, &home, 4, &["--json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["bucket"], BUCKET);
    assert_eq!(report["prefix"], "trails");
    assert_eq!(report["digests"]["valid"], 4);
    assert_eq!(report["logs"]["valid"], listed);
    assert_eq!(report["gaps"], serde_json::json!([]));
    // GetTrailStatus agrees: the newest digest is the one the trail last delivered.
    assert_eq!(
        report["latestDigestDelivery"],
        serde_json::json!({"checked": true, "trailStatus": "2024-01-01T04:00:00Z", "newestDigest": "2024-01-01T04:00:00Z", "missing": false})
    );
    assert_eq!(
        report["summary"].as_str().unwrap(),
        &out[out.find("Results requested").unwrap()..]
    );

    // Naming the bucket and prefix skips DescribeTrails and reads the same files.
    let named = validate(
        "veritrail",
        u,
        &home,
        4,
        &["--s3-bucket", BUCKET, "--s3-prefix", "trails"],
    );
    assert_eq!((named.0, &named.1), (0, &out));

    // A trail that does not exist: both give up with 255 and say why.
    let missing = [
        "--trail-arn",
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/nope",
        "--start-time",
        "2024-01-01T00:00:00Z",
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veritrail"));
    cmd.arg("validate-logs").args(missing);
    aws_env(&mut cmd, u, &home);
    let ours = cmd.output().unwrap();
    let mut args = vec!["cloudtrail", "validate-logs"];
    args.extend(missing);
    let theirs = run_aws(u, &home, &args);
    assert_eq!(ours.status.code(), Some(255));
    assert_eq!(theirs.status.code(), Some(255));
    for err in [text(&ours.stderr), text(&theirs.stderr)] {
        assert!(err.contains("A trail could not be found for arn:aws:cloudtrail:us-east-1:000000000000:trail/nope"), "{err}");
    }

    // A locked version cannot be deleted, not even by its version id.
    let out = run_aws(
        u,
        &home,
        &[
            "s3api",
            "list-object-versions",
            "--bucket",
            BUCKET,
            "--prefix",
            &digests[0],
        ],
    );
    let versions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = versions["Versions"][0]["VersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = run_aws(
        u,
        &home,
        &[
            "s3api",
            "delete-object",
            "--bucket",
            BUCKET,
            "--key",
            &digests[0],
            "--version-id",
            &version,
        ],
    );
    assert_eq!(refused.status.code(), Some(255));
    assert!(
        text(&refused.stderr).contains("AccessDenied"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn every_kind_of_tampering_is_reported_as_the_aws_cli_reports_it() {
    let home = scratch("trail-tamper-home");
    for kind in [
        "alter-log",
        "delete-digest",
        "bad-signature",
        "delete-log",
        "remove-hour",
    ] {
        let (_rt, running) = trail(4, None);
        let emu = &running.emulator;
        let u = running.url.as_str();
        let digests = keys(emu, DIGESTS);
        assert_eq!(digests.len(), 4);
        let hour2 = digest_logs(emu, &digests[1]);
        let total: usize = digests.iter().map(|d| digest_logs(emu, d).len()).sum();
        let (expect_digests, expect_logs, message) = match kind {
            "alter-log" => {
                let mut raw = Vec::new();
                let (gz, _) = emu.s3_object(BUCKET, &hour2[0]).unwrap();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(gz.as_slice()),
                    &mut raw,
                )
                .unwrap();
                let altered = String::from_utf8(raw)
                    .unwrap()
                    .replacen("AKIAOPS", "AKIAXXX", 1);
                overwrite(emu, &hour2[0], &gzip(altered.as_bytes()), &[]);
                (
                    "4/4 digest files valid".to_owned(),
                    format!(
                        "{}/{total} log files valid, 1/{total} log files INVALID",
                        total - 1
                    ),
                    format!(
                        "Log file\ts3://{BUCKET}/{}\tINVALID: hash value doesn't match",
                        hour2[0]
                    ),
                )
            }
            "bad-signature" => {
                let (gz, meta) = emu.s3_object(BUCKET, &digests[3]).unwrap();
                let sig = meta["signature"].clone();
                let flipped = format!(
                    "{}{}",
                    if sig.starts_with('0') { "1" } else { "0" },
                    &sig[1..]
                );
                overwrite(
                    emu,
                    &digests[3],
                    &gz,
                    &[
                        ("signature", &flipped),
                        ("signature-algorithm", "SHA256withRSA"),
                    ],
                );
                let n = total - digest_logs(emu, &digests[3]).len();
                (
                    "3/4 digest files valid, 1/4 digest files INVALID".to_owned(),
                    format!("{n}/{n} log files valid"),
                    format!(
                        "Digest file\ts3://{BUCKET}/{}\tINVALID: signature verification failed",
                        digests[3]
                    ),
                )
            }
            "delete-log" => {
                delete(emu, &hour2[0]);
                (
                    "4/4 digest files valid".to_owned(),
                    format!(
                        "{}/{total} log files valid, 1/{total} log files INVALID",
                        total - 1
                    ),
                    format!("Log file\ts3://{BUCKET}/{}\tINVALID: not found", hour2[0]),
                )
            }
            _ => {
                // Delete markers: the locked versions are still there, but readers see nothing.
                // "remove-hour" takes the hour's logs too; awscli never looks for them.
                delete(emu, &digests[1]);
                if kind == "remove-hour" {
                    for l in &hour2 {
                        delete(emu, l);
                    }
                }
                let n = total - hour2.len();
                (
                    "3/4 digest files valid, 1/4 digest files INVALID".to_owned(),
                    format!("{n}/{n} log files valid"),
                    format!(
                        "Digest file\ts3://{BUCKET}/{}\tINVALID: not found",
                        digests[1]
                    ),
                )
            }
        };
        let (code, out, err) = both(u, &home, 4);
        assert_eq!(code, 1, "{kind}: {out}{err}");
        assert!(
            out.contains(&format!("\n{expect_digests}")),
            "{kind}: {out}"
        );
        assert!(out.contains(&format!("\n{expect_logs}")), "{kind}: {out}");
        assert!(err.contains(&message), "{kind}: {err}");
    }
}

#[test]
fn digests_deleted_from_the_end_pass_the_aws_cli_but_not_veritrail_json() {
    let home = scratch("trail-tail-home");
    let (_rt, running) = trail(4, None);
    let emu = &running.emulator;
    let u = running.url.as_str();
    let digests = keys(emu, DIGESTS);
    assert_eq!(digests.len(), 4);
    // Delete markers over the two newest digests: the chain that is left is whole.
    for d in &digests[2..] {
        delete(emu, d);
    }
    let (code, out, err) = both(u, &home, 4);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\n2/2 digest files valid\n"), "{out}");

    let (code, json, err) = validate("veritrail", u, &home, 4, &["--json"]);
    assert_eq!(code, 1, "{json}{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["latestDigestDelivery"],
        serde_json::json!({"checked": true, "trailStatus": "2024-01-01T04:00:00Z", "newestDigest": "2024-01-01T02:00:00Z", "missing": true})
    );
    let missing: Vec<&serde_json::Value> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "missing-digests")
        .collect();
    assert_eq!(missing.len(), 1, "{report}");
    assert_eq!(
        (missing[0]["from"].as_str(), missing[0]["to"].as_str()),
        (Some("2024-01-01T02:00:00Z"), Some("2024-01-01T04:00:00Z"))
    );
}
