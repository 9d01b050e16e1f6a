//! `veritrail analytics export`: a ledger's audit records as Parquet, partitioned
//! `year=/month=/day=` for Athena, Trino and DuckDB (`veritrail-processor`'s `parquet`
//! module does the work; this module parses arguments, shows progress and prints a summary).
//!
//! Exit codes: 0 written, 2 the command line, the ledger or the output cannot be used.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use veritrail_processor::aws::Aws;
use veritrail_processor::parquet::{export_parquet, export_parquet_to_s3};

use crate::Outcome;
use crate::ledger_cmd::{LedgerArg, bad_input, open_database};

#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Write the current documents of a table (AuditRecords by default) as Parquet files under
    /// OUT/year=YYYY/month=MM/day=DD/ (a directory or s3://bucket/prefix), one row per record: the fields auditors filter on as
    /// columns, the whole record as JSON, and its place in the ledger (documentId,
    /// blockSequenceNo, revisionHash). A rerun replaces the days it writes.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    ledger: LedgerArg,
    /// Where to write: a directory (created if missing) or s3://bucket/prefix (real S3 or the
    /// emulator; the files are staged in the system's temporary directory first).
    #[arg(long, value_name = "DIR|S3_URL")]
    out: String,
    /// The AWS endpoint for an s3:// output (e.g. the emulator, http://127.0.0.1:4566)
    /// [default: AWS_ENDPOINT_URL, or AWS itself].
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The AWS region for an s3:// output [default: AWS_REGION, AWS_DEFAULT_REGION or the
    /// profile's].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// The table to export.
    #[arg(long, default_value = "AuditRecords")]
    table: String,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: AnalyticsCommand) -> Outcome {
    let AnalyticsCommand::Export(args) = cmd;
    let db = match open_database(&args.ledger.files(), false) {
        Ok(db) => db,
        Err(e) => return bad_input(args.json, e),
    };
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let mut drawn = false;
    let show = |done: u64, total: u64| {
        if progress {
            let mut err = std::io::stderr();
            let _ = write!(err, "\rexporting: {done}/{total} records");
            let _ = err.flush();
            drawn = true;
        }
    };
    let report = if args.out.starts_with("s3://") {
        match Aws::load(args.endpoint_url.as_deref(), args.region.as_deref()) {
            Ok(aws) => export_parquet_to_s3(
                &db,
                &args.table,
                &aws,
                &args.out,
                &std::env::temp_dir(),
                show,
            ),
            Err(e) => Err(e),
        }
    } else {
        export_parquet(&db, &args.table, &PathBuf::from(&args.out), show)
    };
    if drawn {
        eprintln!();
    }
    let report = match report {
        Ok(r) => r,
        Err(e) => return bad_input(args.json, e),
    };
    if args.json {
        println!(
            "{}",
            json!({
                "table": args.table,
                "out": args.out,
                "records": report.records,
                "undated": report.undated,
                "files": report.files,
            })
        );
    } else {
        println!(
            "{} records of {} in {} Parquet files under {}",
            report.records,
            args.table,
            report.files.len(),
            args.out
        );
        if report.undated > 0 {
            println!(
                "{} records without a readable eventTime are under year=__HIVE_DEFAULT_PARTITION__",
                report.undated
            );
        }
    }
    Outcome::Verified
}
