//! Storage behind the journal: a trait the journal logic is written against, and its SQLite
//! implementation (one database file per ledger, WAL, durable commits).
//!
//! Architecture Invariant: the journal (`journal.rs`) sees only [`Storage`]; nothing outside
//! this file names rusqlite, and nothing outside `storage/postgres.rs` names the `postgres`
//! client. [`AnyStorage`] (in `storage/any.rs`) is either backend, chosen at open time.

mod any;
pub mod postgres;

pub use any::{AnyStorage, StorageChoice};
pub use postgres::{PostgresStorage, PostgresTarget};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use veritrail_core::Hash32;

/// The on-disk schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 1;
/// SQLite `application_id` marking a veritrail ledger file ("VTRL").
const APPLICATION_ID: i64 = 0x5654_524C;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// No ledger file at this path.
    Missing(PathBuf),
    /// A file exists where a new ledger was to be created.
    Exists(PathBuf),
    /// The file is not a veritrail ledger (or is damaged beyond reading its header).
    NotALedger { path: PathBuf, detail: String },
    /// The ledger was written by another schema version.
    SchemaVersion { found: i64, supported: i64 },
    /// Stored data is unreadable or inconsistent.
    Corrupt(String),
    /// The database failed.
    Backend(String),
    /// A storage URL that cannot be used.
    BadUrl(String),
    /// The database server cannot be reached (or went away).
    Unreachable(String),
    /// No ledger of this name in the database.
    NoSuchLedger(String),
    /// A ledger of this name is already in the database.
    LedgerExists(String),
    /// Another process holds the ledger's writer lease.
    LeaseHeld(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(f, "no ledger at {}", p.display()),
            Self::Exists(p) => write!(f, "{} already exists", p.display()),
            Self::NotALedger { path, detail } => {
                write!(f, "{} is not a veritrail ledger: {detail}", path.display())
            }
            Self::SchemaVersion { found, supported } => write!(
                f,
                "the ledger has schema version {found}; this veritrail reads version {supported}"
            ),
            Self::Corrupt(d) => write!(f, "the ledger is corrupt: {d}"),
            Self::Backend(d) => write!(f, "storage error: {d}"),
            Self::BadUrl(d) => write!(f, "bad storage URL: {d}"),
            Self::Unreachable(d) => write!(f, "the storage server cannot be reached: {d}"),
            Self::NoSuchLedger(d) => write!(f, "no ledger {d}"),
            Self::LedgerExists(d) => write!(f, "ledger {d} already exists"),
            Self::LeaseHeld(d) => write!(
                f,
                "another process is writing ledger {d} (it holds the writer lease); this one can only read it until that process stops"
            ),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(code, _)
                if code.code == rusqlite::ErrorCode::NotADatabase =>
            {
                Self::Corrupt(format!("not a database file: {e}"))
            }
            other => Self::Backend(other.to_string()),
        }
    }
}

/// A block as stored: its header (every field but `revisions`, as Ion binary) and the hashes
/// of its revisions in order (derived data, kept for fast proofs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    pub seq: u64,
    pub header: Vec<u8>,
    pub revision_hashes: Vec<Hash32>,
}

/// A revision as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRevision {
    pub seq: u64,
    pub index: u32,
    pub document_id: String,
    pub version: u64,
    /// What `body` holds.
    pub kind: RevisionKind,
    /// Ion binary: the data (empty for a deletion), or the whole revision.
    pub body: Vec<u8>,
}

/// How a revision is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevisionKind {
    /// Only the data; the rest is rebuilt from the block (revisions veritrail writes).
    #[default]
    Data,
    /// The whole revision struct as received (revisions imported from a QLDB export, whose
    /// metadata cannot be rebuilt from the block).
    Full,
    /// A QLDB system revision of which only the hash is known.
    HashOnly,
}

impl RevisionKind {
    fn flag(self) -> u8 {
        match self {
            Self::Data => 0,
            Self::Full => 1,
            Self::HashOnly => 2,
        }
    }

    fn from_flag(f: u8) -> Option<Self> {
        match f {
            0 => Some(Self::Data),
            1 => Some(Self::Full),
            2 => Some(Self::HashOnly),
            _ => None,
        }
    }
}

/// Everything one transaction adds; written atomically and durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitBatch {
    pub block: StoredBlock,
    pub revisions: Vec<StoredRevision>,
    /// Complete-subtree hashes that the new block completes, (level, index, hash).
    pub nodes: Vec<(u32, u64, Hash32)>,
    /// Table of each revision, in order (derived state: which table a document is in).
    pub revision_tables: Vec<String>,
    /// Tables created or changed.
    pub tables: Vec<TableRow>,
    /// New index keys of documents (replacing their old keys).
    pub index_updates: Vec<IndexUpdate>,
}

impl CommitBatch {
    /// The documents whose first revision this batch writes: they have no index entries yet,
    /// so their index updates replace nothing (a bulk append's documents are all new).
    pub fn new_documents(&self) -> std::collections::HashSet<&str> {
        self.revisions
            .iter()
            .filter(|r| r.version == 0)
            .map(|r| r.document_id.as_str())
            .collect()
    }
}

/// Whether a table is in use (`ACTIVE`) or dropped (`INACTIVE`), as QLDB's
/// `information_schema.user_tables` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableStatus {
    Active,
    Inactive,
}

impl TableStatus {
    /// QLDB's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }

    /// QLDB's name read back (exactly, as written).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "INACTIVE" => Some(Self::Inactive),
            _ => None,
        }
    }
}

impl rusqlite::ToSql for TableStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for TableStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        Self::parse(s).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("table status {s:?} is neither ACTIVE nor INACTIVE").into(),
            )
        })
    }
}

/// A table as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub table_id: String,
    pub name: String,
    pub status: TableStatus,
    /// Indexed top-level fields, in creation order.
    pub indexes: Vec<String>,
    /// The last block that wrote to the table (for optimistic concurrency on scans).
    pub last_write_seq: u64,
}

/// The index keys of one document after a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUpdate {
    pub document_id: String,
    pub table_id: String,
    pub keys: Vec<(String, Vec<u8>)>,
}

/// Where one revision of a document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRef {
    pub document_id: String,
    pub version: u64,
    pub table_id: String,
    pub seq: u64,
    pub index: u32,
    pub deleted: bool,
}

/// The storage a journal runs on.
pub trait Storage: Send {
    /// A value from the ledger's metadata.
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError>;
    /// Number of blocks.
    fn block_count(&self) -> Result<u64, StorageError>;
    /// A complete-subtree hash.
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash32>, StorageError>;
    /// A block's stored form.
    fn block(&self, seq: u64) -> Result<Option<StoredBlock>, StorageError>;
    /// The revisions of a block, in order.
    fn revisions(&self, seq: u64) -> Result<Vec<StoredRevision>, StorageError>;
    /// The revision of a document in a block.
    fn revision(&self, seq: u64, document_id: &str)
    -> Result<Option<StoredRevision>, StorageError>;
    /// Appends blocks with their revisions and nodes, all or none; returns once durable.
    fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError>;
    /// Appends like [`Storage::commit`], but may return before the blocks are durable: they
    /// are once [`Storage::barrier`]'s `sync_through` has returned for them. This is group
    /// commit: the caller writes under the ledger's lock and waits for the disk outside it,
    /// so one sync makes the blocks of many transactions durable.
    fn commit_unsynced(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        self.commit(batches)
    }
    /// What makes blocks written by [`Storage::commit_unsynced`] durable; `None` when every
    /// commit is durable by the time it returns.
    fn barrier(&self) -> Option<Arc<dyn SyncBarrier>> {
        None
    }
    /// The revision at position `index` of block `seq`.
    fn revision_at(&self, seq: u64, index: u32) -> Result<Option<StoredRevision>, StorageError>;
    /// Every table, dropped ones included.
    fn tables(&self) -> Result<Vec<TableRow>, StorageError>;
    /// The latest revision of a document.
    fn current(&self, document_id: &str) -> Result<Option<RevisionRef>, StorageError>;
    /// The latest revision of every document of a table that is not deleted.
    fn current_in_table(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError>;
    /// Every revision of every document of a table, in commit order.
    fn history(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError>;
    /// Documents of a table whose indexed `field` has this key.
    fn index_lookup(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<String>, StorageError>;
    /// Which of `keys` have an entry in the index of a table's `field` (each as
    /// [`Storage::index_lookup`] finding a document), in the order given: a backend may answer
    /// them all in one query.
    fn keys_indexed(
        &self,
        table_id: &str,
        field: &str,
        keys: &[&[u8]],
    ) -> Result<Vec<bool>, StorageError> {
        keys.iter()
            .map(|key| Ok(!self.index_lookup(table_id, field, key)?.is_empty()))
            .collect()
    }
    /// The latest revisions, not deleted, of the documents of a table whose indexed `field`
    /// has this key, sorted by document id: [`Storage::index_lookup`] then
    /// [`Storage::current`] of each, which a backend may answer in one query.
    fn index_lookup_current(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<RevisionRef>, StorageError> {
        let mut found = Vec::new();
        for id in self.index_lookup(table_id, field, key)? {
            if let Some(r) = self.current(&id)? {
                if !r.deleted {
                    found.push(r);
                }
            }
        }
        found.sort_by(|a, b| a.document_id.cmp(&b.document_id));
        Ok(found)
    }
    /// Makes this handle the ledger's one writer before a commit (takes the writer lease of a
    /// shared database). An embedded file has nothing to take.
    fn acquire_writer(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
    /// Whether other processes may append to this ledger, so that a tip held in memory must be
    /// re-read from storage before it is used.
    fn shared(&self) -> bool {
        false
    }
}

/// Makes blocks written without waiting for the disk durable.
pub trait SyncBarrier: Send + Sync + fmt::Debug {
    /// Returns once the first `blocks` blocks are durable.
    fn sync_through(&self, blocks: u64) -> Result<(), StorageError>;
    /// How many blocks are known to be durable.
    fn durable(&self) -> u64;
    /// How many syncs were made (fewer than commits when commits were grouped).
    fn syncs(&self) -> u64;
}

/// Group commit for a ledger in WAL mode: commits write their WAL frames without syncing
/// (`synchronous=NORMAL`), then wait here. The first waiter syncs the WAL file once for every
/// frame written so far; the others find their blocks already durable, or wait for the
/// next sync. A WAL frame is durable once the WAL file is synced (SQLite syncs the WAL
/// again before each checkpoint copies it into the database, and syncs a reused WAL's header).
#[derive(Debug)]
struct WalSync {
    path: PathBuf,
    /// The WAL file, opened at the first sync; the lock also keeps syncs one at a time.
    file: Mutex<Option<std::fs::File>>,
    /// Blocks written to the WAL (a block count).
    written: AtomicU64,
    /// Blocks durable.
    synced: AtomicU64,
    /// Syncs made.
    syncs: AtomicU64,
    /// The error of a failed sync: once a sync fails, what was written cannot be known to be
    /// on disk, so no later commit is acknowledged either.
    failed: Mutex<Option<String>>,
}

impl WalSync {
    fn new(database: &Path, blocks: u64) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            path: PathBuf::from(wal),
            file: Mutex::new(None),
            written: AtomicU64::new(blocks),
            synced: AtomicU64::new(blocks),
            syncs: AtomicU64::new(0),
            failed: Mutex::new(None),
        }
    }

    fn written(&self, blocks: u64) {
        self.written.fetch_max(blocks, Ordering::AcqRel);
    }

    fn failure(&self) -> Option<StorageError> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.as_ref().map(|e| {
            StorageError::Backend(format!(
                "an earlier sync of the journal failed ({e}); restart to recover what is on disk"
            ))
        })
    }
}

impl SyncBarrier for WalSync {
    fn sync_through(&self, blocks: u64) -> Result<(), StorageError> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        if self.synced.load(Ordering::Acquire) >= blocks {
            return Ok(());
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Another waiter's sync may have covered these blocks meanwhile.
        if self.synced.load(Ordering::Acquire) >= blocks {
            return Ok(());
        }
        if let Some(e) = self.failure() {
            return Err(e);
        }
        // Everything written before this load is in the WAL file: this sync covers it.
        let target = self.written.load(Ordering::Acquire);
        let result = match &*file {
            Some(f) => f.sync_data(),
            None => std::fs::File::open(&self.path).and_then(|f| {
                let r = f.sync_data();
                *file = Some(f);
                r
            }),
        };
        self.syncs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.synced.fetch_max(target, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                let message = format!("cannot sync {}: {e}", self.path.display());
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
                Err(StorageError::Backend(message))
            }
        }
    }

    fn durable(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// Durability of commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A commit is acknowledged once its WAL frames are synced (by `WalSync`). The default.
    #[default]
    Full,
    /// A commit may be lost on power failure but never corrupts the journal (no sync at all).
    Normal,
}

/// A ledger in one SQLite file.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
    /// Syncs of the WAL (group commit), for a writable ledger with [`Durability::Full`].
    wal: Option<Arc<WalSync>>,
    /// Revision directories of recently read blocks (blocks never change once committed).
    directories: std::cell::RefCell<Directories>,
    /// Revisions recently read one at a time, as stored (they never change either).
    revisions: std::cell::RefCell<Revisions>,
}

/// Where a block's row is and its revision directory, decoded.
#[derive(Debug)]
struct Directory {
    rowid: i64,
    entries: Vec<IndexEntry>,
}

/// The revision directories of the last [`DIRECTORY_CACHE`] blocks read one revision at a
/// time. Reading a revision otherwise reads the block's whole directory, which for a block of
/// 1,000 audit records lies across a dozen overflow pages.
#[derive(Debug, Default)]
struct Directories {
    by_seq: std::collections::HashMap<u64, Arc<Directory>>,
    order: std::collections::VecDeque<u64>,
}

const DIRECTORY_CACHE: usize = 256;

impl Directories {
    fn get(&self, seq: u64) -> Option<Arc<Directory>> {
        self.by_seq.get(&seq).cloned()
    }

    fn put(&mut self, seq: u64, dir: Arc<Directory>) {
        if self.by_seq.insert(seq, dir).is_none() {
            self.order.push_back(seq);
            while self.order.len() > DIRECTORY_CACHE {
                if let Some(old) = self.order.pop_front() {
                    self.by_seq.remove(&old);
                }
            }
        }
    }
}

/// The revisions last read one at a time ([`Storage::revision_at`]), up to
/// [`REVISION_CACHE_BYTES`] of bodies. Reading one otherwise opens an incremental blob handle
/// (a small compiled program each time) and walks the block's overflow pages to its offset,
/// most of an indexed lookup's storage time once the page cache holds the block.
#[derive(Debug, Default)]
struct Revisions {
    by_place: std::collections::HashMap<(u64, u32), StoredRevision>,
    order: std::collections::VecDeque<(u64, u32)>,
    bytes: usize,
}

const REVISION_CACHE_BYTES: usize = 16 << 20;

impl Revisions {
    fn get(&self, seq: u64, index: u32) -> Option<StoredRevision> {
        self.by_place.get(&(seq, index)).cloned()
    }

    /// What keeping `revision` costs, as counted against [`REVISION_CACHE_BYTES`].
    fn cost(revision: &StoredRevision) -> usize {
        revision.body.len() + revision.document_id.len()
    }

    fn put(&mut self, revision: &StoredRevision) {
        let size = Self::cost(revision);
        if size > REVISION_CACHE_BYTES / 64 {
            return;
        }
        let place = (revision.seq, revision.index);
        if self.by_place.insert(place, revision.clone()).is_some() {
            return;
        }
        self.order.push_back(place);
        self.bytes += size;
        while self.bytes > REVISION_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.by_place.remove(&old) {
                self.bytes -= Self::cost(&gone);
            }
        }
    }
}

/// Copies committed WAL frames into the database file on its own thread and connection, so a
/// commit waits only for its own WAL write and fsync, never for a checkpoint. Commits stay
/// durable: a frame is durable once the WAL is synced, whether or not it was checkpointed.
#[derive(Debug)]
struct Checkpointer {
    wake: std::sync::mpsc::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Bytes committed since the checkpoint thread was last woken.
    pending: usize,
}

/// Wake the checkpoint thread once this much has been committed (about 1000 WAL pages);
/// it also runs once a second when idle. Waking it per commit would add an fsync to each.
const CHECKPOINT_AFTER_BYTES: usize = 4 << 20;

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let (wake, rx) = std::sync::mpsc::channel::<bool>();
        let thread = std::thread::Builder::new()
            .name("veritrail-checkpoint".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                // Wake on each commit (or every second); stop when told to or when the writer is gone.
                while let Ok(true) | Err(RecvTimeoutError::Timeout) =
                    rx.recv_timeout(std::time::Duration::from_secs(1))
                {
                    // Coalesce the commits that arrived meanwhile into one checkpoint.
                    let mut stop = false;
                    while let Ok(more) = rx.try_recv() {
                        stop |= !more;
                    }
                    // A failed passive checkpoint only leaves frames in the WAL for the next one.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if stop {
                        break;
                    }
                }
            })
            .map_err(|e| {
                StorageError::Backend(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            wake,
            thread: Some(thread),
            pending: 0,
        })
    }

    fn committed(&mut self, bytes: usize) {
        self.pending += bytes;
        if self.pending >= CHECKPOINT_AFTER_BYTES {
            self.pending = 0;
            let _ = self.wake.send(true);
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.wake.send(false);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One row per block. A block's revisions are one blob (their Ion bodies back to back) with a
/// directory beside it, rather than one row each: a row costs SQLite more than hashing and
/// encoding a document does, and a single revision is still read alone, by incremental blob I/O.
const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE blocks (
    seq INTEGER PRIMARY KEY,
    header BLOB NOT NULL,
    revision_hashes BLOB NOT NULL,
    revision_index BLOB NOT NULL,
    revisions BLOB NOT NULL
);
CREATE TABLE ql_tables (
    table_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    indexes TEXT NOT NULL,
    last_write_seq INTEGER NOT NULL
);
CREATE TABLE ql_revisions (
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    table_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (document_id, version)
) WITHOUT ROWID;
CREATE INDEX ql_revisions_by_table ON ql_revisions (table_id, document_id, version);
CREATE TABLE ql_index (
    table_id TEXT NOT NULL,
    field TEXT NOT NULL,
    key BLOB NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (table_id, field, key, document_id)
) WITHOUT ROWID;
CREATE INDEX ql_index_by_document ON ql_index (document_id);
CREATE TABLE nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
";

fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Corrupt(format!("{v} is out of range")))
}

fn to_u64(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative value {v}")))
}

/// Directory entry of one revision in a block's `revisions` blob:
/// document id (22 bytes) | version (u64 BE) | offset (u32 BE) | length (u32 BE) | kind (u8).
const INDEX_ENTRY: usize = 22 + 8 + 4 + 4 + 1;

#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexEntry {
    document_id: String,
    version: u64,
    offset: u32,
    len: u32,
    kind: RevisionKind,
}

fn decode_index(blob: &[u8], seq: u64) -> Result<Vec<IndexEntry>, StorageError> {
    let bad =
        |what: &str| StorageError::Corrupt(format!("block {seq}: the revision directory {what}"));
    if blob.len() % INDEX_ENTRY != 0 {
        return Err(bad("has a partial entry"));
    }
    blob.chunks_exact(INDEX_ENTRY)
        .map(|e| {
            let document_id = std::str::from_utf8(&e[..22])
                .map_err(|_| bad("holds a document id that is not text"))?
                .to_owned();
            let num = |r: std::ops::Range<usize>| {
                e[r].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
            };
            Ok(IndexEntry {
                document_id,
                version: num(22..30),
                offset: u32::try_from(num(30..34)).map_err(|_| bad("is damaged"))?,
                len: u32::try_from(num(34..38)).map_err(|_| bad("is damaged"))?,
                kind: RevisionKind::from_flag(e[38])
                    .ok_or_else(|| bad("has an unknown revision kind"))?,
            })
        })
        .collect()
}

fn hashes_from_blob(blob: &[u8], seq: u64) -> Result<Vec<Hash32>, StorageError> {
    if blob.len() % 32 != 0 {
        return Err(StorageError::Corrupt(format!(
            "block {seq}: revision hashes are {} bytes, not a multiple of 32",
            blob.len()
        )));
    }
    blob.chunks_exact(32)
        .map(|c| Hash32::from_slice(c).map_err(|e| StorageError::Corrupt(e.to_string())))
        .collect()
}

/// Prepared statements kept per connection: more than the ledger uses, so none is parsed twice
/// (rusqlite's default of 16 is fewer).
const STATEMENT_CACHE: usize = 64;

impl SqliteStorage {
    fn configure(conn: &Connection) -> Result<(), StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoints run on the checkpoint thread, not inside commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // With Durability::Full the WAL is synced after each commit by `WalSync`, which the
        // ledger calls outside its lock; SQLite's own commit never waits for the disk.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Self::configure_reads(conn)
    }

    /// Settings for reading, on writable and read-only connections alike.
    fn configure_reads(conn: &Connection) -> Result<(), StorageError> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Keep each cached statement's plan: with STAT4 compiled in, SQLite otherwise
        // recompiles a statement whenever a parameter compared with an indexed column is
        // rebound, which made every point lookup pay a full SQL parse.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // 64 MiB of page cache (the default is 2 MiB): revisions and their directories lie
        // across overflow pages, read again by every lookup.
        conn.pragma_update(None, "cache_size", -65_536i64)?;
        Ok(())
    }

    /// Creates a new ledger file with its metadata. Fails if the file exists.
    pub fn create(
        path: &Path,
        meta: &[(&str, String)],
        durability: Durability,
    ) -> Result<Self, StorageError> {
        if path.exists() {
            return Err(StorageError::Exists(path.to_owned()));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        Self::configure(&conn)?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(Self {
            conn,
            checkpointer: Some(Checkpointer::start(path)?),
            wal: (durability == Durability::Full).then(|| Arc::new(WalSync::new(path, 0))),
            directories: Default::default(),
            revisions: Default::default(),
        })
    }

    /// Opens an existing ledger file, checking that it is one and that its schema is ours.
    pub fn open(
        path: &Path,
        durability: Durability,
        read_only: bool,
    ) -> Result<Self, StorageError> {
        if !path.is_file() {
            return Err(StorageError::Missing(path.to_owned()));
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let not_a_ledger = |detail: String| StorageError::NotALedger {
            path: path.to_owned(),
            detail,
        };
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| not_a_ledger(e.to_string()))?;
        let app_id: i64 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| not_a_ledger(e.to_string()))?;
        if app_id != APPLICATION_ID {
            return Err(not_a_ledger(format!(
                "its application id is {app_id:#x}, not a ledger's"
            )));
        }
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            return Err(StorageError::SchemaVersion {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let checkpointer = if read_only {
            Self::configure_reads(&conn)?;
            None
        } else {
            Self::configure(&conn)?;
            Some(Checkpointer::start(path)?)
        };
        let mut storage = Self {
            conn,
            checkpointer,
            wal: None,
            directories: Default::default(),
            revisions: Default::default(),
        };
        if !read_only && durability == Durability::Full {
            storage.wal = Some(Arc::new(WalSync::new(path, storage.block_count()?)));
        }
        Ok(storage)
    }

    /// Block `seq`'s row and decoded revision directory, from the cache or read (and kept).
    fn directory(&self, seq: u64) -> Result<Option<Arc<Directory>>, StorageError> {
        if let Some(dir) = self.directories.borrow().get(seq) {
            return Ok(Some(dir));
        }
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT rowid, revision_index FROM blocks WHERE seq = ?1")?
            .query_row(params![to_i64(seq)?], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((rowid, raw)) = row else {
            return Ok(None);
        };
        let dir = Arc::new(Directory {
            rowid,
            entries: decode_index(&raw, seq)?,
        });
        self.directories.borrow_mut().put(seq, Arc::clone(&dir));
        Ok(Some(dir))
    }

    /// Runs raw SQL: for tests that play an insider tampering with the file.
    pub fn danger_execute(&self, sql: &str) -> Result<(), StorageError> {
        *self.directories.borrow_mut() = Directories::default();
        *self.revisions.borrow_mut() = Revisions::default();
        self.conn.execute_batch(sql).map_err(StorageError::from)
    }
}

fn revision_ref(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevisionRef> {
    Ok(RevisionRef {
        document_id: r.get(0)?,
        version: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        table_id: r.get(2)?,
        seq: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        index: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        deleted: r.get::<_, i64>(5)? != 0,
    })
}

const REVISION_COLUMNS: &str = "document_id, version, table_id, seq, idx, deleted";

impl Storage for SqliteStorage {
    fn revision_at(&self, seq: u64, index: u32) -> Result<Option<StoredRevision>, StorageError> {
        if let Some(found) = self.revisions.borrow().get(seq, index) {
            return Ok(Some(found));
        }
        let Some(dir) = self.directory(seq)? else {
            return Ok(None);
        };
        let Some(entry) = dir.entries.get(index as usize) else {
            return Ok(None);
        };
        let blob =
            self.conn
                .blob_open(rusqlite::MAIN_DB, "blocks", "revisions", dir.rowid, true)?;
        let mut body = vec![0u8; entry.len as usize];
        blob.read_at_exact(&mut body, entry.offset as usize)
            .map_err(|e| {
                StorageError::Corrupt(format!(
                    "block {seq}: revision {index} lies outside the revisions: {e}"
                ))
            })?;
        let revision = StoredRevision {
            seq,
            index,
            document_id: entry.document_id.clone(),
            version: entry.version,
            kind: entry.kind,
            body,
        };
        self.revisions.borrow_mut().put(&revision);
        Ok(Some(revision))
    }

    fn tables(&self) -> Result<Vec<TableRow>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT table_id, name, status, indexes, last_write_seq FROM ql_tables ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            let indexes: String = r.get(3)?;
            Ok(TableRow {
                table_id: r.get(0)?,
                name: r.get(1)?,
                status: r.get(2)?,
                indexes: indexes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                last_write_seq: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn current(&self, document_id: &str) -> Result<Option<RevisionRef>, StorageError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {REVISION_COLUMNS} FROM ql_revisions WHERE document_id = ?1 ORDER BY version DESC LIMIT 1"
            ))?
            .query_row(params![document_id], revision_ref)
            .optional()?)
    }

    fn current_in_table(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REVISION_COLUMNS} FROM ql_revisions r WHERE table_id = ?1
               AND version = (SELECT MAX(version) FROM ql_revisions WHERE document_id = r.document_id)
               AND deleted = 0 ORDER BY seq, idx"
        ))?;
        let rows = stmt.query_map(params![table_id], revision_ref)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn history(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {REVISION_COLUMNS} FROM ql_revisions WHERE table_id = ?1 ORDER BY seq, idx"
        ))?;
        let rows = stmt.query_map(params![table_id], revision_ref)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn index_lookup(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<String>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT document_id FROM ql_index WHERE table_id = ?1 AND field = ?2 AND key = ?3",
        )?;
        let rows = stmt.query_map(params![table_id, field, key], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn index_lookup_current(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<RevisionRef>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.document_id, r.version, r.table_id, r.seq, r.idx, r.deleted
               FROM ql_index i JOIN ql_revisions r ON r.document_id = i.document_id
              WHERE i.table_id = ?1 AND i.field = ?2 AND i.key = ?3 AND r.deleted = 0
                AND r.version = (SELECT MAX(version) FROM ql_revisions m
                                  WHERE m.document_id = i.document_id)
              ORDER BY i.document_id",
        )?;
        let rows = stmt.query_map(params![table_id, field, key], revision_ref)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()?)
    }

    fn block_count(&self) -> Result<u64, StorageError> {
        let max: Option<i64> = self
            .conn
            .prepare_cached("SELECT MAX(seq) FROM blocks")?
            .query_row([], |r| r.get(0))?;
        match max {
            None => Ok(0),
            Some(m) => Ok(to_u64(m)? + 1),
        }
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash32>, StorageError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, to_i64(index)?], |r| r.get(0))
            .optional()?;
        blob.map(|b| {
            Hash32::from_slice(&b).map_err(|e| {
                StorageError::Corrupt(format!("subtree hash at level {level}, index {index}: {e}"))
            })
        })
        .transpose()
    }

    fn block(&self, seq: u64) -> Result<Option<StoredBlock>, StorageError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT header, revision_hashes FROM blocks WHERE seq = ?1")?
            .query_row(params![to_i64(seq)?], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(header, hashes)| {
            Ok(StoredBlock {
                seq,
                header,
                revision_hashes: hashes_from_blob(&hashes, seq)?,
            })
        })
        .transpose()
    }

    fn revisions(&self, seq: u64) -> Result<Vec<StoredRevision>, StorageError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT revision_index, revisions FROM blocks WHERE seq = ?1")?
            .query_row(params![to_i64(seq)?], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((index, blob)) = row else {
            return Ok(Vec::new());
        };
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
        let ids = dir.entries.iter().map(|e| e.document_id.as_bytes());
        match position_in(ids, document_id, seq)? {
            Some(i) => self.revision_at(seq, i),
            None => Ok(None),
        }
    }

    fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        self.commit_with_meta(batches, &[])
    }

    fn commit_unsynced(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        self.write_batches(batches, &[])
    }

    fn barrier(&self) -> Option<Arc<dyn SyncBarrier>> {
        self.wal
            .as_ref()
            .map(|w| Arc::clone(w) as Arc<dyn SyncBarrier>)
    }
}

/// The revisions of block `seq`, from its revision directory and its revisions blob.
fn split_revisions(
    seq: u64,
    index: &[u8],
    blob: &[u8],
) -> Result<Vec<StoredRevision>, StorageError> {
    decode_index(index, seq)?
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let (start, end) = (e.offset as usize, e.offset as usize + e.len as usize);
            let body = blob.get(start..end).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "block {seq}: revision {i} lies outside the revisions"
                ))
            })?;
            Ok(StoredRevision {
                seq,
                index: u32::try_from(i).map_err(|_| {
                    StorageError::Corrupt(format!("block {seq}: too many revisions"))
                })?,
                document_id: e.document_id,
                version: e.version,
                kind: e.kind,
                body: body.to_vec(),
            })
        })
        .collect()
}

/// Where document `document_id` is among the document ids of block `seq`'s revision directory.
fn position_in<'a>(
    ids: impl IntoIterator<Item = &'a [u8]>,
    document_id: &str,
    seq: u64,
) -> Result<Option<u32>, StorageError> {
    ids.into_iter()
        .position(|id| id == document_id.as_bytes())
        .map(|i| {
            u32::try_from(i)
                .map_err(|_| StorageError::Corrupt(format!("block {seq}: too many revisions")))
        })
        .transpose()
}

/// A block's blobs as both backends store them.
struct BlockBlobs {
    /// The revision hashes back to back.
    hashes: Vec<u8>,
    /// The revision directory ([`INDEX_ENTRY`] bytes a revision).
    index: Vec<u8>,
    /// The revision bodies back to back.
    bodies: Vec<u8>,
}

fn block_blobs(batch: &CommitBatch) -> Result<BlockBlobs, StorageError> {
    let mut hashes = Vec::with_capacity(batch.block.revision_hashes.len() * 32);
    for h in &batch.block.revision_hashes {
        hashes.extend_from_slice(h.as_bytes());
    }
    let total: usize = batch.revisions.iter().map(|r| r.body.len()).sum();
    let mut index = Vec::with_capacity(batch.revisions.len() * INDEX_ENTRY);
    let mut bodies = Vec::with_capacity(total);
    for r in &batch.revisions {
        if r.document_id.len() != 22 || !r.document_id.is_ascii() {
            return Err(StorageError::Corrupt(format!(
                "document id `{}` is not 22 characters",
                r.document_id
            )));
        }
        let offset = u32::try_from(bodies.len())
            .map_err(|_| StorageError::Backend("a block's revisions exceed 4 GiB".into()))?;
        let len = u32::try_from(r.body.len())
            .map_err(|_| StorageError::Backend("a revision exceeds 4 GiB".into()))?;
        index.extend_from_slice(r.document_id.as_bytes());
        index.extend_from_slice(&r.version.to_be_bytes());
        index.extend_from_slice(&offset.to_be_bytes());
        index.extend_from_slice(&len.to_be_bytes());
        index.push(r.kind.flag());
        bodies.extend_from_slice(&r.body);
    }
    if batch.revision_tables.len() != batch.revisions.len() {
        return Err(StorageError::Backend(
            "each revision needs its table".into(),
        ));
    }
    Ok(BlockBlobs {
        hashes,
        index,
        bodies,
    })
}

impl SqliteStorage {
    /// [`Storage::commit`], with metadata set (inserted or replaced) in the same transaction.
    pub fn commit_with_meta(
        &mut self,
        batches: &[CommitBatch],
        meta: &[(&str, String)],
    ) -> Result<(), StorageError> {
        self.write_batches(batches, meta)?;
        match (&self.wal, batches.last()) {
            (Some(wal), Some(last)) => wal.sync_through(last.block.seq + 1),
            _ => Ok(()),
        }
    }

    /// Writes blocks (and metadata) in one SQLite transaction, without waiting for the disk.
    fn write_batches(
        &mut self,
        batches: &[CommitBatch],
        meta: &[(&str, String)],
    ) -> Result<(), StorageError> {
        if let Some(e) = self.wal.as_ref().and_then(|w| w.failure()) {
            return Err(e);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for batch in batches {
            let BlockBlobs {
                hashes,
                index,
                bodies,
            } = block_blobs(batch)?;
            tx.prepare_cached(
                "INSERT INTO blocks (seq, header, revision_hashes, revision_index, revisions) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![to_i64(batch.block.seq)?, batch.block.header, hashes, index, bodies])?;
            let mut node =
                tx.prepare_cached("INSERT INTO nodes (level, idx, hash) VALUES (?1, ?2, ?3)")?;
            for (level, idx, hash) in &batch.nodes {
                node.execute(params![level, to_i64(*idx)?, &hash.as_bytes()[..]])?;
            }
            let seq = to_i64(batch.block.seq)?;
            for t in &batch.tables {
                tx.prepare_cached(
                    "INSERT INTO ql_tables (table_id, name, status, indexes, last_write_seq) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (table_id) DO UPDATE SET name = ?2, status = ?3, indexes = ?4, last_write_seq = ?5",
                )?
                .execute(params![t.table_id, t.name, t.status, t.indexes.join(","), seq])?;
            }
            let mut rev = tx.prepare_cached(
                "INSERT INTO ql_revisions (document_id, version, table_id, seq, idx, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut touched: Vec<&String> = Vec::new();
            for (i, (r, table)) in batch
                .revisions
                .iter()
                .zip(&batch.revision_tables)
                .enumerate()
            {
                rev.execute(params![
                    r.document_id,
                    to_i64(r.version)?,
                    table,
                    seq,
                    i as i64,
                    r.body.is_empty()
                ])?;
                if !touched.contains(&table) {
                    touched.push(table);
                }
            }
            for table in touched {
                tx.prepare_cached("UPDATE ql_tables SET last_write_seq = ?1 WHERE table_id = ?2")?
                    .execute(params![seq, table])?;
            }
            let new = batch.new_documents();
            for u in &batch.index_updates {
                // Keys a new revision leaves as they were are not rewritten: deleting and
                // inserting the same entries would still dirty their pages, written to the WAL
                // at every commit (an update of an indexed document rarely changes its keys).
                let mut existing: Vec<(String, String, Vec<u8>)> =
                    if new.contains(u.document_id.as_str()) {
                        Vec::new()
                    } else {
                        tx.prepare_cached(
                            "SELECT table_id, field, key FROM ql_index WHERE document_id = ?1",
                        )?
                        .query_map(params![u.document_id], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?
                        .collect::<Result<_, _>>()?
                    };
                let mut wanted: Vec<(&str, &str, &[u8])> = u
                    .keys
                    .iter()
                    .map(|(f, k)| (u.table_id.as_str(), f.as_str(), k.as_slice()))
                    .collect();
                existing.sort();
                wanted.sort_unstable();
                wanted.dedup();
                let same = existing
                    .iter()
                    .map(|(t, f, k)| (t.as_str(), f.as_str(), k.as_slice()))
                    .eq(wanted.iter().copied());
                if same {
                    continue;
                }
                if !existing.is_empty() {
                    tx.prepare_cached("DELETE FROM ql_index WHERE document_id = ?1")?
                        .execute(params![u.document_id])?;
                }
                let mut ins = tx.prepare_cached(
                    "INSERT OR IGNORE INTO ql_index (table_id, field, key, document_id) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (field, key) in &u.keys {
                    ins.execute(params![u.table_id, field, key, u.document_id])?;
                }
            }
        }
        for (k, v) in meta {
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![k, v])?;
        }
        tx.commit()?;
        if let (Some(wal), Some(last)) = (&self.wal, batches.last()) {
            wal.written(last.block.seq + 1);
        }
        if let Some(c) = &mut self.checkpointer {
            let bytes = batches
                .iter()
                .map(|b| {
                    b.block.header.len() + b.revisions.iter().map(|r| r.body.len()).sum::<usize>()
                })
                .sum();
            c.committed(bytes);
        }
        Ok(())
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // Stop the checkpoint thread first, then fold the WAL into the database on the way out.
        self.checkpointer = None;
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::{REVISION_CACHE_BYTES, RevisionKind, Revisions, StoredRevision};

    fn revision(seq: u64, index: u32, size: usize) -> StoredRevision {
        StoredRevision {
            seq,
            index,
            document_id: format!("doc{seq}-{index}"),
            version: 0,
            kind: RevisionKind::Data,
            body: vec![7; size],
        }
    }

    #[test]
    fn the_revision_cache_keeps_to_its_budget_and_forgets_the_oldest_first() {
        let mut cache = Revisions::default();
        let size = 4096;
        let fits = REVISION_CACHE_BYTES / (size + "doc0-0".len() + 4);
        for i in 0..(fits as u32 * 2) {
            cache.put(&revision(u64::from(i / 100), i % 100, size));
            assert!(cache.bytes <= REVISION_CACHE_BYTES);
        }
        assert!(cache.get(0, 0).is_none(), "the oldest went first");
        let last = fits as u32 * 2 - 1;
        let kept = cache.get(u64::from(last / 100), last % 100).unwrap();
        assert_eq!(kept, revision(u64::from(last / 100), last % 100, size));
        // A revision too large to be worth keeping is not kept.
        cache.put(&revision(99_999, 0, REVISION_CACHE_BYTES / 32));
        assert!(cache.get(99_999, 0).is_none());
    }
}
