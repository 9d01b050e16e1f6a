//! `veritrail serve`: the emulator and, on embedded defaults, a working audit trail beside it.
//!
//! With the defaults (everything idempotent, so a restart on the same data directory sets up
//! nothing twice), once the emulator listens:
//! - QLDB ledger `audit` (`<data-dir>/ledgers/audit.ledger`, the file the QLDB API serves, so
//!   `aws qldb get-digest --name audit` reads it) and its checkpoint-signing key in the key
//!   directory; a checkpoint is signed at start and then at most once a minute while records
//!   come in;
//! - an Object Lock bucket (COMPLIANCE default retention) with CloudTrail's bucket policy,
//!   SSE-KMS with a rotating key of its own (`alias/veritrail-trail`) and every public access
//!   block setting on, and a validated multi-region trail logging into it (management events
//!   read and write, and data events for writes to the bucket's objects);
//! - SQS queue `veritrail-audit` (with dead-letter queue `veritrail-audit-dlq` after 5
//!   receives), every rule of the shipped packs as an EventBridge rule on the default bus
//!   targeting it, and SNS topic `veritrail-alerts` for alerts, with queue
//!   `veritrail-alerts-inbox` subscribed so alerts wait there to be read;
//! - in this process, the audit processor on two threads: the queue (rules, alerts to the
//!   topic) and the trail's log files in the bucket (every record, no deliveries: an alert a
//!   log file raises first is delivered when its event comes through the queue), both into
//!   `audit`, idempotent by `eventID`, with state in `<data-dir>/processor/audit/`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use clap::Args;
use veritrail_core::time::{Clock, UtcMillis};
use veritrail_emulator::auth::OwnCredential;
use veritrail_emulator::{ACCOUNT_ID, Companion, Emulator, ServeArgs};
use veritrail_ledger::checkpoint::{CheckpointContent, CheckpointKey};
use veritrail_ledger::db::Database;
use veritrail_ledger::files::LedgerFiles;
use veritrail_processor::aws::Aws;
use veritrail_processor::aws::s3::{BucketOptions, BucketSource};
use veritrail_processor::aws::sns::Topic;
use veritrail_processor::aws::sqs::{QueueOptions, QueueSource};
use veritrail_processor::notify::{Deliverer, Retry, Sleep};
use veritrail_processor::{Observer, Processor, ProcessorOptions, RuleSet, Source, Summary};

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    serve: ServeArgs,
    /// The bare emulator: no ledger, bucket, trail, rules, queue, topic or processor.
    #[arg(long)]
    no_defaults: bool,
}

/// The names the defaults use.
pub const LEDGER: &str = "audit";
pub const TRAIL: &str = "veritrail";
pub const QUEUE: &str = "veritrail-audit";
pub const DEAD_LETTER_QUEUE: &str = "veritrail-audit-dlq";
pub const TOPIC: &str = "veritrail-alerts";
/// The queue subscribed to the alert topic, where alerts wait to be read.
pub const ALERT_INBOX: &str = "veritrail-alerts-inbox";
/// The alias of the trail bucket's SSE-KMS key.
pub const KEY_ALIAS: &str = "alias/veritrail-trail";
pub(crate) const REGION: &str = "us-east-1";
/// Object Lock's default retention on the trail bucket.
const RETENTION_DAYS: i32 = 365;
/// Receives before SQS moves a message the processor rejects to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;

fn bucket() -> String {
    format!("veritrail-trail-{ACCOUNT_ID}")
}

pub fn run(cmd: ServeCmd) -> ExitCode {
    if cmd.no_defaults {
        return veritrail_emulator::run_serve(cmd.serve);
    }
    veritrail_emulator::run_serve_with(cmd.serve, |url, emulator| {
        start(&url, &emulator).map(|d| Some(Box::new(d) as Box<dyn Companion>))
    })
}

/// What `set_up` made.
#[derive(Debug)]
struct SetUp {
    queue_url: String,
    topic_arn: String,
    inbox: String,
    rules: usize,
}

/// The emulator's own endpoint: with fixed credentials when it checks no signature (so a
/// machine with no AWS credentials works), else with the server's own generated credential.
pub(crate) fn local_aws(url: &str, own: Option<&OwnCredential>) -> Result<Aws, String> {
    match own {
        Some(c) => Aws::local_as(url, REGION, &c.access_key, c.secret()),
        None => Aws::local(url, REGION),
    }
    .map_err(|e| e.to_string())
}

async fn set_up(conf: &aws_config::SdkConfig, rules: &RuleSet) -> Result<SetUp, String> {
    use aws_sdk_cloudtrail::error::DisplayErrorContext as Ctx;
    // The queue, rules and topic first: the calls below are then on the bus like any other,
    // so their alerts are delivered too.
    let sqs = aws_sdk_sqs::Client::new(conf);
    let dlq_url = sqs
        .create_queue()
        .queue_name(DEAD_LETTER_QUEUE)
        .send()
        .await
        .map_err(|e| format!("CreateQueue {DEAD_LETTER_QUEUE}: {}", Ctx(e)))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes {DEAD_LETTER_QUEUE}: {}", Ctx(e)))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("{DEAD_LETTER_QUEUE} has no QueueArn"))?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
            .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(QUEUE)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| format!("CreateQueue {QUEUE}: {}", Ctx(e)))?
        .queue_url
        .unwrap_or_default();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE}");

    let events = aws_sdk_eventbridge::Client::new(conf);
    let mut count = 0;
    for (pack, rule) in rules.rules() {
        let name = rule_name(pack, &rule.id);
        events
            .put_rule()
            .name(&name)
            .description(truncate(&rule.title, 512))
            .event_pattern(rule.pattern.source())
            // Failed sign-ins, denied reads and root use are read-only calls too.
            .state(aws_sdk_eventbridge::types::RuleState::EnabledWithAllCloudtrailManagementEvents)
            .send()
            .await
            .map_err(|e| format!("PutRule {name}: {}", Ctx(e)))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("veritrail-audit")
            .arn(&queue_arn)
            .build()
            .map_err(|e| format!("target of {name}: {e}"))?;
        let put = events
            .put_targets()
            .rule(&name)
            .targets(target)
            .send()
            .await
            .map_err(|e| format!("PutTargets {name}: {}", Ctx(e)))?;
        if put.failed_entry_count() > 0 {
            return Err(format!("PutTargets {name}: {:?}", put.failed_entries()));
        }
        count += 1;
    }

    let sns = aws_sdk_sns::Client::new(conf);
    let topic_arn = sns
        .create_topic()
        .name(TOPIC)
        .send()
        .await
        .map_err(|e| format!("CreateTopic {TOPIC}: {}", Ctx(e)))?
        .topic_arn
        .unwrap_or_default();

    let s3 = aws_sdk_s3::Client::new(conf);
    let bucket = bucket();
    match s3
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(format!("CreateBucket {bucket}: {}", Ctx(e))),
    }
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    let lock = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(ObjectLockRetentionMode::Compliance)
                        .days(RETENTION_DAYS)
                        .build(),
                )
                .build(),
        )
        .build();
    // Only what is not already so is changed: a restart makes no call the packs would alert on.
    let locked = s3
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .ok()
        .and_then(|c| c.object_lock_configuration)
        .and_then(|c| c.rule)
        .and_then(|r| r.default_retention)
        .is_some_and(|d| {
            d.mode == Some(ObjectLockRetentionMode::Compliance) && d.days == Some(RETENTION_DAYS)
        });
    if !locked {
        s3.put_object_lock_configuration()
            .bucket(&bucket)
            .object_lock_configuration(lock)
            .send()
            .await
            .map_err(|e| format!("PutObjectLockConfiguration {bucket}: {}", Ctx(e)))?;
    }
    let policy =
        veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy(&bucket);
    let current = s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy)
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok());
    if current != serde_json::from_str(&policy).ok() {
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(policy)
            .send()
            .await
            .map_err(|e| format!("PutBucketPolicy {bucket}: {}", Ctx(e)))?;
    }

    protect_bucket(conf, &bucket).await?;
    let inbox = subscribe_inbox(conf, &topic_arn).await?;

    let ct = aws_sdk_cloudtrail::Client::new(conf);
    // Asked first: even a refused CreateTrail is an event the packs alert on.
    if ct.get_trail().name(TRAIL).send().await.is_err() {
        ct.create_trail()
            .name(TRAIL)
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(true)
            .enable_log_file_validation(true)
            .send()
            .await
            .map_err(|e| format!("CreateTrail {TRAIL}: {}", Ctx(e)))?;
    }
    let logging = ct
        .get_trail_status()
        .name(TRAIL)
        .send()
        .await
        .ok()
        .and_then(|s| s.is_logging)
        == Some(true);
    if !logging {
        ct.start_logging()
            .name(TRAIL)
            .send()
            .await
            .map_err(|e| format!("StartLogging {TRAIL}: {}", Ctx(e)))?;
    }

    // Management events read and write, and writes to the trail bucket's objects (reads would
    // record the processor's own polling, hour after hour).
    let selectors = ct
        .get_event_selectors()
        .trail_name(TRAIL)
        .send()
        .await
        .map_err(|e| format!("GetEventSelectors {TRAIL}: {}", Ctx(e)))?;
    let data_value = format!("arn:aws:s3:::{bucket}/");
    let has_data = selectors.event_selectors().iter().any(|s| {
        s.data_resources()
            .iter()
            .any(|d| d.values().contains(&data_value))
    });
    if !has_data {
        use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType};
        let management = EventSelector::builder()
            .read_write_type(ReadWriteType::All)
            .include_management_events(true)
            .build();
        let data = EventSelector::builder()
            .read_write_type(ReadWriteType::WriteOnly)
            .include_management_events(false)
            .data_resources(
                DataResource::builder()
                    .r#type("AWS::S3::Object")
                    .values(&data_value)
                    .build(),
            )
            .build();
        ct.put_event_selectors()
            .trail_name(TRAIL)
            .event_selectors(management)
            .event_selectors(data)
            .send()
            .await
            .map_err(|e| format!("PutEventSelectors {TRAIL}: {}", Ctx(e)))?;
    }

    let qldb = aws_sdk_qldb::Client::new(conf);
    match qldb
        .create_ledger()
        .name(LEDGER)
        .permissions_mode(aws_sdk_qldb::types::PermissionsMode::Standard)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
        Err(e) => return Err(format!("CreateLedger {LEDGER}: {}", Ctx(e))),
    }
    Ok(SetUp {
        queue_url,
        topic_arn,
        inbox,
        rules: count,
    })
}

/// The trail bucket's protection beyond Object Lock: SSE-KMS with a rotating key of its own
/// (alias [`KEY_ALIAS`]) and every public access block setting on. Idempotent.
async fn protect_bucket(conf: &aws_config::SdkConfig, bucket: &str) -> Result<(), String> {
    use aws_sdk_cloudtrail::error::DisplayErrorContext as Ctx;
    let kms = aws_sdk_kms::Client::new(conf);
    let key_id = match kms.describe_key().key_id(KEY_ALIAS).send().await {
        Ok(d) => d
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| format!("DescribeKey {KEY_ALIAS}: no KeyMetadata"))?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            let key_id = kms
                .create_key()
                .description("veritrail: the trail bucket's SSE-KMS key")
                .send()
                .await
                .map_err(|e| format!("CreateKey: {}", Ctx(e)))?
                .key_metadata()
                .map(|m| m.key_id().to_owned())
                .ok_or("CreateKey: no KeyMetadata")?;
            kms.create_alias()
                .alias_name(KEY_ALIAS)
                .target_key_id(&key_id)
                .send()
                .await
                .map_err(|e| format!("CreateAlias {KEY_ALIAS}: {}", Ctx(e)))?;
            key_id
        }
        Err(e) => return Err(format!("DescribeKey {KEY_ALIAS}: {}", Ctx(e))),
    };
    let rotating = kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|e| format!("GetKeyRotationStatus {key_id}: {}", Ctx(e)))?
        .key_rotation_enabled;
    if !rotating {
        kms.enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| format!("EnableKeyRotation {key_id}: {}", Ctx(e)))?;
    }

    let s3 = aws_sdk_s3::Client::new(conf);
    use aws_sdk_s3::types::{
        PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let encrypted = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|o| o.server_side_encryption_configuration)
        .is_some_and(|c| {
            c.rules().iter().any(|r| {
                r.apply_server_side_encryption_by_default()
                    .is_some_and(|d| d.kms_master_key_id() == Some(key_id.as_str()))
            })
        });
    if !encrypted {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(&key_id)
            .build()
            .map_err(|e| format!("encryption of {bucket}: {e}"))?;
        let rules = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .build(),
            )
            .build()
            .map_err(|e| format!("encryption of {bucket}: {e}"))?;
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(rules)
            .send()
            .await
            .map_err(|e| format!("PutBucketEncryption {bucket}: {}", Ctx(e)))?;
    }
    let blocked = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration)
        .is_some_and(|c| {
            c.block_public_acls == Some(true)
                && c.ignore_public_acls == Some(true)
                && c.block_public_policy == Some(true)
                && c.restrict_public_buckets == Some(true)
        });
    if !blocked {
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("PutPublicAccessBlock {bucket}: {}", Ctx(e)))?;
    }
    Ok(())
}

/// Queue [`ALERT_INBOX`] subscribed to the alert topic, so every alert published is kept
/// until someone reads it (`aws sqs receive-message`). Idempotent; returns the queue's URL.
async fn subscribe_inbox(conf: &aws_config::SdkConfig, topic_arn: &str) -> Result<String, String> {
    use aws_sdk_cloudtrail::error::DisplayErrorContext as Ctx;
    let sqs = aws_sdk_sqs::Client::new(conf);
    let url = sqs
        .create_queue()
        .queue_name(ALERT_INBOX)
        .send()
        .await
        .map_err(|e| format!("CreateQueue {ALERT_INBOX}: {}", Ctx(e)))?
        .queue_url
        .unwrap_or_default();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{ALERT_INBOX}");
    let sns = aws_sdk_sns::Client::new(conf);
    let subscribed = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(|e| format!("ListSubscriptionsByTopic {TOPIC}: {}", Ctx(e)))?
        .subscriptions()
        .iter()
        .any(|s| s.endpoint() == Some(arn.as_str()));
    if !subscribed {
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&arn)
            .send()
            .await
            .map_err(|e| format!("Subscribe {ALERT_INBOX} to {TOPIC}: {}", Ctx(e)))?;
    }
    Ok(url)
}

/// An EventBridge rule name (at most 64 of `[.\-_A-Za-z0-9]`) for a pack's rule.
fn rule_name(pack: &str, rule: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let name = format!("vt-{}-{}", clean(pack), clean(rule));
    if name.len() <= 64 {
        return name;
    }
    let id = veritrail_processor::alerts::alert_id(pack, rule, "");
    format!("vt-{}-{}", &clean(rule)[..40.min(rule.len())], &id[..16])
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The ledger's signing key (made once) and a checkpoint of its current digest.
fn sign_checkpoint(db: &Database, files: &LedgerFiles) -> Result<(), String> {
    if !files.private_key().exists() {
        let key = CheckpointKey::generate(LEDGER).map_err(|e| e.to_string())?;
        files.write_new_key(&key).map_err(|e| e.to_string())?;
    }
    let key = files.read_key().map_err(|e| e.to_string())?;
    let ledger = db.ledger();
    let digest = ledger.digest().map_err(|e| e.to_string())?;
    let content = CheckpointContent {
        size: digest.tip + 1,
        digest: digest.digest,
        strand_id: digest.strand_id,
        time: ledger.now(),
    };
    files
        .write_checkpoint(content.size, &key.sign(&content))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The processor's threads beside the emulator.
struct Defaults {
    stop: Arc<AtomicBool>,
    threads: Vec<(&'static str, JoinHandle<Result<Summary, String>>)>,
}

impl Companion for Defaults {
    fn stop(self: Box<Self>) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        for (name, t) in self.threads {
            match t.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => errors.push(format!("processor ({name}): {e}")),
                Err(_) => errors.push(format!("processor ({name}) panicked")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Signs checkpoints as records come in.
struct ServeLog {
    checkpoint: Option<(Database, LedgerFiles, Arc<dyn Clock>, UtcMillis)>,
}

impl Observer for ServeLog {
    // Rejections, records stored without rules and alerts not delivered are logged by the
    // processor itself (`tracing`, inside this thread's `processor` span).
    fn batch_done(&mut self, _origin: &str, _s: &Summary, _remaining: Option<usize>) {
        if let Some((db, files, clock, last)) = &mut self.checkpoint {
            let now = clock.now();
            if now.0 - last.0 >= 60_000 {
                if let Err(e) = sign_checkpoint(db, files) {
                    tracing::error!(error = %e, "cannot sign a checkpoint");
                }
                *last = now;
            }
        }
    }
}

fn spawn_processor<S: Source + 'static>(
    name: &'static str,
    db: Database,
    rules: RuleSet,
    options: ProcessorOptions,
    source: S,
    observer: ServeLog,
) -> Result<JoinHandle<Result<Summary, String>>, String> {
    std::thread::Builder::new()
        .name(format!("processor-{name}"))
        .spawn(move || {
            let (source, mut observer) = (source, observer);
            let _span = tracing::info_span!("processor", source = name).entered();
            Processor::new(&db, &rules, options)
                .run(&source, &mut observer)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("cannot start the processor: {e}"))
}

fn start(url: &str, emulator: &Arc<Emulator>) -> Result<Defaults, String> {
    let own = emulator.own_credential();
    let aws = local_aws(url, own.as_ref())?;
    let rules = RuleSet::builtin().map_err(|e| e.to_string())?;
    let set = aws.block_on(set_up(aws.config(), &rules))?;
    let db = emulator
        .ledger_database(LEDGER)
        .ok_or_else(|| format!("ledger {LEDGER} was created but is not open"))?;
    let data_dir = emulator.config.data_dir.clone();
    let files = LedgerFiles::new(
        LEDGER,
        &data_dir.join("ledgers"),
        Some(&emulator.config.key_dir()),
    )
    .with_storage(emulator.config.storage.clone());
    sign_checkpoint(&db, &files)?;
    let dashboard = crate::dashboard::Dashboard::new(crate::dashboard::DashboardOptions {
        db: db.clone(),
        files: files.clone(),
        ledger_dir: data_dir.join("ledgers"),
        key_dir: emulator.config.key_dir(),
        data_dir: data_dir.clone(),
        clock: Arc::clone(&db.ledger().options().clock),
        url: url.to_owned(),
        own,
    })?;
    emulator.set_pages(Arc::new(dashboard));
    let state: PathBuf = data_dir.join("processor").join(LEDGER);
    let clock: Arc<dyn Clock> = Arc::clone(&db.ledger().options().clock);
    let stop = Arc::new(AtomicBool::new(false));
    let topic = Topic::new(&aws, &set.topic_arn).map_err(|e| e.to_string())?;
    let deliverer = Deliverer::new(
        Box::new(topic),
        &state,
        Retry::default(),
        Arc::new(Sleep),
        Arc::clone(&clock),
    )
    .map_err(|e| e.to_string())?;
    let queue = QueueSource::open(
        &aws,
        QueueOptions {
            url: set.queue_url.clone(),
            wait_seconds: 2,
            until_empty: false,
            stop: Arc::clone(&stop),
            rejected_file: state.join("rejected-messages.jsonl"),
        },
    )
    .map_err(|e| e.to_string())?;
    let logs = BucketSource::open(
        &aws,
        BucketOptions {
            bucket: bucket(),
            prefix: String::new(),
            checkpoint: state.join("s3-checkpoint.jsonl"),
            until_empty: false,
            poll: Duration::from_secs(2),
            pause: Arc::new(Sleep),
            stop: Arc::clone(&stop),
        },
    )
    .map_err(|e| e.to_string())?;
    let now = clock.now();
    let queue_thread = spawn_processor(
        "queue",
        db.clone(),
        RuleSet::builtin().map_err(|e| e.to_string())?,
        ProcessorOptions {
            batch_size: 1000,
            clock: Arc::clone(&clock),
            deliverer: Some(deliverer),
        },
        queue,
        ServeLog {
            checkpoint: Some((db.clone(), files.clone(), Arc::clone(&clock), now)),
        },
    )?;
    let logs_thread = spawn_processor(
        "trail",
        db.clone(),
        rules,
        ProcessorOptions {
            batch_size: 1000,
            clock: Arc::clone(&clock),
            deliverer: None,
        },
        logs,
        ServeLog {
            checkpoint: Some((db, files.clone(), clock, now)),
        },
    )?;
    // Not println!: whoever started us may have stopped reading stdout after the first line.
    let _ = writeln!(
        std::io::stdout(),
        "audit trail: ledger {LEDGER} ({}; checkpoints signed with {}), trail {TRAIL} (multi-region, log file validation) into Object Lock bucket {} (COMPLIANCE, {RETENTION_DAYS} days; SSE-KMS with rotating key {KEY_ALIAS}; public access blocked), {} rules of the shipped packs on the default bus to queue {} (dead-letter queue {DEAD_LETTER_QUEUE}), alerts to {} (kept in {}); processor state in {}; dashboard at {url}/dashboard",
        match &files.storage {
            veritrail_ledger::StorageChoice::Sqlite => files.journal().display().to_string(),
            other => format!("schema veritrail_{LEDGER} of {}", other.describe()),
        },
        files.private_key().display(),
        bucket(),
        set.rules,
        set.queue_url,
        set.topic_arn,
        set.inbox,
        state.display()
    );
    Ok(Defaults {
        stop,
        threads: vec![("queue", queue_thread), ("trail", logs_thread)],
    })
}
