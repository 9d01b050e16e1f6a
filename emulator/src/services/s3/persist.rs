//! S3 in `aws.sqlite`: one row per bucket (its settings as JSON) and one row per object version
//! (its metadata as JSON, and the body). Each row carries an HMAC-SHA256 of what it stores,
//! keyed by a secret from the key store, and the metadata holds the body's SHA-256: a row
//! changed on disk fails at start-up, a body changed on disk is reported when read, never
//! served. Only metadata is loaded at start-up; bodies are read on demand.

use std::collections::BTreeMap;

use axum::body::Bytes;
use hmac::{KeyInit as _, Mac as _};
use rusqlite::{OptionalExtension as _, params};
use serde_json::Value;
use veritrail_core::Hash32;
use veritrail_core::time::UtcMillis;

use crate::services::s3::error::S3Error;
use crate::services::s3::model::{
    Bucket, DefaultRetention, Period, Retention, RetentionMode, Settings, Version, VersionId,
    Versioning,
};
use crate::store::{Store, StoreError, Write};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS s3_buckets (
    name TEXT PRIMARY KEY, settings TEXT NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS s3_versions (
    seq INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL,
    meta TEXT NOT NULL, mac BLOB NOT NULL, body BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS s3_versions_by_key ON s3_versions (bucket, key, version_id);
";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The MAC key of stored rows.
#[derive(Clone)]
pub struct Integrity([u8; 32]);

impl std::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Integrity(..)")
    }
}

impl Integrity {
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    fn mac(&self, kind: &str, bucket: &str, key: &str, text: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| {
            // HMAC takes keys of any length; a 32-byte key cannot be refused.
            unreachable!("HMAC-SHA256 accepts a 32-byte key")
        });
        for part in ["veritrail-s3-v1", kind, bucket, key, text] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn tag(&self, kind: &str, bucket: &str, key: &str, text: &str) -> Vec<u8> {
        self.mac(kind, bucket, key, text)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// Whether `tag` is the MAC of the row (compared in constant time).
    fn verify(&self, kind: &str, bucket: &str, key: &str, text: &str, tag: &[u8]) -> bool {
        self.mac(kind, bucket, key, text).verify_slice(tag).is_ok()
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Hash32::sha256(bytes).to_hex()
}

/// Reads every bucket and version's metadata; returns them and the next row sequence number.
pub fn load(
    store: &Store,
    integrity: &Integrity,
) -> Result<(BTreeMap<String, Bucket>, i64), StoreError> {
    store.read(|conn| {
        let mut buckets = BTreeMap::new();
        let mut stmt = conn.prepare("SELECT name, settings, mac FROM s3_buckets")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out: Result<(), StoreError> = Ok(());
        for row in rows {
            let (name, text, tag) = row?;
            if out.is_err() {
                break;
            }
            out = (|| {
                if !integrity.verify("bucket", &name, "", &text, &tag) {
                    return Err(corrupt(format!(
                        "the settings of bucket {name} fail their integrity check (changed on disk)"
                    )));
                }
                let settings: Settings = serde_json::from_str(&text)
                    .map_err(|e| corrupt(format!("the settings of bucket {name}: {e}")))?;
                buckets.insert(
                    name,
                    Bucket {
                        settings,
                        objects: BTreeMap::new(),
                    },
                );
                Ok(())
            })();
        }
        let mut next_seq = 1;
        let mut stmt =
            conn.prepare("SELECT seq, bucket, key, meta, mac FROM s3_versions ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        for row in rows {
            let (seq, bucket, key, meta, tag) = row?;
            if out.is_err() {
                break;
            }
            next_seq = seq + 1;
            out = (|| {
                if !integrity.verify("version", &bucket, &key, &meta, &tag) {
                    return Err(corrupt(format!(
                        "a version of {bucket}/{key} fails its integrity check (changed on disk)"
                    )));
                }
                let version: Version = serde_json::from_str(&meta)
                    .map_err(|e| corrupt(format!("a version of {bucket}/{key}: {e}")))?;
                let b = buckets.get_mut(&bucket).ok_or_else(|| {
                    corrupt(format!(
                        "a version of {bucket}/{key} names no stored bucket"
                    ))
                })?;
                b.objects.entry(key).or_default().push(version);
                Ok(())
            })();
        }
        Ok(out.map(|()| (buckets, next_seq)))
    })?
}

/// Saves a bucket's settings.
pub fn save_settings(
    w: &Write<'_>,
    integrity: &Integrity,
    name: &str,
    settings: &Settings,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(settings).map_err(|e| StoreError::Sqlite(e.to_string()))?;
    let tag = integrity.tag("bucket", name, "", &text);
    w.conn()
        .prepare_cached(
            "INSERT INTO s3_buckets (name, settings, mac) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET settings = excluded.settings, mac = excluded.mac",
        )?
        .execute(params![name, text, tag])?;
    Ok(())
}

/// Removes a bucket (it has no versions left).
pub fn delete_bucket(w: &Write<'_>, name: &str) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached("DELETE FROM s3_buckets WHERE name = ?1")?
        .execute([name])?;
    Ok(())
}

/// Stores a new version with its body.
pub fn insert_version(
    w: &Write<'_>,
    integrity: &Integrity,
    seq: i64,
    bucket: &str,
    key: &str,
    version: &Version,
    body: &[u8],
) -> Result<(), StoreError> {
    let meta = serde_json::to_string(version).map_err(|e| StoreError::Sqlite(e.to_string()))?;
    let tag = integrity.tag("version", bucket, key, &meta);
    w.conn()
        .prepare_cached(
            "INSERT INTO s3_versions (seq, bucket, key, version_id, meta, mac, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            seq,
            bucket,
            key,
            version.id.as_str(),
            meta,
            tag,
            body
        ])?;
    Ok(())
}

/// Rewrites a version's metadata (retention, legal hold).
pub fn update_version(
    w: &Write<'_>,
    integrity: &Integrity,
    bucket: &str,
    key: &str,
    version: &Version,
) -> Result<(), StoreError> {
    let meta = serde_json::to_string(version).map_err(|e| StoreError::Sqlite(e.to_string()))?;
    let tag = integrity.tag("version", bucket, key, &meta);
    w.conn()
        .prepare_cached(
            "UPDATE s3_versions SET meta = ?4, mac = ?5
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
        )?
        .execute(params![bucket, key, version.id.as_str(), meta, tag])?;
    Ok(())
}

/// Removes one version.
pub fn delete_version(
    w: &Write<'_>,
    bucket: &str,
    key: &str,
    id: &VersionId,
) -> Result<(), StoreError> {
    w.conn()
        .prepare_cached(
            "DELETE FROM s3_versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
        )?
        .execute(params![bucket, key, id.as_str()])?;
    Ok(())
}

/// Reads a version's body and checks it against the SHA-256 its metadata holds.
pub fn read_body(
    store: &Store,
    bucket: &str,
    key: &str,
    version: &Version,
) -> Result<Bytes, S3Error> {
    let body: Option<Vec<u8>> = store.read(|conn| {
        conn.prepare_cached(
            "SELECT body FROM s3_versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
        )?
        .query_row(params![bucket, key, version.id.as_str()], |r| r.get(0))
        .optional()
    })?;
    let damaged = || S3Error::StoredObjectDamaged {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    let body = body.ok_or_else(damaged)?;
    let stored = Hash32::from_hex(&version.sha256).map_err(|_| damaged())?;
    if !stored.ct_eq(&Hash32::sha256(&body)) {
        return Err(damaged());
    }
    Ok(Bytes::from(body))
}

/// Moves S3 state from the format before service folders (`buckets`, `versions`: JSON without
/// integrity tags) into the current tables, tagging each row, and drops the old tables.
pub fn migrate_v0(w: &Write<'_>, integrity: &Integrity) -> Result<(), StoreError> {
    let conn = w.conn();
    let exists: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'versions'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !exists {
        return Ok(());
    }
    let bad = |what: &str, e: &dyn std::fmt::Display| corrupt(format!("migrating {what}: {e}"));
    let buckets: Vec<(String, String)> = conn
        .prepare("SELECT name, settings FROM buckets")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, text) in buckets {
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&name, &e))?;
        let mode = |m: &Value| {
            m.as_str()
                .and_then(RetentionMode::parse)
                .ok_or_else(|| bad(&name, &"a retention mode"))
        };
        let default_retention = match v["defaultRetention"].as_array() {
            Some(r) => Some(DefaultRetention {
                mode: mode(&r[0])?,
                period: Period::Days(
                    r.get(1)
                        .and_then(Value::as_u64)
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| bad(&name, &"a retention period"))?,
                ),
            }),
            None => None,
        };
        let config = |k: &str| v["configs"][k].as_str().map(str::to_owned);
        let settings = Settings {
            created: UtcMillis(
                v["created"]
                    .as_i64()
                    .ok_or_else(|| bad(&name, &"created"))?,
            ),
            region: v["region"].as_str().unwrap_or("us-east-1").to_owned(),
            versioning: match v["versioning"].as_str() {
                Some("Enabled") => Versioning::Enabled,
                Some("Suspended") => Versioning::Suspended,
                _ => Versioning::Unversioned,
            },
            object_lock: v["objectLock"].as_bool().unwrap_or(false),
            default_retention,
            policy: None,
            lifecycle: None,
            encryption: config("encryption"),
            public_access_block: config("publicAccessBlock"),
            tags: None,
        };
        save_settings(w, integrity, &name, &settings)?;
    }
    let versions: Vec<(String, String, String, Vec<u8>)> = conn
        .prepare("SELECT bucket, key, meta, body FROM versions ORDER BY bucket, key, ord")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (seq, (bucket, key, meta, body)) in versions.into_iter().enumerate() {
        let m: Value = serde_json::from_str(&meta).map_err(|e| bad(&key, &e))?;
        let retention = match m["retention"].as_array() {
            Some(r) => Some(Retention {
                mode: r
                    .first()
                    .and_then(Value::as_str)
                    .and_then(RetentionMode::parse)
                    .ok_or_else(|| bad(&key, &"a retention mode"))?,
                until: UtcMillis(
                    r.get(1)
                        .and_then(Value::as_i64)
                        .ok_or_else(|| bad(&key, &"a retention date"))?,
                ),
            }),
            None => None,
        };
        let version = Version {
            id: VersionId(m["id"].as_str().ok_or_else(|| bad(&key, &"id"))?.to_owned()),
            delete_marker: m["deleteMarker"].as_bool().unwrap_or(false),
            size: body.len() as u64,
            etag: m["etag"].as_str().unwrap_or_default().to_owned(),
            sha256: sha256_hex(&body),
            content_type: m["contentType"].as_str().map(str::to_owned),
            metadata: crate::wire::json::string_map(&m["metadata"]),
            modified: UtcMillis(
                m["modified"]
                    .as_i64()
                    .ok_or_else(|| bad(&key, &"modified"))?,
            ),
            retention,
            legal_hold: m["legalHold"].as_bool().unwrap_or(false),
            checksum: None,
            sse_kms: None,
        };
        insert_version(w, integrity, seq as i64 + 1, &bucket, &key, &version, &body)?;
    }
    conn.execute_batch("DROP TABLE versions; DROP TABLE buckets;")?;
    Ok(())
}
