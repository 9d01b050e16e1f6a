//! The `veritrail` binary as a user runs it: exit codes, messages and `--json`.
#![allow(clippy::unwrap_used)]

mod aws_env;
mod crash;
mod ledger;
mod rules;
mod tamper;
mod trail;
mod validate_logs;
mod verify;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/qldb/vehicle-registration")
        .join(name)
}

/// A real CloudTrail log file from the shared dataset (`$VERITRAIL_SHARED` or `../shared`).
pub fn cloudtrail_file(name: &str) -> PathBuf {
    let shared = std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = shared
        .join("data/cloudtrail/invictus-aws-dataset")
        .join(name);
    assert!(p.is_file(), "missing shared data {}", p.display());
    p
}

pub fn veritrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veritrail-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
