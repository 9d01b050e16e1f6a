//! veritrail-emulator: one HTTP endpoint that speaks AWS wire protocols over veritrail, so
//! unmodified AWS SDK clients and the QLDB drivers run against it with no AWS account.
//!
//! - [`qldb`]: QLDB's control plane (rest-json, `/ledgers…`, `/tags…`).
//! - [`qldb_session`]: QLDB's session API (awsJson1_0, `X-Amz-Target: QLDBSession.SendCommand`).
//! - [`s3`]: S3 (rest-xml, path-style) with versioning and Object Lock.
//! - [`cloudtrail`]: CloudTrail (awsJson1_1): trails, public keys, and LookupEvents over a record
//!   of every call the emulator serves.
//! - [`delivery`]: CloudTrail's log files and signed hourly digests, written into the emulated S3
//!   on the emulator's clock.
//! - `/_veritrail/clock`: the emulator's own endpoint to read, advance or speed up that clock
//!   (`GET`; `POST {"advanceSeconds": N}` or `{"scale": X}`).
//!
//! Requests are routed the way the SDKs address them: by `X-Amz-Target` for JSON protocols, by
//! path for rest-json; the SigV4 `Authorization` header is read for the region (signatures are
//! not checked). State is per instance (no globals), so tests run many emulators in parallel,
//! each on its own port with its own directory.
//!
//! Architecture Invariant: a client mistake gets the AWS error a real client expects, never a
//! 500 and never a panic; only this crate knows AWS wire protocols on the server side.

pub mod cloudtrail;
pub mod delivery;
pub mod error;
pub mod persist;
pub mod qldb;
pub mod qldb_session;
pub mod s3;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use veritrail_core::id::{IdSource as _, TimeOrderedIds};
use veritrail_core::time::SteeredClock;
use veritrail_ledger::db::Database;

use crate::error::AwsError;

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
    /// Where ledgers are kept (one SQLite file each, plus a small JSON file of control-plane
    /// settings).
    pub data_dir: PathBuf,
    /// A session unused this long is gone (QLDB: about 15 minutes).
    pub session_idle_timeout: Duration,
    /// A transaction open this long has expired (QLDB: 30 s).
    pub transaction_timeout: Duration,
    /// The emulator's clock (Object Lock retention and CloudTrail delivery follow it). The
    /// emulator steers it ([`Emulator::clock`]): this is the time it starts from.
    pub clock: Arc<dyn veritrail_core::time::Clock>,
    /// How often CloudTrail delivers log files (about 5 minutes on AWS).
    pub log_interval: Duration,
}

impl Config {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            session_idle_timeout: Duration::from_secs(15 * 60),
            transaction_timeout: Duration::from_secs(30),
            clock: Arc::new(veritrail_core::time::SystemClock),
            log_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// One ledger as the control plane knows it.
#[derive(Debug)]
pub struct LedgerEntry {
    pub name: String,
    pub arn: String,
    pub db: Database,
    pub settings: qldb::Settings,
    /// CreateLedger answers CREATING; the ledger is ACTIVE from the next call on.
    pub described: bool,
}

/// An emulator's state.
#[derive(Debug)]
pub struct Emulator {
    pub config: Config,
    ledgers: Mutex<BTreeMap<String, LedgerEntry>>,
    sessions: Mutex<HashMap<String, Arc<Mutex<qldb_session::Session>>>>,
    buckets: Mutex<BTreeMap<String, s3::Bucket>>,
    cloudtrail: Mutex<cloudtrail::State>,
    ids: TimeOrderedIds,
    clock: Arc<SteeredClock>,
    /// Added before each answer, in microseconds (0: none); see [`Emulator::set_latency`].
    latency_us: std::sync::atomic::AtomicU64,
    persist: persist::Persist,
}

impl Emulator {
    /// Opens the ledgers already under `config.data_dir`.
    pub fn open(mut config: Config) -> Result<Self, String> {
        std::fs::create_dir_all(config.data_dir.join("ledgers"))
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let clock = Arc::new(SteeredClock::new(Arc::clone(&config.clock)));
        config.clock = clock.clone();
        let persist = persist::Persist::open(&config.data_dir)?;
        let (buckets, cloudtrail) = persist.load()?;
        let emulator = Self {
            clock,
            latency_us: std::sync::atomic::AtomicU64::new(0),
            persist,
            config,
            ledgers: Mutex::new(BTreeMap::new()),
            sessions: Mutex::new(HashMap::new()),
            buckets: Mutex::new(buckets),
            cloudtrail: Mutex::new(cloudtrail),
            ids: TimeOrderedIds::default(),
        };
        qldb::load_ledgers(&emulator)?;
        Ok(emulator)
    }

    pub(crate) fn ledgers(&self) -> MutexGuard<'_, BTreeMap<String, LedgerEntry>> {
        self.ledgers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sessions(
        &self,
    ) -> MutexGuard<'_, HashMap<String, Arc<Mutex<qldb_session::Session>>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn buckets(&self) -> MutexGuard<'_, BTreeMap<String, s3::Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn cloudtrail(&self) -> MutexGuard<'_, cloudtrail::State> {
        self.cloudtrail.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn new_id(&self) -> String {
        self.ids.new_id()
    }

    /// The current version of an S3 object: its bytes and `x-amz-meta-*` metadata.
    pub fn s3_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
        let buckets = self.buckets();
        let versions = buckets.get(bucket)?.objects.get(key)?;
        versions
            .last()
            .filter(|v| !v.delete_marker)
            .map(|v| (v.body.clone(), v.metadata.clone()))
    }

    /// The keys of `bucket` under `prefix` that have a current version, in order.
    pub fn s3_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let buckets = self.buckets();
        buckets.get(bucket).map_or_else(Vec::new, |b| {
            b.objects
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, v)| v.last().is_some_and(|v| !v.delete_marker))
                .map(|(k, _)| k.clone())
                .collect()
        })
    }

    /// Delays every answer by `latency` (real time), the way a remote S3 endpoint would: for
    /// benchmarks and timeout tests. Zero (the default) answers at once.
    pub fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .store(us, std::sync::atomic::Ordering::Relaxed);
    }

    /// The emulator's clock, to advance or speed up (`/_veritrail/clock` does the same over HTTP).
    pub fn clock(&self) -> &SteeredClock {
        &self.clock
    }

    /// Delivers every CloudTrail file that has fallen due and saves every change to SQLite
    /// (runs after each request, before it is answered, and once a second while serving).
    pub fn deliver(&self) -> Result<(), String> {
        delivery::tick(self, true)
    }

    pub(crate) fn save(
        &self,
        state: &mut cloudtrail::State,
        buckets: &mut BTreeMap<String, s3::Bucket>,
        all_records: bool,
    ) -> Result<(), String> {
        self.persist.save(state, buckets, all_records)
    }

    /// `/_veritrail/clock`: `GET` reads the clock, `POST {"advanceSeconds": N, "scale": X}`
    /// moves it forward and/or sets its speed, then delivers what fell due.
    fn clock_endpoint(&self, method: &Method, body: &[u8]) -> Response {
        let bad = |m: String| {
            (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                serde_json::json!({"message": m}).to_string(),
            )
                .into_response()
        };
        if *method == Method::POST {
            let v: serde_json::Value = match serde_json::from_slice(body) {
                Ok(v @ serde_json::Value::Object(_)) => v,
                _ => return bad(
                    "the body must be a JSON object: {\"advanceSeconds\": N} and/or {\"scale\": X}"
                        .into(),
                ),
            };
            if let Some(x) = v.get("scale") {
                let Some(x) = x.as_f64() else {
                    return bad("scale must be a number".into());
                };
                if let Err(e) = self.clock.set_scale(x) {
                    return bad(e);
                }
            }
            if let Some(a) = v.get("advanceSeconds") {
                let Some(secs) = a.as_f64() else {
                    return bad("advanceSeconds must be a number".into());
                };
                if let Err(e) = self.clock.advance((secs * 1000.0) as i64) {
                    return bad(e);
                }
            }
            if let Err(e) = self.deliver() {
                return AwsError::internal(e).into_response();
            }
        } else if *method != Method::GET {
            return (StatusCode::METHOD_NOT_ALLOWED, "use GET or POST").into_response();
        }
        let now = veritrail_core::time::Clock::now(&*self.clock);
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            serde_json::json!({
                "now": s3_time(now),
                "epochMillis": now.0,
                "scale": self.clock.scale(),
            })
            .to_string(),
        )
            .into_response()
    }

    /// Handles one request (blocking: ledger work touches the disk).
    pub fn handle(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        if path_and_query.starts_with("/_veritrail/clock") {
            return self.clock_endpoint(method, body);
        }
        let request_id = self.new_id();
        let mut response = if let Some(target) =
            headers.get("x-amz-target").and_then(|v| v.to_str().ok())
        {
            match target {
                "QLDBSession.SendCommand" => qldb_session::send_command(self, body),
                t if cloudtrail::target_operation(t).is_some() => cloudtrail::handle(
                    self,
                    cloudtrail::target_operation(t).unwrap_or_default(),
                    body,
                    &sigv4_region(headers).unwrap_or_else(|| "us-east-1".to_owned()),
                ),
                other => AwsError::unknown_operation(other).into_response(),
            }
        } else {
            let region = sigv4_region(headers).unwrap_or_else(|| "us-east-1".to_owned());
            let service = sigv4_service(headers);
            let (path, query) = path_and_query
                .split_once('?')
                .unwrap_or((path_and_query, ""));
            let qldb_path = path.starts_with("/ledgers") || path.starts_with("/tags/");
            // Signed requests name their service; unsigned ones are QLDB by path, else S3.
            match service.as_deref() {
                Some("s3") => s3::route(self, method, path, query, headers, body, &region),
                Some("qldb") | None if qldb_path => {
                    qldb::route(self, method, path, query, body, &region)
                }
                None => s3::route(self, method, path, query, headers, body, &region),
                Some(other) => AwsError::unknown_operation(&format!("{other}: {method} {path}"))
                    .into_response(),
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-RequestId", v);
        }
        self.record_call(
            method,
            path_and_query,
            headers,
            body,
            &request_id,
            &response,
        );
        // Saved before answering: an acknowledged change survives a crash.
        if let Err(e) = delivery::tick(self, false) {
            return AwsError::internal(format!("the change could not be saved: {e}"))
                .into_response();
        }
        response
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, CloudTrail's time format.
pub(crate) fn s3_time(t: veritrail_core::time::UtcMillis) -> String {
    let (y, mo, d, h, mi, s, _) = t.fields();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

impl Emulator {
    /// Records a served call as a CloudTrail record (every service, every outcome).
    fn record_call(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
        response: &Response,
    ) {
        let region = sigv4_region(headers).unwrap_or_else(|| "us-east-1".to_owned());
        let lower_first = |v: &serde_json::Value| -> serde_json::Value {
            match v.as_object() {
                Some(o) => serde_json::Value::Object(
                    o.iter()
                        .map(|(k, v)| {
                            let mut c = k.chars();
                            let key = c
                                .next()
                                .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                                .unwrap_or_default();
                            (key, v.clone())
                        })
                        .collect(),
                ),
                None => serde_json::Value::Null,
            }
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        let (service, operation, params, data_event, resources) = match target {
            Some(t) if cloudtrail::target_operation(t).is_some() => {
                let op = cloudtrail::target_operation(t)
                    .unwrap_or_default()
                    .to_owned();
                // Only CloudTrail's own calls have a JSON body worth recording (S3 bodies are
                // objects, up to 64 MiB, and are not parsed).
                let json_body: serde_json::Value =
                    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
                let params = lower_first(&json_body);
                let resources = json_body
                    .get("Name")
                    .and_then(|n| n.as_str())
                    .map(|n| vec![("AWS::CloudTrail::Trail".to_owned(), n.to_owned())])
                    .unwrap_or_default();
                ("cloudtrail", op, params, false, resources)
            }
            Some("QLDBSession.SendCommand") => (
                "qldb",
                "SendCommand".to_owned(),
                serde_json::Value::Null,
                true,
                vec![],
            ),
            Some(other) => (
                "unknown",
                other.to_owned(),
                serde_json::Value::Null,
                false,
                vec![],
            ),
            None if sigv4_service(headers).as_deref() != Some("s3")
                && (path.starts_with("/ledgers") || path.starts_with("/tags/")) =>
            {
                let (op, name) = qldb::operation_name(method, path);
                let params =
                    name.map_or(serde_json::Value::Null, |n| serde_json::json!({"name": n}));
                ("qldb", op.to_owned(), params, false, vec![])
            }
            None => {
                let (op, bucket, key, data) = s3::operation_name(method, path, query);
                let mut params = serde_json::json!({"bucketName": bucket});
                if let Some(k) = &key {
                    params["key"] = serde_json::json!(k);
                }
                let resources = vec![(
                    "AWS::S3::Bucket".to_owned(),
                    format!("arn:aws:s3:::{bucket}"),
                )];
                ("s3", op.to_owned(), params, data, resources)
            }
        };
        let status = response.status();
        let error = (status.as_u16() >= 400).then(|| {
            let code = response
                .headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    status
                        .canonical_reason()
                        .unwrap_or("Error")
                        .replace(' ', "")
                });
            (
                code,
                format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ),
            )
        });
        cloudtrail::record(
            self,
            cloudtrail::Call {
                service,
                operation,
                region: &region,
                headers,
                request_parameters: params,
                error,
                request_id,
                resources,
                data_event,
            },
        );
    }
}

/// Part `n` of a SigV4 `Authorization` header's credential (`AKID/date/region/service/aws4_request`).
pub(crate) fn sigv4_credential(headers: &HeaderMap, n: usize) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    credential.split('/').nth(n).map(str::to_owned)
}

/// The service of a SigV4 `Authorization` header's credential scope.
pub fn sigv4_service(headers: &HeaderMap) -> Option<String> {
    sigv4_credential(headers, 3)
}

/// The region of a SigV4 `Authorization` header's credential scope.
pub fn sigv4_region(headers: &HeaderMap) -> Option<String> {
    sigv4_credential(headers, 2)
}

async fn dispatch(State(emulator): State<Arc<Emulator>>, request: Request) -> Response {
    let latency = emulator
        .latency_us
        .load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_micros(latency)).await;
    }
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(_) => {
            return AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "the request body is over 64 MiB",
            )
            .into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    // QLDB requests touch the disk and run on the blocking pool; S3 and CloudTrail work in memory
    // for microseconds, so they are served in place (saving two thread hand-offs per request).
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    // Moving the clock may sign a month of digests: it runs on the blocking pool too.
    let heavy = target.is_some_and(|t| t.starts_with("QLDB"))
        || path.starts_with("/ledgers")
        || path.starts_with("/tags/")
        || path.starts_with("/_veritrail/");
    if !heavy {
        return emulator.handle(&parts.method, &path, &parts.headers, &body);
    }
    match tokio::task::spawn_blocking(move || {
        emulator.handle(&parts.method, &path, &parts.headers, &body)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => AwsError::internal(format!("the request handler failed: {e}")).into_response(),
    }
}

/// The router, for serving or for calling without a socket.
pub fn app(emulator: Arc<Emulator>) -> Router {
    Router::new().fallback(dispatch).with_state(emulator)
}

/// A running emulator.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub addr: SocketAddr,
    pub emulator: Arc<Emulator>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Keeps a temporary data directory alive (and removes it on drop), for `spawn()`.
    _temp: Option<TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `emulator` on `addr` until the returned handle is dropped.
pub async fn serve(emulator: Arc<Emulator>, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app(Arc::clone(&emulator));
    // CloudTrail delivers on the emulator's clock even when no requests come in.
    let ticking = Arc::downgrade(&emulator);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(e) = ticking.upgrade() else { break };
            if tokio::task::spawn_blocking(move || e.deliver())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        url: format!("http://{addr}"),
        addr,
        emulator,
        shutdown: Some(tx),
        _temp: None,
    })
}

/// Starts an emulator on 127.0.0.1 port 0 with its own temporary directory, for tests.
pub async fn spawn() -> std::io::Result<Running> {
    spawn_with(|_| {}).await
}

/// [`spawn`], with the configuration adjusted first (a fixed clock, shorter timeouts …).
pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> std::io::Result<Running> {
    let dir = std::env::temp_dir().join(format!(
        "veritrail-emulator-{}-{}",
        std::process::id(),
        TimeOrderedIds::default().new_id()
    ));
    let mut config = Config::new(&dir);
    configure(&mut config);
    let emulator = Emulator::open(config).map_err(std::io::Error::other)?;
    let mut running = serve(Arc::new(emulator), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    running._temp = Some(TempDir(dir));
    Ok(running)
}
