//! `apply`: plans again, then makes each pending change in the plan's order, reporting each
//! as it is done. Idempotent: what is already as configured is not touched.

use aws_sdk_s3::types as s3t;

use crate::config::{Config, Names};
use crate::engine::{self, Clients, Found, OWNER_TAG, key_description, lifecycle_id, redrive};
use crate::error::{ProvisionError, aws};
use crate::plan::{Action, Change, Plan};
use crate::policy;

/// What `apply` did: the plan it made, and how many of its changes were made.
#[derive(Debug, Clone)]
pub struct Applied {
    pub plan: Plan,
    pub made: usize,
}

/// Makes every pending change of a fresh plan, calling `done` after each one.
pub async fn apply(
    c: &Clients,
    config: &Config,
    n: &Names,
    mut done: impl FnMut(&Change),
) -> Result<Applied, ProvisionError> {
    let (plan, mut found) = engine::plan_found(c, config, n).await?;
    let mut made = 0;
    let mut queue_attributes_set = false;
    for change in plan.pending() {
        let Some(action) = &change.action else {
            continue;
        };
        // One SetQueueAttributes sets the redrive policy and the policy together.
        if *action == Action::QueueAttributes {
            if queue_attributes_set {
                done(change);
                made += 1;
                continue;
            }
            queue_attributes_set = true;
        }
        run(c, config, n, &mut found, action).await?;
        done(change);
        made += 1;
    }
    Ok(Applied { plan, made })
}

async fn run(
    c: &Clients,
    config: &Config,
    n: &Names,
    f: &mut Found,
    action: &Action,
) -> Result<(), ProvisionError> {
    let key_id = |f: &Found| {
        f.key_id.clone().ok_or_else(|| ProvisionError::Conflict {
            resource: format!("kms key {}", n.key_alias),
            reason: "the key is not there".into(),
        })
    };
    let b = &n.bucket;
    match action {
        Action::CreateKey => {
            let k = c
                .kms
                .create_key()
                .description(key_description(n))
                .policy(policy::key(n).to_string())
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key(OWNER_TAG)
                        .tag_value(&n.prefix)
                        .build()
                        .map_err(|e| aws("CreateKey tag", e))?,
                )
                .send()
                .await
                .map_err(|e| aws("CreateKey", e))?;
            f.key_id = k.key_metadata().map(|m| m.key_id().to_owned());
        }
        Action::CreateAlias => {
            c.kms
                .create_alias()
                .alias_name(&n.key_alias)
                .target_key_id(key_id(f)?)
                .send()
                .await
                .map_err(|e| aws(format!("CreateAlias {}", n.key_alias), e))?;
        }
        Action::EnableKeyRotation => {
            c.kms
                .enable_key_rotation()
                .key_id(key_id(f)?)
                .send()
                .await
                .map_err(|e| aws("EnableKeyRotation", e))?;
        }
        Action::CancelKeyDeletion => {
            c.kms
                .cancel_key_deletion()
                .key_id(key_id(f)?)
                .send()
                .await
                .map_err(|e| aws("CancelKeyDeletion", e))?;
        }
        Action::EnableKey => {
            c.kms
                .enable_key()
                .key_id(key_id(f)?)
                .send()
                .await
                .map_err(|e| aws("EnableKey", e))?;
        }
        Action::CreateBucket => {
            let mut req =
                c.s3.create_bucket()
                    .bucket(b)
                    .object_lock_enabled_for_bucket(true);
            if n.region != "us-east-1" {
                req = req.create_bucket_configuration(
                    s3t::CreateBucketConfiguration::builder()
                        .location_constraint(s3t::BucketLocationConstraint::from(n.region.as_str()))
                        .build(),
                );
            }
            match req.send().await {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_bucket_already_exists()) =>
                {
                    return Err(ProvisionError::NotOurs {
                        resource: format!("s3 bucket {b}"),
                        reason: "the name is taken by another account".into(),
                    });
                }
                Err(e) => return Err(aws(format!("CreateBucket {b}"), e)),
            }
        }
        Action::TagBucket => {
            let tag = s3t::Tag::builder()
                .key(OWNER_TAG)
                .value(&n.prefix)
                .build()
                .map_err(|e| aws("PutBucketTagging", e))?;
            let set = s3t::Tagging::builder()
                .tag_set(tag)
                .build()
                .map_err(|e| aws("PutBucketTagging", e))?;
            c.s3.put_bucket_tagging()
                .bucket(b)
                .tagging(set)
                .send()
                .await
                .map_err(|e| aws(format!("PutBucketTagging {b}"), e))?;
        }
        Action::Versioning => {
            c.s3.put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(
                    s3t::VersioningConfiguration::builder()
                        .status(s3t::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws(format!("PutBucketVersioning {b}"), e))?;
        }
        Action::ObjectLock => {
            let days = i32::try_from(config.bucket.retention_days)
                .map_err(|e| ProvisionError::Config(e.to_string()))?;
            let lock = s3t::ObjectLockConfiguration::builder()
                .object_lock_enabled(s3t::ObjectLockEnabled::Enabled)
                .rule(
                    s3t::ObjectLockRule::builder()
                        .default_retention(
                            s3t::DefaultRetention::builder()
                                .mode(s3t::ObjectLockRetentionMode::Compliance)
                                .days(days)
                                .build(),
                        )
                        .build(),
                )
                .build();
            c.s3.put_object_lock_configuration()
                .bucket(b)
                .object_lock_configuration(lock)
                .send()
                .await
                .map_err(|e| aws(format!("PutObjectLockConfiguration {b}"), e))?;
        }
        Action::Encryption => {
            let arn = format!(
                "arn:{}:kms:{}:{}:key/{}",
                n.partition,
                n.region,
                n.account,
                key_id(f)?
            );
            let by_default = s3t::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(s3t::ServerSideEncryption::AwsKms)
                .kms_master_key_id(arn)
                .build()
                .map_err(|e| aws("PutBucketEncryption", e))?;
            let conf = s3t::ServerSideEncryptionConfiguration::builder()
                .rules(
                    s3t::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .map_err(|e| aws("PutBucketEncryption", e))?;
            c.s3.put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(conf)
                .send()
                .await
                .map_err(|e| aws(format!("PutBucketEncryption {b}"), e))?;
        }
        Action::PublicAccessBlock => {
            c.s3.put_public_access_block()
                .bucket(b)
                .public_access_block_configuration(
                    s3t::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws(format!("PutPublicAccessBlock {b}"), e))?;
        }
        Action::BucketPolicy => {
            c.s3.put_bucket_policy()
                .bucket(b)
                .policy(policy::bucket(n).to_string())
                .send()
                .await
                .map_err(|e| aws(format!("PutBucketPolicy {b}"), e))?;
        }
        Action::Lifecycle => {
            let days = i32::try_from(config.bucket.transition_days)
                .map_err(|e| ProvisionError::Config(e.to_string()))?;
            let rule = s3t::LifecycleRule::builder()
                .id(lifecycle_id(n))
                .status(s3t::ExpirationStatus::Enabled)
                .filter(s3t::LifecycleRuleFilter::builder().prefix("").build())
                .transitions(
                    s3t::Transition::builder()
                        .days(days)
                        .storage_class(s3t::TransitionStorageClass::from(
                            config.bucket.storage_class.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| aws("PutBucketLifecycleConfiguration", e))?;
            let conf = s3t::BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| aws("PutBucketLifecycleConfiguration", e))?;
            c.s3.put_bucket_lifecycle_configuration()
                .bucket(b)
                .lifecycle_configuration(conf)
                .send()
                .await
                .map_err(|e| aws(format!("PutBucketLifecycleConfiguration {b}"), e))?;
        }
        Action::CreateDeadLetterQueue => {
            let o = c
                .sqs
                .create_queue()
                .queue_name(&n.dead_letter_queue)
                .tags(OWNER_TAG, &n.prefix)
                .send()
                .await
                .map_err(|e| aws(format!("CreateQueue {}", n.dead_letter_queue), e))?;
            f.dead_letter_queue_url = o.queue_url;
        }
        Action::CreateQueue => {
            use aws_sdk_sqs::types::QueueAttributeName as Q;
            let o = c
                .sqs
                .create_queue()
                .queue_name(&n.queue)
                .attributes(Q::RedrivePolicy, redrive(n, config).to_string())
                .attributes(Q::Policy, policy::queue(n).to_string())
                .tags(OWNER_TAG, &n.prefix)
                .send()
                .await
                .map_err(|e| aws(format!("CreateQueue {}", n.queue), e))?;
            f.queue_url = o.queue_url;
        }
        Action::QueueAttributes => {
            use aws_sdk_sqs::types::QueueAttributeName as Q;
            let url = known_queue_url(c, &f.queue_url, &n.queue).await?;
            c.sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(Q::RedrivePolicy, redrive(n, config).to_string())
                .attributes(Q::Policy, policy::queue(n).to_string())
                .send()
                .await
                .map_err(|e| aws(format!("SetQueueAttributes {}", n.queue), e))?;
        }
        Action::CreateAlertsInbox => {
            use aws_sdk_sqs::types::QueueAttributeName as Q;
            let o = c
                .sqs
                .create_queue()
                .queue_name(&n.alerts_inbox)
                .attributes(Q::Policy, policy::alerts_inbox(n).to_string())
                // SQS's longest: alerts wait two weeks to be read.
                .attributes(Q::MessageRetentionPeriod, "1209600")
                .tags(OWNER_TAG, &n.prefix)
                .send()
                .await
                .map_err(|e| aws(format!("CreateQueue {}", n.alerts_inbox), e))?;
            f.alerts_inbox_url = o.queue_url;
        }
        Action::AlertsInboxPolicy => {
            let url = known_queue_url(c, &f.alerts_inbox_url, &n.alerts_inbox).await?;
            c.sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::Policy,
                    policy::alerts_inbox(n).to_string(),
                )
                .send()
                .await
                .map_err(|e| aws(format!("SetQueueAttributes {}", n.alerts_inbox), e))?;
        }
        Action::CreateTopic => {
            c.sns
                .create_topic()
                .name(&n.topic)
                .tags(
                    aws_sdk_sns::types::Tag::builder()
                        .key(OWNER_TAG)
                        .value(&n.prefix)
                        .build()
                        .map_err(|e| aws("CreateTopic tag", e))?,
                )
                .send()
                .await
                .map_err(|e| aws(format!("CreateTopic {}", n.topic), e))?;
        }
        Action::Subscribe(s) => {
            c.sns
                .subscribe()
                .topic_arn(n.topic_arn())
                .protocol(&s.protocol)
                .endpoint(&s.endpoint)
                .send()
                .await
                .map_err(|e| aws(format!("Subscribe {}:{}", s.protocol, s.endpoint), e))?;
        }
        Action::PutRule { pack, rule } => {
            let (p, r) = pack_rule(n, *pack, *rule)?;
            let name = n.rule_name(&p.id, &r.id);
            c.events
                .put_rule()
                .name(&name)
                .description(r.title.chars().take(512).collect::<String>())
                .event_pattern(r.pattern.source())
                // Failed sign-ins, denied reads and root use are read-only calls too.
                .state(
                    aws_sdk_eventbridge::types::RuleState::EnabledWithAllCloudtrailManagementEvents,
                )
                .tags(
                    aws_sdk_eventbridge::types::Tag::builder()
                        .key(OWNER_TAG)
                        .value(&n.prefix)
                        .build()
                        .map_err(|e| aws("PutRule tag", e))?,
                )
                .send()
                .await
                .map_err(|e| aws(format!("PutRule {name}"), e))?;
        }
        Action::PutTarget { pack, rule } => {
            let (p, r) = pack_rule(n, *pack, *rule)?;
            let name = n.rule_name(&p.id, &r.id);
            let target = aws_sdk_eventbridge::types::Target::builder()
                .id("veritrail-queue")
                .arn(n.queue_arn())
                .build()
                .map_err(|e| aws(format!("PutTargets {name}"), e))?;
            let put = c
                .events
                .put_targets()
                .rule(&name)
                .targets(target)
                .send()
                .await
                .map_err(|e| aws(format!("PutTargets {name}"), e))?;
            if put.failed_entry_count() > 0 {
                return Err(ProvisionError::Aws {
                    call: format!("PutTargets {name}"),
                    message: format!("{:?}", put.failed_entries()),
                });
            }
        }
        Action::DeleteRule(name) => crate::destroy::delete_rule(c, name).await?,
        Action::CreateRole => {
            c.iam
                .create_role()
                .role_name(&n.role)
                .description(format!(
                    "veritrail processor for prefix {}: reads its queue and bucket, publishes alerts",
                    n.prefix
                ))
                .assume_role_policy_document(
                    policy::trust(n, config.processor.trusted_principal.as_deref()).to_string(),
                )
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key(OWNER_TAG)
                        .value(&n.prefix)
                        .build()
                        .map_err(|e| aws("CreateRole tag", e))?,
                )
                .send()
                .await
                .map_err(|e| aws(format!("CreateRole {}", n.role), e))?;
        }
        Action::TrustPolicy => {
            c.iam
                .update_assume_role_policy()
                .role_name(&n.role)
                .policy_document(
                    policy::trust(n, config.processor.trusted_principal.as_deref()).to_string(),
                )
                .send()
                .await
                .map_err(|e| aws(format!("UpdateAssumeRolePolicy {}", n.role), e))?;
        }
        Action::RolePolicy => {
            c.iam
                .put_role_policy()
                .role_name(&n.role)
                .policy_name(&n.role_policy)
                .policy_document(policy::processor(n).to_string())
                .send()
                .await
                .map_err(|e| aws(format!("PutRolePolicy {}", n.role), e))?;
        }
        Action::CreateTrail => {
            match c
                .cloudtrail
                .create_trail()
                .name(&n.trail)
                .s3_bucket_name(b)
                .is_multi_region_trail(true)
                .enable_log_file_validation(true)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_trail_already_exists_exception()) => {}
                Err(e) => return Err(aws(format!("CreateTrail {}", n.trail), e)),
            }
        }
        Action::UpdateTrail => {
            c.cloudtrail
                .update_trail()
                .name(&n.trail)
                .s3_bucket_name(b)
                .is_multi_region_trail(true)
                .enable_log_file_validation(true)
                .send()
                .await
                .map_err(|e| aws(format!("UpdateTrail {}", n.trail), e))?;
        }
        Action::TagTrail => {
            c.cloudtrail
                .add_tags()
                .resource_id(n.trail_arn())
                .tags_list(
                    aws_sdk_cloudtrail::types::Tag::builder()
                        .key(OWNER_TAG)
                        .value(&n.prefix)
                        .build()
                        .map_err(|e| aws("AddTags", e))?,
                )
                .send()
                .await
                .map_err(|e| aws(format!("AddTags {}", n.trail), e))?;
        }
        Action::EventSelectors => {
            use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType};
            let mut sel = EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true);
            for d in &config.trail.data_events {
                sel = sel.data_resources(
                    DataResource::builder()
                        .r#type(&d.kind)
                        .set_values(Some(d.values.clone()))
                        .build(),
                );
            }
            let evidence = EventSelector::builder()
                .read_write_type(ReadWriteType::WriteOnly)
                .include_management_events(false)
                .data_resources(
                    DataResource::builder()
                        .r#type("AWS::S3::Object")
                        .values(engine::evidence_objects(n))
                        .build(),
                )
                .build();
            c.cloudtrail
                .put_event_selectors()
                .trail_name(&n.trail)
                .event_selectors(sel.build())
                .event_selectors(evidence)
                .send()
                .await
                .map_err(|e| aws(format!("PutEventSelectors {}", n.trail), e))?;
        }
        Action::StartLogging => {
            c.cloudtrail
                .start_logging()
                .name(&n.trail)
                .send()
                .await
                .map_err(|e| aws(format!("StartLogging {}", n.trail), e))?;
        }
    }
    Ok(())
}

/// A queue's URL: the one the plan or an earlier action found, else asked for again.
async fn known_queue_url(
    c: &Clients,
    known: &Option<String>,
    name: &str,
) -> Result<String, ProvisionError> {
    if let Some(u) = known {
        return Ok(u.clone());
    }
    engine::queue_url(c, name)
        .await?
        .ok_or_else(|| ProvisionError::Conflict {
            resource: format!("sqs queue {name}"),
            reason: "the queue is not there".into(),
        })
}

fn pack_rule(
    n: &Names,
    pack: usize,
    rule: usize,
) -> Result<
    (
        &veritrail_rules::packs::RulePack,
        &veritrail_rules::packs::Rule,
    ),
    ProvisionError,
> {
    let p = n
        .packs
        .get(pack)
        .ok_or_else(|| ProvisionError::Config(format!("no pack {pack}")))?;
    let r = p
        .rules
        .get(rule)
        .ok_or_else(|| ProvisionError::Config(format!("no rule {rule} in {}", p.id)))?;
    Ok((p, r))
}
