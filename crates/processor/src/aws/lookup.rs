//! CloudTrail's LookupEvents as a source: the management events of the last 90 days, polled
//! forward from a durable start time.
//!
//! A poll asks for every event from the start time on (no end time), page by page (50 events a
//! page, each page one batch). LookupEvents answers newest first, so the start time can move
//! only once the last page is durable: that page's batch carries the new start (the newest
//! event seen minus the overlap), written to `lookup-checkpoint.jsonl` when it is
//! acknowledged, after every earlier page (batches are acknowledged in order). A crash in the
//! middle reads the poll again from the old start. CloudTrail makes events visible to
//! LookupEvents some minutes after they happen, so the overlap (15 minutes by default) is read
//! again on every poll; the idempotent append by `eventID` stores each event once. AWS allows
//! LookupEvents 2 calls a second per account and region; the SDK's retries absorb throttling.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudtrail::primitives::DateTime;
use serde_json::{Value as Json, json};
use veritrail_core::time::UtcMillis;

use super::{Aws, failed};
use crate::error::ProcessorError;
use crate::notify::Pause;
use crate::source::{RawEvent, Source, SourceBatch, append_line, lock};

/// Where and how to poll.
#[derive(Debug, Clone)]
pub struct LookupOptions {
    /// Where the start time is kept.
    pub checkpoint: PathBuf,
    /// Where to start when the checkpoint has nothing (LookupEvents keeps 90 days).
    pub default_start: UtcMillis,
    /// How far back each poll reads again, for events CloudTrail makes visible late.
    pub overlap: Duration,
    /// End after the first poll that reaches the present, instead of polling every `poll`.
    pub until_empty: bool,
    pub poll: Duration,
    pub pause: Arc<dyn Pause>,
    pub stop: Arc<AtomicBool>,
}

/// LookupEvents as a [`Source`].
#[derive(Debug)]
pub struct LookupSource {
    aws: Aws,
    client: aws_sdk_cloudtrail::Client,
    options: LookupOptions,
    /// Where the next poll starts: moved by acknowledgements.
    start: Mutex<UtcMillis>,
    /// The reading side's state (only the reading thread uses it).
    reading: Mutex<Reading>,
}

#[derive(Debug, Default)]
struct Reading {
    /// The poll under way: its start, the next page's token, the newest event time so far.
    poll: Option<Poll>,
    /// A poll ended (for `until_empty`).
    polled: bool,
}

/// One page of LookupEvents: its events, the newest event time on it, the next page's token.
#[derive(Debug)]
struct Page {
    events: Vec<RawEvent>,
    newest: Option<i64>,
    next: Option<String>,
}

#[derive(Debug, Clone)]
struct Poll {
    from: UtcMillis,
    token: Option<String>,
    newest: Option<i64>,
}

/// What acknowledging a page needs: on the last page of a poll, the start time that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStart(pub Option<UtcMillis>);

impl LookupSource {
    pub fn open(aws: &Aws, options: LookupOptions) -> Result<Self, ProcessorError> {
        let start = read_start(&options.checkpoint)?.unwrap_or(options.default_start);
        Ok(Self {
            aws: aws.clone(),
            client: aws_sdk_cloudtrail::Client::new(aws.config()),
            options,
            start: Mutex::new(start),
            reading: Mutex::new(Reading::default()),
        })
    }

    /// Where the next poll starts.
    pub fn start(&self) -> UtcMillis {
        *lock(&self.start)
    }

    /// One page of the poll: its events, the newest event time on it, the next page's token.
    fn page(&self, from: UtcMillis, token: Option<String>) -> Result<Page, ProcessorError> {
        let answer = self
            .aws
            .block_on(
                self.client
                    .lookup_events()
                    .start_time(DateTime::from_millis(from.0))
                    .max_results(50)
                    .set_next_token(token)
                    .send(),
            )
            .map_err(|e| failed("LookupEvents", e))?;
        let mut events = Vec::new();
        let mut newest = None;
        for e in answer.events() {
            let id = e.event_id().unwrap_or("?");
            if let Some(t) = e.event_time().and_then(|t| t.to_millis().ok()) {
                newest = newest.max(Some(t));
            }
            events.push(RawEvent {
                at: format!("LookupEvents event {id}"),
                value: match e.cloud_trail_event() {
                    Some(text) => serde_json::from_str(text)
                        .map_err(|err| format!("CloudTrailEvent is not valid JSON: {err}")),
                    None => Err("the event has no CloudTrailEvent".into()),
                },
            });
        }
        let next = answer
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Page {
            events,
            newest,
            next,
        })
    }
}

impl Source for LookupSource {
    type Token = NextStart;

    fn next_batch(&self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        let mut reading = lock(&self.reading);
        loop {
            if self.options.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let poll = match reading.poll.take() {
                Some(p) => p,
                None if self.options.until_empty && reading.polled => return Ok(None),
                None => {
                    if reading.polled {
                        self.options.pause.pause(self.options.poll);
                    }
                    Poll {
                        from: self.start(),
                        token: None,
                        newest: None,
                    }
                }
            };
            let Page {
                events,
                newest,
                next: token,
            } = self.page(poll.from, poll.token)?;
            let newest = poll.newest.max(newest);
            let origin = format!("LookupEvents from {}", poll.from);
            let next = if token.is_some() {
                reading.poll = Some(Poll {
                    from: poll.from,
                    token,
                    newest,
                });
                NextStart(None)
            } else {
                reading.polled = true;
                let overlap = i64::try_from(self.options.overlap.as_millis()).unwrap_or(i64::MAX);
                NextStart(Some(UtcMillis(newest.map_or(poll.from.0, |n| {
                    n.saturating_sub(overlap).max(poll.from.0)
                }))))
            };
            if events.is_empty() && next.0.is_none_or(|n| n == poll.from) {
                continue;
            }
            return Ok(Some(SourceBatch::new(origin, events, next)));
        }
    }

    fn acknowledge(&self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        let NextStart(Some(next)) = batch.token else {
            return Ok(());
        };
        let mut start = lock(&self.start);
        if next.0 > start.0 {
            append_line(&self.options.checkpoint, &json!({"startTimeMs": next.0}))?;
            *start = next;
        }
        Ok(())
    }
}

/// The start time of the checkpoint's last complete line.
fn read_start(path: &Path) -> Result<Option<UtcMillis>, ProcessorError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ProcessorError::io(path, e)),
    };
    let mut start = None;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| ProcessorError::io(path, e))?;
        if let Some(ms) = serde_json::from_str::<Json>(&line)
            .ok()
            .and_then(|v| v["startTimeMs"].as_i64())
        {
            start = Some(UtcMillis(ms));
        }
    }
    Ok(start)
}
