//! `veritrail report`: a framework report (PCI DSS v4.0.1, SOC 2, ISO/IEC 27001:2022, HIPAA):
//! per requirement the posture checks, pack rules and ledger records that support it, and a
//! status; Markdown, self-contained HTML, JSON, or OCSF Compliance Findings. The checks are run
//! as `veritrail check` runs them, or read from a saved `veritrail check --json` (`--checks`).
//! Exit 0 when the report is written (its content says what passed), 2 when it cannot be.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::Value;
use veritrail_core::time::{Clock as _, SystemClock};
use veritrail_evidence::frameworks;
use veritrail_evidence::posture::expected_rules;
use veritrail_evidence::report::{self, RecordCounts};
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::journal::Ledger;

use crate::Outcome;
use crate::check_cmd::{PostureArgs, run_checks};
use crate::input;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Html,
    Json,
    /// OCSF Compliance Findings (class 2003), a JSON array.
    Ocsf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// pci-dss, soc2, iso27001, hipaa or all.
    #[arg(long, default_value = "all")]
    framework: String,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A saved `veritrail check --json` to report on, instead of running the checks.
    #[arg(long, value_name = "FILE")]
    checks: Option<PathBuf>,
    #[command(flatten)]
    posture: PostureArgs,
}

/// Audit records in the ledger and alerts by `pack/rule`, read through a read-only journal.
fn record_counts(args: &PostureArgs) -> Result<RecordCounts, String> {
    let Some(name) = args.ledger() else {
        return Ok(RecordCounts::default());
    };
    let files = crate::ledger_cmd::ledger_files(name, args.data_dir(), None);
    let ledger = Ledger::open_read_only(&files.journal(), files.options())
        .map_err(|e| format!("ledger {name}: {e}"))?;
    let db = Database::new(ledger, DatabaseOptions::default());
    counts_of(&db).map_err(|e| format!("ledger {name}: {e}"))
}

/// Audit records and alerts by `pack/rule` in an open ledger.
pub fn counts_of(db: &Database) -> Result<RecordCounts, veritrail_ledger::db::DbError> {
    let tables: Vec<String> = db
        .execute("SELECT name FROM information_schema.user_tables", &[])?
        .iter()
        .filter_map(|e| veritrail_core::json_ion::ion_to_json(e).ok())
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    let mut counts = RecordCounts::default();
    if tables.iter().any(|t| t == "AuditRecords") {
        let n = db.execute("SELECT COUNT(*) FROM AuditRecords", &[])?;
        counts.audit_records = n
            .first()
            .and_then(|e| veritrail_core::json_ion::ion_to_json(e).ok())
            .and_then(|v| v.as_u64().or_else(|| v["_1"].as_u64()));
    } else {
        counts.audit_records = Some(0);
    }
    if tables.iter().any(|t| t == "Alerts") {
        let mut by_rule = BTreeMap::new();
        for e in db.execute("SELECT packId, ruleId FROM Alerts", &[])? {
            let Ok(v) = veritrail_core::json_ion::ion_to_json(&e) else {
                continue;
            };
            if let (Some(p), Some(r)) = (v["packId"].as_str(), v["ruleId"].as_str()) {
                *by_rule.entry(format!("{p}/{r}")).or_insert(0) += 1;
            }
        }
        counts.alerts_by_rule = by_rule;
    }
    Ok(counts)
}

fn build(args: &ReportArgs) -> Result<String, String> {
    let selected = frameworks::by_id(&args.framework).ok_or_else(|| {
        format!(
            "--framework {}: expected pci-dss, soc2, iso27001, hipaa or all",
            args.framework
        )
    })?;
    let checks: Value = match &args.checks {
        Some(p) => {
            let text = input::read_text(p, input::QLDB_OUTPUT)
                .map_err(|e| format!("--checks {}: {e}", p.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("--checks {}: {e}", p.display()))?;
            if !v["checks"].is_array() {
                return Err(format!(
                    "--checks {}: not the output of `veritrail check --json` (no checks list)",
                    p.display()
                ));
            }
            v
        }
        None => run_checks(&args.posture)?,
    };
    if args.format == Format::Ocsf {
        let names: Vec<&str> = selected.iter().map(|f| f.name).collect();
        let found = veritrail_evidence::ocsf::findings(&checks, &names, SystemClock.now());
        return serde_json::to_string_pretty(&found).map_err(|e| e.to_string());
    }
    let rules = expected_rules().map_err(|e| e.to_string())?;
    let counts = record_counts(&args.posture)?;
    let built = report::build(&checks, &selected, &rules, &counts);
    Ok(match args.format {
        Format::Md => report::markdown(&built),
        Format::Html => report::html(&built),
        Format::Json | Format::Ocsf => {
            serde_json::to_string_pretty(&built).map_err(|e| e.to_string())?
        }
    })
}

pub fn run(args: ReportArgs) -> Outcome {
    let text = match build(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("veritrail report: {e}");
            return Outcome::BadInput;
        }
    };
    match &args.out {
        None => {
            println!("{}", text.trim_end());
            Outcome::Verified
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => Outcome::Verified,
            Err(e) => {
                eprintln!("veritrail report: {}: {e}", path.display());
                Outcome::BadInput
            }
        },
    }
}
