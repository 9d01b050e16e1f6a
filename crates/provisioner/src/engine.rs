//! Reading what exists and diffing it with the desired state (`plan`), and making the changes
//! in dependency order (`apply`): key, bucket, queues, topic, rules, role, trail.
//!
//! `apply` plans again first and makes only the pending changes, so after a crash between any
//! two calls the next `apply` completes the plan without duplicating anything: every resource
//! is found again by its name (the key by its alias, or by its description when the alias was
//! not made yet).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::error::SdkError;
use serde_json::Value;

use crate::config::{Config, Names, Subscription};
use crate::error::{ProvisionError, aws};
use crate::plan::{Action, Plan};
use crate::policy;

/// The tag that marks what the provisioner made, with the prefix as its value.
pub const OWNER_TAG: &str = "veritrail:prefix";
/// The EventBridge target id of the queue on every rule.
const TARGET_ID: &str = "veritrail-queue";

/// The SDK clients the provisioner calls.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Clients for `config`, with the region overridden by `region` when given.
    pub fn new(config: &aws_config::SdkConfig, region: Option<&str>) -> Self {
        let mut b = config.to_builder();
        if let Some(r) = region {
            b = b.region(aws_config::Region::new(r.to_owned()));
        }
        let c = b.build();
        // Path-style addressing: what the emulator serves, and always valid on AWS.
        let s3 = aws_sdk_s3::config::Builder::from(&c)
            .force_path_style(true)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(&c),
            cloudtrail: aws_sdk_cloudtrail::Client::new(&c),
            events: aws_sdk_eventbridge::Client::new(&c),
            sqs: aws_sdk_sqs::Client::new(&c),
            sns: aws_sdk_sns::Client::new(&c),
            iam: aws_sdk_iam::Client::new(&c),
            sts: aws_sdk_sts::Client::new(&c),
        }
    }

    /// The caller's account (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String, ProvisionError> {
        let me = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws("GetCallerIdentity", e))?;
        me.account
            .ok_or_else(|| ProvisionError::Config("GetCallerIdentity named no account".into()))
    }
}

/// An SDK error's code, or its HTTP status when the answer had no code (HeadBucket).
pub(crate) fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    e.as_service_error()
        .and_then(|s| s.code().map(str::to_owned))
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Whether two JSON texts are the same document (key order and spacing aside).
fn same_json(a: &str, b: &Value) -> bool {
    serde_json::from_str::<Value>(a).is_ok_and(|v| &v == b)
}

fn decode_iam(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .map_or_else(|_| doc.to_owned(), |s| s.into_owned())
}

/// What the plan found that later steps need.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    /// The evidence key's id, once it exists.
    pub key_id: Option<String>,
    /// The queues' URLs, once they exist.
    pub queue_url: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    pub alerts_inbox_url: Option<String>,
}

/// Reads everything the plan covers and lists the differences, in apply order.
pub async fn plan(c: &Clients, config: &Config, n: &Names) -> Result<Plan, ProvisionError> {
    Ok(plan_found(c, config, n).await?.0)
}

pub(crate) async fn plan_found(
    c: &Clients,
    config: &Config,
    n: &Names,
) -> Result<(Plan, Found), ProvisionError> {
    let mut p = Plan {
        prefix: n.prefix.clone(),
        account: n.account.clone(),
        region: n.region.clone(),
        changes: Vec::new(),
    };
    let mut f = Found::default();
    plan_key(c, n, &mut p, &mut f).await?;
    plan_bucket(c, config, n, &mut p, &f).await?;
    plan_queues(c, config, n, &mut p, &mut f).await?;
    plan_topic(c, config, n, &mut p).await?;
    plan_rules(c, n, &mut p).await?;
    plan_role(c, config, n, &mut p).await?;
    plan_trail(c, config, n, &mut p).await?;
    Ok((p, f))
}

/// The description that marks the evidence key, so a key made before a crash (and before its
/// alias) is found again rather than made twice.
pub fn key_description(n: &Names) -> String {
    format!(
        "veritrail evidence key for prefix {} (bucket {})",
        n.prefix, n.bucket
    )
}

/// The key the plan's alias names, if the alias exists.
pub(crate) async fn find_alias_target(
    c: &Clients,
    n: &Names,
) -> Result<Option<String>, ProvisionError> {
    let mut pages = c.kms.list_aliases().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ListAliases", e))?;
        for a in page.aliases() {
            if a.alias_name() == Some(n.key_alias.as_str()) {
                return Ok(a.target_key_id().map(str::to_owned));
            }
        }
    }
    Ok(None)
}

/// A key with the plan's description that is not being deleted (made before a crash).
async fn find_key_by_description(c: &Clients, n: &Names) -> Result<Option<String>, ProvisionError> {
    let want = key_description(n);
    let mut pages = c.kms.list_keys().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ListKeys", e))?;
        for k in page.keys() {
            let Some(id) = k.key_id() else { continue };
            let d = c
                .kms
                .describe_key()
                .key_id(id)
                .send()
                .await
                .map_err(|e| aws(format!("DescribeKey {id}"), e))?;
            if let Some(m) = d.key_metadata() {
                if m.description() == Some(want.as_str())
                    && m.key_state() != Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
                {
                    return Ok(Some(id.to_owned()));
                }
            }
        }
    }
    Ok(None)
}

async fn plan_key(
    c: &Clients,
    n: &Names,
    p: &mut Plan,
    f: &mut Found,
) -> Result<(), ProvisionError> {
    let r = format!("kms key {}", n.key_alias);
    let aliased = find_alias_target(c, n).await?;
    let key = match &aliased {
        Some(id) => Some(id.clone()),
        None => find_key_by_description(c, n).await?,
    };
    let Some(id) = key else {
        p.push(
            &r,
            "exists",
            None,
            Some(key_description(n)),
            Some(Action::CreateKey),
        );
        p.push(
            &r,
            "alias",
            None,
            Some(n.key_alias.clone()),
            Some(Action::CreateAlias),
        );
        p.push(
            &r,
            "rotation",
            None,
            Some("enabled".into()),
            Some(Action::EnableKeyRotation),
        );
        return Ok(());
    };
    f.key_id = Some(id.clone());
    p.push(&r, "exists", Some(id.clone()), Some(id.clone()), None);
    p.setting(
        &r,
        "alias",
        aliased.as_ref().map(|_| n.key_alias.clone()),
        n.key_alias.clone(),
        Action::CreateAlias,
    );
    let meta = c
        .kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .map_err(|e| aws(format!("DescribeKey {id}"), e))?;
    let state = meta
        .key_metadata()
        .and_then(|m| m.key_state())
        .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned());
    match state.as_str() {
        "PendingDeletion" => {
            p.push(
                &r,
                "state",
                Some(state.clone()),
                Some("Enabled".into()),
                Some(Action::CancelKeyDeletion),
            );
            p.push(
                &r,
                "enabled",
                Some("Disabled".into()),
                Some("Enabled".into()),
                Some(Action::EnableKey),
            );
        }
        "Disabled" => p.setting(
            &r,
            "state",
            Some(state),
            "Enabled".into(),
            Action::EnableKey,
        ),
        _ => p.setting(
            &r,
            "state",
            Some(state),
            "Enabled".into(),
            Action::EnableKey,
        ),
    }
    let rotation = c
        .kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .map_err(|e| aws(format!("GetKeyRotationStatus {id}"), e))?
        .key_rotation_enabled;
    p.setting(
        &r,
        "rotation",
        Some(if rotation { "enabled" } else { "disabled" }.into()),
        "enabled".into(),
        Action::EnableKeyRotation,
    );
    Ok(())
}

/// The key's ARN once the key exists (by id), for the bucket's default encryption.
fn key_arn(n: &Names, f: &Found) -> String {
    match &f.key_id {
        Some(id) => format!(
            "arn:{}:kms:{}:{}:key/{id}",
            n.partition, n.region, n.account
        ),
        None => format!("the key {} will have", n.key_alias),
    }
}

pub(crate) fn lifecycle_desc(config: &Config) -> String {
    format!(
        "after {} days to {}",
        config.bucket.transition_days, config.bucket.storage_class
    )
}

pub(crate) fn lifecycle_id(n: &Names) -> String {
    format!("{}-colder-storage", n.prefix)
}

/// Whether the bucket holds any object version or delete marker.
pub(crate) async fn bucket_is_empty(c: &Clients, bucket: &str) -> Result<bool, ProvisionError> {
    let l =
        c.s3.list_object_versions()
            .bucket(bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| aws(format!("ListObjectVersions {bucket}"), e))?;
    Ok(l.versions().is_empty() && l.delete_markers().is_empty())
}

/// Whether the bucket exists: `Ok(false)` when not, an error when it belongs to another
/// account (S3 answers 403 to HeadBucket then).
pub(crate) async fn bucket_exists(c: &Clients, n: &Names) -> Result<bool, ProvisionError> {
    let r = format!("s3 bucket {}", n.bucket);
    match c
        .s3
        .head_bucket()
        .bucket(&n.bucket)
        .expected_bucket_owner(&n.account)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if status(&e) == Some(404) => Ok(false),
        Err(e) if status(&e) == Some(403) => Err(ProvisionError::NotOurs {
            resource: r,
            reason: format!("it belongs to another account than {}", n.account),
        }),
        Err(e) => Err(aws(format!("HeadBucket {}", n.bucket), e)),
    }
}

async fn plan_bucket(
    c: &Clients,
    config: &Config,
    n: &Names,
    p: &mut Plan,
    f: &Found,
) -> Result<(), ProvisionError> {
    let r = format!("s3 bucket {}", n.bucket);
    let b = &n.bucket;
    let retention = format!("COMPLIANCE {} days", config.bucket.retention_days);
    let encryption = format!("aws:kms {}", key_arn(n, f));
    let pab = "all four blocks on".to_owned();
    let policy = policy::bucket(n);
    if !bucket_exists(c, n).await? {
        p.push(
            &r,
            "exists",
            None,
            Some("with Object Lock".into()),
            Some(Action::CreateBucket),
        );
        for (setting, desired, action) in [
            (
                "tags",
                format!("{OWNER_TAG}={}", n.prefix),
                Action::TagBucket,
            ),
            ("versioning", "Enabled".into(), Action::Versioning),
            ("object-lock", retention, Action::ObjectLock),
            ("encryption", encryption, Action::Encryption),
            ("public-access-block", pab, Action::PublicAccessBlock),
            ("policy", policy.to_string(), Action::BucketPolicy),
            ("lifecycle", lifecycle_desc(config), Action::Lifecycle),
        ] {
            p.push(&r, setting, None, Some(desired), Some(action));
        }
        return Ok(());
    }
    p.push(&r, "exists", Some(b.clone()), Some(b.clone()), None);
    // Ownership: the provisioner's tag with this prefix; a bucket without tags that holds
    // nothing is adopted (a crash between CreateBucket and PutBucketTagging leaves one).
    let tags = match c.s3.get_bucket_tagging().bucket(b).send().await {
        Ok(t) => t
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect::<Vec<_>>(),
        Err(e) if code(&e).as_deref() == Some("NoSuchTagSet") => Vec::new(),
        Err(e) => return Err(aws(format!("GetBucketTagging {b}"), e)),
    };
    let owner = tags.iter().find(|(k, _)| k == OWNER_TAG).map(|(_, v)| v);
    match owner {
        Some(v) if v == &n.prefix => {}
        Some(v) => {
            return Err(ProvisionError::NotOurs {
                resource: r,
                reason: format!("it is tagged {OWNER_TAG}={v}"),
            });
        }
        None if !bucket_is_empty(c, b).await? => {
            return Err(ProvisionError::NotOurs {
                resource: r,
                reason: format!(
                    "it was not made by `veritrail provision` (no {OWNER_TAG} tag) and holds objects"
                ),
            });
        }
        None => {}
    }
    p.setting(
        &r,
        "tags",
        owner.map(|v| format!("{OWNER_TAG}={v}")),
        format!("{OWNER_TAG}={}", n.prefix),
        Action::TagBucket,
    );
    let versioning =
        c.s3.get_bucket_versioning()
            .bucket(b)
            .send()
            .await
            .map_err(|e| aws(format!("GetBucketVersioning {b}"), e))?
            .status()
            .map_or_else(|| "Unversioned".to_owned(), |s| s.as_str().to_owned());
    p.setting(
        &r,
        "versioning",
        Some(versioning),
        "Enabled".into(),
        Action::Versioning,
    );
    let lock = match c.s3.get_object_lock_configuration().bucket(b).send().await {
        Ok(l) => l.object_lock_configuration,
        Err(e) if code(&e).as_deref() == Some("ObjectLockConfigurationNotFoundError") => None,
        Err(e) => return Err(aws(format!("GetObjectLockConfiguration {b}"), e)),
    };
    let Some(lock) = lock else {
        return Err(ProvisionError::Conflict {
            resource: r,
            reason: "exists without Object Lock, which can only be enabled when a bucket is made; delete it or name another bucket (bucket.name)".into(),
        });
    };
    let current = lock.rule().and_then(|r| r.default_retention()).map(|d| {
        let mode = d.mode().map_or("none", |m| m.as_str());
        match (d.days(), d.years()) {
            (Some(days), _) => format!("{mode} {days} days"),
            (_, Some(y)) => format!("{mode} {y} years"),
            _ => mode.to_owned(),
        }
    });
    p.setting(&r, "object-lock", current, retention, Action::ObjectLock);
    let enc = match c.s3.get_bucket_encryption().bucket(b).send().await {
        Ok(e) => e
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| {
                format!(
                    "{} {}",
                    d.sse_algorithm().as_str(),
                    d.kms_master_key_id().unwrap_or("(no key)")
                )
            }),
        Err(e) if code(&e).as_deref() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
            None
        }
        Err(e) => return Err(aws(format!("GetBucketEncryption {b}"), e)),
    };
    p.setting(&r, "encryption", enc, encryption, Action::Encryption);
    let block = match c.s3.get_public_access_block().bucket(b).send().await {
        Ok(o) => o.public_access_block_configuration().map(|c| {
            let all = [
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets(),
            ]
            .iter()
            .all(|v| *v == Some(true));
            if all {
                pab.clone()
            } else {
                "some blocks off".to_owned()
            }
        }),
        Err(e) if code(&e).as_deref() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(aws(format!("GetPublicAccessBlock {b}"), e)),
    };
    p.setting(
        &r,
        "public-access-block",
        block,
        pab,
        Action::PublicAccessBlock,
    );
    let current = match c.s3.get_bucket_policy().bucket(b).send().await {
        Ok(o) => o.policy,
        Err(e) if code(&e).as_deref() == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(aws(format!("GetBucketPolicy {b}"), e)),
    };
    let same = current.as_deref().is_some_and(|t| same_json(t, &policy));
    p.push(
        &r,
        "policy",
        current,
        Some(policy.to_string()),
        (!same).then_some(Action::BucketPolicy),
    );
    let lifecycle = match c
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(b)
        .send()
        .await
    {
        Ok(o) => o
            .rules()
            .iter()
            .find(|r| r.id() == Some(lifecycle_id(n).as_str()))
            .map(|r| {
                let t = r.transitions().first();
                format!(
                    "after {} days to {}",
                    t.and_then(|t| t.days()).unwrap_or(0),
                    t.and_then(|t| t.storage_class())
                        .map_or("(none)", |s| s.as_str())
                )
            }),
        Err(e) if code(&e).as_deref() == Some("NoSuchLifecycleConfiguration") => None,
        Err(e) => return Err(aws(format!("GetBucketLifecycleConfiguration {b}"), e)),
    };
    p.setting(
        &r,
        "lifecycle",
        lifecycle,
        lifecycle_desc(config),
        Action::Lifecycle,
    );
    Ok(())
}

/// A queue's URL, or `None` when it does not exist.
pub(crate) async fn queue_url(c: &Clients, name: &str) -> Result<Option<String>, ProvisionError> {
    match c.sqs.get_queue_url().queue_name(name).send().await {
        Ok(o) => Ok(o.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws(format!("GetQueueUrl {name}"), e)),
    }
}

pub(crate) fn redrive(n: &Names, config: &Config) -> Value {
    serde_json::json!({
        "deadLetterTargetArn": n.dead_letter_queue_arn(),
        "maxReceiveCount": config.queue.max_receives,
    })
}

async fn plan_queues(
    c: &Clients,
    config: &Config,
    n: &Names,
    p: &mut Plan,
    f: &mut Found,
) -> Result<(), ProvisionError> {
    let r = format!("sqs queue {}", n.dead_letter_queue);
    f.dead_letter_queue_url = queue_url(c, &n.dead_letter_queue).await?;
    p.push(
        &r,
        "exists",
        f.dead_letter_queue_url.clone(),
        Some(n.dead_letter_queue.clone()),
        f.dead_letter_queue_url
            .is_none()
            .then_some(Action::CreateDeadLetterQueue),
    );
    let r = format!("sqs queue {}", n.queue);
    let redrive = redrive(n, config);
    let policy = policy::queue(n);
    f.queue_url = queue_url(c, &n.queue).await?;
    let Some(url) = &f.queue_url else {
        p.push(
            &r,
            "exists",
            None,
            Some(n.queue.clone()),
            Some(Action::CreateQueue),
        );
        p.push(
            &r,
            "redrive-policy",
            None,
            Some(redrive.to_string()),
            Some(Action::QueueAttributes),
        );
        json_setting(p, &r, "policy", None, &policy, Action::QueueAttributes);
        return plan_alerts_inbox(c, n, p, f).await;
    };
    p.push(&r, "exists", Some(url.clone()), Some(n.queue.clone()), None);
    let attrs = queue_attributes(c, &n.queue, url).await?;
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    // A redrive policy's count may come back as a string or a number.
    let current_redrive = attrs.get(&Q::RedrivePolicy).cloned();
    let same_redrive = current_redrive.as_deref().is_some_and(|t| {
        serde_json::from_str::<Value>(t).is_ok_and(|v| {
            v["deadLetterTargetArn"] == redrive["deadLetterTargetArn"]
                && (v["maxReceiveCount"] == redrive["maxReceiveCount"]
                    || v["maxReceiveCount"].as_str()
                        == Some(config.queue.max_receives.to_string().as_str()))
        })
    });
    p.push(
        &r,
        "redrive-policy",
        current_redrive,
        Some(redrive.to_string()),
        (!same_redrive).then_some(Action::QueueAttributes),
    );
    let current_policy = attrs.get(&Q::Policy).cloned();
    json_setting(
        p,
        &r,
        "policy",
        current_policy,
        &policy,
        Action::QueueAttributes,
    );
    plan_alerts_inbox(c, n, p, f).await
}

/// A setting holding a JSON document (a queue's policy): unchanged when the current text is
/// the same document, else `action`.
fn json_setting(
    p: &mut Plan,
    r: &str,
    setting: &str,
    current: Option<String>,
    desired: &Value,
    action: Action,
) {
    let same = current.as_deref().is_some_and(|t| same_json(t, desired));
    p.push(
        r,
        setting,
        current,
        Some(desired.to_string()),
        (!same).then_some(action),
    );
}

/// A queue's attributes, all of them.
async fn queue_attributes(
    c: &Clients,
    name: &str,
    url: &str,
) -> Result<std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String>, ProvisionError>
{
    let o = c
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| aws(format!("GetQueueAttributes {name}"), e))?;
    Ok(o.attributes.unwrap_or_default())
}

/// The alerts inbox: a queue subscribed to the alert topic, so every alert is kept somewhere
/// until it is read even before anyone has confirmed an email subscription.
async fn plan_alerts_inbox(
    c: &Clients,
    n: &Names,
    p: &mut Plan,
    f: &mut Found,
) -> Result<(), ProvisionError> {
    let r = format!("sqs queue {}", n.alerts_inbox);
    let policy = policy::alerts_inbox(n);
    f.alerts_inbox_url = queue_url(c, &n.alerts_inbox).await?;
    let Some(url) = &f.alerts_inbox_url else {
        p.push(
            &r,
            "exists",
            None,
            Some(n.alerts_inbox.clone()),
            Some(Action::CreateAlertsInbox),
        );
        json_setting(p, &r, "policy", None, &policy, Action::AlertsInboxPolicy);
        return Ok(());
    };
    p.push(
        &r,
        "exists",
        Some(url.clone()),
        Some(n.alerts_inbox.clone()),
        None,
    );
    let attrs = queue_attributes(c, &n.alerts_inbox, url).await?;
    let current = attrs
        .get(&aws_sdk_sqs::types::QueueAttributeName::Policy)
        .cloned();
    json_setting(p, &r, "policy", current, &policy, Action::AlertsInboxPolicy);
    Ok(())
}

async fn plan_topic(
    c: &Clients,
    config: &Config,
    n: &Names,
    p: &mut Plan,
) -> Result<(), ProvisionError> {
    let r = format!("sns topic {}", n.topic);
    let arn = n.topic_arn();
    let exists = match c.sns.get_topic_attributes().topic_arn(&arn).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(aws(format!("GetTopicAttributes {}", n.topic), e)),
    };
    let mut current: Vec<Subscription> = Vec::new();
    if exists {
        p.push(&r, "exists", Some(arn.clone()), Some(arn.clone()), None);
        let mut pages = c
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws(format!("ListSubscriptionsByTopic {arn}"), e))?;
            for s in page.subscriptions() {
                current.push(Subscription {
                    protocol: s.protocol().unwrap_or_default().to_owned(),
                    endpoint: s.endpoint().unwrap_or_default().to_owned(),
                });
            }
        }
    } else {
        p.push(&r, "exists", None, Some(arn), Some(Action::CreateTopic));
    }
    let inbox = n.alerts_inbox_subscription();
    for s in std::iter::once(&inbox).chain(&config.alerts.subscriptions) {
        let setting = format!("subscription {}:{}", s.protocol, s.endpoint);
        let have = current.contains(s);
        p.push(
            &r,
            &setting,
            have.then(|| "subscribed".to_owned()),
            Some("subscribed".into()),
            (!have).then(|| Action::Subscribe(s.clone())),
        );
    }
    Ok(())
}

async fn plan_rules(c: &Clients, n: &Names, p: &mut Plan) -> Result<(), ProvisionError> {
    let mut wanted = std::collections::BTreeSet::new();
    let queue_arn = n.queue_arn();
    for (pi, pack) in n.packs.iter().enumerate() {
        for (ri, rule) in pack.rules.iter().enumerate() {
            let name = n.rule_name(&pack.id, &rule.id);
            wanted.insert(name.clone());
            let r = format!("events rule {name}");
            let pattern: Value = serde_json::from_str(rule.pattern.source())
                .map_err(|e| ProvisionError::Config(format!("pattern of {name}: {e}")))?;
            let desired = format!(
                "{} {}",
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", pattern
            );
            let current = match c.events.describe_rule().name(&name).send().await {
                Ok(d) => Some(format!(
                    "{} {}",
                    d.state().map_or("", |s| s.as_str()),
                    d.event_pattern()
                        .and_then(|t| serde_json::from_str::<Value>(t).ok())
                        .unwrap_or(Value::Null)
                )),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    None
                }
                Err(e) => return Err(aws(format!("DescribeRule {name}"), e)),
            };
            let exists = current.is_some();
            p.setting(
                &r,
                "pattern",
                current,
                desired,
                Action::PutRule { pack: pi, rule: ri },
            );
            let target = if exists {
                let t = c
                    .events
                    .list_targets_by_rule()
                    .rule(&name)
                    .send()
                    .await
                    .map_err(|e| aws(format!("ListTargetsByRule {name}"), e))?;
                t.targets()
                    .iter()
                    .find(|t| t.id() == TARGET_ID)
                    .map(|t| t.arn().to_owned())
            } else {
                None
            };
            p.setting(
                &r,
                "target",
                target,
                queue_arn.clone(),
                Action::PutTarget { pack: pi, rule: ri },
            );
        }
    }
    // Rules of this prefix no pack names any more (a pack taken out of the config).
    for name in prefix_rule_names(c, n).await? {
        if !wanted.contains(name.as_str()) {
            p.push(
                &format!("events rule {name}"),
                "exists",
                Some(name.clone()),
                None,
                Some(Action::DeleteRule(name)),
            );
        }
    }
    Ok(())
}

/// The names of every EventBridge rule of the prefix (the packs' rule names begin with it).
pub(crate) async fn prefix_rule_names(
    c: &Clients,
    n: &Names,
) -> Result<Vec<String>, ProvisionError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .events
            .list_rules()
            .name_prefix(format!("{}-", n.prefix))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ListRules", e))?;
        names.extend(
            page.rules()
                .iter()
                .filter_map(|r| r.name().map(str::to_owned)),
        );
        token = page.next_token;
        if token.is_none() {
            return Ok(names);
        }
    }
}

async fn plan_role(
    c: &Clients,
    config: &Config,
    n: &Names,
    p: &mut Plan,
) -> Result<(), ProvisionError> {
    let r = format!("iam role {}", n.role);
    let trust = policy::trust(n, config.processor.trusted_principal.as_deref());
    let permissions = policy::processor(n);
    let role = match c.iam.get_role().role_name(&n.role).send().await {
        Ok(o) => o.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws(format!("GetRole {}", n.role), e)),
    };
    let Some(role) = role else {
        p.push(
            &r,
            "exists",
            None,
            Some(trust.to_string()),
            Some(Action::CreateRole),
        );
        p.push(
            &r,
            &format!("policy {}", n.role_policy),
            None,
            Some(permissions.to_string()),
            Some(Action::RolePolicy),
        );
        return Ok(());
    };
    p.push(
        &r,
        "exists",
        Some(role.arn.clone()),
        Some(n.role_arn()),
        None,
    );
    let current_trust = role.assume_role_policy_document().map(decode_iam);
    let same = current_trust
        .as_deref()
        .is_some_and(|t| same_json(t, &trust));
    p.push(
        &r,
        "trust-policy",
        current_trust,
        Some(trust.to_string()),
        (!same).then_some(Action::TrustPolicy),
    );
    let current = match c
        .iam
        .get_role_policy()
        .role_name(&n.role)
        .policy_name(&n.role_policy)
        .send()
        .await
    {
        Ok(o) => Some(decode_iam(&o.policy_document)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws(format!("GetRolePolicy {}", n.role), e)),
    };
    let same = current
        .as_deref()
        .is_some_and(|t| same_json(t, &permissions));
    p.push(
        &r,
        &format!("policy {}", n.role_policy),
        current,
        Some(permissions.to_string()),
        (!same).then_some(Action::RolePolicy),
    );
    Ok(())
}

/// One data resource of the trail's selectors, as the plan shows it: `TYPE values` (values
/// sorted), ` (writes)` for a write-only selector.
fn data_resource_desc(kind: &str, values: &[String], writes_only: bool) -> String {
    let mut v = values.to_vec();
    v.sort();
    format!(
        "{kind} {}{}",
        v.join(","),
        if writes_only { " (writes)" } else { "" }
    )
}

/// The prefix of the evidence bucket's objects, for its data events.
pub(crate) fn evidence_objects(n: &Names) -> String {
    format!("{}/", n.bucket_arn())
}

/// The trail's selectors as the plan shows them: management events, the evidence bucket's
/// object writes (who wrote or deleted evidence; reads would record the processor's own
/// polling of the bucket), and the configured data events.
pub(crate) fn data_events_desc(config: &Config, n: &Names) -> String {
    let mut parts: Vec<String> = config
        .trail
        .data_events
        .iter()
        .map(|d| data_resource_desc(&d.kind, &d.values, false))
        .collect();
    parts.push(data_resource_desc(
        "AWS::S3::Object",
        &[evidence_objects(n)],
        true,
    ));
    parts.sort();
    format!("management events; data events: [{}]", parts.join("; "))
}

async fn plan_trail(
    c: &Clients,
    config: &Config,
    n: &Names,
    p: &mut Plan,
) -> Result<(), ProvisionError> {
    let r = format!("cloudtrail trail {}", n.trail);
    let settings = format!("bucket {}, multi-region, log file validation", n.bucket);
    let trail = match c.cloudtrail.get_trail().name(&n.trail).send().await {
        Ok(o) => o.trail,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_trail_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws(format!("GetTrail {}", n.trail), e)),
    };
    let Some(trail) = trail else {
        p.push(
            &r,
            "exists",
            None,
            Some(settings),
            Some(Action::CreateTrail),
        );
        p.push(
            &r,
            "tags",
            None,
            Some(format!("{OWNER_TAG}={}", n.prefix)),
            Some(Action::TagTrail),
        );
        p.push(
            &r,
            "event-selectors",
            None,
            Some(data_events_desc(config, n)),
            Some(Action::EventSelectors),
        );
        p.push(
            &r,
            "logging",
            None,
            Some("on".into()),
            Some(Action::StartLogging),
        );
        return Ok(());
    };
    let current = format!(
        "bucket {}{}{}",
        trail.s3_bucket_name().unwrap_or(""),
        if trail.is_multi_region_trail() == Some(true) {
            ", multi-region"
        } else {
            ""
        },
        if trail.log_file_validation_enabled() == Some(true) {
            ", log file validation"
        } else {
            ""
        }
    );
    p.setting(&r, "settings", Some(current), settings, Action::UpdateTrail);
    let arn = trail.trail_arn().unwrap_or_default().to_owned();
    let tags = c
        .cloudtrail
        .list_tags()
        .resource_id_list(&arn)
        .send()
        .await
        .map_err(|e| aws(format!("ListTags {arn}"), e))?;
    let tagged = tags
        .resource_tag_list()
        .iter()
        .flat_map(|t| t.tags_list())
        .find(|t| t.key() == OWNER_TAG)
        .and_then(|t| t.value().map(str::to_owned));
    p.setting(
        &r,
        "tags",
        tagged.map(|v| format!("{OWNER_TAG}={v}")),
        format!("{OWNER_TAG}={}", n.prefix),
        Action::TagTrail,
    );
    let sel = c
        .cloudtrail
        .get_event_selectors()
        .trail_name(&n.trail)
        .send()
        .await
        .map_err(|e| aws(format!("GetEventSelectors {}", n.trail), e))?;
    let mut parts: Vec<String> = Vec::new();
    let mut management = false;
    for s in sel.event_selectors() {
        management |= s.include_management_events() == Some(true);
        let writes_only =
            s.read_write_type() == Some(&aws_sdk_cloudtrail::types::ReadWriteType::WriteOnly);
        for d in s.data_resources() {
            parts.push(data_resource_desc(
                d.r#type().unwrap_or(""),
                d.values(),
                writes_only,
            ));
        }
    }
    parts.sort();
    let current = if sel.event_selectors().is_empty() && sel.advanced_event_selectors().is_empty() {
        // A trail without selectors logs management events only.
        "management events; data events: []".to_owned()
    } else {
        format!(
            "{}data events: [{}]",
            if management {
                "management events; "
            } else {
                ""
            },
            parts.join("; ")
        )
    };
    p.setting(
        &r,
        "event-selectors",
        Some(current),
        data_events_desc(config, n),
        Action::EventSelectors,
    );
    let logging = c
        .cloudtrail
        .get_trail_status()
        .name(&n.trail)
        .send()
        .await
        .map_err(|e| aws(format!("GetTrailStatus {}", n.trail), e))?
        .is_logging
        == Some(true);
    p.setting(
        &r,
        "logging",
        Some(if logging { "on" } else { "off" }.into()),
        "on".into(),
        Action::StartLogging,
    );
    Ok(())
}
