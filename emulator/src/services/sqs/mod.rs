//! SQS (2012-11-05) in both of its protocols: awsJson1_0 (`X-Amz-Target: AmazonSQS.<Op>`, what
//! the AWS SDKs, boto3 and the AWS CLI speak today) and the query protocol (`Action=<Op>`
//! forms sent to the queue's URL, what older SDKs speak). Queues are per region; queue URLs are
//! `http://<host>/<account>/<name>`, the host being the one the request was sent to.
//!
//! - [`model`]: queues, names, URLs, ARNs and attributes with SQS's ranges;
//! - [`attributes`]: message attributes (rules, size, SQS's MD5, selection);
//! - [`rows`]: queues and messages in `aws.sqlite` (messages are rows, never all in memory);
//! - [`wire`]: the query protocol's shapes over the JSON protocol's handlers;
//! - [`error`]: one variant per SQS error code.
//!
//! All time (delays, visibility, retention, the deduplication window) is the emulator's clock.
//! A long poll (`WaitTimeSeconds`) holds no thread: [`Sqs::must_wait`] tells the server to wait
//! on the queue's [`Signal`], which every send and visibility change raises.
//!
//! Other services deliver through [`Sqs::enqueue`] (SNS subscriptions, EventBridge targets).

pub mod attributes;
pub mod error;
pub mod model;
pub mod rows;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::response::Response;
use base64::Engine as _;
use rusqlite::Connection;
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use veritrail_core::time::{Clock as _, SteeredClock, UtcMillis};

pub use error::SqsError;
use model::{DEDUP_WINDOW_MS, MAX_BATCH, MAX_MESSAGE_SIZE, QUIET_MS, Queue};
use rows::Message;

use crate::EmulatorError;
use crate::env::Env;
use crate::ops::{Protocol, SqsOp};
use crate::store::{Store, StoreError, Write};
use crate::wire::{AwsRequest, ErrorBody, Query, json as wire_json, xml};

/// What a long poll waits on: raised (and its epoch moved) by every change that can make a
/// message of the queue receivable.
#[derive(Debug, Default)]
pub struct Signal {
    notify: tokio::sync::Notify,
    epoch: AtomicU64,
}

impl Signal {
    fn raise(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// A ReceiveMessage that found nothing and may wait (see [`Sqs::must_wait`]).
#[derive(Debug)]
pub struct Wait {
    signal: Arc<Signal>,
    epoch: u64,
    /// How long the request may wait in all (its `WaitTimeSeconds`, or the queue's).
    pub wait_ms: i64,
    /// When a message of the queue that is delayed or in flight becomes visible.
    pub next_visible: Option<UtcMillis>,
}

impl Wait {
    /// Sleeps until the queue changes, a message may have become visible, or about a second
    /// has passed (the clock may have been moved); never past `deadline` on `clock`.
    pub async fn sleep(&self, clock: &SteeredClock, deadline: UtcMillis) {
        let notified = self.signal.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.signal.epoch.load(Ordering::SeqCst) != self.epoch {
            return;
        }
        let until = self.next_visible.map_or(deadline, |n| n.min(deadline));
        let ms = until.0.saturating_sub(clock.now().0).max(0) as f64;
        let scale = clock.scale();
        let real = if scale > 0.0 { ms / scale } else { 1000.0 };
        let real = Duration::from_millis(real.clamp(1.0, 1000.0) as u64);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(real) => {}
        }
    }
}

/// A message another service puts on a queue ([`Sqs::enqueue`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outgoing {
    pub body: String,
    /// Message attributes in the JSON protocol's shape (`{"k": {"DataType", "StringValue"}}`).
    pub attributes: Map<String, Value>,
    /// Required by FIFO queues.
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// The `SenderId` receivers see (the delivering service's principal).
    pub sender: String,
}

impl Outgoing {
    pub fn new(body: impl Into<String>, sender: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            sender: sender.into(),
            ..Self::default()
        }
    }
}

/// Queues by (region, name), and what is remembered about deleted ones.
#[derive(Debug)]
struct State {
    queues: BTreeMap<(String, String), Queue>,
    next_id: i64,
    /// When a queue of this (region, name) was deleted (the name is not taken for a minute).
    deleted: HashMap<(String, String), i64>,
}

/// The SQS service of one emulator.
#[derive(Debug)]
pub struct Sqs {
    store: Arc<Store>,
    state: Mutex<State>,
    signals: Mutex<HashMap<i64, Arc<Signal>>>,
    closing: AtomicBool,
}

/// What a handler works with.
struct Ctx<'a> {
    req: &'a AwsRequest,
    env: &'a Env,
    now: i64,
    input: Value,
    /// The host queue URLs name.
    host: String,
    write: Option<&'a Write<'a>>,
}

impl Ctx<'_> {
    fn conn(&self) -> Result<&Connection, SqsError> {
        self.write.map(Write::conn).ok_or_else(|| {
            SqsError::Store(StoreError::Sqlite(
                "an SQS change was attempted outside a store write".into(),
            ))
        })
    }

    fn sender(&self) -> String {
        self.req
            .access_key
            .clone()
            .unwrap_or_else(|| crate::ACCOUNT_ID.to_owned())
    }
}

// ---- reading inputs ----------------------------------------------------------------------

fn malformed(name: &str, what: &str) -> SqsError {
    SqsError::Malformed(format!("{name} must be {what}"))
}

fn str_of<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, SqsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(name, "a string")),
    }
}

fn required<'a>(v: &'a Value, name: &str) -> Result<&'a str, SqsError> {
    str_of(v, name)?.ok_or_else(|| SqsError::MissingParameter(name.to_owned()))
}

fn int_of(v: &Value, name: &str) -> Result<Option<i64>, SqsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(name, "an integer")),
    }
}

fn strings_of(v: &Value, name: &str) -> Result<Vec<String>, SqsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(name, "a list of strings"))
            })
            .collect(),
        Some(_) => Err(malformed(name, "a list of strings")),
    }
}

fn string_map(v: &Value, name: &str) -> Result<BTreeMap<String, String>, SqsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(|| malformed(name, "a map of strings"))
            })
            .collect(),
        Some(_) => Err(malformed(name, "a map of strings")),
    }
}

fn in_range(
    name: &str,
    value: Option<i64>,
    low: i64,
    high: i64,
    why: &str,
) -> Result<(), SqsError> {
    match value {
        Some(n) if !(low..=high).contains(&n) => Err(SqsError::InvalidParameterValue(format!(
            "Value {n} for parameter {name} is invalid. Reason: {why}"
        ))),
        _ => Ok(()),
    }
}

/// The entries of a batch request: checked for count, ids and distinct ids.
fn batch_entries<'a>(
    input: &'a Value,
    kind: &'static str,
) -> Result<Vec<(&'a str, &'a Value)>, SqsError> {
    let entries = match input.get("Entries") {
        None | Some(Value::Null) => return Err(SqsError::EmptyBatchRequest(kind)),
        Some(Value::Array(e)) => e,
        Some(_) => return Err(malformed("Entries", "a list")),
    };
    if entries.is_empty() {
        return Err(SqsError::EmptyBatchRequest(kind));
    }
    if entries.len() > MAX_BATCH {
        return Err(SqsError::TooManyEntriesInBatchRequest(entries.len()));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in entries {
        let id = required(e, "Id")?;
        let ok = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.to_owned()));
        }
        out.push((id, e));
    }
    Ok(out)
}

fn failed(id: &str, e: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": e.sender_fault(), "Code": e.code(), "Message": e.parts().3})
}

/// A receipt handle: the queue, the message and the receive it came from.
fn receipt_handle(queue: i64, seq: i64, token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{queue}:{seq}:{token}"))
}

fn read_receipt(handle: &str) -> Option<(i64, i64, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(handle)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, ':');
    let queue = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((queue, seq, parts.next()?.to_owned()))
}

/// A FIFO id (group or deduplication): 1 to 128 letters, digits and punctuation.
fn check_fifo_id(name: &str, value: &str) -> Result<(), SqsError> {
    let ok = (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(SqsError::InvalidParameterValue(format!(
            "Value {value} for parameter {name} is invalid. Reason: {name} can only include alphanumeric and punctuation characters. 1 to 128 in length."
        )))
    }
}

impl Sqs {
    /// Loads the queues from `aws.sqlite` (creating SQS's tables).
    pub fn open(store: Arc<Store>) -> Result<Self, EmulatorError> {
        let (queues, next_id) = {
            let w = store.write()?;
            w.conn().execute_batch(rows::SCHEMA)?;
            let loaded = rows::load_queues(w.conn())?;
            w.commit()?;
            loaded
        };
        Ok(Self {
            store,
            state: Mutex::new(State {
                queues: queues
                    .into_iter()
                    .map(|q| ((q.region.clone(), q.name.clone()), q))
                    .collect(),
                next_id,
                deleted: HashMap::new(),
            }),
            signals: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signal(&self, queue: i64) -> Arc<Signal> {
        let mut s = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(s.entry(queue).or_default())
    }

    fn raise(&self, queue: i64) {
        let signal = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&queue)
            .cloned();
        if let Some(s) = signal {
            s.raise();
        }
    }

    /// Wakes every long poll (the clock moved, or the emulator stops: with `closing`, polls
    /// answer at once from now on).
    pub fn wake_all(&self, closing: bool) {
        if closing {
            self.closing.store(true, Ordering::SeqCst);
        }
        let signals: Vec<Arc<Signal>> = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for s in signals {
            s.raise();
        }
    }

    fn input(req: &AwsRequest) -> Result<Value, SqsError> {
        if req.protocol != Protocol::Query {
            return Ok(req.json().clone());
        }
        let mut q = req.query.clone();
        let body = std::str::from_utf8(&req.body)
            .map_err(|_| SqsError::Malformed("the form body is not UTF-8".into()))?;
        q.extend(Query::parse(body).map_err(|e| SqsError::Malformed(e.0))?);
        let tree = q.tree().map_err(|e| SqsError::Malformed(e.0))?;
        wire::input_from_query(tree)
    }

    /// The queue a request names: its `QueueUrl`, or the URL a query-protocol request was
    /// sent to.
    fn queue_name(req: &AwsRequest, input: &Value) -> Result<String, SqsError> {
        match str_of(input, "QueueUrl")? {
            Some(url) => model::name_of_url(url)
                .map(str::to_owned)
                .ok_or(SqsError::QueueDoesNotExist),
            None if req.protocol == Protocol::Query => model::name_of_url(&req.path)
                .map(str::to_owned)
                .ok_or_else(|| SqsError::MissingParameter("QueueUrl".into())),
            None => Err(SqsError::MissingParameter("QueueUrl".into())),
        }
    }

    /// Handles one SQS request (`write` is set for every operation that can change
    /// something), answering in the request's protocol.
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: SqsOp,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Response, ErrorBody> {
        let answer = Self::input(req).and_then(|input| {
            let ctx = Ctx {
                req,
                env,
                now: env.now().0,
                input,
                host: req.header("host").unwrap_or("localhost:4566").to_owned(),
                write,
            };
            self.run(&ctx, op)
        });
        match answer {
            Err(e) => Err(e.into_body(req.protocol)),
            Ok(v) if req.protocol == Protocol::Query => Ok(xml::query_ok(
                op.name(),
                wire::XMLNS,
                wire::result_xml(op, &v).as_deref(),
                &req.request_id,
            )),
            Ok(v) => Ok(wire_json::ok(req.protocol, &v)),
        }
    }

    fn run(&self, ctx: &Ctx<'_>, op: SqsOp) -> Result<Value, SqsError> {
        use SqsOp::*;
        let mut state = self.state();
        let region = ctx.req.region.clone();
        match op {
            CreateQueue => return self.create_queue(ctx, &mut state),
            GetQueueUrl => {
                let name = required(&ctx.input, "QueueName")?;
                let q = state
                    .queues
                    .get(&(region, name.to_owned()))
                    .ok_or(SqsError::QueueDoesNotExist)?;
                return Ok(json!({"QueueUrl": model::url(&ctx.host, &q.name)}));
            }
            ListQueues => return Self::list_queues(ctx, &state),
            _ => {}
        }
        let name = Self::queue_name(ctx.req, &ctx.input)?;
        let key = (region, name);
        let queue = state
            .queues
            .get(&key)
            .cloned()
            .ok_or(SqsError::QueueDoesNotExist)?;
        match op {
            GetQueueAttributes => self.get_queue_attributes(ctx, &queue),
            SetQueueAttributes => self.set_queue_attributes(ctx, &mut state, &key),
            DeleteQueue => {
                rows::delete_queue(ctx.conn()?, queue.id)?;
                state.queues.remove(&key);
                state.deleted.insert(key, ctx.now);
                self.raise(queue.id);
                Ok(json!({}))
            }
            PurgeQueue => {
                if queue.purged.is_some_and(|t| ctx.now - t < QUIET_MS) {
                    return Err(SqsError::PurgeQueueInProgress(queue.name));
                }
                rows::purge(ctx.conn()?, queue.id)?;
                let mut q = queue;
                q.purged = Some(ctx.now);
                rows::save_queue(ctx.conn()?, &q)?;
                state.queues.insert(key, q);
                Ok(json!({}))
            }
            TagQueue => {
                let tags = string_map(&ctx.input, "Tags")?;
                let mut q = queue;
                q.tags.extend(tags);
                if q.tags.len() > 50 {
                    return Err(SqsError::InvalidParameterValue(format!(
                        "Too many tags added for queue {}.",
                        q.name
                    )));
                }
                rows::save_queue(ctx.conn()?, &q)?;
                state.queues.insert(key, q);
                Ok(json!({}))
            }
            UntagQueue => {
                let keys = strings_of(&ctx.input, "TagKeys")?;
                let mut q = queue;
                for k in keys {
                    q.tags.remove(&k);
                }
                rows::save_queue(ctx.conn()?, &q)?;
                state.queues.insert(key, q);
                Ok(json!({}))
            }
            ListQueueTags => Ok(if queue.tags.is_empty() {
                json!({})
            } else {
                json!({"Tags": queue.tags})
            }),
            ListDeadLetterSourceQueues => {
                let arn = queue.arn();
                let names: Vec<String> = state
                    .queues
                    .values()
                    .filter(|q| q.region == queue.region)
                    .filter(|q| q.redrive().is_some_and(|r| r.target_arn == arn))
                    .map(|q| q.name.clone())
                    .collect();
                let (page, next) = Self::page(ctx, names)?;
                let urls: Vec<String> = page.iter().map(|n| model::url(&ctx.host, n)).collect();
                let mut out = json!({"queueUrls": urls});
                if let Some(t) = next {
                    out["NextToken"] = json!(t);
                }
                Ok(out)
            }
            SendMessage => {
                let result = self.send(ctx.conn()?, ctx.env, &queue, &ctx.input, &ctx.sender())?;
                Ok(result)
            }
            SendMessageBatch => self.send_batch(ctx, &queue),
            ReceiveMessage => self.receive(ctx, &state, &queue),
            DeleteMessage => {
                let handle = required(&ctx.input, "ReceiptHandle")?;
                Self::delete(ctx, &queue, handle)?;
                Ok(json!({}))
            }
            DeleteMessageBatch => {
                let entries = batch_entries(&ctx.input, "DeleteMessageBatch")?;
                let (mut ok, mut failures) = (Vec::new(), Vec::new());
                for (id, e) in entries {
                    match required(e, "ReceiptHandle").and_then(|h| Self::delete(ctx, &queue, h)) {
                        Ok(()) => ok.push(json!({"Id": id})),
                        Err(e @ SqsError::Store(_)) => return Err(e),
                        Err(e) => failures.push(failed(id, &e)),
                    }
                }
                Ok(json!({"Successful": ok, "Failed": failures}))
            }
            ChangeMessageVisibility => {
                let handle = required(&ctx.input, "ReceiptHandle")?;
                let timeout = int_of(&ctx.input, "VisibilityTimeout")?
                    .ok_or_else(|| SqsError::MissingParameter("VisibilityTimeout".into()))?;
                self.change_visibility(ctx, &queue, handle, timeout)?;
                Ok(json!({}))
            }
            ChangeMessageVisibilityBatch => {
                let entries = batch_entries(&ctx.input, "ChangeMessageVisibilityBatch")?;
                let (mut ok, mut failures) = (Vec::new(), Vec::new());
                for (id, e) in entries {
                    let done = required(e, "ReceiptHandle").and_then(|h| {
                        let t = int_of(e, "VisibilityTimeout")?.ok_or_else(|| {
                            SqsError::MissingParameter("VisibilityTimeout".into())
                        })?;
                        self.change_visibility(ctx, &queue, h, t)
                    });
                    match done {
                        Ok(()) => ok.push(json!({"Id": id})),
                        Err(e @ SqsError::Store(_)) => return Err(e),
                        Err(e) => failures.push(failed(id, &e)),
                    }
                }
                Ok(json!({"Successful": ok, "Failed": failures}))
            }
            CreateQueue | GetQueueUrl | ListQueues => Err(SqsError::QueueDoesNotExist),
            other => Err(SqsError::InvalidParameterValue(format!(
                "veritrail does not emulate the sqs operation {other}"
            ))),
        }
    }

    // ---- queues ------------------------------------------------------------------------

    /// A redrive policy's dead-letter queue must exist and be of the source's kind.
    fn check_redrive(
        state: &State,
        fifo: bool,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        let Some(text) = attributes.get("RedrivePolicy") else {
            return Ok(());
        };
        let r = model::read_redrive(text)?;
        let bad = |why: &str| {
            SqsError::InvalidParameterValue(format!(
                "Value {text} for parameter RedrivePolicy is invalid. Reason: {why}"
            ))
        };
        let target = model::parse_arn(&r.target_arn)
            .and_then(|(region, name)| state.queues.get(&(region.to_owned(), name.to_owned())))
            .ok_or_else(|| bad("Dead letter target does not exist."))?;
        if target.fifo() != fifo {
            return Err(bad(
                "Dead-letter queue must be same type of queue as the source.",
            ));
        }
        Ok(())
    }

    fn create_queue(&self, ctx: &Ctx<'_>, state: &mut State) -> Result<Value, SqsError> {
        let name = required(&ctx.input, "QueueName")?.to_owned();
        let given = string_map(&ctx.input, "Attributes")?;
        let mut tags = string_map(&ctx.input, "tags")?;
        tags.extend(string_map(&ctx.input, "Tags")?);
        let key = (ctx.req.region.clone(), name.clone());
        if let Some(existing) = state.queues.get(&key) {
            let wanted = Queue::new_attributes(&name, &given)?;
            for k in given.keys() {
                let have = existing.attributes.get(k).map(String::as_str).unwrap_or("");
                let want = wanted.get(k).map(String::as_str).unwrap_or("");
                if have != want {
                    return Err(SqsError::QueueNameExists(k.clone()));
                }
            }
            return Ok(json!({"QueueUrl": model::url(&ctx.host, &name)}));
        }
        if state
            .deleted
            .get(&key)
            .is_some_and(|t| ctx.now - t < QUIET_MS)
        {
            return Err(SqsError::QueueDeletedRecently);
        }
        let attributes = Queue::new_attributes(&name, &given)?;
        let fifo = attributes.get("FifoQueue").is_some_and(|v| v == "true");
        Self::check_redrive(state, fifo, &attributes)?;
        if tags.len() > 50 {
            return Err(SqsError::InvalidParameterValue(format!(
                "Too many tags added for queue {name}."
            )));
        }
        let q = Queue {
            id: state.next_id,
            name: name.clone(),
            region: ctx.req.region.clone(),
            created: ctx.now,
            modified: ctx.now,
            attributes,
            tags,
            purged: None,
        };
        let conn = ctx.conn()?;
        rows::save_queue(conn, &q)?;
        rows::note_queue_id(conn, q.id)?;
        state.next_id += 1;
        state.queues.insert(key, q);
        Ok(json!({"QueueUrl": model::url(&ctx.host, &name)}))
    }

    /// One page of `names` (sorted) by `MaxResults` and `NextToken`.
    fn page(
        ctx: &Ctx<'_>,
        mut names: Vec<String>,
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        names.sort();
        let max = int_of(&ctx.input, "MaxResults")?;
        in_range(
            "MaxResults",
            max,
            1,
            1000,
            "MaxResults must be an integer between 1 and 1000.",
        )?;
        let after = match str_of(&ctx.input, "NextToken")? {
            None => None,
            Some(t) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        SqsError::InvalidParameterValue("Invalid NextToken value.".into())
                    })?,
            ),
        };
        let rest: Vec<String> = names
            .into_iter()
            .filter(|n| after.as_ref().is_none_or(|a| n > a))
            .collect();
        let limit = max.map_or(1000, |m| m as usize);
        let more = max.is_some() && rest.len() > limit;
        let page: Vec<String> = rest.into_iter().take(limit).collect();
        let next = more
            .then(|| page.last())
            .flatten()
            .map(|n| base64::engine::general_purpose::STANDARD.encode(n));
        Ok((page, next))
    }

    fn list_queues(ctx: &Ctx<'_>, state: &State) -> Result<Value, SqsError> {
        let prefix = str_of(&ctx.input, "QueueNamePrefix")?.unwrap_or("");
        let names: Vec<String> = state
            .queues
            .keys()
            .filter(|(r, n)| *r == ctx.req.region && n.starts_with(prefix))
            .map(|(_, n)| n.clone())
            .collect();
        let (page, next) = Self::page(ctx, names)?;
        let mut out = json!({});
        if !page.is_empty() {
            out["QueueUrls"] = json!(
                page.iter()
                    .map(|n| model::url(&ctx.host, n))
                    .collect::<Vec<_>>()
            );
        }
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    }

    fn get_queue_attributes(&self, ctx: &Ctx<'_>, q: &Queue) -> Result<Value, SqsError> {
        let names = strings_of(&ctx.input, "AttributeNames")?;
        for n in &names {
            if !model::known_attribute(n) {
                return Err(SqsError::InvalidAttributeName(format!(
                    "Unknown Attribute {n}."
                )));
            }
        }
        let all = names.iter().any(|n| n == "All");
        let wanted = |n: &str| all || names.iter().any(|w| w == n);
        let mut out = Map::new();
        let counting = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ];
        if counting.iter().any(|n| wanted(n)) {
            let cutoff = ctx.now - q.retention_ms();
            let (visible, in_flight, delayed) = match ctx.write {
                Some(w) => rows::counts(w.conn(), q.id, ctx.now, cutoff)?,
                None => self
                    .store
                    .read(|c| rows::counts(c, q.id, ctx.now, cutoff))?,
            };
            for (n, v) in counting.iter().zip([visible, in_flight, delayed]) {
                if wanted(n) {
                    out.insert((*n).to_owned(), json!(v.to_string()));
                }
            }
        }
        let computed = [
            ("CreatedTimestamp", (q.created / 1000).to_string()),
            ("LastModifiedTimestamp", (q.modified / 1000).to_string()),
            ("QueueArn", q.arn()),
        ];
        for (n, v) in computed {
            if wanted(n) {
                out.insert(n.to_owned(), json!(v));
            }
        }
        for (k, v) in &q.attributes {
            if wanted(k) {
                out.insert(k.clone(), json!(v));
            }
        }
        Ok(if out.is_empty() {
            json!({})
        } else {
            json!({"Attributes": out})
        })
    }

    fn set_queue_attributes(
        &self,
        ctx: &Ctx<'_>,
        state: &mut State,
        key: &(String, String),
    ) -> Result<Value, SqsError> {
        let given = string_map(&ctx.input, "Attributes")?;
        let queue = state
            .queues
            .get(key)
            .cloned()
            .ok_or(SqsError::QueueDoesNotExist)?;
        let attributes = queue.with_attributes(&given)?;
        Self::check_redrive(state, queue.fifo(), &attributes)?;
        let mut q = queue;
        q.attributes = attributes;
        q.modified = ctx.now;
        rows::save_queue(ctx.conn()?, &q)?;
        self.raise(q.id);
        state.queues.insert(key.clone(), q);
        Ok(json!({}))
    }

    // ---- messages ----------------------------------------------------------------------

    /// Sends one message (`entry` in SendMessage's shape) to `q`; returns SendMessage's result.
    fn send(
        &self,
        conn: &Connection,
        env: &Env,
        q: &Queue,
        entry: &Value,
        sender: &str,
    ) -> Result<Value, SqsError> {
        let now = env.now().0;
        let body = str_of(entry, "MessageBody")?.unwrap_or("");
        if body.is_empty() {
            return Err(SqsError::MissingParameter("MessageBody".into()));
        }
        if !attributes::valid_text(body) {
            return Err(SqsError::InvalidMessageContents);
        }
        let (attrs, attr_size) = attributes::check(entry.get("MessageAttributes"))?;
        let system = attributes::check_system(entry.get("MessageSystemAttributes"))?;
        let max = q.max_message_size();
        if body.len() + attr_size > max {
            return Err(SqsError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let delay = int_of(entry, "DelaySeconds")?;
        in_range(
            "DelaySeconds",
            delay,
            0,
            900,
            "DelaySeconds must be >= 0 and <= 900.",
        )?;
        if q.fifo() && delay.is_some_and(|d| d != 0) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                delay.unwrap_or(0)
            )));
        }
        let group = str_of(entry, "MessageGroupId")?;
        if let Some(g) = group {
            check_fifo_id("MessageGroupId", g)?;
        }
        let dedup = str_of(entry, "MessageDeduplicationId")?;
        if let Some(d) = dedup {
            if !q.fifo() {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Value {d} for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type."
                )));
            }
            check_fifo_id("MessageDeduplicationId", d)?;
        }
        let mut result = Map::new();
        let mut dedup_key = None;
        let mut dedup_id = None;
        if q.fifo() {
            let g = group.ok_or_else(|| SqsError::MissingParameter("MessageGroupId".into()))?;
            let d = match dedup {
                Some(d) => d.to_owned(),
                None if q.content_based_dedup() => {
                    crate::wire::hex(&sha2::Sha256::digest(body.as_bytes()))
                }
                None => {
                    return Err(SqsError::InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                    ));
                }
            };
            let key = if q.dedup_per_group() {
                format!("{g}\u{0}{d}")
            } else {
                d.clone()
            };
            if let Some((id, seq)) = rows::dedup_find(conn, q.id, &key, now)? {
                // A duplicate within five minutes: accepted, not enqueued again.
                result.insert("MessageId".into(), json!(id));
                result.insert("MD5OfMessageBody".into(), json!(attributes::md5_of(body)));
                if let Some(m) = attributes::md5(&attrs) {
                    result.insert("MD5OfMessageAttributes".into(), json!(m));
                }
                result.insert("SequenceNumber".into(), json!(format!("{seq:020}")));
                return Ok(Value::Object(result));
            }
            dedup_key = Some(key);
            dedup_id = Some(d);
        }
        let delay_ms = delay.unwrap_or_else(|| q.delay_seconds()) * 1000;
        let message_id = env.uuid()?;
        let m = Message {
            seq: 0,
            queue: q.id,
            message_id: message_id.clone(),
            body: body.to_owned(),
            attributes: attrs,
            system,
            sender: sender.to_owned(),
            sent_at: now,
            visible_at: now + delay_ms,
            receive_count: 0,
            first_received_at: None,
            received_at: None,
            receipt: None,
            group_id: group.map(str::to_owned),
            dedup_id,
        };
        let seq = rows::insert(conn, &m)?;
        if let Some(key) = dedup_key {
            rows::dedup_insert(conn, q.id, &key, &message_id, seq, now + DEDUP_WINDOW_MS)?;
            result.insert("SequenceNumber".into(), json!(format!("{seq:020}")));
        }
        self.raise(q.id);
        result.insert("MessageId".into(), json!(message_id));
        result.insert("MD5OfMessageBody".into(), json!(attributes::md5_of(body)));
        if let Some(md5) = attributes::md5(&m.attributes) {
            result.insert("MD5OfMessageAttributes".into(), json!(md5));
        }
        if let Some(md5) = attributes::md5(&m.system) {
            result.insert("MD5OfMessageSystemAttributes".into(), json!(md5));
        }
        Ok(Value::Object(result))
    }

    fn send_batch(&self, ctx: &Ctx<'_>, q: &Queue) -> Result<Value, SqsError> {
        let entries = batch_entries(&ctx.input, "SendMessageBatch")?;
        let mut total = 0usize;
        for (_, e) in &entries {
            let body = str_of(e, "MessageBody")?.unwrap_or("");
            let (_, size) = attributes::check(e.get("MessageAttributes")).unwrap_or_default();
            total += body.len() + size;
        }
        if total > MAX_MESSAGE_SIZE {
            return Err(SqsError::BatchRequestTooLong(MAX_MESSAGE_SIZE, total));
        }
        let (mut ok, mut failures) = (Vec::new(), Vec::new());
        let sender = ctx.sender();
        for (id, e) in entries {
            match self.send(ctx.conn()?, ctx.env, q, e, &sender) {
                Ok(mut r) => {
                    r["Id"] = json!(id);
                    ok.push(r);
                }
                Err(e @ (SqsError::Store(_) | SqsError::NoRandomness(_))) => return Err(e),
                Err(e) => failures.push(failed(id, &e)),
            }
        }
        Ok(json!({"Successful": ok, "Failed": failures}))
    }

    /// ReceiveMessage's parameters: (how many, visibility seconds, wait seconds).
    fn receive_parameters(input: &Value, q: &Queue) -> Result<(usize, i64, i64), SqsError> {
        let max = int_of(input, "MaxNumberOfMessages")?;
        in_range(
            "MaxNumberOfMessages",
            max,
            1,
            10,
            "Must be between 1 and 10, if provided.",
        )?;
        let visibility = int_of(input, "VisibilityTimeout")?;
        in_range(
            "VisibilityTimeout",
            visibility,
            0,
            model::MAX_VISIBILITY_SECONDS,
            "Must be between 0 and 43200, if provided.",
        )?;
        let wait = int_of(input, "WaitTimeSeconds")?;
        in_range(
            "WaitTimeSeconds",
            wait,
            0,
            20,
            "Must be >= 0 and <= 20, if provided.",
        )?;
        Ok((
            max.unwrap_or(1) as usize,
            visibility.unwrap_or_else(|| q.visibility_seconds()),
            wait.unwrap_or_else(|| q.wait_seconds()),
        ))
    }

    /// Moves a message that was received too often to the dead-letter queue; `false` when
    /// that queue does not exist (the message stays).
    fn dead_letter(
        &self,
        conn: &Connection,
        state: &State,
        q: &Queue,
        m: &Message,
        target_arn: &str,
        now: i64,
    ) -> Result<bool, SqsError> {
        let Some(dlq) = model::parse_arn(target_arn)
            .and_then(|(region, name)| state.queues.get(&(region.to_owned(), name.to_owned())))
        else {
            return Ok(false);
        };
        let mut moved = m.clone();
        moved.queue = dlq.id;
        moved.system.insert(
            "DeadLetterQueueSourceArn".into(),
            json!({"DataType": "String", "StringValue": q.arn()}),
        );
        if dlq.fifo() {
            // A FIFO dead-letter queue keeps the message from its arrival there.
            moved.sent_at = now;
        }
        moved.visible_at = now;
        rows::insert(conn, &moved)?;
        rows::delete(conn, m.seq)?;
        self.raise(dlq.id);
        Ok(true)
    }

    fn receive(&self, ctx: &Ctx<'_>, state: &State, q: &Queue) -> Result<Value, SqsError> {
        let (max, visibility, _) = Self::receive_parameters(&ctx.input, q)?;
        let mut system_names = strings_of(&ctx.input, "AttributeNames")?;
        system_names.extend(strings_of(&ctx.input, "MessageSystemAttributeNames")?);
        let attribute_names = strings_of(&ctx.input, "MessageAttributeNames")?;
        let conn = ctx.conn()?;
        let now = ctx.now;
        rows::expire(conn, q.id, now - q.retention_ms())?;
        let redrive = q.redrive();
        let mut out = Vec::new();
        'fill: while out.len() < max {
            let candidates = rows::receivable(conn, q.id, now, q.fifo(), max - out.len())?;
            if candidates.is_empty() {
                break;
            }
            let mut moved_any = false;
            for m in candidates {
                if let Some(r) = &redrive {
                    if m.receive_count >= r.max_receive_count
                        && self.dead_letter(conn, state, q, &m, &r.target_arn, now)?
                    {
                        moved_any = true;
                        continue;
                    }
                }
                let token = ctx.env.token(18)?;
                let visible_at = now + visibility * 1000;
                rows::received(conn, m.seq, now, visible_at, &token)?;
                out.push(self.received_message(
                    q,
                    &m,
                    now,
                    &token,
                    &system_names,
                    &attribute_names,
                ));
                if out.len() == max {
                    break 'fill;
                }
            }
            if !moved_any {
                break;
            }
        }
        Ok(if out.is_empty() {
            json!({})
        } else {
            json!({"Messages": out})
        })
    }

    /// A received message as ReceiveMessage answers it.
    fn received_message(
        &self,
        q: &Queue,
        m: &Message,
        now: i64,
        token: &str,
        system_names: &[String],
        attribute_names: &[String],
    ) -> Value {
        let wanted = |n: &str| system_names.iter().any(|w| w == "All" || w == n);
        let mut system = Map::new();
        let mut put = |n: &str, v: String| {
            if wanted(n) {
                system.insert(n.to_owned(), json!(v));
            }
        };
        put("SenderId", m.sender.clone());
        put("SentTimestamp", m.sent_at.to_string());
        put("ApproximateReceiveCount", (m.receive_count + 1).to_string());
        put(
            "ApproximateFirstReceiveTimestamp",
            m.first_received_at.unwrap_or(now).to_string(),
        );
        if q.fifo() {
            put("SequenceNumber", format!("{:020}", m.seq));
            if let Some(d) = &m.dedup_id {
                put("MessageDeduplicationId", d.clone());
            }
        }
        if let Some(g) = &m.group_id {
            put("MessageGroupId", g.clone());
        }
        for (k, v) in &m.system {
            if let Some(s) = v.get("StringValue").and_then(Value::as_str) {
                put(k, s.to_owned());
            }
        }
        let mut out = json!({
            "MessageId": m.message_id,
            "ReceiptHandle": receipt_handle(q.id, m.seq, token),
            "MD5OfBody": attributes::md5_of(&m.body),
            "Body": m.body,
        });
        if !system.is_empty() {
            out["Attributes"] = Value::Object(system);
        }
        let picked = attributes::select(&m.attributes, attribute_names);
        if let Some(md5) = attributes::md5(&picked) {
            out["MD5OfMessageAttributes"] = json!(md5);
            out["MessageAttributes"] = Value::Object(picked);
        }
        out
    }

    /// The message a receipt handle names, if it is of `q` (`Err` when the handle is not one).
    fn by_receipt(
        ctx: &Ctx<'_>,
        q: &Queue,
        handle: &str,
    ) -> Result<(Option<Message>, String), SqsError> {
        let (queue, seq, token) = read_receipt(handle)
            .filter(|(queue, ..)| *queue == q.id)
            .ok_or_else(|| SqsError::ReceiptHandleIsInvalid(handle.to_owned()))?;
        let _ = queue;
        Ok((rows::get(ctx.conn()?, q.id, seq)?, token))
    }

    fn delete(ctx: &Ctx<'_>, q: &Queue, handle: &str) -> Result<(), SqsError> {
        let (m, token) = Self::by_receipt(ctx, q, handle)?;
        let Some(m) = m else {
            // Deleted already: deleting again is not an error.
            return Ok(());
        };
        let current = m.receipt.as_deref() == Some(token.as_str());
        if q.fifo() && (!current || m.visible_at <= ctx.now) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
            )));
        }
        if current {
            rows::delete(ctx.conn()?, m.seq)?;
        }
        // An older receipt of a standard queue: accepted, the message stays (it was received
        // again since).
        Ok(())
    }

    fn change_visibility(
        &self,
        ctx: &Ctx<'_>,
        q: &Queue,
        handle: &str,
        timeout: i64,
    ) -> Result<(), SqsError> {
        in_range(
            "VisibilityTimeout",
            Some(timeout),
            0,
            model::MAX_VISIBILITY_SECONDS,
            "Must be between 0 and 43200, if provided.",
        )?;
        let (m, token) = Self::by_receipt(ctx, q, handle)?;
        let m = m.filter(|m| m.receipt.as_deref() == Some(token.as_str())).ok_or_else(|| {
            SqsError::InvalidParameterValue(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            ))
        })?;
        if m.visible_at <= ctx.now {
            return Err(SqsError::MessageNotInflight);
        }
        let received = m.received_at.unwrap_or(ctx.now);
        if ctx.now - received + timeout * 1000 > model::MAX_VISIBILITY_SECONDS * 1000 {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )));
        }
        rows::set_visible_at(ctx.conn()?, m.seq, ctx.now + timeout * 1000)?;
        if timeout == 0 {
            self.raise(q.id);
        }
        Ok(())
    }

    // ---- long polling, housekeeping ----------------------------------------------------

    /// Whether a ReceiveMessage should wait rather than be answered now: its queue has nothing
    /// to receive (or to move to a dead-letter queue) and it may wait (`WaitTimeSeconds`, or the
    /// queue's `ReceiveMessageWaitTimeSeconds`). Called holding the store's writer lock, so no
    /// message arrives between this look and the wait's start (the signal's epoch tells). A
    /// request with a mistake is answered now, with its error.
    pub fn must_wait(&self, req: &AwsRequest, env: &Env, w: &Write<'_>) -> Option<Wait> {
        if self.closing.load(Ordering::SeqCst) {
            return None;
        }
        let input = Self::input(req).ok()?;
        let name = Self::queue_name(req, &input).ok()?;
        let q = self
            .state()
            .queues
            .get(&(req.region.clone(), name))
            .cloned()?;
        let (_, _, wait) = Self::receive_parameters(&input, &q).ok()?;
        for n in [
            "AttributeNames",
            "MessageSystemAttributeNames",
            "MessageAttributeNames",
        ] {
            strings_of(&input, n).ok()?;
        }
        if wait <= 0 {
            return None;
        }
        let now = env.now().0;
        let signal = self.signal(q.id);
        let epoch = signal.epoch.load(Ordering::SeqCst);
        let found = rows::receivable(w.conn(), q.id, now, q.fifo(), 1).ok()?;
        if !found.is_empty() {
            return None;
        }
        let next_visible = rows::next_visible(w.conn(), q.id, now).ok()?.map(UtcMillis);
        Some(Wait {
            signal,
            epoch,
            wait_ms: wait * 1000,
            next_visible,
        })
    }

    /// Removes messages past their queue's retention period and deduplication entries past
    /// their window (once a second while serving).
    pub fn sweep(&self, w: &Write<'_>, now: UtcMillis) -> Result<(), StoreError> {
        let mut state = self.state();
        for q in state.queues.values() {
            rows::expire(w.conn(), q.id, now.0 - q.retention_ms())?;
        }
        rows::dedup_expire(w.conn(), now.0)?;
        state.deleted.retain(|_, t| now.0 - *t < QUIET_MS);
        Ok(())
    }

    // ---- the narrow API other services use ---------------------------------------------

    /// Whether `queue_arn` names a queue, and whether it is FIFO.
    pub fn queue_kind(&self, queue_arn: &str) -> Option<bool> {
        let (region, name) = model::parse_arn(queue_arn)?;
        self.state()
            .queues
            .get(&(region.to_owned(), name.to_owned()))
            .map(Queue::fifo)
    }

    /// Puts a message on the queue `queue_arn`, as SendMessage would (the same limits and
    /// FIFO rules), inside the caller's store write. Returns the message id (the original's,
    /// for a FIFO duplicate).
    pub fn enqueue(
        &self,
        w: &Write<'_>,
        env: &Env,
        queue_arn: &str,
        message: &Outgoing,
    ) -> Result<String, SqsError> {
        self.enqueue_in(w.conn(), env, queue_arn, message)
    }

    /// [`Sqs::enqueue`] on the connection of a store write the caller holds.
    pub fn enqueue_in(
        &self,
        conn: &Connection,
        env: &Env,
        queue_arn: &str,
        message: &Outgoing,
    ) -> Result<String, SqsError> {
        let (region, name) = model::parse_arn(queue_arn).ok_or(SqsError::QueueDoesNotExist)?;
        let q = self
            .state()
            .queues
            .get(&(region.to_owned(), name.to_owned()))
            .cloned()
            .ok_or(SqsError::QueueDoesNotExist)?;
        let mut entry = json!({"MessageBody": message.body});
        if !message.attributes.is_empty() {
            entry["MessageAttributes"] = Value::Object(message.attributes.clone());
        }
        if let Some(g) = &message.group_id {
            entry["MessageGroupId"] = json!(g);
        }
        if let Some(d) = &message.dedup_id {
            entry["MessageDeduplicationId"] = json!(d);
        }
        let result = self.send(conn, env, &q, &entry, &message.sender)?;
        result
            .get("MessageId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                SqsError::Store(StoreError::Sqlite("a send without a message id".into()))
            })
    }
}
