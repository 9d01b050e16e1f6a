//! Official QLDB drivers of other languages, at versions from before QLDB's removal, run
//! unmodified against the emulator (`scenarios/drivers/`). `cargo xtask test` installs them
//! into `target/drivers-venv` (pyqldb 3.2.3, boto3 and botocore 1.40.60).

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyqldb_runs_the_python_sample_flows_unmodified() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("drivers/pyqldb_flows.py");
    let url = emulator.url.clone();
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
    assert!(
        out.status.success(),
        "pyqldb flows failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("pyqldb flows: ok"), "{stdout}");
}
