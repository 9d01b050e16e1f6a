//! veritrail-emulator: one HTTP endpoint that speaks AWS wire protocols over veritrail, so
//! unmodified AWS SDK clients and the QLDB drivers run against it with no AWS account.
//!
//! - [`qldb`]: QLDB's control plane (rest-json, `/ledgers…`, `/tags…`).
//! - [`qldb_session`]: QLDB's session API (awsJson1_0, `X-Amz-Target: QLDBSession.SendCommand`).
//! - [`s3`]: S3 (rest-xml, path-style) with versioning and Object Lock.
//! - [`cloudtrail`]: CloudTrail (awsJson1_1): trails, public keys, and LookupEvents over a record
//!   of every call the emulator serves.
//!
//! Requests are routed the way the SDKs address them: by `X-Amz-Target` for JSON protocols, by
//! path for rest-json; the SigV4 `Authorization` header is read for the region (signatures are
//! not checked). State is per instance (no globals), so tests run many emulators in parallel,
//! each on its own port with its own directory.
//!
//! Architecture Invariant: a client mistake gets the AWS error a real client expects, never a
//! 500 and never a panic; only this crate knows AWS wire protocols on the server side.

pub mod cloudtrail;
pub mod error;
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
    /// The emulator's clock (Object Lock retention is judged against it).
    pub clock: Arc<dyn veritrail_core::time::Clock>,
}

impl Config {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            session_idle_timeout: Duration::from_secs(15 * 60),
            transaction_timeout: Duration::from_secs(30),
            clock: Arc::new(veritrail_core::time::SystemClock),
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
}

impl Emulator {
    /// Opens the ledgers already under `config.data_dir`.
    pub fn open(config: Config) -> Result<Self, String> {
        std::fs::create_dir_all(config.data_dir.join("ledgers"))
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let emulator = Self {
            config,
            ledgers: Mutex::new(BTreeMap::new()),
            sessions: Mutex::new(HashMap::new()),
            buckets: Mutex::new(BTreeMap::new()),
            cloudtrail: Mutex::new(cloudtrail::State::default()),
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

    /// Handles one request (blocking: ledger work touches the disk).
    pub fn handle(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let request_id = self.new_id();
        let mut response = if let Some(target) =
            headers.get("x-amz-target").and_then(|v| v.to_str().ok())
        {
            match target {
                "QLDBSession.SendCommand" => qldb_session::send_command(self, body),
                t if t.starts_with(cloudtrail::TARGET_PREFIX) => cloudtrail::handle(
                    self,
                    &t[cloudtrail::TARGET_PREFIX.len()..],
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
        let json_body: serde_json::Value =
            serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
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
            Some(t) if t.starts_with(cloudtrail::TARGET_PREFIX) => {
                let op = t[cloudtrail::TARGET_PREFIX.len()..].to_owned();
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

/// The service of a SigV4 `Authorization` header's credential scope.
pub fn sigv4_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    credential.split('/').nth(3).map(str::to_owned)
}

/// The region of a SigV4 `Authorization` header's credential scope.
pub fn sigv4_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    // AKID/date/region/service/aws4_request
    credential.split('/').nth(2).map(str::to_owned)
}

async fn dispatch(State(emulator): State<Arc<Emulator>>, request: Request) -> Response {
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
    let dir = std::env::temp_dir().join(format!(
        "veritrail-emulator-{}-{}",
        std::process::id(),
        TimeOrderedIds::default().new_id()
    ));
    let emulator = Emulator::open(Config::new(&dir)).map_err(std::io::Error::other)?;
    let mut running = serve(Arc::new(emulator), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    running._temp = Some(TempDir(dir));
    Ok(running)
}
