//! The real AWS CLI (awscli 1.40.45 from PyPI, installed by `cargo xtask test` into
//! `target/awscli-venv`) against the emulator: `aws s3api`, `aws s3 cp/ls` and `aws cloudtrail`
//! run unmodified, with only `--endpoint-url` pointing at veritrail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aws() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_AWSCLI") {
        return PathBuf::from(p);
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/awscli-venv/bin/aws");
    assert!(
        bin.is_file(),
        "the AWS CLI is not installed: run `cargo xtask test` (it installs awscli 1.40.45 into target/awscli-venv) or set VERITRAIL_AWSCLI"
    );
    bin
}

/// One `aws` invocation with a clean environment: no profile, no config file, fixed keys.
fn run(url: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(aws())
        .arg("--endpoint-url")
        .arg(url)
        .args(args)
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", "AKIAVERITRAILTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap()
}

/// Runs `aws` and insists on success; returns stdout.
fn ok(url: &str, home: &Path, args: &[&str]) -> String {
    let out = run(url, home, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "aws {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// An empty home directory for one test's `aws` runs.
fn fresh_home(name: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("veritrail-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    home
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_s3_object_lock_and_cloudtrail() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let url = emulator.url.clone();
    tokio::task::spawn_blocking(move || {
        let home = fresh_home("awscli");
        let home = home.as_path();
        let u = url.as_str();

        // An Object Lock bucket with a COMPLIANCE default of 365 days.
        ok(
            u,
            home,
            &[
                "s3api",
                "create-bucket",
                "--bucket",
                "evidence",
                "--object-lock-enabled-for-bucket",
            ],
        );
        ok(
            u,
            home,
            &[
                "s3api",
                "put-object-lock-configuration",
                "--bucket",
                "evidence",
                "--object-lock-configuration",
                r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":365}}}"#,
            ],
        );
        let lock = json(&ok(
            u,
            home,
            &["s3api", "get-object-lock-configuration", "--bucket", "evidence"],
        ));
        assert_eq!(
            lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"],
            365
        );
        let versioning = json(&ok(
            u,
            home,
            &["s3api", "get-bucket-versioning", "--bucket", "evidence"],
        ));
        assert_eq!(versioning["Status"], "Enabled");

        // `aws s3 cp` up and down, `aws s3 ls`.
        let file = home.join("record.json");
        std::fs::write(&file, b"{\"eventName\":\"ConsoleLogin\"}\n").unwrap();
        ok(
            u,
            home,
            &["s3", "cp", file.to_str().unwrap(), "s3://evidence/logs/record.json"],
        );
        let listing = ok(u, home, &["s3", "ls", "s3://evidence/", "--recursive"]);
        assert!(listing.contains("logs/record.json"), "{listing}");
        let back = home.join("back.json");
        ok(
            u,
            home,
            &["s3", "cp", "s3://evidence/logs/record.json", back.to_str().unwrap()],
        );
        assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&file).unwrap());

        // The default retention applied; the locked version cannot be deleted.
        let head = json(&ok(
            u,
            home,
            &["s3api", "head-object", "--bucket", "evidence", "--key", "logs/record.json"],
        ));
        assert_eq!(head["ObjectLockMode"], "COMPLIANCE");
        let version = head["VersionId"].as_str().unwrap().to_owned();
        let refused = run(
            u,
            home,
            &[
                "s3api",
                "delete-object",
                "--bucket",
                "evidence",
                "--key",
                "logs/record.json",
                "--version-id",
                &version,
            ],
        );
        // awscli v1 exits 255 on a service error.
        assert_eq!(refused.status.code(), Some(255), "{refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("AccessDenied"),
            "{refused:?}"
        );
        // A delete marker hides the object from `ls` but not from the version listing.
        let marker = json(&ok(
            u,
            home,
            &["s3api", "delete-object", "--bucket", "evidence", "--key", "logs/record.json"],
        ));
        assert_eq!(marker["DeleteMarker"], true);
        let versions = json(&ok(
            u,
            home,
            &["s3api", "list-object-versions", "--bucket", "evidence"],
        ));
        assert_eq!(versions["Versions"][0]["VersionId"], version.as_str());
        assert_eq!(versions["DeleteMarkers"].as_array().unwrap().len(), 1);

        // CloudTrail: a trail with validation, its status, the public keys, and LookupEvents
        // showing the CLI's own calls attributed to its access key. The bucket's policy must let
        // CloudTrail write, as on AWS.
        let refused = run(
            u,
            home,
            &["cloudtrail", "create-trail", "--name", "audit", "--s3-bucket-name", "evidence"],
        );
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(255), "{stderr}");
        assert!(
            stderr.contains("(InsufficientS3BucketPolicyException)")
                && stderr.contains("Incorrect S3 bucket policy is detected for bucket: evidence"),
            "{stderr}"
        );
        let policy =
            veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("evidence");
        ok(
            u,
            home,
            &["s3api", "put-bucket-policy", "--bucket", "evidence", "--policy", &policy],
        );
        let trail = json(&ok(
            u,
            home,
            &[
                "cloudtrail",
                "create-trail",
                "--name",
                "audit",
                "--s3-bucket-name",
                "evidence",
                "--enable-log-file-validation",
            ],
        ));
        assert_eq!(trail["LogFileValidationEnabled"], true);
        ok(u, home, &["cloudtrail", "start-logging", "--name", "audit"]);
        let status = json(&ok(u, home, &["cloudtrail", "get-trail-status", "--name", "audit"]));
        assert_eq!(status["IsLogging"], true);
        let keys = json(&ok(u, home, &["cloudtrail", "list-public-keys"]));
        assert!(!keys["PublicKeyList"].as_array().unwrap().is_empty());
        let events = json(&ok(
            u,
            home,
            &[
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=CreateBucket",
            ],
        ));
        let events = events["Events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["EventSource"], "s3.amazonaws.com");
        let record = json(events[0]["CloudTrailEvent"].as_str().unwrap());
        assert_eq!(record["userIdentity"]["accessKeyId"], "AKIAVERITRAILTEST");
        // The CLI's own pagination over LookupEvents.
        let paged = ok(
            u,
            home,
            &[
                "cloudtrail",
                "lookup-events",
                "--page-size",
                "2",
                "--max-items",
                "5",
                "--query",
                "length(Events)",
            ],
        );
        assert_eq!(paged.trim(), "5");
        let _ = std::fs::remove_dir_all(home);
    })
    .await
    .unwrap();
}

/// Refused: the command must fail with awscli v1's service-error exit code and S3's error code.
fn refused(url: &str, home: &Path, args: &[&str], code: &str) {
    let out = run(url, home, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(255),
        "aws {}: {stderr}",
        args.join(" ")
    );
    assert!(stderr.contains(code), "aws {}: {stderr}", args.join(" "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_sees_governance_legal_hold_and_bucket_settings() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let url = emulator.url.clone();
    tokio::task::spawn_blocking(move || {
        let home = fresh_home("awscli-gov");
        let home = home.as_path();
        let u = url.as_str();
        let body = home.join("body");
        std::fs::write(&body, b"x").unwrap();
        let body = body.to_str().unwrap();
        refused(u, home, &["s3api", "create-bucket", "--bucket", "b"], "InvalidBucketName");
        ok(
            u,
            home,
            &["s3api", "create-bucket", "--bucket", "vault", "--object-lock-enabled-for-bucket"],
        );
        ok(
            u,
            home,
            &[
                "s3api",
                "put-bucket-encryption",
                "--bucket",
                "vault",
                "--server-side-encryption-configuration",
                r#"{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}"#,
            ],
        );
        let enc = json(&ok(u, home, &["s3api", "get-bucket-encryption", "--bucket", "vault"]));
        assert_eq!(
            enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
                ["SSEAlgorithm"],
            "AES256"
        );
        ok(
            u,
            home,
            &[
                "s3api",
                "put-public-access-block",
                "--bucket",
                "vault",
                "--public-access-block-configuration",
                "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
            ],
        );
        let pab = json(&ok(u, home, &["s3api", "get-public-access-block", "--bucket", "vault"]));
        assert_eq!(pab["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], true);

        // GOVERNANCE: refused without the bypass header, allowed with it.
        let put = json(&ok(
            u,
            home,
            &[
                "s3api",
                "put-object",
                "--bucket",
                "vault",
                "--key",
                "gov",
                "--body",
                body,
                "--object-lock-mode",
                "GOVERNANCE",
                "--object-lock-retain-until-date",
                "2099-01-01T00:00:00Z",
            ],
        ));
        let gov = put["VersionId"].as_str().unwrap().to_owned();
        let delete_gov = [
            "s3api",
            "delete-object",
            "--bucket",
            "vault",
            "--key",
            "gov",
            "--version-id",
            gov.as_str(),
        ];
        refused(u, home, &delete_gov, "AccessDenied");
        let mut bypass = delete_gov.to_vec();
        bypass.push("--bypass-governance-retention");
        ok(u, home, &bypass);

        // A legal hold is not bypassable.
        let held = json(&ok(
            u,
            home,
            &[
                "s3api",
                "put-object",
                "--bucket",
                "vault",
                "--key",
                "held",
                "--body",
                body,
                "--object-lock-legal-hold-status",
                "ON",
            ],
        ));
        let held = held["VersionId"].as_str().unwrap().to_owned();
        let hold = json(&ok(
            u,
            home,
            &["s3api", "get-object-legal-hold", "--bucket", "vault", "--key", "held"],
        ));
        assert_eq!(hold["LegalHold"]["Status"], "ON");
        refused(
            u,
            home,
            &[
                "s3api",
                "delete-object",
                "--bucket",
                "vault",
                "--key",
                "held",
                "--version-id",
                held.as_str(),
                "--bypass-governance-retention",
            ],
            "AccessDenied",
        );

        // ListObjects (V1), DeleteObjects, and S3's errors for what is missing.
        let keys = json(&ok(
            u,
            home,
            &["s3api", "list-objects", "--bucket", "vault", "--query", "Contents[].Key"],
        ));
        assert_eq!(keys, serde_json::json!(["held"]));
        let deleted = json(&ok(
            u,
            home,
            &[
                "s3api",
                "delete-objects",
                "--bucket",
                "vault",
                "--delete",
                r#"{"Objects":[{"Key":"held"}]}"#,
            ],
        ));
        assert_eq!(deleted["Deleted"][0]["DeleteMarker"], true);
        let out = home.join("out");
        refused(
            u,
            home,
            &["s3api", "get-object", "--bucket", "vault", "--key", "held", out.to_str().unwrap()],
            "NoSuchKey",
        );
        refused(
            u,
            home,
            &["s3api", "list-objects-v2", "--bucket", "missing-bucket"],
            "NoSuchBucket",
        );
        let _ = std::fs::remove_dir_all(home);
    })
    .await
    .unwrap();
}
