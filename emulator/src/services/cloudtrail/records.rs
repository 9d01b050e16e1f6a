//! The record of every call the emulator serves, in `aws.sqlite` (`ct_records`), read back by
//! delivery (in sequence order) and by LookupEvents (newest first, by attribute). Records wait
//! in a short in-memory queue until the next store write commits them: a call that changed
//! something commits its record with its change; records of reads go with the next write, the
//! once-a-second tick, or when [`MAX_PENDING`] wait. Memory holds only that queue.

use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde_json::Value;
use veritrail_core::time::UtcMillis;

use crate::services::cloudtrail::model::Recorded;
use crate::store::{Store, StoreError, Write};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ct_records (
    seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, region TEXT NOT NULL,
    event_id TEXT NOT NULL, event_name TEXT NOT NULL, event_source TEXT NOT NULL,
    read_only INTEGER NOT NULL, management INTEGER NOT NULL,
    username TEXT, access_key TEXT, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ct_records_by_name ON ct_records (event_name, seq);
DROP INDEX IF EXISTS ct_records_by_time;
";

/// Records are numbered in the order they are made, and their times follow that order to
/// within this much (two calls racing to be recorded): a scan by sequence number that has
/// passed this far before the window has passed the window.
const TIME_SLACK_MS: i64 = 60_000;

/// Records of reads wait in memory at most this many at a time.
pub const MAX_PENDING: usize = 512;

/// A record as made: its JSON text and the columns it is found by.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub at: UtcMillis,
    pub region: String,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub read_only: bool,
    pub management: bool,
    /// The user name (the access key for IAM users; `ANONYMOUS` when unsigned).
    pub username: String,
    pub json: String,
}

impl NewRecord {
    /// The columns of a record given as JSON (a record of an older data directory).
    fn from_value(at: UtcMillis, region: String, v: &Value) -> Self {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Self {
            at,
            region,
            event_id: s("eventID"),
            event_name: s("eventName"),
            event_source: s("eventSource"),
            read_only: v["readOnly"].as_bool().unwrap_or(false),
            management: v["managementEvent"].as_bool().unwrap_or(true),
            username: v["userIdentity"]["userName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            json: v.to_string(),
        }
    }
}

/// Records not yet committed (with their sequence numbers), and the next sequence number.
#[derive(Debug)]
struct Pending {
    rows: Vec<(i64, NewRecord)>,
    next_seq: i64,
}

/// The record store.
#[derive(Debug)]
pub struct Records {
    pending: Mutex<Pending>,
}

impl Records {
    /// Continues the sequence after what is stored.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        let last: Option<i64> =
            store.read(|c| c.query_row("SELECT max(seq) FROM ct_records", [], |r| r.get(0)))?;
        Ok(Self {
            pending: Mutex::new(Pending {
                rows: Vec::new(),
                next_seq: last.map_or(0, |s| s + 1),
            }),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a record; returns how many now wait.
    pub fn push(&self, record: NewRecord) -> usize {
        let mut p = self.pending();
        let seq = p.next_seq;
        p.next_seq += 1;
        p.rows.push((seq, record));
        p.rows.len()
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> i64 {
        self.pending().next_seq
    }

    /// How many records wait.
    pub fn waiting(&self) -> usize {
        self.pending().rows.len()
    }

    /// Inserts every waiting record into `w`.
    pub fn flush(&self, w: &Write<'_>) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut self.pending().rows);
        let mut insert = w.conn().prepare_cached(
            "INSERT INTO ct_records (seq, at, region, event_id, event_name, event_source,
                read_only, management, username, access_key, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (seq, r) in &rows {
            insert.execute(params![
                seq,
                r.at.0,
                r.region,
                r.event_id,
                r.event_name,
                r.event_source,
                r.read_only,
                r.management,
                r.username,
                r.username,
                r.json,
            ])?;
        }
        Ok(())
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn recorded((seq, at, region, json): (i64, i64, String, String)) -> Result<Recorded, StoreError> {
    Ok(Recorded {
        seq,
        at: UtcMillis(at),
        region,
        value: serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("CloudTrail record {seq}: {e}")))?,
    })
}

/// The records from sequence number `cursor` on that happened at or before `up_to`, in order
/// (stopping at the first later one, so delivery never skips a record).
pub fn since(
    conn: &Connection,
    cursor: i64,
    up_to: UtcMillis,
) -> Result<Vec<Recorded>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, region, json FROM ct_records WHERE seq >= ?1 ORDER BY seq",
    )?;
    let mut out = Vec::new();
    let mut rows = stmt.query([cursor])?;
    while let Some(r) = rows.next()? {
        let raw = row(r)?;
        if raw.1 > up_to.0 {
            break;
        }
        out.push(recorded(raw)?);
    }
    Ok(out)
}

/// What LookupEvents filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    EventId(String),
    EventName(String),
    EventSource(String),
    ReadOnly(bool),
    Username(String),
    AccessKeyId(String),
    ResourceName(String),
    ResourceType(String),
}

/// One LookupEvents page: management events between `from` and `to` matching `attribute`,
/// newest first, older than `before` (the previous page's last sequence number); at most
/// `max`, and whether more remain.
pub fn lookup(
    conn: &Connection,
    attribute: Option<&Attribute>,
    from: UtcMillis,
    to: UtcMillis,
    before: Option<i64>,
    max: usize,
) -> Result<(Vec<Recorded>, bool), StoreError> {
    let (column, value): (&str, Option<rusqlite::types::Value>) = match attribute {
        Some(Attribute::EventId(v)) => ("event_id", Some(v.clone().into())),
        Some(Attribute::EventName(v)) => ("event_name", Some(v.clone().into())),
        Some(Attribute::EventSource(v)) => ("event_source", Some(v.clone().into())),
        Some(Attribute::ReadOnly(v)) => ("read_only", Some(i64::from(*v).into())),
        Some(Attribute::Username(v)) => ("username", Some(v.clone().into())),
        Some(Attribute::AccessKeyId(v)) => ("access_key", Some(v.clone().into())),
        _ => ("1", None),
    };
    // Newest first by sequence number (the primary key, or the event-name index), stopping
    // once the records are older than the window.
    let sql = format!(
        "SELECT seq, at, region, json FROM ct_records
         WHERE management = 1 AND seq < ?1 AND {column} = ?2
         ORDER BY seq DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        before.unwrap_or(i64::MAX),
        value.unwrap_or(rusqlite::types::Value::Integer(1)),
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let raw = row(r)?;
        if raw.1 < from.0.saturating_sub(TIME_SLACK_MS) {
            break;
        }
        if raw.1 < from.0 || raw.1 > to.0 {
            continue;
        }
        let rec = recorded(raw)?;
        let keep = match attribute {
            Some(Attribute::ResourceName(name)) => {
                resources(&rec.value).any(|x| x["ARN"].as_str() == Some(name.as_str()))
            }
            Some(Attribute::ResourceType(kind)) => {
                resources(&rec.value).any(|x| x["type"].as_str() == Some(kind.as_str()))
            }
            _ => true,
        };
        if keep {
            if out.len() == max {
                return Ok((out, true));
            }
            out.push(rec);
        }
    }
    Ok((out, false))
}

fn resources(v: &Value) -> impl Iterator<Item = &Value> {
    v["resources"].as_array().into_iter().flatten()
}

/// Moves records from the format before service folders (`records`) into `ct_records`,
/// keeping their sequence numbers (trail cursors refer to them).
pub fn migrate_v0(w: &Write<'_>) -> Result<(), StoreError> {
    let conn = w.conn();
    let exists: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'records'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !exists {
        return Ok(());
    }
    let records = Records {
        pending: Mutex::new(Pending {
            rows: Vec::new(),
            next_seq: 0,
        }),
    };
    {
        let mut stmt = conn.prepare("SELECT seq, at, region, json FROM records ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut p = records.pending();
        while let Some(r) = rows.next()? {
            let old = recorded(row(r)?)?;
            p.rows.push((
                old.seq,
                NewRecord::from_value(old.at, old.region, &old.value),
            ));
        }
    }
    records.flush(w)?;
    conn.execute_batch("DROP TABLE records")?;
    Ok(())
}
