//! The AWS CLI the tests and `bench validate-logs` run, and the clean AWS environment both it and
//! `veritrail validate-logs` get: no profile, fixed keys, and only the standard
//! `AWS_ENDPOINT_URL` to reach the emulator. Shared by the tests and the bench (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$VERITRAIL_AWSCLI`, else the awscli 1.40.45 `cargo xtask test` installs into
/// `target/awscli-venv`.
pub fn aws() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_AWSCLI") {
        return PathBuf::from(p);
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/awscli-venv/bin/aws");
    assert!(
        bin.is_file(),
        "the AWS CLI is not installed: run `cargo xtask test` (it installs awscli 1.40.45 into target/awscli-venv) or set VERITRAIL_AWSCLI"
    );
    bin
}

/// Points `cmd` at the emulator at `url`, with `home` as its home directory.
pub fn aws_env(cmd: &mut Command, url: &str, home: &Path) {
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", "AKIAAUDITOR")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}
