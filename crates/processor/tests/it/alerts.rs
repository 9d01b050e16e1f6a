//! Alerts: raised once per rule and record, reviewed as ledger revisions, delivered with
//! retries or dead-lettered.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{clock, crash_after_first_batch, ingest, rows, run, shared, with_inputs};
use serde_json::Value as Json;
use veritrail_core::time::UtcMillis;
use veritrail_processor::alerts::{self, ReviewError, State};
use veritrail_processor::notify::{Deliverer, Delivery, Pause, Retry, Webhook};

const STOP: &str = "stratus-red-team/aws.defense-evasion.cloudtrail-stop.json";
const DELETE: &str = "stratus-red-team/aws.defense-evasion.cloudtrail-delete.json";
const BENIGN: [&str; 2] = [
    "stratus-red-team/aws.credential-access.ssm-retrieve-securestring-parameters.json",
    "stratus-red-team/aws.credential-access.secretsmanager-retrieve-secrets.json",
];

fn event_id(rel: &str) -> String {
    let v: Json = serde_json::from_slice(&std::fs::read(shared(rel)).unwrap()).unwrap();
    v[0]["eventID"].as_str().unwrap().to_owned()
}

/// (ruleId, eventIDs) of every alert in the ledger, sorted.
fn alert_rules(db: &veritrail_ledger::db::Database) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = alerts::list(db, None)
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["eventIDs"].as_array().unwrap().len(), 1);
            (
                a["ruleId"].as_str().unwrap().to_owned(),
                a["eventIDs"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn trail_tampering_raises_each_alert_once_and_benign_activity_none() {
    let (dir, db) = with_inputs("alerts-once", &[STOP, DELETE, BENIGN[0], BENIGN[1]]);
    let input = dir.join("in");
    let (summary, heard) = ingest(&db, &input, &dir.join("state"));
    assert_eq!(summary.rejected, 0, "{:?}", heard.rejected);

    let stop = event_id(STOP);
    let delete = event_id(DELETE);
    let raised = alert_rules(&db);
    assert!(
        raised.contains(&("trail-logging-stopped".into(), stop.clone())),
        "{raised:?}"
    );
    assert!(
        raised.contains(&("trail-deleted".into(), delete.clone())),
        "{raised:?}"
    );
    assert!(
        raised.iter().all(|(_, e)| *e == stop || *e == delete),
        "benign records raised alerts: {raised:?}"
    );
    assert_eq!(summary.alerts as usize, raised.len());
    assert_eq!(summary.rule_matches as usize, raised.len());

    let stopped = alerts::list(&db, Some(State::Open))
        .unwrap()
        .into_iter()
        .find(|a| a["ruleId"] == "trail-logging-stopped")
        .unwrap();
    assert_eq!(stopped["state"], "OPEN");
    assert_eq!(stopped["severity"], "critical");
    assert_eq!(stopped["eventName"], "StopLogging");
    assert!(!stopped["controls"].as_array().unwrap().is_empty());
    assert_eq!(
        stopped["alertId"].as_str().unwrap(),
        alerts::alert_id("audit-trail-protection", "trail-logging-stopped", &stop)
    );

    // A replay without the checkpoint raises nothing new.
    std::fs::remove_dir_all(dir.join("state")).unwrap();
    let (replay, _) = ingest(&db, &input, &dir.join("state"));
    assert_eq!(replay.alerts, 0);
    assert_eq!(replay.rule_matches, summary.rule_matches);
    assert_eq!(alert_rules(&db), raised);
}

#[test]
fn reviews_are_revisions_and_transitions_are_checked() {
    let (dir, db) = with_inputs("alerts-review", &[STOP]);
    ingest(&db, &dir.join("in"), &dir.join("state"));
    let id = alerts::alert_id(
        "audit-trail-protection",
        "trail-logging-stopped",
        &event_id(STOP),
    );
    let at = UtcMillis(1_767_300_000_000);

    let acked = alerts::review(&db, &id, State::Acknowledged, "alice", "looking", at).unwrap();
    assert_eq!(acked["state"], "ACKNOWLEDGED");
    assert_eq!(acked["review"]["by"], "alice");
    assert!(matches!(
        alerts::review(&db, &id, State::Acknowledged, "bob", "again", at),
        Err(ReviewError::Transition { .. })
    ));
    let resolved = alerts::review(&db, &id, State::Resolved, "bob", "trail restarted", at).unwrap();
    assert_eq!(resolved["state"], "RESOLVED");
    let again = alerts::review(&db, &id, State::Resolved, "bob", "again", at).unwrap_err();
    assert!(again.to_string().contains("is RESOLVED"), "{again}");
    assert!(matches!(
        alerts::review(&db, "nope", State::Resolved, "bob", "x", at),
        Err(ReviewError::NotFound(_))
    ));
    assert!(matches!(
        alerts::review(&db, &id, State::Resolved, " ", "x", at),
        Err(ReviewError::Incomplete(_))
    ));

    let history = rows(
        &db,
        &format!(
            "SELECT h.metadata.version AS v, h.data.state AS state, h.data.review.by AS who \
             FROM history(Alerts) AS h WHERE h.data.alertId = '{id}'"
        ),
    );
    let mut trail: Vec<(i64, String, Option<String>)> = history
        .iter()
        .map(|h| {
            (
                h["v"].as_i64().unwrap(),
                h["state"].as_str().unwrap().to_owned(),
                h.get("who").and_then(Json::as_str).map(str::to_owned),
            )
        })
        .collect();
    trail.sort();
    assert_eq!(
        trail,
        vec![
            (0, "OPEN".into(), None),
            (1, "ACKNOWLEDGED".into(), Some("alice".into())),
            (2, "RESOLVED".into(), Some("bob".into())),
        ]
    );
}

/// Pauses recorded, not slept.
#[derive(Debug, Default)]
struct Recorded(Mutex<Vec<Duration>>);

impl Pause for Recorded {
    fn pause(&self, d: Duration) {
        self.0.lock().unwrap().push(d);
    }
}

/// A webhook receiver on port 0 answering with `statuses` in turn, keeping the bodies.
fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Json>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for status in statuses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").unwrap();
        }
    });
    (url, bodies)
}

/// Runs the processor over `dir/in` with alerts delivered to `webhook`.
fn run_delivering(
    db: &veritrail_ledger::db::Database,
    dir: &std::path::Path,
    webhook: Webhook,
    retry: Retry,
    pauses: &Arc<Recorded>,
) -> veritrail_processor::Summary {
    let deliverer = Deliverer::new(
        Box::new(webhook),
        &dir.join("state"),
        retry,
        pauses.clone(),
        clock(),
    )
    .unwrap();
    run(db, &dir.join("in"), &dir.join("state"), 10, Some(deliverer)).0
}

#[test]
fn a_webhook_gets_each_alert_after_retries_and_a_replay_sends_nothing_again() {
    let (dir, db) = with_inputs("alerts-webhook", &[DELETE]);
    // trail-deleted and CIS 4.5 fire on DeleteTrail: 2 alerts; the first is refused twice.
    let (url, bodies) = receiver(vec![503, 500, 200, 200]);
    let pauses = Arc::new(Recorded::default());
    let summary = run_delivering(
        &db,
        &dir,
        Webhook::new(&url).unwrap(),
        Retry {
            attempts: 4,
            first_wait: Duration::from_millis(100),
        },
        &pauses,
    );
    assert_eq!(summary.alerts, 2);
    assert_eq!((summary.alerts_sent, summary.alerts_failed), (2, 0));
    assert_eq!(
        *pauses.0.lock().unwrap(),
        vec![Duration::from_millis(100), Duration::from_millis(200)]
    );
    let got: Vec<String> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["alertId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], got[1]);
    assert_eq!(got[1], got[2]);

    // A replay (checkpoint gone) raises the same alerts; the delivery log has them.
    std::fs::remove_file(dir.join("state/ingested.jsonl")).unwrap();
    let replay = run_delivering(
        &db,
        &dir,
        Webhook::new(&url).unwrap(),
        Retry::default(),
        &pauses,
    );
    assert_eq!(
        (
            replay.rule_matches,
            replay.alerts_sent,
            replay.alerts_failed
        ),
        (2, 0, 0)
    );
}

#[test]
fn an_unreachable_webhook_dead_letters_the_alert() {
    let (dir, db) = with_inputs("alerts-dead", &[STOP]);
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let webhook = Webhook::new(&format!("http://127.0.0.1:{port}/")).unwrap();
    let pauses = Arc::new(Recorded::default());
    let summary = run_delivering(
        &db,
        &dir,
        webhook,
        Retry {
            attempts: 3,
            first_wait: Duration::from_secs(1),
        },
        &pauses,
    );
    assert_eq!(
        (summary.alerts_sent, summary.alerts_failed),
        (0, summary.alerts)
    );
    assert!(summary.alerts >= 1);
    assert_eq!(pauses.0.lock().unwrap().len() as u64, 2 * summary.alerts);
    let dead = std::fs::read_to_string(dir.join("state/dead-letter.jsonl")).unwrap();
    let lines: Vec<Json> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, summary.alerts);
    assert!(
        lines
            .iter()
            .any(|l| l["alert"]["ruleId"] == "trail-logging-stopped")
    );
    assert!(
        lines[0]["error"].as_str().unwrap().contains("connect"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["attempts"], 3);

    assert!(Webhook::new("https://example.invalid/").is_err());
    assert!(Webhook::new("http://host:notaport/").is_err());
    let _ = Delivery::Sent { attempts: 1 };
}

#[test]
fn alerts_recorded_before_a_crash_are_delivered_by_the_rerun() {
    let (dir, db) = with_inputs("alerts-crash", &[STOP]);
    // The records and alerts become durable; the process dies before delivering and before
    // the checkpoint.
    let counters = crash_after_first_batch(&db, &dir.join("in"), &dir.join("state"));
    let recorded = counters.summary().alerts;
    assert!(recorded >= 1);

    let (url, bodies) = receiver(vec![200; recorded as usize]);
    let pauses = Arc::new(Recorded::default());
    let rerun = run_delivering(
        &db,
        &dir,
        Webhook::new(&url).unwrap(),
        Retry::default(),
        &pauses,
    );
    assert_eq!(rerun.alerts, 0, "nothing new is recorded");
    assert_eq!(
        rerun.alerts_sent, recorded,
        "but every recorded alert is delivered"
    );
    assert_eq!(bodies.lock().unwrap().len() as u64, recorded);
}
