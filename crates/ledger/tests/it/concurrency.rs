//! Serializability under contention: 16 clients run transactions through each read path at
//! once (full scan, indexed lookup, document by id, the committed view, `history()`, joins,
//! COUNT, UPDATE/DELETE with WHERE, `FROM … INSERT INTO`), retrying on OCC conflicts. Each
//! test replays the committed transactions serially in commit order and checks that every
//! transaction read exactly what the replay had at its turn, that the final state equals the
//! replay's, and that the journal verifies with the independent verifier.
//!
//! A lost update or a phantom shows as a transaction whose reads disagree with the replay.

use std::collections::{BTreeMap, HashMap};

use veritrail_core::ion_rs::Element;
use veritrail_ledger::db::{Database, DatabaseOptions, DbError, Transaction};
use veritrail_ledger::verification::verify_journal;
use veritrail_ledger::{Durability, LedgerOptions};

const CLIENTS: usize = 16;

fn ion(text: &str) -> Element {
    Element::read_one(text).unwrap()
}

/// A fresh database; commits are not fsynced (`Durability::Normal`) so contention, not the
/// disk, is what the tests exercise.
fn database(name: &str, setup: &[&str]) -> Database {
    database_with(name, setup, Durability::Normal)
}

fn database_with(name: &str, setup: &[&str], durability: Durability) -> Database {
    let dir = crate::temp_dir(name);
    let options = LedgerOptions {
        durability,
        ..LedgerOptions::default()
    };
    let ledger = crate::backend::create(&dir.join("c.ledger"), "c", options).unwrap();
    let db = Database::new(ledger, DatabaseOptions::default());
    db.run(0, |tx| {
        for s in setup {
            tx.execute(s, &[])?;
        }
        Ok(())
    })
    .unwrap();
    db
}

/// Runs `op` `per_client` times on each of 16 threads, each in its own transaction retried
/// until it commits. Returns (block, what the transaction read) of every committed one, in
/// commit order.
fn contend<R: Send>(
    db: &Database,
    per_client: usize,
    op: impl Fn(&mut Transaction, usize, usize) -> Result<R, DbError> + Sync,
) -> Vec<(u64, R)> {
    let op = &op;
    let mut committed: Vec<(u64, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                s.spawn(move || {
                    let mut done = Vec::with_capacity(per_client);
                    for i in 0..per_client {
                        let mut conflicts = 0u32;
                        loop {
                            let mut tx = db.begin();
                            let outcome = op(&mut tx, client, i)
                                .and_then(|read| tx.commit(None).map(|info| (info, read)));
                            match outcome {
                                Ok((info, read)) => {
                                    let seq = info.sequence_no.expect("every operation writes");
                                    done.push((seq, read));
                                    break;
                                }
                                Err(DbError::OccConflict(_)) => {
                                    conflicts += 1;
                                    assert!(conflicts < 100_000, "client {client} starved");
                                    std::thread::yield_now();
                                }
                                Err(e) => panic!("client {client}, operation {i}: {e}"),
                            }
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    committed.sort_by_key(|(seq, _)| *seq);
    for pair in committed.windows(2) {
        assert!(pair[0].0 < pair[1].0, "two transactions share a block");
    }
    committed
}

/// The journal verifies as `ledger verify` checks it, and its digest is the verifier's.
fn journal_verifies(db: &Database) {
    let ledger = db.ledger();
    let report = verify_journal(&ledger, None, |_, _| {}).unwrap();
    assert_eq!(report.digest, ledger.digest().unwrap().digest);
}

fn int(e: &Element) -> i64 {
    e.as_i64().unwrap_or_else(|| panic!("not an int: {e}"))
}

fn one_int(rows: &[Element]) -> i64 {
    assert_eq!(rows.len(), 1, "{rows:?}");
    int(&rows[0])
}

fn count(tx: &mut Transaction, statement: &str) -> Result<i64, DbError> {
    let rows = tx.execute(statement, &[])?;
    Ok(rows
        .first()
        .and_then(|r| r.as_struct())
        .and_then(|s| s.get("_1"))
        .map_or(-1, int))
}

/// A counter incremented read-modify-write: each committed increment must have read the value
/// the serial replay had at its turn.
fn counter_increments(
    name: &str,
    setup: &[&str],
    read: &str,
    write: &str,
    write_params: fn(Element, Element) -> Vec<Element>,
) {
    let mut statements = vec!["CREATE TABLE Counter"];
    statements.extend_from_slice(setup);
    let db = database(name, &statements);
    db.execute("INSERT INTO Counter ?", &[ion("{name:\"c\",n:0}")])
        .unwrap();
    let id = db
        .execute("SELECT cid FROM Counter AS c BY cid", &[])
        .unwrap()[0]
        .as_struct()
        .unwrap()
        .get("cid")
        .unwrap()
        .clone();
    let per_client = 25;
    let committed = contend(&db, per_client, |tx, _, _| {
        let n = one_int(&tx.execute(read, std::slice::from_ref(&id))?);
        tx.execute(write, &write_params(Element::from(n + 1), id.clone()))?;
        Ok(n)
    });
    assert_eq!(committed.len(), CLIENTS * per_client);
    for (turn, (seq, seen)) in committed.iter().enumerate() {
        assert_eq!(
            *seen, turn as i64,
            "the increment committed in block {seq} read {seen}, but the serial replay had {turn}: a lost update"
        );
    }
    let end = one_int(
        &db.execute("SELECT VALUE c.n FROM Counter AS c", &[])
            .unwrap(),
    );
    assert_eq!(end, (CLIENTS * per_client) as i64);
    journal_verifies(&db);
}

#[test]
fn counter_by_full_scan() {
    counter_increments(
        "counter-scan",
        &[],
        "SELECT VALUE c.n FROM Counter AS c WHERE c.name = 'c' AND ? IS NOT NULL",
        "UPDATE Counter AS c SET c.n = ? WHERE c.name = 'c' AND ? IS NOT NULL",
        |n, id| vec![n, id],
    );
}

#[test]
fn counter_by_index() {
    counter_increments(
        "counter-index",
        &["CREATE INDEX ON Counter (name)"],
        "SELECT VALUE c.n FROM Counter AS c WHERE c.name = 'c' AND ? IS NOT NULL",
        "UPDATE Counter AS c SET c.n = ? WHERE c.name = 'c' AND ? IS NOT NULL",
        |n, id| vec![n, id],
    );
}

#[test]
fn counter_by_document_id() {
    counter_increments(
        "counter-id",
        &[],
        "SELECT VALUE c.n FROM Counter AS c BY cid WHERE cid = ?",
        "UPDATE Counter AS c BY cid SET c.n = ? WHERE cid = ?",
        |n, id| vec![n, id],
    );
}

#[test]
fn counter_through_the_committed_view_and_from_set() {
    counter_increments(
        "counter-committed",
        &[],
        "SELECT VALUE c.data.n FROM _ql_committed_Counter AS c WHERE c.metadata.id = ?",
        "FROM Counter AS c BY cid WHERE cid = ? SET c.n = ?",
        |n, id| vec![id, n],
    );
}

/// Tickets numbered from a read of everything issued so far, then inserted as new documents:
/// inserts never conflict with each other, so only the validation of the read keeps two
/// clients from issuing the same number. Serially, the tickets are exactly 1..=N.
fn tickets(name: &str, setup: &[&str], read: &str) {
    let mut statements = vec!["CREATE TABLE Tickets", "CREATE TABLE Config"];
    statements.extend_from_slice(setup);
    let db = database(name, &statements);
    db.execute("INSERT INTO Config ?", &[ion("{kind:\"ticket\"}")])
        .unwrap();
    let per_client = 8;
    let committed = contend(&db, per_client, |tx, client, _| {
        let seen = count(tx, read)?;
        tx.execute(
            "INSERT INTO Tickets ?",
            &[ion(&format!(
                "{{kind:\"ticket\",n:{},client:{client}}}",
                seen + 1
            ))],
        )?;
        Ok(seen)
    });
    for (turn, (seq, seen)) in committed.iter().enumerate() {
        assert_eq!(
            *seen, turn as i64,
            "the transaction committed in block {seq} counted {seen} tickets, but the serial replay had {turn}"
        );
    }
    let mut numbers: Vec<i64> = db
        .execute("SELECT VALUE t.n FROM Tickets AS t", &[])
        .unwrap()
        .iter()
        .map(int)
        .collect();
    numbers.sort();
    let expected: Vec<i64> = (1..=(CLIENTS * per_client) as i64).collect();
    assert_eq!(numbers, expected);
    journal_verifies(&db);
}

#[test]
fn tickets_counted_by_full_scan() {
    tickets("tickets-scan", &[], "SELECT COUNT(*) FROM Tickets");
}

#[test]
fn tickets_counted_through_the_index() {
    tickets(
        "tickets-index",
        &["CREATE INDEX ON Tickets (kind)"],
        "SELECT COUNT(*) FROM Tickets AS t WHERE t.kind = 'ticket'",
    );
}

#[test]
fn tickets_counted_through_history() {
    tickets(
        "tickets-history",
        &[],
        "SELECT COUNT(*) FROM history(Tickets) AS h",
    );
}

#[test]
fn tickets_counted_through_the_committed_view() {
    tickets(
        "tickets-committed",
        &[],
        "SELECT COUNT(*) FROM _ql_committed_Tickets",
    );
}

#[test]
fn tickets_counted_through_a_join() {
    tickets(
        "tickets-join",
        &["CREATE INDEX ON Config (kind)"],
        "SELECT COUNT(*) FROM Config AS c INNER JOIN Tickets AS t ON t.kind = c.kind WHERE c.kind = 'ticket'",
    );
}

/// A unique key kept by the application: insert a reservation for a seat only if an indexed
/// lookup finds none. A lookup that found nothing must conflict when a matching document is
/// inserted meanwhile (a phantom), so each seat is reserved exactly once.
#[test]
fn reservations_through_the_index_never_double_book() {
    let db = database(
        "reservations",
        &["CREATE TABLE Seats", "CREATE INDEX ON Seats (seat)"],
    );
    let seats = 12;
    let committed = contend(&db, 4, |tx, client, i| {
        let seat = (client * 7 + i * 5) % seats;
        let taken = tx
            .execute(
                "SELECT * FROM Seats AS s WHERE s.seat = ?",
                &[Element::from(seat as i64)],
            )?
            .len();
        if taken == 0 {
            tx.execute(
                "INSERT INTO Seats ?",
                &[ion(&format!("{{seat:{seat},client:{client}}}"))],
            )?;
        } else {
            // A read-only transaction writes no block; record the refusal instead.
            tx.execute(
                "INSERT INTO Seats ?",
                &[ion(&format!("{{refused:{seat},client:{client}}}"))],
            )?;
        }
        Ok((seat, taken))
    });
    let mut booked: HashMap<usize, u64> = HashMap::new();
    for (seq, (seat, taken)) in &committed {
        match booked.get(seat) {
            None => assert_eq!(*taken, 0, "block {seq} saw seat {seat} taken before anyone"),
            Some(first) => assert_eq!(
                *taken, 1,
                "block {seq} booked seat {seat} again after block {first}: a phantom"
            ),
        }
        booked.entry(*seat).or_insert(*seq);
    }
    let mut per_seat: BTreeMap<i64, usize> = BTreeMap::new();
    for s in db
        .execute(
            "SELECT VALUE s.seat FROM Seats AS s WHERE s.seat IS NOT MISSING",
            &[],
        )
        .unwrap()
    {
        *per_seat.entry(int(&s)).or_default() += 1;
    }
    assert!(per_seat.values().all(|n| *n == 1), "{per_seat:?}");
    assert_eq!(per_seat.len(), booked.len());
    journal_verifies(&db);
}

/// Bank transfers between five accounts: read both balances, refuse an overdraft, write both
/// and log the transfer. Every committed transfer must have read the balances the serial
/// replay had at its turn, and the total is preserved.
fn transfers(name: &str, setup: &[&str], durability: Durability) {
    let mut statements = vec!["CREATE TABLE Accounts", "CREATE TABLE Transfers"];
    statements.extend_from_slice(setup);
    let db = database_with(name, &statements, durability);
    let accounts = ["A1", "A2", "A3", "A4", "A5"];
    for a in accounts {
        db.execute(
            "INSERT INTO Accounts ?",
            &[ion(&format!("{{accountId:\"{a}\",balance:100}}"))],
        )
        .unwrap();
    }
    let per_client = 8;
    let committed = contend(&db, per_client, |tx, client, i| {
        let mut state = (client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64 + 1);
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let from = accounts[(state % 5) as usize];
        let to = accounts[((state >> 8) % 4 + 1 + state % 5) as usize % 5];
        let amount = (state >> 16) as i64 % 70 + 1;
        let (a, b, moved) = crate::bank::move_money(tx, from, to, amount, "Transfers", "")?;
        if !moved {
            // Refused for want of money: recorded too, so that every transfer has its block.
            tx.execute(
                "INSERT INTO Transfers ?",
                &[ion(&format!("{{refused:{amount}}}"))],
            )?;
        }
        Ok((from, to, amount, a, b))
    });
    let mut serial: HashMap<&str, i64> = accounts.iter().map(|a| (*a, 100)).collect();
    for (seq, (from, to, amount, a, b)) in &committed {
        assert_eq!(
            (*a, *b),
            (serial[from], serial[to]),
            "the transfer in block {seq} read balances the serial replay did not have"
        );
        let moved = if *a >= *amount { *amount } else { 0 };
        *serial.get_mut(from).unwrap() -= moved;
        *serial.get_mut(to).unwrap() += moved;
    }
    let mut total = 0;
    for a in accounts {
        let balance = one_int(
            &db.execute(
                "SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?",
                &[Element::string(a)],
            )
            .unwrap(),
        );
        assert_eq!(balance, serial[a], "{a}");
        total += balance;
    }
    assert_eq!(total, 500, "money was created or lost");
    let logged = db.execute("SELECT COUNT(*) FROM Transfers", &[]).unwrap();
    assert_eq!(logged, [ion(&format!("{{_1:{}}}", committed.len()))]);
    journal_verifies(&db);
    let ledger = db.ledger();
    assert_eq!(
        ledger.durable_size(),
        ledger.block_count(),
        "a commit was acknowledged before its block was durable"
    );
}

#[test]
fn transfers_without_indexes() {
    transfers("transfers-scan", &[], Durability::Normal);
}

#[test]
fn transfers_with_an_index() {
    transfers(
        "transfers-index",
        &["CREATE INDEX ON Accounts (accountId)"],
        Durability::Normal,
    );
}

/// The same with durable commits: each commit is written under the ledger's lock and synced
/// outside it, concurrent commits sharing a sync (group commit), without giving up
/// serializability.
#[test]
fn transfers_with_group_commit() {
    transfers(
        "transfers-durable",
        &["CREATE INDEX ON Accounts (accountId)"],
        Durability::Full,
    );
}

/// Deletes with a WHERE and `FROM … INSERT INTO` race with inserts: a queue whose consumer
/// deletes the oldest job it read and records it; no job is consumed twice.
#[test]
fn a_queue_consumed_with_delete_where_hands_out_each_job_once() {
    let db = database("queue", &["CREATE TABLE Jobs", "CREATE TABLE Done"]);
    let jobs = 48;
    // Two transactions: QLDB allows 40 documents per transaction.
    for half in [0..24, 24..48] {
        db.run(0, |tx| {
            for j in half.clone() {
                tx.execute(
                    "INSERT INTO Jobs ?",
                    &[ion(&format!("{{job:{j},notes:[]}}"))],
                )?;
            }
            Ok(())
        })
        .unwrap();
    }
    let committed = contend(&db, jobs / CLIENTS, |tx, client, _| {
        let mut open: Vec<i64> = tx
            .execute("SELECT VALUE j.job FROM Jobs AS j", &[])?
            .iter()
            .map(int)
            .collect();
        open.sort();
        let job = open[0];
        tx.execute(
            "FROM Jobs AS j WHERE j.job = ? INSERT INTO j.notes VALUE ?",
            &[Element::from(job), Element::from(client as i64)],
        )?;
        tx.execute(
            "DELETE FROM Jobs AS j WHERE j.job = ?",
            &[Element::from(job)],
        )?;
        tx.execute("INSERT INTO Done ?", &[ion(&format!("{{job:{job}}}"))])?;
        Ok(job)
    });
    let order: Vec<i64> = committed.iter().map(|(_, job)| *job).collect();
    let expected: Vec<i64> = (0..jobs as i64).collect();
    assert_eq!(
        order, expected,
        "jobs were handed out out of order or twice"
    );
    assert_eq!(
        db.execute("SELECT COUNT(*) FROM Jobs", &[]).unwrap(),
        [ion("{_1:0}")]
    );
    journal_verifies(&db);
}

// ---- two transactions interleaved by hand: each read path conflicts exactly when it should.

/// Runs `read` in a transaction that also writes an unrelated document, lets `meanwhile`
/// commit in between, and says whether the first transaction then committed.
fn commits_after(db: &Database, read: &str, meanwhile: &str, params: &[Element]) -> bool {
    let mut tx = db.begin();
    tx.execute(read, params)
        .unwrap_or_else(|e| panic!("{read}: {e}"));
    tx.execute("INSERT INTO Log ?", &[ion("{seen:1}")]).unwrap();
    db.execute(meanwhile, &[])
        .unwrap_or_else(|e| panic!("{meanwhile}: {e}"));
    match tx.commit(None) {
        Ok(_) => true,
        Err(DbError::OccConflict(_)) => false,
        Err(e) => panic!("{read}: {e}"),
    }
}

fn interleaving_db(name: &str) -> (Database, Element) {
    let db = database(
        name,
        &[
            "CREATE TABLE Log",
            "CREATE TABLE People",
            "CREATE INDEX ON People (govId)",
            "CREATE TABLE Other",
        ],
    );
    db.execute(
        "INSERT INTO People << ?, ? >>",
        &[
            ion("{govId:\"A\",name:\"Ann\"}"),
            ion("{govId:\"B\",name:\"Bo\"}"),
        ],
    )
    .unwrap();
    let ann = db
        .execute(
            "SELECT pid FROM People AS p BY pid WHERE p.govId = 'A'",
            &[],
        )
        .unwrap()[0]
        .as_struct()
        .unwrap()
        .get("pid")
        .unwrap()
        .clone();
    (db, ann)
}

#[test]
fn an_index_lookup_conflicts_only_with_changes_to_what_it_matched() {
    let (db, _) = interleaving_db("lookup-interleaved");
    let by_a = "SELECT * FROM People AS p WHERE p.govId = 'A'";
    assert!(commits_after(
        &db,
        by_a,
        "UPDATE People AS p SET p.name = 'Bob' WHERE p.govId = 'B'",
        &[]
    ));
    assert!(commits_after(
        &db,
        by_a,
        "INSERT INTO People {'govId':'C'}",
        &[]
    ));
    assert!(!commits_after(
        &db,
        by_a,
        "UPDATE People AS p SET p.name = 'Anna' WHERE p.govId = 'A'",
        &[]
    ));
    // A lookup that found nothing conflicts with the insert of a match: a phantom.
    let by_z = "SELECT * FROM People AS p WHERE p.govId = 'Z'";
    assert!(!commits_after(
        &db,
        by_z,
        "INSERT INTO People {'govId':'Z'}",
        &[]
    ));
    // ... and a changed field that makes a document match, or stop matching.
    assert!(!commits_after(
        &db,
        "SELECT * FROM People AS p WHERE p.govId = 'Y'",
        "UPDATE People AS p SET p.govId = 'Y' WHERE p.govId = 'C'",
        &[]
    ));
    assert!(!commits_after(
        &db,
        by_a,
        "DELETE FROM People AS p WHERE p.govId = 'A'",
        &[]
    ));
}

#[test]
fn a_document_read_by_id_conflicts_only_with_its_own_changes() {
    let (db, ann) = interleaving_db("by-id-interleaved");
    let by_id = "SELECT * FROM People AS p BY pid WHERE pid = ?";
    let params = std::slice::from_ref(&ann);
    assert!(commits_after(
        &db,
        by_id,
        "UPDATE People AS p SET p.name = 'Bob' WHERE p.govId = 'B'",
        params
    ));
    assert!(!commits_after(
        &db,
        by_id,
        "UPDATE People AS p SET p.name = 'Anna' WHERE p.govId = 'A'",
        params
    ));
    // An id that names no document stays absent unless it appears.
    assert!(commits_after(
        &db,
        by_id,
        "INSERT INTO People {'govId':'D'}",
        &[Element::string("AAAAAAAAAAAAAAAAAAAAAA")]
    ));
}

#[test]
fn full_reads_conflict_with_any_write_to_their_table() {
    for (i, read) in [
        "SELECT COUNT(*) FROM People",
        "SELECT * FROM _ql_committed_People",
        "SELECT * FROM history(People) AS h WHERE h.metadata.version > 5",
        "SELECT * FROM People AS p, Other AS o WHERE p.govId = o.govId",
        "SELECT * FROM People AS p WHERE p.name = 'nobody'",
    ]
    .into_iter()
    .enumerate()
    {
        let (db, _) = interleaving_db(&format!("full-interleaved-{i}"));
        // A write elsewhere conflicts only with a read of that table too.
        assert_eq!(
            commits_after(&db, read, "INSERT INTO Other {'x':1}", &[]),
            !read.contains("Other"),
            "{read}"
        );
        assert!(
            !commits_after(
                &db,
                read,
                "UPDATE People AS p SET p.name = 'x' WHERE p.govId = 'B'",
                &[]
            ),
            "{read}"
        );
        assert!(
            !commits_after(&db, read, "INSERT INTO People {'govId':'N'}", &[]),
            "{read}"
        );
    }
}

#[test]
fn catalog_reads_conflict_with_ddl() {
    let (db, _) = interleaving_db("catalog-interleaved");
    let schema = "SELECT VALUE t.name FROM information_schema.user_tables AS t";
    assert!(commits_after(&db, schema, "INSERT INTO Other {'x':1}", &[]));
    assert!(!commits_after(&db, schema, "CREATE TABLE Extra", &[]));
    assert!(!commits_after(
        &db,
        schema,
        "CREATE INDEX ON Other (x)",
        &[]
    ));
    // Writing into a table that is dropped meanwhile.
    assert!(!commits_after(
        &db,
        "INSERT INTO Extra {'y':1}",
        "DROP TABLE Extra",
        &[]
    ));
    // A table that did not exist when it was looked for, created meanwhile.
    let mut tx = db.begin();
    assert!(matches!(
        tx.execute("SELECT * FROM Later", &[]),
        Err(DbError::NoSuchTable { .. })
    ));
    tx.execute("INSERT INTO Log ?", &[ion("{seen:2}")]).unwrap();
    db.execute("CREATE TABLE Later", &[]).unwrap();
    assert!(matches!(tx.commit(None), Err(DbError::OccConflict(_))));
    // ... but creating it in the same transaction is no conflict.
    db.run(0, |tx| {
        assert!(tx.execute("SELECT * FROM Sooner", &[]).is_err());
        tx.execute("CREATE TABLE Sooner", &[])?;
        tx.execute("INSERT INTO Sooner {'z':1}", &[])
    })
    .unwrap();
    // Two transactions creating the same table, or indexing the same one: the second loses.
    for (one, other) in [
        ("CREATE TABLE Twice", "CREATE TABLE Twice"),
        ("CREATE INDEX ON Other (a)", "CREATE INDEX ON Other (b)"),
    ] {
        let mut first = db.begin();
        first.execute(one, &[]).unwrap();
        let mut second = db.begin();
        second.execute(other, &[]).unwrap();
        first.commit(None).unwrap();
        assert!(
            matches!(second.commit(None), Err(DbError::OccConflict(_))),
            "{other}"
        );
    }
    let indexes = db
        .execute("SELECT VALUE t.indexes FROM information_schema.user_tables AS t WHERE t.name = 'Other'", &[])
        .unwrap();
    assert_eq!(indexes[0].as_sequence().unwrap().len(), 2, "{indexes:?}");
}

#[test]
fn an_index_created_in_the_same_transaction_is_not_used_before_it_is_built() {
    let (db, _) = interleaving_db("fresh-index");
    db.run(0, |tx| {
        tx.execute("CREATE INDEX ON People (name)", &[])?;
        let rows = tx.execute("SELECT * FROM People AS p WHERE p.name = 'Bo'", &[])?;
        assert_eq!(rows.len(), 1);
        Ok(())
    })
    .unwrap();
    let rows = db
        .execute("SELECT * FROM People AS p WHERE p.name = 'Bo'", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
}
