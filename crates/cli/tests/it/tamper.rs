//! An insider with write access to the ledger file tampers with it in every way the issue
//! names; `veritrail ledger verify` catches each one and names the first broken block (or the
//! checkpoint), with exit code 1.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, params};
use veritrail_core::id::{IdSource, OsIds};
use veritrail_core::ion_rs::Element;
use veritrail_ledger::{Ledger, LedgerOptions, NewTransaction, Statement, Write};

use crate::ledger::populated;
use crate::{s, scratch, text, veritrail};

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("bank.ledger")).unwrap()
}

fn flip_blob(dir: &Path, table: &str, column: &str, filter: &str) {
    let conn = db(dir);
    let sql = format!("SELECT {column} FROM {table} WHERE {filter}");
    let mut blob: Vec<u8> = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
    let at = blob.len() / 2;
    blob[at] ^= 0x04;
    conn.execute(
        &format!("UPDATE {table} SET {column} = ?1 WHERE {filter}"),
        params![blob],
    )
    .unwrap();
}

/// Runs `ledger verify`; asserts exit 1 and that the message names `expected`.
fn caught(dir: &Path, expected: &[&str]) {
    let out = veritrail(&["ledger", "verify", "bank", "--data-dir", s(dir)]);
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "not caught: {}{err}",
        text(&out.stdout)
    );
    for e in expected {
        assert!(err.contains(e), "expected `{e}` in: {err}");
    }
}

fn setup(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    populated(&dir);
    let out = veritrail(&["ledger", "verify", "bank", "--data-dir", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir
}

#[test]
fn a_flipped_byte_in_a_document() {
    let dir = setup("tamper-doc");
    flip_blob(&dir, "blocks", "revisions", "seq = 3");
    caught(&dir, &["FAILED block 3"]);
}

#[test]
fn a_flipped_byte_in_a_stored_block_hash() {
    let dir = setup("tamper-node");
    flip_blob(&dir, "nodes", "hash", "level = 0 AND idx = 4");
    caught(
        &dir,
        &["block 4", "stored subtree hash at level 0, index 4"],
    );
}

#[test]
fn a_flipped_byte_in_a_stored_subtree_hash() {
    let dir = setup("tamper-inner-node");
    flip_blob(&dir, "nodes", "hash", "level = 2 AND idx = 0");
    caught(&dir, &["block 3", "level 2, index 0"]);
}

#[test]
fn a_flipped_byte_in_stored_revision_hashes() {
    let dir = setup("tamper-revhashes");
    flip_blob(&dir, "blocks", "revision_hashes", "seq = 2");
    caught(&dir, &["block 2", "revision hash"]);
}

#[test]
fn a_flipped_byte_in_a_block() {
    let dir = setup("tamper-header");
    flip_blob(&dir, "blocks", "header", "seq = 5");
    caught(&dir, &["block 5"]);
}

/// Rewrites one header field of block `seq` in place, keeping the Ion valid.
fn rewrite_header(dir: &Path, seq: i64, field: &str, value: &str) {
    let conn = db(dir);
    let header: Vec<u8> = conn
        .query_row(
            "SELECT header FROM blocks WHERE seq = ?1",
            params![seq],
            |r| r.get(0),
        )
        .unwrap();
    let element = Element::read_one(header).unwrap();
    let rebuilt = element
        .as_struct()
        .unwrap()
        .clone_builder()
        .remove_field(field)
        .with_field(field, Element::read_one(value).unwrap())
        .build();
    let bytes = Element::from(rebuilt)
        .encode_as(veritrail_core::ion_rs::v1_0::Binary)
        .unwrap();
    conn.execute(
        "UPDATE blocks SET header = ?1 WHERE seq = ?2",
        params![bytes, seq],
    )
    .unwrap();
}

#[test]
fn a_changed_block_timestamp_or_transaction_id() {
    // QLDB's own hash rules do not cover these fields; veritrail blocks do.
    let dir = setup("tamper-timestamp");
    rewrite_header(&dir, 4, "blockTimestamp", "2001-01-01T00:00:00.000Z");
    caught(&dir, &["block 4"]);
    // The genesis block has no revisions: only the block-info entry covers its timestamp.
    let dir = setup("tamper-genesis-timestamp");
    rewrite_header(&dir, 0, "blockTimestamp", "2001-01-01T00:00:00.000Z");
    caught(&dir, &["block 0", "block info hash"]);
    let dir = setup("tamper-txid");
    rewrite_header(&dir, 2, "transactionId", "\"AAAAAAAAAAAAAAAAAAAAAA\"");
    caught(&dir, &["block 2"]);
}

#[test]
fn a_header_nested_a_million_levels_deep_is_reported_not_a_crash() {
    let dir = setup("tamper-deep-header");
    // Ion binary: a million nested empty-terminated lists, each header with the exact length.
    let var_uint = |mut v: usize| {
        let mut out = vec![(v & 0x7F) as u8 | 0x80];
        v >>= 7;
        while v > 0 {
            out.insert(0, (v & 0x7F) as u8);
            v >>= 7;
        }
        out
    };
    let levels = 1_000_000;
    let mut sizes = vec![1usize];
    for _ in 1..levels {
        let inner = *sizes.last().unwrap();
        sizes.push(1 + var_uint(inner).len() + inner);
    }
    let mut deep = vec![0xE0, 0x01, 0x00, 0xEA];
    for level in (1..levels).rev() {
        deep.push(0xBE);
        deep.extend(var_uint(sizes[level - 1]));
    }
    deep.push(0xB0);
    db(&dir)
        .execute("UPDATE blocks SET header = ?1 WHERE seq = 2", params![deep])
        .unwrap();
    caught(&dir, &["block 2", "Ion nested more than 150 levels deep"]);
}

#[test]
fn a_deleted_block() {
    let dir = setup("tamper-delete-block");
    db(&dir)
        .execute("DELETE FROM blocks WHERE seq = 4", [])
        .unwrap();
    caught(&dir, &["block 4"]);
}

#[test]
fn a_deleted_revision() {
    let dir = setup("tamper-delete-revision");
    // Drop the first entry of block 3's revision directory and its hash.
    let conn = db(&dir);
    let (index, hashes): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT revision_index, revision_hashes FROM blocks WHERE seq = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let entry = index.len() / (hashes.len() / 32);
    conn.execute(
        "UPDATE blocks SET revision_index = ?1, revision_hashes = ?2 WHERE seq = 3",
        params![&index[entry..], &hashes[32..]],
    )
    .unwrap();
    drop(conn);
    caught(&dir, &["FAILED block 3", "revisions root"]);
}

#[test]
fn reordered_blocks() {
    let dir = setup("tamper-reorder");
    db(&dir)
        .execute_batch(
            "UPDATE blocks SET seq = -1 WHERE seq = 2; UPDATE blocks SET seq = 2 WHERE seq = 3; UPDATE blocks SET seq = 3 WHERE seq = -1;",
        )
        .unwrap();
    caught(&dir, &["block 2"]);
}

#[test]
fn a_truncated_journal() {
    let dir = setup("tamper-truncate");
    let conn = db(&dir);
    let count: i64 = conn
        .query_row("SELECT MAX(seq) + 1 FROM blocks", [], |r| r.get(0))
        .unwrap();
    let keep = count - 2;
    conn.execute("DELETE FROM blocks WHERE seq >= ?1", params![keep])
        .unwrap();
    conn.execute(
        "DELETE FROM nodes WHERE ((idx + 1) << level) > ?1",
        params![keep],
    )
    .unwrap();
    drop(conn);
    caught(&dir, &["blocks were removed"]);
}

/// Gives the strand id of the journal being forged, then fresh ids.
#[derive(Debug)]
struct SameStrand {
    strand: String,
    given: AtomicBool,
}

impl IdSource for SameStrand {
    fn next_u128(&self) -> u128 {
        OsIds.next_u128()
    }
    fn new_id(&self) -> String {
        if self.given.swap(true, Ordering::SeqCst) {
            OsIds.new_id()
        } else {
            self.strand.clone()
        }
    }
}

#[test]
fn a_consistent_rewrite_of_the_whole_chain_is_caught_by_the_signed_checkpoint() {
    let dir = setup("tamper-rewrite");
    let path = dir.join("bank.ledger");
    let original = Ledger::open_read_only(&path, LedgerOptions::default()).unwrap();
    let (strand, count) = (original.strand_id().to_owned(), original.block_count());
    drop(original);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    // The insider rebuilds every block with the same strand, so every hash and link is valid.
    let options = LedgerOptions {
        ids: Arc::new(SameStrand {
            strand,
            given: AtomicBool::new(false),
        }),
        ..LedgerOptions::default()
    };
    let mut forged = Ledger::create(&path, "bank", options).unwrap();
    while forged.block_count() < count {
        let doc = Arc::new(Element::read_one("{eventName:\"Nothing to see here\"}").unwrap());
        forged
            .commit(NewTransaction {
                id: None,
                statements: vec![Statement {
                    text: "INSERT INTO AuditRecords ?".into(),
                    parameters: vec![doc.clone()],
                    start_time: None,
                }],
                writes: vec![Write {
                    table_name: "AuditRecords".into(),
                    table_id: "AuditRecordsTable00000".into(),
                    document_id: OsIds.new_id(),
                    version: 0,
                    data: Some(doc),
                    statements: vec![0],
                }],
                ..Default::default()
            })
            .unwrap();
    }
    drop(forged);
    // Without the checkpoint the forgery is internally consistent ...
    let out = veritrail(&[
        "ledger",
        "verify",
        "bank",
        "--data-dir",
        s(&dir),
        "--checkpoint",
        "/dev/null",
    ]);
    assert_ne!(out.status.code(), Some(0));
    // ... and the stored signed checkpoint catches it.
    caught(&dir, &["the journal was rewritten"]);
}

#[test]
fn an_altered_checkpoint_or_a_wrong_key_is_caught() {
    let dir = setup("tamper-checkpoint");
    let cp_dir = dir.join("checkpoints/bank");
    let note_path = std::fs::read_dir(&cp_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let note = std::fs::read_to_string(&note_path).unwrap();
    let lines: Vec<&str> = note.lines().collect();
    let size: u64 = lines[1].parse().unwrap();
    let forged = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1);
    std::fs::write(&note_path, forged).unwrap();
    caught(&dir, &["checkpoint", "signature does not verify"]);

    std::fs::write(&note_path, &note).unwrap();
    let other = scratch("tamper-checkpoint-other");
    assert_eq!(
        veritrail(&["ledger", "create", "bank", "--data-dir", s(&other)])
            .status
            .code(),
        Some(0)
    );
    let out = veritrail(&[
        "ledger",
        "verify",
        "bank",
        "--data-dir",
        s(&dir),
        "--public-key",
        s(&other.join("keys/bank.pub")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("checkpoint"),
        "{}",
        text(&out.stderr)
    );
}
