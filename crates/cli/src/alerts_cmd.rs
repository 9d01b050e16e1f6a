//! `veritrail alerts list|show|ack|resolve`: the alerts the processor recorded in a ledger, and
//! their review. A review is a ledger revision of the alert (who, when, the note), so
//! `history(Alerts)` is the review trail an auditor reads.
//!
//! Exit codes: 0 done, 1 the alert's state does not allow the review (resolving a resolved
//! alert), 2 no such alert, or the command line or the ledger cannot be used.

use std::io::Write as _;

use clap::Subcommand;
use serde_json::{Value as Json, json};
use veritrail_processor::alerts::{self, ReviewError, State};

use crate::Outcome;
use crate::ledger_cmd::{LedgerArg, bad_input, open_database};
use crate::verify_cmd::report;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The alerts, oldest first: id, state, severity, rule, event.
    List {
        #[command(flatten)]
        ledger: LedgerArg,
        /// Only alerts in this state: OPEN, ACKNOWLEDGED or RESOLVED.
        #[arg(long, value_parser = parse_state)]
        state: Option<State>,
        /// One JSON object per alert, one per line.
        #[arg(long)]
        json: bool,
    },
    /// One alert, as JSON.
    Show {
        /// The alert's id.
        id: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Acknowledge an OPEN alert: someone is looking at it.
    Ack(Review),
    /// Resolve an OPEN or ACKNOWLEDGED alert.
    Resolve(Review),
}

#[derive(Debug, clap::Args)]
pub struct Review {
    /// The alert's id.
    id: String,
    #[command(flatten)]
    ledger: LedgerArg,
    /// Who reviewed it.
    #[arg(long, value_name = "WHO")]
    by: String,
    /// What was found or done.
    #[arg(long, value_name = "TEXT")]
    note: String,
    /// Print the alert as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_state(s: &str) -> Result<State, String> {
    State::parse(s).ok_or_else(|| format!("`{s}` is not OPEN, ACKNOWLEDGED or RESOLVED"))
}

fn line(a: &Json) -> String {
    let text = |k: &str| a[k].as_str().unwrap_or("-").to_owned();
    format!(
        "{}  {:<12}  {:<8}  {}/{}  {} {} {}",
        text("alertId"),
        text("state"),
        text("severity"),
        text("packId"),
        text("ruleId"),
        text("eventTime"),
        text("eventName"),
        a["eventIDs"][0].as_str().unwrap_or("-"),
    )
}

pub fn run(cmd: AlertsCommand) -> Outcome {
    match cmd {
        AlertsCommand::List {
            ledger,
            state,
            json,
        } => {
            let db = match open_database(&ledger.files(), true) {
                Ok(db) => db,
                Err(e) => return bad_input(json, e),
            };
            match alerts::list(&db, state) {
                Ok(list) => {
                    let mut out = std::io::stdout().lock();
                    for a in &list {
                        let text = if json { a.to_string() } else { line(a) };
                        // A closed pipe (`| head`) ends the listing.
                        if writeln!(out, "{text}").is_err() {
                            break;
                        }
                    }
                    Outcome::Verified
                }
                Err(e) => bad_input(json, e),
            }
        }
        AlertsCommand::Show { id, ledger } => {
            let db = match open_database(&ledger.files(), true) {
                Ok(db) => db,
                Err(e) => return bad_input(true, e),
            };
            match alerts::show(&db, &id) {
                Ok(Some(a)) => {
                    println!("{a}");
                    Outcome::Verified
                }
                Ok(None) => bad_input(true, format!("no alert {id}")),
                Err(e) => bad_input(true, e),
            }
        }
        AlertsCommand::Ack(r) => review(r, State::Acknowledged),
        AlertsCommand::Resolve(r) => review(r, State::Resolved),
    }
}

fn review(r: Review, to: State) -> Outcome {
    let db = match open_database(&r.ledger.files(), true) {
        Ok(db) => db,
        Err(e) => return bad_input(r.json, e),
    };
    let now = db.ledger().now();
    match alerts::review(&db, &r.id, to, &r.by, &r.note, now) {
        Ok(a) => {
            if r.json {
                println!("{a}");
            } else {
                println!("alert {} is {} (by {}, {})", r.id, to.as_str(), r.by, now);
            }
            Outcome::Verified
        }
        Err(e @ ReviewError::Transition { .. }) => report(
            r.json,
            Outcome::Failed,
            &format!("error: {e}"),
            json!({"check": "state"}),
        ),
        Err(e) => bad_input(r.json, e),
    }
}
