//! `destroy`: removes what `apply` made for a prefix, in reverse dependency order (trail, rules,
//! topic, queues, role, bucket, key). Objects under retention are never touched: each is left
//! and reported with its retain-until date, and so is the bucket holding them and the key
//! their data keys are encrypted under. Safe to rerun: what is gone already is skipped.

use serde::Serialize;

use crate::config::Names;
use crate::engine::{self, Clients, OWNER_TAG, code};
use crate::error::{ProvisionError, aws};

/// An object version `destroy` could not remove.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retained {
    pub key: String,
    pub version_id: String,
    /// `COMPLIANCE` or `GOVERNANCE`, when S3 names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// RFC 3339, when S3 names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// `ON` when a legal hold keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<String>,
}

/// What `destroy` did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destroyed {
    /// Resources (and object versions) removed by this run.
    pub removed: Vec<String>,
    /// Resources already gone.
    pub absent: Vec<String>,
    /// Resources left, each with the reason.
    pub kept: Vec<String>,
    /// Object versions under retention or legal hold.
    pub retained: Vec<Retained>,
}

impl Destroyed {
    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.removed {
            out.push_str(&format!("- removed {r}\n"));
        }
        for r in &self.kept {
            out.push_str(&format!("! kept {r}\n"));
        }
        for r in &self.retained {
            out.push_str(&format!(
                "! retained s3 object {} (version {}): {} until {}{}\n",
                r.key,
                r.version_id,
                r.mode.as_deref().unwrap_or("locked"),
                r.retain_until.as_deref().unwrap_or("(date not given)"),
                if r.legal_hold.as_deref() == Some("ON") {
                    ", legal hold on"
                } else {
                    ""
                }
            ));
        }
        out.push_str(&format!(
            "{} removed, {} already gone, {} kept, {} object versions under retention\n",
            self.removed.len(),
            self.absent.len(),
            self.kept.len(),
            self.retained.len()
        ));
        out
    }
}

/// Removes the prefix's resources. A bucket of the plan's name that is not this prefix's is
/// refused (nothing else is touched after it).
pub async fn destroy(c: &Clients, n: &Names) -> Result<Destroyed, ProvisionError> {
    let mut d = Destroyed::default();
    // The trail first, so nothing more is written into the bucket.
    let trail = format!("cloudtrail trail {}", n.trail);
    match c.cloudtrail.delete_trail().name(&n.trail).send().await {
        Ok(_) => d.removed.push(trail),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_trail_not_found_exception()) =>
        {
            d.absent.push(trail)
        }
        Err(e) => return Err(aws(format!("DeleteTrail {}", n.trail), e)),
    }
    // Every rule of the prefix (the packs' names begin with it).
    let names = engine::prefix_rule_names(c, n).await?;
    for name in names {
        delete_rule(c, &name).await?;
        d.removed.push(format!("events rule {name}"));
    }
    // The topic and its subscriptions.
    let topic = format!("sns topic {}", n.topic);
    let arn = n.topic_arn();
    match c.sns.get_topic_attributes().topic_arn(&arn).send().await {
        Ok(_) => {
            let mut pages = c
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&arn)
                .into_paginator()
                .send();
            let mut subs = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws(format!("ListSubscriptionsByTopic {arn}"), e))?;
                subs.extend(
                    page.subscriptions()
                        .iter()
                        .filter_map(|s| s.subscription_arn().map(str::to_owned)),
                );
            }
            for s in subs.iter().filter(|s| s.starts_with("arn:")) {
                c.sns
                    .unsubscribe()
                    .subscription_arn(s)
                    .send()
                    .await
                    .map_err(|e| aws(format!("Unsubscribe {s}"), e))?;
            }
            c.sns
                .delete_topic()
                .topic_arn(&arn)
                .send()
                .await
                .map_err(|e| aws(format!("DeleteTopic {arn}"), e))?;
            d.removed.push(topic);
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            d.absent.push(topic)
        }
        Err(e) => return Err(aws(format!("GetTopicAttributes {arn}"), e)),
    }
    // The queues, the main one first.
    for name in [&n.queue, &n.dead_letter_queue, &n.alerts_inbox] {
        let r = format!("sqs queue {name}");
        match engine::queue_url(c, name).await? {
            Some(url) => {
                c.sqs
                    .delete_queue()
                    .queue_url(url)
                    .send()
                    .await
                    .map_err(|e| aws(format!("DeleteQueue {name}"), e))?;
                d.removed.push(r);
            }
            None => d.absent.push(r),
        }
    }
    // The role: its inline policies, then the role.
    let role = format!("iam role {}", n.role);
    match c.iam.list_role_policies().role_name(&n.role).send().await {
        Ok(o) => {
            for p in o.policy_names() {
                c.iam
                    .delete_role_policy()
                    .role_name(&n.role)
                    .policy_name(p)
                    .send()
                    .await
                    .map_err(|e| aws(format!("DeleteRolePolicy {p}"), e))?;
            }
            c.iam
                .delete_role()
                .role_name(&n.role)
                .send()
                .await
                .map_err(|e| aws(format!("DeleteRole {}", n.role), e))?;
            d.removed.push(role);
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            d.absent.push(role)
        }
        Err(e) => return Err(aws(format!("ListRolePolicies {}", n.role), e)),
    }
    // The bucket: every version not under retention, then the bucket if it is empty.
    let bucket_gone = destroy_bucket(c, n, &mut d).await?;
    // The key only once nothing encrypted under it is left.
    destroy_key(c, n, bucket_gone, &mut d).await?;
    Ok(d)
}

/// Removes a rule's targets, then the rule.
pub(crate) async fn delete_rule(c: &Clients, name: &str) -> Result<(), ProvisionError> {
    let targets = c
        .events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .map_err(|e| aws(format!("ListTargetsByRule {name}"), e))?;
    let ids: Vec<String> = targets
        .targets()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    if !ids.is_empty() {
        c.events
            .remove_targets()
            .rule(name)
            .set_ids(Some(ids))
            .send()
            .await
            .map_err(|e| aws(format!("RemoveTargets {name}"), e))?;
    }
    c.events
        .delete_rule()
        .name(name)
        .send()
        .await
        .map_err(|e| aws(format!("DeleteRule {name}"), e))?;
    Ok(())
}

/// Whether the bucket is gone at the end.
async fn destroy_bucket(c: &Clients, n: &Names, d: &mut Destroyed) -> Result<bool, ProvisionError> {
    let b = &n.bucket;
    let r = format!("s3 bucket {b}");
    if !engine::bucket_exists(c, n).await? {
        d.absent.push(r);
        return Ok(true);
    }
    let owner = match c.s3.get_bucket_tagging().bucket(b).send().await {
        Ok(t) => t
            .tag_set()
            .iter()
            .find(|t| t.key() == OWNER_TAG)
            .map(|t| t.value().to_owned()),
        Err(e) if code(&e).as_deref() == Some("NoSuchTagSet") => None,
        Err(e) => return Err(aws(format!("GetBucketTagging {b}"), e)),
    };
    if owner.as_deref() != Some(n.prefix.as_str()) && !engine::bucket_is_empty(c, b).await? {
        return Err(ProvisionError::NotOurs {
            resource: r,
            reason: match owner {
                Some(v) => format!("it is tagged {OWNER_TAG}={v}; nothing in it was touched"),
                None => format!(
                    "it has no {OWNER_TAG} tag and holds objects; nothing in it was touched"
                ),
            },
        });
    }
    let mut versions: Vec<(String, String)> = Vec::new();
    let mut key_marker = None;
    let mut version_marker = None;
    loop {
        let page =
            c.s3.list_object_versions()
                .bucket(b)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| aws(format!("ListObjectVersions {b}"), e))?;
        for v in page.versions() {
            versions.push((
                v.key().unwrap_or_default().to_owned(),
                v.version_id().unwrap_or("null").to_owned(),
            ));
        }
        for m in page.delete_markers() {
            versions.push((
                m.key().unwrap_or_default().to_owned(),
                m.version_id().unwrap_or("null").to_owned(),
            ));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker;
        version_marker = page.next_version_id_marker;
        if key_marker.is_none() {
            break;
        }
    }
    let mut removed_versions = 0usize;
    for (key, version) in versions {
        match c
            .s3
            .delete_object()
            .bucket(b)
            .key(&key)
            .version_id(&version)
            .send()
            .await
        {
            Ok(_) => removed_versions += 1,
            Err(e) if code(&e).as_deref() == Some("AccessDenied") => {
                let head =
                    c.s3.head_object()
                        .bucket(b)
                        .key(&key)
                        .version_id(&version)
                        .send()
                        .await
                        .ok();
                d.retained.push(Retained {
                    mode: head
                        .as_ref()
                        .and_then(|h| h.object_lock_mode())
                        .map(|m| m.as_str().to_owned()),
                    retain_until: head
                        .as_ref()
                        .and_then(|h| h.object_lock_retain_until_date())
                        .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok()),
                    legal_hold: head
                        .as_ref()
                        .and_then(|h| h.object_lock_legal_hold_status())
                        .map(|s| s.as_str().to_owned()),
                    key,
                    version_id: version,
                });
            }
            Err(e) => return Err(aws(format!("DeleteObject {b}/{key} ({version})"), e)),
        }
    }
    if removed_versions > 0 {
        d.removed.push(format!(
            "{removed_versions} object versions of {r} past retention"
        ));
    }
    if d.retained.is_empty() {
        c.s3.delete_bucket()
            .bucket(b)
            .send()
            .await
            .map_err(|e| aws(format!("DeleteBucket {b}"), e))?;
        d.removed.push(r);
        Ok(true)
    } else {
        let last = d
            .retained
            .iter()
            .filter_map(|r| r.retain_until.as_deref())
            .max()
            .unwrap_or("(not given)")
            .to_owned();
        d.kept.push(format!(
            "{r}: {} object versions under retention, the last until {last}; rerun destroy after that",
            d.retained.len()
        ));
        Ok(false)
    }
}

async fn destroy_key(
    c: &Clients,
    n: &Names,
    bucket_gone: bool,
    d: &mut Destroyed,
) -> Result<(), ProvisionError> {
    let r = format!("kms key {}", n.key_alias);
    let Some(id) = crate::engine::find_alias_target(c, n).await? else {
        d.absent.push(r);
        return Ok(());
    };
    let state = c
        .kms
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .map_err(|e| aws(format!("DescribeKey {id}"), e))?
        .key_metadata()
        .and_then(|m| m.key_state().cloned());
    if state == Some(aws_sdk_kms::types::KeyState::PendingDeletion) {
        d.absent.push(r);
        return Ok(());
    }
    if !bucket_gone {
        d.kept.push(format!(
            "{r}: the retained objects in {} are encrypted under it",
            n.bucket
        ));
        return Ok(());
    }
    let o = c
        .kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .map_err(|e| aws(format!("ScheduleKeyDeletion {id}"), e))?;
    let when = o
        .deletion_date()
        .and_then(|t| {
            t.fmt(aws_sdk_kms::primitives::DateTimeFormat::DateTime)
                .ok()
        })
        .unwrap_or_else(|| "in 7 days".into());
    d.removed.push(format!(
        "{r} (deletion scheduled for {when}, KMS's shortest wait)"
    ));
    Ok(())
}
