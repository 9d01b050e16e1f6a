//! QLDB's control plane, `qldb` 2019-01-02, rest-json (`../shared/specs/qldb.md` §4): ledgers
//! with their states, deletion protection, permissions mode and tags, and GetDigest, GetBlock
//! and GetRevision over the veritrail ledger. Handlers are named after the AWS operations.
//!
//! Each ledger is a veritrail [`Database`] in `<data-dir>/ledgers/<name>.ledger`, or schema
//! `veritrail_<name>` of a PostgreSQL database when the emulator stores its ledgers there
//! ([`crate::Config::storage`]); its control-plane settings are a row of `qldb_ledgers` in
//! `aws.sqlite`. The session API reaches
//! a ledger through [`Qldb::database`].

pub mod error;
pub mod exports;
pub mod streams;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::ion_input::{IonLimits, read_one};
use veritrail_core::ion_rs::Element;
use veritrail_core::time::{Clock, UtcMillis};
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::journal::{is_valid_ledger_name, proof_ion_text};
use veritrail_ledger::{Ledger, LedgerError, LedgerOptions, StorageChoice, StorageError};

pub use error::QldbError;

use crate::ACCOUNT_ID;
use crate::EmulatorError;
use crate::env::Env;
use crate::ops::QldbOp;
use crate::services::saved;
use crate::store::{Store, StoreError, Write};
use crate::wire::json::{epoch_seconds, str_member};
use crate::wire::{AwsRequest, Resource};

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS qldb_ledgers (name TEXT PRIMARY KEY, settings TEXT NOT NULL);";

/// A ledger's permissions mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionsMode {
    #[serde(rename = "ALLOW_ALL")]
    AllowAll,
    #[serde(rename = "STANDARD")]
    Standard,
}

impl PermissionsMode {
    fn parse(v: &Value) -> Option<Self> {
        match v.as_str()? {
            "ALLOW_ALL" => Some(Self::AllowAll),
            "STANDARD" => Some(Self::Standard),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::AllowAll => "ALLOW_ALL",
            Self::Standard => "STANDARD",
        }
    }
}

/// Control-plane settings of a ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub permissions_mode: PermissionsMode,
    pub deletion_protection: bool,
    #[serde(with = "crate::services::saved::present")]
    pub kms_key: Option<String>,
    pub tags: BTreeMap<String, String>,
    #[serde(with = "crate::wire::time::millis")]
    pub created: UtcMillis,
    pub region: String,
}

/// One ledger as the control plane knows it.
#[derive(Debug)]
pub struct LedgerEntry {
    pub name: String,
    pub arn: String,
    pub db: Database,
    pub settings: Settings,
    /// CreateLedger answers CREATING; the ledger is ACTIVE from the next call on.
    pub described: bool,
}

/// QLDB's control plane in one emulator.
#[derive(Debug)]
pub struct Qldb {
    dir: PathBuf,
    /// Where the journals are.
    storage: StorageChoice,
    transaction_timeout: Duration,
    clock: Arc<dyn Clock>,
    ledgers: Mutex<BTreeMap<String, LedgerEntry>>,
    /// Journal streams to Kinesis, by stream id.
    journal_streams: Mutex<BTreeMap<String, streams::JournalStream>>,
    /// Journal exports to S3, by export id.
    journal_exports: Mutex<BTreeMap<String, exports::JournalExport>>,
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:qldb:{region}:{ACCOUNT_ID}:ledger/{name}")
}

impl Qldb {
    /// Opens the ledgers of `<data-dir>/ledgers` whose settings `aws.sqlite` holds (settings an
    /// older data directory kept as `<name>.json` are moved into it).
    pub fn open(
        store: &Store,
        data_dir: &Path,
        storage: StorageChoice,
        transaction_timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EmulatorError> {
        let dir = data_dir.join("ledgers");
        std::fs::create_dir_all(&dir).map_err(|error| EmulatorError::Dir {
            path: dir.clone(),
            error,
        })?;
        let qldb = Self {
            dir,
            storage,
            transaction_timeout,
            clock,
            ledgers: Mutex::new(BTreeMap::new()),
            journal_streams: Mutex::new(BTreeMap::new()),
            journal_exports: Mutex::new(BTreeMap::new()),
        };
        {
            let w = store.write()?;
            w.conn().execute_batch(SCHEMA)?;
            w.conn().execute_batch(&streams::STREAMS.schema())?;
            let loaded = streams::STREAMS.load(
                w.conn(),
                |s: &streams::JournalStream| s.id.clone(),
                streams::JournalStream::check,
            )?;
            *qldb.streams() = loaded.into_iter().map(|s| (s.id.clone(), s)).collect();
            w.conn().execute_batch(&exports::EXPORTS.schema())?;
            let loaded = exports::EXPORTS.load(
                w.conn(),
                |e: &exports::JournalExport| e.id.clone(),
                exports::JournalExport::check,
            )?;
            *qldb.exports() = loaded.into_iter().map(|e| (e.id.clone(), e)).collect();
            qldb.migrate_json_settings(&w)
                .map_err(EmulatorError::state("QLDB"))?;
            w.commit()?;
        }
        let rows: Vec<(String, String)> = store.read(|c| {
            c.prepare("SELECT name, settings FROM qldb_ledgers")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        let mut ledgers = qldb.ledgers();
        for (name, text) in rows {
            let row = format!("the settings of ledger {name} (qldb_ledgers row {name:?})");
            let settings: Settings = saved::parse_row(&row, &text)?;
            let damaged = if !is_valid_ledger_name(&name) {
                Some("the name is not a valid ledger name")
            } else if settings.region.is_empty() {
                Some("it has no region")
            } else {
                None
            };
            if let Some(why) = damaged {
                return Err(StoreError::Corrupt(format!("{row}: {why}")).into());
            }
            let journal = qldb.journal(&name);
            let opened = match qldb.storage.ledger_exists(&journal) {
                // Deleted while its settings row was being removed: the ledger is gone.
                Ok(false) => continue,
                Ok(true) => Ledger::open(&journal, qldb.ledger_options()),
                Err(e) => Err(LedgerError::Storage(e)),
            };
            let ledger = opened.map_err(|error| EmulatorError::Ledger {
                ledger: qldb.place(&name),
                error,
            })?;
            ledgers.insert(
                name.clone(),
                LedgerEntry {
                    arn: arn(&settings.region, &name),
                    db: qldb.database_of(ledger),
                    name,
                    settings,
                    described: true,
                },
            );
        }
        drop(ledgers);
        Ok(qldb)
    }

    fn ledgers(&self) -> MutexGuard<'_, BTreeMap<String, LedgerEntry>> {
        self.ledgers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn streams(&self) -> MutexGuard<'_, BTreeMap<String, streams::JournalStream>> {
        self.journal_streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn exports(&self) -> MutexGuard<'_, BTreeMap<String, exports::JournalExport>> {
        self.journal_exports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn journal(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.ledger"))
    }

    /// Where ledger `name`'s journal is, for messages.
    fn place(&self, name: &str) -> String {
        match self.storage {
            StorageChoice::Sqlite => self.journal(name).display().to_string(),
            _ => format!("ledger {name} in {}", self.storage.describe()),
        }
    }

    /// Whether the journals are in a database server, whose client blocks its thread on every
    /// call (the emulator then serves every QLDB request off its asynchronous workers).
    pub fn stores_remotely(&self) -> bool {
        self.storage != StorageChoice::Sqlite
    }

    fn ledger_options(&self) -> LedgerOptions {
        LedgerOptions {
            storage: self.storage.clone(),
            clock: Arc::clone(&self.clock),
            ids: Arc::new(veritrail_core::id::TimeOrderedIds::with_clock(Arc::clone(
                &self.clock,
            ))),
            ..LedgerOptions::default()
        }
    }

    fn database_of(&self, ledger: Ledger) -> Database {
        Database::new(
            ledger,
            DatabaseOptions {
                transaction_timeout: self.transaction_timeout,
                strict_limits: true,
            },
        )
    }

    /// The database of ledger `name` (for the session API).
    pub fn database(&self, name: &str) -> Option<Database> {
        self.ledgers().get(name).map(|e| e.db.clone())
    }

    fn save(w: &Write<'_>, entry: &LedgerEntry) -> Result<(), QldbError> {
        let text = serde_json::to_string(&entry.settings)
            .map_err(|e| QldbError::Internal(e.to_string()))?;
        w.conn()
            .prepare_cached(
                "INSERT INTO qldb_ledgers (name, settings) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET settings = excluded.settings",
            )
            .and_then(|mut s| s.execute([&entry.name, &text]))
            .map_err(|e| QldbError::from(StoreError::from(e)))?;
        Ok(())
    }

    fn migrate_json_settings(&self, w: &Write<'_>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a ledger settings file: {e}", path.display()))?;
            let bad = || format!("{}: not a ledger settings file", path.display());
            let settings = Settings {
                permissions_mode: PermissionsMode::parse(&v["permissionsMode"]).ok_or_else(bad)?,
                deletion_protection: v["deletionProtection"].as_bool().ok_or_else(bad)?,
                kms_key: v["kmsKey"].as_str().map(str::to_owned),
                tags: crate::wire::json::string_map(&v["tags"]),
                created: UtcMillis((v["created"].as_f64().ok_or_else(bad)? * 1000.0) as i64),
                region: v["region"].as_str().unwrap_or("us-east-1").to_owned(),
            };
            let text = serde_json::to_string(&settings).map_err(|e| e.to_string())?;
            w.conn()
                .execute(
                    "INSERT OR REPLACE INTO qldb_ledgers (name, settings) VALUES (?1, ?2)",
                    [&name, &text],
                )
                .map_err(|e| e.to_string())?;
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// ExportJournalToS3, which writes into S3 (refused without the bucket, when IAM does not
    /// know the role, or when KMS cannot use the key it asks to encrypt with).
    pub fn handle_export(
        &self,
        req: &AwsRequest,
        env: &Env,
        write: Option<&Write<'_>>,
        s3: &crate::services::s3::S3,
        iam: &crate::services::iam::Iam,
        kms: &crate::services::kms::Kms,
    ) -> Result<Value, QldbError> {
        let name = match &req.resource {
            Resource::Ledger { name, .. } => name.as_str(),
            _ => "",
        };
        let w =
            write.ok_or_else(|| QldbError::Internal("a change outside a store write".into()))?;
        self.export_journal_to_s3(name, req.json(), env, w, s3, iam, kms)
    }

    /// Handles one control-plane operation.
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: QldbOp,
        env: &Env,
        write: Option<&Write<'_>>,
        forget_sessions: &dyn Fn(&str),
    ) -> Result<Value, QldbError> {
        let body = req.json();
        let (name, arn_param, child) = match &req.resource {
            Resource::Ledger { name, child } => (name.as_str(), "", child.as_deref().unwrap_or("")),
            Resource::Arn(a) => ("", a.as_str(), ""),
            _ => ("", "", ""),
        };
        let w =
            || write.ok_or_else(|| QldbError::Internal("a change outside a store write".into()));
        match op {
            QldbOp::CreateLedger => self.create_ledger(body, &req.region, env, w()?),
            QldbOp::ListLedgers => self.list_ledgers(req),
            QldbOp::DescribeLedger => self.describe_ledger(name),
            QldbOp::UpdateLedger => self.update_ledger(name, body, w()?),
            QldbOp::UpdateLedgerPermissionsMode => {
                self.update_ledger_permissions_mode(name, body, w()?)
            }
            QldbOp::DeleteLedger => self.delete_ledger(name, w()?, forget_sessions),
            QldbOp::GetDigest => self.get_digest(name),
            QldbOp::GetBlock => self.get_block(name, body),
            QldbOp::GetRevision => self.get_revision(name, body),
            QldbOp::TagResource => self.tag_resource(arn_param, body, w()?),
            QldbOp::UntagResource => self.untag_resource(arn_param, req, w()?),
            QldbOp::ListTagsForResource => self.list_tags_for_resource(arn_param),
            QldbOp::StreamJournalToKinesis => self.stream_journal_to_kinesis(name, body, env, w()?),
            QldbOp::DescribeJournalKinesisStream => {
                self.describe_journal_kinesis_stream(name, child)
            }
            QldbOp::ListJournalKinesisStreamsForLedger => {
                self.list_journal_kinesis_streams_for_ledger(name)
            }
            QldbOp::CancelJournalKinesisStream => {
                self.cancel_journal_kinesis_stream(name, child, w()?)
            }
            QldbOp::DescribeJournalS3Export => self.describe_journal_s3_export(name, child),
            QldbOp::ListJournalS3Exports => self.list_journal_s3_exports(None),
            QldbOp::ListJournalS3ExportsForLedger => self.list_journal_s3_exports(Some(name)),
            other => Err(QldbError::invalid(
                "operation",
                format!("veritrail does not emulate the qldb operation {other}"),
            )),
        }
    }

    fn create_ledger(
        &self,
        body: &Value,
        region: &str,
        env: &Env,
        w: &Write<'_>,
    ) -> Result<Value, QldbError> {
        let name = str_member(body, "Name")
            .ok_or_else(|| QldbError::invalid("Name", "Name is required"))?;
        if !is_valid_ledger_name(name) {
            return Err(QldbError::invalid(
                "Name",
                format!(
                    "{name} is not a valid ledger name: 1 to 32 letters, digits and hyphens, not all digits, no leading, trailing or double hyphen"
                ),
            ));
        }
        let permissions = permissions_mode(body, true)?.unwrap_or(PermissionsMode::Standard);
        let deletion_protection = match body.get("DeletionProtection") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(QldbError::invalid(
                    "DeletionProtection",
                    "DeletionProtection must be a boolean",
                ));
            }
        };
        let tags = tags_of(body)?;
        let mut ledgers = self.ledgers();
        if ledgers.contains_key(name) {
            return Err(QldbError::LedgerAlreadyExists(name.to_owned()));
        }
        let journal = self.journal(name);
        match &self.storage {
            // A journal file left by a deleted ledger of the same name is gone with it.
            StorageChoice::Sqlite => self
                .storage
                .delete_ledger(&journal)
                .map_err(|e| QldbError::Internal(e.to_string()))?,
            // A database may be shared: a ledger there that this emulator does not know is
            // another's (or left by a CreateLedger interrupted before its settings were saved).
            shared => {
                if shared.ledger_exists(&journal).map_err(storage_error)? {
                    return Err(QldbError::LedgerInDatabase {
                        name: name.to_owned(),
                        database: shared.describe(),
                    });
                }
            }
        }
        let ledger =
            Ledger::create(&journal, name, self.ledger_options()).map_err(|e| match e {
                LedgerError::Storage(StorageError::LedgerExists(_)) => {
                    QldbError::LedgerInDatabase {
                        name: name.to_owned(),
                        database: self.storage.describe(),
                    }
                }
                other => QldbError::Internal(other.to_string()),
            })?;
        let entry = LedgerEntry {
            name: name.to_owned(),
            arn: arn(region, name),
            db: self.database_of(ledger),
            settings: Settings {
                permissions_mode: permissions,
                deletion_protection,
                kms_key: str_member(body, "KmsKey")
                    .filter(|k| *k != "AWS_OWNED_KMS_KEY")
                    .map(str::to_owned),
                tags,
                created: env.now(),
                region: region.to_owned(),
            },
            described: false,
        };
        Self::save(w, &entry)?;
        let mut response = describe(&entry, true);
        if let Some(o) = response.as_object_mut() {
            o.remove("EncryptionDescription");
            o.insert("KmsKeyArn".into(), json!(kms_arn(&entry)));
        }
        ledgers.insert(name.to_owned(), entry);
        Ok(response)
    }

    fn describe_ledger(&self, name: &str) -> Result<Value, QldbError> {
        let mut ledgers = self.ledgers();
        let entry = ledgers
            .get_mut(name)
            .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))?;
        let response = describe(entry, true);
        entry.described = true;
        Ok(response)
    }

    fn list_ledgers(&self, req: &AwsRequest) -> Result<Value, QldbError> {
        let max = match req.query.get("max_results") {
            None => 100,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| QldbError::invalid("MaxResults", "MaxResults must be 1 to 100"))?,
        };
        let start = req.query.get("next_token");
        let ledgers = self.ledgers();
        let names: Vec<&LedgerEntry> = ledgers
            .values()
            .filter(|e| start.is_none_or(|s| e.name.as_str() > s))
            .collect();
        let page: Vec<Value> = names
            .iter()
            .take(max)
            .map(|e| {
                json!({"Name": e.name, "State": state(e), "CreationDateTime": epoch_seconds(e.settings.created)})
            })
            .collect();
        let mut body = json!({"Ledgers": page});
        if names.len() > max {
            if let Some(last) = names.get(max - 1) {
                body["NextToken"] = json!(last.name);
            }
        }
        Ok(body)
    }

    fn update_ledger(&self, name: &str, body: &Value, w: &Write<'_>) -> Result<Value, QldbError> {
        let mut ledgers = self.ledgers();
        let entry = ledgers
            .get_mut(name)
            .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))?;
        let mut settings = entry.settings.clone();
        match body.get("DeletionProtection") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => settings.deletion_protection = *b,
            Some(_) => {
                return Err(QldbError::invalid(
                    "DeletionProtection",
                    "DeletionProtection must be a boolean",
                ));
            }
        }
        if let Some(k) = str_member(body, "KmsKey") {
            settings.kms_key = (k != "AWS_OWNED_KMS_KEY").then(|| k.to_owned());
        }
        let before = std::mem::replace(&mut entry.settings, settings);
        if let Err(e) = Self::save(w, entry) {
            entry.settings = before;
            return Err(e);
        }
        entry.described = true;
        Ok(describe(entry, false))
    }

    fn update_ledger_permissions_mode(
        &self,
        name: &str,
        body: &Value,
        w: &Write<'_>,
    ) -> Result<Value, QldbError> {
        let mode = permissions_mode(body, true)?.unwrap_or(PermissionsMode::Standard);
        let mut ledgers = self.ledgers();
        let entry = ledgers
            .get_mut(name)
            .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))?;
        let before = entry.settings.permissions_mode;
        entry.settings.permissions_mode = mode;
        if let Err(e) = Self::save(w, entry) {
            entry.settings.permissions_mode = before;
            return Err(e);
        }
        Ok(json!({"Name": entry.name, "Arn": entry.arn, "PermissionsMode": mode.as_str()}))
    }

    /// DeleteLedger. `forget_sessions` ends the QLDB sessions on the ledger, which hold it
    /// open (called without the ledgers' lock held: sessions take it after their own).
    fn delete_ledger(
        &self,
        name: &str,
        w: &Write<'_>,
        forget_sessions: &dyn Fn(&str),
    ) -> Result<Value, QldbError> {
        let entry = {
            let mut ledgers = self.ledgers();
            let entry = ledgers
                .get(name)
                .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))?;
            if entry.settings.deletion_protection {
                return Err(QldbError::DeletionProtected(name.to_owned()));
            }
            w.conn()
                .execute("DELETE FROM qldb_ledgers WHERE name = ?1", [name])
                .map_err(|e| QldbError::from(StoreError::from(e)))?;
            ledgers
                .remove(name)
                .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))?
        };
        let LedgerEntry {
            db,
            settings,
            arn,
            described,
            ..
        } = entry;
        forget_sessions(name);
        // Closed before its journal goes (PostgreSQL refuses while the writer lease is held).
        drop(db);
        let journal = self.journal(name);
        if let Err(e) = self.storage.delete_ledger(&journal) {
            // Still there: served again as it was (the settings row stays, as this request
            // fails and its store write is not committed).
            let ledger = Ledger::open(&journal, self.ledger_options())
                .map_err(|e| QldbError::Internal(e.to_string()))?;
            self.ledgers().insert(
                name.to_owned(),
                LedgerEntry {
                    name: name.to_owned(),
                    arn,
                    db: self.database_of(ledger),
                    settings,
                    described,
                },
            );
            return Err(storage_error(e));
        }
        Ok(Value::Null)
    }

    fn db(&self, name: &str) -> Result<Database, QldbError> {
        self.database(name)
            .ok_or_else(|| QldbError::LedgerNotFound(name.to_owned()))
    }

    fn get_digest(&self, name: &str) -> Result<Value, QldbError> {
        let db = self.db(name)?;
        let digest = db.ledger().digest().map_err(|e| ledger_error("Name", e))?;
        Ok(
            json!({"Digest": digest.digest.to_base64(), "DigestTipAddress": {"IonText": digest.tip_ion_text()}}),
        )
    }

    fn get_block(&self, name: &str, body: &Value) -> Result<Value, QldbError> {
        let db = self.db(name)?;
        let ledger = db.ledger();
        let strand = ledger.strand_id().to_owned();
        let seq = address(body, "BlockAddress", &strand)?
            .ok_or_else(|| QldbError::invalid("BlockAddress", "BlockAddress is required"))?;
        let tip = address(body, "DigestTipAddress", &strand)?;
        let mut out = json!({});
        match tip {
            Some(t) => {
                let b = ledger
                    .block(seq, Some(t))
                    .map_err(|e| ledger_error("BlockAddress", e))?;
                out["Block"] = json!({"IonText": b.value.to_string()});
                out["Proof"] = json!({"IonText": proof_ion_text(&b.proof)});
            }
            None => {
                let b = ledger
                    .block_element(seq)
                    .map_err(|e| ledger_error("BlockAddress", e))?;
                out["Block"] = json!({"IonText": b.to_string()});
            }
        }
        Ok(out)
    }

    fn get_revision(&self, name: &str, body: &Value) -> Result<Value, QldbError> {
        let db = self.db(name)?;
        let ledger = db.ledger();
        let strand = ledger.strand_id().to_owned();
        let seq = address(body, "BlockAddress", &strand)?
            .ok_or_else(|| QldbError::invalid("BlockAddress", "BlockAddress is required"))?;
        let document_id = str_member(body, "DocumentId")
            .ok_or_else(|| QldbError::invalid("DocumentId", "DocumentId is required"))?;
        let tip = address(body, "DigestTipAddress", &strand)?;
        let r = ledger
            .revision(seq, document_id, tip)
            .map_err(|e| ledger_error("DocumentId", e))?;
        let mut out = json!({"Revision": {"IonText": r.value.to_string()}});
        if tip.is_some() {
            out["Proof"] = json!({"IonText": proof_ion_text(&r.proof)});
        }
        Ok(out)
    }

    fn by_arn<'a>(
        ledgers: &'a mut BTreeMap<String, LedgerEntry>,
        arn: &str,
    ) -> Result<&'a mut LedgerEntry, QldbError> {
        ledgers
            .values_mut()
            .find(|e| e.arn == arn)
            .ok_or_else(|| QldbError::ResourceNotFound(arn.to_owned()))
    }

    fn tag_resource(&self, arn: &str, body: &Value, w: &Write<'_>) -> Result<Value, QldbError> {
        let tags = tags_of(body)?;
        let mut ledgers = self.ledgers();
        let entry = Self::by_arn(&mut ledgers, arn)?;
        let mut merged = entry.settings.tags.clone();
        merged.extend(tags);
        if merged.len() > 50 {
            return Err(QldbError::invalid("Tags", "a resource has at most 50 tags"));
        }
        let before = std::mem::replace(&mut entry.settings.tags, merged);
        if let Err(e) = Self::save(w, entry) {
            entry.settings.tags = before;
            return Err(e);
        }
        Ok(json!({}))
    }

    fn untag_resource(
        &self,
        arn: &str,
        req: &AwsRequest,
        w: &Write<'_>,
    ) -> Result<Value, QldbError> {
        let mut ledgers = self.ledgers();
        let entry = Self::by_arn(&mut ledgers, arn)?;
        let before = entry.settings.tags.clone();
        for k in req.query.all("tagKeys") {
            entry.settings.tags.remove(k);
        }
        if let Err(e) = Self::save(w, entry) {
            entry.settings.tags = before;
            return Err(e);
        }
        Ok(json!({}))
    }

    fn list_tags_for_resource(&self, arn: &str) -> Result<Value, QldbError> {
        let mut ledgers = self.ledgers();
        let entry = Self::by_arn(&mut ledgers, arn)?;
        Ok(json!({"Tags": entry.settings.tags}))
    }
}

fn state(entry: &LedgerEntry) -> &'static str {
    if entry.described {
        "ACTIVE"
    } else {
        "CREATING"
    }
}

fn kms_arn(entry: &LedgerEntry) -> String {
    entry
        .settings
        .kms_key
        .clone()
        .unwrap_or_else(|| "AWS_OWNED_KMS_KEY".into())
}

fn describe(entry: &LedgerEntry, with_permissions: bool) -> Value {
    let mut v = json!({
        "Name": entry.name,
        "Arn": entry.arn,
        "State": state(entry),
        "CreationDateTime": epoch_seconds(entry.settings.created),
        "DeletionProtection": entry.settings.deletion_protection,
        "EncryptionDescription": {
            "KmsKeyArn": kms_arn(entry),
            "EncryptionStatus": "ENABLED",
        },
    });
    if with_permissions {
        v["PermissionsMode"] = json!(entry.settings.permissions_mode.as_str());
    }
    v
}

fn permissions_mode(body: &Value, required: bool) -> Result<Option<PermissionsMode>, QldbError> {
    match body.get("PermissionsMode") {
        None if required => Err(QldbError::invalid(
            "PermissionsMode",
            "PermissionsMode is required: ALLOW_ALL or STANDARD",
        )),
        None => Ok(None),
        Some(v) => PermissionsMode::parse(v).map(Some).ok_or_else(|| {
            QldbError::invalid(
                "PermissionsMode",
                format!("PermissionsMode must be ALLOW_ALL or STANDARD, not {v}"),
            )
        }),
    }
}

fn tags_of(body: &Value) -> Result<BTreeMap<String, String>, QldbError> {
    match body.get("Tags") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => {
            if m.len() > 50 {
                return Err(QldbError::invalid("Tags", "a resource has at most 50 tags"));
            }
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Null => Ok((k.clone(), String::new())),
                    _ => Err(QldbError::invalid(
                        "Tags",
                        format!("the value of tag {k} must be a string"),
                    )),
                })
                .collect()
        }
        Some(_) => Err(QldbError::invalid("Tags", "Tags must be a map of strings")),
    }
}

/// A storage failure: another process writing the ledger is a precondition the caller can
/// wait out; anything else is the server's.
fn storage_error(e: StorageError) -> QldbError {
    match e {
        StorageError::LeaseHeld(what) => QldbError::Precondition(format!(
            "ledger {what} is being written by another process; try again when it stops"
        )),
        other => QldbError::Internal(other.to_string()),
    }
}

fn ledger_error(parameter: &'static str, e: LedgerError) -> QldbError {
    match e {
        LedgerError::Storage(_) => QldbError::Internal(e.to_string()),
        other => QldbError::invalid(parameter, other.to_string()),
    }
}

/// Reads a `{"IonText": "{strandId:…,sequenceNo:N}"}` member (Ion read within QLDB's limits).
fn address(body: &Value, member: &'static str, strand: &str) -> Result<Option<u64>, QldbError> {
    let Some(holder) = body.get(member) else {
        return Ok(None);
    };
    let text = holder
        .get("IonText")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            QldbError::invalid(
                member,
                format!("{member} must be {{\"IonText\": \"{{strandId:…,sequenceNo:…}}\"}}"),
            )
        })?;
    let value: Element = read_one(text.as_bytes(), IonLimits::QLDB_PARAMETER_TEXT)
        .map_err(|e| QldbError::invalid(member, format!("{member}.IonText: {e}")))?;
    let st = value.as_struct().ok_or_else(|| {
        QldbError::invalid(
            member,
            format!("{member} must be a struct with strandId and sequenceNo"),
        )
    })?;
    let given = st
        .get("strandId")
        .and_then(Element::as_text)
        .ok_or_else(|| QldbError::invalid(member, format!("{member} has no strandId")))?;
    if given != strand {
        return Err(QldbError::invalid(
            member,
            format!("{member} names strand {given}, but the ledger's strand is {strand}"),
        ));
    }
    let seq = st
        .get("sequenceNo")
        .and_then(Element::as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            QldbError::invalid(member, format!("{member} has no non-negative sequenceNo"))
        })?;
    Ok(Some(seq))
}
