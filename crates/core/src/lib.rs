//! veritrail-core: the pieces everything else in veritrail rests on.
//!
//! - [`hash`]: [`Hash32`], QLDB's `dot` combine, the carry-up Merkle root and proof folding.
//! - [`ion_hash`]: the Ion Hash algorithm over `ion-rs` values, with a pluggable hash function.
//! - [`qldb`]: QLDB's hashing rules for revisions, blocks and commit digests.
//! - [`record`]: [`AuditRecord`], the five audit elements of a CloudTrail record, kept losslessly.
//! - [`time`] and [`id`]: injected clocks and id sources; QLDB's timestamp and id shapes.
//! - [`json_ion`]: the lossless mapping between JSON values and Ion values.
//! - [`ion_input`]: reading one Ion value from outside within size and nesting-depth limits.
//! - [`wildcard`]: IAM's wildcard match and PartiQL's `LIKE`, one matcher.
//!
//! Architecture Invariant: this crate does no I/O and never panics on untrusted input;
//! every parse of outside data returns a `Result`.

pub mod hash;
pub mod id;
pub mod ion_hash;
pub mod ion_input;
pub mod json_ion;
pub mod qldb;
pub mod record;
pub mod time;
pub mod wildcard;

pub use hash::{Hash32, dot, fold_proof, merkle_root};
pub use ion_hash::{IonHasher, Sha256Hasher, ion_hash, ion_hash_with};
pub use record::{AuditRecord, RecordError};

/// Re-exported so that users of the core types need not pin `ion-rs` themselves.
pub use ion_rs;
