//! The backend the ledger tests run on: SQLite files by default, or one local PostgreSQL
//! server for the whole test binary with `VERITRAIL_TEST_STORAGE=postgres` (`cargo xtask test`
//! runs the ledger tests both ways). [`create`] and [`open`] stand in for `Ledger::create` and
//! `Ledger::open` in tests that are about the journal, not about files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use veritrail_ledger::storage::postgres::server::LocalServer;
use veritrail_ledger::{Ledger, LedgerError, LedgerOptions, StorageChoice};

/// Whether this run stores ledgers in PostgreSQL.
pub fn postgres() -> bool {
    std::env::var("VERITRAIL_TEST_STORAGE").is_ok_and(|v| v == "postgres")
}

/// The test binary's PostgreSQL server, started on first use and stopped when the binary
/// exits (see `LocalServer`).
pub fn server() -> &'static LocalServer {
    static SERVER: OnceLock<LocalServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        LocalServer::start().unwrap_or_else(|e| {
            panic!(
                "{e} (the PostgreSQL tests need Debian's `postgresql` package; .ci/run installs it)"
            )
        })
    })
}

/// A new database on the test server.
pub fn database(hint: &str) -> StorageChoice {
    StorageChoice::Postgres(server().new_database(hint).unwrap())
}

/// The database every ledger of this run lives in (one schema each).
fn shared_database() -> StorageChoice {
    static DB: OnceLock<StorageChoice> = OnceLock::new();
    DB.get_or_init(|| database("ledgers")).clone()
}

/// Where each ledger a test named by path really is: with PostgreSQL, a path whose file name
/// is unique in the shared database (tests reuse names such as `bank.ledger`).
fn placed() -> &'static Mutex<HashMap<PathBuf, PathBuf>> {
    static PLACED: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    PLACED.get_or_init(Default::default)
}

/// `Ledger::create` on this run's backend.
pub fn create(path: &Path, name: &str, options: LedgerOptions) -> Result<Ledger, LedgerError> {
    if !postgres() {
        return Ledger::create(path, name, options);
    }
    let mut placed = placed().lock().unwrap();
    let unique = path.with_file_name(format!("l{}.ledger", placed.len()));
    placed.insert(path.to_owned(), unique.clone());
    drop(placed);
    Ledger::create(
        &unique,
        name,
        LedgerOptions {
            storage: shared_database(),
            ..options
        },
    )
}

/// `Ledger::open` on this run's backend, of a ledger [`create`] made.
pub fn open(path: &Path, options: LedgerOptions) -> Result<Ledger, LedgerError> {
    if !postgres() {
        return Ledger::open(path, options);
    }
    let unique = placed().lock().unwrap().get(path).cloned();
    let unique =
        unique.unwrap_or_else(|| panic!("{} was not made by backend::create", path.display()));
    Ledger::open(
        &unique,
        LedgerOptions {
            storage: shared_database(),
            ..options
        },
    )
}
