//! veritrail-processor: the audit processor. CloudTrail activity into the ledger's
//! `AuditRecords`, through the rule packs into `Alerts`, and alerts out to whoever must see them.
//!
//! - [`source`]: the [`Source`] trait (batches handed over, acknowledged once durable), the local
//!   directory source (`.json`, `.json.gz`, `.jsonl`) and its durable [`Checkpoint`].
//! - [`document`]: a CloudTrail record or an EventBridge event as the record to store.
//! - [`pipeline`]: [`Processor`]: validation, rules, idempotent appends keyed by `eventID` and
//!   `alertId`, delivery, acknowledgement, in that order; its [`Counters`].
//! - [`alerts`]: one machine over all packs' rules, alert documents, and their review
//!   (acknowledge, resolve) as ledger revisions.
//! - [`notify`]: webhook delivery with retries on an injected pause, a delivery log and a
//!   dead-letter file.
//! - [`aws`]: the AWS sources (an SQS queue, CloudTrail log files in S3, LookupEvents) and
//!   alerts to an SNS topic, through the AWS SDK for Rust.
//! - [`listen`]: EventBridge events over HTTP (what an API destination posts), each answered
//!   once its record is durable.
//! - [`metrics`]: the counters in Prometheus text, and a `/metrics` endpoint.
//! - [`parquet`]: the analytics export: current records as Parquet by `year=/month=/day=`.
//!
//! Architecture Invariant: a batch is acknowledged to its source only after its records and
//! alerts are durable in the ledger; appends are idempotent by `eventID` and `alertId`, so a
//! crash at any instant loses nothing acknowledged and a rerun stores nothing twice.
//!
//! Architecture Invariant: no bad event stops the pipeline: it is a [`Rejection`], counted and
//! reported; only a failing ledger or file of the processor's own stops it.

pub mod alerts;
pub mod aws;
pub mod document;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod notify;
pub mod parquet;
pub mod pipeline;
pub mod source;

use std::path::PathBuf;

pub use alerts::RuleSet;
pub use document::Rejection;
pub use error::ProcessorError;
pub use pipeline::{Counters, Observer, Processor, ProcessorOptions, Summary};
pub use source::{Checkpoint, DirSource, Source};

use veritrail_ledger::files::LedgerFiles;

/// Where the processor keeps its state for a ledger: `<data-dir>/processor/<name>/`
/// (`ingested.jsonl`, the checkpoint of files done; `delivered.jsonl`; `dead-letter.jsonl`).
pub fn state_dir(files: &LedgerFiles) -> PathBuf {
    files.data_dir.join("processor").join(&files.name)
}

/// The checkpoint file of the directory source in a state directory.
pub fn checkpoint_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("ingested.jsonl")
}
