//! [`PostgresStorage`]: a ledger in a PostgreSQL database, through the synchronous `postgres`
//! client (no TLS: meant for a database on loopback or a trusted network).
//!
//! Each ledger is one schema, `veritrail_<name>`, holding the tables SQLite's file holds (the
//! same block layout: header, revision hashes, revision directory and bodies per block), so
//! several ledgers share one database. A commit is one PostgreSQL transaction with
//! `synchronous_commit = on`: all or none, durable when it returns.
//!
//! One writer per ledger: the writer holds a session-level advisory lock (the lease) on the
//! connection it writes through, taken by [`Storage::acquire_writer`] before its first commit.
//! The server releases it when that session ends, however the process died; a handle whose
//! session was lost reconnects without the lease and cannot commit until it takes it again.
//! Other handles read, and report [`Storage::shared`] so the journal re-reads its tip.
//!
//! Architecture Invariant: nothing outside this file names the `postgres` crate.

pub mod server;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};
use sha2::{Digest, Sha256};
use veritrail_core::Hash32;

use super::{
    CommitBatch, Durability, INDEX_ENTRY, RevisionRef, SCHEMA_VERSION, Storage, StorageError,
    StoredBlock, StoredRevision, TableRow, TableStatus, block_blobs, decode_index,
    hashes_from_blob, position_in, split_revisions, to_i64, to_u64,
};

/// A PostgreSQL server and database, from a `postgres://user@host:port/db` URL.
#[derive(Clone)]
pub struct PostgresTarget {
    config: Arc<Config>,
    shown: String,
    /// The URL as given, password included.
    url: Arc<str>,
}

impl PartialEq for PostgresTarget {
    fn eq(&self, other: &Self) -> bool {
        self.shown == other.shown
    }
}

impl Eq for PostgresTarget {}

impl fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresTarget").field(&self.shown).finish()
    }
}

/// The URL without its password.
impl fmt::Display for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// How long to wait for a connection unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl PostgresTarget {
    /// Parses a `postgres://` or `postgresql://` URL (libpq's form: user, password, host,
    /// port, database and `?key=value` options such as `connect_timeout`).
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StorageError::BadUrl(format!(
                "`{}` is neither `sqlite` nor a postgres:// URL",
                url.split('@').next_back().unwrap_or(url)
            )));
        }
        let mut config = Config::from_str(url)
            .map_err(|e| StorageError::BadUrl(format!("cannot read the PostgreSQL URL: {e}")))?;
        if config.get_hosts().is_empty() {
            return Err(StorageError::BadUrl(
                "the PostgreSQL URL names no host (postgres://user@host:port/database)".into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "postgres://{}@{host}:{port}/{}",
            config.get_user().unwrap_or(""),
            config.get_dbname().unwrap_or("")
        );
        Ok(Self {
            config: Arc::new(config),
            shown,
            url: url.into(),
        })
    }

    /// The URL as given, password included: for a child process's environment, never for a
    /// message (which shows [`fmt::Display`]'s form).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn connect(&self, durability: Durability) -> Result<Client, StorageError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| StorageError::Unreachable(format!("{}: {}", self.shown, detail(&e))))?;
        // Durable when COMMIT returns, whatever the server's default.
        let sync = match durability {
            Durability::Full => "on",
            Durability::Normal => "off",
        };
        client
            .batch_execute(&format!("SET synchronous_commit = {sync}"))
            .map_err(|e| self.error(&e))?;
        Ok(client)
    }

    fn error(&self, e: &postgres::Error) -> StorageError {
        let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        // Class 08 is a connection failure, 57P the server shutting down or the session
        // being terminated.
        let gone = e.as_db_error().is_some_and(|d| {
            let code = d.code().code();
            code.starts_with("08") || code.starts_with("57P")
        });
        if gone || (e.as_db_error().is_none() && (e.is_closed() || io)) {
            StorageError::Unreachable(format!("{}: {}", self.shown, detail(e)))
        } else {
            StorageError::Backend(format!("{}: {}", self.shown, detail(e)))
        }
    }

    /// Connects once, to check that the server answers and lets this user in.
    pub fn check_reachable(&self) -> Result<(), StorageError> {
        close(self.connect(Durability::Full)?);
        Ok(())
    }

    /// Whether ledger `name` is in this database.
    pub fn ledger_exists(&self, name: &str) -> Result<bool, StorageError> {
        let schema = schema_name(name)?;
        let mut client = self.connect(Durability::Full)?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .map_err(|e| self.error(&e))?;
        Ok(row.get(0))
    }

    /// Removes ledger `name` from this database (its schema, with every table in it). Refused
    /// while another session holds the ledger's writer lease: close the ledger first.
    pub fn delete_ledger(&self, name: &str) -> Result<(), StorageError> {
        let schema = schema_name(name)?;
        let mut client = self.connect(Durability::Full)?;
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&lease_key(name)])
            .map_err(|e| self.error(&e))?
            .get(0);
        if !taken {
            return Err(StorageError::LeaseHeld(format!("{name} in {self}")));
        }
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .map_err(|e| self.error(&e))?;
        close(client);
        Ok(())
    }
}

/// Closes a client on a thread of its own: the synchronous client owns a Tokio runtime, which
/// must not be dropped on a thread that is running asynchronous tasks (the emulator's), and
/// joining keeps the close ordered before whatever the caller does next (such as another
/// process taking the lease this session held).
fn close(client: Client) {
    let _ = std::thread::spawn(move || drop(client)).join();
}

/// A `postgres::Error` with its cause (its own text is often only "db error").
fn detail(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} ({})", db.message(), db.code().code()),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

/// The schema of ledger `name`. Ledger names are QLDB's (letters, digits, hyphens), checked
/// here again because the name becomes an identifier in SQL.
fn schema_name(name: &str) -> Result<String, StorageError> {
    if name.is_empty()
        || name.len() > 32
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(StorageError::Backend(format!(
            "`{name}` is not a ledger name (1 to 32 letters, digits and hyphens)"
        )));
    }
    Ok(format!("veritrail_{name}"))
}

/// The advisory-lock key of ledger `name`'s writer lease.
fn lease_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("veritrail ledger writer {name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The tables of one ledger, in schema `{s}`. `revisions` is stored uncompressed (`EXTERNAL`)
/// so that one revision is read with `substring` without reading the whole block.
const SCHEMA: &str = "
CREATE SCHEMA {s};
CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE {s}.blocks (
    seq BIGINT PRIMARY KEY,
    header BYTEA NOT NULL,
    revision_hashes BYTEA NOT NULL,
    revision_index BYTEA NOT NULL,
    revisions BYTEA NOT NULL
);
ALTER TABLE {s}.blocks ALTER COLUMN revisions SET STORAGE EXTERNAL;
CREATE TABLE {s}.ql_tables (
    ord BIGSERIAL,
    table_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    indexes TEXT NOT NULL,
    last_write_seq BIGINT NOT NULL
);
CREATE TABLE {s}.ql_revisions (
    document_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    table_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL,
    PRIMARY KEY (document_id, version)
);
CREATE INDEX ON {s}.ql_revisions (table_id, document_id, version);
CREATE TABLE {s}.ql_index (
    table_id TEXT NOT NULL,
    field TEXT NOT NULL,
    key BYTEA NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (table_id, field, key, document_id)
);
CREATE INDEX ON {s}.ql_index (document_id);
CREATE TABLE {s}.nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
";

/// A connection and what belongs to its session. Its client is closed by [`close`].
struct Session {
    client: Client,
    /// Prepared statements, by their SQL template.
    statements: HashMap<&'static str, Statement>,
    /// Whether this session holds the writer lease.
    lease: bool,
}

/// Ends a session, if there is one: its client is closed by [`close`].
fn end(slot: &mut Option<Session>) {
    if let Some(session) = slot.take() {
        drop(session.statements);
        close(session.client);
    }
}

/// A ledger in a PostgreSQL database.
pub struct PostgresStorage {
    target: PostgresTarget,
    name: String,
    /// `"veritrail_<name>"`, quoted.
    schema: String,
    durability: Durability,
    read_only: bool,
    session: RefCell<Option<Session>>,
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        end(self.session.get_mut());
    }
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("target", &self.target)
            .field("ledger", &self.name)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Reads a column that holds a non-negative 64-bit number.
fn unsigned(row: &postgres::Row, i: usize) -> Result<u64, StorageError> {
    to_u64(
        row.try_get::<_, i64>(i)
            .map_err(|e| corrupt_column(i, &e))?,
    )
}

fn corrupt_column(i: usize, e: &postgres::Error) -> StorageError {
    StorageError::Corrupt(format!("column {i}: {e}"))
}

fn get<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
) -> Result<T, StorageError> {
    row.try_get(i).map_err(|e| corrupt_column(i, &e))
}

fn revision_ref(row: &postgres::Row) -> Result<RevisionRef, StorageError> {
    Ok(RevisionRef {
        document_id: get(row, 0)?,
        version: unsigned(row, 1)?,
        table_id: get(row, 2)?,
        seq: unsigned(row, 3)?,
        index: u32::try_from(get::<i32>(row, 4)?)
            .map_err(|_| StorageError::Corrupt("a negative revision index".into()))?,
        deleted: get(row, 5)?,
    })
}

impl PostgresStorage {
    /// Creates ledger `name`'s schema with its metadata. Fails if the ledger exists.
    pub fn create(
        target: &PostgresTarget,
        name: &str,
        meta: &[(&str, String)],
        durability: Durability,
    ) -> Result<Self, StorageError> {
        let storage = Self::new(target, name, durability, false)?;
        storage
            .with(|client, _| {
                let mut tx = client.transaction()?;
                tx.batch_execute(&SCHEMA.replace("{s}", &storage.schema))?;
                let insert = format!(
                    "INSERT INTO {}.meta (key, value) VALUES ($1, $2)",
                    storage.schema
                );
                let version = SCHEMA_VERSION.to_string();
                tx.execute(&insert, &[&"schema_version", &version])?;
                for (k, v) in meta {
                    tx.execute(&insert, &[k, v])?;
                }
                tx.commit()
            })
            .map_err(|e| match e {
                StorageError::Backend(d) if d.contains(SqlState::DUPLICATE_SCHEMA.code()) => {
                    StorageError::LedgerExists(format!("{name} in {target}"))
                }
                other => other,
            })?;
        Ok(storage)
    }

    /// Opens ledger `name`, checking that its schema is one this build reads.
    pub fn open(
        target: &PostgresTarget,
        name: &str,
        durability: Durability,
        read_only: bool,
    ) -> Result<Self, StorageError> {
        let storage = Self::new(target, name, durability, read_only)?;
        let version = storage.meta("schema_version").map_err(|e| match e {
            StorageError::Backend(d)
                if d.contains(SqlState::UNDEFINED_TABLE.code())
                    || d.contains(SqlState::INVALID_SCHEMA_NAME.code()) =>
            {
                StorageError::NoSuchLedger(format!(
                    "{name} in {target}; create it with `veritrail ledger create {name} --storage {target}`"
                ))
            }
            other => other,
        })?;
        let found = version.and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| {
            StorageError::Corrupt(format!("ledger {name} in {target} has no schema version"))
        })?;
        if found != SCHEMA_VERSION {
            return Err(StorageError::SchemaVersion {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(storage)
    }

    fn new(
        target: &PostgresTarget,
        name: &str,
        durability: Durability,
        read_only: bool,
    ) -> Result<Self, StorageError> {
        let schema = format!("\"{}\"", schema_name(name)?);
        let client = target.connect(durability)?;
        Ok(Self {
            target: target.clone(),
            name: name.to_owned(),
            schema,
            durability,
            read_only,
            session: RefCell::new(Some(Session {
                client,
                statements: HashMap::new(),
                lease: false,
            })),
        })
    }

    /// Runs `work` on the session, connecting again first if the last one was lost (a new
    /// session holds no lease).
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Client, &mut Prepared<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StorageError> {
        let mut slot = self.session.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.client.is_closed()) {
            end(&mut slot);
            *slot = Some(Session {
                client: self.target.connect(self.durability)?,
                statements: HashMap::new(),
                lease: false,
            });
        }
        let Some(session) = slot.as_mut() else {
            return Err(StorageError::Unreachable(self.target.to_string()));
        };
        let mut prepared = Prepared {
            schema: &self.schema,
            statements: &mut session.statements,
        };
        let result = work(&mut session.client, &mut prepared).map_err(|e| self.target.error(&e));
        if let Err(StorageError::Unreachable(_)) = result {
            // The session is gone (and its lease with it): the next call starts a new one.
            end(&mut slot);
        }
        result
    }

    /// Runs a query prepared once per session, with the ledger's schema in place of `{s}`.
    fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StorageError> {
        self.with(|client, prepared| {
            let statement = prepared.get(client, sql)?;
            client.query(&statement, params)
        })
    }

    fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<postgres::Row>, StorageError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs raw SQL in the ledger's schema: for tests that play an insider tampering with it.
    pub fn danger_execute(&self, sql: &str) -> Result<(), StorageError> {
        let sql = format!(
            "SET search_path TO {}; {sql}; SET search_path TO DEFAULT",
            self.schema
        );
        self.with(|client, _| client.batch_execute(&sql))
    }

    /// Ends this handle's session without a goodbye, as a crash would: for tests.
    pub fn danger_drop_session(&self) {
        end(&mut self.session.borrow_mut());
    }

    /// Whether this handle holds the writer lease now.
    pub fn holds_lease(&self) -> bool {
        self.session
            .borrow()
            .as_ref()
            .is_some_and(|s| s.lease && !s.client.is_closed())
    }

    fn revision_in(
        &self,
        seq: u64,
        index: u32,
        directory: &[u8],
    ) -> Result<Option<StoredRevision>, StorageError> {
        let at = index as usize * INDEX_ENTRY;
        let Some(raw) = directory.get(at..at + INDEX_ENTRY) else {
            return Ok(None);
        };
        let Some(entry) = decode_index(raw, seq)?.pop() else {
            return Ok(None);
        };
        let row = self.query_opt(
            "SELECT substring(revisions FROM $2::BIGINT::INTEGER FOR $3::BIGINT::INTEGER) FROM {s}.blocks WHERE seq = $1",
            &[
                &to_i64(seq)?,
                &(i64::from(entry.offset) + 1),
                &i64::from(entry.len),
            ],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let body: Vec<u8> = get(&row, 0)?;
        if body.len() != entry.len as usize {
            return Err(StorageError::Corrupt(format!(
                "block {seq}: revision {index} lies outside the revisions"
            )));
        }
        Ok(Some(StoredRevision {
            seq,
            index,
            document_id: entry.document_id,
            version: entry.version,
            kind: entry.kind,
            body,
        }))
    }

    fn directory(&self, seq: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.query_opt(
            "SELECT revision_index FROM {s}.blocks WHERE seq = $1",
            &[&to_i64(seq)?],
        )?
        .map(|r| get(&r, 0))
        .transpose()
    }
}

/// The session's prepared statements.
struct Prepared<'a> {
    schema: &'a str,
    statements: &'a mut HashMap<&'static str, Statement>,
}

impl Prepared<'_> {
    fn get(
        &mut self,
        client: &mut impl postgres::GenericClient,
        sql: &'static str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = client.prepare(&sql.replace("{s}", self.schema))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl PostgresStorage {
    /// [`Storage::commit`], with metadata set (inserted or replaced) in the same transaction.
    pub fn commit_with_meta(
        &mut self,
        batches: &[CommitBatch],
        meta: &[(&str, String)],
    ) -> Result<(), StorageError> {
        if !self.holds_lease() {
            // Taken before the commit by the journal; lost with the session since.
            return Err(StorageError::LeaseHeld(format!(
                "{} (this process lost its lease with its session; it must take it again)",
                self.name
            )));
        }
        let mut encoded = Vec::with_capacity(batches.len());
        for batch in batches {
            encoded.push(block_blobs(batch)?);
        }
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let first_seq = to_i64(first.block.seq)?;
        let name = &self.name;
        let tip = self.with(|client, prepared| {
            let mut tx = client.transaction()?;
            let count = prepared.get(&mut tx, "SELECT COALESCE(MAX(seq) + 1, 0) FROM {s}.blocks")?;
            let durable: i64 = tx.query_one(&count, &[])?.get(0);
            if durable != first_seq {
                return Ok(Some(durable));
            }
            let block = prepared.get(
                &mut tx,
                "INSERT INTO {s}.blocks (seq, header, revision_hashes, revision_index, revisions)
                 VALUES ($1, $2, $3, $4, $5)",
            )?;
            let nodes = prepared.get(
                &mut tx,
                "INSERT INTO {s}.nodes (level, idx, hash)
                 SELECT * FROM UNNEST($1::INTEGER[], $2::BIGINT[], $3::BYTEA[])",
            )?;
            let table = prepared.get(
                &mut tx,
                "INSERT INTO {s}.ql_tables (table_id, name, status, indexes, last_write_seq)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (table_id) DO UPDATE SET name = $2, status = $3, indexes = $4, last_write_seq = $5",
            )?;
            let revisions = prepared.get(
                &mut tx,
                "INSERT INTO {s}.ql_revisions (document_id, version, table_id, seq, idx, deleted)
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::INTEGER[], $6::BOOLEAN[])",
            )?;
            let touched = prepared.get(
                &mut tx,
                "UPDATE {s}.ql_tables SET last_write_seq = $1 WHERE table_id = ANY($2)",
            )?;
            let unindex = prepared.get(
                &mut tx,
                "DELETE FROM {s}.ql_index WHERE document_id = ANY($1)",
            )?;
            let index = prepared.get(
                &mut tx,
                "INSERT INTO {s}.ql_index (table_id, field, key, document_id)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[])
                 ON CONFLICT DO NOTHING",
            )?;
            for (batch, blobs) in batches.iter().zip(&encoded) {
                // Sequence numbers and indexes were checked to fit before the transaction.
                let seq = i64::try_from(batch.block.seq).unwrap_or(i64::MAX);
                tx.execute(&block, &[
                        &seq,
                        &batch.block.header,
                        &blobs.hashes,
                        &blobs.index,
                        &blobs.bodies,
                    ])?;
                let levels: Vec<i32> = batch.nodes.iter().map(|n| n.0 as i32).collect();
                let idxs: Vec<i64> = batch.nodes.iter().map(|n| n.1 as i64).collect();
                let node_hashes: Vec<&[u8]> =
                    batch.nodes.iter().map(|n| &n.2.as_bytes()[..]).collect();
                tx.execute(&nodes, &[&levels, &idxs, &node_hashes])?;
                for t in &batch.tables {
                    tx.execute(
                        &table,
                        &[&t.table_id, &t.name, &t.status.as_str(), &t.indexes.join(","), &seq],
                    )?;
                }
                let ids: Vec<&str> = batch.revisions.iter().map(|r| r.document_id.as_str()).collect();
                let versions: Vec<i64> = batch.revisions.iter().map(|r| r.version as i64).collect();
                let tables: Vec<&str> = batch.revision_tables.iter().map(String::as_str).collect();
                let seqs = vec![seq; ids.len()];
                let positions: Vec<i32> = (0..ids.len()).map(|i| i as i32).collect();
                let deleted: Vec<bool> = batch.revisions.iter().map(|r| r.body.is_empty()).collect();
                tx.execute(&revisions, &[&ids, &versions, &tables, &seqs, &positions, &deleted])?;
                let mut distinct = tables.clone();
                distinct.sort_unstable();
                distinct.dedup();
                tx.execute(&touched, &[&seq, &distinct])?;
                if !batch.index_updates.is_empty() {
                    // A document's first revision has no keys to replace: the usual bulk append
                    // then deletes nothing, and does not ask the server to look.
                    let new = batch.new_documents();
                    let docs: Vec<&str> = batch
                        .index_updates
                        .iter()
                        .map(|u| u.document_id.as_str())
                        .filter(|d| !new.contains(d))
                        .collect();
                    if !docs.is_empty() {
                        tx.execute(&unindex, &[&docs])?;
                    }
                    let keys = batch.index_updates.iter().flat_map(|u| {
                        u.keys.iter().map(move |(field, key)| (u, field, key))
                    });
                    let (mut t, mut f, mut k, mut d) = (vec![], vec![], vec![], vec![]);
                    for (u, field, key) in keys {
                        t.push(u.table_id.as_str());
                        f.push(field.as_str());
                        k.push(key.as_slice());
                        d.push(u.document_id.as_str());
                    }
                    tx.execute(&index, &[&t, &f, &k, &d])?;
                }
            }
            let meta_upsert = prepared.get(
                &mut tx,
                "INSERT INTO {s}.meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = $2",
            )?;
            for (k, v) in meta {
                tx.execute(&meta_upsert, &[k, v])?;
            }
            tx.commit()?;
            Ok(None)
        })?;
        match tip {
            None => Ok(()),
            Some(durable) => Err(StorageError::Backend(format!(
                "ledger {name}: the journal holds {durable} blocks but this writer built block {first_seq}; reopen the ledger"
            ))),
        }
    }
}

impl Storage for PostgresStorage {
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.query_opt("SELECT value FROM {s}.meta WHERE key = $1", &[&key])?
            .map(|r| get(&r, 0))
            .transpose()
    }

    fn block_count(&self) -> Result<u64, StorageError> {
        let row = self.query_opt("SELECT MAX(seq) FROM {s}.blocks", &[])?;
        match row
            .map(|r| get::<Option<i64>>(&r, 0))
            .transpose()?
            .flatten()
        {
            None => Ok(0),
            Some(m) => Ok(to_u64(m)? + 1),
        }
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash32>, StorageError> {
        let level_i = i32::try_from(level)
            .map_err(|_| StorageError::Corrupt(format!("subtree level {level} is out of range")))?;
        let row = self.query_opt(
            "SELECT hash FROM {s}.nodes WHERE level = $1 AND idx = $2",
            &[&level_i, &to_i64(index)?],
        )?;
        row.map(|r| {
            let blob: Vec<u8> = get(&r, 0)?;
            Hash32::from_slice(&blob).map_err(|e| {
                StorageError::Corrupt(format!("subtree hash at level {level}, index {index}: {e}"))
            })
        })
        .transpose()
    }

    fn block(&self, seq: u64) -> Result<Option<StoredBlock>, StorageError> {
        let row = self.query_opt(
            "SELECT header, revision_hashes FROM {s}.blocks WHERE seq = $1",
            &[&to_i64(seq)?],
        )?;
        row.map(|r| {
            let hashes: Vec<u8> = get(&r, 1)?;
            Ok(StoredBlock {
                seq,
                header: get(&r, 0)?,
                revision_hashes: hashes_from_blob(&hashes, seq)?,
            })
        })
        .transpose()
    }

    fn revisions(&self, seq: u64) -> Result<Vec<StoredRevision>, StorageError> {
        let row = self.query_opt(
            "SELECT revision_index, revisions FROM {s}.blocks WHERE seq = $1",
            &[&to_i64(seq)?],
        )?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let (index, blob): (Vec<u8>, Vec<u8>) = (get(&row, 0)?, get(&row, 1)?);
        split_revisions(seq, &index, &blob)
    }

    fn revision(
        &self,
        seq: u64,
        document_id: &str,
    ) -> Result<Option<StoredRevision>, StorageError> {
        let Some(dir) = self.directory(seq)? else {
            return Ok(None);
        };
        let ids = dir.chunks_exact(INDEX_ENTRY).map(|e| &e[..22]);
        match position_in(ids, document_id, seq)? {
            Some(i) => self.revision_in(seq, i, &dir),
            None => Ok(None),
        }
    }

    fn revision_at(&self, seq: u64, index: u32) -> Result<Option<StoredRevision>, StorageError> {
        match self.directory(seq)? {
            Some(dir) => self.revision_in(seq, index, &dir),
            None => Ok(None),
        }
    }

    fn tables(&self) -> Result<Vec<TableRow>, StorageError> {
        self.query(
            "SELECT table_id, name, status, indexes, last_write_seq FROM {s}.ql_tables ORDER BY ord",
            &[],
        )?
        .iter()
        .map(|r| {
            let status: String = get(r, 2)?;
            let indexes: String = get(r, 3)?;
            Ok(TableRow {
                table_id: get(r, 0)?,
                name: get(r, 1)?,
                status: TableStatus::parse(&status).ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "table status {status:?} is neither ACTIVE nor INACTIVE"
                    ))
                })?,
                indexes: indexes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                last_write_seq: unsigned(r, 4)?,
            })
        })
        .collect()
    }

    fn current(&self, document_id: &str) -> Result<Option<RevisionRef>, StorageError> {
        self.query_opt(
            "SELECT document_id, version, table_id, seq, idx, deleted FROM {s}.ql_revisions
              WHERE document_id = $1 ORDER BY version DESC LIMIT 1",
            &[&document_id],
        )?
        .map(|r| revision_ref(&r))
        .transpose()
    }

    fn current_in_table(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        self.query(
            "SELECT document_id, version, table_id, seq, idx, deleted FROM {s}.ql_revisions r
              WHERE table_id = $1
                AND version = (SELECT MAX(version) FROM {s}.ql_revisions WHERE document_id = r.document_id)
                AND NOT deleted ORDER BY seq, idx",
            &[&table_id],
        )?
        .iter()
        .map(revision_ref)
        .collect()
    }

    fn history(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        self.query(
            "SELECT document_id, version, table_id, seq, idx, deleted FROM {s}.ql_revisions
              WHERE table_id = $1 ORDER BY seq, idx",
            &[&table_id],
        )?
        .iter()
        .map(revision_ref)
        .collect()
    }

    fn index_lookup(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT document_id FROM {s}.ql_index WHERE table_id = $1 AND field = $2 AND key = $3
              ORDER BY document_id",
            &[&table_id, &field, &key],
        )?
        .iter()
        .map(|r| get(r, 0))
        .collect()
    }

    fn keys_indexed(
        &self,
        table_id: &str,
        field: &str,
        keys: &[&[u8]],
    ) -> Result<Vec<bool>, StorageError> {
        // One round trip for the lot (a bulk append checks every key for duplicates).
        let found: HashSet<Vec<u8>> = self
            .query(
                "SELECT DISTINCT key FROM {s}.ql_index
                  WHERE table_id = $1 AND field = $2 AND key = ANY($3)",
                &[&table_id, &field, &keys],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect::<Result<_, _>>()?;
        Ok(keys.iter().map(|k| found.contains(*k)).collect())
    }

    fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        self.commit_with_meta(batches, &[])
    }

    fn acquire_writer(&mut self) -> Result<(), StorageError> {
        if self.read_only {
            return Err(StorageError::Backend(format!(
                "ledger {} was opened read-only",
                self.name
            )));
        }
        if self.holds_lease() {
            return Ok(());
        }
        let key = lease_key(&self.name);
        let taken = self.with(|client, _| {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map(|r| r.get::<_, bool>(0))
        })?;
        if !taken {
            return Err(StorageError::LeaseHeld(format!(
                "{} in {}",
                self.name, self.target
            )));
        }
        if let Some(session) = self.session.borrow_mut().as_mut() {
            session.lease = true;
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}
