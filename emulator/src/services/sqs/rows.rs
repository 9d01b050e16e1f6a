//! SQS in `aws.sqlite`: one row per queue (its settings as JSON), one row per message (body,
//! attributes and receipt state), and the FIFO deduplication window. Messages are never all
//! held in memory: every receive, delete and count is a query on indexed columns, inside the
//! request's store write.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::{Map, Value};

use crate::services::saved;
use crate::services::sqs::model::Queue;
use crate::store::StoreError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sqs_queues (
    id INTEGER PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
    UNIQUE (region, name));
CREATE TABLE IF NOT EXISTS sqs_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    system TEXT NOT NULL,
    sender TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    first_received_at INTEGER,
    received_at INTEGER,
    receipt TEXT,
    group_id TEXT,
    dedup_id TEXT);
CREATE INDEX IF NOT EXISTS sqs_messages_visible ON sqs_messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS sqs_messages_order ON sqs_messages (queue, seq);
CREATE INDEX IF NOT EXISTS sqs_messages_group ON sqs_messages (queue, group_id, seq);
CREATE INDEX IF NOT EXISTS sqs_messages_sent ON sqs_messages (queue, sent_at);
CREATE TABLE IF NOT EXISTS sqs_ids (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sqs_dedup (
    queue INTEGER NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, PRIMARY KEY (queue, key));
";

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub seq: i64,
    pub queue: i64,
    pub message_id: String,
    pub body: String,
    pub attributes: Map<String, Value>,
    /// System attributes given by the sender (`AWSTraceHeader`) or SQS
    /// (`DeadLetterQueueSourceArn`).
    pub system: Map<String, Value>,
    pub sender: String,
    pub sent_at: i64,
    pub visible_at: i64,
    pub receive_count: i64,
    pub first_received_at: Option<i64>,
    pub received_at: Option<i64>,
    pub receipt: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

const COLUMNS: &str = "seq, queue, message_id, body, attributes, system, sender, sent_at, visible_at, receive_count, first_received_at, received_at, receipt, group_id, dedup_id";

fn map_of(seq: i64, column: &str, text: &str) -> Result<Map<String, Value>, StoreError> {
    saved::parse_row(
        &format!("SQS message (sqs_messages row {seq}) {column}"),
        text,
    )
}

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Message, String, String)> {
    Ok((
        Message {
            seq: row.get(0)?,
            queue: row.get(1)?,
            message_id: row.get(2)?,
            body: row.get(3)?,
            attributes: Map::new(),
            system: Map::new(),
            sender: row.get(6)?,
            sent_at: row.get(7)?,
            visible_at: row.get(8)?,
            receive_count: row.get(9)?,
            first_received_at: row.get(10)?,
            received_at: row.get(11)?,
            receipt: row.get(12)?,
            group_id: row.get(13)?,
            dedup_id: row.get(14)?,
        },
        row.get(4)?,
        row.get(5)?,
    ))
}

fn finish(rows: Vec<(Message, String, String)>) -> Result<Vec<Message>, StoreError> {
    rows.into_iter()
        .map(|(mut m, attributes, system)| {
            m.attributes = map_of(m.seq, "attributes", &attributes)?;
            m.system = map_of(m.seq, "system", &system)?;
            Ok(m)
        })
        .collect()
}

/// Stores a message; returns its sequence number.
pub fn insert(conn: &Connection, m: &Message) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO sqs_messages (queue, message_id, body, attributes, system, sender, sent_at,
             visible_at, receive_count, first_received_at, received_at, receipt, group_id, dedup_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?12, ?13)",
    )?
    .execute(params![
        m.queue,
        m.message_id,
        m.body,
        Value::Object(m.attributes.clone()).to_string(),
        Value::Object(m.system.clone()).to_string(),
        m.sender,
        m.sent_at,
        m.visible_at,
        m.receive_count,
        m.first_received_at,
        m.received_at,
        m.group_id,
        m.dedup_id,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Messages that can be received at `now`, oldest first, at most `limit`. In a FIFO queue a
/// message waits while an earlier message of its group is not visible, or any of its group is
/// in flight.
pub fn receivable(
    conn: &Connection,
    queue: i64,
    now: i64,
    fifo: bool,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    let sql = if fifo {
        format!(
            "SELECT {COLUMNS} FROM sqs_messages m WHERE m.queue = ?1 AND m.visible_at <= ?2
               AND NOT EXISTS (SELECT 1 FROM sqs_messages b
                   WHERE b.queue = ?1 AND b.group_id IS m.group_id AND b.visible_at > ?2
                     AND (b.seq < m.seq OR b.receive_count > 0))
             ORDER BY m.seq LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM sqs_messages WHERE queue = ?1 AND visible_at <= ?2
             ORDER BY visible_at, seq LIMIT ?3"
        )
    };
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![queue, now, limit as i64], read)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    finish(rows)
}

/// One message of `queue` by sequence number.
pub fn get(conn: &Connection, queue: i64, seq: i64) -> Result<Option<Message>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sqs_messages WHERE seq = ?1 AND queue = ?2"
        ))?
        .query_row(params![seq, queue], read)
        .optional()?;
    Ok(finish(row.into_iter().collect())?.pop())
}

/// Records a receive: in flight until `visible_at`, with a new receipt.
pub fn received(
    conn: &Connection,
    seq: i64,
    now: i64,
    visible_at: i64,
    receipt: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sqs_messages SET receive_count = receive_count + 1, visible_at = ?2,
             received_at = ?3, first_received_at = coalesce(first_received_at, ?3), receipt = ?4
         WHERE seq = ?1",
    )?
    .execute(params![seq, visible_at, now, receipt])?;
    Ok(())
}

pub fn set_visible_at(conn: &Connection, seq: i64, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sqs_messages SET visible_at = ?2 WHERE seq = ?1")?
        .execute(params![seq, at])?;
    Ok(())
}

pub fn delete(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sqs_messages WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// Removes the messages sent at or before `cutoff` (past the retention period).
pub fn expire(conn: &Connection, queue: i64, cutoff: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM sqs_messages WHERE queue = ?1 AND sent_at <= ?2")?
        .execute(params![queue, cutoff])?)
}

/// Removes every message of `queue` (PurgeQueue, DeleteQueue) and its deduplication window.
pub fn purge(conn: &Connection, queue: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sqs_messages WHERE queue = ?1")?
        .execute([queue])?;
    conn.prepare_cached("DELETE FROM sqs_dedup WHERE queue = ?1")?
        .execute([queue])?;
    Ok(())
}

/// (visible, in flight, delayed) messages of `queue` at `now`, those sent after `cutoff` only.
pub fn counts(
    conn: &Connection,
    queue: i64,
    now: i64,
    cutoff: i64,
) -> rusqlite::Result<(i64, i64, i64)> {
    conn.prepare_cached(
        "SELECT coalesce(sum(visible_at <= ?2), 0),
                    coalesce(sum(visible_at > ?2 AND receive_count > 0), 0),
                    coalesce(sum(visible_at > ?2 AND receive_count = 0), 0)
             FROM sqs_messages WHERE queue = ?1 AND sent_at > ?3",
    )?
    .query_row(params![queue, now, cutoff], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// When the next message of `queue` that is not visible at `now` becomes visible.
pub fn next_visible(conn: &Connection, queue: i64, now: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT min(visible_at) FROM sqs_messages WHERE queue = ?1 AND visible_at > ?2",
        )?
        .query_row(params![queue, now], |r| r.get(0))?)
}

/// A message sent within the deduplication window under `key`: its id and sequence number.
pub fn dedup_find(
    conn: &Connection,
    queue: i64,
    key: &str,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT message_id, seq FROM sqs_dedup WHERE queue = ?1 AND key = ?2 AND expires_at > ?3",
        )?
        .query_row(params![queue, key, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn dedup_insert(
    conn: &Connection,
    queue: i64,
    key: &str,
    message_id: &str,
    seq: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sqs_dedup (queue, key, message_id, seq, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (queue, key) DO UPDATE SET message_id = excluded.message_id,
             seq = excluded.seq, expires_at = excluded.expires_at",
    )?
    .execute(params![queue, key, message_id, seq, expires_at])?;
    Ok(())
}

/// Forgets deduplication entries past their window.
pub fn dedup_expire(conn: &Connection, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sqs_dedup WHERE expires_at <= ?1")?
        .execute([now])?;
    Ok(())
}

pub fn save_queue(conn: &Connection, q: &Queue) -> Result<(), StoreError> {
    let json = serde_json::to_string(q).map_err(|e| StoreError::Sqlite(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO sqs_queues (id, region, name, json) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![q.id, q.region, q.name, json])?;
    Ok(())
}

pub fn delete_queue(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sqs_queues WHERE id = ?1")?
        .execute([id])?;
    purge(conn, id)
}

/// Every queue, read strictly, and the next queue id (ids are never reused: one past the
/// largest id any message or queue has).
pub fn load_queues(conn: &Connection) -> Result<(Vec<Queue>, i64), StoreError> {
    let rows: Vec<(i64, String, String, String)> = conn
        .prepare("SELECT id, region, name, json FROM sqs_queues ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut queues = Vec::new();
    for (id, region, name, json) in rows {
        let row = format!("the SQS queue {name:?} (sqs_queues row {id})");
        let q: Queue = saved::parse_row(&row, &json)?;
        if q.id != id || q.region != region || q.name != name {
            return Err(StoreError::Corrupt(format!(
                "{row}: its JSON names another queue"
            )));
        }
        q.check()
            .map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))?;
        queues.push(q);
    }
    let next: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(id) FROM sqs_queues), 0),
                    coalesce((SELECT max(queue) FROM sqs_messages), 0),
                    coalesce((SELECT value FROM sqs_ids WHERE name = 'queue'), 0)) + 1",
        [],
        |r| r.get(0),
    )?;
    Ok((queues, next))
}

/// Remembers the largest queue id handed out, so a deleted queue's id is never reused.
pub fn note_queue_id(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sqs_ids (name, value) VALUES ('queue', ?1)
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute([id])?;
    Ok(())
}
