//! Official QLDB drivers of other languages, at versions from before QLDB's removal, run
//! unmodified against the emulator (`scenarios/drivers/`). `cargo xtask test` installs them:
//! pyqldb 3.2.3 with boto3/botocore 1.40.60 into `target/drivers-venv`, and
//! amazon-qldb-driver-nodejs 3.1.0 with @aws-sdk/client-qldb(-session) 3.629.0 into
//! `target/drivers-node`. The same boto3 runs SQS and SNS flows (`drivers/boto3_sqs_sns.py`) and EventBridge's
//! (`drivers/boto3_events.py`), and Kinesis's (`drivers/boto3_kinesis.py`).

use std::path::PathBuf;
use std::process::Command;

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/drivers-venv/bin/python");
    assert!(
        venv.is_file(),
        "the Python QLDB driver is not installed: run `cargo xtask test` (it installs pyqldb 3.2.3 and boto3 1.40.60 into target/drivers-venv) or set VERITRAIL_PYTHON"
    );
    venv
}

/// Runs `drivers/<script>` with the drivers' Python against `url`; insists it ends well and
/// prints `<done>: ok`.
async fn run_python(script: &str, url: &str, done: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("drivers")
        .join(script);
    let url = url.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{done} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{done}: ok")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyqldb_runs_the_python_sample_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    run_python("pyqldb_flows.py", &emulator.url, "pyqldb flows").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_sqs_and_sns_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn_with(|c| c.clock_control = true)
        .await
        .unwrap();
    run_python("boto3_sqs_sns.py", &emulator.url, "boto3 sqs/sns flows").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_kinesis_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn_with(|c| c.clock_control = true)
        .await
        .unwrap();
    run_python("boto3_kinesis.py", &emulator.url, "boto3 kinesis flows").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_eventbridge_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn_with(|c| {
        c.events_http_timeout = std::time::Duration::from_millis(300);
    })
    .await
    .unwrap();
    run_python("boto3_events.py", &emulator.url, "boto3 events flows").await;
}

fn node_modules() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_NODE_MODULES") {
        return PathBuf::from(p);
    }
    let modules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/drivers-node/node_modules");
    assert!(
        modules.join("amazon-qldb-driver-nodejs").is_dir(),
        "the Node.js QLDB driver is not installed: run `cargo xtask test` (it installs it into target/drivers-node) or set VERITRAIL_NODE_MODULES"
    );
    modules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodejs_driver_runs_the_sample_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("drivers/nodejs_flows.js");
    let url = emulator.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(url)
            .env("NODE_PATH", node_modules())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "Node.js driver flows failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("nodejs flows: ok"), "{stdout}");
}
