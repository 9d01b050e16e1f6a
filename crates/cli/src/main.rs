//! `veritrail`: the one binary users run.
//!
//! Exit codes, for scripts: 0 when everything verified, 1 when a verification failed,
//! 2 when the input could not be read or the command line is wrong.

/// mimalloc, not the C library's allocator: the processor's many small, short-lived
/// allocations (parsed records, Ion values) spread over threads cost about half as much
/// (`cargo xtask bench ingest` ran twice as fast end to end).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod alerts_cmd;
mod analytics_cmd;
mod aws_store;
mod check_cmd;
mod dashboard;
mod demo;
mod evidence_cmd;
mod ingest_cmd;
mod input;
mod ledger_cmd;
mod logging;
mod provision_cmd;
mod replicate_cmd;
mod report_cmd;
mod rules_cmd;
mod serve_cmd;
mod validate_logs_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Verifiable audit evidence for AWS: a QLDB-compatible ledger and its verifier.
#[derive(Debug, Parser)]
#[command(name = "veritrail", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify saved QLDB output (`aws qldb get-digest`, `get-revision`, `get-block`) offline.
    #[command(subcommand)]
    Verify(verify_cmd::VerifyCommand),
    /// Create and use a QLDB-compatible ledger: append, digest, block, revision, checkpoint, verify.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCommand),
    /// Validate CloudTrail log files and their signed digest chain, as `aws cloudtrail
    /// validate-logs` does (same messages and exit codes: 0 valid, 1 something invalid, 255
    /// could not run), from S3 (credentials, region and AWS_ENDPOINT_URL as for the AWS CLI) or
    /// a local mirror.
    ValidateLogs(validate_logs_cmd::ValidateLogs),
    /// EventBridge rules: the built-in compliance packs (CIS AWS Foundations monitoring,
    /// audit-trail protection), which rules fire on a file of CloudTrail events, and checking your
    /// own pack.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Ingest CloudTrail log files and EventBridge events from a directory into a ledger's
    /// AuditRecords (idempotently by eventID; files done are remembered), through the rule
    /// packs into Alerts. Exit 0 all stored, 1 some events rejected, 2 unusable input.
    Ingest(ingest_cmd::IngestArgs),
    /// The alerts recorded in a ledger, and their review (ack, resolve) as ledger revisions.
    #[command(subcommand)]
    Alerts(alerts_cmd::AlertsCommand),
    /// Evidence for auditors: signed evidence bundles of a period (checked by `veritrail verify
    /// bundle`), and the auditor's questions answered with revision proofs.
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// Keep a verified replica of a ledger: from a QLDB journal stream in Kinesis
    /// (--from-stream ARN) or a journal export in S3 (--from-export s3://bucket/prefix), every
    /// block hash and chain link verified before the replica is written (exit 1 when a block
    /// does not verify, with the reason).
    Replicate(replicate_cmd::ReplicateArgs),
    /// The analytics side: audit records as Parquet by year/month/day, for Athena, Trino and
    /// DuckDB.
    #[command(subcommand)]
    Analytics(analytics_cmd::AnalyticsCommand),
    /// Serve the AWS emulator (QLDB, S3 with Object Lock, CloudTrail with signed log delivery,
    /// EventBridge, SQS, SNS) for SDKs, drivers and the AWS CLI, and by default a working audit
    /// trail in it: ledger `audit`, an Object Lock bucket with a validated trail, the shipped
    /// rule packs as EventBridge rules to a queue that the built-in processor consumes, alerts
    /// to an SNS topic (--no-defaults: the bare emulator). Stops cleanly on SIGINT or SIGTERM.
    Serve(serve_cmd::ServeCmd),
    /// Posture checks: is the trail multi-region, logging and validated, the log bucket locked
    /// (COMPLIANCE), encrypted with a rotating key and private, every pack rule deployed with a
    /// working target and a subscribed alert topic, the logs and the ledger intact? Each check
    /// names the requirements it supports and the API responses it judged. Exit 0 all PASS, 1
    /// a FAIL or ERROR, 2 usage error.
    Check(check_cmd::CheckArgs),
    /// A framework report (PCI DSS v4.0.1, SOC 2, ISO/IEC 27001:2022, HIPAA) from the posture
    /// checks, the pack rules and the ledger's records: Markdown, HTML, JSON or OCSF findings.
    Report(report_cmd::ReportArgs),
    /// The architecture as desired state (evidence bucket with Object Lock and SSE-KMS, KMS
    /// key, validated multi-region trail, the packs' EventBridge rules to a queue with a
    /// dead-letter queue, alert topic with an inbox queue, the processor's least-privilege
    /// role): plan, apply, destroy, against AWS or the emulator. Exit 0 done (plan: nothing to
    /// change), 1 changes pending or failed, 2 unusable configuration.
    #[command(subcommand)]
    Provision(provision_cmd::ProvisionCommand),
    /// Verify the sample QLDB proofs built into this binary (real vehicle-registration output).
    Demo {
        /// Print the result as one JSON object per check.
        #[arg(long)]
        json: bool,
    },
}

/// What a command found, mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    Failed,
    BadInput,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Verified => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::BadInput => ExitCode::from(2),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.command {
        Command::Serve(_) => tracing_subscriber::filter::LevelFilter::INFO,
        _ => tracing_subscriber::filter::LevelFilter::WARN,
    };
    if let Err(e) = logging::init(level) {
        eprintln!("veritrail: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = ledger_cmd::check_storage_env() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let cli = match cli.command {
        Command::ValidateLogs(args) => return validate_logs_cmd::run(args),
        Command::Serve(args) => return serve_cmd::run(args),
        Command::Provision(cmd) => return provision_cmd::run(cmd),
        _ => cli,
    };
    let outcome = match cli.command {
        Command::Verify(cmd) => verify_cmd::run(cmd),
        Command::Ledger(cmd) => ledger_cmd::run(cmd),
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Alerts(cmd) => alerts_cmd::run(cmd),
        Command::Analytics(cmd) => analytics_cmd::run(cmd),
        Command::Evidence(cmd) => evidence_cmd::run(cmd),
        Command::Check(args) => check_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Replicate(args) => replicate_cmd::run(args),
        Command::Demo { json } => demo::run(json),
        Command::ValidateLogs(_) | Command::Serve(_) | Command::Provision(_) => Outcome::BadInput,
    };
    outcome.into()
}
