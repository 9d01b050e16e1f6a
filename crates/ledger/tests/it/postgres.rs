//! What only the PostgreSQL backend has, run against a real local server whatever
//! `VERITRAIL_TEST_STORAGE` says: one writer per ledger (the lease), readers that follow the
//! writer, a takeover from the durable tip when the writer's session dies, a session killed in
//! the middle of commits, and bad URLs or servers that cannot be reached.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use veritrail_core::id::SeededIds;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::storage::AnyStorage;
use veritrail_ledger::verification::verify_journal;
use veritrail_ledger::{
    Ledger, LedgerError, LedgerOptions, Storage as _, StorageChoice, StorageError,
};
use veritrail_verify::{parse_block, parse_digest, parse_revision, verify_block, verify_revision};

use crate::backend;

fn options(storage: &StorageChoice, seed: u64) -> LedgerOptions {
    LedgerOptions {
        storage: storage.clone(),
        ..crate::deterministic(seed)
    }
}

/// The ledger path that names ledger `audit` in a database (only its file name counts).
fn audit() -> &'static Path {
    Path::new("audit.ledger")
}

fn pg(ledger: &Ledger) -> &veritrail_ledger::PostgresStorage {
    match ledger.storage() {
        AnyStorage::Postgres(s) => s,
        other => panic!("not on PostgreSQL: {other:?}"),
    }
}

#[test]
fn one_writer_at_a_time_and_readers_follow_it() {
    let db = backend::database("lease");
    let ids = SeededIds::new(7);
    let mut writer = Ledger::create(audit(), "audit", options(&db, 1)).unwrap();
    assert!(pg(&writer).holds_lease());
    let mut second = Ledger::open(audit(), options(&db, 2)).unwrap();
    let reader = Database::new(
        Ledger::open_read_only(audit(), options(&db, 3)).unwrap(),
        DatabaseOptions::default(),
    );
    for b in 0..3 {
        writer.commit(crate::insert(&ids, 2, b)).unwrap();
    }
    // The other handle cannot write while the writer's session lives...
    let e = second.commit(crate::insert(&ids, 1, 9)).unwrap_err();
    assert!(
        matches!(e, LedgerError::Storage(StorageError::LeaseHeld(_))),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("another process is writing ledger audit"),
        "{e}"
    );
    // ...nor can a read-only one, and neither wrote anything.
    let e = reader
        .ledger()
        .commit(crate::insert(&ids, 1, 9))
        .unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    assert_eq!(writer.storage().block_count().unwrap(), 4);
    // The reader sees every block the writer committed, with proofs that verify.
    let digest = writer.digest().unwrap();
    let view = reader.ledger();
    assert_eq!(view.digest().unwrap(), digest);
    let d = parse_digest(&digest.to_get_digest_json()).unwrap();
    for seq in 0..4 {
        let block = parse_block(&view.block(seq, None).unwrap().to_json("Block")).unwrap();
        verify_block(&block.value, block.proof.as_deref(), &d).unwrap();
    }
    let id = view.storage().revisions(3).unwrap()[0].document_id.clone();
    let rev = parse_revision(&view.revision(3, &id, None).unwrap().to_json("Revision")).unwrap();
    verify_revision(&rev.value, rev.proof.as_deref(), &d).unwrap();
    drop(view);
    // Ledgers in one database are apart: another ledger has its own lease and journal.
    let mut other = Ledger::create(Path::new("other.ledger"), "other", options(&db, 4)).unwrap();
    other.commit(crate::insert(&ids, 1, 5)).unwrap();
    assert_eq!(other.block_count(), 2);
    assert_eq!(writer.block_count(), 4);
}

/// Commits once the lease is free: the server notices a dead session a moment after it died.
fn commit_when_free(
    ledger: &mut Ledger,
    tx: veritrail_ledger::NewTransaction,
) -> veritrail_ledger::Committed {
    for _ in 0..200 {
        match ledger.commit(tx.clone()) {
            Err(LedgerError::Storage(StorageError::LeaseHeld(_))) => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other.unwrap(),
        }
    }
    panic!("the lease was not released within 5 s");
}

#[test]
fn when_the_writer_dies_another_takes_over_from_the_durable_tip() {
    let db = backend::database("takeover");
    let ids = SeededIds::new(8);
    let mut first = Ledger::create(audit(), "audit", options(&db, 1)).unwrap();
    let mut acked = Vec::new();
    for b in 0..5 {
        acked.push(first.commit(crate::insert(&ids, 3, b)).unwrap());
    }
    let mut second = Ledger::open(audit(), options(&db, 2)).unwrap();
    assert!(second.commit(crate::insert(&ids, 1, 50)).is_err());
    // The writer's session ends without a goodbye: the server releases its lease.
    pg(&first).danger_drop_session();
    let c = commit_when_free(&mut second, crate::insert(&ids, 2, 51));
    assert_eq!(c.sequence_no, 6);
    // The old writer comes back on a new session without the lease and cannot write.
    let e = first.commit(crate::insert(&ids, 1, 52)).unwrap_err();
    assert!(
        matches!(e, LedgerError::Storage(StorageError::LeaseHeld(_))),
        "{e:?}"
    );
    // Every acknowledged block is there, and the whole journal verifies.
    let check = Ledger::open_read_only(audit(), options(&db, 3)).unwrap();
    for a in &acked {
        assert_eq!(
            check.stored_block_hash(a.sequence_no).unwrap(),
            a.block_hash
        );
    }
    let report = verify_journal(&check, None, |_, _| {}).unwrap();
    assert_eq!(report.blocks, 7);
    assert_eq!(report.digest, second.digest().unwrap().digest);
    // When the second writer goes too, the first takes the lease back and catches up.
    drop(second);
    let c = commit_when_free(&mut first, crate::insert(&ids, 1, 53));
    assert_eq!(c.sequence_no, 7);
    assert_eq!(verify_journal(&first, None, |_, _| {}).unwrap().blocks, 8);
}

#[test]
fn a_session_killed_mid_commit_is_a_clear_error_and_loses_nothing_acknowledged() {
    let db = backend::database("killed");
    let StorageChoice::Postgres(target) = &db else {
        unreachable!()
    };
    let mut ledger = Ledger::create(audit(), "audit", options(&db, 1)).unwrap();
    let ids = SeededIds::new(9);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let killing = Arc::new(AtomicBool::new(false));
    let url = target.to_string();
    let killer = {
        let killing = Arc::clone(&killing);
        std::thread::spawn(move || {
            while !killing.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            // What a server restart does to the writer's session, from the server's side.
            let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap();
        })
    };
    let txs = (0..400).map(|b| crate::insert(&ids, 5, b));
    let seen = Arc::clone(&acked);
    let flag = Arc::clone(&killing);
    let result = ledger.commit_stream(txs, |c| {
        seen.lock().unwrap().push((c.sequence_no, c.block_hash));
        if c.sequence_no == 20 {
            flag.store(true, Ordering::SeqCst);
        }
    });
    killer.join().unwrap();
    let e = result.unwrap_err();
    assert!(
        matches!(e, LedgerError::Storage(StorageError::Unreachable(_))),
        "{e:?}"
    );
    assert!(e.to_string().contains("cannot be reached"), "{e}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20 && acked.len() < 400,
        "{} acknowledged",
        acked.len()
    );
    // Everything acknowledged is durable, and the journal verifies.
    let check = Ledger::open_read_only(audit(), options(&db, 2)).unwrap();
    for (seq, hash) in &acked {
        assert_eq!(check.stored_block_hash(*seq).unwrap(), *hash);
    }
    verify_journal(&check, None, |_, _| {}).unwrap();
    // The writer reconnects, takes its lease again and goes on from the durable tip (which
    // may hold a block whose commit was cut off before it was acknowledged).
    let c = ledger.commit(crate::insert(&ids, 1, 999)).unwrap();
    assert_eq!(c.sequence_no + 1, check.storage().block_count().unwrap());
    verify_journal(&ledger, None, |_, _| {}).unwrap();
}

#[test]
fn bad_urls_and_unreachable_servers_are_clear_errors() {
    for (url, says) in [
        (
            "mysql://root@localhost/db",
            "neither `sqlite` nor a postgres:// URL",
        ),
        (
            "postgres://u@host:notaport/db",
            "cannot read the PostgreSQL URL",
        ),
        (
            "postgres://u@host/db?sslmode=bogus",
            "cannot read the PostgreSQL URL",
        ),
    ] {
        let e = StorageChoice::parse(url).unwrap_err();
        assert!(matches!(e, StorageError::BadUrl(_)), "{url}: {e:?}");
        assert!(e.to_string().contains(says), "{url}: {e}");
    }
    assert_eq!(
        StorageChoice::parse("sqlite").unwrap(),
        StorageChoice::Sqlite
    );
    // A password never shows in messages.
    let c = StorageChoice::parse("postgres://u:secret@127.0.0.1:1/db").unwrap();
    assert_eq!(c.describe(), "postgres://u@127.0.0.1:1/db");
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = StorageChoice::parse(&format!("postgres://u:secret@127.0.0.1:{port}/db")).unwrap();
    let e = Ledger::open(audit(), options(&c, 1)).unwrap_err();
    assert!(
        matches!(e, LedgerError::Storage(StorageError::Unreachable(_))),
        "{e:?}"
    );
    assert!(!e.to_string().contains("secret"), "{e}");
    // A ledger that is not there, and one created twice.
    let db = backend::database("missing");
    let e = Ledger::open(audit(), options(&db, 1)).unwrap_err();
    assert!(e.to_string().contains("no ledger audit in"), "{e}");
    Ledger::create(audit(), "audit", options(&db, 1)).unwrap();
    let e = Ledger::create(audit(), "audit", options(&db, 1)).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
}
