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

use crate::env::Env;
use crate::keys::KeyStore;
use crate::ops::CloudTrailOp;
use crate::services::s3::S3;
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
    pub fn open(store: &Store, keys: &KeyStore, log_interval: i64) -> Result<Self, String> {
        let mut signing = SigningKeys::open(keys)?;
        {
            let w = store.write().map_err(|e| e.to_string())?;
            w.conn()
                .execute_batch(&format!("{SCHEMA}{}", records::SCHEMA))
                .map_err(|e| e.to_string())?;
            records::migrate_v0(&w).map_err(|e| e.to_string())?;
            migrate_v0(&w, &mut signing)?;
            w.commit().map_err(|e| e.to_string())?;
        }
        let saved: Option<String> = store
            .read(|c| {
                c.query_row("SELECT json FROM ct_state WHERE id = 1", [], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| e.to_string())?;
        let saved: Saved = match saved {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                StoreError::Corrupt(format!("the CloudTrail state: {e}")).to_string()
            })?,
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
            records: Records::open(store).map_err(|e| e.to_string())?,
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
        let bad = |e: &dyn std::fmt::Display| format!("aws.sqlite: migrating CloudTrail: {e}");
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
        for k in v["keys"].as_array().into_iter().flatten() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k["private"].as_str().unwrap_or_default())
                .map_err(|e| bad(&e))?;
            keys.import(&der, UtcMillis(k["validFrom"].as_i64().unwrap_or(0)))?;
        }
        let trails = |key: &str| -> Vec<Trail> {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(old_trail)
                .collect()
        };
        let state_text = serde_json::to_string(&Saved {
            trails: trails("trails"),
            retired: trails("retired"),
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

/// A trail as the format before service folders stored it.
fn old_trail(v: &Value) -> Trail {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let ms = |x: &Value| x.as_i64().map(UtcMillis);
    let d = &v["delivery"];
    let chains = d["chains"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(r, c)| {
                    let previous = c["previous"].as_array().and_then(|p| {
                        Some(PreviousDigest {
                            bucket: p.first()?.as_str()?.to_owned(),
                            key: p.get(1)?.as_str()?.to_owned(),
                            hash: p.get(2)?.as_str()?.to_owned(),
                            signature: p.get(3)?.as_str()?.to_owned(),
                        })
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
    let selectors = &v["eventSelectors"];
    let advanced = selectors
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s.get("FieldSelectors").is_some()));
    Trail {
        name: s("name"),
        region: s("region"),
        bucket: s("bucket"),
        prefix: v["prefix"].as_str().map(str::to_owned),
        sns_topic: None,
        validation: v["validation"].as_bool().unwrap_or(false),
        global_events: v["globalEvents"].as_bool().unwrap_or(true),
        multi_region: v["multiRegion"].as_bool().unwrap_or(false),
        kms_key_id: None,
        log_group_arn: None,
        log_role_arn: None,
        logging: v["logging"].as_bool().unwrap_or(false),
        start_logging: ms(&v["startLogging"]),
        stop_logging: ms(&v["stopLogging"]),
        selectors: if advanced {
            Selectors::Advanced(selectors.clone())
        } else if selectors.is_array() {
            Selectors::Basic(selectors.clone())
        } else {
            Selectors::default_basic()
        },
        custom_selectors: false,
        tags: BTreeMap::new(),
        delivery: Delivery {
            cursor: d["cursor"].as_i64().unwrap_or(0),
            next_log: ms(&d["nextLog"]),
            chains,
            flush: d["flush"].as_bool().unwrap_or(false),
            latest_delivery: ms(&d["latestDelivery"]),
            latest_digest: ms(&d["latestDigest"]),
            latest_delivery_error: d["latestError"].as_str().map(str::to_owned),
            latest_digest_error: None,
            files: d["files"].as_u64().unwrap_or(0),
        },
    }
}
