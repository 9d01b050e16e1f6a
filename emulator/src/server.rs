//! Serving over HTTP: the axum router, the body size limits, the choice of thread, the
//! once-a-second delivery tick, graceful shutdown, and the one `serve` front end
//! ([`ServeArgs`], [`run_serve`]) that `veritrail serve` and the `veritrail-emulator` binary
//! share.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use http_body_util::BodyExt as _;
use veritrail_core::time::UtcMillis;
use veritrail_ledger::StorageChoice;

use crate::EmulatorError;
use crate::wire::ErrorBody;
use crate::{Config, Emulator, clock_control, route};

/// Past a body's limit, at most this much more is read (and dropped) so that the client sees
/// the error instead of a closed connection; beyond it the connection is closed.
const DRAIN_LIMIT: usize = 1 << 30;

/// A body over its limit.
struct TooLarge;

/// Reads a body up to `limit` bytes; past it, drains (up to [`DRAIN_LIMIT`]) and refuses.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, TooLarge> {
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(TooLarge);
        };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > limit.saturating_add(DRAIN_LIMIT) {
                return Err(TooLarge);
            }
        }
    }
    if seen > limit {
        return Err(TooLarge);
    }
    Ok(Bytes::from(buf))
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn dispatch(State(emulator): State<Arc<Emulator>>, request: Request) -> Response {
    let latency = emulator.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let source = request
        .extensions()
        .get::<ConnectInfo<crate::tls::Peer>>()
        .map(|c| c.0.0.ip());
    let (parts, body) = request.into_parts();
    let authenticates = emulator.config.credentials.is_some();
    if parts.uri.path() == "/_veritrail/clock" {
        let Ok(body) = read_body(body, clock_control::MAX_BODY).await else {
            return clock_control::too_large();
        };
        if authenticates {
            let incoming = crate::auth::Incoming {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body: &body,
            };
            // Moving the clock expires retention: only an admin may, when requests are
            // authenticated.
            let refusal = match emulator.prove(&incoming) {
                Ok(Some(who)) if who.role == crate::auth::Role::Admin => None,
                Ok(who) => Some(crate::auth::access_denied(
                    crate::ops::Protocol::RestJson,
                    format!(
                        "User: {} is not authorized to move the clock (an admin is)",
                        who.map_or_else(|| "anonymous".to_owned(), |w| w.principal.arn)
                    ),
                )),
                Err(e) => Some(crate::auth::rejection(&e, crate::ops::Protocol::RestJson)),
            };
            if let Some(e) = refusal {
                return e.render(crate::ops::Protocol::RestJson, "");
            }
        }
        // Moving the clock may sign a month of digests: it runs on the blocking pool.
        let method = parts.method.clone();
        return tokio::task::spawn_blocking(move || {
            clock_control::endpoint(&emulator, &method, &body)
        })
        .await
        .unwrap_or_else(|e| {
            ErrorBody::internal(format!("the clock endpoint failed: {e}"))
                .render(crate::ops::Protocol::RestJson, "")
        });
    }
    if let Some(pages) = emulator
        .pages()
        .filter(|_| crate::pages::wants_page(&parts.method, &parts.uri, &parts.headers))
    {
        if authenticates && !emulator.config.dashboard_public {
            // A page is an unsigned browser request: with authentication on, it is served only
            // when the operator said so.
            return crate::pages::Page::text(
                403,
                "The dashboard is not served: this server authenticates requests and was not started with --dashboard-public.",
            )
            .into_response();
        }
        let (path, query) = (
            parts.uri.path().to_owned(),
            parts.uri.query().map(str::to_owned),
        );
        let head = parts.method == axum::http::Method::HEAD;
        let page = tokio::task::spawn_blocking(move || pages.get(&path, query.as_deref()))
            .await
            .unwrap_or_else(|e| crate::pages::Page::text(500, format!("the page failed: {e}")));
        let mut response = page.into_response();
        if head {
            *response.body_mut() = Body::empty();
        }
        return response;
    }
    let classified = route::classify(&parts.method, &parts.uri, &parts.headers);
    let (protocol, limit) = (classified.protocol, classified.body_limit);
    let too_large = || ErrorBody::too_large(protocol, limit).render(protocol, "");
    let expects_continue = parts
        .headers
        .get("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue && declared_length(&parts.headers).is_some_and(|n| n > limit) {
        // The client waits for 100 Continue before it sends the body: refuse it now.
        return too_large();
    }
    let Ok(body) = read_body(body, limit).await else {
        return too_large();
    };
    let parsed = route::parse(
        classified,
        parts.method,
        &parts.uri,
        parts.headers,
        body,
        emulator.env().new_id(),
        source,
    );
    if Emulator::may_wait(&parsed.request) {
        return long_poll(emulator, parsed).await;
    }
    if !emulator.is_blocking(&parsed.request) {
        // S3 and CloudTrail work in memory and in one small SQLite transaction: served in place.
        return emulator.serve_request(parsed);
    }
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        // Ledger work may wait for the disk: this worker hands its other tasks to another
        // thread and runs the request itself (cheaper than moving the request to the blocking
        // pool and back, which costs two thread wake-ups per call).
        return tokio::task::block_in_place(|| emulator.serve_request(parsed));
    }
    let protocol = parsed.request.protocol;
    tokio::task::spawn_blocking(move || emulator.serve_request(parsed))
        .await
        .unwrap_or_else(|e| {
            ErrorBody::internal(format!("the request handler failed: {e}")).render(protocol, "")
        })
}

/// Serves an SQS ReceiveMessage that may wait for messages, without holding a thread: between
/// looks it waits on the queue's signal (a send, a visibility change, the clock moving), until
/// its wait time has passed on the emulator's clock or in real time, whichever comes first.
async fn long_poll(emulator: Arc<Emulator>, mut parsed: route::Parsed) -> Response {
    let mut limits: Option<(UtcMillis, std::pin::Pin<Box<tokio::time::Sleep>>)> = None;
    loop {
        let wait = match emulator.serve_or_wait(parsed) {
            Ok(response) => return response,
            Err(waiting) => {
                let (p, wait) = *waiting;
                parsed = p;
                wait
            }
        };
        let (deadline, real) = limits.get_or_insert_with(|| {
            let ms = u64::try_from(wait.wait_ms).unwrap_or(0);
            (
                UtcMillis(emulator.now().0.saturating_add(wait.wait_ms)),
                Box::pin(tokio::time::sleep(Duration::from_millis(ms))),
            )
        });
        if emulator.now() >= *deadline {
            return emulator.serve_request(parsed);
        }
        tokio::select! {
            _ = wait.sleep(emulator.clock(), *deadline) => {}
            _ = real.as_mut() => return emulator.serve_request(parsed),
        }
    }
}

/// The router, for serving or for calling without a socket (`tower::ServiceExt::oneshot`).
pub fn app(emulator: Arc<Emulator>) -> Router {
    Router::new().fallback(dispatch).with_state(emulator)
}

/// A running emulator. Dropping it stops serving; [`Running::shutdown`] also waits for requests
/// in flight and commits the records still waiting.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:PORT` (`https://…` when serving TLS).
    pub url: String,
    pub addr: SocketAddr,
    /// Where the server's own clients reach it: [`Running::url`], or with TLS a plain-HTTP
    /// listener on a loopback port of its own (requests there are authenticated the same).
    pub internal_url: String,
    pub emulator: Arc<Emulator>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Keeps a temporary data directory alive (and removes it on drop), for `spawn()`.
    temp: Option<TempDir>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish, and commits waiting records.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        // Long polls answer now rather than hold the shutdown for up to 20 s.
        self.emulator.wake_pollers(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let emulator = Arc::clone(&self.emulator);
        tokio::task::spawn_blocking(move || emulator.flush())
            .await
            .map_err(|e| EmulatorError::Task(e.to_string()))?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
            self.emulator.wake_pollers(true);
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

/// Serves `emulator` on `addr` until the returned handle is dropped or shut down.
pub async fn serve(emulator: Arc<Emulator>, addr: SocketAddr) -> std::io::Result<Running> {
    serve_tls(emulator, addr, None).await
}

/// Serves connections from `listener` with `router` until `stop` says so.
fn serve_on<L>(
    listener: L,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> crate::tls::Peer:
        axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<crate::tls::Peer>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    })
}

/// [`serve`], over HTTPS when `tls` is given (then also over plain HTTP on a loopback port of
/// its own, [`Running::internal_url`], for the server's own clients).
pub async fn serve_tls(
    emulator: Arc<Emulator>,
    addr: SocketAddr,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
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
    // EventBridge delivers from the queue in aws.sqlite: at once when deliveries are queued,
    // and every second for retries that fall due.
    let delivering = Arc::downgrade(&emulator);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while let Some(queued) = delivering.upgrade().map(|e| e.event_deliveries_queued()) {
            tokio::select! {
                _ = every.tick() => {}
                _ = queued.notified() => {}
            }
            let Some(e) = delivering.upgrade() else { break };
            if tokio::task::spawn_blocking(move || e.start_event_deliveries())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    // SNS POSTs to HTTP subscribers, each delivery on its own task, retried by its policy.
    let delivering = Arc::downgrade(&emulator);
    let signal = emulator.sns().http_signal();
    tokio::spawn(async move {
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some(e) = delivering.upgrade() else { break };
            let looked = Arc::clone(&e);
            let due = tokio::task::spawn_blocking(move || looked.due_http_deliveries())
                .await
                .unwrap_or_default();
            for d in due {
                let e = Arc::clone(&e);
                tokio::spawn(async move {
                    let outcome = crate::services::sns::delivery::post(&d).await;
                    // A failure to record leaves the delivery due: it is tried again.
                    let _ =
                        tokio::task::spawn_blocking(move || e.http_delivered(&d, &outcome)).await;
                });
            }
            drop(e);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
    let (url, internal_url, task) = match tls {
        None => {
            let task = serve_on(listener, router, stopped);
            (format!("http://{addr}"), format!("http://{addr}"), task)
        }
        Some(config) => {
            let loopback = if addr.ip().is_loopback() {
                addr.ip()
            } else if addr.is_ipv6() {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            } else {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            };
            let internal = tokio::net::TcpListener::bind((loopback, 0)).await?;
            let internal_addr = internal.local_addr()?;
            let plain = serve_on(internal, router.clone(), stopped.clone());
            let secure = serve_on(
                crate::tls::TlsListener::new(listener, config)?,
                router,
                stopped,
            );
            let task = tokio::spawn(async move {
                let _ = tokio::join!(plain, secure);
            });
            (
                format!("https://{addr}"),
                format!("http://{internal_addr}"),
                task,
            )
        }
    };
    Ok(Running {
        url,
        internal_url,
        addr,
        emulator,
        stop: Some(stop),
        task: Some(task),
        temp: None,
    })
}

/// Starts an emulator on 127.0.0.1 port 0 with its own temporary directory, for tests.
pub async fn spawn() -> std::io::Result<Running> {
    spawn_with(|_| {}).await
}

/// [`spawn`], with the configuration adjusted first (a fixed clock, clock control, shorter
/// timeouts …).
pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> std::io::Result<Running> {
    spawn_tls(configure, None).await
}

/// [`spawn_with`], serving HTTPS with `tls` when given.
pub async fn spawn_tls(
    configure: impl FnOnce(&mut Config),
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = std::env::temp_dir().join(format!(
        "veritrail-emulator-{}-{}",
        std::process::id(),
        crate::wire::hex(&id)
    ));
    let mut config = Config::new(&dir);
    configure(&mut config);
    // Off the async workers: opening ledgers in a database server blocks on its client.
    let emulator = tokio::task::spawn_blocking(move || Emulator::open(config))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    let mut running = serve_tls(
        Arc::new(emulator),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        tls,
    )
    .await?;
    running.temp = Some(TempDir(dir));
    Ok(running)
}

/// The options of `veritrail serve` (and of the `veritrail-emulator` binary).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Without --credentials, loopback only: requests are not
    /// authenticated (any credentials are accepted), so an address other machines can reach
    /// is refused.
    #[arg(long, default_value = "127.0.0.1:4566")]
    pub addr: SocketAddr,
    /// Check the SigV4 signature of every request against the credentials in FILE (INI: one
    /// [section] per credential with aws_access_key_id, aws_secret_access_key, principal and
    /// role = auditor | writer | admin) [default: $VERITRAIL_CREDENTIALS when set].
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// With --credentials, serve the /dashboard pages without a signature (a browser cannot
    /// sign); by default they are refused when requests are authenticated.
    #[arg(long)]
    pub dashboard_public: bool,
    /// Serve HTTPS with the certificate chain in PEM (leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, in PEM (PKCS #8, PKCS #1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where ledgers, buckets, trails and records are kept [default: the user's data
    /// directory]/veritrail/emulator.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the digest-signing keys and the S3 integrity key are kept (mode 0700); keep it
    /// apart from the data directory to keep keys from whoever can read the data [default:
    /// DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
    /// Where QLDB ledgers keep their journals: `sqlite` (files in DATA_DIR/ledgers) or a
    /// PostgreSQL database, `postgres://user:password@host:port/database`, one schema per
    /// ledger [default: $VERITRAIL_STORAGE when set, else sqlite].
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// Run the emulator's clock this many times faster than real time (3600: an hour of
    /// CloudTrail delivery per second).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub clock_scale: f64,
    /// Let `POST /_veritrail/clock` move the clock forward (for tests and demos: moving the
    /// clock expires Object Lock retention, so it is off by default).
    #[arg(long)]
    pub allow_clock_control: bool,
}

/// The storage `--storage` names, else `VERITRAIL_STORAGE`, else SQLite.
pub fn storage_choice(args: &ServeArgs) -> Result<StorageChoice, String> {
    match &args.storage {
        Some(spec) => StorageChoice::parse(spec).map_err(|e| format!("--storage: {e}")),
        None => StorageChoice::from_env().map(Option::unwrap_or_default),
    }
}

/// The credentials file named by `--credentials`, else by `VERITRAIL_CREDENTIALS`.
fn credentials_path(args: &ServeArgs) -> Option<PathBuf> {
    args.credentials.clone().or_else(|| {
        std::env::var_os("VERITRAIL_CREDENTIALS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Reads the credentials file, if one is named, into the authenticator of the server (with
/// its own credential for the clients it runs itself).
pub fn load_credentials(
    args: &ServeArgs,
) -> Result<Option<(PathBuf, crate::auth::Authenticator)>, String> {
    let Some(path) = credentials_path(args) else {
        if args.dashboard_public {
            return Err(
                "--dashboard-public needs --credentials: without them every page is served anyway"
                    .into(),
            );
        }
        return Ok(None);
    };
    let credentials = crate::auth::Credentials::load(&path).map_err(|e| e.to_string())?;
    let authenticator = crate::auth::Authenticator::with_own_credential(credentials)?;
    Ok(Some((path, authenticator)))
}

/// Refuses an address other machines can reach: the emulator accepts any credentials, so
/// serving beyond loopback would let anyone on the network act as anyone.
pub fn loopback_only(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr}: requests are not authenticated (any credentials are accepted), so only a loopback address (127.0.0.1, ::1) is served"
    ))
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when it is first
/// awaited, so a signal that comes while `serve` is still starting is not lost (nor does it
/// kill the process with the default action).
fn signalled() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// What runs beside the emulator in the same process (`veritrail serve`'s audit processor):
/// started once the emulator listens, stopped before the emulator shuts down.
pub trait Companion: Send {
    /// Stops it and waits for it (blocking); the error says what went wrong while it ran.
    fn stop(self: Box<Self>) -> Result<(), String>;
}

/// Runs the emulator until SIGINT or SIGTERM, then shuts down gracefully (requests in flight
/// finish, waiting records are committed). Exit code 0 after a clean stop, 2 when it cannot
/// start.
pub fn run_serve(args: ServeArgs) -> ExitCode {
    run_serve_with(args, |_, _| Ok(None))
}

/// [`run_serve`], with `start` run (on a blocking thread) once the emulator listens, given its
/// URL and the emulator; what it starts is stopped before the emulator shuts down. An error
/// from `start` stops the emulator and exits 2.
pub fn run_serve_with<F>(args: ServeArgs, start: F) -> ExitCode
where
    F: FnOnce(String, Arc<Emulator>) -> Result<Option<Box<dyn Companion>>, String> + Send + 'static,
{
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::default_data_dir);
    let authenticator = match load_credentials(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let storage = match storage_choice(&args).and_then(|s| {
        s.check_reachable()
            .map(|()| s)
            .map_err(|e| format!("--storage: {e}"))
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if authenticator.is_none() {
        if let Err(e) = loopback_only(args.addr) {
            eprintln!("error: {e} (give --credentials to authenticate requests)");
            return ExitCode::from(2);
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match crate::tls::server_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let banner = match &authenticator {
        Some((path, a)) => format!(
            "requests are authenticated (SigV4) against {} credentials from {}; the dashboard is {}",
            a.len() - 1,
            path.display(),
            if args.dashboard_public {
                "public"
            } else {
                "refused"
            }
        ),
        None => "requests are NOT authenticated (any credentials are accepted), so only loopback is served".to_owned(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let mut config = Config::new(&data_dir);
        config.key_dir = args.key_dir.clone();
        config.clock_control = args.allow_clock_control;
        config.credentials = authenticator.map(|(_, a)| Arc::new(a));
        config.dashboard_public = args.dashboard_public;
        config.storage = storage;
        // Off the async workers: opening ledgers in a database server blocks on its client.
        let emulator = match tokio::task::spawn_blocking(move || Emulator::open(config)).await {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: start-up failed: {e}");
                return ExitCode::from(2);
            }
        };
        if !(0.0..=clock_control::MAX_SCALE).contains(&args.clock_scale) {
            eprintln!(
                "error: --clock-scale must be from 0 to {}",
                clock_control::MAX_SCALE
            );
            return ExitCode::from(2);
        }
        if let Err(e) = emulator.clock().set_scale(args.clock_scale) {
            eprintln!("error: --clock-scale: {e}");
            return ExitCode::from(2);
        }
        let stop_signal = signalled();
        let running = match serve_tls(Arc::new(emulator), args.addr, tls).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.addr);
                return ExitCode::from(2);
            }
        };
        let ledgers = match &running.emulator.config.storage {
            StorageChoice::Sqlite => String::new(),
            other => format!(", ledgers in {}", other.describe()),
        };
        println!(
            "veritrail emulator listening on {} (data in {}{ledgers}, keys in {}); {banner}",
            running.url,
            data_dir.display(),
            running.emulator.config.key_dir().display()
        );
        if running.internal_url != running.url {
            println!(
                "the server's own clients use {} (loopback, plain HTTP, authenticated the same)",
                running.internal_url
            );
        }
        let (url, emulator) = (running.internal_url.clone(), Arc::clone(&running.emulator));
        let companion = match tokio::task::spawn_blocking(move || start(url, emulator)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                let _ = running.shutdown().await;
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: start-up failed: {e}");
                let _ = running.shutdown().await;
                return ExitCode::from(2);
            }
        };
        stop_signal.await;
        eprintln!("veritrail emulator: stopping");
        let mut code = ExitCode::SUCCESS;
        if let Some(c) = companion {
            match tokio::task::spawn_blocking(move || c.stop()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    eprintln!("error: {e}");
                    code = ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("error: while stopping: {e}");
                    code = ExitCode::from(1);
                }
            }
        }
        match running.shutdown().await {
            Ok(()) => code,
            Err(e) => {
                eprintln!("error: while stopping: {e}");
                ExitCode::from(1)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::loopback_only;

    #[test]
    fn only_loopback_addresses_are_served() {
        for ok in ["127.0.0.1:4566", "127.0.0.2:0", "[::1]:4566"] {
            assert!(loopback_only(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for refused in ["0.0.0.0:4566", "[::]:4566", "192.0.2.7:80", "10.0.0.1:4566"] {
            let e = loopback_only(refused.parse().unwrap()).unwrap_err();
            assert!(
                e.contains("refusing to listen on") && e.contains("not authenticated"),
                "{e}"
            );
        }
    }
}
