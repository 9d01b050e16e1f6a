//! `veritrail ledger …`: create a ledger, append CloudTrail records, read digests, blocks and
//! revisions with proofs (as the AWS CLI prints them), sign checkpoints, and verify a whole
//! ledger with `veritrail-verify`, which shares no code with the ledger. The work is done by
//! `veritrail-ledger` (appends, verification, import); this module parses arguments and prints.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};
use veritrail_core::AuditRecord;
use veritrail_core::ion_input::{self, IonLimits};
use veritrail_core::record::parse_log_file;
use veritrail_core::time::UtcMillis;
use veritrail_ledger::checkpoint::{CheckpointContent, CheckpointKey};
use veritrail_ledger::db::{Database, DatabaseOptions, DbError};
use veritrail_ledger::export::{ExportFormat, ExportRequest};
use veritrail_ledger::files::LedgerFiles;
use veritrail_ledger::journal::proof_ion_text;
use veritrail_ledger::verification::{ImportReport, VerifyError, import_ledger, verify_ledger};
use veritrail_ledger::{AppendRequest, Ledger, LedgerError, StorageChoice, StorageError};

use crate::Outcome;
use crate::input::{Limit, read_text};
use crate::verify_cmd::report;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Create a ledger: its journal (with a genesis block) and its checkpoint-signing key.
    Create(Target),
    /// Append CloudTrail records to table AuditRecords, one transaction per batch. Records
    /// already in the table (by eventID) are skipped, so appending a file again is harmless.
    Append {
        #[command(flatten)]
        target: Target,
        /// CloudTrail log files ({"Records":[…]}, uncompressed) or JSON Lines, one record per line.
        #[arg(long = "file", value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Records per transaction (one journal block each).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        /// Print nothing per transaction, only the summary.
        #[arg(long)]
        quiet: bool,
        /// Lift QLDB's 128 KB limit on one record.
        #[arg(long)]
        no_limits: bool,
    },
    /// Print the digest, as `aws qldb get-digest` does.
    Digest {
        #[command(flatten)]
        target: Target,
        /// The digest as it was when this block was the last one (default: the latest).
        #[arg(long, value_name = "SEQ")]
        tip: Option<u64>,
    },
    /// Print a block with its proof, as `aws qldb get-block` does.
    Block {
        #[command(flatten)]
        target: Target,
        /// The block's sequence number.
        #[arg(long, value_name = "SEQ")]
        seq: u64,
        /// The digest tip the proof leads to (default: the latest block).
        #[arg(long, value_name = "SEQ")]
        tip: Option<u64>,
    },
    /// Print a document revision with its proof, as `aws qldb get-revision` does.
    Revision {
        #[command(flatten)]
        target: Target,
        /// The sequence number of the block holding the revision.
        #[arg(long, value_name = "SEQ")]
        seq: u64,
        /// The document id (22 characters).
        #[arg(long, value_name = "ID")]
        document_id: String,
        /// The digest tip the proof leads to (default: the latest block).
        #[arg(long, value_name = "SEQ")]
        tip: Option<u64>,
    },
    /// Print a consistency proof between two digests (RFC 9162 style).
    Consistency {
        #[command(flatten)]
        target: Target,
        /// Tip of the older digest.
        #[arg(long, value_name = "SEQ")]
        from: u64,
        /// Tip of the newer digest (default: the latest block).
        #[arg(long, value_name = "SEQ")]
        to: Option<u64>,
    },
    /// Run PartiQL statements in one transaction (QLDB's dialect: SELECT, INSERT, UPDATE,
    /// DELETE, CREATE TABLE/INDEX, history(), _ql_committed_…). Prints one Ion value per line.
    Query {
        #[command(flatten)]
        target: Target,
        /// The statements, run in order in one transaction.
        #[arg(required = true, value_name = "STATEMENT")]
        statements: Vec<String>,
        /// A positional parameter (`?`) as Ion text, e.g. --param '"ACC-001"'; repeat in order.
        #[arg(long = "param", value_name = "ION")]
        params: Vec<String>,
        /// Lift QLDB's per-transaction and per-document limits (40 documents and 4 MB per
        /// transaction, 128 KB per document, 40 tables).
        #[arg(long)]
        no_limits: bool,
    },
    /// Sign a checkpoint of the current digest with the ledger's key and store it.
    Checkpoint(Target),
    /// Write the journal in QLDB's S3 export layout (manifests and
    /// yyyy/mm/dd/hh/{strandId}.{first}-{last}.ion objects) under a directory.
    Export {
        #[command(flatten)]
        target: Target,
        /// Directory to write into (the "bucket").
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only blocks at or after this time (Ion timestamp, e.g. 2024-01-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// Only blocks before this time (default: now).
        #[arg(long, value_name = "TIME")]
        end: Option<String>,
        /// ION_TEXT, ION_BINARY or JSON.
        #[arg(long, default_value = "ION_TEXT")]
        format: String,
        /// Key prefix inside the directory.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Most blocks per data object.
        #[arg(long, default_value_t = 1000)]
        blocks_per_object: usize,
    },
    /// Create a ledger from a journal export (veritrail's or a real QLDB export, ION_TEXT or
    /// ION_BINARY). Every block hash and chain link is verified first; with --digest the
    /// journal's Merkle root at that tip must equal the saved digest. Nothing is imported
    /// unless all of it verifies.
    Import {
        #[command(flatten)]
        target: Target,
        /// The export's directory (where the completed manifest is), or s3://bucket/prefix
        /// (read through the AWS SDK: credentials, region and AWS_ENDPOINT_URL as for the AWS
        /// CLI).
        #[arg(long, value_name = "DIR|S3_URL")]
        from: PathBuf,
        /// A saved `aws qldb get-digest` output the imported journal must reproduce.
        #[arg(long, value_name = "FILE")]
        digest: Option<PathBuf>,
    },
    /// Recompute every revision hash, block hash, chain link and the digest, and check the
    /// latest signed checkpoint. Reports the first broken block.
    Verify {
        #[command(flatten)]
        target: Target,
        /// The verifier key to trust (default: the ledger's .pub in the key directory).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// A checkpoint note to check (default: the newest stored checkpoint).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Target {
    /// The ledger's name.
    name: String,
    /// Where ledgers live [env: VERITRAIL_DATA_DIR; default: the user's data directory].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where signing keys live, apart from the journal [env: VERITRAIL_KEY_DIR; default: DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
    /// Where the journal is: `sqlite` (a file in DATA_DIR, the default) or a PostgreSQL URL,
    /// postgres://user@host:port/database [env: VERITRAIL_STORAGE].
    #[arg(long, value_name = "URL", value_parser = parse_storage)]
    storage: Option<StorageChoice>,
}

impl Target {
    fn files(&self) -> LedgerFiles {
        ledger_files(
            &self.name,
            self.data_dir.as_deref(),
            self.key_dir.as_deref(),
        )
        .with_storage(storage_or_env(self.storage.as_ref()))
    }
}

/// A ledger named by `--ledger NAME` (for commands that work on a ledger without being
/// `veritrail ledger …`: `ingest`, `alerts`).
#[derive(Debug, Args)]
pub struct LedgerArg {
    /// The ledger's name (create it with `veritrail ledger create NAME`).
    #[arg(long = "ledger", value_name = "NAME")]
    name: String,
    /// Where ledgers live [env: VERITRAIL_DATA_DIR; default: the user's data directory].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where signing keys live, apart from the journal [env: VERITRAIL_KEY_DIR; default: DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// Where the journal is: `sqlite` (a file in DATA_DIR, the default) or a PostgreSQL URL,
    /// postgres://user@host:port/database [env: VERITRAIL_STORAGE].
    #[arg(long, value_name = "URL", value_parser = parse_storage)]
    storage: Option<StorageChoice>,
}

/// `--storage`'s value: `sqlite` or a PostgreSQL URL.
pub fn parse_storage(text: &str) -> Result<StorageChoice, String> {
    StorageChoice::parse(text).map_err(|e| e.to_string())
}

/// The storage `--storage` names, else `VERITRAIL_STORAGE` (checked when the program starts,
/// see [`check_storage_env`]), else SQLite.
pub fn storage_or_env(flag: Option<&StorageChoice>) -> StorageChoice {
    flag.cloned()
        .unwrap_or_else(|| StorageChoice::from_env().ok().flatten().unwrap_or_default())
}

/// A `VERITRAIL_STORAGE` that is not `sqlite` or a PostgreSQL URL, as an error message.
pub fn check_storage_env() -> Result<(), String> {
    StorageChoice::from_env().map(drop)
}

impl LedgerArg {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    pub fn key_dir(&self) -> Option<&Path> {
        self.key_dir.as_deref()
    }

    pub fn files(&self) -> LedgerFiles {
        ledger_files(
            &self.name,
            self.data_dir.as_deref(),
            self.key_dir.as_deref(),
        )
        .with_storage(storage_or_env(self.storage.as_ref()))
    }
}

/// The files of ledger `name`: the directories given, else from the environment, else the
/// defaults.
pub fn ledger_files(name: &str, data_dir: Option<&Path>, key_dir: Option<&Path>) -> LedgerFiles {
    let data_dir = data_dir
        .map(Path::to_owned)
        .or_else(|| std::env::var_os("VERITRAIL_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(default_data_dir);
    let key_dir = key_dir
        .map(Path::to_owned)
        .or_else(|| std::env::var_os("VERITRAIL_KEY_DIR").map(PathBuf::from));
    LedgerFiles::new(name, &data_dir, key_dir.as_deref()).with_storage(storage_or_env(None))
}

/// Opens an existing ledger for writing as a database; a ledger that is not there is named
/// with the command that creates it.
pub fn open_database(files: &LedgerFiles, strict_limits: bool) -> Result<Database, String> {
    require_ledger(files)?;
    open(files, false)
        .map(|l| {
            Database::new(
                l,
                DatabaseOptions {
                    strict_limits,
                    ..DatabaseOptions::default()
                },
            )
        })
        .map_err(|e| e.to_string())
}

/// A ledger that is not there, named with the command that creates it.
pub fn require_ledger(files: &LedgerFiles) -> Result<(), String> {
    if let StorageChoice::Postgres(_) = files.storage {
        // Opening it says whether it is there, and whether the server can be reached.
        return Ok(());
    }
    if files.journal().exists() {
        return Ok(());
    }
    Err(format!(
        "no ledger {} at {}; create it with `veritrail ledger create {}`",
        files.name,
        files.journal().display(),
        files.name
    ))
}

/// `$XDG_DATA_HOME/veritrail`, else `~/.local/share/veritrail`, else `./veritrail-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("veritrail");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/veritrail");
    }
    PathBuf::from("veritrail-data")
}

/// Maps a ledger error to an outcome: requests that name something absent are bad input (2);
/// a ledger that cannot be read is a failed verification of its integrity (1).
fn error_outcome(e: &LedgerError) -> Outcome {
    match e {
        LedgerError::Storage(
            StorageError::Corrupt(_)
            | StorageError::NotALedger { .. }
            | StorageError::Unreachable(_)
            | StorageError::LeaseHeld(_),
        ) => Outcome::Failed,
        _ => Outcome::BadInput,
    }
}

/// Input that cannot be used: exit 2.
pub fn bad_input(json_out: bool, message: impl std::fmt::Display) -> Outcome {
    report(
        json_out,
        Outcome::BadInput,
        &format!("error: {message}"),
        json!({"check": "input"}),
    )
}

fn fail(json_out: bool, e: &LedgerError) -> Outcome {
    let outcome = error_outcome(e);
    let broken = matches!(
        e,
        LedgerError::Storage(StorageError::Corrupt(_) | StorageError::NotALedger { .. })
    );
    let prefix = if broken { "FAILED" } else { "error:" };
    report(
        json_out,
        outcome,
        &format!("{prefix} {e}"),
        json!({"check": "input"}),
    )
}

fn open(files: &LedgerFiles, read_only: bool) -> Result<Ledger, LedgerError> {
    let path = files.journal();
    if read_only {
        Ledger::open_read_only(&path, files.options())
    } else {
        Ledger::open(&path, files.options())
    }
}

pub fn run(cmd: LedgerCommand) -> Outcome {
    match cmd {
        LedgerCommand::Create(t) => create(&t),
        LedgerCommand::Append {
            target,
            files,
            batch,
            quiet,
            no_limits,
        } => append(&target, &files, batch as usize, quiet, no_limits),
        LedgerCommand::Digest { target, tip } => {
            read_cmd(&target, |l| Ok(l.digest_at(tip)?.to_get_digest_json()))
        }
        LedgerCommand::Block { target, seq, tip } => {
            read_cmd(&target, |l| Ok(l.block(seq, tip)?.to_json("Block")))
        }
        LedgerCommand::Revision {
            target,
            seq,
            document_id,
            tip,
        } => read_cmd(&target, |l| {
            Ok(l.revision(seq, &document_id, tip)?.to_json("Revision"))
        }),
        LedgerCommand::Consistency { target, from, to } => read_cmd(&target, |l| {
            let to = to.unwrap_or(l.block_count().saturating_sub(1));
            let proof = l.consistency(from, to)?;
            let old = l.digest_at(Some(from))?;
            let new = l.digest_at(Some(to))?;
            Ok(json!({
                "OldDigest": old.digest.to_base64(),
                "OldTipAddress": {"IonText": old.tip_ion_text()},
                "NewDigest": new.digest.to_base64(),
                "NewTipAddress": {"IonText": new.tip_ion_text()},
                "Proof": {"IonText": proof_ion_text(&proof)},
            })
            .to_string())
        }),
        LedgerCommand::Checkpoint(t) => checkpoint(&t),
        LedgerCommand::Export {
            target,
            out,
            start,
            end,
            format,
            prefix,
            blocks_per_object,
        } => export(
            &target,
            &out,
            start.as_deref(),
            end.as_deref(),
            &format,
            &prefix,
            blocks_per_object,
        ),
        LedgerCommand::Import {
            target,
            from,
            digest,
        } => import(&target, &from, digest.as_deref()),
        LedgerCommand::Query {
            target,
            statements,
            params,
            no_limits,
        } => query(&target, &statements, &params, no_limits),
        LedgerCommand::Verify {
            target,
            public_key,
            checkpoint,
        } => verify(&target, public_key.as_deref(), checkpoint.as_deref()),
    }
}

/// Runs a read-only query and prints its JSON (always JSON: it is what `aws qldb` prints).
fn read_cmd(t: &Target, f: impl FnOnce(&Ledger) -> Result<String, LedgerError>) -> Outcome {
    match open(&t.files(), true).and_then(|l| f(&l)) {
        Ok(out) => {
            println!("{out}");
            Outcome::Verified
        }
        Err(e) => fail(t.json, &e),
    }
}

fn create(t: &Target) -> Outcome {
    let files = t.files();
    let result = (|| -> Result<(Ledger, CheckpointKey), LedgerError> {
        if files.private_key().exists() {
            return Err(LedgerError::Keys(format!(
                "a signing key already exists at {}; remove it or use another --key-dir",
                files.private_key().display()
            )));
        }
        std::fs::create_dir_all(&files.data_dir)
            .map_err(|e| LedgerError::Keys(format!("{}: {e}", files.data_dir.display())))?;
        let ledger = Ledger::create(&files.journal(), &files.name, files.options())?;
        let key = CheckpointKey::generate(&files.name)?;
        files.write_new_key(&key)?;
        Ok((ledger, key))
    })();
    match result {
        Ok((ledger, key)) => report(
            t.json,
            Outcome::Verified,
            &format!(
                "created ledger {} at {} (strand {}); signing key {}; verifier key {}",
                ledger.name(),
                journal_place(&files),
                ledger.strand_id(),
                files.private_key().display(),
                key.verifier_key()
            ),
            json!({
                "name": ledger.name(),
                "path": journal_place(&files),
                "strandId": ledger.strand_id(),
                "verifierKey": key.verifier_key(),
            }),
        ),
        Err(e) => fail(t.json, &e),
    }
}

/// A file of CloudTrail records for `ledger append`, uncompressed.
const RECORDS_FILE: Limit = Limit {
    bytes: veritrail_core::record::MAX_LOG_FILE_BYTES as u64,
    what: "a CloudTrail log or JSON Lines file",
};

/// Reads CloudTrail records from a log file (`{"Records":[…]}`), a JSON array, one record,
/// or JSON Lines.
fn read_records(path: &Path) -> Result<Vec<AuditRecord>, String> {
    let text = read_text(path, RECORDS_FILE).map_err(|e| format!("{}: {e}", path.display()))?;
    let at = |e: veritrail_core::RecordError| format!("{}: {e}", path.display());
    match serde_json::from_str::<Json>(&text) {
        Ok(Json::Object(m)) if m.contains_key("Records") => parse_log_file(&text).map_err(at),
        Ok(v @ Json::Object(_)) => Ok(vec![AuditRecord::from_json(v).map_err(at)?]),
        Ok(Json::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                AuditRecord::from_json(v).map_err(|e| format!("{} record {i}: {e}", path.display()))
            })
            .collect(),
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                AuditRecord::from_json_str(line)
                    .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
            })
            .collect(),
    }
}

fn append(t: &Target, paths: &[PathBuf], batch: usize, quiet: bool, no_limits: bool) -> Outcome {
    let mut records = Vec::new();
    for p in paths {
        match read_records(p) {
            Ok(r) => records.extend(r),
            Err(e) => {
                return bad_input(t.json, e);
            }
        }
    }
    let read = records.len();
    let db = match open(&t.files(), false) {
        Ok(l) => Database::new(
            l,
            DatabaseOptions {
                strict_limits: !no_limits,
                ..DatabaseOptions::default()
            },
        ),
        Err(e) => return fail(t.json, &e),
    };
    let started = db.ledger().now();
    let request = AppendRequest {
        table: "AuditRecords".into(),
        key_field: "eventID".into(),
        batch_size: batch,
    };
    let stdout = std::io::stdout();
    // Each line is printed only once its transaction is durable; scripts (and the crash test)
    // read them as acknowledgements.
    let appended = db.append(
        &request,
        records.iter().map(AuditRecord::to_ion).collect(),
        |c| {
            if !quiet {
                let mut out = stdout.lock();
                let _ = writeln!(
                    out,
                    "committed block {} tx {} documents {}",
                    c.sequence_no,
                    c.transaction_id,
                    c.revision_hashes.len()
                );
                let _ = out.flush();
            }
        },
    );
    let summary = match appended {
        Ok(s) => s,
        Err(DbError::Ledger(e)) => return fail(t.json, &e),
        Err(e) => {
            return bad_input(t.json, e);
        }
    };
    let ledger = db.ledger();
    let digest = match ledger.digest() {
        Ok(d) => d,
        Err(e) => return fail(t.json, &e),
    };
    let seconds = (ledger.now().0 - started.0).max(1) as f64 / 1000.0;
    report(
        t.json,
        Outcome::Verified,
        &format!(
            "appended {} records in {} transactions, skipped {} duplicates ({:.0} records/s); digest {} at tip {}",
            summary.appended,
            summary.transactions,
            summary.duplicates,
            read as f64 / seconds,
            digest.digest,
            digest.tip
        ),
        json!({
            "records": read,
            "appended": summary.appended,
            "duplicates": summary.duplicates,
            "transactions": summary.transactions,
            "digest": digest.digest.to_base64(),
            "tip": digest.tip,
        }),
    )
}

fn query(t: &Target, statements: &[String], params: &[String], no_limits: bool) -> Outcome {
    let mut values = Vec::new();
    for (i, p) in params.iter().enumerate() {
        match ion_input::read_one(p.as_bytes(), IonLimits::QLDB_PARAMETER_TEXT) {
            Ok(v) => values.push(v),
            Err(e) => {
                return bad_input(
                    t.json,
                    format!("--param {} is not one Ion value: {e}", i + 1),
                );
            }
        }
    }
    let ledger = match open(&t.files(), false) {
        Ok(l) => l,
        Err(e) => return fail(t.json, &e),
    };
    let db = Database::new(
        ledger,
        DatabaseOptions {
            strict_limits: !no_limits,
            ..DatabaseOptions::default()
        },
    );
    // Parameters are consumed in order across the statements.
    let result = db.run(3, |tx| {
        let mut rows = Vec::new();
        let mut next = 0;
        for s in statements {
            let wanted = s
                .matches('?')
                .count()
                .min(values.len() - next.min(values.len()));
            rows.extend(tx.execute(s, &values[next..next + wanted])?);
            next += wanted;
        }
        Ok(rows)
    });
    match result {
        Ok(rows) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for r in rows {
                let line = if t.json {
                    match veritrail_core::json_ion::ion_to_json(&r) {
                        Ok(j) => j.to_string(),
                        Err(_) => r.to_string(),
                    }
                } else {
                    r.to_string()
                };
                let _ = writeln!(out, "{line}");
            }
            Outcome::Verified
        }
        Err(e) => report(
            t.json,
            Outcome::BadInput,
            &format!("error: {e}"),
            json!({"check": "statement"}),
        ),
    }
}

fn parse_time(flag: &str, text: &str) -> Result<UtcMillis, String> {
    ion_input::read_one(text.as_bytes(), IonLimits::QLDB_PARAMETER_TEXT)
        .ok()
        .and_then(|e| e.as_timestamp())
        .map(|t| UtcMillis::from_ion(&t))
        .ok_or_else(|| format!("{flag} `{text}` is not a timestamp like 2024-01-01T00:00:00Z"))
}

#[allow(clippy::too_many_arguments)]
fn export(
    t: &Target,
    out: &Path,
    start: Option<&str>,
    end: Option<&str>,
    format: &str,
    prefix: &str,
    blocks_per_object: usize,
) -> Outcome {
    let request = (|| -> Result<ExportRequest, String> {
        Ok(ExportRequest {
            start: start.map(|s| parse_time("--start", s)).transpose()?,
            end: end.map(|s| parse_time("--end", s)).transpose()?,
            format: ExportFormat::parse(format)
                .ok_or_else(|| format!("--format `{format}`: use ION_TEXT, ION_BINARY or JSON"))?,
            prefix: prefix.to_owned(),
            bucket: out.display().to_string(),
            blocks_per_object,
        })
    })();
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            return bad_input(t.json, e);
        }
    };
    match open(&t.files(), true).and_then(|l| l.export_journal(out, &request)) {
        Ok(summary) => report(
            t.json,
            Outcome::Verified,
            &format!(
                "exported {} blocks in {} objects to {} (export {}; manifest {})",
                summary.blocks,
                summary.keys.len(),
                out.display(),
                summary.export_id,
                summary.completed_manifest
            ),
            json!({
                "exportId": summary.export_id,
                "blocks": summary.blocks,
                "keys": summary.keys,
                "completedManifest": summary.completed_manifest,
            }),
        ),
        Err(e) => fail(t.json, &e),
    }
}

/// Prints what a verification or an import found wrong: exit 1 for a broken journal, 2 for
/// input that cannot be used.
pub(crate) fn verify_failed(json_out: bool, e: &VerifyError) -> Outcome {
    match e {
        VerifyError::Broken(b) => report(
            json_out,
            Outcome::Failed,
            &format!("FAILED {b}"),
            json!({"check": b.check()}),
        ),
        VerifyError::Ledger(e) => fail(json_out, e),
        other => bad_input(json_out, other),
    }
}

/// Where a ledger's journal is, for messages: its file, or its database.
fn journal_place(files: &LedgerFiles) -> String {
    match &files.storage {
        StorageChoice::Postgres(_) => files.storage.describe(),
        _ => files.journal().display().to_string(),
    }
}

fn import(t: &Target, from: &Path, digest_file: Option<&Path>) -> Outcome {
    let files = t.files();
    let result = match from.to_str().filter(|f| f.starts_with("s3://")) {
        Some(url) => {
            match crate::replicate_cmd::with_s3_export(url, &files.data_dir, None, |dir| {
                import_ledger(&files, dir, digest_file, files.options())
            }) {
                Ok(r) => r,
                Err(e) => return bad_input(t.json, e),
            }
        }
        None => import_ledger(&files, from, digest_file, files.options()),
    };
    imported(t.json, result)
}

/// Reports an import (or a replica made): what was verified and written, or what was wrong.
pub(crate) fn imported(json_out: bool, result: Result<ImportReport, VerifyError>) -> Outcome {
    match result {
        Ok(r) => report(
            json_out,
            Outcome::Verified,
            &format!(
                "imported {} blocks of strand {} into ledger {}; every block hash and chain link verified{}",
                r.blocks,
                r.strand_id,
                r.name,
                r.digest_tip.map_or_else(String::new, |tip| format!(
                    ", and the digest at tip {tip} matches the saved digest"
                ))
            ),
            json!({"blocks": r.blocks, "strandId": r.strand_id}),
        ),
        Err(e) => verify_failed(json_out, &e),
    }
}

fn checkpoint(t: &Target) -> Outcome {
    let files = t.files();
    let result = (|| -> Result<(PathBuf, String), LedgerError> {
        let ledger = open(&files, true)?;
        let key = files.read_key()?;
        let digest = ledger.digest()?;
        let content = CheckpointContent {
            size: digest.tip + 1,
            digest: digest.digest,
            strand_id: digest.strand_id,
            time: ledger.now(),
        };
        let note = key.sign(&content);
        let path = files.write_checkpoint(content.size, &note)?;
        Ok((path, note))
    })();
    match result {
        Ok((path, note)) => {
            if t.json {
                report(
                    true,
                    Outcome::Verified,
                    "checkpoint signed",
                    json!({"path": path, "note": note}),
                )
            } else {
                print!("{note}");
                eprintln!("stored {}", path.display());
                Outcome::Verified
            }
        }
        Err(e) => fail(t.json, &e),
    }
}

fn verify(t: &Target, public_key: Option<&Path>, checkpoint: Option<&Path>) -> Outcome {
    let show_progress = !t.json;
    let progress = |done: u64, total: u64| {
        if show_progress {
            eprintln!("verified {done} of {total} blocks");
        }
    };
    let r = match verify_ledger(&t.files(), public_key, checkpoint, progress) {
        Ok(r) => r,
        Err(e) => return verify_failed(t.json, &e),
    };
    let mut detail = json!({
        "blocks": r.blocks,
        "digest": r.digest.to_base64(),
        "tip": {"strandId": r.strand_id, "sequenceNo": r.tip()},
    });
    let checkpoint_line = match r.checkpoint_size {
        None => " no signed checkpoint yet: a consistent rewrite of the whole journal would go unnoticed; run `veritrail ledger checkpoint`".to_owned(),
        Some(size) => {
            if let Some(o) = detail.as_object_mut() {
                o.insert("checkpointSize".into(), json!(size));
            }
            format!(" the signed checkpoint at {size} blocks matches")
        }
    };
    report(
        t.json,
        Outcome::Verified,
        &format!(
            "OK ledger {}: {} blocks, every revision, block hash and chain link recomputed; digest {} at tip {};{checkpoint_line}",
            r.name,
            r.blocks,
            r.digest,
            r.tip()
        ),
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_separate_bad_requests_from_broken_ledgers() {
        assert_eq!(
            error_outcome(&LedgerError::SequencePastTip { seq: 1, last: 0 }),
            Outcome::BadInput
        );
        assert_eq!(
            error_outcome(&LedgerError::Storage(StorageError::Corrupt("x".into()))),
            Outcome::Failed
        );
    }
}
