//! The emulator over real TCP: a minimal HTTP/1.1 client (std only) against `spawn()`.
//! End-to-end runs with the AWS SDK clients are in `scenarios/`.
#![allow(clippy::unwrap_used)]

mod auth;
mod cloudtrail;
mod control_plane;
mod delivery;
mod events;
mod hostile;
mod iam_kms;
mod journal_streams;
mod kinesis;
mod listing;
#[path = "../../../crates/core/tests/it/mutate.rs"]
mod mutate;
mod s3;
mod secrets;
mod session;
mod sns;
mod sqs;
mod worm;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_emulator::{Config, Emulator, Running};

/// A response: status, headers (lower-case names) and body as JSON (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The AWS error type, from the header and the body (which must agree).
    pub fn error_type(&self) -> &str {
        let header = self.header("x-amzn-errortype").unwrap_or("");
        assert_eq!(
            self.json["__type"].as_str().unwrap_or(""),
            header,
            "header and body disagree"
        );
        header
    }
}

pub fn request(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let (status, headers, body) = exchange(url, method, path, headers, body);
    let json = if body.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    };
    Reply {
        status,
        headers,
        json,
    }
}

/// One HTTP/1.1 exchange: status, headers (lower-case names) and the body as text.
pub fn exchange(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// One CloudTrail (awsJson1_1) call signed with `auth`.
pub fn cloudtrail_call(url: &str, auth: &str, op: &str, body: &serde_json::Value) -> Reply {
    let target = format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
    request(
        url,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        &body.to_string(),
    )
}

pub const SIGNED: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/qldb/aws4_request, SignedHeaders=host, Signature=00",
);

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Puts the bucket policy CloudTrail's guide documents on `bucket`, with S3 credentials `auth`.
pub fn allow_cloudtrail(url: &str, auth: &str, bucket: &str) {
    let (status, _, body) = exchange(
        url,
        "PUT",
        &format!("/{bucket}?policy"),
        &[("Authorization", auth)],
        &veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy(bucket),
    );
    assert_eq!(status, 204, "{body}");
}

/// S3 credentials (SigV4 scope `s3`; signatures are not checked).
pub const S3_AUTH: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
);

/// One S3 exchange with `url`, signed with [`S3_AUTH`].
pub fn s3_call(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let signed: Vec<(&str, &str)> = headers.iter().copied().chain([S3_AUTH]).collect();
    exchange(url, method, path, &signed, body)
}

/// An emulator over a directory of its own, which a test stops, kills and restarts; the
/// directory is removed when the instance is dropped.
#[derive(Debug)]
pub struct Instance {
    pub rt: tokio::runtime::Runtime,
    pub dir: PathBuf,
    pub running: Option<Running>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.running.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Instance {
    /// A fresh directory for test `name` (nextest runs each test in its own process).
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("veritrail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self {
            rt: runtime(),
            dir,
            running: None,
        }
    }

    /// (Re)starts the emulator over the directory with a clock standing at `at` (ms).
    pub fn start(&mut self, at: i64, clock_control: bool) {
        self.try_start(at, clock_control).unwrap();
    }

    /// [`Instance::start`], or why the emulator would not open.
    pub fn try_start(&mut self, at: i64, clock_control: bool) -> Result<(), String> {
        self.kill();
        let mut config = Config::new(&self.dir);
        config.clock = Arc::new(ManualClock::new(UtcMillis(at), 0));
        config.clock_control = clock_control;
        let emulator = Emulator::open(config).map_err(|e| e.to_string())?;
        let running = self
            .rt
            .block_on(veritrail_emulator::serve(
                Arc::new(emulator),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .map_err(|e| e.to_string())?;
        self.running = Some(running);
        Ok(())
    }

    /// Stops serving without the graceful shutdown: as far as the store knows, a kill.
    pub fn kill(&mut self) {
        drop(self.running.take());
    }

    /// Stops gracefully (requests finish, waiting records are committed).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown()).unwrap();
        }
    }

    pub fn url(&self) -> &str {
        &self.running.as_ref().unwrap().url
    }

    /// Creates bucket `name` with Object Lock (and so versioning).
    pub fn lock_bucket(&self, name: &str) {
        let (status, text) = self.s3(
            "PUT",
            &format!("/{name}"),
            &[("x-amz-bucket-object-lock-enabled", "true")],
            "",
        );
        assert_eq!(status, 200, "{text}");
    }

    /// An S3 request: status, and the answer's headers (`name: value` lines), a blank line
    /// and its body.
    pub fn s3(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let (status, h, text) = s3_call(self.url(), method, path, headers, body);
        let head: String = h.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        (status, format!("{head}\n{text}"))
    }
}
