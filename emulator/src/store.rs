//! `<data-dir>/aws.sqlite`: the state of the emulated services (buckets and object versions,
//! trails, recorded events, ledger settings, the clock), one transaction per request.
//!
//! A request that can change something runs inside a [`Write`]: the store's one writer lock is
//! taken before the handler runs, the handler changes its service's memory and executes its SQL
//! on the same connection, the CloudTrail record of the call is inserted, and the transaction
//! commits before the answer leaves. Writes are therefore applied in the same order in memory
//! and on disk. A handler that fails is rolled back to a savepoint, so a refused request leaves
//! only its record. If a commit fails the store is poisoned: every later write is refused until
//! the process restarts from what is on disk, so nothing is ever acknowledged that was not
//! saved.
//!
//! Reads that need the disk (an object body not in the cache) use a small pool of read
//! connections (WAL lets them run beside the writer).
//!
//! WAL with `synchronous=NORMAL`: a killed process loses nothing it acknowledged; a power cut
//! may lose the last transactions (this is an emulator, not the evidence store).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

/// The format of `aws.sqlite` (`PRAGMA user_version`). Version 0 is the format before service
/// folders (one `versions` table, records and trail state as JSON); services migrate it.
pub const FORMAT: i64 = 2;

/// What went wrong with `aws.sqlite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// SQLite failed (disk full, I/O error, locked by another process …).
    Sqlite(String),
    /// A row could not be read back: the file was damaged or changed by hand.
    Corrupt(String),
    /// An earlier commit failed; the process must restart from what is on disk.
    Poisoned(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(m) => write!(f, "aws.sqlite: {m}"),
            Self::Corrupt(m) => write!(f, "aws.sqlite is damaged: {m}"),
            Self::Poisoned(m) => write!(
                f,
                "aws.sqlite could not save an earlier change ({m}); restart the emulator"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e.to_string())
    }
}

/// Read connections kept open.
const READERS: usize = 4;

/// The SQLite file of one emulator.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    checkpointer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    poisoned: Mutex<Option<String>>,
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // More than the services' statements, so none is parsed twice (rusqlite keeps 16).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    /// Opens (or creates) `<dir>/aws.sqlite`. A file of a newer format is refused.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("aws.sqlite");
        let conn = open_connection(&path, OpenFlags::default())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > FORMAT {
            return Err(StoreError::Corrupt(format!(
                "format {version} is newer than this veritrail understands ({FORMAT})"
            )));
        }
        Ok(Self {
            path,
            writer: Mutex::new(conn),
            checkpointer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
            poisoned: Mutex::new(None),
        })
    }

    /// The format the file had when opened (0: before service folders).
    pub fn format(&self) -> Result<i64, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Marks the file as the current format (after every service has migrated its tables).
    pub fn set_current_format(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch(&format!("PRAGMA user_version = {FORMAT}"))?;
        Ok(())
    }

    /// Starts a write: takes the writer lock and begins a transaction.
    pub fn write(&self) -> Result<Write<'_>, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = self
            .poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(StoreError::Poisoned(m));
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Write {
            conn,
            store: self,
            open: true,
        })
    }

    /// Runs `f` on a read connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if readers.len() < READERS {
            readers.push(conn);
        }
        Ok(result?)
    }

    /// Copies committed pages from the WAL into the database file without waiting for readers
    /// or the writer (a passive checkpoint); what it cannot copy now waits for the next one.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let mut slot = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(open_connection(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE,
            )?);
        }
        if let Some(conn) = slot.as_ref() {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    fn poison(&self, message: String) {
        *self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// An open write transaction (see the module documentation). Dropped without
/// [`Write::commit`], it rolls back.
#[derive(Debug)]
pub struct Write<'a> {
    conn: MutexGuard<'a, Connection>,
    store: &'a Store,
    open: bool,
}

impl Write<'_> {
    /// The connection, to execute this write's statements.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` inside a savepoint, rolled back if it fails (a refused request writes nothing).
    pub fn attempt<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.conn
            .execute_batch("SAVEPOINT attempt")
            .map_err(|e| E::from(e.into()))?;
        match f(self) {
            Ok(v) => {
                self.conn
                    .execute_batch("RELEASE attempt")
                    .map_err(|e| E::from(e.into()))?;
                Ok(v)
            }
            Err(e) => {
                self.conn
                    .execute_batch("ROLLBACK TO attempt; RELEASE attempt")
                    .map_err(|e| E::from(e.into()))?;
                Err(e)
            }
        }
    }

    /// Commits. If that fails the store is poisoned (see the module documentation).
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.open = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let message = e.to_string();
            let _ = self.conn.execute_batch("ROLLBACK");
            self.store.poison(message.clone());
            return Err(StoreError::Poisoned(message));
        }
        Ok(())
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_commit_or_roll_back_as_a_whole() {
        let dir = std::env::temp_dir().join(format!("veritrail-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        let mut w = store.write().unwrap();
        w.conn()
            .execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        let refused: Result<(), StoreError> = w.attempt(|w| {
            w.conn().execute("INSERT INTO t VALUES (2)", [])?;
            Err(StoreError::Corrupt("refused".into()))
        });
        assert!(refused.is_err());
        w.commit().unwrap();
        let count: i64 = store
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(count, 1);
        {
            let w = store.write().unwrap();
            w.conn().execute("INSERT INTO t VALUES (3)", []).unwrap();
        } // dropped: rolled back
        let count: i64 = store
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(count, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
