//! What the emulator's own API fails with (opening its state, saving it, the delivery tasks):
//! one variant per kind of failure. Errors a client sees are not these: each service answers
//! in its protocol's shape with AWS's codes (`wire::error` and the services' `error.rs`).

use std::path::PathBuf;

use crate::keys::KeyError;
use crate::store::StoreError;

/// Why the emulator could not open, save or serve its state.
#[derive(Debug)]
pub enum EmulatorError {
    /// A directory could not be made or used.
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
    /// `aws.sqlite` failed, holds a damaged row, or could not save an earlier change.
    Store(StoreError),
    /// A ledger of the QLDB service could not be opened.
    Ledger {
        /// The journal's file, or the ledger and its database.
        ledger: String,
        error: veritrail_ledger::LedgerError,
    },
    /// The key directory (`--key-dir`).
    Keys(KeyError),
    /// A service's saved state cannot be served: which service, and what is wrong.
    State {
        service: &'static str,
        message: String,
    },
    /// The clock could not be moved to the time it last showed.
    Clock(String),
    /// A task of the server failed (it panicked, or the runtime stopped).
    Task(String),
}

impl EmulatorError {
    /// A service's `open` refusing its saved state.
    pub(crate) fn state(service: &'static str) -> impl FnOnce(String) -> Self {
        move |message| Self::State { service, message }
    }
}

impl std::fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Store(e) => e.fmt(f),
            Self::Ledger { ledger, error } => write!(f, "{ledger}: {error}"),
            Self::Keys(e) => e.fmt(f),
            Self::State { service, message } => {
                write!(f, "the saved {service} state cannot be served: {message}")
            }
            Self::Clock(m) => write!(f, "the clock: {m}"),
            Self::Task(m) => write!(f, "a task of the emulator failed: {m}"),
        }
    }
}

impl std::error::Error for EmulatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Dir { error, .. } => Some(error),
            Self::Ledger { error, .. } => Some(error),
            Self::Keys(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for EmulatorError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<rusqlite::Error> for EmulatorError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<KeyError> for EmulatorError {
    fn from(e: KeyError) -> Self {
        Self::Keys(e)
    }
}
