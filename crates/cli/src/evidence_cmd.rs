//! `veritrail evidence bundle|query` and `veritrail verify bundle`: signed evidence bundles of a
//! period, the auditor's questions answered with revision proofs, and the offline check of a
//! bundle by `veritrail-verify` alone.
//!
//! Exit codes: `evidence …` 0 written, 2 unusable input; `verify bundle` 0 valid, 1 invalid
//! (each failing part named), 2 unreadable input.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};
use veritrail_evidence::bundle::{BundleRequest, build};
use veritrail_evidence::query::{self, Period};
use veritrail_ledger::Ledger;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::files::LedgerFiles;
use veritrail_verify::bundle::{BundleReport, verify_bundle};
use veritrail_verify::validate_logs::{format_time, parse_time};

use crate::Outcome;
use crate::check_cmd::{PostureArgs, run_checks};
use crate::input::{self, Limit};
use crate::ledger_cmd::{LedgerArg, bad_input, require_ledger};
use crate::validate_logs_cmd::{TrailLogs, json_report_for};
use crate::verify_cmd::report;

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write a signed evidence bundle of a period: the ledger's digest and a checkpoint signed
    /// now, a consistency proof from --previous, the period's records and its alerts with every
    /// review (each with its revision proof), the validate-logs report, posture results, query
    /// answers, the public keys, and a manifest of SHA-256 hashes signed with the ledger's key.
    Bundle(BundleArgs),
    /// Answer an auditor's question with records and their revision proofs.
    #[command(subcommand)]
    Query(QueryCommand),
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    ledger: LedgerArg,
    #[command(flatten)]
    period: PeriodArgs,
    /// Where to write the bundle (replaced whole, never left half-written).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The previous bundle: this one carries the proof that its digest extends the previous one.
    #[arg(long, value_name = "FILE")]
    previous: Option<PathBuf>,
    /// A `veritrail validate-logs --json` report for the period to include.
    #[arg(long, value_name = "FILE", conflicts_with = "trail_arn")]
    validate_logs_report: Option<PathBuf>,
    /// Run validate-logs for the period on this trail and include its report and public keys.
    #[arg(long)]
    trail_arn: Option<String>,
    /// The trail's bucket (with --trail-arn; default: the trail's, from DescribeTrails).
    #[arg(long, requires = "trail_arn")]
    s3_bucket: Option<String>,
    /// The trail's key prefix (with --trail-arn).
    #[arg(long, requires = "trail_arn")]
    s3_prefix: Option<String>,
    /// A local mirror of the bucket (with --trail-arn and --s3-bucket; see `validate-logs --help`).
    #[arg(long, value_name = "DIR", requires = "trail_arn")]
    local_dir: Option<PathBuf>,
    /// Posture results to include (`veritrail check --json` output).
    #[arg(long, value_name = "FILE")]
    posture: Option<PathBuf>,
    /// Run the posture checks now, as `veritrail check` runs them (standard credential chain,
    /// `AWS_ENDPOINT_URL`; the trail of --trail-arn, else the first multi-region one; this
    /// ledger's integrity), and include their results.
    #[arg(long, conflicts_with = "posture")]
    check: bool,
    /// Query answers to include (`veritrail evidence query … --out FILE`), proved again under
    /// the bundle's digest; repeatable.
    #[arg(long = "query", value_name = "FILE")]
    queries: Vec<PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct QueryCommon {
    #[command(flatten)]
    ledger: LedgerArg,
    #[command(flatten)]
    period: PeriodArgs,
    /// Print the answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the answer as JSON to FILE (for `evidence bundle --query FILE`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Who did what to a resource in the period, from where, with what outcome.
    Who {
        #[command(flatten)]
        common: QueryCommon,
        /// An ARN or a name (bucket, trail, role, key) the records' resources or request
        /// parameters name.
        #[arg(long, value_name = "ARN-OR-NAME")]
        resource: String,
    },
    /// Every StopLogging, DeleteTrail and UpdateTrail that weakens logging in the period, and
    /// the records of the next minutes.
    Stops {
        #[command(flatten)]
        common: QueryCommon,
        /// How many minutes after each stop to show.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
    },
    /// Every alert raised on a record of the period, and its review history.
    Alerts {
        #[command(flatten)]
        common: QueryCommon,
    },
}

/// `--from T1 --to T2`: the period `[T1, T2)` on the records' `eventTime`.
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// The period's start (UTC, e.g. 2024-01-01T00:00:00Z), included.
    #[arg(long)]
    from: String,
    /// The period's end (UTC), excluded.
    #[arg(long)]
    to: String,
}

impl PeriodArgs {
    fn period(&self) -> Result<Period, String> {
        period(&self.from, &self.to)
    }
}

fn period(from: &str, to: &str) -> Result<Period, String> {
    let time = |flag: &str, t: &str| {
        parse_time(t)
            .ok_or_else(|| format!("{flag} `{t}` is not a UTC time like 2024-01-01T00:00:00Z"))
    };
    Period::new(time("--from", from)?, time("--to", to)?).map_err(|e| e.to_string())
}

/// A ledger opened read-only, as a database for queries.
fn open_read_only(files: &LedgerFiles) -> Result<Database, String> {
    require_ledger(files)?;
    Ledger::open_read_only(&files.journal(), files.options())
        .map(|l| Database::new(l, DatabaseOptions::default()))
        .map_err(|e| e.to_string())
}

fn read(path: &Path, flag: &str, limit: Limit) -> Result<String, String> {
    input::read_text(path, limit).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// Writes `text` to `path` through a temporary file beside it, so a reader never sees half.
fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp-veritrail");
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

pub fn run(cmd: EvidenceCommand) -> Outcome {
    match cmd {
        EvidenceCommand::Bundle(args) => bundle(&args),
        EvidenceCommand::Query(q) => run_query(q),
    }
}

fn bundle(a: &BundleArgs) -> Outcome {
    match make_bundle(a) {
        Ok(summary) => {
            let line = format!(
                "wrote {}: ledger {}, {} to {}, digest {} at tip {}; {} records, {} alert revisions, {} query rows{}",
                a.out.display(),
                summary["ledger"].as_str().unwrap_or("-"),
                summary["from"].as_str().unwrap_or("-"),
                summary["to"].as_str().unwrap_or("-"),
                summary["digest"].as_str().unwrap_or("-"),
                summary["tip"],
                summary["records"],
                summary["alerts"],
                summary["queryRows"],
                summary["previousTip"]
                    .as_u64()
                    .map(|t| format!("; chained to the previous bundle at tip {t}"))
                    .unwrap_or_default()
            );
            report(a.json, Outcome::Verified, &line, summary)
        }
        Err(e) => bad_input(a.json, e),
    }
}

fn make_bundle(a: &BundleArgs) -> Result<Json, String> {
    let period = a.period.period()?;
    let files = a.ledger.files();
    let previous = match &a.previous {
        Some(p) => Some(
            input::read_bytes(p, input::BUNDLE)
                .map_err(|e| format!("--previous {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let mut cloudtrail_keys = None;
    let validate_logs = match (&a.validate_logs_report, &a.trail_arn) {
        (Some(p), _) => Some(read(p, "--validate-logs-report", input::REPORT)?),
        (None, Some(arn)) => {
            eprintln!("validating the trail's log files for the period");
            let trail = TrailLogs {
                trail_arn: arn.clone(),
                s3_bucket: a.s3_bucket.clone(),
                s3_prefix: a.s3_prefix.clone(),
                local_dir: a.local_dir.clone(),
            };
            let (report, keys) = json_report_for(&trail, period.from, period.to)
                .map_err(|e| format!("validate-logs: {e}"))?;
            cloudtrail_keys = Some(Json::Array(keys));
            Some(report.to_string())
        }
        (None, None) => None,
    };
    let posture = match (&a.posture, a.check) {
        (Some(p), _) => Some(read(p, "--posture", input::REPORT)?),
        (None, true) => {
            eprintln!("running the posture checks");
            let args = PostureArgs::of_ledger(a.trail_arn.clone(), &a.ledger);
            Some(
                run_checks(&args)
                    .map_err(|e| format!("--check: {e}"))?
                    .to_string(),
            )
        }
        (None, false) => None,
    };
    let mut queries = Vec::new();
    for p in &a.queries {
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("query")
            .to_owned();
        if queries.iter().any(|(n, _)| *n == name) {
            return Err(format!("--query {}: two answers named {name}", p.display()));
        }
        queries.push((name, read(p, "--query", input::BUNDLE)?));
    }
    let db = open_read_only(&files)?;
    let request = BundleRequest {
        period,
        previous,
        validate_logs,
        cloudtrail_keys,
        posture,
        queries,
    };
    let mut progress = |m: &str| eprintln!("{m}");
    let b = build(&db, &files, &request, &mut progress).map_err(|e| e.to_string())?;
    write_whole(&a.out, &b.text)?;
    Ok(json!({
        "out": a.out,
        "ledger": files.name,
        "from": format_time(period.from),
        "to": format_time(period.to),
        "digest": b.manifest.digest.to_base64(),
        "tip": b.manifest.tip,
        "checkpoint": b.checkpoint,
        "records": b.records,
        "alerts": b.alerts,
        "queryRows": b.query_rows,
        "previousTip": b.previous_tip,
        "parts": b.manifest.parts.iter().map(|p| json!({"name": p.name, "sha256": p.sha256.to_hex(), "entries": p.entries})).collect::<Vec<_>>(),
    }))
}

fn run_query(q: QueryCommand) -> Outcome {
    let (QueryCommand::Who { common, .. }
    | QueryCommand::Stops { common, .. }
    | QueryCommand::Alerts { common }) = &q;
    let answer = common.period.period().and_then(|p| {
        let db = open_read_only(&common.ledger.files())?;
        match &q {
            QueryCommand::Who { resource, .. } => query::who(&db, resource, p),
            QueryCommand::Stops { minutes, .. } => query::stops(&db, p, *minutes),
            QueryCommand::Alerts { .. } => query::alerts(&db, p),
        }
        .map_err(|e| e.to_string())
    });
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return bad_input(common.json, e),
    };
    let json = answer.to_json();
    if let Some(out) = &common.out {
        if let Err(e) = write_whole(out, &json.to_string()) {
            return bad_input(common.json, e);
        }
    }
    if common.json {
        println!("{json}");
    } else {
        print!("{}", answer.to_table());
        eprintln!(
            "{} rows, each with its revision proof against digest {} at tip {}",
            answer.rows.len(),
            answer.digest.digest,
            answer.digest.tip
        );
    }
    Outcome::Verified
}

/// `veritrail verify bundle FILE [--previous FILE] --key PUB`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle (`veritrail evidence bundle` output).
    file: PathBuf,
    /// The previous bundle: check that this bundle's digest extends its digest.
    #[arg(long, value_name = "FILE")]
    previous: Option<PathBuf>,
    /// The ledger's verifier key: a file (`<key-dir>/<name>.pub`) or the key itself
    /// (`veritrail/<name>+<hash>+<base64>`).
    #[arg(long, value_name = "PUB")]
    key: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The bundle, the previous bundle and the verifier key `verify bundle` was given.
type Loaded = (Vec<u8>, Option<Vec<u8>>, String);

fn load(a: &VerifyBundleArgs) -> Result<Loaded, String> {
    let key = if Path::new(&a.key).is_file() {
        read(Path::new(&a.key), "--key", input::VERIFIER_KEY)?
    } else if a.key.contains('+') {
        a.key.clone()
    } else {
        return Err(format!(
            "--key {}: no such file, and not a verifier key",
            a.key
        ));
    };
    let bundle = input::read_bytes(&a.file, input::BUNDLE)
        .map_err(|e| format!("{}: {e}", a.file.display()))?;
    let previous = match &a.previous {
        Some(p) => Some(
            input::read_bytes(p, input::BUNDLE)
                .map_err(|e| format!("--previous {}: {e}", p.display()))?,
        ),
        None => None,
    };
    Ok((bundle, previous, key))
}

pub fn verify(a: &VerifyBundleArgs) -> Outcome {
    let (bundle, previous, key) = match load(a) {
        Ok(l) => l,
        Err(e) => return bad_input(a.json, e),
    };
    match verify_bundle(&bundle, previous.as_deref(), &key) {
        Err(e) => bad_input(a.json, e),
        Ok(r) => bundle_result(a.json, &r),
    }
}

fn bundle_result(json_out: bool, r: &BundleReport) -> Outcome {
    let period = r
        .period
        .map(|(f, t)| (format_time(f), format_time(t)))
        .unwrap_or_else(|| ("?".into(), "?".into()));
    let failures: Vec<Json> = r
        .failures
        .iter()
        .map(|f| json!({"part": f.part, "check": f.check, "message": f.message}))
        .collect();
    let detail = json!({
        "ledger": r.ledger,
        "from": period.0,
        "to": period.1,
        "digest": r.digest.map(|d| d.to_base64()),
        "tip": r.tip,
        "records": r.records,
        "alerts": r.alerts,
        "queryRows": r.query_rows,
        "consistency": r.consistency.map(|(old, new)| json!({"fromSize": old, "toSize": new})),
        "logsValid": r.logs_valid,
        "posture": r.posture.map(|(p, f, e)| json!({"PASS": p, "FAIL": f, "ERROR": e})),
        "parts": r.parts,
        "failures": failures,
    });
    if r.is_valid() {
        let mut line = format!(
            "OK bundle of ledger {}, {} to {}: manifest signed by the ledger's key, every part's hash matches; digest {} at tip {} signed by the checkpoint; {} records and {} alert revisions proved against it",
            r.ledger,
            period.0,
            period.1,
            r.digest.map(|d| d.to_base64()).unwrap_or_default(),
            r.tip.unwrap_or_default(),
            r.records,
            r.alerts
        );
        if r.query_rows > 0 {
            line.push_str(&format!(", {} query rows", r.query_rows));
        }
        if let Some((old, new)) = r.consistency {
            line.push_str(&format!(
                "; extends the previous bundle ({old} -> {new} blocks)"
            ));
        }
        if let Some(v) = r.logs_valid {
            line.push_str(&format!(
                "; validate-logs report: {}",
                if v { "logs valid" } else { "logs INVALID" }
            ));
        }
        if let Some((p, f, e)) = r.posture {
            line.push_str(&format!("; posture: {p} PASS, {f} FAIL, {e} ERROR"));
        }
        report(json_out, Outcome::Verified, &line, detail)
    } else {
        let mut line = format!(
            "FAILED bundle of ledger {}, {} to {}: {} checks failed",
            r.ledger,
            period.0,
            period.1,
            r.failures.len()
        );
        for f in &r.failures {
            line.push_str(&format!("\n  {f}"));
        }
        report(json_out, Outcome::Failed, &line, detail)
    }
}
