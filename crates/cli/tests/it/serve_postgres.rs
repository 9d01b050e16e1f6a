//! `veritrail serve --storage postgres://…`: the emulator's QLDB ledgers (the default `audit`
//! ledger and those clients create) live in a real local PostgreSQL server, not in files. The
//! AWS CLI creates, reads and deletes a ledger there; a reader process answers digests while
//! the server writes; a restart finds the ledgers again; a second server with its own data
//! directory on the same database is refused a ledger name already there; `ledger verify`
//! passes on what the server wrote; bad and unreachable storage stops the start with exit 2.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use veritrail_ledger::StorageChoice;
use veritrail_ledger::storage::postgres::server::LocalServer;

use crate::aws_env::{aws, aws_env};
use crate::postgres::{said_unreachable, unreachable_url};
use crate::serve::terminate;
use crate::{s, scratch, serve, serve_with, text, veritrail, veritrail_ok};

/// Runs `aws ARGS` against the emulator at `addr`: (exit code, stdout, stderr).
fn aws_at(addr: &str, home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(aws());
    aws_env(&mut cmd, &format!("http://{addr}"), home);
    let out = cmd.args(args).output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn aws_json(addr: &str, home: &Path, args: &[&str]) -> Value {
    let (code, out, err) = aws_at(addr, home, args);
    assert_eq!(code, Some(0), "aws {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws {args:?}: {e}: {out}"))
}

/// CreateLedger `bank` (without deletion protection) through the AWS CLI.
fn create_bank(addr: &str, home: &Path) -> (Option<i32>, String, String) {
    let args = [
        "qldb",
        "create-ledger",
        "--name",
        "bank",
        "--permissions-mode",
        "STANDARD",
    ];
    aws_at(
        addr,
        home,
        &[&args[..], &["--no-deletion-protection"]].concat(),
    )
}

/// Reads the server's standard output up to its `audit trail:` line.
fn audit_line(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    while !line.starts_with("audit trail:") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve stopped early");
    }
    line
}

#[test]
fn serve_keeps_its_ledgers_in_postgresql() {
    let server = LocalServer::start().unwrap();
    let url = server.new_database("serve").unwrap().to_string();
    let storage = StorageChoice::parse(&url).unwrap();
    let dir = scratch("serve-pg");
    let (data, home) = (dir.join("data"), dir.join("home"));
    std::fs::create_dir_all(&home).unwrap();
    let ledgers = data.join("ledgers");

    let (child, mut out, addr) = serve_with(&["--storage", &url], s(&data));
    let mut child = child;
    let said = audit_line(&mut out);
    assert!(
        said.contains(&format!("ledger audit (schema veritrail_audit of {url};")),
        "{said}"
    );
    assert!(
        storage
            .ledger_exists(&ledgers.join("audit.ledger"))
            .unwrap()
    );
    assert!(!ledgers.join("audit.ledger").exists(), "no journal file");

    // A ledger the AWS CLI creates is a schema of the database, read back through QLDB.
    let (code, _, err) = create_bank(&addr, &home);
    assert_eq!(code, Some(0), "{err}");
    let bank = ledgers.join("bank.ledger");
    assert!(storage.ledger_exists(&bank).unwrap());
    assert!(!bank.exists());
    let digest = aws_json(&addr, &home, &["qldb", "get-digest", "--name", "bank"]);
    assert!(
        digest["Digest"].as_str().is_some_and(|d| !d.is_empty()),
        "{digest}"
    );

    // Another process reads the ledger the server writes (the server holds the lease).
    let d = s(&ledgers);
    let reader = veritrail_ok(&[
        "ledger",
        "digest",
        "bank",
        "--data-dir",
        d,
        "--storage",
        &url,
    ]);
    assert!(!reader.trim().is_empty());

    // A second server with its own data directory on the same database: the name is taken.
    let other = dir.join("other");
    let (second, second_addr) = serve(s(&other), &["--storage", &url]);
    let mut second = second;
    let (code, _, err) = create_bank(&second_addr, &home);
    assert_ne!(code, Some(0));
    assert!(err.contains("ResourceAlreadyExistsException"), "{err}");
    assert!(err.contains("already exists in postgres://"), "{err}");
    assert_eq!(terminate(&mut second.0), Some(0));

    // DeleteLedger drops the schema.
    let (code, _, err) = aws_at(&addr, &home, &["qldb", "delete-ledger", "--name", "bank"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!storage.ledger_exists(&bank).unwrap());
    let (code, _, err) = aws_at(&addr, &home, &["qldb", "describe-ledger", "--name", "bank"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert_eq!(terminate(&mut child.0), Some(0));

    // What the server wrote verifies, from the database, against its signed checkpoint.
    let keys = data.join("keys");
    let verified = veritrail_ok(&[
        "ledger",
        "verify",
        "audit",
        "--data-dir",
        d,
        "--key-dir",
        s(&keys),
        "--storage",
        &url,
    ]);
    assert!(verified.starts_with("OK ledger audit"), "{verified}");

    // Restarted on the same data and database, the server finds its ledger again.
    let (child, mut out, _) = serve_with(&["--storage", &url], s(&data));
    let mut child = child;
    let said = audit_line(&mut out);
    assert!(said.contains("schema veritrail_audit"), "{said}");
    assert_eq!(terminate(&mut child.0), Some(0));
}

#[test]
fn serve_refuses_storage_it_cannot_use_with_exit_2() {
    let dir = scratch("serve-pg-bad");
    let d = s(&dir);
    let out = veritrail(&[
        "serve",
        "--no-defaults",
        "--data-dir",
        d,
        "--storage",
        "mysql://a@b/c",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--storage"),
        "{}",
        text(&out.stderr)
    );

    // A database that cannot be reached stops the start.
    let url = unreachable_url();
    let out = veritrail(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        d,
        "--storage",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    said_unreachable(&out);
}
