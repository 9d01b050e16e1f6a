//! `cargo xtask bench validate-logs`: a trail of 30 emulated days (720 hourly digests, a log
//! file every 5 minutes: 8,640) delivered by the emulator, then validated through S3 by
//! `veritrail validate-logs` and by the real `aws cloudtrail validate-logs` (awscli 1.40.45,
//! the baseline) against the same emulator in the same run. Prints files/s for each and the
//! ratio as JSON lines; both must find every file valid.
//!
//! Two rounds: loopback as is, where both sides share this machine's CPUs, and then with 5 ms
//! added to every answer, as a remote S3 endpoint has, where awscli's one-request-at-a-time
//! traversal waits and veritrail's parallel fetches do not. The floor of each round is the same
//! objects fetched through the AWS SDK for Rust, 32 at a time, with no checks.
//!
//! Options: `--days N` (default 30), `--latency-ms MS` for the second round (default 5).

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;
use std::sync::Arc;
use veritrail_core::time::Stopwatch;

use axum::http::{HeaderMap, HeaderValue, Method};

#[path = "../tests/it/aws_env.rs"]
mod aws_env;
use veritrail_core::time::{ManualClock, UtcMillis};

const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const ARN: &str = "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit";

fn emit(metric: &str, value: f64, unit: &str) {
    println!(
        "{{\"bench\":\"validate-logs\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\"}}"
    );
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, value);
        }
    }
    h
}

fn cloudtrail(op: &str) -> HeaderMap {
    let target = format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
    headers(&[
        ("x-amz-target", &target),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIABENCH/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00",
        ),
    ])
}

/// Runs one validator; returns (seconds, exit code, stdout).
fn timed(mut cmd: Command, url: &str, home: &std::path::Path) -> (f64, i32, String) {
    aws_env::aws_env(&mut cmd, url, home);
    let t = Stopwatch::start();
    let out = cmd.output().expect("the validator runs");
    (
        t.elapsed().as_secs_f64(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let days: i64 = args
        .iter()
        .position(|a| a == "--days")
        .and_then(|i| args.get(i + 1))
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let running = rt
        .block_on(veritrail_emulator::spawn_with(|c| {
            c.clock = Arc::new(ManualClock::new(UtcMillis(T0), 0));
        }))
        .expect("the emulator starts");
    let emu = running.emulator.clone();
    let s3 = headers(&[
        ("x-amz-bucket-object-lock-enabled", "true"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIABENCH/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
    ]);
    assert_eq!(
        emu.handle(&Method::PUT, "/evidence", &s3, b"").status(),
        200
    );
    let policy =
        veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("evidence");
    assert_eq!(
        emu.handle(&Method::PUT, "/evidence?policy", &s3, policy.as_bytes())
            .status(),
        204
    );
    let trail = br#"{"Name":"audit","S3BucketName":"evidence","EnableLogFileValidation":true}"#;
    assert_eq!(
        emu.handle(&Method::POST, "/", &cloudtrail("CreateTrail"), trail)
            .status(),
        200
    );
    let name = br#"{"Name":"audit"}"#;
    assert_eq!(
        emu.handle(&Method::POST, "/", &cloudtrail("StartLogging"), name)
            .status(),
        200
    );

    // One call in every 5-minute window, so each window delivers a log file.
    let t = Stopwatch::start();
    let describe = cloudtrail("DescribeTrails");
    for _ in 0..days * 288 {
        assert_eq!(
            emu.handle(&Method::POST, "/", &describe, b"{}").status(),
            200
        );
        emu.clock().advance(300_000).expect("forward");
        emu.deliver().expect("delivered");
    }
    let prefix = "AWSLogs/000000000000/";
    let digests = emu
        .s3_keys("evidence", &format!("{prefix}CloudTrail-Digest/"))
        .len();
    let logs = emu
        .s3_keys("evidence", &format!("{prefix}CloudTrail/"))
        .len();
    emit("emulated_days", days as f64, "days");
    emit("delivery_seconds", t.elapsed().as_secs_f64(), "s");
    emit("digest_files", digests as f64, "files");
    emit("log_files", logs as f64, "files");
    let files = (digests + logs) as f64;

    let home = std::env::temp_dir().join(format!("veritrail-bench-vl-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a home");
    let end = veritrail_verify::validate_logs::format_time(UtcMillis(T0 + days * 86_400_000));
    let range = [
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-01-01T00:00:00Z",
        "--end-time",
        &end,
    ];
    let keys: Vec<String> = emu.s3_keys("evidence", prefix);
    let latency_ms: u64 = args
        .iter()
        .position(|a| a == "--latency-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|d| d.parse().ok())
        .unwrap_or(5);
    for (round, latency) in [("loopback", 0), ("latency", latency_ms)] {
        emu.set_latency(std::time::Duration::from_millis(latency));
        emit(&format!("{round}/added_latency"), latency as f64, "ms");
        let floor = rt.block_on(sdk_fetch_all(&running.url, &keys));
        emit(
            &format!("{round}/sdk_fetch_floor_files_per_s"),
            keys.len() as f64 / floor,
            "files/s",
        );

        let mut ours = Command::new(env!("CARGO_BIN_EXE_veritrail"));
        ours.arg("validate-logs").args(range);
        let mut theirs = Command::new(aws_env::aws());
        theirs.args(["cloudtrail", "validate-logs"]).args(range);
        let mut seconds = Vec::new();
        for (tool, cmd) in [("veritrail", ours), ("awscli", theirs)] {
            let (s, code, out) = timed(cmd, &running.url, &home);
            assert_eq!(code, 0, "{tool} validate-logs failed:\n{out}");
            assert!(
                out.contains(&format!("{digests}/{digests} digest files valid")),
                "{out}"
            );
            emit(&format!("{round}/{tool}_seconds"), s, "s");
            emit(&format!("{round}/{tool}_files_per_s"), files / s, "files/s");
            seconds.push(s);
        }
        emit(
            &format!("{round}/speedup_vs_awscli"),
            seconds[1] / seconds[0],
            "x",
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// Fetches every key through the AWS SDK for Rust, 32 at a time; returns the seconds taken.
async fn sdk_fetch_all(url: &str, keys: &[String]) -> f64 {
    let conf = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIABENCH", "secret", None, None, "bench"),
            ),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let client = aws_sdk_s3::Client::new(&conf);
    let t = Stopwatch::start();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for key in keys.iter().cloned() {
        let (client, gate) = (client.clone(), Arc::clone(&gate));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let o = client
                .get_object()
                .bucket("evidence")
                .key(key)
                .send()
                .await
                .expect("get");
            o.body.collect().await.expect("body").into_bytes().len()
        });
    }
    while tasks.join_next().await.is_some() {}
    t.elapsed().as_secs_f64()
}
