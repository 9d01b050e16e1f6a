//! The first seed recipe as its user types it: the AWS CLI (awscli 1.40.45, only
//! `--endpoint-url` pointing at veritrail) names everything with Secrets Manager's random
//! password, makes the QLDB ledger (its tables through pyqldb, as the recipe's application
//! does), the KMS key, the evidence bucket with every setting, the CloudTrail trail with log
//! file validation and data events, the SNS alert topic with an SQS subscriber, and the
//! EventBridge rule that alerts when someone stops or deletes the trail; makes some activity,
//! lets an hour pass (the emulator's clock), validates the logs, reads the alert from the queue,
//! and cleans up as the recipe does: everything goes except the bucket, which S3 keeps while its
//! objects are under COMPLIANCE retention, and the key they are encrypted under.
//!
//! The recipe's steps that use services outside veritrail's scope (Lambda, Athena, CloudWatch
//! alarms, metric filters and dashboards, Firehose, AWS Config) are typed too, and fail with an
//! error in the service's own protocol naming the service and the operation (the README's "Out
//! of scope" table says what replaces each).

use std::process::Command;

use veritrail_core::time::{Clock as _, UtcMillis};

use crate::awscli::{failed, json, ok, with_cli};

/// UTC text to the second, as a user types it for `--start-time`.
fn utc(t: UtcMillis) -> String {
    UtcMillis(t.0 / 1000 * 1000)
        .to_string()
        .replace(".000Z", "Z")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_seed_recipe_sets_up_the_audit_trail_with_the_aws_cli_and_cleans_up() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let steered = std::sync::Arc::clone(&emulator.emulator);
    with_cli(&emulator.url, "awscli-seed-recipe", move |u, home| {
        let account = "000000000000";
        // 1. A random suffix names every resource.
        let suffix = ok(u, home, &[
            "secretsmanager", "get-random-password", "--password-length", "8",
            "--exclude-punctuation", "--exclude-uppercase", "--require-each-included-type",
            "--query", "RandomPassword", "--output", "text",
        ]);
        let suffix = suffix.trim().to_owned();
        assert_eq!(suffix.len(), 8, "{suffix:?}");
        assert!(suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{suffix}");
        let ledger = format!("audit-{suffix}");
        let bucket = format!("audit-evidence-{suffix}");
        let trail = format!("audit-trail-{suffix}");
        let topic = format!("audit-alerts-{suffix}");
        let queue = format!("audit-alerts-inbox-{suffix}");
        let rule = format!("protect-trail-{suffix}");
        let start = utc(steered.clock().now());

        // 2. The ledger, with deletion protection, ACTIVE; its tables and an index.
        let created = json(&ok(u, home, &[
            "qldb", "create-ledger", "--name", &ledger, "--permissions-mode", "STANDARD",
            "--deletion-protection",
        ]));
        assert_eq!(created["DeletionProtection"], true);
        let mut state = String::new();
        for _ in 0..50 {
            let d = json(&ok(u, home, &["qldb", "describe-ledger", "--name", &ledger]));
            state = d["State"].as_str().unwrap_or_default().to_owned();
            if state == "ACTIVE" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(state, "ACTIVE");
        let tables = Command::new(crate::drivers::python())
            .args(["-c", TABLES, u, &ledger])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&tables.stdout);
        assert!(
            tables.status.success() && out.contains("tables: ok"),
            "{out}\n{}",
            String::from_utf8_lossy(&tables.stderr)
        );

        // 3. The key the bucket and the trail encrypt with, rotating, with an alias.
        let key = json(&ok(u, home, &[
            "kms", "create-key", "--description", &format!("audit evidence {suffix}"),
        ]));
        let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        ok(u, home, &["kms", "enable-key-rotation", "--key-id", &key_id]);
        ok(u, home, &[
            "kms", "create-alias", "--alias-name", &format!("alias/audit-{suffix}"),
            "--target-key-id", &key_id,
        ]);

        // 4. The evidence bucket: Object Lock, versioning, COMPLIANCE for a year, SSE-KMS,
        // no public access, CloudTrail's bucket policy.
        ok(u, home, &["s3api", "create-bucket", "--bucket", &bucket, "--object-lock-enabled-for-bucket"]);
        ok(u, home, &[
            "s3api", "put-bucket-versioning", "--bucket", &bucket,
            "--versioning-configuration", "Status=Enabled",
        ]);
        ok(u, home, &[
            "s3api", "put-object-lock-configuration", "--bucket", &bucket,
            "--object-lock-configuration",
            r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":365}}}"#,
        ]);
        let encryption = serde_json::json!({"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": true,
        }]});
        ok(u, home, &[
            "s3api", "put-bucket-encryption", "--bucket", &bucket,
            "--server-side-encryption-configuration", &encryption.to_string(),
        ]);
        ok(u, home, &[
            "s3api", "put-public-access-block", "--bucket", &bucket,
            "--public-access-block-configuration",
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        ]);
        let trail_arn = format!("arn:aws:cloudtrail:us-east-1:{account}:trail/{trail}");
        let bucket_policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
                 "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "s3:GetBucketAcl", "Resource": format!("arn:aws:s3:::{bucket}"),
                 "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}},
                {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
                 "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "s3:PutObject",
                 "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{account}/*"),
                 "Condition": {"StringEquals": {
                     "s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}}}
            ]
        });
        ok(u, home, &["s3api", "put-bucket-policy", "--bucket", &bucket, "--policy", &bucket_policy.to_string()]);

        // 5. The trail: multi-region, validated, encrypted; management events and the bucket's
        // object writes; logging.
        let made = json(&ok(u, home, &[
            "cloudtrail", "create-trail", "--name", &trail, "--s3-bucket-name", &bucket,
            "--is-multi-region-trail", "--enable-log-file-validation", "--kms-key-id", &key_arn,
        ]));
        assert_eq!(made["TrailARN"], trail_arn.as_str());
        assert_eq!(made["LogFileValidationEnabled"], true);
        assert_eq!(made["IsMultiRegionTrail"], true);
        let selectors = format!(
            r#"[{{"ReadWriteType":"All","IncludeManagementEvents":true}},{{"ReadWriteType":"WriteOnly","IncludeManagementEvents":false,"DataResources":[{{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::{bucket}/"]}}]}}]"#
        );
        ok(u, home, &["cloudtrail", "put-event-selectors", "--trail-name", &trail, "--event-selectors", &selectors]);
        ok(u, home, &["cloudtrail", "start-logging", "--name", &trail]);

        // 6. The alert topic, EventBridge allowed to publish, an SQS queue subscribed.
        let topic_arn = json(&ok(u, home, &["sns", "create-topic", "--name", &topic]))["TopicArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let topic_policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "EventBridgePublishes", "Effect": "Allow",
                           "Principal": {"Service": "events.amazonaws.com"},
                           "Action": "sns:Publish", "Resource": topic_arn}]
        });
        ok(u, home, &[
            "sns", "set-topic-attributes", "--topic-arn", &topic_arn, "--attribute-name", "Policy",
            "--attribute-value", &topic_policy.to_string(),
        ]);
        let queue_url = json(&ok(u, home, &["sqs", "create-queue", "--queue-name", &queue]))["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let queue_arn = json(&ok(u, home, &[
            "sqs", "get-queue-attributes", "--queue-url", &queue_url, "--attribute-names", "QueueArn",
        ]))["Attributes"]["QueueArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let queue_policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "TopicSends", "Effect": "Allow",
                           "Principal": {"Service": "sns.amazonaws.com"},
                           "Action": "sqs:SendMessage", "Resource": queue_arn,
                           "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]
        });
        ok(u, home, &[
            "sqs", "set-queue-attributes", "--queue-url", &queue_url, "--attributes",
            &serde_json::json!({"Policy": queue_policy.to_string()}).to_string(),
        ]);
        let subscribed = json(&ok(u, home, &[
            "sns", "subscribe", "--topic-arn", &topic_arn, "--protocol", "sqs",
            "--notification-endpoint", &queue_arn, "--return-subscription-arn",
        ]));
        assert!(subscribed["SubscriptionArn"].as_str().unwrap().starts_with(&topic_arn));

        // 7. The rule: StopLogging, DeleteTrail or UpdateTrail on any trail alerts the topic.
        let pattern = r#"{"source":["aws.cloudtrail"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["cloudtrail.amazonaws.com"],"eventName":["StopLogging","DeleteTrail","UpdateTrail"]}}"#;
        ok(u, home, &[
            "events", "put-rule", "--name", &rule, "--event-pattern", pattern, "--state", "ENABLED",
            "--description", "Alert when the audit trail is stopped, deleted or weakened",
        ]);
        let targets = json(&ok(u, home, &[
            "events", "put-targets", "--rule", &rule, "--targets",
            &format!("Id=alerts,Arn={topic_arn}"),
        ]));
        assert_eq!(targets["FailedEntryCount"], 0);

        // 8. Activity: a record written to the bucket, and the trail stopped and started again.
        let note = home.join("note.json");
        std::fs::write(&note, br#"{"note":"quarterly access review"}"#).unwrap();
        let put = json(&ok(u, home, &[
            "s3api", "put-object", "--bucket", &bucket, "--key", "reviews/q1.json", "--body",
            note.to_str().unwrap(),
        ]));
        let version = put["VersionId"].as_str().unwrap().to_owned();
        ok(u, home, &["cloudtrail", "stop-logging", "--name", &trail]);
        ok(u, home, &["cloudtrail", "start-logging", "--name", &trail]);

        // 9. An hour later the log files and a digest are in the bucket, and validate-logs passes.
        steered.clock().advance(3_900_000).unwrap();
        // The first call after the jump delivers what fell due.
        let status = json(&ok(u, home, &["cloudtrail", "get-trail-status", "--name", &trail]));
        assert_eq!(status["IsLogging"], true);
        let validated = ok(u, home, &[
            "cloudtrail", "validate-logs", "--trail-arn", &trail_arn, "--start-time", &start,
        ]);
        assert!(validated.contains("digest files valid"), "{validated}");
        assert!(validated.contains("log files valid"), "{validated}");
        assert!(!validated.contains("INVALID"), "{validated}");

        // 10. The alert is in the queue: the StopLogging call, through EventBridge and SNS.
        let received = json(&ok(u, home, &[
            "sqs", "receive-message", "--queue-url", &queue_url, "--max-number-of-messages", "10",
            "--wait-time-seconds", "1",
        ]));
        let stops: Vec<serde_json::Value> = received["Messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| json(m["Body"].as_str().unwrap()))
            .filter(|n| n["TopicArn"] == topic_arn.as_str())
            .map(|n| json(n["Message"].as_str().unwrap()))
            .filter(|e| e["detail"]["eventName"] == "StopLogging")
            .collect();
        assert_eq!(stops.len(), 1, "{received}");
        assert_eq!(stops[0]["detail"]["requestParameters"]["name"], trail.as_str());

        // 11. Out of veritrail's scope: each fails in its protocol's shape, naming the service
        // and the operation.
        let zip = home.join("function.zip");
        std::fs::write(&zip, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
        let zip = format!("fileb://{}", zip.display());
        let out = home.join("out.json");
        for (args, code, operation, service, served_as) in [
            (
                vec!["lambda", "create-function", "--function-name", "alert-forwarder", "--runtime", "python3.12",
                     "--role", "arn:aws:iam::000000000000:role/alert-forwarder", "--handler", "index.handler",
                     "--zip-file", &zip],
                "UnknownOperationException", "CreateFunction", "lambda", "POST /2015-03-31/functions",
            ),
            (
                vec!["lambda", "invoke", "--function-name", "alert-forwarder", out.to_str().unwrap()],
                "UnknownOperationException", "Invoke", "lambda",
                "POST /2015-03-31/functions/alert-forwarder/invocations",
            ),
            (
                vec!["athena", "start-query-execution", "--query-string", "SELECT count(*) FROM cloudtrail_logs",
                     "--result-configuration", "OutputLocation=s3://athena-results/"],
                "UnknownOperationException", "StartQueryExecution", "athena", "StartQueryExecution",
            ),
            (
                vec!["logs", "put-metric-filter", "--log-group-name", "audit", "--filter-name", "trail-changes",
                     "--filter-pattern", "{ ($.eventName = StopLogging) }", "--metric-transformations",
                     "metricName=TrailChanges,metricNamespace=Audit,metricValue=1"],
                "UnknownOperationException", "PutMetricFilter", "logs", "PutMetricFilter",
            ),
            (
                vec!["cloudwatch", "put-metric-alarm", "--alarm-name", "trail-changes", "--metric-name", "TrailChanges",
                     "--namespace", "Audit", "--statistic", "Sum", "--period", "300", "--threshold", "1",
                     "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1",
                     "--alarm-actions", &topic_arn],
                "", "PutMetricAlarm", "monitoring", "PutMetricAlarm",
            ),
            (
                vec!["cloudwatch", "put-dashboard", "--dashboard-name", "audit", "--dashboard-body", r#"{"widgets":[]}"#],
                "", "PutDashboard", "monitoring", "PutDashboard",
            ),
            (
                vec!["firehose", "create-delivery-stream", "--delivery-stream-name", "audit-archive",
                     "--s3-destination-configuration",
                     &format!("RoleARN=arn:aws:iam::000000000000:role/firehose,BucketARN=arn:aws:s3:::{bucket}")],
                "UnknownOperationException", "CreateDeliveryStream", "firehose", "CreateDeliveryStream",
            ),
            (
                vec!["configservice", "put-config-rule", "--config-rule",
                     r#"{"ConfigRuleName":"cloudtrail-enabled","Source":{"Owner":"AWS","SourceIdentifier":"CLOUD_TRAIL_ENABLED"}}"#],
                "UnknownOperationException", "PutConfigRule", "config", "PutConfigRule",
            ),
        ] {
            let stderr = failed(u, home, &args);
            let code = if code.is_empty() { "InvalidAction" } else { code };
            assert_eq!(
                stderr.trim(),
                format!(
                    "An error occurred ({code}) when calling the {operation} operation: veritrail does not emulate the {service} operation {served_as} (see the emulator's COVERAGE.md)"
                ),
                "aws {}",
                args.join(" ")
            );
        }

        // 12. Cleanup, as the recipe does it.
        ok(u, home, &["cloudtrail", "delete-trail", "--name", &trail]);
        ok(u, home, &["events", "remove-targets", "--rule", &rule, "--ids", "alerts"]);
        ok(u, home, &["events", "delete-rule", "--name", &rule]);
        ok(u, home, &["sns", "delete-topic", "--topic-arn", &topic_arn]);
        ok(u, home, &["sqs", "delete-queue", "--queue-url", &queue_url]);
        let protected = failed(u, home, &["qldb", "delete-ledger", "--name", &ledger]);
        assert!(protected.contains("(ResourcePreconditionNotMetException)"), "{protected}");
        ok(u, home, &["qldb", "update-ledger", "--name", &ledger, "--no-deletion-protection"]);
        ok(u, home, &["qldb", "delete-ledger", "--name", &ledger]);
        // The bucket stays: its objects are under COMPLIANCE retention for a year.
        let rb = crate::awscli::command(u, home, &["s3", "rb", &format!("s3://{bucket}"), "--force"])
            .output()
            .unwrap();
        let rb_err = String::from_utf8_lossy(&rb.stderr);
        assert_ne!(rb.status.code(), Some(0), "{rb_err}");
        assert!(
            rb_err.contains(&format!(
                "remove_bucket failed: s3://{bucket} An error occurred (BucketNotEmpty) when calling the DeleteBucket operation: The bucket you tried to delete is not empty"
            )),
            "{rb_err}"
        );
        let locked = failed(u, home, &[
            "s3api", "delete-object", "--bucket", &bucket, "--key", "reviews/q1.json", "--version-id", &version,
        ]);
        assert!(locked.contains("(AccessDenied)"), "{locked}");
        // The key stays too: the retained objects are encrypted under it, and a key scheduled
        // for deletion would make them unreadable.
        let key = json(&ok(u, home, &["kms", "describe-key", "--key-id", &key_id]));
        assert_eq!(key["KeyMetadata"]["KeyState"], "Enabled");
    })
    .await;
}

/// The recipe's tables, made by its application through pyqldb: the audit events and the
/// reviews of them, indexed, with one document each.
const TABLES: &str = r#"
import sys
from pyqldb.driver.qldb_driver import QldbDriver
url, ledger = sys.argv[1:3]
driver = QldbDriver(ledger, region_name="us-east-1", endpoint_url=url,
                    aws_access_key_id="AKIDPYQLDB", aws_secret_access_key="secret")
for table in ["AuditEvents", "Reviews"]:
    driver.execute_lambda(lambda t, table=table: t.execute_statement("CREATE TABLE " + table))
driver.execute_lambda(lambda t: t.execute_statement("CREATE INDEX ON AuditEvents (eventID)"))
driver.execute_lambda(lambda t: t.execute_statement("CREATE INDEX ON Reviews (eventID)"))
driver.execute_lambda(lambda t: t.execute_statement(
    "INSERT INTO AuditEvents ?", {"eventID": "e-1", "eventName": "StopLogging"}))
driver.execute_lambda(lambda t: t.execute_statement(
    "INSERT INTO Reviews ?", {"eventID": "e-1", "by": "security", "verdict": "expected"}))
names = sorted(driver.list_tables())
assert names == ["AuditEvents", "Reviews"], names
print("tables: ok")
"#;
