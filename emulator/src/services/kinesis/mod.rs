//! Kinesis Data Streams (2013-12-02, awsJson1_1, `Kinesis_20131202.<Op>`): streams
//! (provisioned or on-demand), shards cutting the 128-bit hash space evenly, PutRecord and
//! PutRecords (partition keys hashed with MD5, or an explicit hash key), shard iterators of
//! every type (opaque tokens good for five minutes on the emulator's clock), GetRecords with
//! `MillisBehindLatest`, and retention on the clock (records older than the stream's retention
//! are swept once a second and never answered).
//!
//! Streams are rows of `kinesis_streams` (JSON, read back strictly at start-up) and kept in
//! memory; records are rows of `kinesis_records`, never all in memory. A restart keeps both.
//! Other services put records through [`Kinesis::put_records_in`] and ask after a stream
//! through [`Kinesis::stream_exists`] (QLDB's journal streams).

pub mod aggregate;
pub mod error;
pub mod model;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use serde_json::{Value, json};

pub use error::KinesisError;
use model::{ShardIterator, Stream};

use crate::EmulatorError;
use crate::env::Env;
use crate::ops::KinesisOp;
use crate::services::saved::JsonTable;
use crate::store::{Store, StoreError, Write};
use crate::wire::AwsRequest;
use crate::wire::json::{epoch_member, epoch_seconds};
use veritrail_core::time::UtcMillis;

const STREAMS: JsonTable = JsonTable {
    table: "kinesis_streams",
    what: "the Kinesis stream",
};

const RECORDS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kinesis_records (
    stream TEXT NOT NULL, shard INTEGER NOT NULL, seq INTEGER NOT NULL,
    arrival INTEGER NOT NULL, partition_key TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (stream, shard, seq)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS kinesis_records_arrival ON kinesis_records (stream, arrival);";

/// A record put on a stream by another service: its partition key and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// Where a record was put: its shard and sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub shard_id: String,
    pub sequence_number: String,
}

/// A record read from a shard.
#[derive(Debug, Clone)]
struct Row {
    seq: u64,
    arrival: i64,
    partition_key: String,
    data: Vec<u8>,
}

/// The Kinesis service of one emulator.
#[derive(Debug)]
pub struct Kinesis {
    store: Arc<Store>,
    /// Streams by (region, name).
    streams: Mutex<BTreeMap<(String, String), Stream>>,
}

fn required<'a>(input: &'a Value, name: &str, member: &str) -> Result<&'a str, KinesisError> {
    input.get(name).and_then(Value::as_str).ok_or_else(|| {
        KinesisError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// An integer member within `range`, or `default` when absent.
fn int_member(
    input: &Value,
    name: &str,
    member: &str,
    range: std::ops::RangeInclusive<i64>,
    default: Option<i64>,
) -> Result<Option<i64>, KinesisError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(KinesisError::constraint(
                &v.to_string(),
                member,
                &format!(
                    "Member must have value between {} and {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

fn not_found(name: &str) -> KinesisError {
    KinesisError::ResourceNotFound(format!(
        "Stream {name} under account {} not found.",
        crate::ACCOUNT_ID
    ))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn stream_mode(s: &Stream) -> Value {
    json!({ "StreamMode": s.mode })
}

fn shard_json(s: &Stream, index: u32) -> Value {
    let (start, end) = model::hash_range(index, s.shards);
    json!({
        "ShardId": model::shard_id(index),
        "HashKeyRange": {"StartingHashKey": start.to_string(), "EndingHashKey": end.to_string()},
        "SequenceNumberRange": {"StartingSequenceNumber": model::sequence_number(index, 0)},
    })
}

impl Kinesis {
    /// Loads the streams from `aws.sqlite` (creating Kinesis's tables).
    pub fn open(store: Arc<Store>) -> Result<Self, EmulatorError> {
        let streams = {
            let w = store.write()?;
            w.conn()
                .execute_batch(&format!("{}{RECORDS_SCHEMA}", STREAMS.schema()))?;
            let loaded: Vec<Stream> = STREAMS.load(w.conn(), Stream::row_key, Stream::check)?;
            w.commit()?;
            loaded
        };
        Ok(Self {
            store,
            streams: Mutex::new(
                streams
                    .into_iter()
                    .map(|s| ((s.region.clone(), s.name.clone()), s))
                    .collect(),
            ),
        })
    }

    fn streams(&self) -> MutexGuard<'_, BTreeMap<(String, String), Stream>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn<'a>(write: Option<&'a Write<'_>>) -> Result<&'a rusqlite::Connection, KinesisError> {
        write.map(Write::conn).ok_or_else(|| {
            KinesisError::Internal("a Kinesis change was attempted outside a store write".into())
        })
    }

    /// The stream a request names by `StreamName` or `StreamARN`, in `region`.
    fn named(input: &Value, region: &str) -> Result<(String, String), KinesisError> {
        let name = input.get("StreamName").and_then(Value::as_str);
        let arn = input.get("StreamARN").and_then(Value::as_str);
        match (name, arn) {
            (Some(name), None) => {
                model::check_name(name)?;
                Ok((region.to_owned(), name.to_owned()))
            }
            (None, Some(arn)) => {
                let (r, name) = model::parse_arn(arn)?;
                Ok((r.to_owned(), name.to_owned()))
            }
            (Some(name), Some(arn)) => {
                let (r, n) = model::parse_arn(arn)?;
                if n != name || r != region {
                    return Err(KinesisError::InvalidArgument(format!(
                        "StreamARN {arn} does not match StreamName {name}."
                    )));
                }
                Ok((r.to_owned(), name.to_owned()))
            }
            (None, None) => Err(KinesisError::InvalidArgument(
                "Either StreamName or StreamARN should be provided.".into(),
            )),
        }
    }

    fn stream(&self, input: &Value, region: &str) -> Result<Stream, KinesisError> {
        let key = Self::named(input, region)?;
        self.streams()
            .get(&key)
            .cloned()
            .ok_or_else(|| not_found(&key.1))
    }

    /// Handles one Kinesis request (`write` is set for every operation that can change
    /// something).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: KinesisOp,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Value, KinesisError> {
        use KinesisOp::*;
        let input = req.json();
        let region = req.region.as_str();
        let now = env.now().0;
        match op {
            CreateStream => self.create_stream(input, region, env, write),
            DeleteStream => {
                let s = self.stream(input, region)?;
                let conn = Self::conn(write)?;
                STREAMS.delete(conn, &s.row_key())?;
                conn.prepare_cached("DELETE FROM kinesis_records WHERE stream = ?1")?
                    .execute([&s.id])?;
                self.streams().remove(&(s.region.clone(), s.name.clone()));
                Ok(json!({}))
            }
            DescribeStream => {
                let s = self.stream(input, region)?;
                let limit = int_member(input, "Limit", "limit", 1..=10_000, Some(100))?
                    .unwrap_or(100) as u32;
                let first = match input.get("ExclusiveStartShardId").and_then(Value::as_str) {
                    Some(id) => model::parse_shard_id(id, u32::MAX).map_or(s.shards, |i| i + 1),
                    None => 0,
                };
                let last = first.saturating_add(limit).min(s.shards);
                let shards: Vec<Value> = (first.min(s.shards)..last)
                    .map(|i| shard_json(&s, i))
                    .collect();
                Ok(json!({"StreamDescription": {
                    "StreamName": s.name,
                    "StreamARN": s.arn(),
                    "StreamStatus": "ACTIVE",
                    "StreamModeDetails": stream_mode(&s),
                    "Shards": shards,
                    "HasMoreShards": last < s.shards,
                    "RetentionPeriodHours": s.retention_hours,
                    "StreamCreationTimestamp": epoch_seconds(UtcMillis(s.created)),
                    "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                    "EncryptionType": "NONE",
                }}))
            }
            DescribeStreamSummary => {
                let s = self.stream(input, region)?;
                Ok(json!({"StreamDescriptionSummary": {
                    "StreamName": s.name,
                    "StreamARN": s.arn(),
                    "StreamStatus": "ACTIVE",
                    "StreamModeDetails": stream_mode(&s),
                    "RetentionPeriodHours": s.retention_hours,
                    "StreamCreationTimestamp": epoch_seconds(UtcMillis(s.created)),
                    "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                    "EncryptionType": "NONE",
                    "OpenShardCount": s.shards,
                    "ConsumerCount": 0,
                }}))
            }
            ListStreams => self.list_streams(input, region),
            ListShards => self.list_shards(input, region),
            IncreaseStreamRetentionPeriod | DecreaseStreamRetentionPeriod => {
                let mut s = self.stream(input, region)?;
                let hours = int_member(
                    input,
                    "RetentionPeriodHours",
                    "retentionPeriodHours",
                    0..=i64::from(i32::MAX),
                    None,
                )?
                .ok_or_else(|| {
                    KinesisError::Validation(
                        "1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null".into(),
                    )
                })?;
                if !(24..=8760).contains(&hours) {
                    return Err(KinesisError::InvalidArgument(format!(
                        "Minimum allowed retention period is 24 hours. Maximum allowed retention period is 8760 hours. Requested retention period ({hours} hours) is out of range."
                    )));
                }
                let hours = hours as u32;
                if op == IncreaseStreamRetentionPeriod && hours < s.retention_hours {
                    return Err(KinesisError::InvalidArgument(format!(
                        "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({} hours). Use DecreaseRetentionPeriod API.",
                        s.name, s.retention_hours
                    )));
                }
                if op == DecreaseStreamRetentionPeriod && hours > s.retention_hours {
                    return Err(KinesisError::InvalidArgument(format!(
                        "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({} hours). Use IncreaseRetentionPeriod API.",
                        s.name, s.retention_hours
                    )));
                }
                s.retention_hours = hours;
                self.save(Self::conn(write)?, s)?;
                Ok(json!({}))
            }
            PutRecord => {
                let key = Self::named(input, region)?;
                let record = record_input(input)?;
                let placed = self.put(Self::conn(write)?, &key, now, &[record])?;
                let p = placed
                    .into_iter()
                    .next()
                    .ok_or_else(|| KinesisError::Internal("a put record was not placed".into()))?;
                Ok(json!({
                    "ShardId": p.shard_id,
                    "SequenceNumber": p.sequence_number,
                    "EncryptionType": "NONE",
                }))
            }
            PutRecords => {
                let key = Self::named(input, region)?;
                let list = input
                    .get("Records")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        KinesisError::Validation(
                            "1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null".into(),
                        )
                    })?;
                if list.is_empty() || list.len() > model::MAX_BATCH_RECORDS {
                    return Err(KinesisError::constraint(
                        &format!("{} records", list.len()),
                        "records",
                        "Member must have length less than or equal to 500 and greater than or equal to 1",
                    ));
                }
                let records = list
                    .iter()
                    .map(record_input)
                    .collect::<Result<Vec<_>, _>>()?;
                let total: usize = records
                    .iter()
                    .map(|r| r.data.len() + r.partition_key.len())
                    .sum();
                if total > model::MAX_BATCH_BYTES {
                    return Err(KinesisError::InvalidArgument(format!(
                        "Records size exceeds 5 MB limit: {total} bytes"
                    )));
                }
                let placed = self.put(Self::conn(write)?, &key, now, &records)?;
                let out: Vec<Value> = placed
                    .into_iter()
                    .map(|p| json!({"SequenceNumber": p.sequence_number, "ShardId": p.shard_id}))
                    .collect();
                Ok(json!({"FailedRecordCount": 0, "Records": out, "EncryptionType": "NONE"}))
            }
            GetShardIterator => self.get_shard_iterator(input, region, now),
            GetRecords => self.get_records(input, now),
            _ => Err(KinesisError::Internal(format!(
                "{} is not served",
                op.name()
            ))),
        }
    }

    fn save(&self, conn: &rusqlite::Connection, s: Stream) -> Result<(), KinesisError> {
        STREAMS.save(conn, &s.row_key(), &s)?;
        self.streams().insert((s.region.clone(), s.name.clone()), s);
        Ok(())
    }

    fn create_stream(
        &self,
        input: &Value,
        region: &str,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Value, KinesisError> {
        let name = required(input, "StreamName", "streamName")?;
        model::check_name(name)?;
        let count = int_member(
            input,
            "ShardCount",
            "shardCount",
            1..=i64::from(i32::MAX),
            None,
        )?;
        let mode = match input.pointer("/StreamModeDetails/StreamMode") {
            None | Some(Value::Null) => {
                if count.is_some() {
                    "PROVISIONED"
                } else {
                    "ON_DEMAND"
                }
            }
            Some(Value::String(m)) if m == "PROVISIONED" || m == "ON_DEMAND" => m.as_str(),
            Some(other) => {
                return Err(KinesisError::constraint(
                    &other.to_string(),
                    "streamModeDetails.streamMode",
                    "Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]",
                ));
            }
        };
        let shards = match (mode, count) {
            ("PROVISIONED", None) => {
                return Err(KinesisError::InvalidArgument(
                    "ShardCount is required for a stream in PROVISIONED mode.".into(),
                ));
            }
            ("ON_DEMAND", Some(_)) => {
                return Err(KinesisError::InvalidArgument(
                    "ShardCount cannot be specified for a stream in ON_DEMAND mode.".into(),
                ));
            }
            (_, Some(n)) => n,
            (_, None) => i64::from(model::ON_DEMAND_SHARDS),
        };
        let in_use: i64 = self
            .streams()
            .values()
            .filter(|s| s.region == region)
            .map(|s| i64::from(s.shards))
            .sum();
        if in_use + shards > i64::from(model::MAX_SHARDS) {
            return Err(KinesisError::LimitExceeded(format!(
                "This request would exceed the shard limit for the account {} in {region}. Current shard count for the account: {in_use}. Limit: {}. Number of additional shards that would have resulted from this request: {shards}.",
                crate::ACCOUNT_ID,
                model::MAX_SHARDS
            )));
        }
        if self
            .streams()
            .contains_key(&(region.to_owned(), name.to_owned()))
        {
            return Err(KinesisError::ResourceInUse(format!(
                "Stream {name} under account {} already exists.",
                crate::ACCOUNT_ID
            )));
        }
        let tags = input
            .get("Tags")
            .map(crate::wire::json::string_map)
            .unwrap_or_default();
        let stream = Stream {
            id: env.new_id(),
            region: region.to_owned(),
            name: name.to_owned(),
            created: env.now().0,
            mode: mode.to_owned(),
            shards: shards as u32,
            retention_hours: 24,
            next_seq: 1,
            tags,
        };
        self.save(Self::conn(write)?, stream)?;
        Ok(json!({}))
    }

    fn list_streams(&self, input: &Value, region: &str) -> Result<Value, KinesisError> {
        let limit = int_member(input, "Limit", "limit", 1..=10_000, Some(100))?.unwrap_or(100);
        let after = match input.get("NextToken").and_then(Value::as_str) {
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        KinesisError::ExpiredNextToken(
                            "The NextToken is not valid or has expired.".into(),
                        )
                    })?,
            ),
            None => input
                .get("ExclusiveStartStreamName")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        let streams = self.streams();
        let mut page: Vec<&Stream> = streams
            .values()
            .filter(|s| s.region == region)
            .filter(|s| after.as_ref().is_none_or(|a| s.name.as_str() > a.as_str()))
            .take(limit as usize + 1)
            .collect();
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let mut out = json!({
            "StreamNames": page.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "HasMoreStreams": more,
            "StreamSummaries": page.iter().map(|s| json!({
                "StreamName": s.name,
                "StreamARN": s.arn(),
                "StreamStatus": "ACTIVE",
                "StreamModeDetails": stream_mode(s),
                "StreamCreationTimestamp": epoch_seconds(UtcMillis(s.created)),
            })).collect::<Vec<_>>(),
        });
        if more {
            if let Some(last) = page.last() {
                out["NextToken"] =
                    json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&last.name));
            }
        }
        Ok(out)
    }

    fn list_shards(&self, input: &Value, region: &str) -> Result<Value, KinesisError> {
        let max = int_member(input, "MaxResults", "maxResults", 1..=10_000, Some(1000))?
            .unwrap_or(1000) as u32;
        let (stream, first) = match input.get("NextToken").and_then(Value::as_str) {
            Some(token) => {
                if input.get("StreamName").is_some() || input.get("StreamARN").is_some() {
                    return Err(KinesisError::InvalidArgument(
                        "NextToken and StreamName cannot be provided together.".into(),
                    ));
                }
                let bad = || {
                    KinesisError::ExpiredNextToken(
                        "The NextToken is not valid or has expired.".into(),
                    )
                };
                let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(bad)?;
                let (id, first) = text.split_once('|').ok_or_else(bad)?;
                let first: u32 = first.parse().map_err(|_| bad())?;
                let stream = self
                    .streams()
                    .values()
                    .find(|s| s.id == id)
                    .cloned()
                    .ok_or_else(bad)?;
                (stream, first)
            }
            None => {
                let s = self.stream(input, region)?;
                let first = match input.get("ExclusiveStartShardId").and_then(Value::as_str) {
                    Some(id) => model::parse_shard_id(id, u32::MAX).map_or(s.shards, |i| i + 1),
                    None => 0,
                };
                (s, first)
            }
        };
        let last = first.saturating_add(max).min(stream.shards);
        let shards: Vec<Value> = (first.min(stream.shards)..last)
            .map(|i| shard_json(&stream, i))
            .collect();
        let mut out = json!({ "Shards": shards });
        if last < stream.shards {
            out["NextToken"] = json!(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(format!("{}|{last}", stream.id))
            );
        }
        Ok(out)
    }

    fn get_shard_iterator(
        &self,
        input: &Value,
        region: &str,
        now: i64,
    ) -> Result<Value, KinesisError> {
        let s = self.stream(input, region)?;
        let shard_name = required(input, "ShardId", "shardId")?;
        let shard = model::parse_shard_id(shard_name, s.shards).ok_or_else(|| {
            KinesisError::ResourceNotFound(format!(
                "Shard {shard_name} in stream {} under account {} does not exist",
                s.name,
                crate::ACCOUNT_ID
            ))
        })?;
        let kind = required(input, "ShardIteratorType", "shardIteratorType")?;
        let sequence = |after: bool| -> Result<u64, KinesisError> {
            let text = input
                .get("StartingSequenceNumber")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    KinesisError::InvalidArgument(format!(
                        "StartingSequenceNumber must be specified for ShardIteratorType {kind}."
                    ))
                })?;
            match model::parse_sequence_number(text) {
                Some((sh, counter)) if sh == shard => Ok(if after {
                    counter
                } else {
                    counter.saturating_sub(1)
                }),
                _ => Err(KinesisError::InvalidArgument(format!(
                    "StartingSequenceNumber {text} used in GetShardIterator on shard {shard_name} in stream {} under account {} is invalid.",
                    s.name,
                    crate::ACCOUNT_ID
                ))),
            }
        };
        let after = match kind {
            "TRIM_HORIZON" => 0,
            "LATEST" => s.next_seq.saturating_sub(1),
            "AT_SEQUENCE_NUMBER" => sequence(false)?,
            "AFTER_SEQUENCE_NUMBER" => sequence(true)?,
            "AT_TIMESTAMP" => {
                let at = epoch_member(input, "Timestamp")
                    .map_err(KinesisError::InvalidArgument)?
                    .ok_or_else(|| {
                        KinesisError::InvalidArgument(
                            "Timestamp must be specified for ShardIteratorType AT_TIMESTAMP."
                                .into(),
                        )
                    })?;
                if at.0 > now {
                    return Err(KinesisError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {}, currentTimestampInMillis: {now}",
                        at.0
                    )));
                }
                self.first_at(&s, shard, at.0)?
                    .map_or(s.next_seq.saturating_sub(1), |seq| seq - 1)
            }
            other => {
                return Err(KinesisError::constraint(
                    other,
                    "shardIteratorType",
                    "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
                ));
            }
        };
        let it = ShardIterator {
            stream_id: s.id.clone(),
            shard,
            after,
            issued: now,
        };
        Ok(json!({ "ShardIterator": it.token() }))
    }

    /// The counter of the first record of `shard` that arrived at or after `at`.
    fn first_at(&self, s: &Stream, shard: u32, at: i64) -> Result<Option<u64>, KinesisError> {
        let floor = at.max(0);
        Ok(self.store.read(|c| {
            c.query_row(
                "SELECT min(seq) FROM kinesis_records WHERE stream = ?1 AND shard = ?2 AND arrival >= ?3",
                rusqlite::params![s.id, shard, floor],
                |r| r.get::<_, Option<i64>>(0),
            )
        })?
        .map(|v| v as u64))
    }

    fn get_records(&self, input: &Value, now: i64) -> Result<Value, KinesisError> {
        let token = required(input, "ShardIterator", "shardIterator")?;
        let limit = int_member(input, "Limit", "limit", 1..=model::MAX_GET_RECORDS, None)?
            .unwrap_or(model::MAX_GET_RECORDS);
        let it = ShardIterator::parse(token).ok_or_else(|| {
            KinesisError::InvalidArgument(format!("Invalid ShardIterator: {token}"))
        })?;
        if now - it.issued > model::ITERATOR_LIFETIME_MS {
            return Err(KinesisError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {} milliseconds.",
                crate::wire::time::iso8601(UtcMillis(it.issued)),
                crate::wire::time::iso8601(UtcMillis(now)),
                model::ITERATOR_LIFETIME_MS
            )));
        }
        let stream = self
            .streams()
            .values()
            .find(|s| s.id == it.stream_id)
            .cloned()
            .ok_or_else(|| {
                KinesisError::ResourceNotFound(format!(
                    "Shard {} in stream under account {} does not exist",
                    model::shard_id(it.shard),
                    crate::ACCOUNT_ID
                ))
            })?;
        let horizon = now - stream.retention_ms();
        let rows = self.read_rows(&stream, it.shard, it.after, horizon, limit)?;
        let mut bytes = 0usize;
        let mut records = Vec::new();
        let mut last = it.after;
        let mut last_arrival = None;
        for row in &rows {
            bytes += row.data.len() + row.partition_key.len();
            if bytes > model::MAX_GET_BYTES && !records.is_empty() {
                break;
            }
            records.push(json!({
                "SequenceNumber": model::sequence_number(it.shard, row.seq),
                "ApproximateArrivalTimestamp": epoch_seconds(UtcMillis(row.arrival)),
                "Data": b64(&row.data),
                "PartitionKey": row.partition_key,
            }));
            last = row.seq;
            last_arrival = Some(row.arrival);
        }
        let newest = self.newest_after(&stream, it.shard, last)?;
        // How far this answer is from the tip of the shard: 0 when nothing newer waits.
        let behind = match (newest, last_arrival) {
            (None, _) => 0,
            (Some(_), Some(arrival)) => (now - arrival).max(0),
            (Some(first_unread), None) => (now - first_unread).max(0),
        };
        let next = ShardIterator {
            stream_id: it.stream_id.clone(),
            shard: it.shard,
            after: last,
            issued: now,
        };
        Ok(json!({
            "Records": records,
            "NextShardIterator": next.token(),
            "MillisBehindLatest": behind,
        }))
    }

    fn read_rows(
        &self,
        s: &Stream,
        shard: u32,
        after: u64,
        horizon: i64,
        limit: i64,
    ) -> Result<Vec<Row>, KinesisError> {
        Ok(self.store.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, arrival, partition_key, data FROM kinesis_records
                 WHERE stream = ?1 AND shard = ?2 AND seq > ?3 AND arrival >= ?4
                 ORDER BY seq LIMIT ?5",
            )?;
            st.query_map(
                rusqlite::params![s.id, shard, after as i64, horizon, limit],
                |r| {
                    Ok(Row {
                        seq: r.get::<_, i64>(0)? as u64,
                        arrival: r.get(1)?,
                        partition_key: r.get(2)?,
                        data: r.get(3)?,
                    })
                },
            )?
            .collect()
        })?)
    }

    /// The arrival time of the first record of `shard` after counter `after`, if any.
    fn newest_after(
        &self,
        s: &Stream,
        shard: u32,
        after: u64,
    ) -> Result<Option<i64>, KinesisError> {
        Ok(self.store.read(|c| {
            c.query_row(
                "SELECT min(arrival) FROM kinesis_records WHERE stream = ?1 AND shard = ?2 AND seq > ?3",
                rusqlite::params![s.id, shard, after as i64],
                |r| r.get::<_, Option<i64>>(0),
            )
        })?)
    }

    /// Stores `records` on the stream `key` (region, name) in order, each on the shard its
    /// hash key falls in.
    fn put(
        &self,
        conn: &rusqlite::Connection,
        key: &(String, String),
        now: i64,
        records: &[RecordInput],
    ) -> Result<Vec<Placed>, KinesisError> {
        let mut s = self
            .streams()
            .get(key)
            .cloned()
            .ok_or_else(|| not_found(&key.1))?;
        let mut placed = Vec::with_capacity(records.len());
        let mut insert = conn.prepare_cached(
            "INSERT INTO kinesis_records (stream, shard, seq, arrival, partition_key, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in records {
            let shard = s.shard_for(r.hash_key);
            let counter = s.next_seq;
            s.next_seq += 1;
            insert.execute(rusqlite::params![
                s.id,
                shard,
                counter as i64,
                now,
                r.partition_key,
                r.data
            ])?;
            placed.push(Placed {
                shard_id: model::shard_id(shard),
                sequence_number: model::sequence_number(shard, counter),
            });
        }
        self.save(conn, s)?;
        Ok(placed)
    }

    /// Deletes the records older than their stream's retention (in the delivery tick).
    pub fn sweep(&self, w: &Write<'_>, now: UtcMillis) -> Result<(), StoreError> {
        let streams: Vec<(String, i64)> = self
            .streams()
            .values()
            .map(|s| (s.id.clone(), now.0 - s.retention_ms()))
            .collect();
        let mut st = w
            .conn()
            .prepare_cached("DELETE FROM kinesis_records WHERE stream = ?1 AND arrival < ?2")?;
        for (id, horizon) in streams {
            st.execute(rusqlite::params![id, horizon])?;
        }
        Ok(())
    }

    // ---- the narrow API other services use ---------------------------------------------

    /// Whether the stream `arn` exists.
    pub fn stream_exists(&self, arn: &str) -> bool {
        model::parse_arn(arn).is_ok_and(|(region, name)| {
            self.streams()
                .contains_key(&(region.to_owned(), name.to_owned()))
        })
    }

    /// Puts `records` on the stream `arn` as PutRecords would, in order, inside the caller's
    /// store write.
    pub fn put_records_in(
        &self,
        conn: &rusqlite::Connection,
        now: UtcMillis,
        arn: &str,
        records: &[Outgoing],
    ) -> Result<Vec<Placed>, KinesisError> {
        let (region, name) = model::parse_arn(arn)?;
        let inputs = records
            .iter()
            .map(|r| {
                check_record(&r.partition_key, &r.data)?;
                Ok(RecordInput {
                    hash_key: model::partition_hash(&r.partition_key),
                    partition_key: r.partition_key.clone(),
                    data: r.data.clone(),
                })
            })
            .collect::<Result<Vec<_>, KinesisError>>()?;
        self.put(conn, &(region.to_owned(), name.to_owned()), now.0, &inputs)
    }
}

/// A record to store: where it hashes, its key and data.
#[derive(Debug)]
struct RecordInput {
    hash_key: u128,
    partition_key: String,
    data: Vec<u8>,
}

fn check_record(partition_key: &str, data: &[u8]) -> Result<(), KinesisError> {
    if partition_key.is_empty() || partition_key.chars().count() > 256 {
        return Err(KinesisError::constraint(
            partition_key,
            "partitionKey",
            "Member must have length less than or equal to 256 and greater than or equal to 1",
        ));
    }
    if data.len() + partition_key.len() > model::MAX_RECORD {
        return Err(KinesisError::Validation(format!(
            "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to {}",
            model::MAX_RECORD
        )));
    }
    Ok(())
}

/// A record of PutRecord or of PutRecords' `Records`.
fn record_input(v: &Value) -> Result<RecordInput, KinesisError> {
    let key = required(v, "PartitionKey", "partitionKey")?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(required(v, "Data", "data")?)
        .map_err(|_| KinesisError::Validation("Data is not valid base64.".into()))?;
    check_record(key, &data)?;
    let hash_key = match v.get("ExplicitHashKey").and_then(Value::as_str) {
        Some(h) => model::explicit_hash(h)?,
        None => model::partition_hash(key),
    };
    Ok(RecordInput {
        hash_key,
        partition_key: key.to_owned(),
        data,
    })
}
