//! The processor's counters in the Prometheus text format (OpenMetrics, through
//! `prometheus-client`), with the lag behind the newest event, the ledger's tip and the age of
//! its newest signed checkpoint, and a minimal `/metrics` endpoint for a long-running ingest.
//!
//! The endpoint answers `GET /metrics` and nothing else (404), one connection at a time, with a
//! read timeout, so a slow or hostile client costs one thread a few seconds and nothing more.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use veritrail_core::record::EventTime;
use veritrail_core::time::{Clock, UtcMillis};
use veritrail_ledger::files::LedgerFiles;

use crate::error::ProcessorError;
use crate::pipeline::Counters;

/// The counters as Prometheus text; `lag` is measured on `clock` against the newest event
/// appended, and the checkpoint's age against `checkpoint_time` (the `time` line of the
/// newest signed checkpoint) when there is one.
pub fn render(
    counters: &Counters,
    clock: &dyn Clock,
    checkpoint_time: Option<UtcMillis>,
) -> String {
    let s = counters.summary();
    let mut registry = Registry::with_prefix("veritrail_processor");
    let counter = |r: &mut Registry, name: &str, help: &str, v: u64| {
        r.register(name, help, ConstCounter::new(v));
    };
    counter(
        &mut registry,
        "records_received",
        "Events read from sources",
        s.received,
    );
    counter(
        &mut registry,
        "records_appended",
        "Records appended to AuditRecords",
        s.appended,
    );
    counter(
        &mut registry,
        "records_duplicates",
        "Records skipped because their eventID was already stored",
        s.duplicates,
    );
    counter(
        &mut registry,
        "records_rejected",
        "Events rejected (malformed, not a CloudTrail record, over the ledger's limits)",
        s.rejected,
    );
    counter(
        &mut registry,
        "records_stored_without_rules",
        "Records stored that the rules could not read (over EventBridge's limits)",
        s.unmatched,
    );
    counter(
        &mut registry,
        "rule_matches",
        "Rule matches",
        s.rule_matches,
    );
    counter(
        &mut registry,
        "alerts_recorded",
        "Alerts newly recorded in Alerts",
        s.alerts,
    );
    counter(
        &mut registry,
        "alerts_sent",
        "Alerts delivered",
        s.alerts_sent,
    );
    counter(
        &mut registry,
        "alerts_failed",
        "Alerts written to the dead-letter file after every attempt failed",
        s.alerts_failed,
    );
    counter(
        &mut registry,
        "batches",
        "Batches (files) done and acknowledged",
        s.batches,
    );
    let newest = counters.newest_event_ms.load(Ordering::Relaxed);
    let lag = if newest == 0 {
        0
    } else {
        (clock.now().0 - i64::try_from(newest).unwrap_or(i64::MAX)).max(0) / 1000
    };
    registry.register(
        "lag_seconds",
        "Seconds between now and the newest eventTime appended",
        ConstGauge::new(lag),
    );
    registry.register(
        "ledger_tip",
        "Sequence number of the ledger's newest block",
        ConstGauge::new(
            i64::try_from(counters.ledger_tip.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
        ),
    );
    if let Some(t) = checkpoint_time {
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the newest signed checkpoint of the ledger",
            ConstGauge::new((clock.now().0 - t.0).max(0) / 1000),
        );
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The `time` of the ledger's newest signed checkpoint, read from its note. The note is not
/// verified here (that is `veritrail ledger verify`'s work): the time only feeds a gauge.
pub fn checkpoint_time(files: &LedgerFiles) -> Option<UtcMillis> {
    let (_, note) = files.latest_checkpoint().ok()??;
    let time = note.lines().find_map(|l| l.strip_prefix("time "))?;
    EventTime::parse(time).map(|t| UtcMillis(t.epoch_millis()))
}

/// Serves `/metrics` on `addr` (port 0 picks one) from a thread of its own; returns the bound
/// address. The thread lives as long as the process. With `files`, each answer also gives
/// the age of the ledger's newest signed checkpoint.
pub fn serve(
    addr: SocketAddr,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    files: Option<LedgerFiles>,
) -> Result<SocketAddr, ProcessorError> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| ProcessorError::Config(format!("cannot listen on {addr} for metrics: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ProcessorError::Config(format!("metrics listener: {e}")))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let checkpoint = files.as_ref().and_then(checkpoint_time);
                let _ = answer(stream, &counters, clock.as_ref(), checkpoint);
            }
        })
        .map_err(|e| ProcessorError::Config(format!("cannot start the metrics thread: {e}")))?;
    Ok(bound)
}

fn answer(
    stream: TcpStream,
    counters: &Counters,
    clock: &dyn Clock,
    checkpoint: Option<UtcMillis>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(std::io::Read::take(&stream, 16 * 1024));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers up to the blank line (bounded by the 16 KiB above).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (status, content_type, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(counters, clock, checkpoint),
        ),
        _ => (
            "404 Not Found",
            "text/plain",
            "only GET /metrics\n".to_owned(),
        ),
    };
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
