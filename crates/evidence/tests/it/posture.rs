//! Each check judged on a snapshot where everything is in place, then with one thing broken:
//! exactly that check changes, and a failed call is ERROR, never PASS.

use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;
use veritrail_evidence::posture::{
    Call, CheckResult, Policy, Snapshot, Status, expected_rules, judge,
};

pub const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:000000000000:trail/veritrail";
pub const BUCKET: &str = "evidence";
pub const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:veritrail-alerts";
pub const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:veritrail-audit";
/// 2026-01-02T00:00:00Z
pub const NOW: UtcMillis = UtcMillis(1_767_312_000_000);

fn secs(t: UtcMillis) -> f64 {
    t.0 as f64 / 1000.0
}

/// A snapshot of an architecture that passes every check.
pub fn healthy() -> Snapshot {
    let rules = expected_rules().unwrap();
    let mut s = Snapshot {
        region: "us-east-1".into(),
        wanted_trail: None,
        ledger: Some("audit".into()),
        calls: Vec::new(),
    };
    let mut ok = |call: &str, target: &str, v: Value| s.calls.push(Call::ok(call, target, v));
    ok(
        "cloudtrail:DescribeTrails",
        "",
        json!({"trailList": [{"Name": "veritrail", "TrailARN": TRAIL, "S3BucketName": BUCKET, "IsMultiRegionTrail": true, "LogFileValidationEnabled": true}]}),
    );
    ok(
        "cloudtrail:GetTrailStatus",
        TRAIL,
        json!({"IsLogging": true, "LatestDeliveryError": null, "LatestDeliveryTime": secs(NOW) - 600.0, "LatestDigestDeliveryError": null}),
    );
    ok(
        "cloudtrail:GetEventSelectors",
        TRAIL,
        json!({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [{"Type": "AWS::S3::Object", "Values": [format!("arn:aws:s3:::{BUCKET}/")]}]}], "AdvancedEventSelectors": []}),
    );
    ok(
        "s3:GetBucketVersioning",
        BUCKET,
        json!({"Status": "Enabled"}),
    );
    ok(
        "s3:GetObjectLockConfiguration",
        BUCKET,
        json!({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}}}}),
    );
    ok(
        "s3:GetBucketEncryption",
        BUCKET,
        json!({"ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}}]}}),
    );
    ok(
        "kms:DescribeKey",
        KEY,
        json!({"KeyMetadata": {"KeyId": KEY, "KeyState": "Enabled"}}),
    );
    ok(
        "kms:GetKeyRotationStatus",
        KEY,
        json!({"KeyRotationEnabled": true}),
    );
    ok(
        "s3:GetPublicAccessBlock",
        BUCKET,
        json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
    );
    let cloudtrail_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::evidence/AWSLogs/*"}]});
    ok(
        "s3:GetBucketPolicy",
        BUCKET,
        json!({"Policy": cloudtrail_policy.to_string()}),
    );
    let deployed: Vec<Value> = rules
        .iter()
        .map(|r| json!({"Name": format!("vt-{}", r.id), "State": "ENABLED", "EventPattern": r.pattern.to_string()}))
        .collect();
    ok("events:ListRules", "default", json!({"Rules": deployed}));
    for r in &rules {
        ok(
            "events:ListTargetsByRule",
            &format!("vt-{}", r.id),
            json!({"Targets": [{"Id": "q", "Arn": QUEUE}]}),
        );
    }
    ok(
        "sqs:GetQueueAttributes",
        QUEUE,
        json!({"Attributes": {"QueueArn": QUEUE}}),
    );
    ok(
        "sns:ListTopics",
        "",
        json!({"Topics": [{"TopicArn": TOPIC}]}),
    );
    ok(
        "sns:GetTopicAttributes",
        TOPIC,
        json!({"Attributes": {"TopicArn": TOPIC}}),
    );
    ok(
        "sns:ListSubscriptionsByTopic",
        TOPIC,
        json!({"Subscriptions": [{"SubscriptionArn": format!("{TOPIC}:1"), "Protocol": "sqs", "Endpoint": QUEUE}]}),
    );
    ok(
        "veritrail:ValidateLogs",
        TRAIL,
        json!({"valid": true, "digests": {"valid": 3, "invalid": 0}, "summary": "Results requested for …\n3/3 digest files valid\n"}),
    );
    ok(
        "veritrail:LedgerVerify",
        "audit",
        json!({"verified": true, "blocks": 10, "digest": "abc=", "checkpointSize": 10}),
    );
    ok(
        "veritrail:LatestCheckpoint",
        "audit",
        json!({"size": 10, "time": "2026-01-01T12:00:00.000Z"}),
    );
    s
}

pub fn run(s: &Snapshot, policy: &Policy) -> Vec<CheckResult> {
    judge(s, policy, &expected_rules().unwrap(), NOW)
}

/// The ids of the checks that are not PASS, with their status.
fn not_passing(s: &Snapshot, policy: &Policy) -> Vec<(String, Status)> {
    run(s, policy)
        .into_iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| (r.id.to_owned(), r.status))
        .collect()
}

fn set(s: &mut Snapshot, call: &str, target: &str, v: Value) {
    let c = s
        .calls
        .iter_mut()
        .find(|c| c.call == call && c.target == target)
        .unwrap();
    c.outcome = Ok(v);
}

fn fails_only(s: &Snapshot, id: &str) {
    assert_eq!(
        not_passing(s, &Policy::default()),
        [(id.to_owned(), Status::Fail)],
        "{:#?}",
        run(s, &Policy::default())
            .iter()
            .filter(|r| r.status != Status::Pass)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_healthy_architecture_passes_every_check_with_its_evidence() {
    let results = run(&healthy(), &Policy::default());
    assert_eq!(results.len(), 17);
    for r in &results {
        assert_eq!(r.status, Status::Pass, "{}: {}", r.id, r.reason);
        assert!(!r.evidence.is_empty(), "{} judged no call", r.id);
        assert!(!r.requirements.is_empty(), "{} supports nothing", r.id);
    }
    let ids: Vec<&str> = results.iter().map(|r| r.id).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}

#[test]
fn each_break_fails_exactly_its_check() {
    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:DescribeTrails",
        "",
        json!({"trailList": [{"Name": "veritrail", "TrailARN": TRAIL, "S3BucketName": BUCKET, "IsMultiRegionTrail": true, "LogFileValidationEnabled": false}]}),
    );
    fails_only(&s, "trail.log_file_validation");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:DescribeTrails",
        "",
        json!({"trailList": [{"Name": "veritrail", "TrailARN": TRAIL, "S3BucketName": BUCKET, "IsMultiRegionTrail": false, "LogFileValidationEnabled": true}]}),
    );
    fails_only(&s, "trail.multi_region");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:GetTrailStatus",
        TRAIL,
        json!({"IsLogging": false, "LatestDeliveryTime": secs(NOW) - 600.0}),
    );
    fails_only(&s, "trail.logging");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:GetTrailStatus",
        TRAIL,
        json!({"IsLogging": true, "LatestDeliveryTime": secs(NOW) - 600.0, "LatestDeliveryError": "AccessDenied"}),
    );
    fails_only(&s, "trail.recent_delivery");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:GetTrailStatus",
        TRAIL,
        json!({"IsLogging": true, "LatestDeliveryTime": secs(NOW) - 2.0 * 86_400.0}),
    );
    fails_only(&s, "trail.recent_delivery");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:GetEventSelectors",
        TRAIL,
        json!({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]}),
    );
    fails_only(&s, "trail.management_events");

    let mut s = healthy();
    set(
        &mut s,
        "cloudtrail:GetEventSelectors",
        TRAIL,
        json!({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::other/"]}]}]}),
    );
    fails_only(&s, "trail.data_events");

    let mut s = healthy();
    set(
        &mut s,
        "s3:GetBucketVersioning",
        BUCKET,
        json!({"Status": "Suspended"}),
    );
    fails_only(&s, "bucket.versioning");

    let mut s = healthy();
    set(
        &mut s,
        "s3:GetObjectLockConfiguration",
        BUCKET,
        json!({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 400}}}}),
    );
    fails_only(&s, "bucket.object_lock_compliance");

    let mut s = healthy();
    set(
        &mut s,
        "s3:GetObjectLockConfiguration",
        BUCKET,
        json!({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 364}}}}),
    );
    fails_only(&s, "bucket.object_lock_compliance");

    let mut s = healthy();
    set(
        &mut s,
        "kms:GetKeyRotationStatus",
        KEY,
        json!({"KeyRotationEnabled": false}),
    );
    fails_only(&s, "bucket.sse_kms_rotating");

    let mut s = healthy();
    set(
        &mut s,
        "s3:GetBucketEncryption",
        BUCKET,
        json!({"ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}),
    );
    fails_only(&s, "bucket.sse_kms_rotating");

    let mut s = healthy();
    set(
        &mut s,
        "s3:GetPublicAccessBlock",
        BUCKET,
        json!({"PublicAccessBlockConfiguration": null}),
    );
    fails_only(&s, "bucket.public_access_blocked");

    let mut s = healthy();
    let open = json!({"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:Get*", "s3:Delete*"], "Resource": "*"}]});
    set(
        &mut s,
        "s3:GetBucketPolicy",
        BUCKET,
        json!({"Policy": open.to_string()}),
    );
    fails_only(&s, "bucket.no_public_delete");

    let mut s = healthy();
    set(
        &mut s,
        "sns:ListSubscriptionsByTopic",
        TOPIC,
        json!({"Subscriptions": [{"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "a@example.com"}]}),
    );
    fails_only(&s, "monitoring.alert_topic");

    let mut s = healthy();
    set(
        &mut s,
        "veritrail:ValidateLogs",
        TRAIL,
        json!({"valid": false, "digests": {"valid": 3, "invalid": 0}, "summary": "1/3 log files INVALID"}),
    );
    fails_only(&s, "integrity.validate_logs");

    let mut s = healthy();
    set(
        &mut s,
        "veritrail:LedgerVerify",
        "audit",
        json!({"verified": false, "check": "block", "reason": "block 3: hash mismatch"}),
    );
    fails_only(&s, "integrity.ledger");

    let mut s = healthy();
    set(
        &mut s,
        "veritrail:LatestCheckpoint",
        "audit",
        json!({"size": 10, "time": "2025-12-30T00:00:00.000Z"}),
    );
    fails_only(&s, "integrity.checkpoint_fresh");
}

#[test]
fn a_deleted_or_disabled_rule_fails_the_rules_check_only() {
    let mut s = healthy();
    let list = s
        .get("events:ListRules", "default")
        .unwrap()
        .outcome
        .clone()
        .unwrap();
    let mut rules = list["Rules"].as_array().unwrap().clone();
    let removed = rules.remove(3);
    set(
        &mut s,
        "events:ListRules",
        "default",
        json!({"Rules": rules.clone()}),
    );
    fails_only(&s, "monitoring.rules");
    let reason = run(&s, &Policy::default())
        .into_iter()
        .find(|r| r.id == "monitoring.rules")
        .unwrap()
        .reason;
    let expected = &expected_rules().unwrap()[3];
    assert!(reason.contains(&expected.id), "{reason}");

    let mut disabled = removed.clone();
    disabled["State"] = json!("DISABLED");
    rules.insert(3, disabled);
    set(
        &mut s,
        "events:ListRules",
        "default",
        json!({"Rules": rules}),
    );
    fails_only(&s, "monitoring.rules");
}

#[test]
fn a_failed_call_is_an_error_never_a_pass() {
    let mut s = healthy();
    let c = s
        .calls
        .iter_mut()
        .find(|c| c.call == "kms:GetKeyRotationStatus")
        .unwrap();
    c.outcome =
        Err("AccessDeniedException: not authorized to perform kms:GetKeyRotationStatus".into());
    let results = run(&s, &Policy::default());
    let r = results
        .iter()
        .find(|r| r.id == "bucket.sse_kms_rotating")
        .unwrap();
    assert_eq!(r.status, Status::Error);
    assert!(r.reason.contains("AccessDenied"), "{}", r.reason);
    assert_eq!(not_passing(&s, &Policy::default()).len(), 1);

    // A call never made (an API the account lacks, a collector that stopped) is an error too.
    let mut s = healthy();
    s.calls.retain(|c| c.call != "sqs:GetQueueAttributes");
    let results = run(&s, &Policy::default());
    let r = results
        .iter()
        .find(|r| r.id == "monitoring.targets")
        .unwrap();
    assert_ne!(r.status, Status::Pass, "{}", r.reason);

    // DescribeTrails failing leaves every trail-based check ERROR.
    let mut s = healthy();
    s.calls[0].outcome = Err("UnrecognizedClientException".into());
    for r in run(&s, &Policy::default()) {
        if r.id.starts_with("trail.") || r.id == "integrity.validate_logs" {
            assert_eq!(r.status, Status::Error, "{}", r.id);
        }
    }
}

#[test]
fn the_policy_sets_retention_and_the_buckets_judged() {
    let s = healthy();
    let seven_years = Policy {
        retention_months: 84,
        ..Policy::default()
    };
    assert_eq!(
        not_passing(&s, &seven_years),
        [("bucket.object_lock_compliance".to_owned(), Status::Fail)]
    );
    // A second evidence bucket nobody collected is an error for every bucket check, and no
    // data events are recorded for it.
    let two = Policy {
        evidence_buckets: vec![BUCKET.into(), "other".into()],
        ..Policy::default()
    };
    let np = not_passing(&s, &two);
    assert!(
        np.contains(&("trail.data_events".to_owned(), Status::Fail)),
        "{np:?}"
    );
    assert!(
        np.contains(&("bucket.versioning".to_owned(), Status::Error)),
        "{np:?}"
    );
}

#[test]
fn check_json_is_stable() {
    let s = healthy();
    let policy = Policy::default();
    let results = run(&s, &policy);
    let target = veritrail_evidence::posture::target_of(&s, &policy, Some("audit"));
    let v = veritrail_evidence::posture::results_json(&results, &target, &policy, NOW);
    assert_eq!(v["generatedAt"], "2026-01-02T00:00:00.000Z");
    assert_eq!(v["target"]["trail"], TRAIL);
    assert_eq!(v["target"]["evidenceBuckets"], json!([BUCKET]));
    assert_eq!(v["summary"], json!({"pass": 17, "fail": 0, "error": 0}));
    let c = &v["checks"][0];
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "title",
            "status",
            "reason",
            "requirements",
            "evidence"
        ]
    );
    assert_eq!(
        c["requirements"][0],
        json!({"framework": "PCI DSS v4.0.1", "requirement": "10.2.1"})
    );
    assert_eq!(c["evidence"][0]["call"], "cloudtrail:DescribeTrails");
    assert!(c["evidence"][0]["response"]["trailList"].is_array());
}

#[test]
fn the_collector_makes_only_read_calls() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/posture/collect.rs"),
    )
    .unwrap();
    // SDK operations are snake_case methods; every one the collector calls must read.
    let mutating = [
        ".put_",
        ".create_",
        ".delete_",
        ".update_",
        ".start_logging(",
        ".stop_logging(",
        ".enable_key",
        ".disable_key",
        ".schedule_",
        ".cancel_",
        ".tag_",
        ".untag_",
        ".remove_",
        ".subscribe(",
        ".unsubscribe(",
        ".publish(",
        ".send_message",
        ".purge_",
        ".restore_",
        ".set_queue_",
        ".set_topic_",
        ".add_",
        ".register_",
        ".deregister_",
    ];
    for m in mutating {
        assert!(
            !source.contains(m),
            "collect.rs calls {m}…: posture collection must only read"
        );
    }
    let reads = [
        ".describe_trails()",
        ".get_trail_status()",
        ".get_event_selectors()",
        ".get_bucket_versioning()",
        ".get_object_lock_configuration()",
        ".get_bucket_encryption()",
        ".get_public_access_block()",
        ".get_bucket_policy()",
        ".describe_key()",
        ".get_key_rotation_status()",
        ".list_rules()",
        ".list_targets_by_rule()",
        ".get_queue_url()",
        ".get_queue_attributes()",
        ".get_topic_attributes()",
        ".list_topics()",
        ".list_subscriptions_by_topic()",
    ];
    for r in reads {
        assert!(source.contains(r), "collect.rs no longer calls {r}");
    }
}
