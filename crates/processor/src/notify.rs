//! Delivering alerts: a webhook (HTTP POST of the alert as JSON), retried with exponential
//! backoff, then written to a dead-letter file. Nothing is dropped silently: every alert the
//! ledger records ends as `sent` or `dead-letter` in the delivery log, and an alert recorded
//! but not yet in the log (a crash in between) is delivered on the next run that sees it, so
//! delivery is at least once and a receiver tells repeats by `alertId`.
//!
//! Waiting between attempts goes through [`Pause`] and times come from the injected clock,
//! so tests neither sleep nor read the system clock.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use veritrail_core::time::Clock;

use crate::alerts::ALERT_KEY;
use crate::error::ProcessorError;
use crate::source::append_line;

/// Something that delivers one alert, once; the [`Deliverer`] retries it.
pub trait Notifier: Send + std::fmt::Debug {
    /// Where alerts go (for messages).
    fn target(&self) -> String;
    /// One attempt; the error says why it failed.
    fn send(&mut self, alert: &Json) -> Result<(), String>;
}

/// Waiting between attempts.
pub trait Pause: Send + Sync + std::fmt::Debug {
    fn pause(&self, duration: Duration);
}

/// Waits by sleeping the thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleep;

impl Pause for Sleep {
    fn pause(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// An HTTP webhook: `http://host[:port]/path`. HTTPS needs a TLS stack the processor does not
/// carry; point it at a local relay.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: String,
    host: String,
    port: u16,
    path: String,
    timeout: Duration,
}

impl Webhook {
    pub fn new(url: &str) -> Result<Self, ProcessorError> {
        let bad = |why: &str| ProcessorError::Config(format!("webhook URL `{url}`: {why}"));
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            bad("only http:// is supported (no TLS in the processor; use a local relay for https)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, 80),
        };
        if host.is_empty() || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("no host, or a path with spaces or control characters"));
        }
        Ok(Self {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            timeout: Duration::from_secs(10),
        })
    }
}

impl Notifier for Webhook {
    fn target(&self) -> String {
        self.url.clone()
    }

    fn send(&mut self, alert: &Json) -> Result<(), String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addr = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| e.to_string())?;
        let body = alert.to_string();
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: veritrail-processor\r\n\r\n{body}",
            self.path,
            self.host,
            self.port,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("sending: {e}"))?;
        let mut status = String::new();
        BufReader::new((&mut stream).take(8192))
            .read_line(&mut status)
            .map_err(|e| format!("reading the answer: {e}"))?;
        let code = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP answer: {:?}", status.trim_end()))?;
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP {code}"))
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_wait: Duration::from_millis(500),
        }
    }
}

/// What happened to one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent { attempts: u32 },
    DeadLettered { attempts: u32, error: String },
}

/// Delivers alerts through a [`Notifier`], with retries, a delivery log and a dead-letter file
/// (both JSON Lines, synced).
#[derive(Debug)]
pub struct Deliverer {
    notifier: Box<dyn Notifier>,
    retry: Retry,
    pause: Arc<dyn Pause>,
    clock: Arc<dyn Clock>,
    log: PathBuf,
    dead_letter: PathBuf,
    done: HashSet<String>,
}

impl Deliverer {
    /// Keeps its delivery log and dead-letter file in `dir`.
    pub fn new(
        notifier: Box<dyn Notifier>,
        dir: &Path,
        retry: Retry,
        pause: Arc<dyn Pause>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProcessorError> {
        let log = dir.join("delivered.jsonl");
        let mut done = HashSet::new();
        match std::fs::File::open(&log) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(|e| ProcessorError::io(&log, e))?;
                    if let Ok(v) = serde_json::from_str::<Json>(&line) {
                        if let Some(id) = v[ALERT_KEY].as_str() {
                            done.insert(id.to_owned());
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProcessorError::io(&log, e)),
        }
        Ok(Self {
            notifier,
            retry,
            pause,
            clock,
            log,
            dead_letter: dir.join("dead-letter.jsonl"),
            done,
        })
    }

    /// Whether the delivery log has this alert (sent or dead-lettered).
    pub fn is_done(&self, alert_id: &str) -> bool {
        self.done.contains(alert_id)
    }

    /// Delivers one alert (unless the log has it): attempts with backoff, then the dead-letter
    /// file; the outcome goes to the log. `None` when it was already done.
    pub fn deliver(&mut self, alert: &Json) -> Result<Option<Delivery>, ProcessorError> {
        let id = alert[ALERT_KEY].as_str().unwrap_or_default().to_owned();
        if self.done.contains(&id) {
            return Ok(None);
        }
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.first_wait;
        let mut last_error = String::new();
        let mut outcome = None;
        for attempt in 1..=attempts {
            match self.notifier.send(alert) {
                Ok(()) => {
                    outcome = Some(Delivery::Sent { attempts: attempt });
                    break;
                }
                Err(e) => last_error = e,
            }
            if attempt < attempts {
                self.pause.pause(wait);
                wait = wait.saturating_mul(2);
            }
        }
        let at = self.clock.now().to_string();
        let outcome = match outcome {
            Some(sent) => sent,
            None => {
                append_line(
                    &self.dead_letter,
                    &json!({"alert": alert, "target": self.notifier.target(), "attempts": attempts,
                            "error": last_error, "at": at}),
                )?;
                Delivery::DeadLettered {
                    attempts,
                    error: last_error,
                }
            }
        };
        let status = match &outcome {
            Delivery::Sent { .. } => "sent",
            Delivery::DeadLettered { .. } => "dead-letter",
        };
        append_line(
            &self.log,
            &json!({ALERT_KEY: id, "outcome": status, "target": self.notifier.target(), "at": at}),
        )?;
        self.done.insert(id);
        Ok(Some(outcome))
    }
}
