//! SNS in `aws.sqlite`: topics and subscriptions (JSON rows), HTTP deliveries waiting or being
//! retried, the record of failed deliveries, and the FIFO deduplication window.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::services::saved;
use crate::services::sns::delivery::HttpDelivery;
use crate::services::sns::model::{Subscription, Topic};
use crate::store::StoreError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sns_topics (arn TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sns_subscriptions (arn TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sns_http (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL, topic TEXT NOT NULL,
    endpoint TEXT NOT NULL, kind TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    raw INTEGER NOT NULL, attempts INTEGER NOT NULL, retries INTEGER NOT NULL,
    delay_ms INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT);
CREATE INDEX IF NOT EXISTS sns_http_due ON sns_http (next_at);
CREATE TABLE IF NOT EXISTS sns_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, topic TEXT NOT NULL,
    subscription TEXT NOT NULL, endpoint TEXT NOT NULL, message_id TEXT NOT NULL,
    attempts INTEGER NOT NULL, reason TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sns_dedup (
    topic TEXT NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, seq TEXT NOT NULL,
    expires_at INTEGER NOT NULL, PRIMARY KEY (topic, key));
";

/// A delivery that failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDelivery {
    pub at: i64,
    pub topic_arn: String,
    pub subscription_arn: String,
    pub endpoint: String,
    pub message_id: String,
    pub attempts: i64,
    pub reason: String,
    pub body: String,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Sqlite(e.to_string()))
}

pub fn save_topic(conn: &Connection, t: &Topic) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sns_topics (arn, json) VALUES (?1, ?2)
         ON CONFLICT (arn) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![t.arn, json(t)?])?;
    Ok(())
}

pub fn delete_topic(conn: &Connection, arn: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sns_topics WHERE arn = ?1")?
        .execute([arn])?;
    conn.prepare_cached("DELETE FROM sns_http WHERE topic = ?1")?
        .execute([arn])?;
    conn.prepare_cached("DELETE FROM sns_dedup WHERE topic = ?1")?
        .execute([arn])?;
    Ok(())
}

pub fn save_subscription(conn: &Connection, s: &Subscription) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sns_subscriptions (arn, json) VALUES (?1, ?2)
         ON CONFLICT (arn) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![s.arn, json(s)?])?;
    Ok(())
}

pub fn delete_subscription(conn: &Connection, arn: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sns_subscriptions WHERE arn = ?1")?
        .execute([arn])?;
    conn.prepare_cached("DELETE FROM sns_http WHERE subscription = ?1")?
        .execute([arn])?;
    Ok(())
}

/// Every topic and subscription, read strictly.
pub fn load(conn: &Connection) -> Result<(Vec<Topic>, Vec<Subscription>), StoreError> {
    let rows = |table: &str| -> Result<Vec<(String, String)>, StoreError> {
        Ok(conn
            .prepare(&format!("SELECT arn, json FROM {table} ORDER BY arn"))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
    };
    let mut topics = Vec::new();
    for (arn, text) in rows("sns_topics")? {
        let row = format!("the SNS topic {arn} (sns_topics)");
        let t: Topic = saved::parse_row(&row, &text)?;
        if t.arn != arn {
            return Err(StoreError::Corrupt(format!(
                "{row}: its JSON names another topic"
            )));
        }
        t.check()
            .map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))?;
        topics.push(t);
    }
    let mut subscriptions = Vec::new();
    for (arn, text) in rows("sns_subscriptions")? {
        let row = format!("the SNS subscription {arn} (sns_subscriptions)");
        let s: Subscription = saved::parse_row(&row, &text)?;
        if s.arn != arn {
            return Err(StoreError::Corrupt(format!(
                "{row}: its JSON names another subscription"
            )));
        }
        s.check()
            .map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))?;
        subscriptions.push(s);
    }
    Ok((topics, subscriptions))
}

/// Queues an HTTP delivery, first tried at `next_at`.
pub fn http_insert(
    conn: &Connection,
    d: &HttpDelivery,
    retries: i64,
    delay_ms: i64,
    next_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sns_http (subscription, topic, endpoint, kind, message_id, body, raw, attempts,
             retries, delay_ms, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)",
    )?
    .execute(params![
        d.subscription_arn,
        d.topic_arn,
        d.endpoint,
        d.kind,
        d.message_id,
        d.body,
        d.raw,
        retries,
        delay_ms,
        next_at
    ])?;
    Ok(())
}

/// Deliveries due at `now`, oldest first, at most `limit`.
pub fn http_due(conn: &Connection, now: i64, limit: usize) -> rusqlite::Result<Vec<HttpDelivery>> {
    conn.prepare_cached(
        "SELECT id, subscription, topic, endpoint, kind, message_id, body, raw, attempts
         FROM sns_http WHERE next_at <= ?1 ORDER BY next_at, id LIMIT ?2",
    )?
    .query_map(params![now, limit as i64], |r| {
        Ok(HttpDelivery {
            id: r.get(0)?,
            subscription_arn: r.get(1)?,
            topic_arn: r.get(2)?,
            endpoint: r.get(3)?,
            kind: r.get(4)?,
            message_id: r.get(5)?,
            body: r.get(6)?,
            raw: r.get(7)?,
            attempts: r.get(8)?,
        })
    })?
    .collect()
}

/// A delivery's retry policy: (retries, delay in milliseconds); `None` once it is gone.
pub fn http_policy(conn: &Connection, id: i64) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT retries, delay_ms FROM sns_http WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn http_retry(
    conn: &Connection,
    id: i64,
    attempts: i64,
    next_at: i64,
    error: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sns_http SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE id = ?1",
    )?
    .execute(params![id, attempts, next_at, error])?;
    Ok(())
}

pub fn http_delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sns_http WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub fn failure_insert(conn: &Connection, f: &FailedDelivery) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sns_failures (at, topic, subscription, endpoint, message_id, attempts, reason, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        f.at,
        f.topic_arn,
        f.subscription_arn,
        f.endpoint,
        f.message_id,
        f.attempts,
        f.reason,
        f.body
    ])?;
    Ok(())
}

pub fn failures(conn: &Connection) -> rusqlite::Result<Vec<FailedDelivery>> {
    conn.prepare_cached(
        "SELECT at, topic, subscription, endpoint, message_id, attempts, reason, body
         FROM sns_failures ORDER BY id",
    )?
    .query_map([], |r| {
        Ok(FailedDelivery {
            at: r.get(0)?,
            topic_arn: r.get(1)?,
            subscription_arn: r.get(2)?,
            endpoint: r.get(3)?,
            message_id: r.get(4)?,
            attempts: r.get(5)?,
            reason: r.get(6)?,
            body: r.get(7)?,
        })
    })?
    .collect()
}

pub fn dedup_find(
    conn: &Connection,
    topic: &str,
    key: &str,
    now: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT message_id, seq FROM sns_dedup WHERE topic = ?1 AND key = ?2 AND expires_at > ?3",
        )?
        .query_row(params![topic, key, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn dedup_insert(
    conn: &Connection,
    topic: &str,
    key: &str,
    message_id: &str,
    seq: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sns_dedup (topic, key, message_id, seq, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (topic, key) DO UPDATE SET message_id = excluded.message_id,
             seq = excluded.seq, expires_at = excluded.expires_at",
    )?
    .execute(params![topic, key, message_id, seq, expires_at])?;
    Ok(())
}
