//! `cargo xtask bench ledger`: journal throughput and proof latency, each beside its baseline
//! measured in the same run, printed as JSON lines
//! (`{"bench":"ledger","metric":…,"value":…,"unit":…}`).
//!
//! - durable appends of ~1 KB audit documents in transactions of 1, 100 and 1000 documents,
//!   one `commit` at a time and as a pipelined `commit_stream` (acknowledged once durable);
//! - the same documents through `Database::append`, the idempotent append `ledger append` and
//!   ingest use (duplicate check by eventID through its index, every declared index kept), and
//!   the same append again, where every document is a duplicate; its baseline is the stream
//!   with an eventID index key per document, what `ledger append` committed by hand before;
//! - the floor: the same document bytes inserted into plain SQLite (WAL, synchronous=FULL)
//!   with the same transaction sizes, and the ratio floor / ledger;
//! - block-proof and revision-proof latency (p50, p99) on a ledger of `--blocks` blocks
//!   (default 1,000,000), built with group commit.
//!
//! The journal runs on both backends, side by side: every append metric carries
//! `"backend":"sqlite"` or `"backend":"postgres"`. PostgreSQL runs on a local server this
//! bench starts (`LocalServer`, `fsync=on`, `synchronous_commit=on`), with its own floor: the
//! same bytes inserted into a plain PostgreSQL table. Without PostgreSQL's programs the
//! PostgreSQL half is skipped, and stderr says so.
//!
//! Options: `--documents N` (default 100,000), `--blocks N` (0 skips the proof benchmark),
//! `--sizes 1,100,1000` (documents per transaction), `--backends sqlite,postgres`.

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, params};
use veritrail_core::id::{IdSource as _, OsIds, TimeOrderedIds};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::partiql::eval::index_key;
use veritrail_ledger::storage::IndexUpdate;
use veritrail_ledger::storage::postgres::server::LocalServer;
use veritrail_ledger::{
    AppendRequest, Durability, Ledger, LedgerOptions, NewTransaction, Statement, StorageChoice,
    Write,
};

/// The one clock read of this bench: it measures elapsed time.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> Instant {
    Instant::now()
}

fn emit(metric: &str, value: f64, unit: &str, extra: &str) {
    println!(
        "{{\"bench\":\"ledger\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\"{extra}}}"
    );
}

/// A CloudTrail-like audit record of about 1 KB.
fn document(i: u64) -> Element {
    let text = format!(
        r#"{{eventVersion:"1.08",userIdentity:{{type:"AssumedRole",principalId:"AROATFQR7NSC5U6Q3TMDR:session-{i}",
        arn:"arn:aws:sts::123837392027:assumed-role/ops-admin/session-{i}",accountId:"123837392027",
        accessKeyId:"ASIATFQR7NSC{i:08}",sessionContext:{{sessionIssuer:{{type:"Role",principalId:"AROATFQR7NSC5U6Q3TMDR",
        arn:"arn:aws:iam::123837392027:role/ops-admin",accountId:"123837392027",userName:"ops-admin"}},
        attributes:{{creationDate:"2023-07-10T11:42:31Z",mfaAuthenticated:"true"}}}}}},
        eventTime:"2023-07-10T11:42:36Z",eventSource:"s3.amazonaws.com",eventName:"PutObject",awsRegion:"us-east-1",
        sourceIPAddress:"198.51.100.{}",userAgent:"aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
        requestParameters:{{bucketName:"audit-evidence-{i}",key:"reports/2023/07/10/{i}.json",Host:"audit.s3.amazonaws.com"}},
        responseElements:null,
        requestID:"CC9X0N62QREG{i:04}",eventID:"293ba626-3be5-4a26-ab1b-{i:012}",readOnly:false,
        resources:[{{type:"AWS::S3::Object",ARN:"arn:aws:s3:::audit-evidence-{i}/reports/{i}.json"}},
                   {{accountId:"123837392027",type:"AWS::S3::Bucket",ARN:"arn:aws:s3:::audit-evidence-{i}"}}],
        eventType:"AwsApiCall",managementEvent:false,recipientAccountId:"123837392027",eventCategory:"Data"}}"#,
        i % 250
    );
    Element::read_one(text).expect("the bench document is valid Ion")
}

thread_local! {
    /// The ledger's default id source: time-ordered, as a real ingest would use.
    static IDS: TimeOrderedIds = TimeOrderedIds::default();
}

fn transaction(docs: &[Arc<Element>], table_id: &str) -> NewTransaction {
    transaction_keyed(docs, table_id, false)
}

/// As [`transaction`]; with `keyed`, each document also gets its eventID index key, as
/// `ledger append` wrote them by hand before it went through `Database::append`.
fn transaction_keyed(docs: &[Arc<Element>], table_id: &str, keyed: bool) -> NewTransaction {
    let ids: Vec<String> = docs.iter().map(|_| IDS.with(|ids| ids.new_id())).collect();
    let index_updates = if keyed {
        docs.iter()
            .zip(&ids)
            .map(|(d, id)| IndexUpdate {
                document_id: id.clone(),
                table_id: table_id.to_owned(),
                keys: d
                    .as_struct()
                    .and_then(|s| s.get("eventID"))
                    .and_then(index_key)
                    .map(|k| vec![("eventID".to_owned(), k)])
                    .unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    NewTransaction {
        id: None,
        statements: vec![Statement {
            text: "INSERT INTO AuditRecords ?".into(),
            parameters: docs.to_vec(),
            start_time: None,
        }],
        writes: docs
            .iter()
            .zip(ids)
            .map(|(d, document_id)| Write {
                table_name: "AuditRecords".into(),
                table_id: table_id.to_owned(),
                document_id,
                version: 0,
                data: Some(Arc::clone(d)),
                statements: vec![0],
            })
            .collect(),
        index_updates,
        ..Default::default()
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veritrail-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Plain SQLite, same pragmas, same bytes, same transaction size: the unhashed floor.
fn sqlite_floor(dir: &Path, blobs: &[Vec<u8>], per_tx: usize) -> f64 {
    let path = dir.join(format!("floor-{per_tx}.db"));
    let mut conn = Connection::open(&path).expect("open floor db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE docs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .expect("schema");
    let start = stopwatch();
    for chunk in blobs.chunks(per_tx) {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO docs (body) VALUES (?1)")
                .expect("prepare");
            for b in chunk {
                stmt.execute(params![b]).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    blobs.len() as f64 / start.elapsed().as_secs_f64()
}

/// Plain PostgreSQL, same bytes, same transaction size (one multi-row INSERT each): the floor
/// of the PostgreSQL backend.
fn postgres_floor(url: &str, blobs: &[Vec<u8>], per_tx: usize) -> f64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!(
            "SET synchronous_commit = on; CREATE TABLE floor_{per_tx} (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)"
        ))
        .expect("schema");
    let insert = client
        .prepare(&format!(
            "INSERT INTO floor_{per_tx} (body) SELECT * FROM UNNEST($1::BYTEA[])"
        ))
        .expect("prepare");
    let start = stopwatch();
    for chunk in blobs.chunks(per_tx) {
        let mut tx = client.transaction().expect("tx");
        let rows: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        tx.execute(&insert, &[&rows]).expect("insert");
        tx.commit().expect("commit");
    }
    blobs.len() as f64 / start.elapsed().as_secs_f64()
}

fn ledger_append(dir: &Path, options: &LedgerOptions, docs: &[Arc<Element>], per_tx: usize) -> f64 {
    let path = dir.join(format!("append-{per_tx}.ledger"));
    let mut ledger = Ledger::create(&path, "bench", options.clone()).expect("create");
    let table_id = OsIds.new_id();
    let start = stopwatch();
    for chunk in docs.chunks(per_tx) {
        ledger
            .commit(transaction(chunk, &table_id))
            .expect("commit");
    }
    docs.len() as f64 / start.elapsed().as_secs_f64()
}

/// The same appends as a stream: each transaction is acknowledged once durable, while the
/// next one is already being built (`Ledger::commit_stream`). With `keyed`, each document gets
/// its eventID index key too.
fn ledger_append_stream(
    dir: &Path,
    options: &LedgerOptions,
    docs: &[Arc<Element>],
    per_tx: usize,
    keyed: bool,
) -> f64 {
    let path = dir.join(format!("stream-{per_tx}-{keyed}.ledger"));
    let mut ledger = Ledger::create(&path, "bench", options.clone()).expect("create");
    let table_id = OsIds.new_id();
    let start = stopwatch();
    let mut acked = 0usize;
    ledger
        .commit_stream(
            docs.chunks(per_tx)
                .map(|c| transaction_keyed(c, &table_id, keyed)),
            |c| {
                acked += c.revision_hashes.len();
            },
        )
        .expect("commit stream");
    assert_eq!(acked, docs.len());
    docs.len() as f64 / start.elapsed().as_secs_f64()
}

/// The same documents through the idempotent append API, then appended again (all duplicates):
/// (documents appended per second, documents skipped per second).
fn ledger_append_api(
    dir: &Path,
    options: &LedgerOptions,
    docs: &[Arc<Element>],
    per_tx: usize,
) -> (f64, f64) {
    let path = dir.join(format!("api-{per_tx}.ledger"));
    let ledger = Ledger::create(&path, "bench", options.clone()).expect("create");
    let db = Database::new(ledger, DatabaseOptions::default());
    let request = AppendRequest {
        table: "AuditRecords".into(),
        key_field: "eventID".into(),
        batch_size: per_tx,
    };
    let owned = || docs.iter().map(|d| Element::clone(d)).collect::<Vec<_>>();
    let input = owned();
    let start = stopwatch();
    let first = db.append(&request, input, |_| {}).expect("append");
    let appended = docs.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(first.appended as usize, docs.len());
    let input = owned();
    let start = stopwatch();
    let again = db.append(&request, input, |_| {}).expect("append again");
    let skipped = docs.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(again.duplicates as usize, docs.len());
    (appended, skipped)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn proof_latency(dir: &Path, blocks: u64) {
    let path = dir.join("proofs.ledger");
    let options = LedgerOptions {
        durability: Durability::Normal,
        ..LedgerOptions::default()
    };
    let mut ledger = Ledger::create(&path, "proofs", options).expect("create");
    let table_id = OsIds.new_id();
    let tiny = Arc::new(Element::read_one("{n:1}").expect("ion"));
    let build = stopwatch();
    while ledger.block_count() < blocks {
        let n = (blocks - ledger.block_count()).min(2000);
        let txs: Vec<NewTransaction> = (0..n)
            .map(|_| transaction(std::slice::from_ref(&tiny), &table_id))
            .collect();
        ledger.commit_all(txs).expect("group commit");
        if ledger.block_count() % 100_000 < 2000 {
            eprintln!(
                "bench ledger: built {} of {blocks} blocks",
                ledger.block_count()
            );
        }
    }
    let extra = format!(",\"blocks\":{blocks}");
    emit(
        "build_blocks_per_s",
        blocks as f64 / build.elapsed().as_secs_f64(),
        "blocks/s",
        &extra,
    );

    let tip = ledger.block_count() - 1;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Warm the page cache the way a serving process would be, then measure.
    for _ in 0..1000 {
        let _ = ledger.block_proof(next() % (tip + 1), tip).expect("proof");
    }
    let mut block_us = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let seq = next() % (tip + 1);
        let t = stopwatch();
        let proof = ledger.block_proof(seq, tip).expect("proof");
        block_us.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(proof);
    }
    block_us.sort_by(f64::total_cmp);
    emit("block_proof_p50", percentile(&block_us, 0.50), "us", &extra);
    emit("block_proof_p99", percentile(&block_us, 0.99), "us", &extra);

    let mut revision_us = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let seq = next() % tip + 1; // block 0 is genesis, with no revisions
        let block = ledger.block_element(seq).expect("block");
        let id = block
            .as_struct()
            .and_then(|s| s.get("revisions"))
            .and_then(|r| r.as_list())
            .and_then(|l| l.get(0))
            .and_then(|r| r.as_struct())
            .and_then(|r| r.get("metadata"))
            .and_then(|m| m.as_struct())
            .and_then(|m| m.get("id"))
            .and_then(|i| i.as_text())
            .expect("a revision")
            .to_owned();
        let t = stopwatch();
        let rev = ledger.revision(seq, &id, Some(tip)).expect("revision");
        revision_us.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(rev);
    }
    revision_us.sort_by(f64::total_cmp);
    emit(
        "revision_with_proof_p50",
        percentile(&revision_us, 0.50),
        "us",
        &extra,
    );
    emit(
        "revision_with_proof_p99",
        percentile(&revision_us, 0.99),
        "us",
        &extra,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let blocks = arg("--blocks").unwrap_or(1_000_000);
    let documents = arg("--documents").unwrap_or(100_000) as usize;
    let dir = fresh_dir("run");

    let docs: Vec<Arc<Element>> = (0..documents as u64)
        .map(|i| Arc::new(document(i)))
        .collect();
    let blobs: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| d.encode_as(v1_0::Binary).expect("encode"))
        .collect();
    let mean = blobs.iter().map(Vec::len).sum::<usize>() as f64 / blobs.len() as f64;
    emit("document_size_mean", mean, "bytes", "");

    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 100, 1000]);
    let backends: Vec<String> = args
        .iter()
        .position(|a| a == "--backends")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|| vec!["sqlite".into(), "postgres".into()]);
    for backend in &backends {
        // The server lives as long as its backend's runs.
        let (options, floor_url, _server) = match backend.as_str() {
            "postgres" => match LocalServer::start() {
                Ok(server) => {
                    let target = server.new_database("bench").expect("bench database");
                    let url = target.to_string();
                    let options = LedgerOptions {
                        storage: StorageChoice::Postgres(target),
                        ..LedgerOptions::default()
                    };
                    (options, Some(url), Some(server))
                }
                Err(e) => {
                    eprintln!("bench ledger: the PostgreSQL backend is skipped: {e}");
                    continue;
                }
            },
            _ => (LedgerOptions::default(), None, None),
        };
        for &per_tx in &sizes {
            // Fewer documents for the fsync-bound single-document case, so the run stays short.
            let n = if per_tx == 1 {
                documents.min(3000)
            } else {
                documents
            };
            let extra = format!(",\"docs_per_tx\":{per_tx},\"backend\":\"{backend}\"");
            let floor = match &floor_url {
                Some(url) => postgres_floor(url, &blobs[..n], per_tx),
                None => sqlite_floor(&dir, &blobs[..n], per_tx),
            };
            let ledger = ledger_append(&dir, &options, &docs[..n], per_tx);
            let stream = ledger_append_stream(&dir, &options, &docs[..n], per_tx, false);
            let keyed = ledger_append_stream(&dir, &options, &docs[..n], per_tx, true);
            let (api, skipped) = ledger_append_api(&dir, &options, &docs[..n], per_tx);
            let floor_metric = match &floor_url {
                Some(_) => "postgres_floor_rows_per_s",
                None => "sqlite_floor_rows_per_s",
            };
            emit(floor_metric, floor, "rows/s", &extra);
            emit("append_docs_per_s", ledger, "docs/s", &extra);
            emit("floor_over_append", floor / ledger, "x", &extra);
            emit("append_stream_docs_per_s", stream, "docs/s", &extra);
            emit("floor_over_append_stream", floor / stream, "x", &extra);
            emit("append_stream_keyed_docs_per_s", keyed, "docs/s", &extra);
            emit("append_api_docs_per_s", api, "docs/s", &extra);
            emit("append_stream_keyed_over_api", keyed / api, "x", &extra);
            emit("append_api_duplicates_per_s", skipped, "docs/s", &extra);
        }
    }
    if blocks > 0 {
        proof_latency(&dir, blocks);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
