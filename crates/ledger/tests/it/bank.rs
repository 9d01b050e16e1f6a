//! The seed scenario: a bank ledger with Accounts, Transactions and AuditLog, its transfers and
//! its audit queries, run through PartiQL transactions (concurrent transfers are in
//! `concurrency.rs`).

use std::sync::Arc;
use std::time::Duration;

use veritrail_core::ion_rs::Element;
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_ledger::LedgerOptions;
use veritrail_ledger::db::{Database, DatabaseOptions, DbError, Transaction};
use veritrail_verify::{parse_digest, verify_revision};

fn ion(text: &str) -> Element {
    Element::read_one(text).unwrap()
}

fn bank(name: &str, options: DatabaseOptions) -> Database {
    let dir = crate::temp_dir(name);
    let ledger =
        crate::backend::create(&dir.join("bank.ledger"), "bank", LedgerOptions::default()).unwrap();
    let db = Database::new(ledger, options);
    db.run(0, |tx| {
        for t in ["Accounts", "Transactions", "AuditLog"] {
            tx.execute(&format!("CREATE TABLE {t}"), &[])?;
        }
        tx.execute("CREATE INDEX ON Accounts (accountId)", &[])?;
        tx.execute("CREATE INDEX ON Transactions (fromAccount)", &[])?;
        tx.execute("CREATE INDEX ON Transactions (toAccount)", &[])?;
        Ok(())
    })
    .unwrap();
    db
}

fn field<'a>(e: &'a Element, name: &str) -> &'a Element {
    e.as_struct()
        .unwrap()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {e}"))
}

fn balance(db: &Database, account: &str) -> i64 {
    let rows = db
        .execute(
            "SELECT VALUE balance FROM Accounts WHERE accountId = ?",
            &[Element::string(account)],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "{account}: {rows:?}");
    rows[0].as_i64().unwrap()
}

/// The statements of one transfer, as an application writes them: read both balances by
/// `accountId`, refuse an overdraft, update both, record the transfer in `log` (with `extra`
/// fields). Returns the balances read and whether the money moved.
pub fn move_money(
    tx: &mut Transaction,
    from: &str,
    to: &str,
    amount: i64,
    log: &str,
    extra: &str,
) -> Result<(i64, i64, bool), DbError> {
    let mut balance = |id: &str| -> Result<i64, DbError> {
        let rows = tx.execute(
            "SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?",
            &[Element::string(id)],
        )?;
        Ok(rows.first().and_then(Element::as_i64).unwrap_or(0))
    };
    let (a, b) = (balance(from)?, balance(to)?);
    if a < amount {
        return Ok((a, b, false));
    }
    for (account, new) in [(from, a - amount), (to, b + amount)] {
        tx.execute(
            "UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?",
            &[Element::from(new), Element::string(account)],
        )?;
    }
    tx.execute(
        &format!("INSERT INTO {log} ?"),
        &[ion(&format!(
            "{{fromAccount:\"{from}\",toAccount:\"{to}\",amount:{amount}{extra}}}"
        ))],
    )?;
    Ok((a, b, true))
}

/// One transfer in its own transaction, retried on OCC conflicts: its block, or `None` when
/// it was refused.
fn transfer(
    db: &Database,
    from: &str,
    to: &str,
    amount: i64,
    time: &str,
) -> Result<Option<u64>, DbError> {
    let mut attempts = 0;
    loop {
        let mut tx = db.begin();
        let outcome = move_money(
            &mut tx,
            from,
            to,
            amount,
            "Transactions",
            &format!(",time:{time}"),
        )
        .and_then(|(_, _, moved)| {
            let info = tx.commit(None)?;
            Ok(if moved { info.sequence_no } else { None })
        });
        match outcome {
            Err(DbError::OccConflict(_)) if attempts < 50 => attempts += 1,
            other => return other,
        }
    }
}

#[test]
fn the_seed_scenario_replays_and_answers_the_audit_queries() {
    let db = bank("seed", DatabaseOptions::default());
    for (id, owner, bal) in [
        ("ACC-001", "Alice", 1000),
        ("ACC-002", "Bob", 500),
        ("ACC-003", "Carol", 250),
    ] {
        db.execute(
            "INSERT INTO Accounts ?",
            &[ion(&format!(
                "{{accountId:\"{id}\",owner:\"{owner}\",balance:{bal}}}"
            ))],
        )
        .unwrap();
    }
    transfer(&db, "ACC-001", "ACC-002", 100, "2024-01-15T10:00:00Z").unwrap();
    transfer(&db, "ACC-002", "ACC-003", 50, "2024-02-01T09:30:00Z").unwrap();
    transfer(&db, "ACC-001", "ACC-003", 200, "2024-03-10T16:45:00Z").unwrap();
    db.execute(
        "INSERT INTO AuditLog ?",
        &[ion("{event:\"REVIEW\",by:\"auditor\",account:\"ACC-001\"}")],
    )
    .unwrap();
    assert_eq!(
        (
            balance(&db, "ACC-001"),
            balance(&db, "ACC-002"),
            balance(&db, "ACC-003")
        ),
        (700, 550, 500)
    );

    // Transactions of one account.
    let rows = db
        .execute(
            "SELECT * FROM Transactions AS t WHERE t.fromAccount = ? OR t.toAccount = ?",
            &[Element::string("ACC-002"), Element::string("ACC-002")],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    // A date range.
    let rows = db
        .execute("SELECT VALUE t.amount FROM Transactions AS t WHERE t.time BETWEEN `2024-01-31T` AND `2024-03-31T`", &[])
        .unwrap();
    let mut amounts: Vec<i64> = rows.iter().map(|r| r.as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, [50, 200]);

    // Balance history through history(Accounts): every revision, oldest first.
    let rows = db
        .execute(
            "SELECT a.data.balance, a.metadata.version, a.metadata.txTime FROM history(Accounts) AS a WHERE a.data.accountId = 'ACC-001'",
            &[],
        )
        .unwrap();
    let history: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                field(r, "balance").as_i64().unwrap(),
                field(r, "version").as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [(1000, 0), (900, 1), (700, 2)]);
    assert!(
        rows.iter()
            .all(|r| field(r, "txTime").as_timestamp().is_some())
    );

    // The seed's literal query. Decided, as QLDB's PartiQL does: unqualified names resolve
    // against the single FROM binding, the history row {blockAddress, hash, data, metadata};
    // it has no top-level accountId or balance, so those are MISSING and omitted, and each row
    // is {txTime}. Use a.data.accountId / a.data.balance (above) to get the values.
    let rows = db
        .execute("SELECT accountId, balance, metadata.txTime FROM history(Accounts) AS a WHERE a.data.accountId = 'ACC-001'", &[])
        .unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let st = r.as_struct().unwrap();
        assert_eq!(st.len(), 1, "{r}");
        assert!(st.get("txTime").is_some());
    }

    // Transaction history with metadata, from the committed view.
    let rows = db
        .execute(
            "SELECT * FROM _ql_committed_Transactions WHERE data.toAccount = 'ACC-003'",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        for f in ["blockAddress", "hash", "data", "metadata"] {
            field(r, f);
        }
    }

    // Every committed-view row is a verifiable revision: prove one against the digest.
    let ledger = db.ledger();
    let digest = parse_digest(&ledger.digest().unwrap().to_get_digest_json()).unwrap();
    let row = &rows[0];
    let seq = field(field(row, "blockAddress"), "sequenceNo")
        .as_i64()
        .unwrap() as u64;
    let id = field(field(row, "metadata"), "id")
        .as_text()
        .unwrap()
        .to_owned();
    let rev = ledger.revision(seq, &id, None).unwrap();
    assert_eq!(rev.value, *row);
    verify_revision(&rev.value, Some(&rev.proof), &digest).unwrap();
}

#[test]
fn by_id_joins_counts_and_information_schema() {
    let db = bank("queries", DatabaseOptions::default());
    let ids = db
        .execute(
            "INSERT INTO Accounts << ?, ? >>",
            &[
                ion("{accountId:\"A\",balance:1}"),
                ion("{accountId:\"B\",balance:2}"),
            ],
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    let a_id = field(&ids[0], "documentId").as_text().unwrap().to_owned();
    let rows = db
        .execute(
            "SELECT id FROM Accounts AS a BY id WHERE a.accountId = 'A'",
            &[],
        )
        .unwrap();
    assert_eq!(field(&rows[0], "id").as_text(), Some(a_id.as_str()));
    let rows = db
        .execute(
            "SELECT a.* FROM Accounts AS a BY aid WHERE aid = ?",
            &[Element::string(a_id.as_str())],
        )
        .unwrap();
    assert_eq!(field(&rows[0], "accountId").as_text(), Some("A"));
    db.execute(
        "INSERT INTO Transactions ?",
        &[ion("{fromAccount:\"A\",toAccount:\"B\",amount:1}")],
    )
    .unwrap();
    let rows = db
        .execute("SELECT a.accountId FROM Accounts AS a INNER JOIN Transactions AS t ON a.accountId = t.toAccount", &[])
        .unwrap();
    assert_eq!(rows, [ion("{accountId:\"B\"}")]);
    assert_eq!(
        db.execute("SELECT COUNT(*) FROM Accounts", &[]).unwrap(),
        [ion("{_1:2}")]
    );
    let names = db
        .execute(
            "SELECT VALUE name FROM information_schema.user_tables WHERE status = 'ACTIVE'",
            &[],
        )
        .unwrap();
    assert_eq!(names.len(), 3);
    let idx = db.execute("SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE status='ACTIVE' AND name='Accounts'", &[]).unwrap();
    assert_eq!(field(&idx[0], "expr").as_text(), Some("[accountId]"));

    // FROM … INSERT INTO a nested list, UPDATE of a nested path, DELETE.
    db.execute(
        "FROM Accounts AS a WHERE a.accountId = 'A' INSERT INTO a.owners VALUE {'name':'Ann'}",
        &[],
    )
    .unwrap();
    db.execute(
        "UPDATE Accounts AS a SET a.profile.city = 'Seattle' WHERE a.accountId = 'A'",
        &[],
    )
    .unwrap();
    let rows = db.execute("SELECT a.owners[0].name AS owner, a.profile.city FROM Accounts AS a WHERE a.accountId = 'A'", &[]).unwrap();
    assert_eq!(rows, [ion("{owner:\"Ann\",city:\"Seattle\"}")]);
    let deleted = db
        .execute("DELETE FROM Accounts AS a WHERE a.accountId = 'B'", &[])
        .unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        db.execute("SELECT COUNT(*) FROM Accounts", &[]).unwrap(),
        [ion("{_1:1}")]
    );
    // The deletion is a revision without data in history().
    let rows = db
        .execute(
            "SELECT * FROM history(Accounts) AS h WHERE h.metadata.id = ?",
            &[field(&deleted[0], "documentId").clone()],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[1].as_struct().unwrap().get("data").is_none());
    // DROP TABLE makes it inactive.
    db.execute("DROP TABLE AuditLog", &[]).unwrap();
    let e = db.execute("SELECT * FROM AuditLog", &[]).unwrap_err();
    assert!(matches!(e, DbError::NoSuchTable { .. }), "{e}");
}

#[test]
fn bad_statements_say_what_and_where_and_change_nothing() {
    let db = bank("errors", DatabaseOptions::default());
    let before = db.ledger().digest().unwrap();
    let e = db.execute("SELECT * FROM Nope", &[]).unwrap_err();
    assert_eq!(e.to_string(), "at position 14: no such table `Nope`");
    let e = db.execute("SELEC * FROM Accounts", &[]).unwrap_err();
    assert!(e.to_string().contains("position 0"), "{e}");
    let e = db
        .execute("INSERT INTO Accounts ?", &[Element::from(5i64)])
        .unwrap_err();
    assert!(e.to_string().contains("a document must be a struct"), "{e}");
    let e = db.execute("INSERT INTO Accounts ?", &[]).unwrap_err();
    assert!(e.to_string().contains("parameter 1 was not given"), "{e}");
    let e = db.execute("CREATE TABLE Accounts", &[]).unwrap_err();
    assert!(matches!(e, DbError::TableExists(_)));
    assert_eq!(db.ledger().digest().unwrap(), before);
}

#[test]
fn limits_and_the_transaction_timeout() {
    let db = bank("limits", DatabaseOptions::default());
    let mut tx = db.begin();
    for i in 0..40 {
        tx.execute("INSERT INTO AuditLog ?", &[ion(&format!("{{n:{i}}}"))])
            .unwrap();
    }
    let e = tx
        .execute("INSERT INTO AuditLog ?", &[ion("{n:41}")])
        .unwrap_err();
    assert!(matches!(e, DbError::LimitExceeded(_)), "{e}");
    tx.abort();

    // The timeout is measured on the ledger's clock: moving a manual clock expires it.
    let start = UtcMillis(1_700_000_000_000);
    let clock = Arc::new(ManualClock::new(start, 0));
    let dir = crate::temp_dir("timeout");
    let options = LedgerOptions {
        clock: clock.clone(),
        ..LedgerOptions::default()
    };
    let timed = Database::new(
        crate::backend::create(&dir.join("t.ledger"), "t", options).unwrap(),
        DatabaseOptions {
            transaction_timeout: Duration::from_secs(30),
            ..DatabaseOptions::default()
        },
    );
    timed.execute("CREATE TABLE AuditLog", &[]).unwrap();
    let mut tx = timed.begin();
    clock.set(UtcMillis(start.0 + 30_000));
    tx.execute("SELECT * FROM AuditLog", &[]).unwrap();
    clock.set(UtcMillis(start.0 + 30_001));
    let e = tx.execute("SELECT * FROM AuditLog", &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("Transaction {} has expired", tx.id())
    );
    assert_eq!(tx.commit(None).unwrap_err(), e);

    let relaxed = bank(
        "relaxed",
        DatabaseOptions {
            strict_limits: false,
            ..DatabaseOptions::default()
        },
    );
    relaxed
        .run(0, |tx| {
            for i in 0..100 {
                tx.execute("INSERT INTO AuditLog ?", &[ion(&format!("{{n:{i}}}"))])?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        relaxed
            .execute("SELECT COUNT(*) FROM AuditLog", &[])
            .unwrap(),
        [ion("{_1:100}")]
    );
    // A commit digest that is not the transaction's is refused, as QLDB does.
    let mut tx = relaxed.begin();
    tx.execute("INSERT INTO AuditLog ?", &[ion("{n:1}")])
        .unwrap();
    let wrong = veritrail_core::Hash32([7; 32]);
    assert_eq!(
        tx.commit(Some(&wrong)).unwrap_err(),
        DbError::DigestMismatch
    );
}

#[test]
fn occ_conflicts_follow_what_was_read() {
    let db = bank("occ", DatabaseOptions::default());
    db.execute(
        "INSERT INTO Accounts ?",
        &[ion("{accountId:\"A\",balance:1}")],
    )
    .unwrap();
    db.execute(
        "INSERT INTO Accounts ?",
        &[ion("{accountId:\"B\",balance:1}")],
    )
    .unwrap();
    // An indexed lookup of A does not conflict with a write to B ...
    let mut t1 = db.begin();
    t1.execute("SELECT * FROM Accounts WHERE accountId = 'A'", &[])
        .unwrap();
    db.execute(
        "UPDATE Accounts AS a SET a.balance = 5 WHERE a.accountId = 'B'",
        &[],
    )
    .unwrap();
    t1.execute(
        "UPDATE Accounts AS a SET a.balance = 2 WHERE a.accountId = 'A'",
        &[],
    )
    .unwrap();
    t1.commit(None).unwrap();
    // ... but a full scan conflicts with any write to the table.
    let mut t2 = db.begin();
    t2.execute("SELECT * FROM Accounts WHERE balance > 0", &[])
        .unwrap();
    t2.execute("INSERT INTO AuditLog ?", &[ion("{seen:2}")])
        .unwrap();
    db.execute(
        "INSERT INTO Accounts ?",
        &[ion("{accountId:\"C\",balance:1}")],
    )
    .unwrap();
    assert!(matches!(t2.commit(None), Err(DbError::OccConflict(_))));
}

#[test]
fn an_update_that_changes_an_indexed_key_moves_the_document_in_the_index() {
    let db = bank("bank-rekey", DatabaseOptions::default());
    let find = |db: &Database, id: &str| {
        db.execute(
            "SELECT VALUE a.owner FROM Accounts AS a WHERE a.accountId = ?",
            &[Element::string(id)],
        )
        .unwrap()
    };
    db.execute(
        "INSERT INTO Accounts ?",
        &[ion("{accountId: 'A', owner: 'ann', balance: 1}")],
    )
    .unwrap();
    // An update that leaves the key alone, then one that changes it.
    db.execute(
        "UPDATE Accounts AS a SET a.balance = 2 WHERE a.accountId = 'A'",
        &[],
    )
    .unwrap();
    assert_eq!(find(&db, "A"), vec![ion("ann")]);
    db.execute(
        "UPDATE Accounts AS a SET a.accountId = 'B' WHERE a.accountId = 'A'",
        &[],
    )
    .unwrap();
    assert!(find(&db, "A").is_empty(), "the old key finds nothing");
    assert_eq!(find(&db, "B"), vec![ion("ann")]);
    // Within one transaction: changed, changed back, and found by the key it ends with.
    db.run(0, |tx| {
        tx.execute(
            "UPDATE Accounts AS a SET a.accountId = 'C' WHERE a.accountId = 'B'",
            &[],
        )?;
        tx.execute(
            "UPDATE Accounts AS a SET a.accountId = 'B' WHERE a.accountId = 'C'",
            &[],
        )?;
        Ok(())
    })
    .unwrap();
    assert!(find(&db, "C").is_empty());
    assert_eq!(find(&db, "B"), vec![ion("ann")]);
    db.execute("DELETE FROM Accounts AS a WHERE a.accountId = 'B'", &[])
        .unwrap();
    assert!(
        find(&db, "B").is_empty(),
        "a deleted document leaves the index"
    );
    // A new document takes the key the deleted one had.
    db.execute(
        "INSERT INTO Accounts ?",
        &[ion("{accountId: 'B', owner: 'bob', balance: 1}")],
    )
    .unwrap();
    assert_eq!(find(&db, "B"), vec![ion("bob")]);
}
