//! [`LedgerError`]: every way a ledger operation can fail, each naming what is wrong.

use std::fmt;

use crate::storage::StorageError;

/// A ledger operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerError {
    /// The storage failed or holds something unreadable.
    Storage(StorageError),
    /// A ledger name QLDB would refuse.
    InvalidName(String),
    /// A block sequence number after the last block.
    SequencePastTip { seq: u64, last: u64 },
    /// A digest tip before the block whose proof was asked for.
    TipBeforeBlock { tip: u64, block: u64 },
    /// A digest tip after the last block.
    TipPastEnd { tip: u64, last: u64 },
    /// A strand id that is not this ledger's.
    WrongStrand { given: String, ledger: String },
    /// The document has no revision in that block.
    DocumentNotInBlock { document_id: String, seq: u64 },
    /// A transaction that cannot be committed as given.
    InvalidTransaction(String),
    /// Consistency proof sizes out of order or range.
    InvalidRange(String),
    /// Key or checkpoint files.
    Keys(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Storage(e) => write!(f, "{e}"),
            Self::InvalidName(n) => write!(
                f,
                "invalid ledger name `{n}`: use 1 to 32 letters, digits and hyphens, not all digits, no leading, trailing or double hyphen"
            ),
            Self::SequencePastTip { seq, last } => {
                write!(f, "block {seq} does not exist: the last block is {last}")
            }
            Self::TipBeforeBlock { tip, block } => write!(
                f,
                "digest tip {tip} comes before block {block}: a proof needs a tip at or after the block"
            ),
            Self::TipPastEnd { tip, last } => {
                write!(
                    f,
                    "digest tip {tip} does not exist: the last block is {last}"
                )
            }
            Self::WrongStrand { given, ledger } => {
                write!(f, "strand {given} is not this ledger's strand {ledger}")
            }
            Self::DocumentNotInBlock { document_id, seq } => {
                write!(f, "document {document_id} has no revision in block {seq}")
            }
            Self::InvalidTransaction(d) => write!(f, "invalid transaction: {d}"),
            Self::InvalidRange(d) => write!(f, "{d}"),
            Self::Keys(d) => write!(f, "{d}"),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<StorageError> for LedgerError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}
