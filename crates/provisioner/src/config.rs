//! The provisioner's configuration file (JSON) and what it resolves to: every resource's name
//! derived from the `prefix`, the account and the region, checked before any call is made.

use std::path::Path;

use serde::Deserialize;

use crate::error::ProvisionError;

/// The shortest default retention the evidence policy allows: twelve months.
pub const MIN_RETENTION_DAYS: u32 = 365;
/// S3's longest default retention (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// A config file is small; anything larger is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The AWS regions a trail, bucket and key can be made in (commercial, GovCloud, China).
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The configuration file; every field has a default, so `{}` is a whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Names every resource (`<prefix>-evidence-…`, `<prefix>-trail`, …); lower-case letters,
    /// digits and hyphens, 1 to 24 characters, starting with a letter.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The region; by default the SDK's (`AWS_REGION`, the profile).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub bucket: BucketConfig,
    #[serde(default)]
    pub trail: TrailConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub processor: ProcessorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: default_prefix(),
            region: None,
            bucket: BucketConfig::default(),
            trail: TrailConfig::default(),
            rules: RulesConfig::default(),
            queue: QueueConfig::default(),
            alerts: AlertsConfig::default(),
            processor: ProcessorConfig::default(),
        }
    }
}

fn default_prefix() -> String {
    "veritrail".into()
}

/// The evidence bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketConfig {
    /// By default `<prefix>-evidence-<account>-<region>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Object Lock COMPLIANCE default retention, in days (at least 365).
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Days after which objects move to `storageClass`.
    #[serde(default = "default_transition")]
    pub transition_days: u32,
    #[serde(default = "default_storage_class")]
    pub storage_class: String,
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self {
            name: None,
            retention_days: default_retention(),
            transition_days: default_transition(),
            storage_class: default_storage_class(),
        }
    }
}

fn default_retention() -> u32 {
    MIN_RETENTION_DAYS
}
fn default_transition() -> u32 {
    90
}
fn default_storage_class() -> String {
    "GLACIER".into()
}

/// The trail.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrailConfig {
    /// Data events to log besides management events, as CloudTrail's `DataResources`.
    #[serde(default)]
    pub data_events: Vec<DataEvent>,
}

/// One data resource of the trail's event selector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataEvent {
    /// `AWS::S3::Object`, `AWS::Lambda::Function`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// ARNs or ARN prefixes (`arn:aws:s3:::bucket/`).
    pub values: Vec<String>,
}

/// Which shipped rule packs become EventBridge rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    #[serde(default = "default_packs")]
    pub packs: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            packs: default_packs(),
        }
    }
}

fn default_packs() -> Vec<String> {
    veritrail_rules::packs::BUILTIN
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect()
}

/// The queue the rules target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QueueConfig {
    /// Receives before a message moves to the dead-letter queue (1 to 1000).
    #[serde(default = "default_max_receives")]
    pub max_receives: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_receives: default_max_receives(),
        }
    }
}

fn default_max_receives() -> u32 {
    5
}

/// The alert topic's subscriptions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
}

/// One subscription of the alert topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// `sqs`, `http`, `https`, `email`, `lambda`, …
    pub protocol: String,
    pub endpoint: String,
}

/// The processor's role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessorConfig {
    /// Who may assume the role: an AWS principal ARN, or a service (`ecs-tasks.amazonaws.com`).
    /// By default the account itself (`arn:aws:iam::<account>:root`).
    #[serde(default)]
    pub trusted_principal: Option<String>,
}

impl Config {
    /// Reads a configuration file.
    pub fn read(path: &Path) -> Result<Self, ProvisionError> {
        let bad = |m: String| ProvisionError::Config(format!("{}: {m}", path.display()));
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "larger than {MAX_CONFIG_BYTES} bytes: not a configuration"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8: {e}")))?;
        Self::parse(&text).map_err(|e| match e {
            ProvisionError::Config(m) => bad(m),
            other => other,
        })
    }

    /// Parses a configuration's JSON text.
    pub fn parse(text: &str) -> Result<Self, ProvisionError> {
        serde_json::from_str(text).map_err(|e| ProvisionError::Config(e.to_string()))
    }

    /// Checks the configuration and derives every name, for `account` in `region` (the
    /// configured region wins over `sdk_region`).
    pub fn resolve(&self, account: &str, sdk_region: &str) -> Result<Names, ProvisionError> {
        let bad = |m: String| Err(ProvisionError::Config(m));
        let p = &self.prefix;
        if p.is_empty()
            || p.len() > 24
            || !p.starts_with(|c: char| c.is_ascii_lowercase())
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || p.ends_with('-')
        {
            return bad(format!(
                "prefix {p:?}: 1 to 24 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen"
            ));
        }
        let region = self.region.as_deref().unwrap_or(sdk_region);
        if !REGIONS.contains(&region) {
            return bad(format!(
                "unknown region {region:?}: expected one of {}",
                REGIONS.join(", ")
            ));
        }
        let b = &self.bucket;
        if b.retention_days < MIN_RETENTION_DAYS {
            return bad(format!(
                "bucket.retentionDays {}: the evidence policy keeps records at least 12 months ({MIN_RETENTION_DAYS} days)",
                b.retention_days
            ));
        }
        if b.retention_days > MAX_RETENTION_DAYS {
            return bad(format!(
                "bucket.retentionDays {}: S3 allows at most {MAX_RETENTION_DAYS} days",
                b.retention_days
            ));
        }
        const CLASSES: &[&str] = &[
            "GLACIER",
            "DEEP_ARCHIVE",
            "GLACIER_IR",
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
        ];
        if !CLASSES.contains(&b.storage_class.as_str()) {
            return bad(format!(
                "bucket.storageClass {:?}: expected one of {}",
                b.storage_class,
                CLASSES.join(", ")
            ));
        }
        if b.transition_days == 0 {
            return bad("bucket.transitionDays must be at least 1".into());
        }
        let bucket = match &b.name {
            Some(n) => n.clone(),
            None => format!("{p}-evidence-{account}-{region}"),
        };
        if !valid_bucket_name(&bucket) {
            return bad(format!(
                "bucket name {bucket:?}: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
            ));
        }
        if !(1..=1000).contains(&self.queue.max_receives) {
            return bad(format!(
                "queue.maxReceives {}: 1 to 1000",
                self.queue.max_receives
            ));
        }
        let mut packs = Vec::new();
        for id in &self.rules.packs {
            match veritrail_rules::packs::builtin(id) {
                Some(Ok(pack)) => packs.push(pack),
                Some(Err(problems)) => {
                    return bad(format!("pack {id} does not parse: {problems:?}"));
                }
                None => {
                    return bad(format!(
                        "rules.packs: no shipped pack {id:?} (shipped: {})",
                        default_packs().join(", ")
                    ));
                }
            }
        }
        for s in &self.alerts.subscriptions {
            if s.protocol.is_empty() || s.endpoint.is_empty() {
                return bad("alerts.subscriptions: protocol and endpoint are required".into());
            }
        }
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Ok(Names {
            prefix: p.clone(),
            account: account.to_owned(),
            region: region.to_owned(),
            partition: partition.to_owned(),
            bucket,
            key_alias: format!("alias/{p}-evidence"),
            trail: format!("{p}-trail"),
            queue: format!("{p}-audit"),
            dead_letter_queue: format!("{p}-audit-dlq"),
            topic: format!("{p}-alerts"),
            alerts_inbox: format!("{p}-alerts-inbox"),
            role: format!("{p}-processor"),
            role_policy: format!("{p}-processor-least-privilege"),
            packs,
        })
    }
}

/// S3's general-purpose bucket naming rules.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

/// Every name and ARN the plan uses, derived once.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    pub account: String,
    pub region: String,
    pub partition: String,
    pub bucket: String,
    pub key_alias: String,
    pub trail: String,
    pub queue: String,
    pub dead_letter_queue: String,
    pub topic: String,
    /// The queue subscribed to the alert topic, where every alert waits to be read.
    pub alerts_inbox: String,
    pub role: String,
    pub role_policy: String,
    pub packs: Vec<veritrail_rules::packs::RulePack>,
}

impl Names {
    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition, self.region, self.account
        )
    }
    pub fn bucket_arn(&self) -> String {
        format!("arn:{}:s3:::{}", self.partition, self.bucket)
    }
    pub fn trail_arn(&self) -> String {
        self.arn("cloudtrail", &format!("trail/{}", self.trail))
    }
    pub fn queue_arn(&self) -> String {
        self.arn("sqs", &self.queue)
    }
    pub fn dead_letter_queue_arn(&self) -> String {
        self.arn("sqs", &self.dead_letter_queue)
    }
    pub fn alerts_inbox_arn(&self) -> String {
        self.arn("sqs", &self.alerts_inbox)
    }
    /// The alerts inbox's subscription to the topic.
    pub fn alerts_inbox_subscription(&self) -> crate::config::Subscription {
        Subscription {
            protocol: "sqs".into(),
            endpoint: self.alerts_inbox_arn(),
        }
    }
    pub fn topic_arn(&self) -> String {
        self.arn("sns", &self.topic)
    }
    pub fn alias_arn(&self) -> String {
        self.arn("kms", &self.key_alias)
    }
    pub fn rule_arn_pattern(&self) -> String {
        self.arn("events", &format!("rule/{}-*", self.prefix))
    }
    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account, self.role
        )
    }
    /// The EventBridge rule name of a pack's rule: `<prefix>-<pack>-<rule>` in EventBridge's
    /// alphabet, cut to 64 characters with a hash of the whole name when longer.
    pub fn rule_name(&self, pack: &str, rule: &str) -> String {
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
        let name = format!("{}-{}-{}", self.prefix, clean(pack), clean(rule));
        if name.len() <= 64 {
            return name;
        }
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{hex}", &name[..51])
    }
}
