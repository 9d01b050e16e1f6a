//! The analytics export: a table's current documents (by default `AuditRecords`) written as
//! Parquet, partitioned by the day of `eventTime` (`year=YYYY/month=MM/day=DD/`), the layout
//! Athena, Trino and DuckDB read with Hive partitioning; the seed did this with Firehose.
//!
//! Each row is one audit record: the fields an auditor filters on as columns (`eventTime` as a
//! UTC timestamp, the caller, the outcome), the nested parts and the whole record as JSON text,
//! and where the record sits in the ledger (`documentId`, `blockSequenceNo`, `revisionHash`),
//! so a row found by a query can be proven with `veritrail verify`.
//!
//! The output is a local directory ([`export_parquet`]) or `s3://bucket/prefix`
//! ([`export_parquet_to_s3`]), where Athena reads it as the seed's Firehose output.
//!
//! An export is written to a staging directory beside the output first; each day it produced
//! then replaces that day's `part-*.parquet` files, so a rerun rewrites rather than adds, and a
//! failed run leaves the previous files in place. Reading the ledger holds its lock only to read
//! a few hundred revisions at a time, so ingest goes on meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use veritrail_core::json_ion::ion_to_json;
use veritrail_ledger::Storage as _;
use veritrail_ledger::db::{Database, DbError};
use veritrail_ledger::storage::TableStatus;

use crate::aws::s3::{list_objects, parse_s3_url};
use crate::aws::{Aws, failed};
use crate::error::ProcessorError;

/// Rows per row group and per batch handed to the writer.
const BATCH_ROWS: usize = 8192;
/// Revisions read under one hold of the ledger's lock.
const READ_CHUNK: usize = 512;
/// Day files open at once; an older one is finished and a later record of its day starts the
/// next `part-` file.
const OPEN_DAYS: usize = 16;
/// The partition of records whose `eventTime` cannot be read (Hive's name for a null value).
const NO_DAY: &str = "year=__HIVE_DEFAULT_PARTITION__";

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParquetReport {
    /// Rows written (one per current document).
    pub records: u64,
    /// Records without a readable `eventTime`, in the [`NO_DAY`] partition.
    pub undated: u64,
    /// The files written, relative to the output directory, in order.
    pub files: Vec<String>,
}

/// The columns, in order: `(name, type)`.
fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("eventID"),
        Field::new(
            "eventTime",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        text("eventName"),
        text("eventSource"),
        text("eventType"),
        text("awsRegion"),
        text("sourceIPAddress"),
        text("userAgent"),
        text("userIdentityType"),
        text("userIdentityArn"),
        text("userIdentityAccountId"),
        text("userIdentityPrincipalId"),
        text("userName"),
        text("accessKeyId"),
        text("errorCode"),
        text("errorMessage"),
        Field::new("readOnly", DataType::Boolean, true),
        Field::new("managementEvent", DataType::Boolean, true),
        text("recipientAccountId"),
        text("requestParameters"),
        text("responseElements"),
        text("resources"),
        text("record"),
        text("documentId"),
        Field::new("blockSequenceNo", DataType::Int64, false),
        text("revisionHash"),
    ]))
}

/// Column builders for one day's next batch.
struct Columns {
    text: Vec<StringBuilder>,
    time: TimestampMillisecondBuilder,
    flags: [BooleanBuilder; 2],
    seq: Int64Builder,
    rows: usize,
}

/// The text columns, in schema order after `eventTime` is taken out.
const TEXT_COLUMNS: usize = 22;

impl Columns {
    fn new() -> Self {
        Self {
            text: (0..TEXT_COLUMNS).map(|_| StringBuilder::new()).collect(),
            time: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            flags: [BooleanBuilder::new(), BooleanBuilder::new()],
            seq: Int64Builder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, row: &Row) {
        for (b, v) in self.text.iter_mut().zip(&row.text) {
            b.append_option(v.as_deref());
        }
        self.time.append_option(row.time);
        for (b, v) in self.flags.iter_mut().zip(row.flags) {
            b.append_option(v);
        }
        self.seq.append_value(row.seq);
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ProcessorError> {
        let mut text = self.text.iter_mut();
        let mut flags = self.flags.iter_mut();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column: Option<ArrayRef> = match field.data_type() {
                DataType::Utf8 => text.next().map(|b| Arc::new(b.finish()) as ArrayRef),
                DataType::Boolean => flags.next().map(|b| Arc::new(b.finish()) as ArrayRef),
                DataType::Timestamp(..) => Some(Arc::new(self.time.finish())),
                DataType::Int64 => Some(Arc::new(self.seq.finish())),
                _ => None,
            };
            columns.push(column.ok_or_else(|| {
                ProcessorError::Config(format!("no builder for column {}", field.name()))
            })?);
        }
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(schema), columns)
            .map_err(|e| ProcessorError::Config(format!("building a Parquet batch: {e}")))
    }
}

/// One record as a row.
struct Row {
    /// The text columns in schema order (without `eventTime`, `readOnly`, `managementEvent`,
    /// `blockSequenceNo`).
    text: Vec<Option<String>>,
    time: Option<i64>,
    flags: [Option<bool>; 2],
    seq: i64,
}

fn row(record: &Value, document_id: String, seq: u64, hash: String) -> Row {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let json = |v: &Value| (!v.is_null()).then(|| v.to_string());
    let who = &record["userIdentity"];
    let text = vec![
        s(&record["eventID"]),
        s(&record["eventName"]),
        s(&record["eventSource"]),
        s(&record["eventType"]),
        s(&record["awsRegion"]),
        s(&record["sourceIPAddress"]),
        s(&record["userAgent"]),
        s(&who["type"]),
        s(&who["arn"]),
        s(&who["accountId"]),
        s(&who["principalId"]),
        s(&who["userName"]),
        s(&who["accessKeyId"]),
        s(&record["errorCode"]),
        s(&record["errorMessage"]),
        s(&record["recipientAccountId"]),
        json(&record["requestParameters"]),
        json(&record["responseElements"]),
        json(&record["resources"]),
        Some(record.to_string()),
        Some(document_id),
        Some(hash),
    ];
    debug_assert_eq!(text.len(), TEXT_COLUMNS);
    Row {
        text,
        time: record["eventTime"].as_str().and_then(parse_time),
        flags: [
            record["readOnly"].as_bool(),
            record["managementEvent"].as_bool(),
        ],
        seq: i64::try_from(seq).unwrap_or(i64::MAX),
    }
}

/// CloudTrail's `eventTime` (`2024-01-01T00:00:00Z`, fractions allowed) as epoch milliseconds.
fn parse_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = t.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let rest = &t[19..];
    let (millis, zone) = match rest.strip_prefix('.') {
        Some(f) => {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            let ms = format!("{:0<3}", &f[..digits.min(3)]).parse::<i64>().ok()?;
            (ms, &f[digits..])
        }
        None => (0, rest),
    };
    if zone != "Z" {
        return None;
    }
    let days = veritrail_core::time::days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + millis)
}

/// The partition directory of a time.
fn day_dir(time: Option<i64>) -> String {
    match time {
        Some(ms) => {
            let (y, m, d) = veritrail_core::time::civil_from_days(ms.div_euclid(86_400_000));
            format!("year={y:04}/month={m:02}/day={d:02}")
        }
        None => NO_DAY.to_owned(),
    }
}

/// A day's file being written.
struct Open {
    writer: ArrowWriter<File>,
    columns: Columns,
    used: u64,
}

struct Staging {
    root: PathBuf,
    schema: SchemaRef,
    props: WriterProperties,
    open: HashMap<String, Open>,
    parts: BTreeMap<String, u32>,
    files: Vec<String>,
    tick: u64,
}

impl Staging {
    fn write(&mut self, day: String, row: &Row) -> Result<(), ProcessorError> {
        self.tick += 1;
        if !self.open.contains_key(&day) {
            if self.open.len() >= OPEN_DAYS {
                let oldest = self
                    .open
                    .iter()
                    .min_by_key(|(_, o)| o.used)
                    .map(|(d, _)| d.clone());
                if let Some(d) = oldest {
                    self.close(&d)?;
                }
            }
            let n = self.parts.entry(day.clone()).or_insert(0);
            let rel = format!("{day}/part-{n:05}.parquet");
            *n += 1;
            let path = self.root.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| ProcessorError::io(parent, e))?;
            }
            let file = File::create(&path).map_err(|e| ProcessorError::io(&path, e))?;
            let writer =
                ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(self.props.clone()))
                    .map_err(|e| parquet_error(&path, e))?;
            self.files.push(rel);
            self.open.insert(
                day.clone(),
                Open {
                    writer,
                    columns: Columns::new(),
                    used: 0,
                },
            );
        }
        let tick = self.tick;
        let schema = Arc::clone(&self.schema);
        let open = self
            .open
            .get_mut(&day)
            .unwrap_or_else(|| unreachable!("opened above"));
        open.used = tick;
        open.columns.push(row);
        if open.columns.rows >= BATCH_ROWS {
            let batch = open.columns.finish(&schema)?;
            open.writer
                .write(&batch)
                .map_err(|e| parquet_error(&self.root.join(&day), e))?;
        }
        Ok(())
    }

    fn close(&mut self, day: &str) -> Result<(), ProcessorError> {
        if let Some(mut open) = self.open.remove(day) {
            let path = self.root.join(day);
            if open.columns.rows > 0 {
                let batch = open.columns.finish(&self.schema)?;
                open.writer
                    .write(&batch)
                    .map_err(|e| parquet_error(&path, e))?;
            }
            open.writer.close().map_err(|e| parquet_error(&path, e))?;
        }
        Ok(())
    }
}

fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> ProcessorError {
    ProcessorError::Io {
        path: path.display().to_string(),
        error: std::io::Error::other(e.to_string()),
    }
}

/// Writes the current documents of `table` under `out` (see the [module](self)).
pub fn export_parquet(
    db: &Database,
    table: &str,
    out: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<ParquetReport, ProcessorError> {
    // The current revision of each document, in journal order.
    let refs = {
        let ledger = db.ledger();
        let tables = ledger.storage().tables().map_err(DbError::from)?;
        let Some(t) = tables
            .iter()
            .find(|t| t.name == table && t.status == TableStatus::Active)
        else {
            return Err(ProcessorError::Config(format!(
                "the ledger has no table {table} to export"
            )));
        };
        let history = ledger
            .storage()
            .history(&t.table_id)
            .map_err(DbError::from)?;
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, r) in history.iter().enumerate() {
            last.insert(r.document_id.as_str(), i);
        }
        let keep: BTreeSet<usize> = last
            .into_values()
            .filter(|&i| !history[i].deleted)
            .collect();
        keep.into_iter()
            .map(|i| {
                (
                    history[i].seq,
                    history[i].index,
                    history[i].document_id.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    std::fs::create_dir_all(out).map_err(|e| ProcessorError::io(out, e))?;
    let root = out.join(format!(".veritrail-staging-{}", std::process::id()));
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| ProcessorError::io(&root, e))?;
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(BATCH_ROWS * 8))
        .set_created_by(format!("veritrail {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut staging = Staging {
        root: root.clone(),
        schema: schema(),
        props,
        open: HashMap::new(),
        parts: BTreeMap::new(),
        files: Vec::new(),
        tick: 0,
    };
    let mut report = ParquetReport::default();
    let total = refs.len() as u64;
    let written = (|| {
        for chunk in refs.chunks(READ_CHUNK) {
            let revisions = {
                let ledger = db.ledger();
                chunk
                    .iter()
                    .map(|(seq, index, _)| ledger.revision_value(*seq, *index))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(DbError::from)?
            };
            for ((seq, _, id), revision) in chunk.iter().zip(revisions) {
                let rev = revision.as_struct();
                let data = rev.and_then(|s| s.get("data"));
                let hash = rev
                    .and_then(|s| s.get("hash"))
                    .and_then(|h| h.as_blob())
                    .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                    .unwrap_or_default();
                let Some(record) = data.and_then(|d| ion_to_json(d).ok()) else {
                    return Err(ProcessorError::Config(format!(
                        "document {id} (block {seq}) cannot be read as JSON"
                    )));
                };
                let row = row(&record, id.clone(), *seq, hash);
                if row.time.is_none() {
                    report.undated += 1;
                }
                staging.write(day_dir(row.time), &row)?;
                report.records += 1;
            }
            progress(report.records, total);
        }
        let days: Vec<String> = staging.open.keys().cloned().collect();
        for d in days {
            staging.close(&d)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&root);
        return Err(e);
    }
    // Each day written replaces that day's parts.
    for day in staging.parts.keys() {
        let target = out.join(day);
        std::fs::create_dir_all(&target).map_err(|e| ProcessorError::io(&target, e))?;
        let old = std::fs::read_dir(&target).map_err(|e| ProcessorError::io(&target, e))?;
        for entry in old.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("part-") && name.ends_with(".parquet") {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(|e| ProcessorError::io(&p, e))?;
            }
        }
    }
    for rel in &staging.files {
        let (from, to) = (root.join(rel), out.join(rel));
        std::fs::rename(&from, &to).map_err(|e| ProcessorError::io(&to, e))?;
    }
    let _ = std::fs::remove_dir_all(&root);
    report.files = staging.files;
    Ok(report)
}

/// Writes the current documents of `table` as Parquet under `s3://bucket/prefix` (real S3 or
/// the emulator), in the same `year=/month=/day=` layout: the files are written in a
/// directory under `staging` first, then put, and only then are the `part-*.parquet` objects
/// of the days written that this export did not put deleted, so a rerun replaces the days it
/// writes and a failed one leaves the previous objects in place. The report's `files` are
/// the keys put.
pub fn export_parquet_to_s3(
    db: &Database,
    table: &str,
    aws: &Aws,
    url: &str,
    staging: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<ParquetReport, ProcessorError> {
    let (bucket, prefix) = parse_s3_url(url)?;
    let prefix = prefix.trim_end_matches('/');
    let key_of = |rel: &str| {
        if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let local = staging.join(format!(".veritrail-parquet-{}", std::process::id()));
    if local.exists() {
        std::fs::remove_dir_all(&local).map_err(|e| ProcessorError::io(&local, e))?;
    }
    let put = (|| {
        let mut report = export_parquet(db, table, &local, progress)?;
        let client = aws_sdk_s3::Client::new(aws.config());
        let mut keys = Vec::with_capacity(report.files.len());
        for rel in &report.files {
            let path = local.join(rel);
            let body = std::fs::read(&path).map_err(|e| ProcessorError::io(&path, e))?;
            let key = key_of(rel);
            aws.block_on(
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .content_type("application/vnd.apache.parquet")
                    .body(body.into())
                    .send(),
            )
            .map_err(|e| failed(format!("PutObject s3://{bucket}/{key}"), e))?;
            keys.push(key);
        }
        let days: BTreeSet<&str> = report
            .files
            .iter()
            .filter_map(|f| f.rsplit_once('/').map(|(day, _)| day))
            .collect();
        let put: HashSet<&str> = keys.iter().map(String::as_str).collect();
        for day in days {
            let folder = format!("{}/", key_of(day));
            let (_, old) = list_objects(aws, &client, &bucket, &folder, Some("/"), None)?;
            for key in old {
                let name = key.rsplit('/').next().unwrap_or_default();
                if put.contains(key.as_str())
                    || !(name.starts_with("part-") && name.ends_with(".parquet"))
                {
                    continue;
                }
                aws.block_on(client.delete_object().bucket(&bucket).key(&key).send())
                    .map_err(|e| failed(format!("DeleteObject s3://{bucket}/{key}"), e))?;
            }
        }
        report.files = keys;
        Ok(report)
    })();
    let _ = std::fs::remove_dir_all(&local);
    put
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_read_as_cloudtrail_writes_them() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2024-02-29T23:59:59Z"), Some(1_709_251_199_000));
        assert_eq!(
            parse_time("2024-02-29T23:59:59.5Z"),
            Some(1_709_251_199_500)
        );
        assert_eq!(
            parse_time("2024-02-29T23:59:59.123456Z"),
            Some(1_709_251_199_123)
        );
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T23:59:59+01:00",
            "2024-13-01T00:00:00Z",
            "2024-02-29T24:00:00Z",
            "x024-02-29T23:59:59Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(
            day_dir(Some(1_709_251_199_000)),
            "year=2024/month=02/day=29"
        );
        assert_eq!(day_dir(None), NO_DAY);
    }
}
