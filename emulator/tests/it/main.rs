//! The emulator over real TCP: a minimal HTTP/1.1 client (std only) against `spawn()`.
//! End-to-end runs with the AWS SDK clients are in `scenarios/`.
#![allow(clippy::unwrap_used)]

mod cloudtrail;
mod control_plane;
mod delivery;
mod hostile;
#[path = "../../../crates/core/tests/it/mutate.rs"]
mod mutate;
mod s3;
mod session;
mod worm;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

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
