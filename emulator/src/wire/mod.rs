//! The AWS wire protocols, shared by every service: the request value each HTTP request is
//! parsed into once ([`AwsRequest`]), SigV4 credential scopes, query strings and
//! percent-encoding, JSON and XML bodies, timestamps, and the error shapes of each protocol.
//! Nothing here knows a particular service; [`crate::route`] uses these pieces to classify a
//! request, and the services use them to read and answer it.

pub mod error;
pub mod json;
pub mod query;
pub mod sigv4;
pub mod time;
pub mod xml;

use std::net::IpAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};

pub use error::{ErrorBody, ErrorInfo};
pub use query::Query;

use crate::ops::{Operation, Protocol};

/// Lower-case hex of `bytes` (ETags, digests).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What a request addresses, decoded from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    None,
    Bucket(String),
    Object {
        bucket: String,
        key: String,
    },
    /// A QLDB ledger, and the id under it (export or stream) when the path has one.
    Ledger {
        name: String,
        child: Option<String>,
    },
    /// A resource named by ARN (QLDB's tag operations).
    Arn(String),
}

/// One request, parsed once by [`crate::route::parse`]: which service and operation it is, who
/// sent it from where, and its parts. Handlers, the CloudTrail record of the call and the choice
/// of thread all read this value.
#[derive(Debug, Clone)]
pub struct AwsRequest {
    pub operation: Operation,
    pub protocol: Protocol,
    /// What the path addresses (bucket and key, ledger, ARN), decoded.
    pub resource: Resource,
    /// The region of the SigV4 credential scope (`us-east-1` when unsigned).
    pub region: String,
    /// The access key of the SigV4 credential (`None` when unsigned). When the emulator
    /// authenticates, it is the key of [`AwsRequest::identity`].
    pub access_key: Option<String>,
    /// The identity the request proved (`None` unless the emulator authenticates; then every
    /// request that reaches a handler has one).
    pub identity: Option<crate::auth::Identity>,
    /// The id the answer carries (`x-amzn-RequestId`, `x-amz-request-id`) and the record names.
    pub request_id: String,
    pub method: Method,
    /// The path as sent (still percent-encoded).
    pub path: String,
    pub query: Query,
    /// The query string as sent (still percent-encoded), for checking signatures.
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The JSON body of a JSON-protocol request, parsed once (an empty body is `{}`).
    pub json: Option<serde_json::Value>,
    pub source_ip: IpAddr,
}

impl AwsRequest {
    /// A header's value as text (`None` when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `User-Agent` the client sent.
    pub fn user_agent(&self) -> &str {
        self.header("user-agent").unwrap_or("unknown")
    }

    /// The parsed JSON body (`{}` for protocols without one).
    pub fn json(&self) -> &serde_json::Value {
        static EMPTY: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
        self.json
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(|| serde_json::json!({})))
    }
}
