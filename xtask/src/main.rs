//! Project automation, run as `cargo xtask <command>`:
//!
//! - `tidy`: the crate graph matches `ARCHITECTURE.md`; every Rust file opens with `//!`.
//! - `test`: tidy, the Python and Node.js QLDB drivers for the scenarios (in `target/`), rustfmt check, clippy with warnings denied, every test (nextest when installed), then the ledger's tests and the scenarios again on PostgreSQL (`VERITRAIL_TEST_STORAGE=postgres`).
//! - `live`: the smoke test of the whole system (`live.rs`): provision, activity, delivery, ingest, validate-logs, destroy, against an emulator or a sandbox account.
//! - `coverage`: rewrites `emulator/COVERAGE.md` from the emulator's operation enums.
//!
//! xtask keeps its dependencies to `serde_json` so it builds in seconds.

mod live;
mod tidy;

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test     tidy, rustfmt check, clippy (warnings denied), all tests (nextest when present), ledger tests on PostgreSQL
  tidy     the dependency graph matches ARCHITECTURE.md; every Rust file opens with `//!`
  live     [--endpoint URL | --spawn] the whole system against an emulator, or with VERITRAIL_LIVE=1
           and credentials against AWS: provision, activity, delivery, ingest, validate-logs, destroy
  coverage rewrite emulator/COVERAGE.md from the operation enums in emulator/src/ops.rs
  bench    [ledger|partiql|emulator|validate-logs|rules|ingest] [-- ARGS]  benchmarks as JSON lines
           (ledger: --blocks N --documents N --sizes 1,100,1000; partiql: --accounts N --seconds S;
            emulator: --seconds S; rules: --seconds S)
  help     this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("coverage") => coverage(),
        Some("live") => live::run(&args[1..]),
        Some("tidy") => match tidy::check() {
            Ok(()) => {
                eprintln!("xtask: tidy: ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask: tidy: {e}");
                ExitCode::FAILURE
            }
        },
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(tidy::workspace_root());
    // `cargo run` gave this process xtask's package variables. Build scripts that watch one
    // (ring's watch CARGO_PKG_NAME and CARGO_MANIFEST_DIR) would otherwise run again, and
    // everything above them be rebuilt, each time cargo is run from here after a shell.
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str() {
            if name.starts_with("CARGO_PKG_")
                || matches!(
                    name,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
            {
                cmd.env_remove(name);
            }
        }
    }
    cmd
}

/// Runs one step, printing what it runs; false when it fails.
fn step(name: &str, mut cmd: Command) -> bool {
    eprintln!("xtask: {name}: {cmd:?}");
    match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("xtask: {name} failed ({status})");
            false
        }
        Err(e) => {
            eprintln!("xtask: {name} could not start: {e}");
            false
        }
    }
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Rewrites `emulator/COVERAGE.md`: the unit test that keeps it true writes it first when
/// `VERITRAIL_WRITE_COVERAGE` is set.
fn coverage() -> ExitCode {
    let mut cmd = cargo();
    cmd.env("VERITRAIL_WRITE_COVERAGE", "1").args([
        "test",
        "--quiet",
        "-p",
        "veritrail-emulator",
        "--lib",
        "--",
        "--exact",
        "ops::tests::the_coverage_table_is_current",
    ]);
    if step("coverage", cmd) {
        eprintln!("xtask: coverage: emulator/COVERAGE.md is current");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Benchmarks, in release mode; each prints JSON lines with its baseline measured in the same run.
const BENCHES: &[(&str, &str)] = &[
    ("ledger", "veritrail-ledger"),
    ("partiql", "veritrail-ledger"),
    ("emulator", "veritrail-scenarios"),
    ("validate-logs", "veritrail"),
    ("rules", "veritrail-rules"),
    ("ingest", "veritrail-processor"),
];

fn bench(args: &[String]) -> ExitCode {
    let (selected, extra): (Vec<&String>, Vec<&String>) = match args.iter().position(|a| a == "--")
    {
        Some(i) => (args[..i].iter().collect(), args[i + 1..].iter().collect()),
        None => (args.iter().collect(), Vec::new()),
    };
    for name in &selected {
        if !BENCHES.iter().any(|(b, _)| b == name) {
            eprintln!(
                "xtask: unknown benchmark `{name}`; known: {:?}",
                BENCHES.iter().map(|b| b.0).collect::<Vec<_>>()
            );
            return ExitCode::from(2);
        }
    }
    for (name, package) in BENCHES {
        if !selected.is_empty() && !selected.iter().any(|s| s == name) {
            continue;
        }
        let mut cmd = cargo();
        if *name == "validate-logs" {
            // It races veritrail against the real AWS CLI.
            match aws_cli() {
                Ok(aws) => {
                    cmd.env("VERITRAIL_AWSCLI", aws);
                }
                Err(e) => {
                    eprintln!("xtask: cannot install the AWS CLI for bench validate-logs: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        cmd.args(["bench", "--quiet", "-p", package, "--bench", name, "--"]);
        cmd.args(extra.iter().map(|s| s.as_str()));
        if !step(&format!("bench {name}"), cmd) {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The official QLDB drivers the scenarios run, pinned to versions from before QLDB's removal,
/// DuckDB, which reads the Parquet export back, and the Kinesis Producer Library's published
/// de-aggregator (with the protobuf it runs on), which reads QLDB's journal stream.
const PYTHON_DRIVERS: &[&str] = &[
    "boto3==1.40.60",
    "botocore==1.40.60",
    "pyqldb==3.2.3",
    "duckdb==1.4.4",
    "aws-kinesis-agg==1.2.3",
    "protobuf==7.36.2",
];

/// The AWS CLI the scenarios run. It pins its own botocore (1.38.x), which clashes with the
/// drivers' 1.40.60, so it gets a venv of its own.
const AWS_CLI: &[&str] = &["awscli==1.40.45"];

/// Installs the Python drivers into `target/drivers-venv` unless they are already there;
/// returns the venv's python.
fn python_drivers() -> Result<std::path::PathBuf, String> {
    let venv = python_venv(
        "drivers-venv",
        PYTHON_DRIVERS,
        "import boto3, pyqldb, duckdb, aws_kinesis_agg.deaggregator; assert boto3.__version__ == '1.40.60' and duckdb.__version__ == '1.4.4'",
    )?;
    Ok(venv.join("bin/python"))
}

/// Installs the AWS CLI into `target/awscli-venv` unless it is there; returns its `aws`.
fn aws_cli() -> Result<std::path::PathBuf, String> {
    let venv = python_venv(
        "awscli-venv",
        AWS_CLI,
        "import awscli; assert awscli.__version__ == '1.40.45'",
    )?;
    Ok(venv.join("bin/aws"))
}

/// A venv under `target/` holding `packages`, made unless `ready` (Python code) already passes
/// in it; returns the venv's directory.
fn python_venv(name: &str, packages: &[&str], ready: &str) -> Result<std::path::PathBuf, String> {
    let venv = tidy::workspace_root().join("target").join(name);
    let python = venv.join("bin/python");
    let is_ready = Command::new(&python)
        .args(["-c", ready])
        .output()
        .is_ok_and(|o| o.status.success());
    if is_ready {
        return Ok(venv);
    }
    eprintln!(
        "xtask: installing {} into {}",
        packages.join(" "),
        venv.display()
    );
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3 -m venv could not start: {e}"))?;
    if !made.success() {
        return Err(format!("python3 -m venv {} failed", venv.display()));
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .map_err(|e| format!("pip could not start: {e}"))?;
    if !installed.success() {
        return Err(format!(
            "pip install {} failed (PyPI must be reachable once)",
            packages.join(" ")
        ));
    }
    Ok(venv)
}

/// Installs the Node.js QLDB driver (`scenarios/drivers/package.json`, exact versions) into
/// `target/drivers-node` unless it is there; returns its `node_modules`.
fn node_drivers() -> Result<std::path::PathBuf, String> {
    let root = tidy::workspace_root();
    let dir = root.join("target/drivers-node");
    let modules = dir.join("node_modules");
    let manifest = root.join("scenarios/drivers/package.json");
    let wanted =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let installed = std::fs::read_to_string(dir.join("package.json")).unwrap_or_default();
    if installed == wanted && modules.join("amazon-qldb-driver-nodejs").is_dir() {
        return Ok(modules);
    }
    eprintln!(
        "xtask: installing the Node.js QLDB driver into {}",
        dir.display()
    );
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("package.json"), &wanted)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("npm could not start: {e}"))?;
    if !status.success() {
        return Err("npm install of the Node.js QLDB driver failed (the npm registry must be reachable once)".into());
    }
    Ok(modules)
}

fn test() -> ExitCode {
    if let Err(e) = tidy::check() {
        eprintln!("xtask: tidy: {e}");
        return ExitCode::FAILURE;
    }
    let python = match python_drivers() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("xtask: the Python QLDB driver for the scenarios: {e}");
            return ExitCode::FAILURE;
        }
    };
    let node_modules = match node_drivers() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("xtask: the Node.js QLDB driver for the scenarios: {e}");
            return ExitCode::FAILURE;
        }
    };
    let aws = match aws_cli() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("xtask: the AWS CLI for the scenarios: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    let mut steps = vec![("rustfmt", fmt), ("clippy", clippy)];
    if has_nextest() {
        let mut nextest = cargo();
        nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        nextest.env("VERITRAIL_PYTHON", &python);
        nextest.env("VERITRAIL_NODE_MODULES", &node_modules);
        nextest.env("VERITRAIL_AWSCLI", &aws);
        let mut doc = cargo();
        doc.args(["test", "--workspace", "--doc"]);
        // Doc tests first, so the run closes on nextest's summary of every test.
        steps.push(("doc tests", doc));
        steps.push(("tests (nextest)", nextest));
        let mut on_postgres = cargo();
        // `--workspace` with a filter rather than `-p`: the same features as the run above,
        // so nothing is built again.
        on_postgres.args([
            "nextest",
            "run",
            "--workspace",
            "-E",
            "package(veritrail-ledger) | package(veritrail-scenarios)",
            "--no-fail-fast",
        ]);
        on_postgres.env("VERITRAIL_TEST_STORAGE", "postgres");
        on_postgres.env("VERITRAIL_PYTHON", &python);
        on_postgres.env("VERITRAIL_NODE_MODULES", &node_modules);
        on_postgres.env("VERITRAIL_AWSCLI", &aws);
        steps.push((
            "ledger tests and scenarios on PostgreSQL (nextest)",
            on_postgres,
        ));
    } else {
        let mut tests = cargo();
        tests.args(["test", "--workspace", "--no-fail-fast"]);
        tests.env("VERITRAIL_PYTHON", &python);
        tests.env("VERITRAIL_NODE_MODULES", &node_modules);
        tests.env("VERITRAIL_AWSCLI", &aws);
        steps.push(("tests", tests));
        let mut on_postgres = cargo();
        on_postgres.args([
            "test",
            "-p",
            "veritrail-ledger",
            "-p",
            "veritrail-scenarios",
            "--no-fail-fast",
        ]);
        on_postgres.env("VERITRAIL_TEST_STORAGE", "postgres");
        on_postgres.env("VERITRAIL_PYTHON", &python);
        on_postgres.env("VERITRAIL_NODE_MODULES", &node_modules);
        on_postgres.env("VERITRAIL_AWSCLI", &aws);
        steps.push(("ledger tests and scenarios on PostgreSQL", on_postgres));
    }
    for (name, cmd) in steps {
        if !step(name, cmd) {
            return ExitCode::FAILURE;
        }
    }
    // The whole system once, against an emulator of its own.
    eprintln!("xtask: live (emulator): cargo xtask live --spawn");
    if live::run_code(&["--spawn".to_owned()]) != 0 {
        eprintln!("xtask: live (emulator) failed");
        return ExitCode::FAILURE;
    }
    eprintln!("xtask: all checks passed");
    ExitCode::SUCCESS
}
