//! `veritrail ingest`: CloudTrail activity into a ledger, through the rule packs, with alerts
//! recorded (and sent to a webhook or an SNS topic). Sources: a local directory, an SQS queue,
//! CloudTrail log files in S3, LookupEvents, or EventBridge events POSTed over HTTP. The work
//! is `veritrail-processor`'s; this module parses arguments, shows progress and prints a summary.
//!
//! Exit codes: 0 everything read was stored, 1 some events were rejected (each named on
//! stderr), 2 the command line, the ledger, a pack or the input directory cannot be used.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Args;
use serde_json::{Value as Json, json};
use veritrail_core::record::EventTime;
use veritrail_core::time::UtcMillis;
use veritrail_processor::aws::Aws;
use veritrail_processor::aws::lookup::{LookupOptions, LookupSource};
use veritrail_processor::aws::s3::{BucketOptions, BucketSource, parse_s3_url};
use veritrail_processor::aws::sns::Topic;
use veritrail_processor::aws::sqs::{QueueOptions, QueueSource};
use veritrail_processor::listen::ListenSource;
use veritrail_processor::metrics;
use veritrail_processor::notify::{Deliverer, Delivery, Notifier, Retry, Sleep, Webhook};
use veritrail_processor::{
    Checkpoint, DirSource, Observer, Processor, ProcessorError, ProcessorOptions, Rejection,
    RuleSet, Source, Summary, checkpoint_path, state_dir,
};

use crate::Outcome;
use crate::input::{Limit, read_text};
use crate::ledger_cmd::{LedgerArg, bad_input, open_database};
use crate::verify_cmd::report;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(
    ["from_dir", "from_queue", "from_s3", "from_lookup_events", "listen"]
)))]
pub struct IngestArgs {
    #[command(flatten)]
    ledger: LedgerArg,
    /// A directory (walked, subdirectories included) or one file: CloudTrail log files
    /// (.json, .json.gz) and files of EventBridge events or records, one per line (.jsonl).
    /// Files already ingested (by the checkpoint in DATA_DIR/processor/NAME) are skipped.
    #[arg(long, value_name = "PATH")]
    from_dir: Option<PathBuf>,
    /// An SQS queue (URL) an EventBridge rule targets: each message an EventBridge event, or
    /// one wrapped by SNS, deleted only once its record is durable. A rejected message is left
    /// for the queue's dead-letter queue (RedrivePolicy), or, on a queue without one, written
    /// to DATA_DIR/processor/NAME/rejected-messages.jsonl and deleted. Ends when the queue is
    /// empty, or with --follow polls until stopped.
    #[arg(long, value_name = "URL")]
    from_queue: Option<String>,
    /// CloudTrail log files (.json.gz) a trail delivers to s3://BUCKET/PREFIX, read in key
    /// order after the last one done per account and region (checkpoint in
    /// DATA_DIR/processor/NAME/s3-checkpoint.jsonl). Ends when nothing is new, or with
    /// --follow lists again every --poll-seconds.
    #[arg(long, value_name = "S3_URL")]
    from_s3: Option<String>,
    /// CloudTrail's LookupEvents (management events of the last 90 days), forward from
    /// --start-time or the checkpoint (DATA_DIR/processor/NAME/lookup-checkpoint.jsonl), each
    /// poll reading the last --overlap-minutes again (events show up late there).
    #[arg(long)]
    from_lookup_events: bool,
    /// Where LookupEvents starts when there is no checkpoint (RFC 3339, e.g.
    /// 2026-01-01T00:00:00Z) [default: 90 days ago].
    #[arg(long, value_name = "TIME", requires = "from_lookup_events")]
    start_time: Option<String>,
    /// Minutes each LookupEvents poll reads again.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=1440))]
    overlap_minutes: u64,
    /// Accept EventBridge events POSTed to http://ADDR/ (what an API destination sends: one
    /// event per request), each answered 200 once its record is durable, 400 when rejected,
    /// 503 when it could not be stored. Runs until stopped; port 0 picks one (printed on stderr).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// The AWS endpoint for the queue, bucket, LookupEvents and topic (e.g. the emulator,
    /// http://127.0.0.1:4566) [default: AWS_ENDPOINT_URL, or AWS itself].
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The AWS region [default: AWS_REGION, AWS_DEFAULT_REGION or the profile's].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// A rule pack (JSON) to run besides the built-in ones; repeat for more.
    #[arg(long = "pack", value_name = "FILE")]
    packs: Vec<PathBuf>,
    /// Records per ledger transaction (one journal block each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// POST each new alert as JSON to this http:// URL (retried with backoff, then written to
    /// DATA_DIR/processor/NAME/dead-letter.jsonl).
    #[arg(long, value_name = "URL", conflicts_with = "alert_topic")]
    alert_webhook: Option<String>,
    /// Publish each new alert as JSON to this SNS topic (subject: severity and title; message
    /// attributes severity, packId, ruleId), retried with backoff, then written to the
    /// dead-letter file.
    #[arg(long, value_name = "ARN")]
    alert_topic: Option<String>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Lift QLDB's 128 KB limit on one record.
    #[arg(long)]
    no_limits: bool,
    /// Keep going until stopped: look for new files in the directory or the bucket every
    /// --poll-seconds, keep long-polling the queue, keep polling LookupEvents. Stopping it at
    /// any moment (SIGTERM, SIGKILL) loses nothing acknowledged and a rerun duplicates nothing.
    #[arg(long)]
    follow: bool,
    /// Seconds between two looks at the directory, the bucket or LookupEvents with --follow.
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
    // What is set aside is logged by the processor (`tracing`, to stderr); the progress line
    // is cleared first so that the log line stands on its own.
    fn rejected(&mut self, _r: &Rejection) {
        self.clear();
    }

    fn unmatched(&mut self, _at: &str, _reason: &str) {
        self.clear();
    }

    fn delivered(&mut self, _alert: &Json, delivery: &Delivery) {
        if let Delivery::DeadLettered { .. } = delivery {
            self.clear();
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
    let needs_aws = args.from_queue.is_some()
        || args.from_s3.is_some()
        || args.from_lookup_events
        || args.alert_topic.is_some();
    let aws = if needs_aws {
        match Aws::load(args.endpoint_url.as_deref(), args.region.as_deref()) {
            Ok(a) => Some(a),
            Err(e) => return bad(e.to_string()),
        }
    } else {
        None
    };
    let notifier: Option<Box<dyn Notifier>> = match (&args.alert_webhook, &args.alert_topic, &aws) {
        (Some(url), _, _) => match Webhook::new(url) {
            Ok(w) => Some(Box::new(w)),
            Err(e) => return bad(e.to_string()),
        },
        (None, Some(arn), Some(aws)) => match Topic::new(aws, arn) {
            Ok(t) => Some(Box::new(t)),
            Err(e) => return bad(e.to_string()),
        },
        _ => None,
    };
    let deliverer = match notifier {
        Some(n) => {
            let made = Deliverer::new(
                n,
                &state,
                Retry::default(),
                Arc::new(Sleep),
                Arc::clone(&clock),
            );
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
    let stop = Arc::new(AtomicBool::new(false));
    let poll = Duration::from_secs(args.poll_seconds);
    let until_empty = !args.follow;
    let mut skipped = 0;
    let result = match (&args.from_dir, &aws) {
        (Some(dir), _) => {
            let opened =
                Checkpoint::open(&checkpoint_path(&state)).and_then(|c| DirSource::new(dir, c));
            let source = match opened {
                Ok(s) => s,
                Err(e) => return bad(e.to_string()),
            };
            skipped = source.skipped;
            let mut result = processor.run(&source, &mut console);
            while args.follow && result.is_ok() {
                console.clear();
                std::thread::sleep(poll);
                result = Checkpoint::open(&checkpoint_path(&state))
                    .and_then(|c| DirSource::new(dir, c))
                    .and_then(|next| processor.run(&next, &mut console));
            }
            result
        }
        (None, Some(aws)) if args.from_queue.is_some() => {
            let options = QueueOptions {
                url: args.from_queue.clone().unwrap_or_default(),
                wait_seconds: if until_empty { 1 } else { 20 },
                until_empty,
                stop,
                rejected_file: state.join("rejected-messages.jsonl"),
            };
            run_source(
                &mut processor,
                &mut console,
                QueueSource::open(aws, options),
            )
        }
        (None, Some(aws)) if args.from_s3.is_some() => {
            let opened = parse_s3_url(args.from_s3.as_deref().unwrap_or_default()).and_then(
                |(bucket, prefix)| {
                    BucketSource::open(
                        aws,
                        BucketOptions {
                            bucket,
                            prefix,
                            checkpoint: state.join("s3-checkpoint.jsonl"),
                            until_empty,
                            poll,
                            pause: Arc::new(Sleep),
                            stop,
                        },
                    )
                },
            );
            run_source(&mut processor, &mut console, opened)
        }
        (None, Some(aws)) if args.from_lookup_events => {
            let default_start = match &args.start_time {
                Some(t) => match EventTime::parse(t) {
                    Some(t) => UtcMillis(t.epoch_millis()),
                    None => return bad(format!("--start-time `{t}` is not an RFC 3339 time")),
                },
                None => UtcMillis(clock.now().0 - 90 * 86_400_000),
            };
            let options = LookupOptions {
                checkpoint: state.join("lookup-checkpoint.jsonl"),
                default_start,
                overlap: Duration::from_secs(args.overlap_minutes * 60),
                until_empty,
                poll,
                pause: Arc::new(Sleep),
                stop,
            };
            run_source(
                &mut processor,
                &mut console,
                LookupSource::open(aws, options),
            )
        }
        _ => match args.listen {
            Some(addr) => {
                let bound = ListenSource::bind(addr, stop).inspect(|(_, bound)| {
                    eprintln!("listening for EventBridge events on http://{bound}/");
                });
                run_source(&mut processor, &mut console, bound.map(|(s, _)| s))
            }
            None => return bad("no source given".into()),
        },
    };
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
        "{} batches ({skipped} files already ingested), {} records read: {} appended, {} duplicates, {} rejected; {} rule matches, {} new alerts ({} sent, {} dead-lettered); ledger tip {tip} ({:.0} records/s)",
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

/// Runs the processor over an opened source until it ends.
fn run_source<S: Source>(
    processor: &mut Processor<'_>,
    console: &mut Console,
    source: Result<S, ProcessorError>,
) -> Result<Summary, ProcessorError> {
    processor.run(&source?, console)
}
