//! `veritrail check`: the posture checks of `veritrail-evidence` against real AWS (standard
//! credential chain and region) or the emulator (`AWS_ENDPOINT_URL`), with the integrity
//! checks this binary can run: `validate-logs` over the policy's period and `ledger verify`
//! with the newest signed checkpoint. A table, or with `--json` the document
//! `veritrail_evidence::posture::results_json` describes. Exit 0 when every check passes, 1
//! when one fails or cannot run, 2 on a usage error.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use veritrail_core::time::{Clock as _, SystemClock, UtcMillis};
use veritrail_evidence::posture::{
    self, Call, CollectOptions, Policy, collect, expected_rules, judge, results_json, target_of,
};
use veritrail_verify::validate_logs::parse_time;

use crate::Outcome;
use crate::input;

/// What the checks look at; shared by `check` and `report`.
#[derive(Debug, Args)]
pub struct PostureArgs {
    /// The trail to judge, name or ARN (default: the first multi-region trail).
    #[arg(long, value_name = "NAME")]
    trail: Option<String>,
    /// The ledger whose integrity is checked (`ledger verify`, the newest signed checkpoint);
    /// without it those checks are ERROR.
    #[arg(long, value_name = "NAME")]
    ledger: Option<String>,
    /// Where ledgers live [env: VERITRAIL_DATA_DIR; default: the user's data directory].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where signing keys live [env: VERITRAIL_KEY_DIR; default: DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// The verifier key to trust for the checkpoint (default: the ledger's .pub).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// A policy (JSON: retentionMonths, checkpointMaxAgeHours, deliveryMaxAgeHours,
    /// evidenceBuckets, alertTopic, validateHours); defaults: 12 months, 24 hours, 24 hours,
    /// the trail's bucket, veritrail-alerts, 24 hours.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Judge as of this time (UTC, e.g. 2026-01-01T00:00:00Z; default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

impl PostureArgs {
    /// The checks of `trail` (default: the first multi-region one) and `ledger`'s integrity,
    /// by the default policy, as of now.
    pub fn of_ledger(trail: Option<String>, ledger: &crate::ledger_cmd::LedgerArg) -> Self {
        Self {
            trail,
            ledger: Some(ledger.name().to_owned()),
            data_dir: ledger.data_dir().map(Into::into),
            key_dir: ledger.key_dir().map(Into::into),
            public_key: None,
            policy: None,
            at: None,
        }
    }

    pub fn ledger(&self) -> Option<&str> {
        self.ledger.as_deref()
    }

    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    posture: PostureArgs,
    /// Print the results as one JSON document.
    #[arg(long)]
    json: bool,
}

/// A usage error (exit 2) or the run's JSON.
pub fn run_checks(args: &PostureArgs) -> Result<Value, String> {
    let policy = match &args.policy {
        None => Policy::default(),
        Some(p) => {
            let text = input::read_text(p, input::SMALL_JSON)
                .map_err(|e| format!("--policy {}: {e}", p.display()))?;
            Policy::from_json(&text).map_err(|e| format!("--policy {}: {e}", p.display()))?
        }
    };
    let now = match &args.at {
        None => SystemClock.now(),
        Some(t) => parse_time(t).ok_or_else(|| format!("--at: cannot read the time {t:?}"))?,
    };
    let rules = expected_rules().map_err(|e| e.to_string())?;
    let options = CollectOptions {
        trail: args.trail.clone(),
        ..CollectOptions::default()
    };
    let mut snap = collect(&options, &policy).map_err(|e| e.to_string())?;
    if let Some(arn) = posture::judge::selected_trail(&snap)
        .and_then(|t| t["TrailARN"].as_str())
        .map(str::to_owned)
    {
        let start = UtcMillis(now.0 - i64::from(policy.validate_hours) * 3_600_000);
        snap.push(
            match crate::validate_logs_cmd::s3_json_report(&arn, start, now) {
                Ok(report) => Call::ok("veritrail:ValidateLogs", &arn, report),
                Err(e) => Call::failed("veritrail:ValidateLogs", &arn, e),
            },
        );
    }
    match &args.ledger {
        Some(name) => {
            let files = crate::ledger_cmd::ledger_files(
                name,
                args.data_dir.as_deref(),
                args.key_dir.as_deref(),
            );
            posture::collect::collect_ledger(&mut snap, &files, name, args.public_key.as_deref());
        }
        None => posture::collect::no_ledger(&mut snap),
    }
    let results = judge(&snap, &policy, &rules, now);
    let target = target_of(&snap, &policy, args.ledger.as_deref());
    Ok(results_json(&results, &target, &policy, now))
}

/// Whether every check of a run passed.
pub fn all_pass(run: &Value) -> bool {
    run["checks"]
        .as_array()
        .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["status"] == "PASS"))
}

pub fn run(args: CheckArgs) -> Outcome {
    let run = match run_checks(&args.posture) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("veritrail check: {e}");
            return Outcome::BadInput;
        }
    };
    if args.json {
        println!("{run}");
    } else {
        let checks = run["checks"].as_array().cloned().unwrap_or_default();
        let width = checks
            .iter()
            .filter_map(|c| c["id"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(5);
        println!("{:<6} {:<width$} REASON", "STATUS", "CHECK");
        for c in &checks {
            println!(
                "{:<6} {:<width$} {}",
                c["status"].as_str().unwrap_or("?"),
                c["id"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("")
            );
        }
        let s = &run["summary"];
        println!(
            "\n{} passed, {} failed, {} could not run (trail {}, at {})",
            s["pass"],
            s["fail"],
            s["error"],
            run["target"]["trail"].as_str().unwrap_or("none"),
            run["generatedAt"].as_str().unwrap_or("?")
        );
    }
    if all_pass(&run) {
        Outcome::Verified
    } else {
        Outcome::Failed
    }
}
