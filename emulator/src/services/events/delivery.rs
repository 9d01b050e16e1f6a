//! Delivering matched events to targets, as EventBridge does, without ever holding up the call
//! that produced the event.
//!
//! A match becomes a [`Delivery`] row in `aws.sqlite` (committed with the call that made the
//! event, or with the next write for the events of read-only calls). A background task on the
//! emulator's tick takes the rows that are due, calls the targets (API destinations over HTTP,
//! each call bounded by a timeout: 5 s as on AWS), and saves each outcome:
//!
//! - delivered (HTTP 2xx): the row is removed;
//! - a retryable failure (no connection, a timeout, HTTP 429 or 5xx): the row waits, with
//!   exponential backoff and jitter on the emulator's clock (1 s, 2 s, 4 s … at most 5 min;
//!   `Retry-After` when the target asks for longer), until the target's `RetryPolicy`
//!   (`MaximumRetryAttempts`, default 185; `MaximumEventAgeInSeconds`, default 86,400) is spent;
//! - any other failure, or a spent policy: the event goes to the target's dead-letter queue, and
//!   in every case is recorded in `ev_failures` (rule, target, event, error, attempts): a
//!   delivery is never dropped silently.
//!
//! A delivery under way when the emulator is killed is still in its row and is made again
//! after the restart (at least once, as on AWS).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use veritrail_core::time::UtcMillis;

use crate::services::events::model::{ApiDestination, Connection};
use crate::services::events::transform::select;

/// EventBridge's own limit on an API destination call.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read (its head, or an OAuth token response).
const MAX_ANSWER: usize = 64 << 10;
/// Backoff never exceeds this.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// `RetryPolicy` defaults.
const DEFAULT_RETRIES: u32 = 185;
const DEFAULT_MAX_AGE_S: i64 = 86_400;

/// A failed attempt: a code from EventBridge's dead-letter vocabulary (`CONNECTION_FAILURE`,
/// `TIMEOUT`, `ERROR_FROM_TARGET`, `NO_RESOURCE`, `INVALID_JSON`, `INVALID_PARAMETER`,
/// `SDK_CLIENT_ERROR`) and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// One event on its way to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub region: String,
    pub rule_arn: String,
    pub rule_name: String,
    /// The target's settings when the event matched (as PutTargets stored them).
    pub target: Value,
    pub event: Value,
    #[serde(with = "crate::wire::time::millis")]
    pub ingested: UtcMillis,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(with = "crate::services::saved::present")]
    pub last_error: Option<Failure>,
}

impl Delivery {
    pub fn target_id(&self) -> &str {
        self.target.get("Id").and_then(Value::as_str).unwrap_or("")
    }

    pub fn target_arn(&self) -> &str {
        self.target.get("Arn").and_then(Value::as_str).unwrap_or("")
    }

    pub fn dead_letter_arn(&self) -> Option<&str> {
        self.target
            .get("DeadLetterConfig")
            .and_then(|d| d.get("Arn"))
            .and_then(Value::as_str)
    }

    fn policy(&self, member: &str) -> Option<i64> {
        self.target
            .get("RetryPolicy")
            .and_then(|p| p.get(member))
            .and_then(Value::as_i64)
    }

    pub fn max_retries(&self) -> u32 {
        self.policy("MaximumRetryAttempts")
            .map_or(DEFAULT_RETRIES, |n| n.clamp(0, 185) as u32)
    }

    pub fn max_age_ms(&self) -> i64 {
        self.policy("MaximumEventAgeInSeconds")
            .unwrap_or(DEFAULT_MAX_AGE_S)
            .saturating_mul(1000)
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again; `after`: at least this long (ms), when the target said so.
    Retry {
        failure: Failure,
        after: Option<i64>,
    },
    /// Trying again cannot help.
    Fail(Failure),
}

/// What becomes of a delivery after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    RetryAt(UtcMillis),
    /// Give up: to the dead-letter queue (or a recorded failure), with the retry condition that
    /// was spent, if that is why.
    GiveUp(Option<&'static str>),
}

/// The wait before attempt `attempts + 1`: 1 s doubling to at most 5 min, the upper half of it
/// jittered by `seed` (the row id), as EventBridge's "exponential back off and jitter".
pub fn backoff(attempts: u32, seed: i64) -> i64 {
    let base = 1000i64
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF_MS);
    let half = base / 2;
    let jitter = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64) ^ i64::from(attempts))
        .rem_euclid(half.max(1) + 1);
    half + jitter
}

/// Decides what follows a failed attempt (`delivery.attempts` already counts it).
pub fn next_after_failure(
    delivery: &Delivery,
    retryable: bool,
    after: Option<i64>,
    id: i64,
    now: UtcMillis,
) -> Next {
    if !retryable {
        return Next::GiveUp(None);
    }
    if delivery.attempts > delivery.max_retries() {
        return Next::GiveUp(Some("MaximumRetryAttempts"));
    }
    let wait = backoff(delivery.attempts, id).max(after.unwrap_or(0));
    let at = UtcMillis(now.0.saturating_add(wait));
    if at.0.saturating_sub(delivery.ingested.0) > delivery.max_age_ms() {
        return Next::GiveUp(Some("MaximumEventAgeInSeconds"));
    }
    Next::RetryAt(at)
}

/// An OAuth client-credentials exchange a call needs first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth {
    /// The connection's ARN: tokens are kept per connection.
    pub connection: String,
    pub call: HttpCall,
}

/// An HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A call to an API destination, with the token exchange it needs, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub call: HttpCall,
    pub oauth: Option<OAuth>,
}

/// A value of `HttpParameters`: a JSONPath (`$.detail.id`) is read from the event.
fn parameter(value: &str, event: &Value) -> String {
    if value.starts_with("$.") || value == "$" {
        match select(event, value) {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => String::new(),
        }
    } else {
        value.to_owned()
    }
}

/// `[{Key, Value}]` lists of a connection's parameters.
fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let k = p.get("Key")?.as_str()?;
            let v = p.get("Value")?.as_str()?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn header_ok(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t')
}

/// The request that delivers `payload` to `dest`, authorized by `conn` with its full
/// `AuthParameters` (`secret`, from the key store), with the target's `HttpParameters`.
pub fn invocation(
    dest: &ApiDestination,
    conn: &Connection,
    secret: &Value,
    target: &Value,
    event: &Value,
    payload: String,
) -> Result<Invocation, Failure> {
    let http = target.get("HttpParameters");
    // Path parameters fill the endpoint's `*` in order.
    let mut url = String::new();
    let mut values = http
        .and_then(|h| h.get("PathParameterValues"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for (i, part) in dest.endpoint.split('*').enumerate() {
        if i > 0 {
            let v = values
                .next()
                .map(|v| parameter(v, event))
                .unwrap_or_default();
            url.extend(percent_encoding::utf8_percent_encode(
                &v,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        url.push_str(part);
    }
    let invocation_params = secret.get("InvocationHttpParameters");
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any_query = false;
    for (k, v) in pairs(invocation_params.and_then(|p| p.get("QueryStringParameters"))) {
        query.append_pair(&k, &v);
        any_query = true;
    }
    if let Some(q) = http
        .and_then(|h| h.get("QueryStringParameters"))
        .and_then(Value::as_object)
    {
        for (k, v) in q {
            query.append_pair(k, &parameter(v.as_str().unwrap_or_default(), event));
            any_query = true;
        }
    }
    if any_query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.finish());
    }
    let mut headers: Vec<(String, String)> = vec![
        (
            "User-Agent".into(),
            "Amazon/EventBridge/ApiDestinations".into(),
        ),
        (
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        ),
        ("Range".into(), "bytes=0-1048575".into()),
        ("Accept-Encoding".into(), "gzip,deflate".into()),
    ];
    headers.extend(pairs(
        invocation_params.and_then(|p| p.get("HeaderParameters")),
    ));
    if let Some(h) = http
        .and_then(|h| h.get("HeaderParameters"))
        .and_then(Value::as_object)
    {
        for (k, v) in h {
            headers.push((k.clone(), parameter(v.as_str().unwrap_or_default(), event)));
        }
    }
    let mut oauth = None;
    match conn.authorization_type.as_str() {
        "BASIC" => {
            let b = secret.get("BasicAuthParameters");
            let field = |k: &str| b.and_then(|b| b.get(k)).and_then(Value::as_str);
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                field("Username").unwrap_or_default(),
                field("Password").unwrap_or_default()
            ));
            headers.push(("Authorization".into(), format!("Basic {token}")));
        }
        "API_KEY" => {
            let k = secret.get("ApiKeyAuthParameters");
            let field = |n: &str| k.and_then(|k| k.get(n)).and_then(Value::as_str);
            if let (Some(name), Some(value)) = (field("ApiKeyName"), field("ApiKeyValue")) {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        _ => oauth = Some(oauth_exchange(conn, secret)),
    }
    if let Some((name, _)) = headers
        .iter()
        .find(|(k, v)| !header_ok(k) || !header_ok(v) || k.is_empty())
    {
        return Err(Failure::new(
            "INVALID_PARAMETER",
            format!("header {name:?} has a name or value HTTP does not allow"),
        ));
    }
    // Body parameters of the connection join a JSON object body.
    let body_params = pairs(invocation_params.and_then(|p| p.get("BodyParameters")));
    let body = match serde_json::from_str::<Value>(&payload) {
        Ok(Value::Object(mut o)) if !body_params.is_empty() => {
            for (k, v) in body_params {
                o.insert(k, Value::String(v));
            }
            Value::Object(o).to_string()
        }
        _ => payload,
    };
    Ok(Invocation {
        call: HttpCall {
            method: dest.method.clone(),
            url,
            headers,
            body: body.into_bytes(),
        },
        oauth,
    })
}

/// The client-credentials request of an OAuth connection.
fn oauth_exchange(conn: &Connection, secret: &Value) -> OAuth {
    let o = secret.get("OAuthParameters");
    let get = |path: &[&str]| {
        let mut v = o;
        for p in path {
            v = v.and_then(|x| x.get(*p));
        }
        v.and_then(Value::as_str).unwrap_or_default().to_owned()
    };
    let params = o.and_then(|o| o.get("OAuthHttpParameters"));
    let mut url = get(&["AuthorizationEndpoint"]);
    let query = pairs(params.and_then(|p| p.get("QueryStringParameters")));
    if !query.is_empty() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query {
            q.append_pair(k, v);
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&q.finish());
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    for (k, v) in pairs(params.and_then(|p| p.get("BodyParameters"))) {
        form.append_pair(&k, &v);
    }
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        get(&["ClientParameters", "ClientID"]),
        get(&["ClientParameters", "ClientSecret"])
    ));
    let mut headers = vec![
        ("Authorization".into(), format!("Basic {credentials}")),
        (
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("Accept".into(), "application/json".into()),
    ];
    headers.extend(pairs(params.and_then(|p| p.get("HeaderParameters"))));
    OAuth {
        connection: conn.arn(),
        call: HttpCall {
            method: get(&["HttpMethod"]),
            url,
            headers,
            body: form.finish().into_bytes(),
        },
    }
}

/// What an HTTP exchange gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    /// `Retry-After` in seconds (negative: stop retrying).
    retry_after: Option<i64>,
    body: Vec<u8>,
}

/// Why an HTTP exchange gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    Connect(String),
    Timeout,
    /// The answer could not be read (closed early, not HTTP).
    Answer(String),
    /// Never worth retrying (an https endpoint; the emulator has no TLS client).
    Unsupported(String),
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Removes chunked framing (bounded by what was read).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(raw, b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        let start = eol + 2;
        let end = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        raw = raw.get(end + 2..).unwrap_or_default();
    }
    out
}

/// One HTTP/1.1 exchange (`Connection: close`): the status and `Retry-After`, and the body when
/// `read_body` (at most [`MAX_ANSWER`] bytes).
async fn exchange(call: &HttpCall, read_body: bool) -> Result<Answer, Refusal> {
    let uri: axum::http::Uri = call.url.parse().map_err(|e| {
        Refusal::Unsupported(format!("the endpoint {:?} is not a URL: {e}", call.url))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(Refusal::Unsupported(
                "veritrail's emulator has no TLS client: give API destinations an http:// endpoint"
                    .into(),
            ));
        }
        _ => {
            return Err(Refusal::Unsupported(format!(
                "the endpoint {:?} is not an http:// URL",
                call.url
            )));
        }
    }
    let authority = uri
        .authority()
        .ok_or_else(|| Refusal::Unsupported(format!("the endpoint {:?} has no host", call.url)))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Refusal::Connect(format!("{authority}: {e}")))?;
    let mut head = format!("{} {target} HTTP/1.1\r\nHost: {authority}\r\n", call.method);
    for (k, v) in &call.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n",
        call.body.len()
    ));
    let io = |e: std::io::Error| Refusal::Answer(e.to_string());
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    stream.write_all(&call.body).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_ANSWER {
            return Err(Refusal::Answer("the answer's head is too long".into()));
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(Refusal::Answer(
                "the connection closed before an answer".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| {
            let mut parts = l.split(' ');
            let version = parts.next()?;
            version.starts_with("HTTP/1.").then_some(())?;
            parts.next()?.parse::<u16>().ok()
        })
        .ok_or_else(|| Refusal::Answer(format!("not an HTTP answer: {:?}", head.lines().next())))?;
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let retry_after = header("retry-after").and_then(|v| v.parse::<i64>().ok());
    let mut body = Vec::new();
    if read_body {
        body.extend_from_slice(&buf[head_end + 4..]);
        let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
        while body.len() < length.unwrap_or(MAX_ANSWER).min(MAX_ANSWER) {
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            body = dechunk(&body);
        }
        body.truncate(length.unwrap_or(MAX_ANSWER).min(MAX_ANSWER));
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// [`exchange`] within `timeout`.
async fn timed(call: &HttpCall, read_body: bool, timeout: Duration) -> Result<Answer, Refusal> {
    tokio::time::timeout(timeout, exchange(call, read_body))
        .await
        .unwrap_or(Err(Refusal::Timeout))
}

fn refused(r: Refusal, what: &str) -> Outcome {
    match r {
        Refusal::Connect(m) => Outcome::Retry {
            failure: Failure::new(
                "CONNECTION_FAILURE",
                format!("Unable to connect to {what}: {m}"),
            ),
            after: None,
        },
        Refusal::Timeout => Outcome::Retry {
            failure: Failure::new("TIMEOUT", format!("{what} did not answer in time")),
            after: None,
        },
        Refusal::Answer(m) => Outcome::Retry {
            failure: Failure::new("ERROR_FROM_TARGET", format!("{what}: {m}")),
            after: None,
        },
        Refusal::Unsupported(m) => Outcome::Fail(Failure::new("SDK_CLIENT_ERROR", m)),
    }
}

/// OAuth access tokens, per connection, fetched when first needed and again after a 401 or 407.
#[derive(Debug, Default)]
pub struct Tokens(Mutex<HashMap<String, String>>);

impl Tokens {
    fn get(&self, connection: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection)
            .cloned()
    }

    fn put(&self, connection: &str, token: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match token {
            Some(t) => map.insert(connection.to_owned(), t),
            None => map.remove(connection),
        };
    }
}

/// Fetches a client-credentials token.
async fn token(oauth: &OAuth, timeout: Duration) -> Result<String, Outcome> {
    let answer = timed(&oauth.call, true, timeout)
        .await
        .map_err(|r| refused(r, "the OAuth authorization endpoint"))?;
    let failure = |m: String| Failure::new("ERROR_FROM_TARGET", m);
    if !(200..300).contains(&answer.status) {
        let f = failure(format!(
            "the OAuth authorization endpoint answered HTTP {}",
            answer.status
        ));
        return Err(if answer.status == 429 || answer.status >= 500 {
            Outcome::Retry {
                failure: f,
                after: None,
            }
        } else {
            Outcome::Fail(f)
        });
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            Outcome::Fail(failure(
                "the OAuth authorization endpoint's answer has no access_token".into(),
            ))
        })
}

/// Makes one attempt of an API destination call, within `timeout` per HTTP exchange.
pub async fn invoke(inv: &Invocation, tokens: &Tokens, timeout: Duration) -> Outcome {
    let mut call = inv.call.clone();
    if let Some(oauth) = &inv.oauth {
        let bearer = match tokens.get(&oauth.connection) {
            Some(t) => t,
            None => match token(oauth, timeout).await {
                Ok(t) => {
                    tokens.put(&oauth.connection, Some(t.clone()));
                    t
                }
                Err(outcome) => return outcome,
            },
        };
        call.headers
            .push(("Authorization".into(), format!("Bearer {bearer}")));
    }
    let answer = match timed(&call, false, timeout).await {
        Ok(a) => a,
        Err(r) => return refused(r, "the API destination endpoint"),
    };
    let status = answer.status;
    let failure = Failure::new(
        "ERROR_FROM_TARGET",
        format!("the API destination endpoint answered HTTP {status}"),
    );
    match status {
        200..=299 => Outcome::Delivered,
        401 | 407 if inv.oauth.is_some() => {
            // The token may have expired: fetch a new one next time.
            if let Some(o) = &inv.oauth {
                tokens.put(&o.connection, None);
            }
            Outcome::Retry {
                failure,
                after: None,
            }
        }
        429 | 500..=599 => match answer.retry_after {
            Some(s) if s < 0 => Outcome::Fail(failure),
            after => Outcome::Retry {
                failure,
                after: after.map(|s| s.saturating_mul(1000)),
            },
        },
        _ => Outcome::Fail(failure),
    }
}

/// What `ev_failures` records of a delivery that failed for good.
pub fn failure_record(
    d: &Delivery,
    failure: &Failure,
    exhausted: Option<&str>,
    dead_letter: Option<(&str, Result<String, String>)>,
    at: UtcMillis,
) -> Value {
    let mut v = json!({
        "ruleArn": d.rule_arn,
        "targetId": d.target_id(),
        "targetArn": d.target_arn(),
        "event": d.event,
        "errorCode": failure.code,
        "errorMessage": failure.message,
        "attempts": d.attempts,
        "exhaustedRetryCondition": exhausted,
        "failedAt": crate::wire::time::iso8601_seconds(at),
    });
    if let Some((arn, result)) = dead_letter {
        let mut dlq = Map::new();
        dlq.insert("arn".into(), json!(arn));
        match result {
            Ok(id) => dlq.insert("messageId".into(), json!(id)),
            Err(e) => dlq.insert("error".into(), json!(e)),
        };
        v["deadLetterQueue"] = Value::Object(dlq);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(target: Value) -> Delivery {
        Delivery {
            region: "us-east-1".into(),
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r".into(),
            rule_name: "r".into(),
            target,
            event: json!({}),
            ingested: UtcMillis(0),
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn backoff_grows_to_five_minutes_with_jitter() {
        for id in [1, 7, 1_000_003] {
            let waits: Vec<i64> = (1..=12).map(|a| backoff(a, id)).collect();
            assert!((500..=1000).contains(&waits[0]), "{waits:?}");
            assert!((1000..=2000).contains(&waits[1]));
            assert!(waits.iter().all(|w| *w <= MAX_BACKOFF_MS));
            assert!(waits[11] >= MAX_BACKOFF_MS / 2);
        }
        assert_ne!(backoff(3, 1), backoff(3, 2), "jittered by the row");
    }

    #[test]
    fn the_retry_policy_bounds_attempts_and_age() {
        let mut d = delivery(json!({"Id": "t", "Arn": "a",
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}}));
        d.attempts = 1;
        assert!(matches!(
            next_after_failure(&d, true, None, 1, UtcMillis(1000)),
            Next::RetryAt(_)
        ));
        d.attempts = 3;
        assert_eq!(
            next_after_failure(&d, true, None, 1, UtcMillis(1000)),
            Next::GiveUp(Some("MaximumRetryAttempts"))
        );
        d.attempts = 1;
        assert_eq!(
            next_after_failure(&d, true, None, 1, UtcMillis(59_900)),
            Next::GiveUp(Some("MaximumEventAgeInSeconds"))
        );
        assert_eq!(
            next_after_failure(&d, false, None, 1, UtcMillis(0)),
            Next::GiveUp(None)
        );
        // Retry-After longer than the backoff is honoured.
        assert_eq!(
            next_after_failure(&d, true, Some(30_000), 1, UtcMillis(1000)),
            Next::RetryAt(UtcMillis(31_000))
        );
        let defaults = delivery(json!({"Id": "t", "Arn": "a"}));
        assert_eq!(defaults.max_retries(), 185);
        assert_eq!(defaults.max_age_ms(), 86_400_000);
    }

    #[test]
    fn chunked_answers_are_read() {
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"),
            b"{\"a\":1}"
        );
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }
}
