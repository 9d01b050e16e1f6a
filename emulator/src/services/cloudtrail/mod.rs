//! CloudTrail (awsJson1_1, `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>`,
//! `../shared/specs/cloudtrail.md` §4): trails, logging state, event selectors, tags, public
//! keys, and LookupEvents over the record of every call the emulator serves.
//!
//! - [`model`]: trails and their delivery state; [`trails`]: their handlers;
//! - [`records`]: the record store (`ct_records`), [`lookup`]: LookupEvents over it;
//! - [`delivery`]: log files and signed hourly digests into S3, on the emulator's clock;
//! - [`selectors`]: which records a trail takes; [`signing`]: digest-signing keys (key store);
//! - [`error`]: one variant per CloudTrail error code.
//!
//! CloudTrail reaches S3 only through S3's narrow API (bucket policy, deliver an object).

pub mod delivery;
pub mod error;
pub mod lookup;
pub mod model;
pub mod records;
pub mod selectors;
pub mod signing;
pub mod trails;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use rusqlite::OptionalExtension as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use veritrail_core::time::UtcMillis;

pub use error::CloudTrailError;
use model::{Chain, Delivery, PreviousDigest, Selectors, Trail};
use records::Records;
use signing::SigningKeys;

use crate::EmulatorError;
use crate::env::Env;
use crate::keys::KeyStore;
use crate::ops::CloudTrailOp;
use crate::services::s3::S3;
use crate::services::saved;
use crate::store::{Store, StoreError, Write};
use crate::wire::AwsRequest;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ct_state (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
";

/// Trails, trails deleted while their final files are due, and the signing keys.
#[derive(Debug)]
pub struct State {
    pub trails: BTreeMap<String, Trail>,
    pub retired: Vec<Trail>,
    pub keys: SigningKeys,
}

/// What `ct_state` holds.
#[derive(Serialize, Deserialize)]
struct Saved {
    trails: Vec<Trail>,
    retired: Vec<Trail>,
}

/// What a handler works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub req: &'a AwsRequest,
    pub now: UtcMillis,
    /// The sequence number the next record will get (this call's own record).
    pub next_record: i64,
}

/// The CloudTrail service of one emulator.
#[derive(Debug)]
pub struct CloudTrail {
    state: Mutex<State>,
    pub records: Records,
    log_interval: i64,
}

impl CloudTrail {
    /// Loads trails from `aws.sqlite` and keys from the key store (migrating an older data
    /// directory's keys out of `aws.sqlite`).
    pub fn open(store: &Store, keys: &KeyStore, log_interval: i64) -> Result<Self, EmulatorError> {
        let mut signing = SigningKeys::open(keys).map_err(EmulatorError::state("CloudTrail"))?;
        {
            let w = store.write()?;
            w.conn()
                .execute_batch(&format!("{SCHEMA}{}", records::SCHEMA))?;
            records::migrate_v0(&w)?;
            migrate_v0(&w, &mut signing).map_err(EmulatorError::state("CloudTrail"))?;
            w.commit()?;
        }
        let saved: Option<String> = store.read(|c| {
            c.query_row("SELECT json FROM ct_state WHERE id = 1", [], |r| r.get(0))
                .optional()
        })?;
        let saved = match saved {
            Some(text) => load(&text)?,
            None => Saved {
                trails: Vec::new(),
                retired: Vec::new(),
            },
        };
        Ok(Self {
            state: Mutex::new(State {
                trails: saved
                    .trails
                    .into_iter()
                    .map(|t| (t.name.clone(), t))
                    .collect(),
                retired: saved.retired,
                keys: signing,
            }),
            records: Records::open(store)?,
            log_interval,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(w: &Write<'_>, state: &State) -> Result<(), StoreError> {
        let saved = Saved {
            trails: state.trails.values().cloned().collect(),
            retired: state.retired.clone(),
        };
        let text = serde_json::to_string(&saved).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        w.conn()
            .prepare_cached(
                "INSERT INTO ct_state (id, json) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json",
            )?
            .execute([text])?;
        Ok(())
    }

    /// Handles one CloudTrail operation (`write` is set for every operation that changes
    /// something, and for LookupEvents, which reads the committed records).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: CloudTrailOp,
        env: &Env,
        write: Option<&Write<'_>>,
        s3: &S3,
    ) -> Result<Value, CloudTrailError> {
        let ctx = Ctx {
            req,
            now: env.now(),
            next_record: self.records.next_seq(),
        };
        let mut state = self.state();
        use CloudTrailOp::*;
        let result = match op {
            GetTrail => return trails::get_trail(&ctx, &state),
            DescribeTrails => return trails::describe_trails(&ctx, &state),
            ListTrails => return trails::list_trails(&state),
            GetTrailStatus => return trails::get_trail_status(&ctx, &state),
            GetEventSelectors => return trails::get_event_selectors(&ctx, &state),
            ListTags => return trails::list_tags(&ctx, &mut state),
            ListPublicKeys => return trails::list_public_keys(&ctx, &mut state),
            LookupEvents => {
                let w = write.ok_or_else(|| {
                    CloudTrailError::Store(StoreError::Sqlite(
                        "LookupEvents needs a store write".into(),
                    ))
                })?;
                self.records.flush(w)?;
                return lookup::lookup_events(&ctx, w.conn());
            }
            CreateTrail => trails::create_trail(&ctx, &mut state, s3),
            UpdateTrail => trails::update_trail(&ctx, &mut state, s3),
            DeleteTrail => trails::delete_trail(&ctx, &mut state),
            StartLogging => trails::start_logging(&ctx, &mut state, s3),
            StopLogging => trails::stop_logging(&ctx, &mut state),
            PutEventSelectors => trails::put_event_selectors(&ctx, &mut state),
            AddTags => trails::add_tags(&ctx, &mut state),
            RemoveTags => trails::remove_tags(&ctx, &mut state),
            other => Err(CloudTrailError::InvalidParameter(format!(
                "veritrail does not emulate the cloudtrail operation {other}"
            ))),
        }?;
        let w = write.ok_or_else(|| {
            CloudTrailError::Store(StoreError::Sqlite("a change outside a store write".into()))
        })?;
        Self::save(w, &state)?;
        Ok(result)
    }

    /// Delivers everything due at `now` (the final files of stopped and deleted trails
    /// included), inside `w`: the waiting records are committed first, so a trail never
    /// delivers a record that was not saved. Returns the earliest time more files fall due.
    pub fn deliver(
        &self,
        w: &Write<'_>,
        env: &Env,
        s3: &S3,
        now: UtcMillis,
    ) -> Result<Option<UtcMillis>, StoreError> {
        self.records.flush(w)?;
        let mut state = self.state();
        let State {
            trails,
            retired,
            keys,
        } = &mut *state;
        let mut tick = delivery::Tick {
            w,
            env,
            s3,
            keys,
            interval: self.log_interval,
            next_record: self.records.next_seq(),
        };
        let mut changed = false;
        for trail in trails.values_mut().chain(retired.iter_mut()) {
            changed |= delivery::catch_up(trail, &mut tick, now)?;
        }
        let retiring = retired.len();
        retired.retain(|t| t.delivery.flush);
        if changed || retired.len() != retiring {
            Self::save(w, &state)?;
        }
        Ok(state
            .trails
            .values()
            .filter(|t| t.logging)
            .filter_map(|t| {
                let digest = t
                    .delivery
                    .chains
                    .values()
                    .map(|c| UtcMillis(c.start.0.saturating_add(3_600_000)))
                    .min();
                match (t.delivery.next_log, digest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min())
    }

    /// Whether a stopped or deleted trail still has final files to deliver.
    pub fn flush_due(&self) -> bool {
        let state = self.state();
        state.retired.iter().any(|t| t.delivery.flush)
            || state.trails.values().any(|t| t.delivery.flush)
    }
}

/// What names the saved state in errors.
const STATE_ROW: &str = "the CloudTrail state (ct_state row 1)";

/// Reads the saved state back, refusing a damaged row: JSON that does not parse, a member
/// missing, a trail no call could have made, or two trails of one name.
fn load(text: &str) -> Result<Saved, StoreError> {
    let saved: Saved = saved::parse_row(STATE_ROW, text)?;
    let mut names = std::collections::BTreeSet::new();
    for t in &saved.trails {
        t.check()
            .map_err(|e| StoreError::Corrupt(format!("{STATE_ROW}: {e}")))?;
        if !names.insert(t.name.as_str()) {
            return Err(StoreError::Corrupt(format!(
                "{STATE_ROW}: trail {:?} is there twice",
                t.name
            )));
        }
    }
    for t in &saved.retired {
        t.check()
            .map_err(|e| StoreError::Corrupt(format!("{STATE_ROW}: a deleted {e}")))?;
    }
    Ok(saved)
}

/// Moves the CloudTrail state of the format before service folders (`cloudtrail`: trails and
/// signing keys as one JSON value) into `ct_state` and the key store.
fn migrate_v0(w: &Write<'_>, keys: &mut SigningKeys) -> Result<(), String> {
    let conn = w.conn();
    let exists: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cloudtrail'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )
        .map_err(|e| e.to_string())?;
    if !exists {
        return Ok(());
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT json FROM cloudtrail WHERE name = 'state'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    if let Some(text) = text {
        use base64::Engine as _;
        let bad = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!(
                "the CloudTrail state of format 0 (cloudtrail row 'state'): {e}"
            ))
            .to_string()
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
        let old = Old {
            v: &v,
            at: String::new(),
        };
        for k in old.list("keys").map_err(|e| bad(&e))? {
            let private = k.get("private", Value::as_str).map_err(|e| bad(&e))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(private)
                .map_err(|e| bad(&format!("{}.private: {e}", k.at)))?;
            let from = k.get("validFrom", Value::as_i64).map_err(|e| bad(&e))?;
            keys.import(&der, UtcMillis(from))?;
        }
        let trails = |key: &str| -> Result<Vec<Trail>, String> {
            old.list(key)?.iter().map(old_trail).collect()
        };
        let state_text = serde_json::to_string(&Saved {
            trails: trails("trails").map_err(|e| bad(&e))?,
            retired: trails("retired").map_err(|e| bad(&e))?,
        })
        .map_err(|e| bad(&e))?;
        conn.execute(
            "INSERT OR REPLACE INTO ct_state (id, json) VALUES (1, ?1)",
            [state_text],
        )
        .map_err(|e| bad(&e))?;
    }
    conn.execute_batch("DROP TABLE cloudtrail")
        .map_err(|e| e.to_string())
}

/// A value of the format before service folders, read strictly: a member that is missing or of
/// the wrong type is named by its path (`trails[0].delivery.cursor`).
struct Old<'a> {
    v: &'a Value,
    at: String,
}

impl<'a> Old<'a> {
    fn path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    fn member(&self, key: &str) -> Result<&'a Value, String> {
        self.v
            .get(key)
            .ok_or_else(|| format!("{} is missing", self.path(key)))
    }

    fn get<T>(&self, key: &str, read: impl Fn(&'a Value) -> Option<T>) -> Result<T, String> {
        read(self.member(key)?).ok_or_else(|| format!("{} has the wrong type", self.path(key)))
    }

    /// A member that may be `null`.
    fn nullable<T>(
        &self,
        key: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.member(key)? {
            Value::Null => Ok(None),
            v => read(v)
                .map(Some)
                .ok_or_else(|| format!("{} has the wrong type", self.path(key))),
        }
    }

    fn child(&self, key: &str) -> Result<Old<'a>, String> {
        Ok(Old {
            v: self.get(key, |v| v.is_object().then_some(v))?,
            at: self.path(key),
        })
    }

    fn list(&self, key: &str) -> Result<Vec<Old<'a>>, String> {
        let items = self.get(key, Value::as_array)?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| Old {
                v,
                at: format!("{}[{i}]", self.path(key)),
            })
            .collect())
    }
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn millis(v: &Value) -> Option<UtcMillis> {
    v.as_i64().map(UtcMillis)
}

/// A trail as the format before service folders stored it.
fn old_trail(v: &Old<'_>) -> Result<Trail, String> {
    let d = v.child("delivery")?;
    let chains_of = d.child("chains")?;
    let mut chains = BTreeMap::new();
    for region in chains_of.v.as_object().into_iter().flat_map(|o| o.keys()) {
        let c = chains_of.child(region)?;
        let previous = match c.nullable("previous", Value::as_array)? {
            None => None,
            Some(p) => {
                let part = |i: usize| {
                    p.get(i)
                        .and_then(string)
                        .ok_or_else(|| format!("{}.previous[{i}] is not a string", c.at))
                };
                Some(PreviousDigest {
                    bucket: part(0)?,
                    key: part(1)?,
                    hash: part(2)?,
                    signature: part(3)?,
                })
            }
        };
        chains.insert(
            region.clone(),
            Chain {
                start: c.get("start", millis)?,
                previous,
                logs: c.get("logs", Value::as_array)?.clone(),
            },
        );
    }
    let selectors = v.get("eventSelectors", |s| s.is_array().then_some(s))?;
    let advanced = selectors
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s.get("FieldSelectors").is_some()));
    let trail = Trail {
        name: v.get("name", string)?,
        region: v.get("region", string)?,
        bucket: v.get("bucket", string)?,
        prefix: v.nullable("prefix", string)?,
        sns_topic: None,
        validation: v.get("validation", Value::as_bool)?,
        global_events: v.get("globalEvents", Value::as_bool)?,
        multi_region: v.get("multiRegion", Value::as_bool)?,
        kms_key_id: None,
        log_group_arn: None,
        log_role_arn: None,
        logging: v.get("logging", Value::as_bool)?,
        start_logging: v.nullable("startLogging", millis)?,
        stop_logging: v.nullable("stopLogging", millis)?,
        selectors: if advanced {
            Selectors::Advanced(selectors.clone())
        } else {
            Selectors::Basic(selectors.clone())
        },
        custom_selectors: false,
        tags: BTreeMap::new(),
        delivery: Delivery {
            cursor: d.get("cursor", Value::as_i64)?,
            next_log: d.nullable("nextLog", millis)?,
            chains,
            flush: d.get("flush", Value::as_bool)?,
            latest_delivery: d.nullable("latestDelivery", millis)?,
            latest_digest: d.nullable("latestDigest", millis)?,
            latest_delivery_error: d.nullable("latestError", string)?,
            latest_digest_error: None,
            files: d.get("files", Value::as_u64)?,
        },
    };
    trail.check().map_err(|e| format!("{}: {e}", v.at))?;
    Ok(trail)
}
