//! The policy documents the plan sets: the evidence bucket's (CloudTrail's documented policy,
//! for this trail only), the queue's (EventBridge sends, from this prefix's rules only), the
//! alerts inbox's (SNS sends, from this prefix's topic only), the key's (the account
//! administers, CloudTrail encrypts this trail's files), and the processor role's trust and
//! least-privilege policies.

use serde_json::{Value, json};

use crate::config::Names;

/// The evidence bucket's policy: CloudTrail may read its ACL and write under
/// `AWSLogs/<account>/`, for this trail only; nothing else is granted.
pub fn bucket(n: &Names) -> Value {
    let bucket = n.bucket_arn();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": bucket,
             "Condition": {"StringEquals": {"aws:SourceArn": n.trail_arn()}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": format!("{bucket}/AWSLogs/{}/*", n.account),
             "Condition": {"StringEquals": {
                 "s3:x-amz-acl": "bucket-owner-full-control",
                 "aws:SourceArn": n.trail_arn()}}}
        ]
    })
}

/// The queue's policy: EventBridge may send from this prefix's rules.
pub fn queue(n: &Names) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "EventBridgeSends", "Effect": "Allow",
             "Principal": {"Service": "events.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": n.queue_arn(),
             "Condition": {"ArnLike": {"aws:SourceArn": n.rule_arn_pattern()}}}
        ]
    })
}

/// The alerts inbox's policy: SNS may send from this prefix's alert topic only.
pub fn alerts_inbox(n: &Names) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AlertTopicSends", "Effect": "Allow",
             "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": n.alerts_inbox_arn(),
             "Condition": {"ArnEquals": {"aws:SourceArn": n.topic_arn()}}}
        ]
    })
}

/// The key's policy: the account administers it (as KMS's default policy), CloudTrail may
/// make data keys for this trail's files (the bucket encrypts them with this key).
pub fn key(n: &Names) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdministers", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:{}:iam::{}:root", n.partition, n.account)},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudTrailEncryptsLogs", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceArn": n.trail_arn()}}}
        ]
    })
}

/// Who may assume the processor's role.
pub fn trust(n: &Names, principal: Option<&str>) -> Value {
    let who = match principal {
        Some(p) if p.ends_with(".amazonaws.com") => json!({"Service": p}),
        Some(p) => json!({"AWS": p}),
        None => json!({"AWS": format!("arn:{}:iam::{}:root", n.partition, n.account)}),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": who, "Action": "sts:AssumeRole"}]
    })
}

/// The processor's permissions, least privilege: receive and delete on its queue, read the
/// evidence bucket (and decrypt with its key), publish to the alert topic, read the trail for
/// `validate-logs`. Nothing that writes or deletes evidence, changes the trail or the key.
pub fn processor(n: &Names) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConsumeAuditQueue", "Effect": "Allow",
             "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
             "Resource": [n.queue_arn()]},
            {"Sid": "ReadEvidence", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention",
                        "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"],
             "Resource": [n.bucket_arn(), format!("{}/*", n.bucket_arn())]},
            {"Sid": "DecryptEvidence", "Effect": "Allow",
             "Action": ["kms:Decrypt"],
             "Resource": format!("arn:{}:kms:{}:{}:key/*", n.partition, n.region, n.account),
             "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": n.key_alias}}},
            {"Sid": "PublishAlerts", "Effect": "Allow",
             "Action": ["sns:Publish"], "Resource": [n.topic_arn()]},
            {"Sid": "ReadTrail", "Effect": "Allow",
             "Action": ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
                        "cloudtrail:ListPublicKeys", "cloudtrail:LookupEvents"],
             "Resource": "*"}
        ]
    })
}

/// Actions in `policy` (any statement that allows) that could delete, overwrite, shorten the
/// retention of, or stop recording evidence: what the processor's role must never have.
pub fn destructive_actions(policy: &Value) -> Vec<String> {
    const DANGEROUS: &[&str] = &[
        "s3:delete",
        "s3:put",
        "s3:bypassgovernanceretention",
        "s3:replicate",
        "s3:restore",
        "kms:schedulekeydeletion",
        "kms:disable",
        "kms:putkeypolicy",
        "kms:delete",
        "cloudtrail:delete",
        "cloudtrail:stop",
        "cloudtrail:update",
        "cloudtrail:put",
        "sqs:deletequeue",
        "sqs:purgequeue",
        "sqs:setqueueattributes",
        "sns:delete",
        "sns:settopicattributes",
        "iam:",
    ];
    let mut found = Vec::new();
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for s in statements {
        if s["Effect"] != "Allow" {
            continue;
        }
        if s.get("NotAction").is_some() {
            found.push("NotAction (allows everything it does not name)".to_owned());
        }
        let actions = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        for a in actions {
            let lower = a.to_ascii_lowercase();
            let wildcard = lower.contains('*');
            if wildcard || DANGEROUS.iter().any(|d| lower.starts_with(d)) {
                found.push(a);
            }
        }
    }
    found
}
