//! `/dashboard` of `veritrail serve`: one self-contained HTML page (no script, no request
//! anywhere else; a content security policy says so) showing the ledger's tip and newest signed
//! checkpoint, each trail's status and last validation, the alerts and their review, posture
//! per framework, and audit records per hour as a chart (counted from the blocks committed
//! since the last look, so a page costs what is new, not the whole ledger).
//!
//! It reads what the CLI reads: the ledger through the same `Database` the processor writes
//! to; trails through the AWS SDK against the emulator; posture by running this binary's own
//! `veritrail check --json`, and each trail's validation by its `veritrail validate-logs
//! --json`, with the emulator as their endpoint. Those two read many APIs (and every read is
//! recorded as a CloudTrail event like any other), so their results are kept for
//! [`RECHECK_AFTER`] of the emulator's clock, or until `?refresh=1`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use veritrail_core::json_ion::ion_to_json;
use veritrail_core::record::EventTime;
use veritrail_core::time::{Clock, UtcMillis};
use veritrail_emulator::auth::OwnCredential;
use veritrail_emulator::pages::{Page, Pages};
use veritrail_evidence::report::{self, RecordCounts, esc};
use veritrail_evidence::{frameworks, posture};
use veritrail_ledger::db::Database;
use veritrail_ledger::files::LedgerFiles;
use veritrail_processor::alerts;
use veritrail_processor::pipeline::RECORDS_TABLE;
use veritrail_verify::validate_logs::format_time;

/// How long (on the emulator's clock) posture and validation results are shown before they are
/// run again.
pub const RECHECK_AFTER: i64 = 5 * 60_000;
/// The chart's default span, and its longest.
const DEFAULT_HOURS: i64 = 24;
const MAX_HOURS: i64 = 24 * 31;
/// Alerts listed (newest first); the counts cover all of them.
const ALERTS_SHOWN: usize = 50;
/// Trails whose logs are validated for the page (a trail past it shows its status only).
const TRAILS_VALIDATED: usize = 10;

/// What the dashboard reads.
pub struct Dashboard {
    db: Database,
    files: LedgerFiles,
    ledger_dir: PathBuf,
    key_dir: PathBuf,
    /// The home directory of the commands it runs (no user's AWS configuration leaks in).
    home: PathBuf,
    clock: Arc<dyn Clock>,
    url: String,
    /// What it signs with when the emulator authenticates.
    own: Option<OwnCredential>,
    exe: PathBuf,
    checked: Mutex<Option<Arc<Checked>>>,
    hours: Mutex<Hours>,
}

/// Audit records by hour of `eventTime`, counted block by block: each look reads only the
/// blocks committed since the last one (and holds the ledger's lock one block at a time, so
/// the processor is never kept waiting for a whole scan).
#[derive(Debug, Default)]
struct Hours {
    /// Blocks counted so far (the next block to read).
    blocks: u64,
    /// Records by the hour they happened in (milliseconds since the epoch, whole hours).
    by_hour: BTreeMap<i64, u64>,
    /// Records without a readable `eventTime`.
    untimed: u64,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("ledger", &self.files.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The slow part of a page: posture and trails, as of `at`.
#[derive(Debug)]
struct Checked {
    at: UtcMillis,
    posture: Result<Value, String>,
    trails: Result<Vec<TrailView>, String>,
}

#[derive(Debug)]
struct TrailView {
    described: Value,
    status: Result<Value, String>,
    validated: Result<Value, String>,
}

/// Where the dashboard finds things.
#[derive(Debug)]
pub struct DashboardOptions {
    pub db: Database,
    pub files: LedgerFiles,
    pub ledger_dir: PathBuf,
    pub key_dir: PathBuf,
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub url: String,
    /// The server's own credential, when the emulator authenticates.
    pub own: Option<OwnCredential>,
}

impl Dashboard {
    pub fn new(o: DashboardOptions) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("the dashboard cannot find this program: {e}"))?;
        let home = o.data_dir.join("dashboard");
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("the dashboard cannot use {}: {e}", home.display()))?;
        Ok(Self {
            db: o.db,
            files: o.files,
            ledger_dir: o.ledger_dir,
            key_dir: o.key_dir,
            home,
            clock: o.clock,
            url: o.url,
            own: o.own,
            exe,
            checked: Mutex::new(None),
            hours: Mutex::new(Hours::default()),
        })
    }

    /// Runs this binary with `args` against the emulator; its `--json` output (exit 0 or 1:
    /// the document says what failed), else what went wrong.
    fn run_json(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new(&self.exe)
            .args(args)
            .env("HOME", &self.home)
            .env("AWS_CONFIG_FILE", self.home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.join("credentials"))
            .env(
                "AWS_ACCESS_KEY_ID",
                self.own
                    .as_ref()
                    .map_or("veritrail-dashboard", |c| c.access_key.as_str()),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                self.own.as_ref().map_or("veritrail", |c| c.secret()),
            )
            .env("AWS_REGION", crate::serve_cmd::REGION)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("VERITRAIL_LOG", "error")
            // The journal where the server keeps it (`check` reads it).
            .env("VERITRAIL_STORAGE", self.files.storage.spec())
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match (
            out.status.code(),
            serde_json::from_str::<Value>(stdout.trim()),
        ) {
            (Some(0 | 1), Ok(v)) => Ok(v),
            _ => Err(format!(
                "`veritrail {}` failed ({}): {}",
                args.first().copied().unwrap_or(""),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }

    fn check(&self, now: UtcMillis) -> Checked {
        let at = format_time(now);
        let (ledger_dir, key_dir) = (
            self.ledger_dir.display().to_string(),
            self.key_dir.display().to_string(),
        );
        let posture = self.run_json(&[
            "check",
            "--json",
            "--ledger",
            &self.files.name,
            "--data-dir",
            &ledger_dir,
            "--key-dir",
            &key_dir,
            "--at",
            &at,
        ]);
        let trails = self.trails().map(|list| {
            let from = format_time(UtcMillis(now.0 - DEFAULT_HOURS * 3_600_000));
            list.into_iter()
                .enumerate()
                .map(|(i, (described, status))| {
                    let arn = described["TrailARN"].as_str().unwrap_or("").to_owned();
                    let validated = if i >= TRAILS_VALIDATED {
                        Err(format!(
                            "not validated: only the first {TRAILS_VALIDATED} trails are"
                        ))
                    } else {
                        self.run_json(&[
                            "validate-logs",
                            "--json",
                            "--trail-arn",
                            &arn,
                            "--start-time",
                            &from,
                            "--end-time",
                            &at,
                        ])
                    };
                    TrailView {
                        described,
                        status,
                        validated,
                    }
                })
                .collect()
        });
        Checked {
            at: now,
            posture,
            trails,
        }
    }

    /// Every trail (DescribeTrails) with its GetTrailStatus, through the SDK.
    #[allow(clippy::type_complexity)]
    fn trails(&self) -> Result<Vec<(Value, Result<Value, String>)>, String> {
        use aws_sdk_cloudtrail::error::DisplayErrorContext as Ctx;
        // A runtime of its own for each look, ended here: the dashboard lives as long as the
        // emulator, which ends inside the server's runtime, where no runtime may be dropped.
        let aws = crate::serve_cmd::local_aws(&self.url, self.own.as_ref())?;
        let client = aws_sdk_cloudtrail::Client::new(aws.config());
        aws.block_on(async move {
            let described = client
                .describe_trails()
                .send()
                .await
                .map_err(|e| format!("DescribeTrails: {}", Ctx(e)))?;
            let mut out = Vec::new();
            for t in described.trail_list() {
                let name = t.name().unwrap_or_default().to_owned();
                let view = serde_json::json!({
                    "Name": name,
                    "TrailARN": t.trail_arn(),
                    "HomeRegion": t.home_region(),
                    "S3BucketName": t.s3_bucket_name(),
                    "IsMultiRegionTrail": t.is_multi_region_trail(),
                    "LogFileValidationEnabled": t.log_file_validation_enabled(),
                });
                let status = match client
                    .get_trail_status()
                    .name(t.trail_arn().unwrap_or(&name))
                    .send()
                    .await
                {
                    Ok(s) => Ok(serde_json::json!({
                        "IsLogging": s.is_logging(),
                        "LatestDeliveryTime": s.latest_delivery_time().map(|d| d.to_millis().ok()),
                        "LatestDeliveryError": s.latest_delivery_error(),
                        "LatestDigestDeliveryTime": s.latest_digest_delivery_time().map(|d| d.to_millis().ok()),
                        "LatestDigestDeliveryError": s.latest_digest_delivery_error(),
                    })),
                    Err(e) => Err(format!("GetTrailStatus: {}", Ctx(e))),
                };
                out.push((view, status));
            }
            Ok(out)
        })
    }

    /// The posture and trails to show: the kept ones unless they are older than
    /// [`RECHECK_AFTER`] or a refresh is asked for.
    fn checked(&self, now: UtcMillis, refresh: bool) -> Arc<Checked> {
        let mut kept = self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = kept
            .as_ref()
            .filter(|c| !refresh && now.0 >= c.at.0 && now.0 - c.at.0 < RECHECK_AFTER)
        {
            return Arc::clone(c);
        }
        let fresh = Arc::new(self.check(now));
        *kept = Some(Arc::clone(&fresh));
        fresh
    }

    fn render(&self, hours: i64, refresh: bool) -> Result<String, String> {
        let now = self.clock.now();
        let ledger = self.ledger_part(now)?;
        let alerts = self.alerts_part()?;
        let chart = self.chart_part(now, hours)?;
        let checked = self.checked(now, refresh);
        let counts = crate::report_cmd::counts_of(&self.db).map_err(|e| e.to_string())?;
        let mut page = String::with_capacity(32 * 1024);
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <meta http-equiv=\"refresh\" content=\"60\"><title>veritrail: {name}</title>\
             <style>{STYLE}</style></head><body>\n<h1>veritrail audit trail: ledger <code>{name}</code></h1>\n\
             <p class=\"meta\">As of {now} on the emulator's clock; posture and validation run at {at} \
             (again after {mins} minutes, or <a href=\"?refresh=1\">now</a>).</p>\n",
            name = esc(&self.files.name),
            now = format_time(now),
            at = format_time(checked.at),
            mins = RECHECK_AFTER / 60_000,
        );
        page.push_str(&ledger);
        page.push_str(&trails_part(&checked.trails));
        page.push_str(&alerts);
        page.push_str(&posture_part(&checked.posture, &counts));
        page.push_str(&chart);
        page.push_str("</body></html>\n");
        Ok(page)
    }

    fn ledger_part(&self, now: UtcMillis) -> Result<String, String> {
        let digest = self.db.ledger().digest().map_err(|e| e.to_string())?;
        let mut s = String::from("<section id=\"ledger\"><h2>Ledger</h2><table>\n");
        let _ = writeln!(
            s,
            "<tr><th>Tip</th><td id=\"tip\">block {} of strand <code>{}</code></td></tr>\n\
             <tr><th>Digest</th><td><code id=\"digest\">{}</code></td></tr>",
            digest.tip,
            esc(&digest.strand_id),
            digest.digest.to_base64()
        );
        match self.files.latest_checkpoint() {
            Ok(Some((path, note))) => {
                let lines: Vec<&str> = note.lines().collect();
                let time = note
                    .lines()
                    .find_map(|l| l.strip_prefix("time "))
                    .and_then(EventTime::parse)
                    .map(|t| UtcMillis(t.epoch_millis()));
                let age = time.map_or_else(
                    || "unknown age".to_owned(),
                    |t| format!("{} old", age(now.0 - t.0)),
                );
                let _ = writeln!(
                    s,
                    "<tr><th>Latest checkpoint</th><td id=\"checkpoint\">{} blocks, signed {} ({age}); root <code>{}</code>; <code>{}</code></td></tr>",
                    esc(lines.get(1).copied().unwrap_or("?")),
                    time.map_or_else(|| "at an unknown time".to_owned(), format_time),
                    esc(lines.get(2).copied().unwrap_or("?")),
                    esc(&path.display().to_string())
                );
            }
            Ok(None) => s.push_str(
                "<tr><th>Latest checkpoint</th><td id=\"checkpoint\" class=\"FAIL\">none signed yet</td></tr>\n",
            ),
            Err(e) => {
                let _ = writeln!(
                    s,
                    "<tr><th>Latest checkpoint</th><td id=\"checkpoint\" class=\"ERROR\">{}</td></tr>",
                    esc(&e.to_string())
                );
            }
        }
        s.push_str("</table></section>\n");
        Ok(s)
    }

    fn alerts_part(&self) -> Result<String, String> {
        let list = alerts::list(&self.db, None).map_err(|e| e.to_string())?;
        let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &list {
            *by_state
                .entry(a["state"].as_str().unwrap_or("?"))
                .or_default() += 1;
        }
        let count = |st: &str| by_state.get(st).copied().unwrap_or(0);
        let mut s = format!(
            "<section id=\"alerts\"><h2>Alerts</h2>\n<p id=\"alert-counts\">{} open, {} acknowledged, {} resolved ({} in all)</p>\n",
            count("OPEN"),
            count("ACKNOWLEDGED"),
            count("RESOLVED"),
            list.len()
        );
        if list.is_empty() {
            s.push_str("<p>No rule has raised an alert.</p></section>\n");
            return Ok(s);
        }
        let _ = writeln!(
            s,
            "<table><tr><th>Raised</th><th>State</th><th>Severity</th><th>Rule</th><th>Event</th><th>Review</th></tr>"
        );
        for a in list.iter().rev().take(ALERTS_SHOWN) {
            let t = |k: &str| esc(a[k].as_str().unwrap_or("-"));
            let review = if a["review"].is_object() {
                format!(
                    "{} by {} at {}: {}",
                    esc(a["review"]["action"].as_str().unwrap_or("?")),
                    esc(a["review"]["by"].as_str().unwrap_or("?")),
                    esc(a["review"]["at"].as_str().unwrap_or("?")),
                    esc(a["review"]["note"].as_str().unwrap_or(""))
                )
            } else {
                "not reviewed".to_owned()
            };
            let _ = writeln!(
                s,
                "<tr class=\"alert\"><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}/{}</td><td>{} {} <code>{}</code></td><td>{review}</td></tr>",
                t("raisedAt"),
                t("state"),
                t("state"),
                t("severity"),
                t("packId"),
                t("ruleId"),
                t("eventTime"),
                t("eventName"),
                esc(a["eventIDs"][0].as_str().unwrap_or("-")),
            );
        }
        if list.len() > ALERTS_SHOWN {
            let _ = writeln!(
                s,
                "<tr><td colspan=\"6\">{} older alerts: <code>veritrail alerts list</code></td></tr>",
                list.len() - ALERTS_SHOWN
            );
        }
        s.push_str("</table></section>\n");
        Ok(s)
    }

    /// Counts the audit records of the blocks committed since the last look.
    fn count_new_blocks(&self, hours: &mut Hours) -> Result<(), String> {
        let total = self.db.ledger().block_count();
        while hours.blocks < total {
            let seq = hours.blocks;
            let block = self
                .db
                .ledger()
                .block_element(seq)
                .map_err(|e| e.to_string())?;
            let block = ion_to_json(&block).map_err(|e| format!("block {seq}: {e}"))?;
            let documents = &block["transactionInfo"]["documents"];
            for r in block["revisions"].as_array().into_iter().flatten() {
                let id = r["metadata"]["id"].as_str().unwrap_or_default();
                // New audit records only: they are never updated, and deletions carry no data.
                if documents[id]["tableName"] != RECORDS_TABLE
                    || r["metadata"]["version"] != 0
                    || !r["data"].is_object()
                {
                    continue;
                }
                match r["data"]["eventTime"]
                    .as_str()
                    .and_then(EventTime::parse)
                    .map(|t| t.epoch_millis())
                {
                    Some(t) => {
                        *hours
                            .by_hour
                            .entry(t.div_euclid(3_600_000) * 3_600_000)
                            .or_default() += 1;
                    }
                    None => hours.untimed += 1,
                }
            }
            hours.blocks += 1;
        }
        Ok(())
    }

    /// Audit records per hour of `eventTime` over the `hours` up to now, as an SVG bar chart
    /// (and the numbers as a table, for whoever reads without the picture).
    fn chart_part(&self, now: UtcMillis, hours: i64) -> Result<String, String> {
        let hour = 3_600_000;
        let end = (now.0.div_euclid(hour) + 1) * hour;
        let start = end - hours * hour;
        let mut counted = self
            .hours
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.count_new_blocks(&mut counted)?;
        let bins: Vec<u64> = (0..hours)
            .map(|i| {
                counted
                    .by_hour
                    .get(&(start + i * hour))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        let in_span: u64 = bins.iter().sum();
        let outside = counted.by_hour.values().sum::<u64>() - in_span + counted.untimed;
        drop(counted);
        let max = bins.iter().copied().max().unwrap_or(0).max(1);
        let (width, height, bar) = (720.0_f64, 160.0_f64, 720.0 / bins.len().max(1) as f64);
        let mut s = format!(
            "<section id=\"activity\"><h2>Audit records per hour</h2>\n<p>{in_span} records in the {hours} hours to {} ({outside} outside them); other spans: <a href=\"?hours=24\">24 hours</a>, <a href=\"?hours=168\">7 days</a>.</p>\n\
             <svg id=\"records-chart\" role=\"img\" aria-label=\"audit records per hour\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">\n",
            format_time(UtcMillis(end)),
            height + 20.0,
            height + 20.0
        );
        for (i, n) in bins.iter().enumerate() {
            let h = (*n as f64) / (max as f64) * height;
            let from = UtcMillis(start + i as i64 * hour);
            let _ = writeln!(
                s,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{}: {n}</title></rect>",
                i as f64 * bar,
                height - h,
                (bar - 1.0).max(1.0),
                format_time(from)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{width}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"0\" y=\"12\">max {max}/hour</text></svg>",
            height + 16.0,
            format_time(UtcMillis(start)),
            height + 16.0,
            format_time(UtcMillis(end))
        );
        s.push_str("<details><summary>The numbers</summary><table id=\"records-per-hour\"><tr><th>Hour (UTC)</th><th>Records</th></tr>\n");
        for (i, n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{n}</td></tr>",
                format_time(UtcMillis(start + i as i64 * hour))
            );
        }
        s.push_str("</table></details></section>\n");
        Ok(s)
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}\
code{font-size:90%}.meta{color:#555}.PASS,.RESOLVED{background:#d7f5d7}.FAIL,.OPEN{background:#f8d0d0}\
.ERROR,.ACKNOWLEDGED{background:#f8ecc0}.NOT{background:#eee}rect.bar{fill:#4a78b5}svg text{font-size:11px;fill:#444}";

/// A duration as the largest sensible unit.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn millis(v: &Value) -> Option<String> {
    v.as_i64().map(|m| format_time(UtcMillis(m)))
}

fn trails_part(trails: &Result<Vec<TrailView>, String>) -> String {
    let mut s = String::from("<section id=\"trails\"><h2>Trails</h2>\n");
    let list = match trails {
        Ok(l) if l.is_empty() => {
            s.push_str("<p class=\"FAIL\">No trail.</p></section>\n");
            return s;
        }
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(s, "<p class=\"ERROR\">{}</p></section>", esc(e));
            return s;
        }
    };
    s.push_str("<table><tr><th>Trail</th><th>Logging</th><th>Multi-region</th><th>Log file validation</th><th>Latest delivery</th><th>Last validation</th></tr>\n");
    for t in list {
        let d = &t.described;
        let yes_no = |b: &Value| match b.as_bool() {
            Some(true) => "<td class=\"PASS\">yes</td>",
            Some(false) => "<td class=\"FAIL\">no</td>",
            None => "<td class=\"ERROR\">unknown</td>",
        };
        let (logging, delivery) = match &t.status {
            Ok(st) => {
                let delivered =
                    millis(&st["LatestDeliveryTime"]).unwrap_or_else(|| "none yet".to_owned());
                let error = st["LatestDeliveryError"]
                    .as_str()
                    .map(|e| format!("; error: {}", esc(e)))
                    .unwrap_or_default();
                let digest = millis(&st["LatestDigestDeliveryTime"])
                    .map(|t| format!("; digest {t}"))
                    .unwrap_or_default();
                (
                    yes_no(&st["IsLogging"]).to_owned(),
                    format!("<td>logs {delivered}{digest}{error}</td>"),
                )
            }
            Err(e) => {
                let cell = format!("<td class=\"ERROR\">{}</td>", esc(e));
                (cell.clone(), cell)
            }
        };
        let validation = match &t.validated {
            Ok(r) => {
                let bad = r["digests"]["invalid"].as_u64().unwrap_or(0)
                    + r["logs"]["invalid"].as_u64().unwrap_or(0)
                    + r["chainBreaks"].as_array().map_or(0, |a| a.len() as u64);
                let digests = r["digests"]["valid"].as_u64().unwrap_or(0);
                let class = if bad > 0 {
                    "FAIL"
                } else if digests == 0 {
                    "ERROR"
                } else {
                    "PASS"
                };
                format!(
                    "<td class=\"{class}\">{} to {}: {digests} digest files valid, {} invalid; {} log files valid, {} invalid</td>",
                    esc(r["start"].as_str().unwrap_or("?")),
                    esc(r["end"].as_str().unwrap_or("?")),
                    r["digests"]["invalid"].as_u64().unwrap_or(0),
                    r["logs"]["valid"].as_u64().unwrap_or(0),
                    r["logs"]["invalid"].as_u64().unwrap_or(0),
                )
            }
            Err(e) => format!("<td class=\"ERROR\">{}</td>", esc(e)),
        };
        let _ = writeln!(
            s,
            "<tr class=\"trail\"><td><code>{}</code> ({})</td>{logging}{}{}{delivery}{validation}</tr>",
            esc(d["Name"].as_str().unwrap_or("?")),
            esc(d["HomeRegion"].as_str().unwrap_or("?")),
            yes_no(&d["IsMultiRegionTrail"]),
            yes_no(&d["LogFileValidationEnabled"]),
        );
    }
    s.push_str("</table></section>\n");
    s
}

fn posture_part(run: &Result<Value, String>, counts: &RecordCounts) -> String {
    let mut s = String::from("<section id=\"posture\"><h2>Posture per framework</h2>\n");
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(s, "<p class=\"ERROR\">{}</p></section>", esc(e));
            return s;
        }
    };
    let rules = posture::expected_rules().unwrap_or_default();
    let all = frameworks::by_id("all").unwrap_or_default();
    let built = report::build(run, &all, &rules, counts);
    s.push_str("<table><tr><th>Framework</th><th>Status</th><th>Requirements</th></tr>\n");
    for f in built["frameworks"].as_array().into_iter().flatten() {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for r in f["requirements"].as_array().into_iter().flatten() {
            *by.entry(r["status"].as_str().unwrap_or("?")).or_default() += 1;
        }
        let summary: Vec<String> = by.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let status = f["status"].as_str().unwrap_or("?");
        let _ = writeln!(
            s,
            "<tr class=\"framework\"><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(f["name"].as_str().unwrap_or("?")),
            esc(status.split(' ').next().unwrap_or("")),
            esc(status),
            esc(&summary.join(", "))
        );
    }
    s.push_str("</table>\n");
    let summary = &run["summary"];
    let _ = writeln!(
        s,
        "<p id=\"check-counts\">{} checks passed, {} failed, {} could not run (<code>veritrail check</code>).</p>",
        summary["pass"], summary["fail"], summary["error"]
    );
    s.push_str("<table><tr><th>Check</th><th>Status</th><th>Reason</th></tr>\n");
    for c in run["checks"].as_array().into_iter().flatten() {
        let status = c["status"].as_str().unwrap_or("?");
        let _ = writeln!(
            s,
            "<tr class=\"check\"><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(c["id"].as_str().unwrap_or("?")),
            esc(status),
            esc(status),
            esc(c["reason"].as_str().unwrap_or(""))
        );
    }
    s.push_str("</table></section>\n");
    s
}

/// `name=value` from a query string.
fn param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Pages for Dashboard {
    fn get(&self, path: &str, query: Option<&str>) -> Page {
        if path != "/dashboard" && path != "/dashboard/" {
            return Page::text(
                404,
                format!("no page {path}: the dashboard is at /dashboard\n"),
            );
        }
        let hours = match param(query, "hours").map(str::parse::<i64>) {
            None => DEFAULT_HOURS,
            Some(Ok(h)) if (1..=MAX_HOURS).contains(&h) => h,
            Some(_) => {
                return Page::text(
                    400,
                    format!("hours must be a whole number from 1 to {MAX_HOURS}\n"),
                );
            }
        };
        let refresh = param(query, "refresh").is_some_and(|v| v == "1");
        match self.render(hours, refresh) {
            Ok(html) => Page::html(html),
            Err(e) => Page::text(500, format!("the dashboard cannot read the ledger: {e}\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::json_ion::json_to_ion;
    use veritrail_ledger::db::DatabaseOptions;
    use veritrail_ledger::{AppendRequest, Ledger, LedgerOptions};

    fn append(db: &Database, table: &str, key: &str, docs: &[serde_json::Value]) {
        db.append(
            &AppendRequest {
                table: table.into(),
                key_field: key.into(),
                batch_size: 2,
            },
            docs.iter().map(json_to_ion).collect(),
            |_| {},
        )
        .unwrap();
    }

    #[test]
    fn records_are_counted_by_the_hour_they_happened_once_each() {
        let dir =
            std::env::temp_dir().join(format!("veritrail-dashboard-hours-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ledger =
            Ledger::create(&dir.join("audit.ledger"), "audit", LedgerOptions::default()).unwrap();
        let db = Database::new(ledger, DatabaseOptions::default());
        let record = |id: &str, time: &str| serde_json::json!({"eventID": id, "eventTime": time});
        append(
            &db,
            RECORDS_TABLE,
            "eventID",
            &[
                record("a", "2026-01-01T10:15:00Z"),
                record("b", "2026-01-01T10:45:00Z"),
                record("c", "2026-01-01T11:05:00Z"),
                record("d", "not a time"),
            ],
        );
        // Another table's documents with an eventTime are not audit records.
        append(
            &db,
            "Alerts",
            "alertId",
            &[serde_json::json!({"alertId": "x", "eventTime": "2026-01-01T10:20:00Z"})],
        );
        let clock: Arc<dyn Clock> = Arc::clone(&db.ledger().options().clock);
        let dashboard = Dashboard::new(DashboardOptions {
            db: db.clone(),
            files: LedgerFiles::new("audit", &dir, Some(&dir)),
            ledger_dir: dir.clone(),
            key_dir: dir.clone(),
            data_dir: dir.clone(),
            clock,
            url: "http://127.0.0.1:9".into(),
            own: None,
        })
        .unwrap();
        let ten = EventTime::parse("2026-01-01T10:00:00Z")
            .unwrap()
            .epoch_millis();
        let eleven = ten + 3_600_000;
        let mut hours = Hours::default();
        dashboard.count_new_blocks(&mut hours).unwrap();
        assert_eq!(hours.by_hour, BTreeMap::from([(ten, 2), (eleven, 1)]));
        assert_eq!(hours.untimed, 1);
        assert_eq!(hours.blocks, db.ledger().block_count());

        // A new record and an update of an old one: only the new record counts, and nothing
        // already counted is counted again.
        append(
            &db,
            RECORDS_TABLE,
            "eventID",
            &[record("e", "2026-01-01T11:30:00Z")],
        );
        db.execute(
            "UPDATE AuditRecords AS r SET r.note = 'seen' WHERE r.eventID = 'a'",
            &[],
        )
        .unwrap();
        dashboard.count_new_blocks(&mut hours).unwrap();
        assert_eq!(hours.by_hour, BTreeMap::from([(ten, 2), (eleven, 2)]));
        assert_eq!(hours.blocks, db.ledger().block_count());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ages_and_query_parameters() {
        assert_eq!(age(59_000), "59 s");
        assert_eq!(age(3 * 60_000), "3 min");
        assert_eq!(age(5 * 3_600_000), "5 h");
        assert_eq!(age(3 * 86_400_000), "3 days");
        assert_eq!(age(-5), "0 s");
        assert_eq!(param(Some("hours=48&refresh=1"), "refresh"), Some("1"));
        assert_eq!(param(Some("hours=48"), "refresh"), None);
        assert_eq!(param(None, "hours"), None);
    }
}
