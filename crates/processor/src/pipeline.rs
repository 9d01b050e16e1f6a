//! The pipeline: a [`Source`]'s batches through validation and the rules into the ledger.
//!
//! For each batch: every event becomes a record or a [`Rejection`] (counted, reported, never
//! stopping the pipeline); each record goes through the [`RuleSet`]; the records are appended
//! to `AuditRecords` keyed by `eventID`, then the alerts to `Alerts` keyed by `alertId`, each in
//! transactions of `batch_size` documents; then the alerts are delivered; only then is the batch
//! acknowledged to its source. A crash anywhere in between makes the source hand the batch over
//! again, and the idempotent appends store nothing twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value as Json;
use veritrail_core::ion_rs::Element;
use veritrail_core::json_ion::json_to_ion;
use veritrail_core::record::EventTime;
use veritrail_core::time::Clock;
use veritrail_ledger::AppendRequest;
use veritrail_ledger::db::Database;
use veritrail_rules::envelope;

use crate::alerts::{self, ALERT_KEY, ALERTS_TABLE, RuleSet};
use crate::document::{Rejection, record_from_event};
use crate::error::ProcessorError;
use crate::notify::{Deliverer, Delivery};
use crate::source::{RawEvent, Source, SourceBatch};

/// The ledger table of audit records.
pub const RECORDS_TABLE: &str = "AuditRecords";
/// The key of an audit record.
pub const RECORD_KEY: &str = "eventID";

/// The processor's counters, shared with whoever reports them (a progress line, `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub appended: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    /// Records stored whose event the rules could not read (over EventBridge's limits).
    pub unmatched: AtomicU64,
    pub rule_matches: AtomicU64,
    /// Alerts newly recorded in `Alerts` (a replay's alerts are duplicates, not counted).
    pub alerts: AtomicU64,
    pub alerts_sent: AtomicU64,
    pub alerts_failed: AtomicU64,
    pub batches: AtomicU64,
    /// The newest `eventTime` appended, in milliseconds since the epoch (lag = now − this).
    pub newest_event_ms: AtomicU64,
    /// The ledger's tip after the last batch.
    pub ledger_tip: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub received: u64,
    pub appended: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub unmatched: u64,
    pub rule_matches: u64,
    pub alerts: u64,
    pub alerts_sent: u64,
    pub alerts_failed: u64,
    pub batches: u64,
}

impl Counters {
    pub fn summary(&self) -> Summary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            received: get(&self.received),
            appended: get(&self.appended),
            duplicates: get(&self.duplicates),
            rejected: get(&self.rejected),
            unmatched: get(&self.unmatched),
            rule_matches: get(&self.rule_matches),
            alerts: get(&self.alerts),
            alerts_sent: get(&self.alerts_sent),
            alerts_failed: get(&self.alerts_failed),
            batches: get(&self.batches),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Hears what the pipeline does (the CLI logs and shows progress through it).
pub trait Observer {
    /// An event was rejected.
    fn rejected(&mut self, _rejection: &Rejection) {}
    /// A record was stored but the rules could not read it.
    fn unmatched(&mut self, _at: &str, _reason: &str) {}
    /// An alert was delivered or dead-lettered.
    fn delivered(&mut self, _alert: &Json, _delivery: &Delivery) {}
    /// A batch is durable and acknowledged.
    fn batch_done(&mut self, _origin: &str, _summary: &Summary, _remaining: Option<usize>) {}
}

/// An observer that hears nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// What the processor needs besides the ledger and the rules.
#[derive(Debug)]
pub struct ProcessorOptions {
    /// Documents per ledger transaction (one journal block each).
    pub batch_size: usize,
    /// `raisedAt` of alerts.
    pub clock: Arc<dyn Clock>,
    /// Where alerts go; `None`: recorded in the ledger only.
    pub deliverer: Option<Deliverer>,
}

/// The audit processor over one ledger.
#[derive(Debug)]
pub struct Processor<'a> {
    db: &'a Database,
    rules: &'a RuleSet,
    options: ProcessorOptions,
    counters: Arc<Counters>,
}

/// What storing one batch did, for its log line.
#[derive(Debug, Default, Clone, Copy)]
struct Stored {
    appended: u64,
    duplicates: u64,
    rejected: u64,
    alerts: u64,
}

/// A batch's records and alerts, ready to append, and what was set aside.
#[derive(Debug, Default)]
struct Prepared {
    records: Vec<Element>,
    alerts: Vec<Json>,
    rejected: Vec<Rejection>,
    /// The positions of the rejected events in the batch as read.
    rejected_at: Vec<usize>,
    unmatched: Vec<(String, String)>,
}

/// What preparing a batch needs; shared with the thread that prepares the next batch while
/// the previous one is appended.
#[derive(Debug, Clone)]
struct Preparer<'a> {
    db: &'a Database,
    rules: &'a RuleSet,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
}

impl Prepared {
    fn reject(&mut self, index: usize, at: String, reason: String) {
        self.rejected.push(Rejection { at, reason });
        self.rejected_at.push(index);
    }
}

impl Preparer<'_> {
    /// Each event validated, through the rules, and in its Ion form; bad ones set aside.
    fn prepare(&self, events: Vec<RawEvent>) -> Prepared {
        let mut out = Prepared {
            records: Vec::with_capacity(events.len()),
            ..Prepared::default()
        };
        add(&self.counters.received, events.len() as u64);
        let mut newest = 0u64;
        for (index, raw) in events.into_iter().enumerate() {
            let value = match raw.value {
                Ok(v) => v,
                Err(reason) => {
                    out.reject(index, raw.at, reason);
                    continue;
                }
            };
            let mut record = match record_from_event(value) {
                Ok(r) => r,
                Err(reason) => {
                    out.reject(index, raw.at, reason);
                    continue;
                }
            };
            let event = envelope::into_event(std::mem::take(&mut record.fields));
            let matched = self.rules.matches(&event);
            let fields = envelope::into_record(event).unwrap_or_default();
            let document = json_to_ion(&Json::Object(fields));
            // Checked here, on this thread, so that the ledger refuses no batch for one record.
            if let Err(e) = self.db.check_append_document(&document) {
                let reason = format!("record {}: the ledger cannot take it: {e}", record.event_id);
                out.reject(index, raw.at, reason);
                continue;
            }
            match matched {
                Ok(matched) if !matched.is_empty() => {
                    let now = self.clock.now();
                    for (pack, rule) in matched {
                        out.alerts
                            .push(alerts::alert_document(pack, rule, &record, now));
                    }
                }
                Ok(_) => {}
                Err(e) => out.unmatched.push((raw.at, e.to_string())),
            }
            if let Some(t) = EventTime::parse(&record.event_time) {
                newest = newest.max(u64::try_from(t.epoch_millis()).unwrap_or(0));
            }
            out.records.push(document);
        }
        self.counters
            .newest_event_ms
            .fetch_max(newest, Ordering::Relaxed);
        out
    }
}

impl<'a> Processor<'a> {
    pub fn new(db: &'a Database, rules: &'a RuleSet, options: ProcessorOptions) -> Self {
        Self {
            db,
            rules,
            options,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Runs until the source has nothing more. Stops only when the ledger or a file the
    /// processor keeps fails; what was acknowledged until then is durable.
    ///
    /// The next batch is read and prepared (validation, rules, Ion) on a second thread while
    /// the current one is appended; batches are stored and acknowledged in order.
    pub fn run<S: Source>(
        &mut self,
        source: &S,
        observer: &mut dyn Observer,
    ) -> Result<Summary, ProcessorError> {
        let preparer = self.preparer();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            scope.spawn(|| {
                let tx = tx;
                loop {
                    let next = source.next_batch();
                    let item = match next {
                        Ok(Some(mut batch)) => {
                            let prepared = preparer.prepare(std::mem::take(&mut batch.events));
                            Ok((batch, prepared))
                        }
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    let failed = item.is_err();
                    // The receiver is gone when storing failed: stop reading.
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            });
            for item in rx {
                let (mut batch, mut prepared) = item?;
                batch.rejected = std::mem::take(&mut prepared.rejected_at);
                let stored = self.store(prepared, observer)?;
                source.acknowledge(&batch)?;
                add(&self.counters.batches, 1);
                tracing::info!(
                    origin = %batch.origin,
                    appended = stored.appended,
                    duplicates = stored.duplicates,
                    rejected = stored.rejected,
                    alerts = stored.alerts,
                    "batch durable and acknowledged"
                );
                observer.batch_done(&batch.origin, &self.counters.summary(), source.remaining());
            }
            Ok(self.counters.summary())
        })
    }

    /// One batch into the ledger (records, then alerts), and its alerts delivered. The batch
    /// is not acknowledged here.
    pub fn process<T>(
        &mut self,
        batch: &mut SourceBatch<T>,
        observer: &mut dyn Observer,
    ) -> Result<(), ProcessorError> {
        let events = std::mem::take(&mut batch.events);
        let mut prepared = self.preparer().prepare(events);
        batch.rejected = std::mem::take(&mut prepared.rejected_at);
        self.store(prepared, observer).map(|_| ())
    }

    fn preparer(&self) -> Preparer<'a> {
        Preparer {
            db: self.db,
            rules: self.rules,
            clock: Arc::clone(&self.options.clock),
            counters: Arc::clone(&self.counters),
        }
    }

    fn store(
        &mut self,
        mut prepared: Prepared,
        observer: &mut dyn Observer,
    ) -> Result<Stored, ProcessorError> {
        let c = Arc::clone(&self.counters);
        let mut stored = Stored {
            rejected: prepared.rejected.len() as u64,
            ..Stored::default()
        };
        if !prepared.records.is_empty() {
            let report = self.db.append(
                &AppendRequest {
                    table: RECORDS_TABLE.into(),
                    key_field: RECORD_KEY.into(),
                    batch_size: self.options.batch_size,
                },
                std::mem::take(&mut prepared.records),
                |_| {},
            )?;
            add(&c.appended, report.appended);
            add(&c.duplicates, report.duplicates);
            stored.appended = report.appended;
            stored.duplicates = report.duplicates;
        }
        // The observer first (a progress line is cleared), then the log line.
        for r in &prepared.rejected {
            add(&c.rejected, 1);
            observer.rejected(r);
            tracing::warn!(at = %r.at, reason = %r.reason, "event rejected");
        }
        for (at, reason) in &prepared.unmatched {
            add(&c.unmatched, 1);
            observer.unmatched(at, reason);
            tracing::warn!(at = %at, reason = %reason, "record stored without rules");
        }
        let alerts = prepared.alerts;
        if !alerts.is_empty() {
            add(&c.rule_matches, alerts.len() as u64);
            let report = self.db.append(
                &AppendRequest {
                    table: ALERTS_TABLE.into(),
                    key_field: ALERT_KEY.into(),
                    batch_size: self.options.batch_size,
                },
                alerts.iter().map(alerts::to_ion).collect(),
                |_| {},
            )?;
            add(&c.alerts, report.appended);
            stored.alerts = report.appended;
            for alert in &alerts {
                tracing::info!(
                    alert_id = alert["alertId"].as_str().unwrap_or_default(),
                    rule = alert["ruleId"].as_str().unwrap_or_default(),
                    severity = alert["severity"].as_str().unwrap_or_default(),
                    event_ids = %alert["eventIDs"],
                    "rule matched"
                );
            }
            if let Some(deliverer) = self.options.deliverer.as_mut() {
                for alert in &alerts {
                    if let Some(d) = deliverer.deliver(alert)? {
                        let alert_id = alert["alertId"].as_str().unwrap_or_default();
                        match &d {
                            Delivery::Sent { attempts } => {
                                add(&c.alerts_sent, 1);
                                tracing::info!(alert_id, attempts, "alert delivered");
                            }
                            Delivery::DeadLettered { attempts, error } => {
                                add(&c.alerts_failed, 1);
                                observer.delivered(alert, &d);
                                tracing::warn!(
                                    alert_id,
                                    attempts,
                                    error = %error,
                                    "alert not delivered; written to the dead-letter file"
                                );
                                continue;
                            }
                        }
                        observer.delivered(alert, &d);
                    }
                }
            }
        }
        let tip = self.db.ledger().block_count().saturating_sub(1);
        c.ledger_tip.store(tip, Ordering::Relaxed);
        Ok(stored)
    }
}
