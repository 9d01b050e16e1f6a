//! `Database::append`: batches of documents into a table, idempotent by a key field, every
//! declared index kept, time and ids from the ledger's options.

use veritrail_core::ion_rs::Element;
use veritrail_ledger::db::{Database, DatabaseOptions, DbError};
use veritrail_ledger::verification::verify_journal;
use veritrail_ledger::{AppendReport, AppendRequest};

fn record(id: &str, name: &str) -> Element {
    Element::read_one(format!(
        "{{eventID:\"{id}\",eventName:\"{name}\",detail:{{n:[1,2,{{k:\"v\"}}]}}}}"
    ))
    .unwrap()
}

fn records(range: std::ops::Range<usize>) -> Vec<Element> {
    range
        .map(|i| {
            record(
                &format!("ev-{i:04}"),
                ["Decrypt", "PutObject", "AssumeRole"][i % 3],
            )
        })
        .collect()
}

fn request(batch_size: usize) -> AppendRequest {
    AppendRequest {
        table: "AuditRecords".into(),
        key_field: "eventID".into(),
        batch_size,
    }
}

fn database(name: &str, seed: u64) -> Database {
    let dir = crate::temp_dir(name);
    let ledger =
        crate::backend::create(&dir.join("a.ledger"), "a", crate::deterministic(seed)).unwrap();
    Database::new(ledger, DatabaseOptions::default())
}

fn count(db: &Database, statement: &str, params: &[Element]) -> i64 {
    let rows = db.execute(statement, params).unwrap();
    rows[0]
        .as_struct()
        .unwrap()
        .get("_1")
        .unwrap()
        .as_i64()
        .unwrap()
}

#[test]
fn appends_skip_duplicates_in_the_table_and_in_the_batch() {
    let db = database("append-idempotent", 1);
    let mut acks = Vec::new();
    let mut input = records(0..25);
    input.push(record("ev-0003", "a repeat within the request"));
    let first = db
        .append(&request(10), input, |c| {
            acks.push((c.sequence_no, c.revision_hashes.len()))
        })
        .unwrap();
    assert_eq!(
        first,
        AppendReport {
            appended: 25,
            duplicates: 1,
            transactions: 3,
            created_table: true,
            created_index: true,
        }
    );
    assert_eq!(acks, [(1, 10), (2, 10), (3, 5)]);
    let tip = db.ledger().block_count();
    // The same records again, and some new ones.
    let again = db.append(&request(10), records(0..30), |_| {}).unwrap();
    assert_eq!(
        (again.appended, again.duplicates, again.transactions),
        (5, 25, 1)
    );
    let none = db.append(&request(10), records(0..30), |_| {}).unwrap();
    assert_eq!(
        (none.appended, none.duplicates, none.transactions),
        (0, 30, 0)
    );
    assert_eq!(
        db.ledger().block_count(),
        tip + 1,
        "a repeated append writes no block"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM AuditRecords", &[]), 30);
    // The journal records the appends as statements QLDB understands.
    let block = db.ledger().block_element(1).unwrap().to_string();
    for statement in [
        "CREATE TABLE AuditRecords",
        "CREATE INDEX ON AuditRecords (eventID)",
        "INSERT INTO AuditRecords << ?, ?, ?, ?, ?, ?, ?, ?, ?, ? >>",
    ] {
        assert!(block.contains(statement), "{statement} in {block}");
    }
    let ledger = db.ledger();
    verify_journal(&ledger, None, |_, _| {}).unwrap();
}

#[test]
fn every_declared_index_is_kept_and_sql_tables_get_the_key_index() {
    let db = database("append-indexes", 2);
    // A table made with SQL, with documents and another index already.
    db.run(0, |tx| {
        tx.execute("CREATE TABLE AuditRecords", &[])?;
        tx.execute("CREATE INDEX ON AuditRecords (eventName)", &[])?;
        tx.execute(
            "INSERT INTO AuditRecords ?",
            &[record("ev-0000", "Decrypt")],
        )
    })
    .unwrap();
    let report = db.append(&request(7), records(0..20), |_| {}).unwrap();
    assert_eq!((report.appended, report.duplicates), (19, 1));
    assert!(report.created_index && !report.created_table);
    // Appended after a CREATE INDEX on another field: found through that index too.
    db.execute("CREATE INDEX ON AuditRecords (detail)", &[])
        .unwrap();
    db.append(&request(7), records(20..40), |_| {}).unwrap();
    for name in ["Decrypt", "PutObject", "AssumeRole"] {
        let by_index = count(
            &db,
            "SELECT COUNT(*) FROM AuditRecords AS r WHERE r.eventName = ?",
            &[Element::string(name)],
        );
        let by_scan = count(
            &db,
            "SELECT COUNT(*) FROM AuditRecords AS r WHERE r.eventName || '' = ?",
            &[Element::string(name)],
        );
        assert_eq!(by_index, by_scan, "{name}");
        assert!(by_index >= 13, "{name}: {by_index}");
    }
    let detail = Element::read_one("{n:[1,2,{k:\"v\"}]}").unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM AuditRecords AS r WHERE r.detail = ?",
            &[detail]
        ),
        40
    );
    let indexes = db
        .execute(
            "SELECT VALUE t.indexes FROM information_schema.user_tables AS t",
            &[],
        )
        .unwrap();
    assert_eq!(indexes[0].as_sequence().unwrap().len(), 3);
}

#[test]
fn bad_documents_are_refused_before_anything_is_written() {
    let db = database("append-refused", 3);
    let before = db.ledger().digest().unwrap();
    let deep = Element::read_one(format!(
        "{{eventID:\"x\",d:{}1{}}}",
        "[".repeat(130),
        "]".repeat(130)
    ))
    .unwrap();
    for (docs, says) in [
        (
            vec![record("a", "b"), Element::from(5i64)],
            "document 1: a document must be a struct",
        ),
        (
            vec![Element::read_one("{eventName:\"no id\"}").unwrap()],
            "document 0 has no `eventID`",
        ),
        (
            vec![deep],
            "limit exceeded: document 0: a document nests containers deeper",
        ),
        (
            vec![
                Element::read_one(format!("{{eventID:\"big\",b:\"{}\"}}", "x".repeat(140_000)))
                    .unwrap(),
            ],
            "limit exceeded: document 0: a document is at most 131072 bytes",
        ),
    ] {
        let e = db.append(&request(10), docs, |_| {}).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let e = db.append(&request(0), records(0..1), |_| {}).unwrap_err();
    assert!(e.to_string().contains("batch size of at least 1"), "{e}");
    let e = db
        .append(
            &AppendRequest {
                table: "history".into(),
                ..request(10)
            },
            records(0..1),
            |_| {},
        )
        .unwrap_err();
    assert!(e.to_string().contains("names a system source"), "{e}");
    assert_eq!(db.ledger().digest().unwrap(), before);
}

/// QLDB's 128 KB is checked on the document's encoded size: one whose cheap upper bound is over
/// it (thousands of one-byte fields, each counted as if its name were new) is measured by
/// encoding it, and taken when it fits; one that does not fit is refused with its size.
#[test]
fn the_document_size_limit_is_measured_when_its_bound_is_over() {
    let db = database("append-size", 4);
    let fields = |n: usize| {
        let body: Vec<String> = (0..n).map(|i| format!("f:{}", i % 100)).collect();
        Element::read_one(format!("{{eventID:\"e{n}\",{}}}", body.join(","))).unwrap()
    };
    let fits = fields(10_000);
    let size = fits
        .encode_as(veritrail_core::ion_rs::v1_0::Binary)
        .unwrap()
        .len();
    assert!(size < 128 * 1024, "{size}");
    assert!(veritrail_ledger::limits::binary_size_bound(&fits).unwrap() > 128 * 1024);
    db.check_append_document(&fits).unwrap();
    let report = db.append(&request(10), vec![fits], |_| {}).unwrap();
    assert_eq!(report.appended, 1);

    let over = fields(60_000);
    let e = db.check_append_document(&over).unwrap_err();
    assert!(
        e.to_string()
            .contains("at most 131072 bytes of Ion binary; this one is"),
        "{e}"
    );
    let e = db.append(&request(10), vec![over], |_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("document 0: a document is at most 131072"),
        "{e}"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM AuditRecords", &[]), 1);
}

#[test]
fn time_and_ids_come_from_the_ledger_options() {
    let digests: Vec<_> = (0..2)
        .map(|run| {
            let db = database(&format!("append-deterministic-{run}"), 9);
            db.append(&request(4), records(0..10), |_| {}).unwrap();
            db.ledger().digest().unwrap()
        })
        .collect();
    assert_eq!(
        digests[0], digests[1],
        "the same appends write the same journal"
    );
}

#[test]
fn an_open_transaction_that_read_the_table_conflicts_with_an_append() {
    let db = database("append-occ", 4);
    db.append(&request(10), records(0..3), |_| {}).unwrap();
    let mut tx = db.begin();
    tx.execute("SELECT COUNT(*) FROM AuditRecords", &[])
        .unwrap();
    tx.execute("INSERT INTO AuditRecords ?", &[record("ev-9999", "Late")])
        .unwrap();
    db.append(&request(10), records(3..4), |_| {}).unwrap();
    assert!(matches!(tx.commit(None), Err(DbError::OccConflict(_))));
}
