//! The real AWS CLI (awscli 1.40.45 from PyPI, installed by `cargo xtask test` into
//! `target/awscli-venv`) against the emulator: `aws s3api`, `aws s3 cp/ls`, `aws cloudtrail`,
//! `aws sqs`, `aws sns`, `aws events`, `aws sts`, `aws iam`, `aws kms` and `aws secretsmanager`
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

/// An `aws` command with a clean environment: no profile, no config file, fixed keys, every
/// service's endpoint at the emulator (`--endpoint-url` reaches only the command's own client;
/// `validate-logs` also calls S3, which `AWS_ENDPOINT_URL` points there).
pub fn command(url: &str, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(aws());
    cmd.arg("--endpoint-url")
        .arg(url)
        .args(args)
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", "AKIAVERITRAILTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", url)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

/// One `aws` invocation (see [`command`]).
fn run(url: &str, home: &Path, args: &[&str]) -> Output {
    command(url, home, args).output().unwrap()
}

/// Runs `aws` and insists on success; returns stdout.
pub fn ok(url: &str, home: &Path, args: &[&str]) -> String {
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

/// Runs `body` on the blocking pool (the CLI is a child process) with the emulator's URL and a
/// fresh home directory for `aws`, removed afterwards.
pub async fn with_cli(url: &str, name: &str, body: impl FnOnce(&str, &Path) + Send + 'static) {
    let url = url.to_owned();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let home = fresh_home(&name);
        body(&url, &home);
        let _ = std::fs::remove_dir_all(&home);
    })
    .await
    .unwrap();
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_s3_object_lock_and_cloudtrail() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    with_cli(&emulator.url, "awscli", move |u, home| {

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
    })
    .await;
}

/// Refused: the command must fail with awscli v1's service-error exit code, and its message
/// contain `text` (an error code, or the whole of AWS's message).
fn refused(url: &str, home: &Path, args: &[&str], text: &str) {
    let stderr = failed(url, home, args);
    assert!(stderr.contains(text), "aws {}: {stderr}", args.join(" "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_sees_governance_legal_hold_and_bucket_settings() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    with_cli(&emulator.url, "awscli-gov", move |u, home| {
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
    })
    .await;
}

/// Runs `aws` expecting a service error: exit 255 and stderr; returns stderr.
pub fn failed(url: &str, home: &Path, args: &[&str]) -> String {
    let out = run(url, home, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(255),
        "aws {}: {stderr}",
        args.join(" ")
    );
    stderr
}

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_sets_up_the_evidence_bucket_and_its_trail() {
    let running = veritrail_scenarios::spawn_with(|c| {
        c.clock = std::sync::Arc::new(veritrail_core::time::ManualClock::new(
            veritrail_core::time::UtcMillis(T0),
            0,
        ));
    })
    .await
    .unwrap();
    let emulator = running.emulator.clone();
    with_cli(&running.url, "awscli-evidence", move |u, home| {
        ok(u, home, &["s3api", "create-bucket", "--bucket", "evidence"]);

        // Lifecycle: the evidence recipe's rule (to GLACIER after 90 days) round-trips; rules S3
        // refuses are refused with S3's codes.
        let rule = r#"{"Rules":[{"ID":"archive","Status":"Enabled","Filter":{"Prefix":""},"Transitions":[{"Days":90,"StorageClass":"GLACIER"}]}]}"#;
        fn put_lifecycle(config: &str) -> [&str; 6] {
            let put = "put-bucket-lifecycle-configuration";
            ["s3api", put, "--bucket", "evidence", "--lifecycle-configuration", config]
        }
        let put = json(&ok(u, home, &put_lifecycle(rule)));
        assert_eq!(put["TransitionDefaultMinimumObjectSize"], "all_storage_classes_128K");
        let get_lifecycle = ["s3api", "get-bucket-lifecycle-configuration", "--bucket", "evidence"];
        let got = json(&ok(u, home, &get_lifecycle));
        assert_eq!(got["Rules"], json(rule)["Rules"]);
        for (bad, code, message) in [
            (
                r#"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{"Prefix":""},"Transitions":[{"Days":10,"StorageClass":"STANDARD_IA"}]}]}"#,
                "InvalidArgument",
                "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'",
            ),
            (
                r#"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{"Prefix":""},"Transitions":[{"Days":90,"StorageClass":"STANDARD"}]}]}"#,
                "InvalidArgument",
                "The storage class STANDARD is not valid for a transition",
            ),
            (
                r#"{"Rules":[{"ID":"a","Status":"Enabled","Filter":{"Prefix":""}}]}"#,
                "InvalidRequest",
                "At least one action needs to be specified in a rule",
            ),
            (
                r#"{"Rules":[{"ID":"a","Status":"Enabled","Expiration":{"Days":30}}]}"#,
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ),
        ] {
            refused(
                u,
                home,
                &put_lifecycle(bad),
                &format!("({code}) when calling the PutBucketLifecycleConfiguration operation: {message}"),
            );
        }
        // The refused configurations left the first one in place.
        assert_eq!(json(&ok(u, home, &get_lifecycle))["Rules"], json(rule)["Rules"]);
        ok(u, home, &["s3api", "delete-bucket-lifecycle", "--bucket", "evidence"]);
        refused(u, home, &get_lifecycle, "(NoSuchLifecycleConfiguration)");

        // Bucket policy: put, get, delete; a malformed one is refused.
        let get_policy = ["s3api", "get-bucket-policy", "--bucket", "evidence"];
        refused(u, home, &get_policy, "(NoSuchBucketPolicy)");
        fn put_policy(policy: &str) -> [&str; 6] {
            ["s3api", "put-bucket-policy", "--bucket", "evidence", "--policy", policy]
        }
        refused(
            u,
            home,
            &put_policy("{not json"),
            "(MalformedPolicy) when calling the PutBucketPolicy operation",
        );
        refused(u, home, &put_policy(r#"{"Version":"2012-10-17"}"#), "(MalformedPolicy)");
        let policy =
            veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("evidence");
        ok(u, home, &put_policy(&policy));
        let got = json(&ok(u, home, &get_policy));
        assert_eq!(json(got["Policy"].as_str().unwrap()), json(&policy));
        ok(u, home, &["s3api", "delete-bucket-policy", "--bucket", "evidence"]);
        refused(u, home, &get_policy, "(NoSuchBucketPolicy)");

        // CreateTrail on a bucket without the documented policy: refused with AWS's message.
        let create = [
            "cloudtrail",
            "create-trail",
            "--name",
            "audit",
            "--s3-bucket-name",
            "evidence",
            "--enable-log-file-validation",
            "--kms-key-id",
            "alias/evidence",
            "--tags-list",
            "Key=team,Value=audit",
            "Key=env,Value=prod",
        ];
        refused(
            u,
            home,
            &create,
            "An error occurred (InsufficientS3BucketPolicyException) when calling the CreateTrail operation: Incorrect S3 bucket policy is detected for bucket: evidence",
        );
        ok(u, home, &put_policy(&policy));
        let trail = json(&ok(u, home, &create));
        let kms = "arn:aws:kms:us-east-1:000000000000:alias/evidence";
        assert_eq!(trail["KmsKeyId"], kms);
        let arn = trail["TrailARN"].as_str().unwrap().to_owned();
        let described = json(&ok(u, home, &["cloudtrail", "describe-trails"]));
        assert_eq!(described["trailList"][0]["KmsKeyId"], kms);
        let list_tags = ["cloudtrail", "list-tags", "--resource-id-list", arn.as_str()];
        assert_eq!(
            json(&ok(u, home, &list_tags))["ResourceTagList"][0]["TagsList"],
            serde_json::json!([{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "audit"}])
        );
        ok(
            u,
            home,
            &["cloudtrail", "add-tags", "--resource-id", &arn, "--tags-list", "Key=owner,Value=security"],
        );
        ok(
            u,
            home,
            &["cloudtrail", "remove-tags", "--resource-id", &arn, "--tags-list", "Key=env"],
        );
        assert_eq!(
            json(&ok(u, home, &list_tags))["ResourceTagList"][0]["TagsList"],
            serde_json::json!([{"Key": "owner", "Value": "security"}, {"Key": "team", "Value": "audit"}])
        );

        // Advanced event selectors: reported under their own name, and the trail has custom
        // selectors from then on.
        let get_trail = ["cloudtrail", "get-trail", "--name", "audit"];
        assert_eq!(json(&ok(u, home, &get_trail))["Trail"]["HasCustomEventSelectors"], false);
        let advanced = r#"[{"Name":"writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["false"]}]}]"#;
        ok(
            u,
            home,
            &["cloudtrail", "put-event-selectors", "--trail-name", "audit", "--advanced-event-selectors", advanced],
        );
        assert_eq!(json(&ok(u, home, &get_trail))["Trail"]["HasCustomEventSelectors"], true);
        let selectors =
            json(&ok(u, home, &["cloudtrail", "get-event-selectors", "--trail-name", "audit"]));
        assert_eq!(selectors["AdvancedEventSelectors"], json(advanced));
        assert!(selectors.get("EventSelectors").is_none(), "{selectors}");

        // UpdateTrail checks its new bucket as CreateTrail does.
        let move_to = |bucket: &'static str| {
            ["cloudtrail", "update-trail", "--name", "audit", "--s3-bucket-name", bucket]
        };
        refused(
            u,
            home,
            &move_to("no-such-bucket"),
            "(S3BucketDoesNotExistException) when calling the UpdateTrail operation: S3 bucket no-such-bucket does not exist.",
        );
        ok(u, home, &["s3api", "create-bucket", "--bucket", "unwritable"]);
        refused(u, home, &move_to("unwritable"), "(InsufficientS3BucketPolicyException)");

        // An hour of logging puts a digest in the bucket, signed with the emulator's first key.
        ok(u, home, &["cloudtrail", "start-logging", "--name", "audit"]);
        emulator.clock().advance(3_700_000).unwrap();
        // The first call after the jump delivers what fell due; the next one sees it.
        ok(u, home, &["cloudtrail", "get-trail-status", "--name", "audit"]);
        let status = json(&ok(u, home, &["cloudtrail", "get-trail-status", "--name", "audit"]));
        assert!(status["LatestDigestDeliveryTime"].is_number(), "{status}");

        // validate-logs over a range before the emulator's first key: as on AWS, it finds no
        // digests there (not "No public keys found").
        let out = command(
            u,
            home,
            &[
                "cloudtrail",
                "validate-logs",
                "--trail-arn",
                &arn,
                "--start-time",
                "2020-01-01T00:00:00Z",
                "--end-time",
                "2020-01-02T00:00:00Z",
            ],
        )
        .output()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        assert_eq!(
            stdout,
            format!(
                "Validating log files for trail {arn} between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z\n\n\
                 Results requested for 2020-01-01T00:00:00Z to 2020-01-02T00:00:00Z\n\
                 No digests found\n"
            )
        );
        assert!(!stderr.contains("No public keys"), "{stderr}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_names_each_operation_the_emulator_does_not_serve() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    with_cli(&emulator.url, "awscli-unserved", move |u, home| {
        ok(u, home, &["s3api", "create-bucket", "--bucket", "evidence"]);
        for (args, service, code, op) in [
            // Query protocol: an XML error the CLI reads (not "Unable to parse response").
            (&["iam", "list-users"][..], "iam", "InvalidAction", "ListUsers"),
            (&["autoscaling", "describe-auto-scaling-groups"], "autoscaling", "InvalidAction", "DescribeAutoScalingGroups"),
            (&["sns", "list-platform-applications"], "sns", "InvalidAction", "ListPlatformApplications"),
            (&["sqs", "list-message-move-tasks", "--source-arn", "arn:aws:sqs:us-east-1:000000000000:q"], "sqs", "UnknownOperationException", "ListMessageMoveTasks"),
            // JSON protocols.
            (&["events", "list-archives"], "events", "UnknownOperationException", "ListArchives"),
            (&["kinesis", "describe-limits"], "kinesis", "UnknownOperationException", "DescribeLimits"),
            (&["dynamodb", "list-tables"], "dynamodb", "UnknownOperationException", "ListTables"),
            (&["kms", "list-grants", "--key-id", "alias/none"], "kms", "UnknownOperationException", "ListGrants"),
            // Unserved operations of served services.
            (
                &["s3api", "get-bucket-replication", "--bucket", "evidence"],
                "s3",
                "NotImplemented",
                "GetBucketReplication",
            ),
            (&["cloudtrail", "list-channels"], "cloudtrail", "UnknownOperationException", "ListChannels"),
        ] {
            let stderr = failed(u, home, args);
            assert_eq!(
                stderr.trim(),
                format!(
                    "An error occurred ({code}) when calling the {op} operation: veritrail does not emulate the {service} operation {op} (see the emulator's COVERAGE.md)"
                ),
                "aws {}",
                args.join(" ")
            );
        }
    })
    .await;
}

/// The operation names of a service's API model, as the AWS CLI's botocore has them.
fn model_operations(service: &str) -> Vec<String> {
    let python = aws().with_file_name("python");
    assert!(
        python.is_file(),
        "no python beside {} to read botocore's models",
        aws().display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            "import json, sys, botocore.session\n\
             m = botocore.session.get_session().get_service_model(sys.argv[1])\n\
             print(json.dumps(sorted(m.operation_names)))",
            service,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_coverage_table_lists_every_operation_of_the_aws_cli_models() {
    use veritrail_emulator::ops::{
        CloudTrailOp, EventsOp, IamOp, KinesisOp, KmsOp, QldbOp, QldbSessionOp, S3Op,
        SecretsManagerOp, SnsOp, SqsOp, StsOp,
    };
    fn names<T: Copy>(served: &[T], not_served: &[T], name: fn(T) -> &'static str) -> Vec<String> {
        let mut all: Vec<String> = served
            .iter()
            .chain(not_served)
            .map(|o| name(*o).to_owned())
            .collect();
        all.sort();
        all
    }
    assert_eq!(
        names(
            CloudTrailOp::SERVED,
            CloudTrailOp::NOT_SERVED,
            CloudTrailOp::name
        ),
        model_operations("cloudtrail")
    );
    assert_eq!(
        names(S3Op::SERVED, S3Op::NOT_SERVED, S3Op::name),
        model_operations("s3")
    );
    assert_eq!(
        names(QldbOp::SERVED, QldbOp::NOT_SERVED, QldbOp::name),
        model_operations("qldb")
    );
    assert_eq!(
        names(
            QldbSessionOp::SERVED,
            QldbSessionOp::NOT_SERVED,
            QldbSessionOp::name
        ),
        model_operations("qldb-session")
    );
    assert_eq!(
        names(EventsOp::SERVED, EventsOp::NOT_SERVED, EventsOp::name),
        model_operations("events")
    );
    assert_eq!(
        names(SqsOp::SERVED, SqsOp::NOT_SERVED, SqsOp::name),
        model_operations("sqs")
    );
    assert_eq!(
        names(SnsOp::SERVED, SnsOp::NOT_SERVED, SnsOp::name),
        model_operations("sns")
    );
    assert_eq!(
        names(StsOp::SERVED, StsOp::NOT_SERVED, StsOp::name),
        model_operations("sts")
    );
    assert_eq!(
        names(IamOp::SERVED, IamOp::NOT_SERVED, IamOp::name),
        model_operations("iam")
    );
    assert_eq!(
        names(KmsOp::SERVED, KmsOp::NOT_SERVED, KmsOp::name),
        model_operations("kms")
    );
    assert_eq!(
        names(KinesisOp::SERVED, KinesisOp::NOT_SERVED, KinesisOp::name),
        model_operations("kinesis")
    );
    assert_eq!(
        names(
            SecretsManagerOp::SERVED,
            SecretsManagerOp::NOT_SERVED,
            SecretsManagerOp::name
        ),
        model_operations("secretsmanager")
    );
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_sts_iam_kms_secrets_manager_and_sse_kms() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    with_cli(&emulator.url, "awscli-iam-kms", move |u, home| {
        let me = json(&ok(u, home, &["sts", "get-caller-identity"]));
        assert_eq!(me["Account"], "000000000000");
        assert_eq!(me["Arn"], "arn:aws:iam::000000000000:user/AKIAVERITRAILTEST");
        let p = json(&ok(u, home, &["secretsmanager", "get-random-password", "--password-length", "24", "--exclude-punctuation"]));
        let p = p["RandomPassword"].as_str().unwrap();
        assert!(p.len() == 24 && p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
        let stderr = failed(u, home, &["secretsmanager", "get-random-password", "--password-length", "5000"]);
        assert!(stderr.contains("(ValidationException)"), "{stderr}");

        // IAM: botocore decodes the URL-encoded documents IAM answers with.
        let role = json(&ok(u, home, &["iam", "create-role", "--role-name", "processor", "--assume-role-policy-document", TRUST]));
        assert_eq!(role["Role"]["Arn"], "arn:aws:iam::000000000000:role/processor");
        let got = json(&ok(u, home, &["iam", "get-role", "--role-name", "processor"]));
        assert_eq!(got["Role"]["AssumeRolePolicyDocument"], json(TRUST));
        ok(u, home, &["iam", "attach-role-policy", "--role-name", "processor", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"]);
        let stderr = failed(u, home, &["iam", "attach-role-policy", "--role-name", "processor", "--policy-arn", "arn:aws:iam::aws:policy/Nope"]);
        assert!(stderr.contains("(NoSuchEntity) when calling the AttachRolePolicy operation: Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable."), "{stderr}");
        let stderr = failed(u, home, &["iam", "delete-role", "--role-name", "processor"]);
        assert!(stderr.contains("(DeleteConflict)"), "{stderr}");
        let listed = json(&ok(u, home, &["iam", "list-attached-role-policies", "--role-name", "processor"]));
        assert_eq!(listed["AttachedPolicies"][0]["PolicyName"], "ReadOnlyAccess");

        // KMS: encrypt and decrypt through files, as the CLI's users do.
        let key = json(&ok(u, home, &["kms", "create-key", "--description", "evidence"]));
        let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        ok(u, home, &["kms", "create-alias", "--alias-name", "alias/evidence", "--target-key-id", &id]);
        let plain = home.join("plain.txt");
        std::fs::write(&plain, "the auditors' secret").unwrap();
        let sealed = json(&ok(u, home, &["kms", "encrypt", "--key-id", "alias/evidence", "--plaintext", &format!("fileb://{}", plain.display()), "--encryption-context", "purpose=evidence"]));
        use base64::Engine as _;
        let blob = base64::engine::general_purpose::STANDARD.decode(sealed["CiphertextBlob"].as_str().unwrap()).unwrap();
        let blob_file = home.join("blob.bin");
        std::fs::write(&blob_file, &blob).unwrap();
        let blob_arg = format!("fileb://{}", blob_file.display());
        let opened = json(&ok(u, home, &["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--encryption-context", "purpose=evidence"]));
        let text = base64::engine::general_purpose::STANDARD.decode(opened["Plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(text, b"the auditors' secret");
        let stderr = failed(u, home, &["kms", "decrypt", "--ciphertext-blob", &blob_arg]);
        assert!(stderr.contains("(InvalidCiphertextException)"), "{stderr}");

        // S3 SSE-KMS with the same key; disabling it makes the object unreadable.
        ok(u, home, &["s3api", "create-bucket", "--bucket", "evidence"]);
        let put = json(&ok(u, home, &["s3api", "put-object", "--bucket", "evidence", "--key", "digest.json", "--body", &plain.display().to_string(), "--server-side-encryption", "aws:kms", "--ssekms-key-id", &id]));
        assert_eq!(put["ServerSideEncryption"], "aws:kms");
        assert_eq!(put["SSEKMSKeyId"], key["KeyMetadata"]["Arn"]);
        let out = home.join("out.txt");
        ok(u, home, &["s3api", "get-object", "--bucket", "evidence", "--key", "digest.json", &out.display().to_string()]);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "the auditors' secret");
        ok(u, home, &["kms", "disable-key", "--key-id", &id]);
        let stderr = failed(u, home, &["s3api", "get-object", "--bucket", "evidence", "--key", "digest.json", &out.display().to_string()]);
        assert!(stderr.contains("(KMS.DisabledException) when calling the GetObject operation"), "{stderr}");
        let described = json(&ok(u, home, &["kms", "describe-key", "--key-id", "alias/evidence"]));
        assert_eq!(described["KeyMetadata"]["KeyState"], "Disabled");
        let scheduled = json(&ok(u, home, &["kms", "schedule-key-deletion", "--key-id", &id, "--pending-window-in-days", "7"]));
        assert_eq!(scheduled["KeyState"], "PendingDeletion");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_sqs_and_sns() {
    let running = veritrail_scenarios::spawn().await.unwrap();
    let emulator = std::sync::Arc::clone(&running.emulator);
    with_cli(&running.url, "awscli-sqs-sns", move |u, home| {
        let q = json(&ok(u, home, &["sqs", "create-queue", "--queue-name", "alerts"]));
        let q = q["QueueUrl"].as_str().unwrap().to_owned();
        assert_eq!(q, format!("{u}/000000000000/alerts"));
        let arn = json(&ok(u, home, &["sqs", "get-queue-attributes", "--queue-url", &q, "--attribute-names", "QueueArn"]));
        let arn = arn["Attributes"]["QueueArn"].as_str().unwrap().to_owned();
        let t = json(&ok(u, home, &["sns", "create-topic", "--name", "security"]));
        let t = t["TopicArn"].as_str().unwrap().to_owned();
        ok(
            u,
            home,
            &[
                "sns", "subscribe", "--topic-arn", &t, "--protocol", "sqs", "--notification-endpoint", &arn,
                "--attributes", r#"{"RawMessageDelivery": "true", "FilterPolicy": "{\"severity\": [\"HIGH\"]}"}"#,
            ],
        );
        for severity in ["LOW", "HIGH"] {
            let attrs = format!(r#"{{"severity": {{"DataType": "String", "StringValue": "{severity}"}}}}"#);
            ok(u, home, &["sns", "publish", "--topic-arn", &t, "--message", &format!("{severity} alert"), "--message-attributes", &attrs]);
        }
        let got = json(&ok(u, home, &["sqs", "receive-message", "--queue-url", &q, "--max-number-of-messages", "10", "--message-attribute-names", "All", "--attribute-names", "All", "--visibility-timeout", "30"]));
        let messages = got["Messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "{got}");
        assert_eq!(messages[0]["Body"], "HIGH alert");
        assert_eq!(messages[0]["MessageAttributes"]["severity"]["StringValue"], "HIGH");
        // Not deleted: visible again once 30 seconds pass on the emulator's clock.
        let again = ok(u, home, &["sqs", "receive-message", "--queue-url", &q]);
        assert!(again.trim().is_empty(), "{again}");
        emulator.clock().advance(30_000).unwrap();
        let again = json(&ok(u, home, &["sqs", "receive-message", "--queue-url", &q, "--attribute-names", "ApproximateReceiveCount"]));
        assert_eq!(again["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "2");
        let handle = again["Messages"][0]["ReceiptHandle"].as_str().unwrap();
        ok(u, home, &["sqs", "delete-message", "--queue-url", &q, "--receipt-handle", handle]);

        // Redrive: after two receives the message moves to the dead-letter queue.
        let dlq = json(&ok(u, home, &["sqs", "create-queue", "--queue-name", "alerts-dead"]));
        let dlq = dlq["QueueUrl"].as_str().unwrap().to_owned();
        let policy = r#"{"RedrivePolicy": "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:alerts-dead\",\"maxReceiveCount\":\"2\"}", "VisibilityTimeout": "5"}"#;
        ok(u, home, &["sqs", "set-queue-attributes", "--queue-url", &q, "--attributes", policy]);
        ok(u, home, &["sqs", "send-message", "--queue-url", &q, "--message-body", "poison"]);
        for _ in 0..2 {
            let got = json(&ok(u, home, &["sqs", "receive-message", "--queue-url", &q]));
            assert_eq!(got["Messages"][0]["Body"], "poison");
            emulator.clock().advance(5_000).unwrap();
        }
        assert!(ok(u, home, &["sqs", "receive-message", "--queue-url", &q]).trim().is_empty());
        let dead = json(&ok(u, home, &["sqs", "receive-message", "--queue-url", &dlq]));
        assert_eq!(dead["Messages"][0]["Body"], "poison");

        // FIFO deduplication.
        let fifo = json(&ok(u, home, &["sqs", "create-queue", "--queue-name", "audit.fifo", "--attributes", "FifoQueue=true,ContentBasedDeduplication=true"]));
        let fifo = fifo["QueueUrl"].as_str().unwrap().to_owned();
        let send = ["sqs", "send-message", "--queue-url", fifo.as_str(), "--message-body", "once", "--message-group-id", "g"];
        let first = json(&ok(u, home, &send));
        let second = json(&ok(u, home, &send));
        assert_eq!(first["MessageId"], second["MessageId"]);

        // SQS's and SNS's errors, as the CLI prints them.
        let stderr = failed(u, home, &["sqs", "get-queue-url", "--queue-name", "nope"]);
        assert_eq!(stderr.trim(), "An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: The specified queue does not exist.");
        let stderr = failed(u, home, &["sns", "get-topic-attributes", "--topic-arn", "arn:aws:sns:us-east-1:000000000000:nope"]);
        assert_eq!(stderr.trim(), "An error occurred (NotFound) when calling the GetTopicAttributes operation: Topic does not exist");
        let big = home.join("big.txt");
        std::fs::write(&big, "x".repeat((1 << 20) + 1)).unwrap();
        let body = format!("file://{}", big.display());
        let stderr = failed(u, home, &["sqs", "send-message", "--queue-url", &q, "--message-body", &body]);
        assert_eq!(stderr.trim(), "An error occurred (InvalidParameterValue) when calling the SendMessage operation: One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.");
        let stderr = failed(u, home, &["sns", "publish", "--topic-arn", &t, "--message", "x", "--message-attributes", r#"{"bad name": {"DataType": "String", "StringValue": "v"}}"#]);
        assert!(stderr.contains("(ParameterValueInvalid)"), "{stderr}");
        let listed = json(&ok(u, home, &["sqs", "list-queues", "--queue-name-prefix", "alerts"]));
        assert_eq!(listed["QueueUrls"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_eventbridge() {
    let running = veritrail_scenarios::spawn().await.unwrap();
    with_cli(&running.url, "awscli-events", move |u, home| {
        let q = json(&ok(u, home, &["sqs", "create-queue", "--queue-name", "trail-alerts"]));
        let q = q["QueueUrl"].as_str().unwrap().to_owned();
        let arn = "arn:aws:sqs:us-east-1:000000000000:trail-alerts";
        // Even a failed attempt to stop a trail is worth an alert.
        let pattern = r#"{"source": ["aws.cloudtrail"], "detail": {"eventName": ["StopLogging"]}}"#;
        let rule = json(&ok(u, home, &["events", "put-rule", "--name", "trail-stopped", "--event-pattern", pattern]));
        assert_eq!(rule["RuleArn"], "arn:aws:events:us-east-1:000000000000:rule/trail-stopped");
        let targets = format!(
            r#"[{{"Id": "queue", "Arn": "{arn}", "InputTransformer": {{"InputPathsMap": {{"error": "$.detail.errorCode", "trail": "$.detail.requestParameters.name"}}, "InputTemplate": "{{\"trail\": \"<trail>\", \"error\": \"<error>\"}}"}}}}]"#
        );
        let put = json(&ok(u, home, &["events", "put-targets", "--rule", "trail-stopped", "--targets", &targets]));
        assert_eq!(put["FailedEntryCount"], 0);
        let stderr = failed(u, home, &["cloudtrail", "stop-logging", "--name", "payments"]);
        assert!(stderr.contains("(TrailNotFoundException)"), "{stderr}");
        let mut got = serde_json::Value::Null;
        for _ in 0..100 {
            let out = ok(u, home, &["sqs", "receive-message", "--queue-url", &q]);
            if !out.trim().is_empty() {
                got = json(&out);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let body = json(got["Messages"][0]["Body"].as_str().unwrap_or_else(|| panic!("no message: {got}")));
        assert_eq!(body, serde_json::json!({"trail": "payments", "error": "TrailNotFoundException"}));

        let rules = json(&ok(u, home, &["events", "list-rules", "--name-prefix", "trail"]));
        assert_eq!(rules["Rules"][0]["Name"], "trail-stopped");
        assert_eq!(rules["Rules"][0]["State"], "ENABLED");
        let by_target = json(&ok(u, home, &["events", "list-rule-names-by-target", "--target-arn", arn]));
        assert_eq!(by_target["RuleNames"], serde_json::json!(["trail-stopped"]));
        let tested = json(&ok(
            u,
            home,
            &[
                "events", "test-event-pattern", "--event-pattern", r#"{"source": [{"prefix": "aws."}]}"#,
                "--event", r#"{"id": "1", "account": "000000000000", "source": "aws.s3", "time": "2024-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail-type": "x", "detail": {}}"#,
            ],
        ));
        assert_eq!(tested["Result"], true);
        let put = json(&ok(u, home, &["events", "put-events", "--entries", r#"[{"Source": "shop", "DetailType": "order", "Detail": "{\"id\": 1}"}, {"Source": "shop", "DetailType": "order", "Detail": "not json"}]"#]));
        assert_eq!(put["FailedEntryCount"], 1);
        assert_eq!(put["Entries"][1]["ErrorCode"], "MalformedDetail");

        // EventBridge's errors, as the CLI prints them.
        let stderr = failed(u, home, &["events", "put-rule", "--name", "bad", "--event-pattern", r#"{"source": "aws.s3"}"#]);
        assert_eq!(
            stderr.trim(),
            r#"An error occurred (InvalidEventPatternException) when calling the PutRule operation: Event pattern is not valid. Reason: "source" must be an object or an array
 at [Source: (String)"{"source": "aws.s3"}"; line: 1, column: 13]"#
        );
        let stderr = failed(u, home, &["events", "delete-rule", "--name", "trail-stopped"]);
        assert_eq!(
            stderr.trim(),
            "An error occurred (ValidationException) when calling the DeleteRule operation: Rule can't be deleted since it has targets."
        );
        ok(u, home, &["events", "remove-targets", "--rule", "trail-stopped", "--ids", "queue"]);
        ok(u, home, &["events", "delete-rule", "--name", "trail-stopped"]);
        let stderr = failed(u, home, &["events", "describe-rule", "--name", "trail-stopped"]);
        assert!(stderr.contains("(ResourceNotFoundException)"), "{stderr}");
    })
    .await;
}
