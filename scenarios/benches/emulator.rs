//! `cargo xtask bench emulator`: QLDB session round trips through the real AWS SDK for Rust
//! against an emulator on loopback, with 1 and 8 concurrent sessions, as JSON lines:
//! one-statement insert transactions and indexed-lookup transactions (3 SendCommand round
//! trips each: StartTransaction, ExecuteStatement, CommitTransaction). The baseline, measured
//! in the same run, is the same transactions run in-process on a `Database`, so the ratio is
//! the cost of the wire protocol.
//!
//! Options: `--seconds S` per measurement (default 3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use veritrail_core::time::Stopwatch;

use veritrail_core::ion_rs::Element;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::{Ledger, LedgerOptions};
use veritrail_scenarios::{Session, qldb_client, session_client, spawn};

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
    done.load(Ordering::Relaxed) as f64 / seconds as f64
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
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

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

    runtime.block_on(async {
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

        for (lookup, name) in [(false, "insert"), (true, "lookup")] {
            for sessions in [1u64, 8] {
                let extra = format!(",\"sessions\":{sessions}");
                let wire = over_the_wire(&emulator.url, sessions, lookup, seconds).await;
                let local = in_process(&db, sessions, lookup, seconds);
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
    });
    let _ = std::fs::remove_dir_all(&dir);
}
