//! CloudTrail's LookupEvents as a source: the management events of the last 90 days, polled
//! forward from a durable start time.
//!
//! LookupEvents answers newest first, so the source walks time forward in windows of an hour
//! (`[start, start + 1 h)`, every page of it one batch) while the window lies wholly before
//! `now − overlap`; after that it asks from `start` on with no end. Once a batch is durable the
//! start moves (to the window's end, or to the newest event seen minus the overlap) and is
//! written to `lookup-checkpoint.jsonl`. CloudTrail makes events visible to LookupEvents some
//! minutes after they happen, so the overlap (15 minutes by default) is read again on every
//! poll; the idempotent append by `eventID` stores each event once.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_cloudtrail::primitives::DateTime;
use serde_json::{Value as Json, json};
use veritrail_core::time::{Clock, UtcMillis};

use super::{Aws, failed};
use crate::error::ProcessorError;
use crate::notify::Pause;
use crate::source::{RawEvent, Source, SourceBatch, append_line};

/// A closed window's length.
const WINDOW_MS: i64 = 3_600_000;

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
    pub clock: Arc<dyn Clock>,
}

/// LookupEvents as a [`Source`].
#[derive(Debug)]
pub struct LookupSource {
    aws: Aws,
    client: aws_sdk_cloudtrail::Client,
    options: LookupOptions,
    start: UtcMillis,
    /// The present was reached once (for `until_empty`).
    caught_up: bool,
}

/// What acknowledging a window needs: the start time that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStart(pub UtcMillis);

impl LookupSource {
    pub fn open(aws: &Aws, options: LookupOptions) -> Result<Self, ProcessorError> {
        let start = read_start(&options.checkpoint)?.unwrap_or(options.default_start);
        Ok(Self {
            aws: aws.clone(),
            client: aws_sdk_cloudtrail::Client::new(aws.config()),
            options,
            start,
            caught_up: false,
        })
    }

    /// Where the next poll starts.
    pub fn start(&self) -> UtcMillis {
        self.start
    }

    /// Every event of `[from, to)` (`to` `None`: no end), and the newest event time seen.
    fn lookup(
        &self,
        from: UtcMillis,
        to: Option<UtcMillis>,
    ) -> Result<(Vec<RawEvent>, Option<i64>), ProcessorError> {
        let mut events = Vec::new();
        let mut newest = None;
        let mut token = None;
        loop {
            let answer = self
                .aws
                .block_on(
                    self.client
                        .lookup_events()
                        .start_time(DateTime::from_millis(from.0))
                        .set_end_time(to.map(|t| DateTime::from_millis(t.0)))
                        .max_results(50)
                        .set_next_token(token.take())
                        .send(),
                )
                .map_err(|e| failed("LookupEvents", e))?;
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
            match answer.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok((events, newest)),
            }
        }
    }
}

impl Source for LookupSource {
    type Token = NextStart;

    fn next_batch(&mut self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        loop {
            if self.options.stop.load(Ordering::Relaxed)
                || (self.options.until_empty && self.caught_up)
            {
                return Ok(None);
            }
            let overlap = i64::try_from(self.options.overlap.as_millis()).unwrap_or(i64::MAX);
            let now = self.options.clock.now();
            let from = self.start;
            let end = from.0.saturating_add(WINDOW_MS);
            let (events, next) = if end < now.0.saturating_sub(overlap) {
                let (events, _) = self.lookup(from, Some(UtcMillis(end)))?;
                (events, UtcMillis(end))
            } else {
                self.caught_up = true;
                let (events, newest) = self.lookup(from, None)?;
                let next = newest.map_or(from.0, |n| n.saturating_sub(overlap).max(from.0));
                (events, UtcMillis(next))
            };
            if events.is_empty() && next == from {
                if !self.options.until_empty {
                    self.options.pause.pause(self.options.poll);
                }
                continue;
            }
            let origin = format!("LookupEvents from {from}");
            return Ok(Some(SourceBatch::new(origin, events, NextStart(next))));
        }
    }

    fn acknowledge(&mut self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        let NextStart(next) = batch.token;
        if next.0 > self.start.0 {
            append_line(&self.options.checkpoint, &json!({"startTimeMs": next.0}))?;
            self.start = next;
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
