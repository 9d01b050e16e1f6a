//! `cargo xtask bench emulator`: the emulator's request path through the real AWS SDK for Rust
//! on loopback, each beside a baseline measured in the same run, as JSON lines.
//!
//! - `qldb`: one-statement insert transactions and indexed-lookup transactions (3 SendCommand
//!   round trips each: StartTransaction, ExecuteStatement, CommitTransaction) with 1 and 8
//!   sessions through the AWS SDK for Rust, and lookups through a plain HTTP/1.1 client sending
//!   the same JSON (the emulator's own cost, without the SDK's per-call work); the baseline is
//!   the same transactions run in-process on a `Database`, so the ratio is the cost of the wire
//!   protocol.
//! - `s3`: GetObject of a 1 KiB object by 8 concurrent clients, through the AWS SDK for Rust and
//!   through a plain HTTP/1.1 client (hyper, keep-alive: the server's own cost, without the
//!   SDK's per-request work on the same two cores); the baseline is the same request handled
//!   in-process (`Emulator::handle`, no HTTP) from 2 threads.
//! - `memory`: the process's resident memory before and after 100,000 requests (GetObject,
//!   HeadObject, ListObjectsV2 and PutObject of one key, all recorded by CloudTrail), beside their
//!   rate: served calls must not stay in memory.
//!
//! Options: `--seconds S` per measurement (default 3), `--only qldb|s3|memory`, `--requests N`
//! for `memory` (default 100,000).

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use veritrail_core::ion_rs::Element;
use veritrail_core::time::Stopwatch;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::{Ledger, LedgerOptions};
use veritrail_scenarios::{Session, qldb_client, s3_client, session_client, spawn};

const KEYS: u64 = 1000;

fn emit(metric: &str, value: f64, unit: &str, extra: &str) {
    println!(
        "{{\"bench\":\"emulator\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\"{extra}}}"
    );
}

fn item(k: u64) -> Element {
    Element::read_one(format!(
        "{{key:\"K{k:05}\",payload:\"{}\"}}",
        "x".repeat(200)
    ))
    .expect("valid Ion")
}

/// Resident memory of this process, in MiB (Linux `/proc/self/status`).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn over_the_wire(url: &str, sessions: u64, lookup: bool, seconds: u64) -> f64 {
    let client = session_client(url);
    let done = Arc::new(AtomicU64::new(0));
    let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let (client, done) = (client.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let session = Session::start(&client, "bench").await.expect("session");
            let mut n = s * 7919;
            while watch.elapsed() < limit {
                n += 1;
                let mut tx = session.begin().await.expect("begin");
                if lookup {
                    let key = Element::string(format!("K{:05}", n % KEYS));
                    let rows = tx
                        .exec("SELECT * FROM Items WHERE key = ?", &[key])
                        .await
                        .expect("lookup");
                    assert_eq!(rows.len(), 1);
                } else {
                    tx.exec("INSERT INTO Log ?", &[item(n)])
                        .await
                        .expect("insert");
                }
                tx.commit().await.expect("commit");
                done.fetch_add(1, Ordering::Relaxed);
            }
            session.end().await.expect("end");
        }));
    }
    for t in tasks {
        t.await.expect("session task");
    }
    done.load(Ordering::Relaxed) as f64 / watch.seconds()
}

fn in_process(db: &Database, threads: u64, lookup: bool, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (db, done) = (db.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut n = t * 7919;
                while watch.elapsed() < limit {
                    n += 1;
                    db.run(4, |tx| {
                        if lookup {
                            tx.execute(
                                "SELECT * FROM Items WHERE key = ?",
                                &[Element::string(format!("K{:05}", n % KEYS))],
                            )
                        } else {
                            tx.execute("INSERT INTO Log ?", &[item(n)])
                        }
                    })
                    .expect("transaction");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    done.load(Ordering::Relaxed) as f64 / watch.seconds()
}

type PlainClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<axum::body::Bytes>,
>;

/// One SendCommand through a plain HTTP client: the JSON answer.
async fn send_command(http: &PlainClient, url: &str, body: serde_json::Value) -> serde_json::Value {
    let request = axum::http::Request::post(url)
        .header("x-amz-target", "QLDBSession.SendCommand")
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIABENCH/20240101/us-east-1/qldb/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(http_body_util::Full::new(axum::body::Bytes::from(
            body.to_string(),
        )))
        .expect("request");
    let response = http.request(request).await.expect("send command");
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).expect("json")
}

/// Sequential round trips per second between the plain HTTP client and a server that answers
/// at once with nothing: the floor of one loopback HTTP exchange on this machine.
async fn http_floor(seconds: u64) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "" });
        let _ = axum::serve(listener, app).await;
    });
    let http: PlainClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
    let mut done = 0u64;
    while watch.elapsed() < limit {
        let request = axum::http::Request::post(url.as_str())
            .body(http_body_util::Full::new(axum::body::Bytes::from_static(
                b"{}",
            )))
            .expect("request");
        let response = http.request(request).await.expect("floor");
        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
        done += 1;
    }
    server.abort();
    done as f64 / watch.seconds()
}

/// Lookup transactions on one session through a plain HTTP client, as the drivers send them.
async fn plain_lookups(url: &str, seconds: u64) -> f64 {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let http: PlainClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let started = send_command(
        &http,
        url,
        serde_json::json!({"StartSession": {"LedgerName": "bench"}}),
    )
    .await;
    let token = started["StartSession"]["SessionToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
    let statement = "SELECT * FROM Items WHERE key = ?";
    let mut done = 0u64;
    while watch.elapsed() < limit {
        let tx = send_command(
            &http,
            url,
            serde_json::json!({"SessionToken": token, "StartTransaction": {}}),
        )
        .await;
        let id = tx["StartTransaction"]["TransactionId"]
            .as_str()
            .expect("transaction id")
            .to_owned();
        let key = Element::string(format!("K{:05}", done % KEYS));
        let binary = key
            .encode_as(veritrail_core::ion_rs::v1_0::Binary)
            .expect("ion");
        let rows = send_command(
            &http,
            url,
            serde_json::json!({"SessionToken": token, "ExecuteStatement": {
                "TransactionId": id, "Statement": statement,
                "Parameters": [{"IonBinary": b64.encode(&binary)}]}}),
        )
        .await;
        assert_eq!(
            rows["ExecuteStatement"]["FirstPage"]["Values"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let mut digest = veritrail_core::qldb::CommitDigest::new(&id);
        digest.add_statement(statement, &[key]);
        send_command(
            &http,
            url,
            serde_json::json!({"SessionToken": token, "CommitTransaction": {
                "TransactionId": id, "CommitDigest": b64.encode(digest.digest().as_bytes())}}),
        )
        .await;
        done += 1;
    }
    done as f64 / watch.seconds()
}

async fn qldb(seconds: u64) {
    // The baseline database, in-process.
    let dir = std::env::temp_dir().join(format!("veritrail-bench-emulator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = Database::new(
        Ledger::create(&dir.join("base.ledger"), "base", LedgerOptions::default()).expect("ledger"),
        DatabaseOptions::default(),
    );
    for s in [
        "CREATE TABLE Items",
        "CREATE INDEX ON Items (key)",
        "CREATE TABLE Log",
    ] {
        db.execute(s, &[]).expect("setup");
    }
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(40) {
        db.run(0, |tx| {
            for k in chunk {
                tx.execute("INSERT INTO Items ?", &[item(*k)])?;
            }
            Ok(())
        })
        .expect("load");
    }

    let emulator = spawn().await.expect("emulator");
    let qldb = qldb_client(&emulator.url);
    qldb.create_ledger()
        .name("bench")
        .permissions_mode(aws_sdk_qldb::types::PermissionsMode::Standard)
        .deletion_protection(false)
        .send()
        .await
        .expect("create ledger");
    let session = Session::start(&session_client(&emulator.url), "bench")
        .await
        .expect("session");
    for s in [
        "CREATE TABLE Items",
        "CREATE INDEX ON Items (key)",
        "CREATE TABLE Log",
    ] {
        let mut tx = session.begin().await.expect("begin");
        tx.exec(s, &[]).await.expect("setup");
        tx.commit().await.expect("commit");
    }
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(40) {
        let mut tx = session.begin().await.expect("begin");
        for k in chunk {
            tx.exec("INSERT INTO Items ?", &[item(*k)])
                .await
                .expect("load");
        }
        tx.commit().await.expect("commit");
    }
    session.end().await.expect("end");

    let floor = http_floor(seconds).await;
    emit(
        "http_floor_round_trips_per_s",
        floor,
        "round trips/s",
        ",\"client\":\"http\"",
    );
    let plain = plain_lookups(&emulator.url, seconds).await;
    let local = tokio::task::block_in_place(|| in_process(&db, 1, true, seconds));
    emit(
        "lookup_tx_per_s",
        plain,
        "tx/s",
        ",\"sessions\":1,\"client\":\"http\"",
    );
    emit(
        "in_process_over_wire_lookup",
        local / plain.max(f64::MIN_POSITIVE),
        "x",
        ",\"sessions\":1,\"client\":\"http\"",
    );
    // What the emulator adds to each round trip beyond the HTTP exchange itself.
    emit(
        "emulator_us_per_round_trip",
        (1e6 / (plain * 3.0) - 1e6 / floor).max(0.0),
        "us",
        ",\"sessions\":1,\"client\":\"http\"",
    );
    for (lookup, name) in [(false, "insert"), (true, "lookup")] {
        for sessions in [1u64, 8] {
            let extra = format!(",\"sessions\":{sessions}");
            let wire = over_the_wire(&emulator.url, sessions, lookup, seconds).await;
            let local = tokio::task::block_in_place(|| in_process(&db, sessions, lookup, seconds));
            let extra = format!("{extra},\"client\":\"aws-sdk\"");
            emit(&format!("{name}_tx_per_s"), wire, "tx/s", &extra);
            emit(
                &format!("{name}_round_trips_per_s"),
                wire * 3.0,
                "round trips/s",
                &extra,
            );
            emit(
                &format!("in_process_{name}_tx_per_s"),
                local,
                "tx/s",
                &extra,
            );
            emit(
                &format!("in_process_over_wire_{name}"),
                local / wire.max(f64::MIN_POSITIVE),
                "x",
                &extra,
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIABENCH/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// An emulator with bucket `bench` holding a 1 KiB object `k`.
async fn s3_fixture() -> (veritrail_emulator::Running, aws_sdk_s3::Client) {
    let emulator = spawn().await.expect("emulator");
    let client = s3_client(&emulator.url);
    client
        .create_bucket()
        .bucket("bench")
        .send()
        .await
        .expect("bucket");
    client
        .put_object()
        .bucket("bench")
        .key("k")
        .body(ByteStream::from(vec![b'x'; 1024]))
        .send()
        .await
        .expect("object");
    (emulator, client)
}

/// Runs `clients` tasks calling `one` until `seconds` pass; requests per second.
async fn concurrently<F, Fut>(clients: usize, seconds: u64, one: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (one, done) = (one.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                while watch.elapsed() < limit {
                    one().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    done.load(Ordering::Relaxed) as f64 / watch.seconds()
}

async fn s3(seconds: u64) {
    let (emulator, client) = s3_fixture().await;
    let clients = 8;
    let sdk = concurrently(clients, seconds, move || {
        let client = client.clone();
        async move {
            let got = client
                .get_object()
                .bucket("bench")
                .key("k")
                .send()
                .await
                .expect("get");
            let body = got.body.collect().await.expect("body").into_bytes();
            assert_eq!(body.len(), 1024);
        }
    })
    .await;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<axum::body::Bytes>>();
    let uri: axum::http::Uri = format!("{}/bench/k", emulator.url).parse().expect("uri");
    let plain = concurrently(clients, seconds, move || {
        let (http, uri) = (http.clone(), uri.clone());
        async move {
            let request = axum::http::Request::get(uri)
                .header("authorization", S3_AUTH)
                .body(http_body_util::Empty::new())
                .expect("request");
            let response = http.request(request).await.expect("get");
            assert_eq!(response.status(), 200);
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body")
                .to_bytes();
            assert_eq!(body.len(), 1024);
        }
    })
    .await;

    // The baseline: the same request handled in-process, from as many threads as cores.
    let emu = Arc::clone(&emulator.emulator);
    let local = tokio::task::block_in_place(|| {
        let done = Arc::new(AtomicU64::new(0));
        let (watch, limit) = (Stopwatch::start(), Duration::from_secs(seconds));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (emu, done) = (Arc::clone(&emu), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut headers = axum::http::HeaderMap::new();
                    headers.insert("authorization", S3_AUTH.parse().expect("header"));
                    while watch.elapsed() < limit {
                        let r = emu.handle(&axum::http::Method::GET, "/bench/k", &headers, b"");
                        assert_eq!(r.status(), 200);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        done.load(Ordering::Relaxed) as f64 / watch.seconds()
    });
    let extra = format!(",\"clients\":{clients},\"object_bytes\":1024");
    emit(
        "s3_get_per_s",
        plain,
        "requests/s",
        &format!("{extra},\"client\":\"http\""),
    );
    emit(
        "s3_get_sdk_per_s",
        sdk,
        "requests/s",
        &format!("{extra},\"client\":\"aws-sdk-s3\""),
    );
    emit(
        "in_process_s3_get_per_s",
        local,
        "requests/s",
        ",\"threads\":2",
    );
    emit(
        "in_process_over_wire_s3_get",
        local / plain.max(f64::MIN_POSITIVE),
        "x",
        &extra,
    );
}

async fn memory(requests: u64) {
    let (_emulator, client) = s3_fixture().await;
    let before = rss_mib();
    let done = Arc::new(AtomicU64::new(0));
    let watch = Stopwatch::start();
    let clients = 8;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, done) = (client.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = c;
                while done.fetch_add(1, Ordering::Relaxed) < requests {
                    i += clients;
                    match i % 4 {
                        0 => {
                            client
                                .get_object()
                                .bucket("bench")
                                .key("k")
                                .send()
                                .await
                                .expect("get")
                                .body
                                .collect()
                                .await
                                .expect("body");
                        }
                        1 => {
                            client
                                .head_object()
                                .bucket("bench")
                                .key("k")
                                .send()
                                .await
                                .expect("head");
                        }
                        2 => {
                            client
                                .list_objects_v2()
                                .bucket("bench")
                                .send()
                                .await
                                .expect("list");
                        }
                        _ => {
                            client
                                .put_object()
                                .bucket("bench")
                                .key("rewritten")
                                .body(ByteStream::from(vec![b'y'; 256]))
                                .send()
                                .await
                                .expect("put");
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    let rate = requests as f64 / watch.seconds();
    let after = rss_mib();
    let extra = format!(",\"requests\":{requests}");
    emit("rss_before_mib", before, "MiB", "");
    emit("rss_after_requests_mib", after, "MiB", &extra);
    emit("memory_run_requests_per_s", rate, "requests/s", &extra);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3u64);
    let requests = arg("--requests")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000u64);
    let only = arg("--only");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    runtime.block_on(async {
        if wanted("memory") {
            // First, while the process is fresh, so its growth is the emulator's.
            memory(requests).await;
        }
        if wanted("qldb") {
            qldb(seconds).await;
        }
        if wanted("s3") {
            s3(seconds).await;
        }
    });
}
