//! `cargo xtask bench partiql`: PartiQL over the ledger, each figure beside a baseline from the
//! same run, as JSON lines.
//!
//! - indexed point lookups per second (`SELECT … WHERE accountId = ?`), against a plain SQLite
//!   table of the same documents looked up by the same key and decoded from Ion;
//! - full-scan rows per second (`SELECT COUNT(*) … WHERE balance >= 0`), against a plain
//!   SQLite scan that decodes and tests the same documents;
//! - OCC transfer transactions per second with 1, 4 and 16 concurrent clients (each transfer
//!   reads two accounts through the index, updates both and records the transfer; conflicts
//!   are retried), with the ratio to one client, and how many commits each sync of the
//!   journal made durable (group commit).
//!
//! Options: `--accounts N` (default 10,000), `--seconds S` per transfer run (default 3).

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_ledger::db::{Database, DatabaseOptions, DbError};
use veritrail_ledger::{Ledger, LedgerOptions};

/// The one clock read of this bench: it measures elapsed time.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> Instant {
    Instant::now()
}

fn emit(metric: &str, value: f64, unit: &str, extra: &str) {
    println!(
        "{{\"bench\":\"partiql\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\"{extra}}}"
    );
}

fn account(i: u64) -> Element {
    Element::read_one(format!(
        "{{accountId:\"ACC-{i:06}\",owner:\"Owner {i}\",branch:\"B{}\",balance:1000,currency:\"EUR\",opened:2020-01-01T}}",
        i % 50
    ))
    .expect("valid Ion")
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let accounts = arg("--accounts", 10_000);
    let seconds = arg("--seconds", 3);
    let dir = std::env::temp_dir().join(format!("veritrail-bench-partiql-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    let ledger =
        Ledger::create(&dir.join("bank.ledger"), "bank", LedgerOptions::default()).expect("create");
    let db = Database::new(
        ledger,
        DatabaseOptions {
            strict_limits: false,
            ..DatabaseOptions::default()
        },
    );
    db.execute("CREATE TABLE Accounts", &[]).expect("table");
    db.execute("CREATE INDEX ON Accounts (accountId)", &[])
        .expect("index");
    db.execute("CREATE TABLE Transfers", &[]).expect("table");
    let docs: Vec<Element> = (0..accounts).map(account).collect();
    for chunk in docs.chunks(1000) {
        db.run(0, |tx| {
            for d in chunk {
                tx.execute("INSERT INTO Accounts ?", std::slice::from_ref(d))?;
            }
            Ok(())
        })
        .expect("load");
    }

    // The floor: the same documents in a plain SQLite table keyed by accountId.
    let floor = Connection::open(dir.join("floor.db")).expect("floor");
    floor
        .execute_batch("CREATE TABLE accounts (account_id TEXT PRIMARY KEY, body BLOB NOT NULL)")
        .expect("schema");
    {
        let mut ins = floor
            .prepare("INSERT INTO accounts VALUES (?1, ?2)")
            .expect("prepare");
        for (i, d) in docs.iter().enumerate() {
            ins.execute(params![
                format!("ACC-{i:06}"),
                d.encode_as(v1_0::Binary).expect("encode")
            ])
            .expect("insert");
        }
    }

    let extra = format!(",\"accounts\":{accounts}");
    // Alternating rounds of the ledger and the floor, so that a burst of load on the machine
    // falls on both rather than on one of them.
    let (rounds, per_round) = (8u64, 2_500u64);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut floor_state = state;
    let mut stmt = floor
        .prepare("SELECT body FROM accounts WHERE account_id = ?1")
        .expect("prepare");
    let (mut ledger_time, mut floor_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = stopwatch();
        for _ in 0..per_round {
            let id = Element::string(format!("ACC-{:06}", xorshift(&mut state) % accounts));
            let rows = db
                .execute("SELECT * FROM Accounts WHERE accountId = ?", &[id])
                .expect("lookup");
            assert_eq!(rows.len(), 1);
        }
        ledger_time += start.elapsed();
        let start = stopwatch();
        for _ in 0..per_round {
            let id = format!("ACC-{:06}", xorshift(&mut floor_state) % accounts);
            let body: Vec<u8> = stmt.query_row(params![id], |r| r.get(0)).expect("row");
            std::hint::black_box(Element::read_one(&body).expect("decode"));
        }
        floor_time += start.elapsed();
    }
    let lookups = rounds * per_round;
    let ledger_lookups = lookups as f64 / ledger_time.as_secs_f64();
    let floor_lookups = lookups as f64 / floor_time.as_secs_f64();
    emit("indexed_lookups_per_s", ledger_lookups, "lookups/s", &extra);
    emit("sqlite_lookups_per_s", floor_lookups, "lookups/s", &extra);
    emit(
        "sqlite_over_indexed_lookups",
        floor_lookups / ledger_lookups,
        "x",
        &extra,
    );

    let scans = 5;
    let start = stopwatch();
    for _ in 0..scans {
        let rows = db
            .execute("SELECT COUNT(*) FROM Accounts WHERE balance >= 0", &[])
            .expect("scan");
        std::hint::black_box(rows);
    }
    let ledger_scan = (scans * accounts) as f64 / start.elapsed().as_secs_f64();
    let start = stopwatch();
    let mut scan = floor.prepare("SELECT body FROM accounts").expect("prepare");
    for _ in 0..scans {
        let mut n = 0u64;
        let mut rows = scan.query([]).expect("query");
        while let Some(r) = rows.next().expect("row") {
            let body: Vec<u8> = r.get(0).expect("body");
            let e = Element::read_one(&body).expect("decode");
            if e.as_struct()
                .and_then(|s| s.get("balance"))
                .and_then(Element::as_i64)
                .is_some_and(|b| b >= 0)
            {
                n += 1;
            }
        }
        assert_eq!(n, accounts);
    }
    let floor_scan = (scans * accounts) as f64 / start.elapsed().as_secs_f64();
    emit("full_scan_rows_per_s", ledger_scan, "rows/s", &extra);
    emit("sqlite_scan_rows_per_s", floor_scan, "rows/s", &extra);
    emit(
        "sqlite_over_full_scan",
        floor_scan / ledger_scan,
        "x",
        &extra,
    );

    let mut single = 0.0;
    for clients in [1u64, 4, 16] {
        let committed = Arc::new(AtomicU64::new(0));
        let conflicts = Arc::new(AtomicU64::new(0));
        let syncs_before = db.ledger().syncs();
        let deadline = stopwatch() + Duration::from_secs(seconds);
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (db, committed, conflicts) = (db.clone(), Arc::clone(&committed), Arc::clone(&conflicts));
                std::thread::spawn(move || {
                    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (c + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
                    while stopwatch() < deadline {
                        let from = format!("ACC-{:06}", xorshift(&mut state) % accounts);
                        let to = format!("ACC-{:06}", xorshift(&mut state) % accounts);
                        if from == to {
                            continue;
                        }
                        loop {
                            let result = db.run(0, |tx| {
                                let get = |tx: &mut veritrail_ledger::db::Transaction, id: &str| -> Result<i64, DbError> {
                                    let r = tx.execute("SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?", &[Element::string(id)])?;
                                    Ok(r.first().and_then(Element::as_i64).unwrap_or(0))
                                };
                                let (a, b) = (get(tx, &from)?, get(tx, &to)?);
                                tx.execute("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[Element::from(a - 1), Element::string(from.as_str())])?;
                                tx.execute("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[Element::from(b + 1), Element::string(to.as_str())])?;
                                tx.execute("INSERT INTO Transfers ?", &[Element::read_one(format!("{{from:\"{from}\",to:\"{to}\",amount:1}}")).expect("ion")])?;
                                Ok(())
                            });
                            match result {
                                Ok(()) => {
                                    committed.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                Err(DbError::OccConflict(_)) => {
                                    conflicts.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("transfer failed: {e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client");
        }
        let rate = committed.load(Ordering::Relaxed) as f64 / seconds as f64;
        if clients == 1 {
            single = rate;
        }
        // Group commit: how many commits each sync of the journal made durable.
        let syncs = db.ledger().syncs() - syncs_before;
        let extra = format!(
            ",\"clients\":{clients},\"occ_conflicts\":{},\"syncs\":{syncs},\"commits_per_sync\":{:.2}",
            conflicts.load(Ordering::Relaxed),
            committed.load(Ordering::Relaxed) as f64 / syncs.max(1) as f64
        );
        emit("occ_transfers_per_s", rate, "tx/s", &extra);
        emit(
            "occ_transfers_vs_one_client",
            rate / single.max(f64::MIN_POSITIVE),
            "x",
            &extra,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
