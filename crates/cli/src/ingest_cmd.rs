//! `veritrail ingest`: CloudTrail log files and EventBridge events from a local directory into
//! a ledger, through the rule packs, with alerts recorded (and sent to a webhook). The work is
//! `veritrail-processor`'s; this module parses arguments, shows progress and prints a summary.
//!
//! Exit codes: 0 everything read was stored, 1 some events were rejected (each named on
//! stderr), 2 the command line, the ledger, a pack or the input directory cannot be used.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::{Value as Json, json};
use veritrail_processor::metrics;
use veritrail_processor::notify::{Deliverer, Delivery, Retry, Sleep, Webhook};
use veritrail_processor::{
    Checkpoint, DirSource, Observer, Processor, ProcessorOptions, Rejection, RuleSet, Summary,
    checkpoint_path, state_dir,
};

use crate::Outcome;
use crate::input::{Limit, read_text};
use crate::ledger_cmd::{LedgerArg, bad_input, open_database};
use crate::verify_cmd::report;

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    ledger: LedgerArg,
    /// A directory (walked, subdirectories included) or one file: CloudTrail log files
    /// (.json, .json.gz) and files of EventBridge events or records, one per line (.jsonl).
    /// Files already ingested (by the checkpoint in DATA_DIR/processor/NAME) are skipped.
    #[arg(long, value_name = "PATH")]
    from_dir: PathBuf,
    /// A rule pack (JSON) to run besides the built-in ones; repeat for more.
    #[arg(long = "pack", value_name = "FILE")]
    packs: Vec<PathBuf>,
    /// Records per ledger transaction (one journal block each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// POST each new alert as JSON to this http:// URL (retried with backoff, then written to
    /// DATA_DIR/processor/NAME/dead-letter.jsonl).
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Lift QLDB's 128 KB limit on one record.
    #[arg(long)]
    no_limits: bool,
    /// Keep watching the directory: look for new files every --poll-seconds, until stopped.
    /// Stopping it at any moment (SIGTERM, SIGKILL) loses nothing acknowledged and a rerun
    /// duplicates nothing.
    #[arg(long)]
    follow: bool,
    /// Seconds between two looks at the directory with --follow.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    poll_seconds: u64,
    /// Serve the processor's counters in the Prometheus text format on http://ADDR/metrics
    /// (e.g. 127.0.0.1:9464; port 0 picks one, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// A rule pack file.
const PACK_FILE: Limit = Limit {
    bytes: 16 << 20,
    what: "a rule pack",
};

/// Logs rejections and failed deliveries on stderr and draws the progress line.
#[derive(Debug)]
struct Console {
    progress: bool,
    files_done: usize,
    drawn: bool,
}

impl Console {
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

impl Observer for Console {
    fn rejected(&mut self, r: &Rejection) {
        self.clear();
        eprintln!("rejected: {r}");
    }

    fn unmatched(&mut self, at: &str, reason: &str) {
        self.clear();
        eprintln!("stored without rules: {at}: {reason}");
    }

    fn delivered(&mut self, alert: &Json, delivery: &Delivery) {
        if let Delivery::DeadLettered { attempts, error } = delivery {
            self.clear();
            eprintln!(
                "alert {} not delivered after {attempts} attempts ({error}); written to the dead-letter file",
                alert["alertId"].as_str().unwrap_or("?")
            );
        }
    }

    fn batch_done(&mut self, _origin: &str, s: &Summary, remaining: Option<usize>) {
        self.files_done += 1;
        if self.progress {
            let total = self.files_done + remaining.unwrap_or(0);
            eprint!(
                "\r\x1b[2K{}/{total} files, {} records: {} appended, {} duplicates, {} rejected, {} alerts",
                self.files_done, s.received, s.appended, s.duplicates, s.rejected, s.alerts
            );
            let _ = std::io::stderr().flush();
            self.drawn = true;
        }
    }
}

pub fn run(args: IngestArgs) -> Outcome {
    let bad = |m: String| bad_input(args.json, m);
    let files = args.ledger.files();
    let mut rules = match RuleSet::builtin() {
        Ok(r) => r,
        Err(e) => return bad(e.to_string()),
    };
    for p in &args.packs {
        let text = match read_text(p, PACK_FILE) {
            Ok(t) => t,
            Err(e) => return bad(format!("{}: {e}", p.display())),
        };
        rules = match rules.with_pack(&text) {
            Ok(r) => r,
            Err(e) => return bad(format!("{}: {e}", p.display())),
        };
    }
    let db = match open_database(&files, !args.no_limits) {
        Ok(db) => db,
        Err(e) => return bad(e),
    };
    let clock = Arc::clone(&db.ledger().options().clock);
    let state = state_dir(&files);
    let checkpoint = match Checkpoint::open(&checkpoint_path(&state)) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    let mut source = match DirSource::new(&args.from_dir, checkpoint) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let skipped = source.skipped;
    let deliverer = match &args.alert_webhook {
        Some(url) => {
            let made = Webhook::new(url).and_then(|w| {
                Deliverer::new(
                    Box::new(w),
                    &state,
                    Retry::default(),
                    Arc::new(Sleep),
                    Arc::clone(&clock),
                )
            });
            match made {
                Ok(d) => Some(d),
                Err(e) => return bad(e.to_string()),
            }
        }
        None => None,
    };
    let mut processor = Processor::new(
        &db,
        &rules,
        ProcessorOptions {
            batch_size: args.batch as usize,
            clock: Arc::clone(&clock),
            deliverer,
        },
    );
    let mut console = Console {
        progress: !args.quiet && std::io::stderr().is_terminal(),
        files_done: 0,
        drawn: false,
    };
    if let Some(addr) = args.metrics_addr {
        match metrics::serve(
            addr,
            processor.counters(),
            Arc::clone(&clock),
            Some(files.clone()),
        ) {
            Ok(bound) => eprintln!("metrics on http://{bound}/metrics"),
            Err(e) => return bad(e.to_string()),
        }
    }
    let started = clock.now();
    let mut result = processor.run(&mut source, &mut console);
    while args.follow && result.is_ok() {
        console.clear();
        std::thread::sleep(std::time::Duration::from_secs(args.poll_seconds));
        result = Checkpoint::open(&checkpoint_path(&state))
            .and_then(|c| DirSource::new(&args.from_dir, c))
            .and_then(|mut next| processor.run(&mut next, &mut console));
    }
    console.clear();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            let done = processor.counters().summary();
            return report(
                args.json,
                Outcome::BadInput,
                &format!(
                    "error: {e}; {} records appended before it are durable, and a rerun continues where the checkpoint ends",
                    done.appended
                ),
                json!({"check": "ledger", "appended": done.appended}),
            );
        }
    };
    let tip = db.ledger().block_count().saturating_sub(1);
    let seconds = (clock.now().0 - started.0).max(1) as f64 / 1000.0;
    let outcome = if s.rejected > 0 {
        Outcome::Failed
    } else {
        Outcome::Verified
    };
    let line = format!(
        "{} files ({skipped} already ingested), {} records read: {} appended, {} duplicates, {} rejected; {} rule matches, {} new alerts ({} sent, {} dead-lettered); ledger tip {tip} ({:.0} records/s)",
        s.batches,
        s.received,
        s.appended,
        s.duplicates,
        s.rejected,
        s.rule_matches,
        s.alerts,
        s.alerts_sent,
        s.alerts_failed,
        s.received as f64 / seconds
    );
    let detail = json!({
        "files": s.batches,
        "skippedFiles": skipped,
        "records": s.received,
        "appended": s.appended,
        "duplicates": s.duplicates,
        "rejected": s.rejected,
        "storedWithoutRules": s.unmatched,
        "ruleMatches": s.rule_matches,
        "alerts": s.alerts,
        "alertsSent": s.alerts_sent,
        "alertsFailed": s.alerts_failed,
        "tip": tip,
    });
    if args.json {
        let mut obj = json!({"ok": outcome == Outcome::Verified, "message": line});
        if let (Some(o), Json::Object(extra)) = (obj.as_object_mut(), detail) {
            o.extend(extra);
        }
        println!("{obj}");
    } else {
        println!("{line}");
    }
    outcome
}
