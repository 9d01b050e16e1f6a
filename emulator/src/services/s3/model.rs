//! S3's state: buckets with their settings, and for each key its versions (metadata only: bodies
//! live in `aws.sqlite` and a bounded cache). The closed sets S3 defines (versioning state,
//! retention mode, checksum algorithm) are enums that accept exactly S3's spellings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use veritrail_core::time::UtcMillis;

use crate::services::s3::error::S3Error;
use crate::wire::time::MAX_TIME;

const DAY: i64 = 86_400_000;
/// S3's longest default retention: 100 years (36,500 days).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
pub const MAX_RETENTION_YEARS: u32 = 100;
/// S3's longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    /// The `<Status>` of PutBucketVersioning: exactly `Enabled` or `Suspended`.
    pub fn parse_status(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(Self::Enabled),
            "Suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// An Object Lock retention mode: exactly `GOVERNANCE` or `COMPLIANCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    #[serde(rename = "GOVERNANCE")]
    Governance,
    #[serde(rename = "COMPLIANCE")]
    Compliance,
}

impl RetentionMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// A version's retention: its mode and the instant it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    #[serde(with = "crate::wire::time::millis")]
    pub until: UtcMillis,
}

/// A bucket's default retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Days(u32),
    Years(u32),
}

/// A bucket's default retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: Period,
}

impl DefaultRetention {
    /// Validates a period against S3's limits (1 to 36,500 days, or 1 to 100 years).
    pub fn new(mode: RetentionMode, period: Period) -> Result<Self, S3Error> {
        let (n, max, unit) = match period {
            Period::Days(d) => (d, MAX_RETENTION_DAYS, "Days"),
            Period::Years(y) => (y, MAX_RETENTION_YEARS, "Years"),
        };
        if n == 0 {
            return Err(S3Error::InvalidArgument(format!(
                "Default retention period must be a positive integer value for '{unit}'"
            )));
        }
        if n > max {
            return Err(S3Error::InvalidArgument(format!(
                "Default retention period too large for '{unit}' {n}: at most {max}"
            )));
        }
        Ok(Self { mode, period })
    }

    /// The retention a version stored at `now` gets (a year is 365 days). Checked arithmetic:
    /// the result is never before `now`.
    pub fn retention_from(&self, now: UtcMillis) -> Result<Retention, S3Error> {
        let days = match self.period {
            Period::Days(d) => i64::from(d),
            Period::Years(y) => i64::from(y) * 365,
        };
        let until = days
            .checked_mul(DAY)
            .and_then(|ms| now.0.checked_add(ms))
            .filter(|u| *u <= MAX_TIME.0)
            .ok_or_else(|| {
                S3Error::InvalidArgument("the retention period ends after year 9999".into())
            })?;
        Ok(Retention {
            mode: self.mode,
            until: UtcMillis(until),
        })
    }

    /// `<Days>n</Days>` or `<Years>n</Years>`.
    pub fn period_xml(&self) -> String {
        match self.period {
            Period::Days(d) => format!("<Days>{d}</Days>"),
            Period::Years(y) => format!("<Years>{y}</Years>"),
        }
    }
}

/// The checksum algorithms S3 takes in `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    #[serde(rename = "CRC32")]
    Crc32,
    #[serde(rename = "CRC32C")]
    Crc32c,
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The algorithm's name as S3 spells it (`CRC32`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header that carries it: `x-amz-checksum-crc32`, ….
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }
}

/// A version id: `null` (stored while versioning was off or suspended) or a generated id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionId(pub String);

impl VersionId {
    pub fn null() -> Self {
        Self("null".to_owned())
    }

    pub fn is_null(&self) -> bool {
        self.0 == "null"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checksum the client gave for a whole object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    /// Base64, as the header carried it.
    pub value: String,
}

/// One version of an object, or a delete marker (metadata; the body is stored apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: VersionId,
    #[serde(rename = "deleteMarker")]
    pub delete_marker: bool,
    pub size: u64,
    /// Hex MD5 of the body (without quotes).
    pub etag: String,
    /// Hex SHA-256 of the body, checked whenever the body is read back from disk.
    pub sha256: String,
    #[serde(rename = "contentType")]
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(with = "crate::wire::time::millis")]
    pub modified: UtcMillis,
    pub retention: Option<Retention>,
    #[serde(rename = "legalHold")]
    pub legal_hold: bool,
    pub checksum: Option<Checksum>,
    /// SSE-KMS: the body is stored encrypted under a data key of this KMS key. Absent from
    /// rows written before SSE-KMS (the row's MAC covers it, so it cannot be removed unseen).
    #[serde(rename = "sseKms", default, skip_serializing_if = "Option::is_none")]
    pub sse_kms: Option<crate::services::s3::sse::SseKms>,
}

impl Version {
    /// Whether deleting this version, or shortening or removing its retention, is refused now.
    /// GOVERNANCE gives way to the bypass header; COMPLIANCE and legal holds give way to nothing.
    pub fn locked(&self, bypass_governance: bool, now: UtcMillis) -> bool {
        if self.legal_hold {
            return true;
        }
        match self.retention {
            Some(r) if now < r.until => !(r.mode == RetentionMode::Governance && bypass_governance),
            _ => false,
        }
    }
}

/// A bucket's settings (what PutBucket… operations set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(with = "crate::wire::time::millis")]
    pub created: UtcMillis,
    pub region: String,
    pub versioning: Versioning,
    #[serde(rename = "objectLock")]
    pub object_lock: bool,
    #[serde(rename = "defaultRetention")]
    pub default_retention: Option<DefaultRetention>,
    /// The bucket policy, as the JSON text the client sent.
    pub policy: Option<String>,
    /// The lifecycle configuration, as validated XML.
    pub lifecycle: Option<String>,
    /// Server-side encryption configuration, as validated XML.
    pub encryption: Option<String>,
    /// Public access block configuration, as validated XML.
    #[serde(rename = "publicAccessBlock")]
    pub public_access_block: Option<String>,
    /// The bucket's tag set, as validated XML (`<Tag>` elements).
    #[serde(default)]
    pub tags: Option<String>,
}

/// A bucket: its settings and its keys' versions, oldest first.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub settings: Settings,
    pub objects: BTreeMap<String, Vec<Version>>,
}

impl Bucket {
    /// The current version of a key (the newest, unless it is a delete marker).
    pub fn current(&self, key: &str) -> Option<&Version> {
        self.objects
            .get(key)
            .and_then(|v| v.last())
            .filter(|v| !v.delete_marker)
    }
}

/// Whether `name` is a valid S3 bucket name (general purpose buckets' rules).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b.first().copied().is_some_and(edge_ok)
        && b.last().copied().is_some_and(edge_ok)
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"]
            .iter()
            .any(|p| name.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sets_take_only_s3_spellings() {
        assert_eq!(
            RetentionMode::parse("COMPLIANCE"),
            Some(RetentionMode::Compliance)
        );
        assert_eq!(RetentionMode::parse("compliance"), None);
        assert_eq!(RetentionMode::parse("Compliance "), None);
        assert_eq!(Versioning::parse_status("enabled"), None);
        for good in ["evidence", "a.b-c", "123"] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Evidence",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "bucket-s3alias",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn retention_arithmetic_cannot_wrap() {
        let now = UtcMillis(1_704_067_200_000);
        assert!(DefaultRetention::new(RetentionMode::Compliance, Period::Days(0)).is_err());
        assert!(DefaultRetention::new(RetentionMode::Compliance, Period::Days(36_501)).is_err());
        assert!(DefaultRetention::new(RetentionMode::Compliance, Period::Years(101)).is_err());
        let d = DefaultRetention::new(RetentionMode::Compliance, Period::Years(100)).unwrap();
        assert!(d.retention_from(now).unwrap().until > now);
        let huge = DefaultRetention {
            mode: RetentionMode::Compliance,
            period: Period::Days(u32::MAX),
        };
        assert!(huge.retention_from(now).is_err());
    }
}
