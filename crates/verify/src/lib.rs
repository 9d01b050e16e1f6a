//! veritrail-verify: checks QLDB digests, proofs and blocks without trusting the code that
//! made them.
//!
//! Architecture Invariant: this crate never depends on `veritrail-ledger`. It shares only the
//! hashing primitives of `veritrail-core`, and both crates are held to the external vectors in
//! `../shared/vectors`. It does no I/O and no async; a failed verification is a value, never a
//! panic. Hashes are compared in constant time.

pub mod bundle;
pub mod checkpoint;
pub mod cloudtrail;
pub mod input;
pub mod journal;
pub mod merkle;
pub mod qldb;
pub mod validate_logs;

pub use bundle::{BundleInputError, BundleReport, Failure, verify_bundle};
pub use checkpoint::{Checkpoint, CheckpointError, verify_checkpoint, verify_note};
pub use input::{
    BlockAddress, Digest, InputError, WithProof, parse_block, parse_digest, parse_revision,
};
pub use journal::{JournalError, JournalVerifier, VerifiedBlock};
pub use merkle::{ConsistencyError, InclusionError, verify_consistency, verify_inclusion};
pub use qldb::{
    BlockError, BlockReport, BlockRules, ChainError, CheckedBlock, ProofError, RevisionError,
    RevisionReport, check_block, check_block_strict, check_block_with, verify_block,
    verify_block_with, verify_chain_link, verify_document_hash, verify_revision,
};
