//! veritrail-emulator: one HTTP endpoint that speaks AWS wire protocols over veritrail, so
//! unmodified AWS SDK clients, the QLDB drivers and the AWS CLI run against it with no AWS
//! account.
//!
//! How a request flows:
//!
//! 1. [`server`]: axum receives it; its body is read within the operation's size limit.
//! 2. [`route`]: the one routing table parses it once into a [`wire::AwsRequest`] (service,
//!    operation from the enums of [`ops`], region, access key, request id, decoded resource).
//! 3. [`Emulator::serve_request`]: an operation that can change state runs inside a
//!    [`store::Write`]; the service's handler ([`services`]) answers; [`audit`] makes the
//!    CloudTrail record of the call; the write commits (change and record together) before the
//!    answer leaves.
//! 4. Errors are rendered in the protocol's own shape ([`wire::error`]).
//!
//! Services: QLDB's control plane and session API, S3 with versioning and Object Lock,
//! CloudTrail with signed log delivery, EventBridge (whose default bus receives the CloudTrail
//! record of every call), SQS (JSON and query protocols, long polls that hold no thread:
//! [`Emulator::serve_or_wait`]), SNS (delivery to queues and HTTP endpoints), and STS, Secrets
//! Manager, IAM and KMS (real AES-256-GCM; S3 SSE-KMS uses it), and Kinesis Data Streams;
//! `emulator/COVERAGE.md` lists every operation. State is
//! per instance (no globals), so tests run many emulators in parallel, each on its own port with
//! its own directory.
//!
//! Architecture Invariant: a client mistake gets the AWS error a real client expects, never a
//! 500 and never a panic; only this crate knows AWS wire protocols on the server side.
//!
//! Architecture Invariant: a change is saved before it is acknowledged, and its CloudTrail
//! record with it.

pub mod audit;
pub mod auth;
pub mod clock_control;
pub mod env;
pub mod error;
pub mod keys;
pub mod ops;
pub mod pages;
pub mod policy;
pub mod route;
pub mod saved_clock;
pub mod server;
pub mod services;
pub mod store;
pub mod tls;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use veritrail_core::time::{Clock, SteeredClock, UtcMillis};

pub use error::EmulatorError;
pub use server::{
    Companion, Running, ServeArgs, run_serve, run_serve_with, serve, serve_tls, spawn, spawn_tls,
    spawn_with,
};

use crate::env::Env;
use crate::keys::KeyStore;
use crate::ops::{Operation, Protocol};
use crate::route::Parsed;
use crate::saved_clock::SavedClock;
use crate::services::cloudtrail::CloudTrail;
use crate::services::cloudtrail::records::MAX_PENDING;
use crate::services::events::Events;
use crate::services::iam::Iam;
use crate::services::kinesis::Kinesis;
use crate::services::kms::Kms;
use crate::services::qldb::Qldb;
use crate::services::qldb_session::QldbSessions;
use crate::services::s3::S3;
use crate::services::sns::Sns;
use crate::services::sns::delivery::{HttpDelivery, Outcome};
use crate::services::sqs::Sqs;
use crate::store::{Store, StoreError, Write};
use crate::wire::{AwsRequest, ErrorBody, json};

/// `$XDG_DATA_HOME/veritrail/emulator`, else `~/.local/share/veritrail/emulator`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("veritrail/emulator")
}

/// The account id the emulator reports in ARNs.
pub const ACCOUNT_ID: &str = "000000000000";

/// How an emulator runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where ledgers and `aws.sqlite` are kept.
    pub data_dir: PathBuf,
    /// Where signing keys and the S3 integrity key are kept (mode 0700): `<data-dir>/keys`
    /// unless set.
    pub key_dir: Option<PathBuf>,
    /// Where QLDB ledgers keep their journals: files in `<data-dir>/ledgers` (the default) or
    /// a PostgreSQL database, one schema per ledger.
    pub storage: veritrail_ledger::StorageChoice,
    /// A session unused this long is gone (QLDB: about 15 minutes).
    pub session_idle_timeout: Duration,
    /// A transaction open this long has expired (QLDB: 30 s).
    pub transaction_timeout: Duration,
    /// The clock the emulator's clock starts from (it is steered on top:
    /// [`Emulator::clock`]).
    pub clock: Arc<dyn Clock>,
    /// How often CloudTrail delivers log files (about 5 minutes on AWS).
    pub log_interval: Duration,
    /// Whether `POST /_veritrail/clock` may move the clock (off unless asked for).
    pub clock_control: bool,
    /// How long an EventBridge API destination has to answer (5 s on AWS).
    pub events_http_timeout: Duration,
    /// When set, every request must prove its identity with SigV4 against these credentials,
    /// and its role must allow the call ([`auth`]); when `None`, any credentials are accepted.
    pub credentials: Option<Arc<auth::Authenticator>>,
    /// With credentials, whether the dashboard pages are served without a signature (off: a
    /// page needs a signed request or a presigned URL of any role).
    pub dashboard_public: bool,
}

impl Config {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            key_dir: None,
            storage: veritrail_ledger::StorageChoice::Sqlite,
            session_idle_timeout: Duration::from_secs(15 * 60),
            transaction_timeout: Duration::from_secs(30),
            clock: Arc::new(veritrail_core::time::SystemClock),
            log_interval: Duration::from_secs(5 * 60),
            clock_control: false,
            events_http_timeout: services::events::delivery::HTTP_TIMEOUT,
            credentials: None,
            dashboard_public: false,
        }
    }

    /// The key directory in use.
    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }
}

/// A request the emulator will not serve: the answer, and the identity it proved, if any.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) error: ErrorBody,
    pub(crate) identity: Option<auth::Identity>,
}

/// An emulator: its services, its store and its clock.
#[derive(Debug)]
pub struct Emulator {
    pub config: Config,
    env: Env,
    store: Arc<Store>,
    s3: S3,
    cloudtrail: CloudTrail,
    events: Events,
    qldb: Qldb,
    sessions: QldbSessions,
    sqs: Sqs,
    sns: Sns,
    iam: Iam,
    kms: Kms,
    kinesis: Kinesis,
    /// Added before each answer, in microseconds (0: none); see [`Emulator::set_latency`].
    latency_us: AtomicU64,
    /// The key that tags the clock's saved time.
    saved_clock: SavedClock,
    /// When CloudTrail files next fall due (milliseconds; `i64::MIN`: check at once).
    next_due: AtomicI64,
    /// What serves `/dashboard` (see [`pages`]); unset, those paths are S3's like any other.
    pages: OnceLock<Arc<dyn pages::Pages>>,
}

/// `emulator_clock.now` is a time the clock has not reached yet: a restart starts from it.
/// How far (in real time, at the clock's speed) the saved reading runs ahead of the clock. Saves
/// come about once a second, so a kill between two of them cannot leave a time already handed
/// out (a record, a version, a clock reading) later than where the restart begins.
const CLOCK_LEASE: Duration = Duration::from_secs(3);

impl From<StoreError> for ErrorBody {
    fn from(e: StoreError) -> Self {
        ErrorBody::internal(e.to_string())
    }
}

impl Emulator {
    /// Opens the emulator's state under `config.data_dir` (creating it), its keys under the key
    /// directory, and moves its clock to at least the last time it showed.
    pub fn open(config: Config) -> Result<Self, EmulatorError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|error| EmulatorError::Dir {
            path: config.data_dir.clone(),
            error,
        })?;
        let store = Arc::new(Store::open(&config.data_dir)?);
        let keys = KeyStore::open(&config.key_dir())?;
        let clock = Arc::new(SteeredClock::new(Arc::clone(&config.clock)));
        let env = Env::new(Arc::clone(&clock));
        let saved_clock = {
            let w = store.write()?;
            let (saved, last) = SavedClock::open(&w, &keys)?;
            // Time never goes back across a restart (retention would shorten otherwise).
            if let Some(last) = last {
                let behind = last.saturating_sub(clock.now().0);
                if behind > 0 {
                    clock.advance(behind).map_err(EmulatorError::Clock)?;
                }
            }
            w.commit()?;
            saved
        };
        let log_interval = i64::try_from(config.log_interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1000);
        let s3 = S3::open(Arc::clone(&store), &keys)?;
        let cloudtrail = CloudTrail::open(&store, &keys, log_interval)?;
        let events = Events::open(&store, &keys, env.now())?;
        let qldb = Qldb::open(
            &store,
            &config.data_dir,
            config.storage.clone(),
            config.transaction_timeout,
            clock.clone(),
        )?;
        let sqs = Sqs::open(Arc::clone(&store))?;
        let sns = Sns::open(Arc::clone(&store))?;
        let iam = Iam::open(&store)?;
        let kms = Kms::open(&store, &keys)?;
        let kinesis = Kinesis::open(Arc::clone(&store))?;
        store.set_current_format()?;
        Ok(Self {
            sessions: QldbSessions::new(config.session_idle_timeout),
            config,
            env,
            store,
            s3,
            cloudtrail,
            events,
            qldb,
            sqs,
            sns,
            iam,
            kms,
            kinesis,
            latency_us: AtomicU64::new(0),
            saved_clock,
            next_due: AtomicI64::new(i64::MIN),
            pages: OnceLock::new(),
        })
    }

    /// Serves the pages under [`pages::PREFIX`] with `pages` from now on; once only (a second
    /// call returns `false` and changes nothing).
    pub fn set_pages(&self, pages: Arc<dyn pages::Pages>) -> bool {
        self.pages.set(pages).is_ok()
    }

    /// What serves the pages, if anything does.
    pub(crate) fn pages(&self) -> Option<Arc<dyn pages::Pages>> {
        self.pages.get().cloned()
    }

    /// The emulator's clock, to advance or speed up (`/_veritrail/clock` does the same over HTTP
    /// when clock control is on).
    pub fn clock(&self) -> &SteeredClock {
        &self.env.clock
    }

    /// Time and ids.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Delays every answer by `latency` (real time), the way a remote S3 endpoint would: for
    /// benchmarks and timeout tests. Zero (the default) answers at once.
    pub fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(us, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    /// Delivers every CloudTrail file that has fallen due, commits waiting records, saves a time
    /// ahead of the clock ([`CLOCK_LEASE`]) and forgets idle sessions (after requests when
    /// something is due, and once a second while serving).
    pub fn deliver(&self) -> Result<(), EmulatorError> {
        let now = self.env.now();
        let lease = CLOCK_LEASE.as_millis() as f64 * self.clock().scale().max(1.0);
        let w = self.store.write()?;
        let due = self.cloudtrail.deliver(&w, &self.env, &self.s3, now)?;
        let events_due = self.events.tick(&w, &self.env, now)?;
        self.saved_clock
            .save(&w, now.0.saturating_add(lease as i64))?;
        self.sqs.sweep(&w, now)?;
        self.kinesis.sweep(&w, now)?;
        self.qldb
            .pump_streams(&w, now, &self.kinesis)
            .and_then(|()| {
                self.qldb
                    .complete_exports(&w, &self.env, &self.s3, &self.kms)
            })
            .map_err(|e| EmulatorError::State {
                service: "QLDB journal streams and exports",
                message: format!("{e:?}"),
            })?;
        let deleted_keys = self.kms.sweep(&w, now)?;
        w.commit()?;
        if !deleted_keys.is_empty() {
            self.kms.forget(&deleted_keys)?;
        }
        self.next_due
            .store(due.map_or(i64::MAX, |d| d.0), Ordering::Relaxed);
        self.sessions.sweep(now);
        if events_due {
            self.events.wake().notify_one();
        }
        // A checkpoint that cannot run now leaves the pages for the next tick.
        let _ = self.store.checkpoint();
        Ok(())
    }

    /// Commits the records (and the deliveries of their events) still waiting (at shutdown).
    pub fn flush(&self) -> Result<(), EmulatorError> {
        let w = self.store.write()?;
        self.flush_waiting(&w)?;
        Ok(w.commit()?)
    }

    /// Inserts the records and the EventBridge deliveries waiting in memory into `w`.
    fn flush_waiting(&self, w: &Write<'_>) -> Result<(), StoreError> {
        self.cloudtrail.records.flush(w)?;
        self.events.flush(w)
    }

    /// Handles one request given as its parts (blocking: ledger work touches the disk). Tests
    /// and benchmarks call it without a socket.
    pub fn handle(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let Ok(uri) = path_and_query.parse::<Uri>() else {
            return ErrorBody::new(
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                "the URI is not valid",
            )
            .render(Protocol::RestXml, "");
        };
        if uri.path() == "/_veritrail/clock" {
            return clock_control::endpoint(self, method, body);
        }
        let classified = route::classify(method, &uri, headers);
        if body.len() > classified.body_limit {
            return ErrorBody::too_large(classified.protocol, classified.body_limit)
                .render(classified.protocol, "");
        }
        let parsed = route::parse(
            classified,
            method.clone(),
            &uri,
            headers.clone(),
            Bytes::copy_from_slice(body),
            self.env.new_id(),
            None,
        );
        self.serve_request(parsed)
    }

    /// Serves a parsed request: runs it (in a store write when it can change something),
    /// records it, and answers (see the crate documentation).
    pub fn serve_request(&self, parsed: Parsed) -> Response {
        self.serve(parsed, None)
    }

    /// Whether the request may have to wait for its answer (an SQS ReceiveMessage: serve it
    /// with [`Emulator::serve_or_wait`]).
    pub fn may_wait(req: &AwsRequest) -> bool {
        req.operation == Operation::Sqs(ops::SqsOp::ReceiveMessage)
    }

    /// Serves a request that may wait: answered now, or handed back with what to wait on (an
    /// SQS long poll on an empty queue; nothing is recorded or changed then). Serving it with
    /// [`Emulator::serve_request`] afterwards answers it whatever the queue holds.
    pub fn serve_or_wait(
        &self,
        parsed: Parsed,
    ) -> Result<Response, Box<(Parsed, crate::services::sqs::Wait)>> {
        if parsed.rejection.is_some()
            || !Self::may_wait(&parsed.request)
            || self.admit(&parsed.request).is_err()
        {
            // Refused requests are answered at once (serving them answers the refusal).
            return Ok(self.serve_request(parsed));
        }
        // The look and the receive happen under one hold of the writer lock.
        let w = match self.store.write() {
            Ok(w) => w,
            Err(_) => return Ok(self.serve_request(parsed)),
        };
        match self.sqs.must_wait(&parsed.request, &self.env, &w) {
            Some(wait) => Err(Box::new((parsed, wait))),
            None => Ok(self.serve(parsed, Some(w))),
        }
    }

    /// Wakes SQS long polls: the clock moved (they look again), or the emulator stops
    /// (`closing`: they answer now).
    pub fn wake_pollers(&self, closing: bool) {
        self.sqs.wake_all(closing);
    }

    fn serve(&self, parsed: Parsed, held: Option<Write<'_>>) -> Response {
        let Parsed {
            request: mut req,
            rejection,
        } = parsed;
        let protocol = req.protocol;
        let (identity, refusal) = match self.admit(&req) {
            Ok(identity) => (identity, None),
            Err(refused) => {
                let Refused { identity, error } = *refused;
                (identity, Some(error))
            }
        };
        if let Some(identity) = identity {
            req.access_key = Some(identity.access_key.clone());
            req.identity = Some(identity);
        }
        let outcome: Result<Response, ErrorBody> = if let Some(e) = refusal {
            // A proven identity that its role does not allow is recorded; an unproven one is
            // not (there is no identity to name).
            if req.identity.is_some() {
                self.record(&req, Some(&e), None);
            }
            Err(e)
        } else if let Some(e) = rejection {
            self.record(&req, Some(&e), None);
            Err(e)
        } else if !req.operation.served() {
            let e = ErrorBody::not_served(protocol, req.operation.service(), req.operation.name());
            self.record(&req, Some(&e), None);
            Err(e)
        } else if req.operation.writes_store() {
            self.serve_in_write(&req, held)
        } else {
            let result = self.dispatch(&req, None);
            self.record(&req, result.as_ref().err(), None);
            result
        };
        let mut response = match outcome {
            Ok(r) => r,
            Err(e) => e.render(protocol, &req.request_id),
        };
        if let Ok(v) = HeaderValue::from_str(&req.request_id) {
            let h = response.headers_mut();
            h.insert("x-amzn-RequestId", v.clone());
            if protocol == Protocol::RestXml {
                h.insert("x-amz-request-id", v.clone());
                h.insert("x-amz-id-2", v);
            }
        }
        if req.method == Method::HEAD {
            *response.body_mut() = axum::body::Body::empty();
        }
        if self.env.now().0 >= self.next_due.load(Ordering::Relaxed) {
            // Files fell due: deliver them now rather than at the next second's tick. A failure
            // here does not undo this answer; the tick retries.
            let _ = self.deliver();
        }
        response
    }

    /// The access key and secret the server's own clients sign with, when the emulator
    /// authenticates ([`auth::Authenticator::with_own_credential`]).
    pub fn own_credential(&self) -> Option<auth::OwnCredential> {
        self.config
            .credentials
            .as_ref()
            .and_then(|a| a.own_credential())
            .cloned()
    }

    /// The identity a request proves against the credentials, on the emulator's clock (`None`
    /// when the emulator does not authenticate).
    pub(crate) fn prove(
        &self,
        incoming: &auth::Incoming<'_>,
    ) -> Result<Option<auth::Identity>, auth::SignatureError> {
        match &self.config.credentials {
            Some(a) => a.authenticate(incoming, self.env.now()).map(Some),
            None => Ok(None),
        }
    }

    /// Who sent `req` and whether they may make the call, when the emulator authenticates
    /// ([`Config::credentials`]): the proven identity (`None` when it does not authenticate),
    /// or the answer that refuses the request.
    pub(crate) fn admit(&self, req: &AwsRequest) -> Result<Option<auth::Identity>, Box<Refused>> {
        let incoming = auth::Incoming {
            method: req.method.as_str(),
            path: &req.path,
            query: &req.raw_query,
            headers: &req.headers,
            body: &req.body,
        };
        let Some(identity) = self.prove(&incoming).map_err(|e| {
            Box::new(Refused {
                error: auth::rejection(&e, req.protocol),
                identity: None,
            })
        })?
        else {
            return Ok(None);
        };
        match auth::authorize(&identity, &req.operation, req.protocol) {
            Ok(()) => Ok(Some(identity)),
            Err(error) => Err(Box::new(Refused {
                error,
                identity: Some(identity),
            })),
        }
    }

    /// Runs a changing operation in a store write: the handler (rolled back to a savepoint if
    /// it fails), the record, the final files of a trail that stopped, then the commit.
    fn serve_in_write(
        &self,
        req: &AwsRequest,
        held: Option<Write<'_>>,
    ) -> Result<Response, ErrorBody> {
        let mut w = match held {
            Some(w) => w,
            None => self.store.write()?,
        };
        let result = w.attempt(|w| self.dispatch(req, Some(w)));
        self.record(req, result.as_ref().err(), Some(&w));
        if self.cloudtrail.flush_due() {
            let due = self
                .cloudtrail
                .deliver(&w, &self.env, &self.s3, self.env.now())?;
            self.next_due
                .store(due.map_or(i64::MAX, |d| d.0), Ordering::Relaxed);
        }
        self.flush_waiting(&w)?;
        w.commit()?;
        if matches!(req.operation, Operation::CloudTrail(_)) {
            // A trail may have started: check for due files again.
            self.next_due.store(i64::MIN, Ordering::Relaxed);
        }
        result
    }

    /// Records a served call; commits waiting records when too many wait (in `w` if given).
    fn record(&self, req: &AwsRequest, error: Option<&ErrorBody>, w: Option<&Write<'_>>) {
        let now = self.env.now();
        let info = error.map(ErrorBody::info);
        let record = audit::record(req, info.as_ref(), now, self.env.new_id());
        self.events.observe(&record, &self.env, now);
        let waiting = self.cloudtrail.records.push(record);
        if waiting >= MAX_PENDING && w.is_none() {
            // The records are in memory until committed; a failure here leaves them waiting
            // for the next write.
            if let Ok(w) = self.store.write() {
                if self.flush_waiting(&w).is_ok() {
                    let _ = w.commit();
                }
            }
        }
    }

    /// Calls the operation's handler.
    fn dispatch(&self, req: &AwsRequest, w: Option<&Write<'_>>) -> Result<Response, ErrorBody> {
        let protocol = req.protocol;
        match &req.operation {
            Operation::S3(op) => Ok(self.s3.handle(req, *op, &self.env, w, &self.kms)?),
            Operation::CloudTrail(op) => {
                let v = self.cloudtrail.handle(req, *op, &self.env, w, &self.s3)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::Events(op) => {
                let v = self.events.handle(req, *op, &self.env, w)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::Qldb(op) => {
                let v = if *op == ops::QldbOp::ExportJournalToS3 {
                    self.qldb
                        .handle_export(req, &self.env, w, &self.s3, &self.iam, &self.kms)?
                } else {
                    self.qldb.handle(req, *op, &self.env, w, &|ledger| {
                        self.sessions.forget_ledger(ledger)
                    })?
                };
                if v.is_null() {
                    return Ok((StatusCode::OK, [("content-type", "application/json")], "")
                        .into_response());
                }
                Ok(json::ok(protocol, &v))
            }
            Operation::QldbSession(_) => {
                let v = self.sessions.send_command(req, &self.env, &self.qldb)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::Sqs(op) => self.sqs.handle(req, *op, &self.env, w),
            Operation::Sns(op) => self.sns.handle(req, *op, &self.env, w, &self.sqs),
            Operation::Sts(op) => services::sts::handle(req, *op),
            Operation::SecretsManager(op) => {
                let v = services::secretsmanager::handle(req, *op, &self.env)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::Iam(op) => self.iam.handle(req, *op, &self.env, w),
            Operation::Kms(op) => {
                let v = self.kms.handle(req, *op, &self.env, w)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::Kinesis(op) => {
                let v = self.kinesis.handle(req, *op, &self.env, w)?;
                Ok(json::ok(protocol, &v))
            }
            Operation::NotServed { service, operation } => {
                Err(ErrorBody::not_served(protocol, service, operation))
            }
        }
    }

    /// The current version of an S3 object: its bytes and `x-amz-meta-*` metadata.
    pub fn s3_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<(Vec<u8>, std::collections::BTreeMap<String, String>)> {
        self.s3.current_object(bucket, key)
    }

    /// The keys of `bucket` under `prefix` that have a current version, in order.
    pub fn s3_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.s3.current_keys(bucket, prefix)
    }

    /// Starts the EventBridge deliveries that are due: each HTTP call runs as a task of the
    /// current tokio runtime, and its outcome is saved when it comes back (see
    /// [`services::events::delivery`]). Called by the server's delivery loop.
    pub fn start_event_deliveries(self: &Arc<Self>) -> Result<(), EmulatorError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(EmulatorError::Task(
                "EventBridge deliveries need a tokio runtime".into(),
            ));
        };
        let attempts = {
            let w = self.store.write()?;
            let attempts = self
                .events
                .take_due(&w, self.local_targets(), self.env.now())?;
            w.commit()?;
            attempts
        };
        for attempt in attempts {
            let emulator = Arc::clone(self);
            runtime.spawn(async move {
                let timeout = emulator.config.events_http_timeout;
                let outcome = services::events::delivery::invoke(
                    &attempt.invocation,
                    &emulator.events.tokens,
                    timeout,
                )
                .await;
                let _ = tokio::task::spawn_blocking(move || {
                    let w = emulator.store.write()?;
                    emulator.events.settle(
                        &w,
                        emulator.local_targets(),
                        attempt.id,
                        attempt.delivery,
                        outcome,
                        emulator.env.now(),
                    )?;
                    w.commit()
                })
                .await;
            });
        }
        Ok(())
    }

    /// The emulator's services that EventBridge delivers to.
    fn local_targets(&self) -> services::events::Local<'_> {
        services::events::Local {
            sqs: &self.sqs,
            sns: &self.sns,
            env: &self.env,
        }
    }

    /// What rings when EventBridge deliveries are queued (the server's delivery loop waits on
    /// it, and on a one-second tick).
    pub fn event_deliveries_queued(&self) -> Arc<tokio::sync::Notify> {
        self.events.wake()
    }

    /// The EventBridge deliveries that failed for good (rule, target, event, error, attempts,
    /// dead-letter queue), oldest first.
    pub fn event_failures(&self) -> Result<Vec<serde_json::Value>, EmulatorError> {
        Events::failures(&self.store).map_err(EmulatorError::from)
    }

    /// How many EventBridge deliveries are queued in `aws.sqlite`.
    pub fn queued_event_deliveries(&self) -> Result<usize, EmulatorError> {
        Events::queued(&self.store).map_err(EmulatorError::from)
    }

    /// The database of QLDB ledger `name`, shared with the QLDB API (for `veritrail serve`'s
    /// processor, which appends to the same ledger the API serves).
    pub fn ledger_database(&self, name: &str) -> Option<veritrail_ledger::db::Database> {
        self.qldb.database(name)
    }

    /// The SQS service (its narrow API: [`Sqs::enqueue`] …).
    pub fn sqs(&self) -> &Sqs {
        &self.sqs
    }

    /// The SNS service (its narrow API: [`Sns::publish_from`] …).
    pub fn sns(&self) -> &Sns {
        &self.sns
    }

    /// The SNS HTTP deliveries due now, for the server's delivery task to POST.
    pub fn due_http_deliveries(&self) -> Vec<HttpDelivery> {
        // A read that fails now is tried again at the next tick.
        self.sns.take_due_http(self.env.now()).unwrap_or_default()
    }

    /// Records how an SNS HTTP delivery went (saved before this returns).
    pub fn http_delivered(&self, d: &HttpDelivery, outcome: &Outcome) -> Result<(), EmulatorError> {
        let w = self.store.write()?;
        self.sns.http_done(&w, &self.env, &self.sqs, d, outcome)?;
        Ok(w.commit()?)
    }

    /// How many QLDB sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.sessions.open_sessions()
    }

    /// Whether a request may wait on the disk for long (a commit that writes a journal block
    /// and syncs it, creating or deleting a ledger's files, a KMS key's material written and
    /// synced): it runs where blocking is allowed.
    /// Everything else (ledger reads and read-only commits, S3 and CloudTrail in memory plus one
    /// small SQLite transaction without a sync) is served in place.
    pub(crate) fn is_blocking(&self, req: &AwsRequest) -> bool {
        match &req.operation {
            // Every call to a ledger in a database server waits for it.
            Operation::QldbSession(_) | Operation::Qldb(_) if self.qldb.stores_remotely() => true,
            Operation::QldbSession(_) => req.json.as_ref().is_some_and(|v| {
                v.get("CommitTransaction").is_some() && self.sessions.commits_writes(v)
            }),
            Operation::Qldb(op) => matches!(
                op,
                crate::ops::QldbOp::CreateLedger
                    | crate::ops::QldbOp::DeleteLedger
                    | crate::ops::QldbOp::ExportJournalToS3
            ),
            // A new key's material is written to the key store and synced.
            Operation::Kms(crate::ops::KmsOp::CreateKey) => true,
            _ => false,
        }
    }

    /// The time of the emulator's clock now.
    pub fn now(&self) -> UtcMillis {
        self.env.now()
    }
}
