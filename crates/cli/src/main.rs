//! `veritrail`: the one binary users run.
//!
//! Exit codes, for scripts: 0 when everything verified, 1 when a verification failed,
//! 2 when the input could not be read or the command line is wrong.

mod alerts_cmd;
mod analytics_cmd;
mod aws_store;
mod demo;
mod ingest_cmd;
mod input;
mod ledger_cmd;
mod provision_cmd;
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
    /// The architecture as desired state (evidence bucket with Object Lock and SSE-KMS, KMS
    /// key, validated multi-region trail, the packs' EventBridge rules to a queue with a
    /// dead-letter queue, alert topic, the processor's least-privilege role): plan, apply,
    /// destroy, against AWS or the emulator. Exit 0 done (plan: nothing to change), 1 changes
    /// pending or failed, 2 unusable configuration.
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
        Command::Demo { json } => demo::run(json),
        Command::ValidateLogs(_) | Command::Serve(_) | Command::Provision(_) => Outcome::BadInput,
    };
    outcome.into()
}
