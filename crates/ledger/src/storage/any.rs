//! [`AnyStorage`]: the ledger's storage, SQLite or PostgreSQL, chosen when it is opened
//! ([`StorageChoice`]), so that `Ledger` and `Database` have one type for both backends.
//!
//! Dispatch is one `match` per storage call, which costs nothing next to the query it makes.

use std::path::Path;
use std::sync::Arc;

use veritrail_core::Hash32;

use super::postgres::{PostgresStorage, PostgresTarget};
use super::{
    CommitBatch, Durability, RevisionRef, SqliteStorage, Storage, StorageError, StoredBlock,
    StoredRevision, SyncBarrier, TableRow,
};

/// Where ledgers are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageChoice {
    /// One SQLite file per ledger, at the ledger's path. The default.
    #[default]
    Sqlite,
    /// A PostgreSQL database, one schema per ledger, named after the file name of the ledger's
    /// path without its extension (`<data-dir>/<name>.ledger` is ledger `<name>`).
    Postgres(PostgresTarget),
}

impl StorageChoice {
    /// `sqlite` (or nothing) for the default, or a `postgres://` / `postgresql://` URL.
    pub fn parse(spec: &str) -> Result<Self, StorageError> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "sqlite" {
            return Ok(Self::Sqlite);
        }
        PostgresTarget::parse(spec).map(Self::Postgres)
    }

    /// What a message shows: `sqlite`, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite => "sqlite".into(),
            Self::Postgres(t) => t.to_string(),
        }
    }

    /// The storage `VERITRAIL_STORAGE` names, `None` when it is not set; an error names the
    /// variable.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var("VERITRAIL_STORAGE") {
            Ok(spec) => Self::parse(&spec)
                .map(Some)
                .map_err(|e| format!("VERITRAIL_STORAGE: {e}")),
            Err(_) => Ok(None),
        }
    }

    /// What [`StorageChoice::parse`] reads back as this choice, password included: for a child
    /// process's environment (`VERITRAIL_STORAGE`), never for a message.
    pub fn spec(&self) -> &str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(t) => t.url(),
        }
    }

    /// Checks that the storage can be used now: for PostgreSQL, that the server answers and
    /// lets this user in.
    pub fn check_reachable(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite => Ok(()),
            Self::Postgres(t) => t.check_reachable(),
        }
    }

    /// Whether a ledger is stored at `path` (for SQLite, whether its file exists).
    pub fn ledger_exists(&self, path: &Path) -> Result<bool, StorageError> {
        match self {
            Self::Sqlite => Ok(path.exists()),
            Self::Postgres(t) => t.ledger_exists(&ledger_name(path)?),
        }
    }

    /// Removes the ledger stored at `path` (nothing if there is none). Close it first: for
    /// SQLite the file and its `-wal` and `-shm` companions are removed; PostgreSQL refuses
    /// while any session holds the ledger's writer lease.
    pub fn delete_ledger(&self, path: &Path) -> Result<(), StorageError> {
        match self {
            Self::Sqlite => {
                for file in [
                    path.to_owned(),
                    path.with_extension("ledger-wal"),
                    path.with_extension("ledger-shm"),
                ] {
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StorageError::Backend(format!(
                                "cannot remove {}: {e}",
                                file.display()
                            )));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            Self::Postgres(t) => t.delete_ledger(&ledger_name(path)?),
        }
    }
}

/// A ledger's storage on either backend. There is one per open ledger, so the SQLite variant
/// (a few hundred bytes: connection, WAL sync, directory cache) stays inline rather than
/// adding an indirection to every storage call.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyStorage {
    Sqlite(SqliteStorage),
    Postgres(Box<PostgresStorage>),
}

/// The ledger's name in a database: the file name of its path without the extension.
fn ledger_name(path: &Path) -> Result<String, StorageError> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            StorageError::Backend(format!(
                "{} does not end in a ledger's name",
                path.display()
            ))
        })
}

impl AnyStorage {
    /// Creates a new ledger's storage with its metadata.
    pub fn create(
        choice: &StorageChoice,
        path: &Path,
        meta: &[(&str, String)],
        durability: Durability,
    ) -> Result<Self, StorageError> {
        match choice {
            StorageChoice::Sqlite => {
                SqliteStorage::create(path, meta, durability).map(Self::Sqlite)
            }
            StorageChoice::Postgres(t) => {
                PostgresStorage::create(t, &ledger_name(path)?, meta, durability)
                    .map(|s| Self::Postgres(Box::new(s)))
            }
        }
    }

    /// Opens an existing ledger's storage.
    pub fn open(
        choice: &StorageChoice,
        path: &Path,
        durability: Durability,
        read_only: bool,
    ) -> Result<Self, StorageError> {
        match choice {
            StorageChoice::Sqlite => {
                SqliteStorage::open(path, durability, read_only).map(Self::Sqlite)
            }
            StorageChoice::Postgres(t) => {
                PostgresStorage::open(t, &ledger_name(path)?, durability, read_only)
                    .map(|s| Self::Postgres(Box::new(s)))
            }
        }
    }

    /// [`Storage::commit`], with metadata set (inserted or replaced) in the same transaction.
    pub fn commit_with_meta(
        &mut self,
        batches: &[CommitBatch],
        meta: &[(&str, String)],
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(s) => s.commit_with_meta(batches, meta),
            Self::Postgres(s) => s.commit_with_meta(batches, meta),
        }
    }

    /// Runs raw SQL: for tests that play an insider tampering with the store.
    pub fn danger_execute(&self, sql: &str) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(s) => s.danger_execute(sql),
            Self::Postgres(s) => s.danger_execute(sql),
        }
    }
}

/// Forwards each call to the backend in use.
macro_rules! forward {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStorage::Sqlite($s) => $call,
            AnyStorage::Postgres($s) => $call,
        }
    };
}

impl Storage for AnyStorage {
    fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        forward!(self, s => s.meta(key))
    }
    fn block_count(&self) -> Result<u64, StorageError> {
        forward!(self, s => s.block_count())
    }
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash32>, StorageError> {
        forward!(self, s => s.node(level, index))
    }
    fn block(&self, seq: u64) -> Result<Option<StoredBlock>, StorageError> {
        forward!(self, s => s.block(seq))
    }
    fn revisions(&self, seq: u64) -> Result<Vec<StoredRevision>, StorageError> {
        forward!(self, s => s.revisions(seq))
    }
    fn revision(
        &self,
        seq: u64,
        document_id: &str,
    ) -> Result<Option<StoredRevision>, StorageError> {
        forward!(self, s => s.revision(seq, document_id))
    }
    fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        forward!(self, s => s.commit(batches))
    }
    fn revision_at(&self, seq: u64, index: u32) -> Result<Option<StoredRevision>, StorageError> {
        forward!(self, s => s.revision_at(seq, index))
    }
    fn tables(&self) -> Result<Vec<TableRow>, StorageError> {
        forward!(self, s => s.tables())
    }
    fn current(&self, document_id: &str) -> Result<Option<RevisionRef>, StorageError> {
        forward!(self, s => s.current(document_id))
    }
    fn current_in_table(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        forward!(self, s => s.current_in_table(table_id))
    }
    fn history(&self, table_id: &str) -> Result<Vec<RevisionRef>, StorageError> {
        forward!(self, s => s.history(table_id))
    }
    fn index_lookup(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<String>, StorageError> {
        forward!(self, s => s.index_lookup(table_id, field, key))
    }
    fn keys_indexed(
        &self,
        table_id: &str,
        field: &str,
        keys: &[&[u8]],
    ) -> Result<Vec<bool>, StorageError> {
        forward!(self, s => s.keys_indexed(table_id, field, keys))
    }

    fn index_lookup_current(
        &self,
        table_id: &str,
        field: &str,
        key: &[u8],
    ) -> Result<Vec<RevisionRef>, StorageError> {
        forward!(self, s => s.index_lookup_current(table_id, field, key))
    }
    fn commit_unsynced(&mut self, batches: &[CommitBatch]) -> Result<(), StorageError> {
        forward!(self, s => s.commit_unsynced(batches))
    }
    fn barrier(&self) -> Option<Arc<dyn SyncBarrier>> {
        forward!(self, s => s.barrier())
    }
    fn acquire_writer(&mut self) -> Result<(), StorageError> {
        forward!(self, s => s.acquire_writer())
    }
    fn shared(&self) -> bool {
        forward!(self, s => s.shared())
    }
}
