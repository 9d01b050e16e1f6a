//! Kinesis's rules: stream names and ARNs, shards and their hash-key ranges, partition keys
//! hashed with MD5 onto those ranges, sequence numbers that sort, and shard iterators (opaque
//! tokens that expire five minutes after they were made, on the emulator's clock).

use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

use super::error::KinesisError;

/// Shards of an on-demand stream (Kinesis starts one with four).
pub const ON_DEMAND_SHARDS: u32 = 4;
/// The most shards one stream may have here (Kinesis's default account quota is 500 in the
/// largest regions).
pub const MAX_SHARDS: u32 = 500;
/// A shard iterator is good for five minutes.
pub const ITERATOR_LIFETIME_MS: i64 = 300_000;
/// The largest record: data and partition key together, 1 MiB.
pub const MAX_RECORD: usize = 1 << 20;
/// A PutRecords request: at most 500 records and 5 MiB.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 5 << 20;
/// GetRecords answers at most 10,000 records and 10 MiB.
pub const MAX_GET_RECORDS: i64 = 10_000;
pub const MAX_GET_BYTES: usize = 10 << 20;

/// A stream, as saved in `kinesis_streams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    /// Names this incarnation of the stream (a stream made again under the same name has
    /// another id, so old iterators and records do not reach it).
    pub id: String,
    pub region: String,
    pub name: String,
    /// Milliseconds.
    pub created: i64,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    pub shards: u32,
    pub retention_hours: u32,
    /// The counter the next record's sequence number takes.
    pub next_seq: u64,
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Stream {
    /// The row's key: region and name.
    pub fn row_key(&self) -> String {
        format!("{}/{}", self.region, self.name)
    }

    pub fn arn(&self) -> String {
        stream_arn(&self.region, &self.name)
    }

    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_hours) * 3_600_000
    }

    /// What a saved row must satisfy.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name).map_err(|e| e.to_string())?;
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(format!("{} shards", self.shards));
        }
        if !(24..=8760).contains(&self.retention_hours) {
            return Err(format!("retention of {} hours", self.retention_hours));
        }
        if !matches!(self.mode.as_str(), "PROVISIONED" | "ON_DEMAND") {
            return Err(format!("stream mode {}", self.mode));
        }
        Ok(())
    }

    /// The shard a record with this partition key (or explicit hash key) goes to.
    pub fn shard_for(&self, hash_key: u128) -> u32 {
        (0..self.shards)
            .rev()
            .find(|s| hash_range(*s, self.shards).0 <= hash_key)
            .unwrap_or(0)
    }
}

pub fn stream_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:kinesis:{region}:{}:stream/{name}",
        crate::ACCOUNT_ID
    )
}

/// `(region, name)` of a stream ARN of this account.
pub fn parse_arn(arn: &str) -> Result<(&str, &str), KinesisError> {
    let bad = || {
        KinesisError::constraint(
            arn,
            "streamARN",
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
        )
    };
    let rest = arn.strip_prefix("arn:aws:kinesis:").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ':');
    let (Some(region), Some(account), Some(resource)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let name = resource.strip_prefix("stream/").ok_or_else(bad)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || region.is_empty() {
        return Err(bad());
    }
    if account != crate::ACCOUNT_ID {
        return Err(KinesisError::ResourceNotFound(format!(
            "Stream {name} under account {account} not found."
        )));
    }
    Ok((region, name))
}

/// Stream names: 1 to 128 of `[a-zA-Z0-9_.-]`.
pub fn check_name(name: &str) -> Result<(), KinesisError> {
    if name.is_empty() || name.len() > 128 {
        return Err(KinesisError::constraint(
            name,
            "streamName",
            "Member must have length less than or equal to 128",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(KinesisError::constraint(
            name,
            "streamName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// `shardId-000000000003`.
pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index of `shardId-…` in a stream of `shards`.
pub fn parse_shard_id(id: &str, shards: u32) -> Option<u32> {
    let digits = id.strip_prefix("shardId-")?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|i| *i < shards)
}

/// The hash keys shard `index` of `shards` owns, inclusive: the 128-bit space cut evenly.
pub fn hash_range(index: u32, shards: u32) -> (u128, u128) {
    let width = u128::MAX / u128::from(shards.max(1));
    let start = width * u128::from(index);
    let end = if index + 1 >= shards {
        u128::MAX
    } else {
        start + width - 1
    };
    (start, end)
}

/// The hash key of a partition key: its MD5 as a 128-bit big-endian integer.
pub fn partition_hash(key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(key.as_bytes()).into())
}

/// An `ExplicitHashKey`: a decimal integer below 2^128.
pub fn explicit_hash(key: &str) -> Result<u128, KinesisError> {
    if key.is_empty() || key.len() > 39 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KinesisError::InvalidArgument(format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {key}"
        )));
    }
    key.parse::<u128>().map_err(|_| {
        KinesisError::InvalidArgument(format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {key}"
        ))
    })
}

/// A sequence number: 56 digits, `49`, the shard's index (6 digits) and the stream's counter
/// (48 digits), so the numbers of one shard sort as text and as integers alike.
pub fn sequence_number(shard: u32, counter: u64) -> String {
    format!("49{shard:06}{counter:048}")
}

/// The shard and counter of a sequence number this emulator gave.
pub fn parse_sequence_number(s: &str) -> Option<(u32, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let shard = s[2..8].parse().ok()?;
    let counter = s[8..].parse().ok()?;
    Some((shard, counter))
}

/// What a shard iterator stands for: the records of one shard after a counter, as of a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIterator {
    pub stream_id: String,
    pub shard: u32,
    /// Records with a larger counter come next.
    pub after: u64,
    /// When it was made (milliseconds on the emulator's clock).
    pub issued: i64,
}

impl ShardIterator {
    /// The opaque token a client holds.
    pub fn token(&self) -> String {
        let text = format!(
            "vt1|{}|{}|{}|{}",
            self.stream_id, self.shard, self.after, self.issued
        );
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// Reads a token back; `None` when it is not one this emulator made.
    pub fn parse(token: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('|');
        if parts.next()? != "vt1" {
            return None;
        }
        let it = Self {
            stream_id: parts.next()?.to_owned(),
            shard: parts.next()?.parse().ok()?,
            after: parts.next()?.parse().ok()?,
            issued: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_hash_space_and_sequence_numbers_sort() {
        for shards in [1u32, 2, 3, 4, 7] {
            assert_eq!(hash_range(0, shards).0, 0);
            assert_eq!(hash_range(shards - 1, shards).1, u128::MAX);
            for s in 1..shards {
                assert_eq!(hash_range(s - 1, shards).1 + 1, hash_range(s, shards).0);
            }
        }
        let stream = Stream {
            id: "x".into(),
            region: "us-east-1".into(),
            name: "s".into(),
            created: 0,
            mode: "PROVISIONED".into(),
            shards: 4,
            retention_hours: 24,
            next_seq: 1,
            tags: Default::default(),
        };
        assert_eq!(stream.shard_for(0), 0);
        assert_eq!(stream.shard_for(u128::MAX), 3);
        assert_eq!(stream.shard_for(hash_range(2, 4).0), 2);
        assert_eq!(stream.shard_for(hash_range(2, 4).0 - 1), 1);
        let a = sequence_number(3, 9);
        let b = sequence_number(3, 10);
        assert!(a < b && a.len() == 56);
        assert_eq!(parse_sequence_number(&b), Some((3, 10)));
        assert_eq!(parse_sequence_number("49x"), None);
        assert_eq!(parse_shard_id("shardId-000000000003", 4), Some(3));
        assert_eq!(parse_shard_id("shardId-000000000004", 4), None);
        let it = ShardIterator {
            stream_id: "abc".into(),
            shard: 1,
            after: 5,
            issued: 7,
        };
        assert_eq!(ShardIterator::parse(&it.token()), Some(it));
        assert_eq!(ShardIterator::parse("AAAA"), None);
        assert!(explicit_hash("340282366920938463463374607431768211456").is_err());
        assert_eq!(
            explicit_hash("340282366920938463463374607431768211455").unwrap(),
            u128::MAX
        );
    }
}
