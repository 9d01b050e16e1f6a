//! `--storage postgres://…`: a real local PostgreSQL server (Debian's package) shared by
//! `veritrail` processes. One writer at a time: a second writer is refused while the first
//! lives, readers answer digests meanwhile, and when the writer is killed with SIGKILL in the
//! middle of its commits another process takes the lease over, continues from the durable tip,
//! and `ledger verify` passes with every acknowledged transaction present exactly once. Bad
//! storage URLs exit 2; a server that cannot be reached exits 1.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use veritrail_ledger::storage::postgres::server::LocalServer;
use veritrail_ledger::{LedgerOptions, StorageChoice};

use crate::{
    Collecting, s, scratch, text, transactions_in, unique_records, veritrail, veritrail_ok,
};

/// The records of a CloudTrail log four times over, with eventIDs unique to `run`.
fn records(dir: &std::path::Path, run: usize, copies: usize) -> String {
    let log = "218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json";
    unique_records(
        &dir.join(format!("run-{run}.jsonl")),
        &[log],
        copies,
        &format!("run{run}"),
    )
}

/// Transaction id -> how many blocks carry it.
fn transactions(url: &str) -> HashMap<String, usize> {
    let options = LedgerOptions {
        storage: StorageChoice::parse(url).unwrap(),
        ..LedgerOptions::default()
    };
    transactions_in(std::path::Path::new("trail.ledger"), options)
}

fn acknowledged(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("committed block "))
        .map(|rest| {
            rest.split(" tx ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_writer_killed_mid_commit_is_taken_over_and_nothing_acknowledged_is_lost() {
    let server = LocalServer::start().unwrap();
    let url = server.new_database("trail").unwrap().to_string();
    let dir = scratch("pg-takeover");
    let d = s(&dir).to_owned();
    let base = ["--data-dir", d.as_str(), "--storage", url.as_str()];
    veritrail_ok(&[&["ledger", "create", "trail"][..], &base].concat());
    assert!(
        !dir.join("trail.ledger").exists(),
        "the journal is in PostgreSQL, not a file"
    );
    // Enough records, one transaction each, that writer A is still writing when it is killed.
    let first = records(&dir, 0, 200);
    let second = records(&dir, 1, 4);

    // Writer A commits one record per transaction, acknowledging each on stdout.
    let args: Vec<String> = [
        "ledger", "append", "trail", "--batch", "1", "--file", &first,
    ]
    .iter()
    .chain(&base)
    .map(|a| (*a).to_owned())
    .collect();
    let a = Collecting::spawn(&args);
    a.wait_for_lines(3);
    // While A writes, another writer is refused (exit 1) and a reader is answered.
    let out = veritrail(&[&["ledger", "append", "trail", "--file", &second][..], &base].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("another process is writing ledger trail"),
        "{said}"
    );
    let digest = veritrail_ok(&[&["ledger", "digest", "trail"][..], &base].concat());
    assert!(digest.contains("DigestTipAddress"));

    let (killed, lines) = a.kill(); // SIGKILL
    assert!(killed, "writer A finished before it was killed");
    let acked = acknowledged(&lines);
    assert!(acked.len() >= 3);

    // B takes the lease over (once the server has seen A's session end) and appends both
    // files: what A committed is skipped, what it did not is added.
    let mut taken = None;
    for _ in 0..100 {
        let out = veritrail(
            &[
                &[
                    "ledger", "append", "trail", "--file", &first, "--file", &second,
                ][..],
                &base,
            ]
            .concat(),
        );
        if out.status.code() == Some(0) {
            taken = Some(out);
            break;
        }
        assert!(
            text(&out.stdout).contains("another process is writing"),
            "{}",
            text(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = taken.expect("the lease was never released");
    let acked_b = acknowledged(
        &text(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    assert!(!acked_b.is_empty());

    veritrail_ok(&[&["ledger", "verify", "trail"][..], &base].concat());
    let present = transactions(&url);
    for tx in acked.iter().chain(&acked_b) {
        assert_eq!(present.get(tx), Some(&1), "acknowledged transaction {tx}");
    }
    // Every record once.
    let out = veritrail_ok(
        &[
            &[
                "ledger",
                "query",
                "trail",
                "--json",
                "SELECT VALUE r.eventID FROM AuditRecords AS r",
            ][..],
            &base,
        ]
        .concat(),
    );
    let stored: Vec<String> = out.lines().map(str::to_owned).collect();
    let unique: std::collections::HashSet<&String> = stored.iter().collect();
    let lines_in = |f: &str| std::fs::read_to_string(f).unwrap().lines().count();
    assert_eq!(stored.len(), lines_in(&first) + lines_in(&second));
    assert_eq!(unique.len(), stored.len());
}

#[test]
fn bad_storage_urls_exit_2_and_unreachable_servers_exit_1() {
    let dir = scratch("pg-bad-url");
    let d = s(&dir);
    let out = veritrail(&[
        "ledger",
        "digest",
        "x",
        "--data-dir",
        d,
        "--storage",
        "mysql://a@b/c",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("neither `sqlite` nor a postgres:// URL"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(["ledger", "digest", "x", "--data-dir", d])
        .env("VERITRAIL_STORAGE", "postgres://a@b:port/c")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("VERITRAIL_STORAGE"),
        "{}",
        text(&out.stderr)
    );
    let url = unreachable_url();
    let out = veritrail(&["ledger", "digest", "x", "--data-dir", d, "--storage", &url]);
    assert_eq!(out.status.code(), Some(1));
    said_unreachable(&out);
}

/// A PostgreSQL URL, with a password, of a loopback port nothing listens on.
pub fn unreachable_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("postgres://someone:hunter2@127.0.0.1:{port}/db")
}

/// Asserts that `out` says the server of [`unreachable_url`] cannot be reached, without its
/// password and without a panic.
pub fn said_unreachable(out: &std::process::Output) {
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.contains("cannot be reached"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn an_export_imports_into_postgresql_verified_against_its_digest() {
    let server = LocalServer::start().unwrap();
    let url = server.new_database("import").unwrap().to_string();
    let dir = scratch("pg-import");
    crate::ledger::populated(&dir);
    let d = s(&dir);
    let digest_out = veritrail_ok(&["ledger", "digest", "bank", "--data-dir", d]);
    let digest = dir.join("digest.json");
    std::fs::write(&digest, &digest_out).unwrap();
    let export = dir.join("export");
    veritrail_ok(&[
        "ledger",
        "export",
        "bank",
        "--data-dir",
        d,
        "--out",
        s(&export),
    ]);

    // Into the database, checked against the saved digest first.
    let into = dir.join("pg");
    let base = ["--data-dir", s(&into), "--storage", url.as_str()];
    let imported = veritrail_ok(
        &[
            &[
                "ledger",
                "import",
                "copy",
                "--from",
                s(&export),
                "--digest",
                s(&digest),
            ][..],
            &base,
        ]
        .concat(),
    );
    assert!(imported.contains("matches the saved digest"), "{imported}");
    assert!(!into.join("copy.ledger").exists(), "no journal file");
    let verified = veritrail_ok(&[&["ledger", "verify", "copy"][..], &base].concat());
    assert!(verified.starts_with("OK ledger copy"), "{verified}");
    let digest_pg = veritrail_ok(&[&["ledger", "digest", "copy"][..], &base].concat());
    let field = |t: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(t).unwrap()["Digest"].clone()
    };
    assert_eq!(field(&digest_pg), field(&digest_out));

    // A second import of the same name is refused (a usage error, as for a file), naming the
    // database.
    let out = veritrail(
        &[
            &["ledger", "import", "copy", "--from", s(&export)][..],
            &base,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.contains("already exists in postgres://"), "{said}");
}
