//! EventBridge's rows in `aws.sqlite`: one row per bus, rule (with its targets), connection and
//! API destination, the deliveries still to make (`ev_deliveries`, due times on the emulator's
//! clock) and the deliveries that failed for good (`ev_failures`). Rows are written inside the
//! request's store write and read back strictly at start-up: a row that does not parse, lacks a
//! member, holds what no call could have stored, or disagrees with its key stops start-up with
//! an error naming it.

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use veritrail_core::time::UtcMillis;

use crate::services::events::model::{ApiDestination, Bus, Connection, Rule};
use crate::services::saved;
use crate::store::{Store, StoreError, Write};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ev_meta (id INTEGER PRIMARY KEY CHECK (id = 1), created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ev_buses (region TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (region, name));
CREATE TABLE IF NOT EXISTS ev_rules (region TEXT NOT NULL, bus TEXT NOT NULL, name TEXT NOT NULL,
    json TEXT NOT NULL, PRIMARY KEY (region, bus, name));
CREATE TABLE IF NOT EXISTS ev_connections (region TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (region, name));
CREATE TABLE IF NOT EXISTS ev_destinations (region TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (region, name));
CREATE TABLE IF NOT EXISTS ev_deliveries (id INTEGER PRIMARY KEY, due INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ev_deliveries_by_due ON ev_deliveries (due, id);
CREATE TABLE IF NOT EXISTS ev_failures (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, json TEXT NOT NULL);
";

fn text<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Sqlite(e.to_string()))
}

pub fn put_bus(w: &Write<'_>, bus: &Bus) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("INSERT OR REPLACE INTO ev_buses (region, name, json) VALUES (?1, ?2, ?3)")?
        .execute(params![bus.region, bus.name, text(bus)?])?;
    Ok(())
}

pub fn delete_bus(w: &Write<'_>, region: &str, name: &str) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM ev_buses WHERE region = ?1 AND name = ?2")?
        .execute(params![region, name])?;
    Ok(())
}

pub fn put_rule(w: &Write<'_>, rule: &Rule) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached(
            "INSERT OR REPLACE INTO ev_rules (region, bus, name, json) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![rule.region, rule.bus, rule.name, text(rule)?])?;
    Ok(())
}

pub fn delete_rule(w: &Write<'_>, region: &str, bus: &str, name: &str) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM ev_rules WHERE region = ?1 AND bus = ?2 AND name = ?3")?
        .execute(params![region, bus, name])?;
    Ok(())
}

pub fn put_connection(w: &Write<'_>, c: &Connection) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached(
            "INSERT OR REPLACE INTO ev_connections (region, name, json) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![c.region, c.name, text(c)?])?;
    Ok(())
}

pub fn delete_connection(w: &Write<'_>, region: &str, name: &str) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM ev_connections WHERE region = ?1 AND name = ?2")?
        .execute(params![region, name])?;
    Ok(())
}

pub fn put_destination(w: &Write<'_>, d: &ApiDestination) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached(
            "INSERT OR REPLACE INTO ev_destinations (region, name, json) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![d.region, d.name, text(d)?])?;
    Ok(())
}

pub fn delete_destination(w: &Write<'_>, region: &str, name: &str) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM ev_destinations WHERE region = ?1 AND name = ?2")?
        .execute(params![region, name])?;
    Ok(())
}

/// Queues a delivery; returns its id.
pub fn insert_delivery<T: Serialize>(
    w: &Write<'_>,
    due: UtcMillis,
    delivery: &T,
) -> Result<i64, StoreError> {
    w.conn()
        .prepare_cached("INSERT INTO ev_deliveries (due, json) VALUES (?1, ?2)")?
        .execute(params![due.0, text(delivery)?])?;
    Ok(w.conn().last_insert_rowid())
}

/// Puts a delivery off until `due`, with what it has tried so far.
pub fn update_delivery<T: Serialize>(
    w: &Write<'_>,
    id: i64,
    due: UtcMillis,
    delivery: &T,
) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("UPDATE ev_deliveries SET due = ?2, json = ?3 WHERE id = ?1")?
        .execute(params![id, due.0, text(delivery)?])?;
    Ok(())
}

pub fn delete_delivery(w: &Write<'_>, id: i64) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM ev_deliveries WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// The deliveries due at `now`, oldest first, at most `limit`.
pub fn due_deliveries<T: DeserializeOwned>(
    w: &Write<'_>,
    now: UtcMillis,
    limit: usize,
) -> Result<Vec<(i64, T)>, StoreError> {
    let mut stmt = w.conn().prepare_cached(
        "SELECT id, json FROM ev_deliveries WHERE due <= ?1 ORDER BY due, id LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![now.0, limit as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let json: String = r.get(1)?;
        out.push((
            id,
            saved::parse_row(
                &format!("EventBridge delivery (ev_deliveries row {id})"),
                &json,
            )?,
        ));
    }
    Ok(out)
}

/// The earliest time a delivery falls due.
pub fn next_due(w: &Write<'_>) -> Result<Option<UtcMillis>, StoreError> {
    Ok(w.conn()
        .query_row("SELECT min(due) FROM ev_deliveries", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .map(UtcMillis))
}

pub fn insert_failure<T: Serialize>(
    w: &Write<'_>,
    at: UtcMillis,
    failure: &T,
) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("INSERT INTO ev_failures (at, json) VALUES (?1, ?2)")?
        .execute(params![at.0, text(failure)?])?;
    Ok(())
}

/// The time the EventBridge state was first made (the default buses' creation time); set now
/// if it was never set.
pub fn created(w: &Write<'_>, now: UtcMillis) -> Result<UtcMillis, StoreError> {
    let at: Option<i64> = w
        .conn()
        .query_row("SELECT created FROM ev_meta WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    match at {
        Some(at) => Ok(UtcMillis(at)),
        None => {
            w.conn()
                .execute("INSERT INTO ev_meta (id, created) VALUES (1, ?1)", [now.0])?;
            Ok(now)
        }
    }
}

/// Reads every row of `table` (key columns, then the JSON), parsed and checked; `describe`
/// names a row for errors, `keys` gives the key columns the value must agree with.
pub fn load<T: DeserializeOwned>(
    store: &Store,
    table: &str,
    key_columns: &str,
    check: impl Fn(&T, &[String]) -> Result<(), String>,
) -> Result<Vec<T>, StoreError> {
    let rows: Vec<(Vec<String>, String)> = store.read(|c| {
        let n = key_columns.split(',').count();
        let mut stmt = c.prepare(&format!("SELECT {key_columns}, json FROM {table}"))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let keys = (0..n)
                .map(|i| r.get::<_, String>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.push((keys, r.get(n)?));
        }
        Ok(out)
    })?;
    rows.into_iter()
        .map(|(keys, json)| {
            let row = format!("{table} row ({})", keys.join(", "));
            let value: T = saved::parse_row(&row, &json)?;
            check(&value, &keys).map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))?;
            Ok(value)
        })
        .collect()
}

/// Reads every queued delivery back (a damaged one stops start-up).
pub fn check_deliveries<T: DeserializeOwned>(store: &Store) -> Result<usize, StoreError> {
    let rows: Vec<(i64, String)> = store.read(|c| {
        let mut stmt = c.prepare("SELECT id, json FROM ev_deliveries")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    })?;
    for (id, json) in &rows {
        saved::parse_row::<T>(
            &format!("EventBridge delivery (ev_deliveries row {id})"),
            json,
        )?;
    }
    Ok(rows.len())
}
