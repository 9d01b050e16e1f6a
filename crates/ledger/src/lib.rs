//! veritrail-ledger: the journal engine that replaces QLDB's.
//!
//! One strand of blocks, one block per committed transaction, hashed exactly by QLDB's rules
//! (`../shared/specs/qldb.md` §2-3), with a Merkle accumulator over block hashes for digests,
//! inclusion proofs and consistency proofs, and Ed25519-signed checkpoints.
//!
//! - [`db`]: tables, documents and PartiQL transactions with optimistic concurrency control.
//! - [`append`]: idempotent bulk appends of documents, the write path of ingest.
//! - [`partiql`]: QLDB's PartiQL subset: parser and evaluator.
//! - [`journal`]: [`Ledger`], committing transactions and answering GetDigest/GetBlock/GetRevision.
//! - [`export`]: journal export in QLDB's S3 layout, and import of such exports.
//! - [`merkle`]: the accumulator math over persisted complete-subtree hashes.
//! - [`storage`]: the [`Storage`] trait, its SQLite and PostgreSQL implementations, and
//!   [`AnyStorage`], either one.
//! - [`checkpoint`]: signed checkpoints (C2SP signed-note format) and their keys.
//! - [`files`]: where a ledger's database, keys and checkpoints live on disk.
//! - [`verification`]: a whole ledger checked by `veritrail-verify`, and verified imports.
//! - [`limits`]: QLDB's quotas and the nesting bounds that keep hostile input off the stack.

pub mod append;
pub mod checkpoint;
pub mod db;
pub mod error;
pub mod export;
pub mod files;
pub mod journal;
pub mod limits;
pub mod merkle;
pub mod partiql;
pub mod storage;
pub mod verification;

pub use append::{AppendReport, AppendRequest};
pub use error::LedgerError;
pub use journal::{Committed, Ledger, LedgerOptions, NewTransaction, Statement, Write};
pub use storage::{
    AnyStorage, Durability, PostgresStorage, PostgresTarget, SqliteStorage, Storage, StorageChoice,
    StorageError, TableStatus,
};
