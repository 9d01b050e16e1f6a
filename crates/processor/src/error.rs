//! What can stop the processor. A bad event never does: it is a [`crate::Rejection`], counted
//! and reported, and the pipeline goes on. These errors are about the ledger, the files the
//! processor keeps, or its configuration.

use std::fmt;
use std::path::Path;

use veritrail_ledger::db::DbError;

/// Why the processor stopped, or could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessorError {
    /// The ledger refused or failed a write; what was acknowledged before stays.
    Ledger(DbError),
    /// A file the processor reads or keeps (a source, the checkpoint, the dead-letter file).
    Io { path: String, error: std::io::Error },
    /// A rule pack or option that cannot be used.
    Config(String),
}

impl ProcessorError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            error,
        }
    }
}

impl fmt::Display for ProcessorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ledger(e) => write!(f, "ledger: {e}"),
            Self::Io { path, error } => write!(f, "{path}: {error}"),
            Self::Config(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ProcessorError {}

impl From<DbError> for ProcessorError {
    fn from(e: DbError) -> Self {
        Self::Ledger(e)
    }
}
