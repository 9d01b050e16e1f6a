//! Collecting a [`Snapshot`]: read-only calls through the AWS SDK for Rust with the standard
//! credential chain, region and `AWS_ENDPOINT_URL` (so the same code reads real AWS or the
//! emulator), each answer kept as JSON in the API's member names, each failure as the SDK's
//! whole message. Nothing here writes to AWS. The ledger's integrity is collected from disk
//! ([`collect_ledger`]).

use std::path::Path;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::{Value, json};
use veritrail_ledger::files::LedgerFiles;
use veritrail_ledger::verification::{VerifyError, verify_ledger};

use super::judge::{alert_topic_arn, evidence_buckets, select_trail};
use super::{Call, Policy, PostureError, Snapshot};

/// Where and what to collect.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// The endpoint (default: `AWS_ENDPOINT_URL` or AWS's).
    pub endpoint: Option<String>,
    /// The region (default: the standard chain's).
    pub region: Option<String>,
    /// The trail to judge, name or ARN (default: see [`select_trail`]).
    pub trail: Option<String>,
    /// Fixed credentials (the emulator checks no signature); `None` uses the standard chain.
    pub static_credentials: bool,
}

/// An SDK error: its code (when the service sent one) and the SDK's whole message.
fn sdk_error<E, R>(e: SdkError<E, R>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e
        .as_service_error()
        .and_then(|s| s.code())
        .map(str::to_owned);
    (code, DisplayErrorContext(e).to_string())
}

fn time(t: Option<&aws_sdk_cloudtrail::primitives::DateTime>) -> Value {
    t.map_or(Value::Null, |t| json!(t.as_secs_f64()))
}

/// Loads the SDK configuration (HTTPS with rustls and ring; plain HTTP for an `http://`
/// endpoint such as the emulator).
async fn config(options: &CollectOptions) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(url) = &options.endpoint {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if options.static_credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            "veritrail",
            "veritrail",
            None,
            None,
            "veritrail",
        ));
    }
    loader.load().await
}

/// Collects everything the checks judge. Fails only when the SDK cannot be set up; a failed
/// call is kept in the snapshot.
pub fn collect(options: &CollectOptions, policy: &Policy) -> Result<Snapshot, PostureError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PostureError::Config(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let conf = config(options).await;
        let Some(region) = conf.region().map(|r| r.as_ref().to_owned()) else {
            return Err(PostureError::Config(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
                    .into(),
            ));
        };
        let mut snap = Snapshot {
            region,
            wanted_trail: options.trail.clone(),
            ..Snapshot::default()
        };
        trails(&conf, &mut snap).await;
        for bucket in evidence_buckets(&snap, policy) {
            buckets(&conf, &mut snap, &bucket).await;
        }
        rules(&conf, &mut snap).await;
        topic(&conf, &mut snap, policy).await;
        Ok(snap)
    })
}

async fn trails(conf: &aws_config::SdkConfig, snap: &mut Snapshot) {
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    let described = match ct.describe_trails().send().await {
        Ok(out) => json!({"trailList": out.trail_list().iter().map(|t| json!({
            "Name": t.name(), "TrailARN": t.trail_arn(), "HomeRegion": t.home_region(),
            "S3BucketName": t.s3_bucket_name(), "S3KeyPrefix": t.s3_key_prefix(),
            "IsMultiRegionTrail": t.is_multi_region_trail(),
            "LogFileValidationEnabled": t.log_file_validation_enabled(),
            "IncludeGlobalServiceEvents": t.include_global_service_events(),
            "IsOrganizationTrail": t.is_organization_trail(),
            "KmsKeyId": t.kms_key_id(), "HasCustomEventSelectors": t.has_custom_event_selectors(),
        })).collect::<Vec<_>>()}),
        Err(e) => {
            snap.push(Call::failed(
                "cloudtrail:DescribeTrails",
                "",
                sdk_error(e).1,
            ));
            return;
        }
    };
    let arn = select_trail(&described, snap.wanted_trail.as_deref())
        .and_then(|t| t["TrailARN"].as_str())
        .map(str::to_owned);
    snap.push(Call::ok("cloudtrail:DescribeTrails", "", described));
    let Some(arn) = arn else {
        return;
    };
    snap.push(match ct.get_trail_status().name(&arn).send().await {
        Ok(s) => Call::ok(
            "cloudtrail:GetTrailStatus",
            &arn,
            json!({
                "IsLogging": s.is_logging(),
                "LatestDeliveryError": s.latest_delivery_error(),
                "LatestDeliveryTime": time(s.latest_delivery_time()),
                "LatestDigestDeliveryError": s.latest_digest_delivery_error(),
                "LatestDigestDeliveryTime": time(s.latest_digest_delivery_time()),
                "StartLoggingTime": time(s.start_logging_time()),
                "StopLoggingTime": time(s.stop_logging_time()),
            }),
        ),
        Err(e) => Call::failed("cloudtrail:GetTrailStatus", &arn, sdk_error(e).1),
    });
    snap.push(match ct.get_event_selectors().trail_name(&arn).send().await {
        Ok(s) => Call::ok(
            "cloudtrail:GetEventSelectors",
            &arn,
            json!({
                "TrailARN": s.trail_arn(),
                "EventSelectors": s.event_selectors().iter().map(|e| json!({
                    "ReadWriteType": e.read_write_type().map(|r| r.as_str()),
                    "IncludeManagementEvents": e.include_management_events(),
                    "DataResources": e.data_resources().iter().map(|d| json!({"Type": d.r#type(), "Values": d.values()})).collect::<Vec<_>>(),
                    "ExcludeManagementEventSources": e.exclude_management_event_sources(),
                })).collect::<Vec<_>>(),
                "AdvancedEventSelectors": s.advanced_event_selectors().iter().map(|a| json!({
                    "Name": a.name(),
                    "FieldSelectors": a.field_selectors().iter().map(|f| json!({
                        "Field": f.field(), "Equals": f.equals(), "StartsWith": f.starts_with(),
                        "EndsWith": f.ends_with(), "NotEquals": f.not_equals(),
                        "NotStartsWith": f.not_starts_with(), "NotEndsWith": f.not_ends_with(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => Call::failed("cloudtrail:GetEventSelectors", &arn, sdk_error(e).1),
    });
}

/// A call whose "not configured" error code is an answer (`absent`), not a failure.
fn answer_or_absent(
    call: &str,
    target: &str,
    result: Result<Value, (Option<String>, String)>,
    absent_code: &str,
    absent: Value,
) -> Call {
    match result {
        Ok(v) => Call::ok(call, target, v),
        Err((Some(code), _)) if code == absent_code => Call::ok(call, target, absent),
        Err((_, message)) => Call::failed(call, target, message),
    }
}

async fn buckets(conf: &aws_config::SdkConfig, snap: &mut Snapshot, bucket: &str) {
    let s3 = aws_sdk_s3::Client::new(conf);
    snap.push(match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => Call::ok(
            "s3:GetBucketVersioning",
            bucket,
            json!({"Status": v.status().map(|s| s.as_str()), "MFADelete": v.mfa_delete().map(|s| s.as_str())}),
        ),
        Err(e) => Call::failed("s3:GetBucketVersioning", bucket, sdk_error(e).1),
    });
    let lock = s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
        .map(|o| {
            let c = o.object_lock_configuration();
            let d = c.and_then(|c| c.rule()).and_then(|r| r.default_retention());
            json!({"ObjectLockConfiguration": {
                "ObjectLockEnabled": c.and_then(|c| c.object_lock_enabled()).map(|e| e.as_str()),
                "Rule": {"DefaultRetention": {
                    "Mode": d.and_then(|d| d.mode()).map(|m| m.as_str()),
                    "Days": d.and_then(|d| d.days()),
                    "Years": d.and_then(|d| d.years()),
                }},
            }})
        })
        .map_err(sdk_error);
    snap.push(answer_or_absent(
        "s3:GetObjectLockConfiguration",
        bucket,
        lock,
        "ObjectLockConfigurationNotFoundError",
        json!({"ObjectLockConfiguration": null}),
    ));
    let encryption = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .map(|o| {
            let rules: Vec<Value> = o
                .server_side_encryption_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let d = r.apply_server_side_encryption_by_default();
                    json!({
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": d.map(|d| d.sse_algorithm().as_str()),
                            "KMSMasterKeyID": d.and_then(|d| d.kms_master_key_id()),
                        },
                        "BucketKeyEnabled": r.bucket_key_enabled(),
                    })
                })
                .collect();
            json!({"ServerSideEncryptionConfiguration": {"Rules": rules}})
        })
        .map_err(sdk_error);
    let key = encryption.as_ref().ok().and_then(|v| {
        v["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
            ["KMSMasterKeyID"]
            .as_str()
            .map(str::to_owned)
    });
    snap.push(answer_or_absent(
        "s3:GetBucketEncryption",
        bucket,
        encryption,
        "ServerSideEncryptionConfigurationNotFoundError",
        json!({"ServerSideEncryptionConfiguration": null}),
    ));
    if let Some(key) = key {
        kms_key(conf, snap, &key).await;
    }
    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .map(|o| {
            let c = o.public_access_block_configuration();
            json!({"PublicAccessBlockConfiguration": {
                "BlockPublicAcls": c.and_then(|c| c.block_public_acls()),
                "IgnorePublicAcls": c.and_then(|c| c.ignore_public_acls()),
                "BlockPublicPolicy": c.and_then(|c| c.block_public_policy()),
                "RestrictPublicBuckets": c.and_then(|c| c.restrict_public_buckets()),
            }})
        })
        .map_err(sdk_error);
    snap.push(answer_or_absent(
        "s3:GetPublicAccessBlock",
        bucket,
        block,
        "NoSuchPublicAccessBlockConfiguration",
        json!({"PublicAccessBlockConfiguration": null}),
    ));
    let policy = s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .map(|o| json!({"Policy": o.policy()}))
        .map_err(sdk_error);
    snap.push(answer_or_absent(
        "s3:GetBucketPolicy",
        bucket,
        policy,
        "NoSuchBucketPolicy",
        json!({"Policy": null}),
    ));
}

async fn kms_key(conf: &aws_config::SdkConfig, snap: &mut Snapshot, key: &str) {
    if snap.get("kms:DescribeKey", key).is_some() {
        return;
    }
    let kms = aws_sdk_kms::Client::new(conf);
    snap.push(match kms.describe_key().key_id(key).send().await {
        Ok(o) => {
            let m = o.key_metadata();
            Call::ok(
                "kms:DescribeKey",
                key,
                json!({"KeyMetadata": {
                    "KeyId": m.map(|m| m.key_id()),
                    "Arn": m.and_then(|m| m.arn()),
                    "KeyState": m.and_then(|m| m.key_state()).map(|s| s.as_str()),
                    "Enabled": m.map(|m| m.enabled()),
                    "KeyManager": m.and_then(|m| m.key_manager()).map(|s| s.as_str()),
                    "KeySpec": m.and_then(|m| m.key_spec()).map(|s| s.as_str()),
                }}),
            )
        }
        Err(e) => Call::failed("kms:DescribeKey", key, sdk_error(e).1),
    });
    snap.push(
        match kms.get_key_rotation_status().key_id(key).send().await {
            Ok(o) => Call::ok(
                "kms:GetKeyRotationStatus",
                key,
                json!({"KeyRotationEnabled": o.key_rotation_enabled(), "RotationPeriodInDays": o.rotation_period_in_days()}),
            ),
            Err(e) => Call::failed("kms:GetKeyRotationStatus", key, sdk_error(e).1),
        },
    );
}

async fn rules(conf: &aws_config::SdkConfig, snap: &mut Snapshot) {
    let events = aws_sdk_eventbridge::Client::new(conf);
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match events
            .list_rules()
            .event_bus_name("default")
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(page) => {
                listed.extend(page.rules().iter().map(|r| {
                    json!({
                        "Name": r.name(), "Arn": r.arn(), "State": r.state().map(|s| s.as_str()),
                        "EventPattern": r.event_pattern(), "EventBusName": r.event_bus_name(),
                    })
                }));
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            Err(e) => {
                snap.push(Call::failed("events:ListRules", "default", sdk_error(e).1));
                return;
            }
        }
    }
    let names: Vec<String> = listed
        .iter()
        .filter_map(|r| r["Name"].as_str().map(str::to_owned))
        .collect();
    snap.push(Call::ok(
        "events:ListRules",
        "default",
        json!({"Rules": listed}),
    ));
    for name in names {
        let targets = match events
            .list_targets_by_rule()
            .rule(&name)
            .event_bus_name("default")
            .send()
            .await
        {
            Ok(o) => o
                .targets()
                .iter()
                .map(|t| json!({"Id": t.id(), "Arn": t.arn()}))
                .collect::<Vec<_>>(),
            Err(e) => {
                snap.push(Call::failed(
                    "events:ListTargetsByRule",
                    &name,
                    sdk_error(e).1,
                ));
                continue;
            }
        };
        for arn in targets.iter().filter_map(|t| t["Arn"].as_str()) {
            target(conf, snap, arn).await;
        }
        snap.push(Call::ok(
            "events:ListTargetsByRule",
            &name,
            json!({"Targets": targets}),
        ));
    }
}

/// Reads a rule target's queue or topic (once per ARN).
async fn target(conf: &aws_config::SdkConfig, snap: &mut Snapshot, arn: &str) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if arn.starts_with("arn:aws:sqs:") && parts.len() == 6 {
        if snap.get("sqs:GetQueueAttributes", arn).is_some() {
            return;
        }
        let sqs = aws_sdk_sqs::Client::new(conf);
        let read = async {
            let url = sqs
                .get_queue_url()
                .queue_name(parts[5])
                .queue_owner_aws_account_id(parts[4])
                .send()
                .await
                .map_err(|e| sdk_error(e).1)?
                .queue_url
                .unwrap_or_default();
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .map_err(|e| sdk_error(e).1)?;
            let attrs: serde_json::Map<String, Value> = attrs
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect();
            Ok::<_, String>(json!({"QueueUrl": url, "Attributes": attrs}))
        };
        snap.push(match read.await {
            Ok(v) => Call::ok("sqs:GetQueueAttributes", arn, v),
            Err(e) => Call::failed("sqs:GetQueueAttributes", arn, e),
        });
    } else if arn.starts_with("arn:aws:sns:") {
        topic_attributes(conf, snap, arn).await;
    }
}

async fn topic_attributes(conf: &aws_config::SdkConfig, snap: &mut Snapshot, arn: &str) {
    if snap.get("sns:GetTopicAttributes", arn).is_some() {
        return;
    }
    let sns = aws_sdk_sns::Client::new(conf);
    snap.push(
        match sns.get_topic_attributes().topic_arn(arn).send().await {
            Ok(o) => Call::ok(
                "sns:GetTopicAttributes",
                arn,
                json!({"Attributes": o.attributes()}),
            ),
            Err(e) => Call::failed("sns:GetTopicAttributes", arn, sdk_error(e).1),
        },
    );
}

async fn topic(conf: &aws_config::SdkConfig, snap: &mut Snapshot, policy: &Policy) {
    let sns = aws_sdk_sns::Client::new(conf);
    let mut topics = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match sns.list_topics().set_next_token(token.take()).send().await {
            Ok(page) => {
                topics.extend(
                    page.topics()
                        .iter()
                        .map(|t| json!({"TopicArn": t.topic_arn()})),
                );
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            Err(e) => {
                snap.push(Call::failed("sns:ListTopics", "", sdk_error(e).1));
                return;
            }
        }
    }
    let listed = json!({"Topics": topics});
    let arn = alert_topic_arn(policy, &listed);
    snap.push(Call::ok("sns:ListTopics", "", listed));
    let Some(arn) = arn else {
        return;
    };
    topic_attributes(conf, snap, &arn).await;
    snap.push(
        match sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .send()
            .await
        {
            Ok(o) => Call::ok(
                "sns:ListSubscriptionsByTopic",
                &arn,
                json!({"Subscriptions": o.subscriptions().iter().map(|s| json!({
                    "SubscriptionArn": s.subscription_arn(), "Protocol": s.protocol(),
                    "Endpoint": s.endpoint(), "TopicArn": s.topic_arn(),
                })).collect::<Vec<_>>()}),
            ),
            Err(e) => Call::failed("sns:ListSubscriptionsByTopic", &arn, sdk_error(e).1),
        },
    );
}

/// Verifies the ledger `files` names (every block, the newest signed checkpoint) and reads its
/// newest checkpoint, into `snap`; `public_key` is the verifier key to trust (default: the
/// ledger's own `.pub`).
pub fn collect_ledger(
    snap: &mut Snapshot,
    files: &LedgerFiles,
    name: &str,
    public_key: Option<&Path>,
) {
    snap.ledger = Some(name.to_owned());
    snap.push(match verify_ledger(files, public_key, None, |_, _| {}) {
        Ok(r) => Call::ok(
            "veritrail:LedgerVerify",
            name,
            json!({"verified": true, "blocks": r.blocks, "digest": r.digest.to_base64(), "checkpointSize": r.checkpoint_size}),
        ),
        Err(VerifyError::Broken(b)) => Call::ok(
            "veritrail:LedgerVerify",
            name,
            json!({"verified": false, "check": b.check(), "reason": b.to_string()}),
        ),
        Err(e) => Call::failed("veritrail:LedgerVerify", name, e.to_string()),
    });
    let key_path = public_key.map_or_else(|| files.public_key(), Path::to_owned);
    let latest = files
        .latest_checkpoint()
        .map_err(|e| e.to_string())
        .and_then(|found| {
            let Some((path, note)) = found else {
                return Ok(Value::Null);
            };
            let key = std::fs::read_to_string(&key_path)
                .map_err(|e| format!("the public key {}: {e}", key_path.display()))?;
            let c = veritrail_verify::checkpoint::verify_checkpoint(&note, &key)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(json!({
                "path": path.display().to_string(),
                "size": c.size,
                "digest": c.digest.to_base64(),
                "time": c.extension("time"),
                "note": note,
            }))
        });
    snap.push(match latest {
        Ok(v) => Call::ok("veritrail:LatestCheckpoint", name, v),
        Err(e) => Call::failed("veritrail:LatestCheckpoint", name, e),
    });
}

/// Records that no ledger was given, so the integrity checks that need one are `ERROR`.
pub fn no_ledger(snap: &mut Snapshot) {
    let why = "no ledger given (--ledger NAME): the journal's integrity was not checked";
    snap.push(Call::failed("veritrail:LedgerVerify", "", why));
    snap.push(Call::failed("veritrail:LatestCheckpoint", "", why));
}
