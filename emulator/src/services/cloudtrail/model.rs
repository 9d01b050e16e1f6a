//! CloudTrail's state: trails (their settings, event selectors, tags) and where each one's
//! delivery stands (the next log file, one digest chain per region, the latest errors).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

use crate::ACCOUNT_ID;
use crate::services::s3::model::valid_bucket_name;
use crate::wire::json::epoch_seconds;

/// A trail's event selectors: basic (`EventSelectors`) or advanced (`AdvancedEventSelectors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Selectors {
    Basic(Value),
    Advanced(Value),
}

impl Selectors {
    /// What CreateTrail starts with: management events, read and write.
    pub fn default_basic() -> Self {
        Self::Basic(json!([{
            "ReadWriteType": "All",
            "IncludeManagementEvents": true,
            "DataResources": [],
            "ExcludeManagementEventSources": []
        }]))
    }
}

/// The previous digest of a chain, as the next digest names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousDigest {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub hash: String,
    /// Hex signature.
    pub signature: String,
}

/// One region's digest chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// The next digest's digestStartTime.
    #[serde(with = "crate::wire::time::millis")]
    pub start: UtcMillis,
    #[serde(with = "crate::services::saved::present")]
    pub previous: Option<PreviousDigest>,
    /// `logFiles` entries delivered since the last digest.
    pub logs: Vec<Value>,
}

impl Chain {
    pub fn new(start: UtcMillis) -> Self {
        Self {
            start,
            previous: None,
            logs: Vec::new(),
        }
    }
}

/// Where a trail's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Records with a smaller sequence number were delivered (or predate logging).
    pub cursor: i64,
    /// When the next log files are due.
    #[serde(with = "crate::wire::time::opt_millis")]
    pub next_log: Option<UtcMillis>,
    /// One digest chain per region.
    pub chains: BTreeMap<String, Chain>,
    /// StopLogging or DeleteTrail: deliver what is left and close the chains.
    pub flush: bool,
    #[serde(with = "crate::wire::time::opt_millis")]
    pub latest_delivery: Option<UtcMillis>,
    #[serde(with = "crate::wire::time::opt_millis")]
    pub latest_digest: Option<UtcMillis>,
    #[serde(with = "crate::services::saved::present")]
    pub latest_delivery_error: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub latest_digest_error: Option<String>,
    /// Files written, for names that never repeat.
    pub files: u64,
}

/// A trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    pub name: String,
    /// The home region.
    pub region: String,
    pub bucket: String,
    #[serde(with = "crate::services::saved::present")]
    pub prefix: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub sns_topic: Option<String>,
    pub validation: bool,
    pub global_events: bool,
    pub multi_region: bool,
    #[serde(with = "crate::services::saved::present")]
    pub kms_key_id: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub log_group_arn: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub log_role_arn: Option<String>,
    pub logging: bool,
    #[serde(with = "crate::wire::time::opt_millis")]
    pub start_logging: Option<UtcMillis>,
    #[serde(with = "crate::wire::time::opt_millis")]
    pub stop_logging: Option<UtcMillis>,
    pub selectors: Selectors,
    /// Whether PutEventSelectors has set the selectors.
    pub custom_selectors: bool,
    pub tags: BTreeMap<String, String>,
    pub delivery: Delivery,
}

impl Trail {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{ACCOUNT_ID}:trail/{}",
            self.region, self.name
        )
    }

    /// The trail as GetTrail and DescribeTrails describe it.
    pub fn describe(&self) -> Value {
        let mut v = json!({
            "Name": self.name,
            "S3BucketName": self.bucket,
            "IncludeGlobalServiceEvents": self.global_events,
            "IsMultiRegionTrail": self.multi_region,
            "HomeRegion": self.region,
            "TrailARN": self.arn(),
            "LogFileValidationEnabled": self.validation,
            "HasCustomEventSelectors": self.custom_selectors,
            "HasInsightSelectors": false,
            "IsOrganizationTrail": false,
        });
        let optional = [
            ("S3KeyPrefix", &self.prefix),
            ("KmsKeyId", &self.kms_key_id),
            ("CloudWatchLogsLogGroupArn", &self.log_group_arn),
            ("CloudWatchLogsRoleArn", &self.log_role_arn),
        ];
        for (k, value) in optional {
            if let Some(x) = value {
                v[k] = json!(x);
            }
        }
        if let Some(topic) = &self.sns_topic {
            v["SnsTopicName"] = json!(topic);
            v["SnsTopicARN"] = json!(format!("arn:aws:sns:{}:{ACCOUNT_ID}:{topic}", self.region));
        }
        v
    }

    /// Checks a trail read back from `aws.sqlite`: a value no CloudTrail call could have
    /// stored means the row was damaged.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        let bad = if !valid_trail_name(name) {
            "its name is not a valid trail name"
        } else if self.region.is_empty() {
            "it has no home region"
        } else if !valid_bucket_name(&self.bucket) {
            "its bucket name is not a valid S3 bucket name"
        } else if !matches!(&self.selectors, Selectors::Basic(v) | Selectors::Advanced(v) if v.is_array())
        {
            "its event selectors are not a list"
        } else {
            return Ok(());
        };
        Err(format!("trail {name:?}: {bad}"))
    }

    /// GetTrailStatus.
    pub fn status(&self) -> Value {
        let d = &self.delivery;
        let mut v = json!({"IsLogging": self.logging});
        let time = |t: UtcMillis| crate::wire::time::iso8601_seconds(t);
        if let Some(t) = d.latest_delivery {
            v["LatestDeliveryTime"] = json!(epoch_seconds(t));
            v["LatestDeliveryAttemptTime"] = json!(time(t));
            v["LatestDeliveryAttemptSucceeded"] = json!(time(t));
        }
        if let Some(t) = d.latest_digest {
            v["LatestDigestDeliveryTime"] = json!(epoch_seconds(t));
        }
        if let Some(e) = &d.latest_delivery_error {
            v["LatestDeliveryError"] = json!(e);
        }
        if let Some(e) = &d.latest_digest_error {
            v["LatestDigestDeliveryError"] = json!(e);
        }
        if let Some(t) = self.start_logging {
            v["StartLoggingTime"] = json!(epoch_seconds(t));
            v["TimeLoggingStarted"] = json!(time(t));
        }
        if let Some(t) = self.stop_logging {
            v["StopLoggingTime"] = json!(epoch_seconds(t));
            v["TimeLoggingStopped"] = json!(time(t));
        }
        v
    }
}

/// Whether `n` is a valid trail name.
pub fn valid_trail_name(n: &str) -> bool {
    let b = n.as_bytes();
    let sep = |c: &u8| b"._-".contains(c);
    (3..=128).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || sep(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !b.windows(2).any(|w| sep(&w[0]) && sep(&w[1]))
        && !n.split('.').all(|p| p.parse::<u8>().is_ok())
}

/// One recorded call, as delivery and LookupEvents read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub seq: i64,
    pub at: UtcMillis,
    pub region: String,
    pub value: Value,
}
