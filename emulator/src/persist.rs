//! S3 and CloudTrail state in SQLite (`<data-dir>/aws.sqlite`), so buckets, object versions,
//! Object Lock settings, trails, signing keys, delivery progress and the recorded events survive
//! a restart.
//!
//! The in-memory maps stay the source of reads; every change is written through before the
//! request that made it is answered ([`Persist::save`] runs at the end of each request and of
//! each delivery tick), in one transaction, so a crash leaves either all of a request's effects
//! or none. WAL with `synchronous=NORMAL`: a killed process loses nothing it acknowledged; a
//! power cut may lose the last transactions (this is an emulator, not the evidence store).
//!
//! Only what changed is written: the keys a bucket marks dirty (all versions of such a key are
//! rewritten), bucket settings when marked, records appended since the last save, and the trail
//! state when CloudTrail marks it dirty. Records of read-only calls are batched (see
//! [`Persist::save`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

use crate::cloudtrail::{Recorded, State, Trail};
use crate::delivery::{Chain, Delivery, SigningKey};
use crate::s3::{Bucket, Version};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    bucket TEXT NOT NULL, key TEXT NOT NULL, ord INTEGER NOT NULL,
    meta TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (bucket, key, ord));
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, region TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cloudtrail (name TEXT PRIMARY KEY, json TEXT NOT NULL);
";

/// At most this many records of read calls wait in memory for the next save.
pub const DEFERRED_RECORDS: usize = 512;

/// The SQLite side of the S3 and CloudTrail state.
#[derive(Debug)]
pub struct Persist {
    conn: Mutex<Connection>,
    /// Bucket names as stored, to notice deletions.
    stored_buckets: Mutex<BTreeSet<String>>,
}

fn sql(e: rusqlite::Error) -> String {
    format!("aws.sqlite: {e}")
}

fn opt_ms(v: &Value) -> Option<UtcMillis> {
    v.as_i64().map(UtcMillis)
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn version_meta(v: &Version) -> String {
    json!({
        "id": v.id,
        "deleteMarker": v.delete_marker,
        "metadata": v.metadata,
        "contentType": v.content_type,
        "modified": v.modified.0,
        "etag": v.etag,
        "retention": v.retention.as_ref().map(|(m, u)| json!([m, u.0])),
        "legalHold": v.legal_hold,
    })
    .to_string()
}

fn version_from(meta: &str, body: Vec<u8>) -> Result<Version, String> {
    let m: Value = serde_json::from_str(meta).map_err(|e| format!("aws.sqlite: a version: {e}"))?;
    Ok(Version {
        id: string(&m["id"]),
        delete_marker: m["deleteMarker"].as_bool().unwrap_or(false),
        body,
        metadata: m["metadata"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), string(v))).collect())
            .unwrap_or_default(),
        content_type: m["contentType"].as_str().map(str::to_owned),
        modified: UtcMillis(m["modified"].as_i64().unwrap_or(0)),
        etag: string(&m["etag"]),
        retention: m["retention"].as_array().and_then(|r| {
            Some((
                r.first()?.as_str()?.to_owned(),
                UtcMillis(r.get(1)?.as_i64()?),
            ))
        }),
        legal_hold: m["legalHold"].as_bool().unwrap_or(false),
    })
}

fn bucket_settings(b: &Bucket) -> String {
    json!({
        "created": b.created.0,
        "region": b.region,
        "versioning": b.versioning,
        "objectLock": b.object_lock,
        "defaultRetention": b.default_retention.as_ref().map(|(m, d)| json!([m, d])),
        "configs": b.configs,
    })
    .to_string()
}

fn bucket_from(settings: &str) -> Result<Bucket, String> {
    let s: Value =
        serde_json::from_str(settings).map_err(|e| format!("aws.sqlite: a bucket: {e}"))?;
    Ok(Bucket {
        created: UtcMillis(s["created"].as_i64().unwrap_or(0)),
        region: string(&s["region"]),
        versioning: s["versioning"].as_str().map(str::to_owned),
        object_lock: s["objectLock"].as_bool().unwrap_or(false),
        default_retention: s["defaultRetention"]
            .as_array()
            .and_then(|r| Some((r.first()?.as_str()?.to_owned(), r.get(1)?.as_i64()?))),
        configs: s["configs"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), string(v))).collect())
            .unwrap_or_default(),
        ..Bucket::default()
    })
}

fn trail_json(t: &Trail) -> Value {
    let d = &t.delivery;
    json!({
        "name": t.name, "region": t.region, "bucket": t.bucket, "prefix": t.prefix,
        "validation": t.validation, "globalEvents": t.global_events,
        "multiRegion": t.multi_region, "logging": t.logging,
        "startLogging": t.start_logging.map(|m| m.0), "stopLogging": t.stop_logging.map(|m| m.0),
        "eventSelectors": t.event_selectors,
        "delivery": {
            "cursor": d.cursor, "nextLog": d.next_log.map(|m| m.0), "flush": d.flush,
            "latestDelivery": d.latest_delivery.map(|m| m.0),
            "latestDigest": d.latest_digest.map(|m| m.0),
            "latestError": d.latest_error, "files": d.files,
            "chains": d.chains.iter().map(|(r, c)| (r.clone(), json!({
                "start": c.start.0,
                "previous": c.previous.as_ref().map(|(b, k, h, s)| json!([b, k, h, s])),
                "logs": c.logs,
            }))).collect::<serde_json::Map<_, _>>(),
        },
    })
}

fn trail_from(v: &Value) -> Trail {
    let d = &v["delivery"];
    let chains = d["chains"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(r, c)| {
                    let previous = c["previous"].as_array().and_then(|p| {
                        Some((
                            p.first()?.as_str()?.to_owned(),
                            p.get(1)?.as_str()?.to_owned(),
                            p.get(2)?.as_str()?.to_owned(),
                            p.get(3)?.as_str()?.to_owned(),
                        ))
                    });
                    (
                        r.clone(),
                        Chain {
                            start: UtcMillis(c["start"].as_i64().unwrap_or(0)),
                            previous,
                            logs: c["logs"].as_array().cloned().unwrap_or_default(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Trail {
        name: string(&v["name"]),
        region: string(&v["region"]),
        bucket: string(&v["bucket"]),
        prefix: v["prefix"].as_str().map(str::to_owned),
        validation: v["validation"].as_bool().unwrap_or(false),
        global_events: v["globalEvents"].as_bool().unwrap_or(true),
        multi_region: v["multiRegion"].as_bool().unwrap_or(false),
        logging: v["logging"].as_bool().unwrap_or(false),
        start_logging: opt_ms(&v["startLogging"]),
        stop_logging: opt_ms(&v["stopLogging"]),
        event_selectors: v["eventSelectors"].clone(),
        delivery: Delivery {
            cursor: d["cursor"].as_u64().unwrap_or(0) as usize,
            next_log: opt_ms(&d["nextLog"]),
            chains,
            flush: d["flush"].as_bool().unwrap_or(false),
            latest_delivery: opt_ms(&d["latestDelivery"]),
            latest_digest: opt_ms(&d["latestDigest"]),
            latest_error: d["latestError"].as_str().map(str::to_owned),
            files: d["files"].as_u64().unwrap_or(0),
        },
    }
}

impl Persist {
    /// Opens (or creates) `<dir>/aws.sqlite`.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let conn = Connection::open(dir.join("aws.sqlite")).map_err(sql)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Self {
            conn: Mutex::new(conn),
            stored_buckets: Mutex::new(BTreeSet::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads back everything saved.
    pub fn load(&self) -> Result<(BTreeMap<String, Bucket>, State), String> {
        let conn = self.conn();
        let mut buckets = BTreeMap::new();
        let mut stmt = conn
            .prepare("SELECT name, settings FROM buckets")
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(sql)?;
        for row in rows {
            let (name, settings) = row.map_err(sql)?;
            buckets.insert(name, bucket_from(&settings)?);
        }
        *self
            .stored_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = buckets.keys().cloned().collect();
        let mut stmt = conn
            .prepare("SELECT bucket, key, meta, body FROM versions ORDER BY bucket, key, ord")
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(sql)?;
        for row in rows {
            let (bucket, key, meta, body) = row.map_err(sql)?;
            if let Some(b) = buckets.get_mut(&bucket) {
                b.objects
                    .entry(key)
                    .or_default()
                    .push(version_from(&meta, body)?);
            }
        }
        let mut state = State::default();
        let mut stmt = conn
            .prepare("SELECT at, region, json FROM records ORDER BY seq")
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(sql)?;
        for row in rows {
            let (at, region, text) = row.map_err(sql)?;
            state.records.push(Recorded {
                at: UtcMillis(at),
                region,
                value: serde_json::from_str(&text)
                    .map_err(|e| format!("aws.sqlite: a record: {e}"))?,
            });
        }
        state.persisted_records = state.records.len();
        let saved: Option<String> = conn
            .query_row(
                "SELECT json FROM cloudtrail WHERE name = 'state'",
                [],
                |r| r.get(0),
            )
            .ok();
        if let Some(text) = saved {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("aws.sqlite: the CloudTrail state: {e}"))?;
            for t in v["trails"].as_array().into_iter().flatten() {
                let t = trail_from(t);
                state.trails.insert(t.name.clone(), t);
            }
            state.retired = v["retired"]
                .as_array()
                .into_iter()
                .flatten()
                .map(trail_from)
                .collect();
            for k in v["keys"].as_array().into_iter().flatten() {
                use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
                let der = base64::engine::general_purpose::STANDARD
                    .decode(k["private"].as_str().unwrap_or_default())
                    .map_err(|e| format!("aws.sqlite: a signing key: {e}"))?;
                let private = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|e| format!("aws.sqlite: a signing key: {e}"))?;
                let public = private
                    .to_public_key()
                    .to_pkcs1_der()
                    .map_err(|e| format!("aws.sqlite: a signing key: {e}"))?
                    .as_bytes()
                    .to_vec();
                state.keys.push(SigningKey::new(
                    private,
                    public,
                    UtcMillis(k["validFrom"].as_i64().unwrap_or(0)),
                ));
            }
        }
        Ok((buckets, state))
    }

    /// Writes what changed, in one transaction. Records of calls that changed nothing else (reads)
    /// are written with the next change, when `all_records` is set (the once-a-second tick), or
    /// once [`DEFERRED_RECORDS`] wait: a crash may lose the last second of read events, never an
    /// acknowledged change, and a trail never delivers a record that was not saved first.
    pub fn save(
        &self,
        state: &mut State,
        buckets: &mut BTreeMap<String, Bucket>,
        all_records: bool,
    ) -> Result<(), String> {
        let mut stored = self
            .stored_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let removed: Vec<String> = stored
            .iter()
            .filter(|n| !buckets.contains_key(*n))
            .cloned()
            .collect();
        let changed = state.dirty
            || !removed.is_empty()
            || buckets
                .values()
                .any(|b| b.settings_dirty || !b.dirty.is_empty());
        let waiting = state.records.len() - state.persisted_records;
        let busy = changed || (waiting > 0 && all_records) || waiting >= DEFERRED_RECORDS;
        if !busy {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql)?;
        for name in &removed {
            tx.execute("DELETE FROM buckets WHERE name = ?1", [name])
                .map_err(sql)?;
            tx.execute("DELETE FROM versions WHERE bucket = ?1", [name])
                .map_err(sql)?;
        }
        for (name, b) in buckets.iter() {
            if b.settings_dirty {
                tx.execute(
                    "INSERT OR REPLACE INTO buckets (name, settings) VALUES (?1, ?2)",
                    params![name, bucket_settings(b)],
                )
                .map_err(sql)?;
            }
            for key in &b.dirty {
                tx.execute(
                    "DELETE FROM versions WHERE bucket = ?1 AND key = ?2",
                    params![name, key],
                )
                .map_err(sql)?;
                for (ord, v) in b.objects.get(key).into_iter().flatten().enumerate() {
                    tx.execute(
                        "INSERT INTO versions (bucket, key, ord, meta, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![name, key, ord as i64, version_meta(v), v.body],
                    )
                    .map_err(sql)?;
                }
            }
        }
        for (seq, r) in state
            .records
            .iter()
            .enumerate()
            .skip(state.persisted_records)
        {
            tx.execute(
                "INSERT INTO records (seq, at, region, json) VALUES (?1, ?2, ?3, ?4)",
                params![seq as i64, r.at.0, r.region, r.value.to_string()],
            )
            .map_err(sql)?;
        }
        if state.dirty {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            let mut keys = Vec::new();
            for k in &state.keys {
                let der = k
                    .private
                    .to_pkcs1_der()
                    .map_err(|e| format!("a signing key: {e}"))?;
                keys.push(json!({
                    "private": base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
                    "validFrom": k.valid_from.0,
                }));
            }
            let v = json!({
                "trails": state.trails.values().map(trail_json).collect::<Vec<_>>(),
                "retired": state.retired.iter().map(trail_json).collect::<Vec<_>>(),
                "keys": keys,
            });
            tx.execute(
                "INSERT OR REPLACE INTO cloudtrail (name, json) VALUES ('state', ?1)",
                [v.to_string()],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        state.dirty = false;
        state.persisted_records = state.records.len();
        for b in buckets.values_mut() {
            b.settings_dirty = false;
            b.dirty.clear();
        }
        *stored = buckets.keys().cloned().collect();
        Ok(())
    }
}
