//! Hostile input never kills or wedges the server (issue 10, item 1).
//!
//! Generated and mutated requests go to every route kind through the router (`server::app`,
//! no socket): awsJson with `X-Amz-Target` (QLDB sessions, CloudTrail, EventBridge, services
//! not served),
//! QLDB's rest-json paths, S3's rest-xml with random subresources, headers and bodies,
//! query-protocol forms for services not served, and the clock endpoint. Every answer must be a
//! success or a 4xx in the protocol's own error shape (never a 5xx for a client's mistake, S3's
//! 501 NotImplemented aside), and after every case the server must still answer simple requests
//! within a deadline. The fixed attacks of issue 10 follow, over real TCP.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::qldb::CommitDigest;
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_emulator::ops::{
    CloudTrailOp, EventsOp, IamOp, KmsOp, QLDB_BINDINGS, S3_BINDINGS, SecretsManagerOp, SqsOp,
    StsOp,
};
use veritrail_emulator::{Running, route};

use crate::mutate::{config, mutated};
use crate::runtime;

// ---- requests, answers and the checks every answer must pass ------------------------------

/// A request as generated: the path is already percent-encoded.
#[derive(Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Text where it is text, so that a failing case can be read.
impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |b: &[u8]| {
            let text = String::from_utf8_lossy(b);
            match text.char_indices().nth(2000) {
                Some((i, _)) => format!("{}… ({} bytes)", &text[..i], b.len()),
                None => text.into_owned(),
            }
        };
        f.debug_struct("Req")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", show(v)))
                    .collect::<Vec<_>>(),
            )
            .field("body", &show(&self.body))
            .finish()
    }
}

impl Req {
    fn new(method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: body.into(),
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The error shape a route kind answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// awsJson and rest-json: `x-amzn-ErrorType` and `{"__type", "message"}`.
    Json,
    /// S3: `<Error><Code/><Message/>…<RequestId/></Error>`.
    RestXml,
    /// IAM, STS, SNS, SQS as awscli 1.x speaks them: `<ErrorResponse><Error><Type>Sender…`.
    QueryXml,
    /// The emulator's own endpoint: `{"message"}`.
    Clock,
}

/// A success, or a client error in `shape`; never a 5xx (S3's NotImplemented aside).
fn check(shape: Shape, head: bool, a: &Answer) -> Result<(), TestCaseError> {
    let text = a.text();
    if a.status >= 500 {
        let not_implemented = a.status == 501
            && (head || text.contains("<Code>NotImplemented</Code>"))
            && shape == Shape::RestXml;
        prop_assert!(
            not_implemented,
            "a client's request got {}: {text}",
            a.status
        );
    }
    if a.status < 400 || head {
        return Ok(());
    }
    match shape {
        Shape::Json => {
            let kind = a
                .headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let v = a.json();
            prop_assert!(
                !kind.is_empty() && v["__type"].as_str() == Some(kind) && v["message"].is_string(),
                "not an AWS JSON error: {} {kind} {text}",
                a.status
            );
        }
        Shape::RestXml => prop_assert!(
            text.starts_with("<?xml")
                && text.contains("<Error><Code>")
                && text.contains("</Message>")
                && text.contains("<RequestId>"),
            "not an S3 error: {} {text}",
            a.status
        ),
        Shape::QueryXml => prop_assert!(
            text.contains("<ErrorResponse><Error><Type>Sender</Type><Code>")
                && text.contains("<RequestId>"),
            "not a query-protocol error: {} {text}",
            a.status
        ),
        Shape::Clock => prop_assert!(
            a.json()["message"].is_string(),
            "not a clock error: {} {text}",
            a.status
        ),
    }
    Ok(())
}

const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
const QLDB_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/qldb/aws4_request, SignedHeaders=host, Signature=00";
const CT_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00";
const SESSION_TARGET: (&str, &str) = ("x-amz-target", "QLDBSession.SendCommand");
const JSON10: (&str, &str) = ("content-type", "application/x-amz-json-1.0");

/// What to do after a generated request was answered (end the session it used …).
type After = Box<dyn FnOnce(&Target)>;

/// How long one answer may take before the server counts as wedged.
const DEADLINE: Duration = Duration::from_secs(30);

/// An emulator under attack: served over TCP (for the fixed cases) and called through its
/// router (for the generated ones).
struct Target {
    rt: tokio::runtime::Runtime,
    running: Running,
    router: Router,
}

impl Target {
    fn new(clock_control: bool) -> Self {
        let rt = runtime();
        let running = rt
            .block_on(veritrail_emulator::spawn_with(|c| {
                // 2024-01-01, standing still: only the clock endpoint moves it.
                c.clock = Arc::new(ManualClock::new(UtcMillis(1_704_067_200_000), 0));
                c.clock_control = clock_control;
            }))
            .unwrap();
        let router = veritrail_emulator::server::app(Arc::clone(&running.emulator));
        Self {
            rt,
            running,
            router,
        }
    }

    /// Sends through the router; a request `http` cannot even express is not sent (`None`).
    fn send(&self, req: &Req) -> Result<Option<Answer>, TestCaseError> {
        let mut builder = Request::builder()
            .method(req.method.as_str())
            .uri(req.path.as_str());
        for (k, v) in &req.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_bytes(v),
            ) {
                builder = builder.header(k, v);
            }
        }
        let Ok(request) = builder.body(Body::from(req.body.clone())) else {
            return Ok(None);
        };
        let router = self.router.clone();
        self.rt.block_on(async move {
            let response = tokio::time::timeout(DEADLINE, router.oneshot(request))
                .await
                .map_err(|_| TestCaseError::fail(format!("no answer within {DEADLINE:?}")))?
                .map_err(|e| TestCaseError::fail(format!("the router failed: {e}")))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = tokio::time::timeout(
                DEADLINE,
                axum::body::to_bytes(response.into_body(), usize::MAX),
            )
            .await
            .map_err(|_| TestCaseError::fail("the body never ended"))?
            .map_err(|e| TestCaseError::fail(format!("the body failed: {e}")))?;
            Ok(Some(Answer {
                status,
                headers,
                body: body.to_vec(),
            }))
        })
    }

    fn call(&self, req: &Req) -> Answer {
        self.send(req).unwrap().unwrap()
    }

    /// The server still answers: S3 ListBuckets and QLDB ListLedgers.
    fn alive(&self) -> Result<(), TestCaseError> {
        for (path, auth) in [("/", S3_AUTH), ("/ledgers", QLDB_AUTH)] {
            let a = self
                .send(&Req::new("GET", path, &[("authorization", auth)], ""))?
                .ok_or_else(|| TestCaseError::fail("no request"))?;
            prop_assert_eq!(a.status, 200, "GET {} after the case: {}", path, a.text());
        }
        Ok(())
    }

    fn session(&self, body: Value) -> Answer {
        self.call(&Req::new(
            "POST",
            "/",
            &[SESSION_TARGET, JSON10, ("authorization", QLDB_AUTH)],
            body.to_string(),
        ))
    }

    /// Creates ledger `name` (deletion protection on) and waits until it is ACTIVE.
    fn ledger(&self, name: &str) {
        let a = self.call(&Req::new(
            "POST",
            "/ledgers",
            &[("authorization", QLDB_AUTH)],
            json!({"Name": name, "PermissionsMode": "STANDARD", "DeletionProtection": true})
                .to_string(),
        ));
        assert_eq!(a.status, 200, "{}", a.text());
        for _ in 0..100 {
            let d = self.call(&Req::new(
                "GET",
                &format!("/ledgers/{name}"),
                &[("authorization", QLDB_AUTH)],
                "",
            ));
            if d.json()["State"] == "ACTIVE" {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("ledger {name} never became ACTIVE");
    }

    /// Starts a session on `ledger` and a transaction in it: (token, transaction id).
    fn transaction(&self, ledger: &str) -> (String, String) {
        let s = self.session(json!({"StartSession": {"LedgerName": ledger}}));
        let token = s.json()["StartSession"]["SessionToken"]
            .as_str()
            .unwrap_or_else(|| panic!("StartSession: {}", s.text()))
            .to_owned();
        let t = self.session(json!({"SessionToken": token, "StartTransaction": {}}));
        let tx = t.json()["StartTransaction"]["TransactionId"]
            .as_str()
            .unwrap_or_else(|| panic!("StartTransaction: {}", t.text()))
            .to_owned();
        (token, tx)
    }

    /// Runs `statements` (each with its parameters) in one committed transaction.
    fn commit(&self, ledger: &str, statements: &[(&str, Vec<Element>)]) {
        let (token, tx) = self.transaction(ledger);
        let mut digest = CommitDigest::new(&tx);
        for (statement, params) in statements {
            digest.add_statement(statement, params);
            let ps: Vec<Value> = params
                .iter()
                .map(|p| json!({"IonBinary": BASE64.encode(p.encode_as(v1_0::Binary).unwrap())}))
                .collect();
            let a = self.session(json!({"SessionToken": token, "ExecuteStatement": {"TransactionId": tx, "Statement": statement, "Parameters": ps}}));
            assert_eq!(a.status, 200, "{statement}: {}", a.text());
        }
        let a = self.session(json!({"SessionToken": token, "CommitTransaction": {"TransactionId": tx, "CommitDigest": BASE64.encode(digest.digest().as_bytes())}}));
        assert_eq!(a.status, 200, "{}", a.text());
        self.session(json!({"SessionToken": token, "EndSession": {}}));
    }

    /// Ledger `fuzz` with table `Fuzz` holding two documents.
    fn fuzz_ledger(&self) {
        self.ledger("fuzz");
        let doc = |text: &str| vec![Element::read_one(text).unwrap()];
        self.commit(
            "fuzz",
            &[
                ("CREATE TABLE Fuzz", vec![]),
                ("INSERT INTO Fuzz ?", doc("{a:1,b:\"x\",c:[1,2]}")),
                ("INSERT INTO Fuzz ?", doc("{a:3,b:\"y\",c:{d:null}}")),
            ],
        );
    }

    /// Buckets `fuzz` (versioned) and `locked` (Object Lock, one day of COMPLIANCE by default),
    /// each with a few objects.
    fn buckets(&self) {
        let s3 = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
            let mut h = vec![("authorization", S3_AUTH)];
            h.extend_from_slice(headers);
            let a = self.call(&Req::new(method, path, &h, body));
            assert!(a.status < 300, "{method} {path}: {}", a.text());
        };
        s3("PUT", "/fuzz", &[], "");
        s3(
            "PUT",
            "/fuzz?versioning",
            &[],
            "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
        );
        s3(
            "PUT",
            "/locked",
            &[("x-amz-bucket-object-lock-enabled", "true")],
            "",
        );
        s3(
            "PUT",
            "/locked?object-lock",
            &[],
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
        );
        for key in ["a", "dir/b", "dir/c"] {
            s3("PUT", &format!("/fuzz/{key}"), &[], key);
            s3("PUT", &format!("/locked/{key}"), &[], key);
        }
    }

    /// Runs `cases` generated requests through `prepare` (which may fill in placeholders and
    /// returns what to do afterwards), checks each answer, and checks the server still answers.
    /// The generated requests must reach the handlers: some succeed, and the errors carry at
    /// least `codes` different codes.
    fn run<S: Strategy<Value = Req>>(
        &self,
        cases: u32,
        strategy: S,
        shape: Shape,
        codes: usize,
        prepare: impl Fn(&Self, Req) -> (Req, After),
    ) {
        let mut settings = config(cases);
        settings.rng_seed = RngSeed::Fixed(0x5eed_0010);
        let mut runner = TestRunner::new(settings);
        let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
        let result = runner.run(&strategy, |req| {
            let (req, after) = prepare(self, req);
            let answer = self.send(&req)?;
            if let Some(a) = &answer {
                check(shape, req.method == "HEAD", a)?;
                *seen.borrow_mut().entry(outcome(a)).or_default() += 1;
            }
            after(self);
            self.alive()
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        let seen = seen.into_inner();
        eprintln!("answers: {seen:?}");
        let errors = seen.keys().filter(|k| !k.starts_with('2')).count();
        assert!(
            seen.contains_key("2xx") || shape == Shape::QueryXml,
            "no generated request succeeded: {seen:?}"
        );
        assert!(errors >= codes, "too few kinds of error: {seen:?}");
        // And over TCP too, after all of that.
        let (status, _, _) = crate::exchange(
            &self.running.url,
            "GET",
            "/",
            &[("Authorization", S3_AUTH)],
            "",
        );
        assert_eq!(status, 200);
    }
}

/// `2xx`, or the status and error code of an answer.
fn outcome(a: &Answer) -> String {
    if a.status < 300 {
        return "2xx".to_owned();
    }
    let text = a.text();
    let code = a
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            let start = text.find("<Code>")? + 6;
            let end = text[start..].find("</Code>")? + start;
            Some(text[start..end].to_owned())
        })
        .unwrap_or_default();
    format!("{} {code}", a.status)
}

fn unchanged(_: &Target, req: Req) -> (Req, After) {
    (req, Box::new(|_| {}))
}

// ---- generators -----------------------------------------------------------------------------

/// Percent-encodes every byte but RFC 3986's unreserved characters (and `/` if `slash`).
fn encode(bytes: &[u8], slash: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Opening brackets of each nesting kind a parser may recurse on, and how they close.
const NESTERS: &[(&str, &str)] = &[
    ("[", "]"),
    ("{a:", "}"),
    ("(", ")"),
    ("a::[", "]"),
    ("(+//[", "])"),
    ("{\"a\":", "}"),
    ("<a>", "</a>"),
];

/// Something nested `n` deep, closed or not.
fn nested(kind: usize, n: usize, closed: bool) -> String {
    let (open, close) = NESTERS[kind % NESTERS.len()];
    let mut s = open.repeat(n);
    if closed {
        s.push_str(&close.repeat(n));
    }
    s
}

fn deep() -> impl Strategy<Value = String> {
    (0..NESTERS.len(), 100usize..3000, any::<bool>()).prop_map(|(k, n, c)| nested(k, n, c))
}

/// Values that matter to some parser or rule of the emulator, and arbitrary text.
fn telling_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec![
            "", "COMPLIANCE", "GOVERNANCE", "compliance", "Governance", "ON", "OFF", "on",
            "true", "false", "Enabled", "Suspended", "enabled", "url", "2", "0", "-1", "1000",
            "1001", "36500", "36501", "100", "101", "106751991168", "18446744073709551616",
            "99999999999999999999999", "1e308", "NaN", "null", "2030-01-01T00:00:00Z",
            "2024-01-01T00:00:00.000Z", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
            "+275760-09-13T00:00:00Z", "1970-01-01T00:00:00Z", "2030-02-30T00:00:00Z",
            "bytes=0-1", "bytes=-5", "bytes=5-1", "bytes=0-18446744073709551615",
            "aws-chunked", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-checksum-crc32",
            "AAAA", "AAAAAA==", "1B2M2Y8AsgTpgAmY7PhCfg==", "fuzz", "locked", "a", "dir/b",
            "dir/", "/", "%FF", "\u{1}", "ledger/fuzz", "arn:aws:qldb:us-east-1:000000000000:ledger/fuzz",
            "ALLOW_ALL", "STANDARD", "ReadOnly", "WriteOnly", "All", "EventName",
            "AWS::S3::Object", "eventCategory", "Management", "Data", "aws:kms", "AES256",
            "alias/fuzz",
        ])
        .prop_map(str::to_owned),
        2 => "[ -~]{0,40}",
        1 => any::<String>(),
        1 => deep(),
    ]
}

/// JSON values whose object members are mostly `names`.
fn json_value(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        telling_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((member(names), inner), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const ANY_NAME: &[&str] = &["a"];

fn member(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(if names.is_empty() { ANY_NAME } else { names }).prop_map(str::to_owned),
        1 => "[A-Za-z]{1,12}",
    ]
}

/// A JSON object body of `names` members, as bytes: as generated, mutated, nested deep, or
/// arbitrary bytes.
fn json_body(names: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let object = proptest::collection::vec((member(names), json_value(names)), 0..6)
        .prop_map(|m| {
            serde_json::to_vec(&Value::Object(m.into_iter().collect::<Map<_, _>>()))
                .unwrap_or_default()
        })
        .boxed();
    prop_oneof![
        5 => object.clone(),
        3 => object.prop_flat_map(mutated),
        1 => deep().prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..100),
    ]
}

/// Ion text: generated values, mutated ones, and deep nesting.
fn ion_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec![
            "null",
            "null.struct",
            "true",
            "nan",
            "+inf",
            "1e308",
            "-0.0d0",
            "2024-01-01T00:00:00Z",
            "{{aGVsbG8=}}",
            "{{\"clob\"}}",
            "'sym'",
            "$ion_symbol_table",
            "\"\"\"long\"\"\"",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{1,30}\\.[0-9]{0,10}",
        "\"[ -~]{0,10}\"",
        "[a-z]{1,8}",
    ];
    let value = leaf
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("({})", v.join(" "))),
                proptest::collection::vec(("[a-zA-Z]{1,8}", inner.clone()), 0..5).prop_map(|v| {
                    let fields: Vec<String> = v.iter().map(|(k, x)| format!("{k}:{x}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
                ("[a-z]{1,5}", inner).prop_map(|(a, x)| format!("{a}::{x}")),
            ]
        })
        .boxed();
    prop_oneof![
        4 => value.clone(),
        1 => Just("{strandId:\"fuzz\",sequenceNo:1}".to_owned()),
        2 => value.prop_flat_map(|t| mutated(t.into_bytes()))
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => deep(),
    ]
}

/// Ion binary: `lists` lists, each inside the next, as one value (the 4-byte version marker
/// first). Built outside in without recursion; each level's length prefix grows with what it
/// holds.
fn nested_binary(lists: usize) -> Vec<u8> {
    fn var_uint(mut n: usize) -> Vec<u8> {
        let mut out = vec![(n & 0x7F) as u8 | 0x80];
        n >>= 7;
        while n > 0 {
            out.push((n & 0x7F) as u8);
            n >>= 7;
        }
        out.reverse();
        out
    }
    let mut heads: Vec<Vec<u8>> = Vec::with_capacity(lists);
    let mut inside = 1usize; // the innermost empty list, 0xB0
    for _ in 1..lists {
        let head = if inside < 14 {
            vec![0xB0 | inside as u8]
        } else {
            let mut h = vec![0xBE];
            h.extend(var_uint(inside));
            h
        };
        inside += head.len();
        heads.push(head);
    }
    let mut out = vec![0xE0, 0x01, 0x00, 0xEA];
    for head in heads.iter().rev() {
        out.extend_from_slice(head);
    }
    out.push(0xB0);
    out
}

fn ion_binary() -> impl Strategy<Value = Vec<u8>> {
    let encoded = ion_text()
        .prop_map(|t| {
            Element::read_one(t.as_bytes())
                .ok()
                .and_then(|e| e.encode_as(v1_0::Binary).ok())
                .unwrap_or_default()
        })
        .boxed();
    prop_oneof![
        2 => encoded.clone(),
        2 => encoded.prop_flat_map(mutated),
        1 => (2usize..3000).prop_map(nested_binary),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| {
            let mut v = vec![0xE0, 0x01, 0x00, 0xEA];
            v.extend(b);
            v
        }),
    ]
}

// ---- QLDB sessions (awsJson 1.0) -------------------------------------------------------------

const STATEMENTS: &[&str] = &[
    "SELECT * FROM Fuzz",
    "SELECT f.a, f.b FROM Fuzz AS f WHERE f.a = ?",
    "SELECT * FROM Fuzz BY id WHERE id = 'x'",
    "SELECT * FROM history(Fuzz) AS h WHERE h.metadata.version > 0",
    "SELECT * FROM Fuzz AS f, Fuzz AS g WHERE f.a = g.a",
    "INSERT INTO Fuzz ?",
    "INSERT INTO Fuzz << {'a': 1}, {'a': 2} >>",
    "UPDATE Fuzz AS f SET f.a = f.a + 1 WHERE f.b = 'x'",
    "DELETE FROM Fuzz AS f WHERE f.a = 3",
    "CREATE TABLE Other",
    "CREATE INDEX ON Fuzz (a)",
    "DROP TABLE Fuzz",
    "SELECT * FROM information_schema.user_tables",
    "SELECT * FROM _ql_committed_Fuzz",
    "FROM Fuzz AS f WHERE f.a = 1 INSERT INTO f.c VALUE 3",
    "SELECT COUNT(*) FROM Fuzz",
];

fn session_request() -> impl Strategy<Value = Req> {
    let statement = prop_oneof![
        4 => select(STATEMENTS).prop_map(str::to_owned),
        3 => select(STATEMENTS).prop_flat_map(|s| mutated(s.as_bytes().to_vec()))
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => "[ -~]{0,80}",
        1 => (1usize..=400, any::<bool>()).prop_map(|(n, closed)| {
            format!("SELECT * FROM Fuzz WHERE {}", nested(2, n, closed))
        }),
    ];
    let parameter = prop_oneof![
        2 => ion_text().prop_map(|t| json!({"IonText": t})),
        2 => ion_binary().prop_map(|b| json!({"IonBinary": BASE64.encode(b)})),
        1 => json_value(&["IonText", "IonBinary"]),
    ];
    let parameters = prop_oneof![
        4 => proptest::collection::vec(parameter, 0..3).prop_map(Value::Array),
        1 => json_value(&["IonText", "IonBinary"]),
    ];
    let digest = prop_oneof![
        2 => Just("$DIGEST".to_owned()),
        1 => proptest::collection::vec(any::<u8>(), 32).prop_map(|b| BASE64.encode(b)),
        1 => telling_text(),
    ];
    let args = (
        proptest::option::weighted(
            0.8,
            prop_oneof![3 => Just("$TX".to_owned()), 1 => telling_text()],
        ),
        proptest::option::weighted(0.8, statement),
        proptest::option::of(parameters),
        proptest::option::of(prop_oneof![Just("fuzz".to_owned()), telling_text()]),
        proptest::option::of(prop_oneof![
            Just("page00000000000000000001".to_owned()),
            telling_text()
        ]),
        proptest::option::of(digest),
    )
        .prop_map(|(tx, statement, parameters, ledger, page, digest)| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("TransactionId", tx.map(Value::String));
            put("Statement", statement.map(Value::String));
            put("Parameters", parameters);
            put("LedgerName", ledger.map(Value::String));
            put("NextPageToken", page.map(Value::String));
            put("CommitDigest", digest.map(Value::String));
            Value::Object(m)
        });
    let command = prop_oneof![
        6 => select(vec![
            "StartSession", "StartTransaction", "ExecuteStatement", "FetchPage",
            "CommitTransaction", "AbortTransaction", "EndSession",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z]{0,12}",
    ];
    let token =
        proptest::option::of(prop_oneof![4 => Just("$TOKEN".to_owned()), 1 => telling_text()]);
    let body = (
        command,
        args,
        token,
        proptest::option::of(member(&["StartSession", "EndSession"])),
    )
        .prop_map(|(command, args, token, extra)| {
            let mut m = Map::new();
            m.insert(command, args);
            if let Some(t) = token {
                m.insert("SessionToken".into(), Value::String(t));
            }
            if let Some(e) = extra {
                m.insert(e, json!({}));
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        })
        .boxed();
    let body = prop_oneof![
        6 => body.clone(),
        2 => body.prop_flat_map(mutated),
        1 => json_body(&["StartSession", "SessionToken"]),
    ];
    let target = prop_oneof![
        8 => Just("QLDBSession.SendCommand".to_owned()),
        1 => "QLDBSession\\.[A-Za-z]{0,12}",
    ];
    (target, body).prop_map(|(target, body)| Req {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            ("x-amz-target".into(), target.into_bytes()),
            (
                "content-type".into(),
                b"application/x-amz-json-1.0".to_vec(),
            ),
            ("authorization".into(), QLDB_AUTH.as_bytes().to_vec()),
        ],
        body,
    })
}

/// Fills in `$TOKEN`, `$TX` and `$DIGEST` with a live session, its open transaction and the
/// digest of a transaction without statements, and ends the session afterwards.
fn live_session(t: &Target, mut req: Req) -> (Req, After) {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    if !body.contains("$TOKEN") && !body.contains("$TX") {
        return (req, Box::new(|_| {}));
    }
    let (token, tx) = t.transaction("fuzz");
    let digest = BASE64.encode(CommitDigest::new(&tx).digest().as_bytes());
    if req.body.is_ascii() || std::str::from_utf8(&req.body).is_ok() {
        req.body = body
            .replace("$TOKEN", &token)
            .replace("$TX", &tx)
            .replace("$DIGEST", &digest)
            .into_bytes();
    }
    (
        req,
        Box::new(move |t: &Target| {
            t.session(json!({"SessionToken": token, "EndSession": {}}));
        }),
    )
}

#[test]
fn generated_qldb_session_commands_get_qldb_errors() {
    let t = Target::new(false);
    t.fuzz_ledger();
    t.run(160, session_request(), Shape::Json, 4, live_session);
}

// ---- CloudTrail and other awsJson services ----------------------------------------------------

const CLOUDTRAIL_MEMBERS: &[&str] = &[
    // SQS's members too (the same generator drives `AmazonSQS.*`).
    "QueueUrl",
    "QueueName",
    "MessageBody",
    "MessageAttributes",
    "Entries",
    "ReceiptHandle",
    "MaxNumberOfMessages",
    "WaitTimeSeconds",
    "Name",
    "S3BucketName",
    "S3KeyPrefix",
    "SnsTopicName",
    "IncludeGlobalServiceEvents",
    "IsMultiRegionTrail",
    "EnableLogFileValidation",
    "CloudWatchLogsLogGroupArn",
    "KmsKeyId",
    "IsOrganizationTrail",
    "TagsList",
    "Key",
    "Value",
    "TrailName",
    "trailNameList",
    "includeShadowTrails",
    "EventSelectors",
    "ReadWriteType",
    "IncludeManagementEvents",
    "DataResources",
    "Type",
    "Values",
    "ExcludeManagementEventSources",
    "AdvancedEventSelectors",
    "FieldSelectors",
    "Field",
    "Equals",
    "StartsWith",
    "EndsWith",
    "NotEquals",
    "LookupAttributes",
    "AttributeKey",
    "AttributeValue",
    "StartTime",
    "EndTime",
    "EventCategory",
    "MaxResults",
    "NextToken",
    "ResourceIdList",
    "ResourceId",
];

/// A CloudTrail body naming the trail and buckets that exist, mostly, and anything else.
fn cloudtrail_body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        3 => select(vec![
            "fuzz-trail",
            "arn:aws:cloudtrail:us-east-1:000000000000:trail/fuzz-trail",
        ])
        .prop_map(str::to_owned),
        1 => telling_text(),
    ];
    let bucket = prop_oneof![
        3 => select(vec!["fuzz", "locked", "nope"]).prop_map(str::to_owned),
        1 => telling_text(),
    ];
    let structured = (
        proptest::option::weighted(0.8, name),
        proptest::option::weighted(0.5, bucket),
        proptest::collection::vec(
            (member(CLOUDTRAIL_MEMBERS), json_value(CLOUDTRAIL_MEMBERS)),
            0..4,
        ),
    )
        .prop_map(|(name, bucket, rest)| {
            let mut m: Map<String, Value> = rest.into_iter().collect();
            if let Some(n) = name {
                m.insert("Name".into(), Value::String(n));
            }
            if let Some(b) = bucket {
                m.insert("S3BucketName".into(), Value::String(b));
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        });
    prop_oneof![3 => structured, 2 => json_body(CLOUDTRAIL_MEMBERS)]
}

fn aws_json_request() -> impl Strategy<Value = Req> {
    let op = prop_oneof![
        8 => select(CloudTrailOp::SERVED).prop_map(|o| o.name().to_owned()),
        1 => select(CloudTrailOp::NOT_SERVED).prop_map(|o| o.name().to_owned()),
        3 => select(SqsOp::SERVED).prop_map(|o| o.name().to_owned()),
        1 => "[A-Za-z]{0,16}",
    ];
    let prefix = prop_oneof![
        5 => Just("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"),
        2 => Just("CloudTrail_20131101"),
        3 => Just("AmazonSQS"),
        1 => Just("AWSEvents"),
        1 => Just("DynamoDB_20120810"),
        1 => Just("TrentService"),
    ];
    (prefix, op, cloudtrail_body(), any::<bool>()).prop_map(|(prefix, op, body, signed)| {
        json11_post(format!("{prefix}.{op}"), body, signed.then_some(CT_AUTH))
    })
}

/// An awsJson1_1 POST naming `target`, signed with `auth` if given.
fn json11_post(target: String, body: Vec<u8>, auth: Option<&str>) -> Req {
    let mut headers = vec![
        ("x-amz-target".to_owned(), target.into_bytes()),
        (
            "content-type".to_owned(),
            b"application/x-amz-json-1.1".to_vec(),
        ),
    ];
    if let Some(auth) = auth {
        headers.push(("authorization".into(), auth.as_bytes().to_vec()));
    }
    Req {
        method: "POST".into(),
        path: "/".into(),
        headers,
        body,
    }
}

#[test]
fn generated_cloudtrail_and_aws_json_calls_get_json_errors() {
    let t = Target::new(false);
    t.buckets();
    crate::allow_cloudtrail(&t.running.url, S3_AUTH, "fuzz");
    let created = crate::cloudtrail_call(
        &t.running.url,
        CT_AUTH,
        "CreateTrail",
        &json!({"Name": "fuzz-trail", "S3BucketName": "fuzz"}),
    );
    assert_eq!(created.status, 200, "{:?}", created.json);
    t.run(200, aws_json_request(), Shape::Json, 5, unchanged);
}

// ---- EventBridge (awsJson1_1) ----------------------------------------------------------------

const EVENTS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/events/aws4_request, SignedHeaders=host, Signature=00";

const EVENTS_MEMBERS: &[&str] = &[
    "Name",
    "EventBusName",
    "EventPattern",
    "ScheduleExpression",
    "State",
    "Description",
    "RoleArn",
    "Tags",
    "Key",
    "Value",
    "Rule",
    "Targets",
    "Id",
    "Arn",
    "Input",
    "InputPath",
    "InputTransformer",
    "InputPathsMap",
    "InputTemplate",
    "RetryPolicy",
    "MaximumRetryAttempts",
    "MaximumEventAgeInSeconds",
    "DeadLetterConfig",
    "HttpParameters",
    "PathParameterValues",
    "HeaderParameters",
    "Entries",
    "Source",
    "DetailType",
    "Detail",
    "Resources",
    "Time",
    "Event",
    "Ids",
    "Force",
    "NamePrefix",
    "NextToken",
    "Limit",
    "TargetArn",
    "ResourceARN",
    "TagKeys",
    "AuthorizationType",
    "AuthParameters",
    "ApiKeyAuthParameters",
    "ApiKeyName",
    "ApiKeyValue",
    "ConnectionArn",
    "InvocationEndpoint",
    "HttpMethod",
];

/// An EventBridge body naming the bus, rule and patterns that exist or matter, mostly, and
/// anything else.
fn events_body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        3 => select(vec![
            "fuzz-rule",
            "fuzz-bus",
            "default",
            "arn:aws:events:us-east-1:000000000000:event-bus/fuzz-bus",
            "arn:aws:events:us-east-1:000000000000:rule/fuzz-rule",
        ])
        .prop_map(str::to_owned),
        1 => telling_text(),
    ];
    let pattern = prop_oneof![
        3 => select(vec![
            r#"{"source":["shop"]}"#,
            r#"{"detail":{"n":[{"numeric":[">",1]}]}}"#,
            r#"{"source":"shop"}"#,
            "{",
            "[]",
            r#"{"a":[{"wildcard":"**"}]}"#,
            "rate(1 minute)",
            "cron(0 1 * * ? *)",
            "rate(0 minutes)",
        ])
        .prop_map(str::to_owned),
        1 => telling_text(),
    ];
    let structured = (
        proptest::option::weighted(0.8, name),
        proptest::option::weighted(0.6, pattern),
        proptest::collection::vec((member(EVENTS_MEMBERS), json_value(EVENTS_MEMBERS)), 0..4),
    )
        .prop_map(|(name, pattern, rest)| {
            let mut m: Map<String, Value> = rest.into_iter().collect();
            if let Some(n) = name {
                m.insert("Name".into(), Value::String(n.clone()));
                m.insert("Rule".into(), Value::String(n));
            }
            if let Some(p) = pattern {
                let member = if p.starts_with("rate") || p.starts_with("cron") {
                    "ScheduleExpression"
                } else {
                    "EventPattern"
                };
                m.insert(member.into(), Value::String(p.clone()));
                m.insert("Event".into(), Value::String(p));
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        });
    prop_oneof![3 => structured, 2 => json_body(EVENTS_MEMBERS)]
}

fn events_request() -> impl Strategy<Value = Req> {
    let op = prop_oneof![
        8 => select(EventsOp::SERVED).prop_map(|o| o.name().to_owned()),
        1 => select(EventsOp::NOT_SERVED).prop_map(|o| o.name().to_owned()),
        1 => "[A-Za-z]{0,16}",
    ];
    (op, events_body(), any::<bool>()).prop_map(|(op, body, signed)| {
        let mut headers = vec![
            (
                "x-amz-target".to_owned(),
                format!("AWSEvents.{op}").into_bytes(),
            ),
            (
                "content-type".to_owned(),
                b"application/x-amz-json-1.1".to_vec(),
            ),
        ];
        if signed {
            headers.push(("authorization".into(), EVENTS_AUTH.as_bytes().to_vec()));
        }
        Req {
            method: "POST".into(),
            path: "/".into(),
            headers,
            body,
        }
    })
}

#[test]
fn generated_eventbridge_calls_get_json_errors() {
    let t = Target::new(false);
    let u = t.running.url.clone();
    for (op, body) in [
        ("CreateEventBus", json!({"Name": "fuzz-bus"})),
        (
            "PutRule",
            json!({"Name": "fuzz-rule", "EventPattern": "{\"source\":[\"shop\"]}"}),
        ),
    ] {
        let r = crate::events::events(&u, op, body);
        assert_eq!(r.status, 200, "{op}: {}", r.json);
    }
    t.run(200, events_request(), Shape::Json, 5, unchanged);
}

// ---- QLDB's control plane (rest-json) --------------------------------------------------------

const QLDB_MEMBERS: &[&str] = &[
    "Name",
    "PermissionsMode",
    "DeletionProtection",
    "KmsKey",
    "Tags",
    "BlockAddress",
    "DigestTipAddress",
    "DocumentId",
    "IonText",
    "InclusiveStartTime",
    "ExclusiveEndTime",
    "RoleArn",
    "S3ExportConfiguration",
    "Bucket",
    "Prefix",
    "EncryptionConfiguration",
    "ObjectEncryptionType",
    "OutputFormat",
    "StreamName",
    "KinesisConfiguration",
];

fn qldb_request() -> impl Strategy<Value = Req> {
    let segment = prop_oneof![
        4 => Just("fuzz".to_owned()),
        1 => Just("arn%3Aaws%3Aqldb%3Aus-east-1%3A000000000000%3Aledger%2Ffuzz".to_owned()),
        1 => telling_text().prop_map(|t| encode(t.as_bytes(), false)),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| encode(&b, false)),
    ];
    let binding = select(QLDB_BINDINGS);
    let method = prop_oneof![
        8 => Just(None),
        1 => select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]).prop_map(Some),
    ];
    let address = prop_oneof![
        3 => ion_text().prop_map(|t| json!({"IonText": t})),
        1 => json_value(&["IonText"]),
    ];
    let structured = (
        proptest::option::of(address.clone()),
        proptest::option::of(address),
        proptest::collection::vec((member(QLDB_MEMBERS), json_value(QLDB_MEMBERS)), 0..4),
    )
        .prop_map(|(block, tip, rest)| {
            let mut m: Map<String, Value> = rest.into_iter().collect();
            if let Some(b) = block {
                m.insert("BlockAddress".into(), b);
            }
            if let Some(t) = tip {
                m.insert("DigestTipAddress".into(), t);
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        });
    let body = prop_oneof![3 => structured, 2 => json_body(QLDB_MEMBERS)];
    let query = proptest::collection::vec(
        (
            select(vec!["max_results", "next_token", "tagKeys", "x"]),
            telling_text(),
        ),
        0..3,
    );
    (
        binding,
        method,
        proptest::collection::vec(segment, 2),
        body,
        query,
        any::<bool>(),
    )
        .prop_map(
            |((m, template, _), method, segments, body, query, signed)| {
                let mut segments = segments.into_iter();
                let mut path = String::new();
                for part in template.split('/').filter(|p| !p.is_empty()) {
                    path.push('/');
                    match part {
                        "{}" | "{+}" => path.push_str(&segments.next().unwrap_or_default()),
                        literal => path.push_str(literal),
                    }
                }
                let query: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v.as_bytes(), false)))
                    .collect();
                if !query.is_empty() {
                    path = format!("{path}?{}", query.join("&"));
                }
                let mut headers = vec![("content-type".to_owned(), b"application/json".to_vec())];
                if signed {
                    headers.push(("authorization".into(), QLDB_AUTH.as_bytes().to_vec()));
                }
                Req {
                    method: method.unwrap_or(m).to_owned(),
                    path,
                    headers,
                    body,
                }
            },
        )
}

#[test]
fn generated_qldb_control_plane_calls_get_json_errors() {
    let t = Target::new(false);
    t.fuzz_ledger();
    t.run(200, qldb_request(), Shape::Json, 4, unchanged);
}

// ---- S3 (rest-xml) ---------------------------------------------------------------------------

const S3_HEADERS: &[&str] = &[
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-bypass-governance-retention",
    "x-amz-bucket-object-lock-enabled",
    "content-md5",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-mode",
    "x-amz-sdk-checksum-algorithm",
    "content-encoding",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "range",
    "x-amz-copy-source",
    "x-amz-meta-fuzz",
    "content-type",
    "if-match",
    "x-amz-mfa",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
];

const S3_XML_NAMES: &[&str] = &[
    "Retention",
    "Mode",
    "RetainUntilDate",
    "LegalHold",
    "Status",
    "VersioningConfiguration",
    "MfaDelete",
    "ObjectLockConfiguration",
    "ObjectLockEnabled",
    "Rule",
    "DefaultRetention",
    "Days",
    "Years",
    "Delete",
    "Object",
    "Key",
    "VersionId",
    "Quiet",
    "LifecycleConfiguration",
    "ID",
    "Filter",
    "Prefix",
    "Transition",
    "StorageClass",
    "NoncurrentVersionTransition",
    "ServerSideEncryptionConfiguration",
    "ApplyServerSideEncryptionByDefault",
    "SSEAlgorithm",
    "KMSMasterKeyID",
    "BucketKeyEnabled",
    "PublicAccessBlockConfiguration",
    "BlockPublicAcls",
    "CreateBucketConfiguration",
    "LocationConstraint",
];

const S3_BODIES: &[&str] = &[
    "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
    "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2024-01-01T00:00:01Z</RetainUntilDate></Retention>",
    "<LegalHold><Status>ON</Status></LegalHold>",
    "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>",
    "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>",
    "<Delete><Quiet>false</Quiet><Object><Key>a</Key></Object><Object><Key>dir/b</Key><VersionId>null</VersionId></Object></Delete>",
    "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>dir/</Prefix></Filter><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>",
    "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
    "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
    "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}",
    "5;chunk-signature=00\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
];

fn xml_element() -> impl Strategy<Value = String> {
    let leaf = (select(S3_XML_NAMES), telling_text()).prop_map(|(n, t)| format!("<{n}>{t}</{n}>"));
    leaf.prop_recursive(4, 24, 4, |inner| {
        (select(S3_XML_NAMES), proptest::collection::vec(inner, 0..4))
            .prop_map(|(n, children)| format!("<{n}>{}</{n}>", children.concat()))
    })
}

fn s3_request() -> impl Strategy<Value = Req> {
    let method = select(vec![
        "GET", "GET", "GET", "PUT", "PUT", "PUT", "POST", "DELETE", "DELETE", "HEAD", "PATCH",
    ]);
    let bucket = prop_oneof![
        6 => select(vec!["fuzz", "locked", "nope"]).prop_map(str::to_owned),
        1 => "[a-z0-9.-]{0,70}",
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| encode(&b, false)),
    ];
    let key = proptest::option::of(prop_oneof![
        5 => select(vec!["a", "dir/b", "dir/c", "new"]).prop_map(str::to_owned),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| encode(&b, true)),
        1 => "[ -~]{1,20}".prop_map(|k| encode(k.as_bytes(), true)),
        1 => (1000usize..1100).prop_map(|n| "k".repeat(n)),
    ]);
    let subresources = |served: bool| -> Vec<&'static str> {
        S3_BINDINGS
            .iter()
            .filter(|(_, _, sub, op)| !sub.is_empty() && (op.served() || !served))
            .map(|(_, _, sub, _)| *sub)
            .collect()
    };
    let names = prop_oneof![
        4 => select(subresources(true)),
        1 => select(subresources(false)),
        3 => select(vec![
            "list-type", "continuation-token", "max-keys", "encoding-type", "versionId",
            "prefix", "delimiter", "marker", "key-marker", "version-id-marker", "start-after",
            "fetch-owner", "uploadId", "partNumber", "id",
        ]),
    ];
    let query = proptest::collection::vec((names, proptest::option::of(telling_text())), 0..4);
    let headers = proptest::collection::vec((select(S3_HEADERS), telling_text()), 0..6);
    let body = prop_oneof![
        2 => Just(Vec::new()),
        2 => select(S3_BODIES).prop_map(|b| b.as_bytes().to_vec()),
        3 => select(S3_BODIES).prop_flat_map(|b| mutated(b.as_bytes().to_vec())),
        2 => xml_element().prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => deep().prop_map(String::into_bytes),
    ];
    (method, bucket, key, query, headers, body, any::<bool>()).prop_map(
        |(method, bucket, key, query, headers, body, signed)| {
            let mut path = format!("/{bucket}");
            if let Some(k) = key {
                path.push('/');
                path.push_str(&k);
            }
            let query: Vec<String> = query
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={}", encode(v.as_bytes(), false)),
                    None => (*k).to_owned(),
                })
                .collect();
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let mut headers: Vec<(String, Vec<u8>)> = headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_bytes()))
                .collect();
            if signed {
                headers.push(("authorization".into(), S3_AUTH.as_bytes().to_vec()));
            }
            Req {
                method: method.to_owned(),
                path,
                headers,
                body,
            }
        },
    )
}

#[test]
fn generated_s3_requests_get_s3_errors() {
    let t = Target::new(false);
    t.buckets();
    t.run(400, s3_request(), Shape::RestXml, 10, unchanged);
}

// ---- the query protocol (services not served) ------------------------------------------------

fn query_request() -> impl Strategy<Value = Req> {
    let service = prop_oneof![
        4 => select(vec!["iam", "sts", "sns", "sqs", "ec2", "monitoring"]).prop_map(str::to_owned),
        1 => "[a-z]{1,10}",
    ];
    let pairs = proptest::collection::vec(
        (
            prop_oneof![
                3 => select(vec!["Action", "Version", "RoleName", "MaxItems"]).prop_map(str::to_owned),
                1 => "[A-Za-z.]{1,12}",
            ],
            telling_text(),
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k.as_bytes(), false), encode(v.as_bytes(), false)))
            .collect::<Vec<_>>()
            .join("&")
    })
    .boxed();
    let form = prop_oneof![3 => pairs.clone().prop_map(String::into_bytes), 1 => pairs.prop_flat_map(|p| mutated(p.into_bytes()))];
    (service, form, any::<bool>()).prop_map(|(service, form, in_query)| {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        let headers = vec![
            ("authorization".to_owned(), auth.into_bytes()),
            (
                "content-type".to_owned(),
                b"application/x-www-form-urlencoded; charset=utf-8".to_vec(),
            ),
        ];
        if in_query {
            let query = String::from_utf8_lossy(&form).into_owned();
            Req {
                method: "GET".into(),
                path: format!("/?{}", encode(query.as_bytes(), false).replace("%3D", "=").replace("%26", "&")),
                headers,
                body: Vec::new(),
            }
        } else {
            Req {
                method: "POST".into(),
                path: "/".into(),
                headers,
                body: form,
            }
        }
    })
}

#[test]
fn generated_query_protocol_calls_get_query_errors() {
    let t = Target::new(false);
    t.run(150, query_request(), Shape::QueryXml, 1, unchanged);
}

// ---- KMS and Secrets Manager (awsJson1_1) ---------------------------------------------------

const KMS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00";

const KMS_MEMBERS: &[&str] = &[
    "KeyId",
    "Description",
    "KeyUsage",
    "KeySpec",
    "CustomerMasterKeySpec",
    "Origin",
    "Policy",
    "Tags",
    "TagKey",
    "TagValue",
    "MultiRegion",
    "AliasName",
    "TargetKeyId",
    "Limit",
    "Marker",
    "RotationPeriodInDays",
    "PendingWindowInDays",
    "Plaintext",
    "CiphertextBlob",
    "EncryptionContext",
    "EncryptionAlgorithm",
    "NumberOfBytes",
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
];

/// A KMS or Secrets Manager body naming the key that exists (by id, ARN or alias), mostly.
fn kms_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        3 => select(vec!["alias/fuzz", "KEY", "arn:aws:kms:us-east-1:000000000000:key/KEY", "alias/none", "arn:aws:kms:us-east-1:000000000000:alias/fuzz"]).prop_map(str::to_owned),
        1 => telling_text(),
    ];
    let blob = prop_oneof![
        2 => Just("BLOB".to_owned()),
        1 => Just(BASE64.encode(b"plain text")),
        1 => telling_text(),
    ];
    let structured = (
        proptest::option::weighted(0.8, key),
        proptest::option::weighted(0.4, blob),
        proptest::collection::vec((member(KMS_MEMBERS), json_value(KMS_MEMBERS)), 0..4),
    )
        .prop_map(|(key, blob, rest)| {
            let mut m: Map<String, Value> = rest.into_iter().collect();
            if let Some(k) = key {
                m.insert("KeyId".into(), Value::String(k));
            }
            if let Some(b) = blob {
                m.insert("CiphertextBlob".into(), Value::String(b.clone()));
                m.insert("Plaintext".into(), Value::String(b));
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        });
    prop_oneof![3 => structured, 2 => json_body(KMS_MEMBERS)]
}

fn kms_request() -> impl Strategy<Value = Req> {
    let target = prop_oneof![
        8 => select(KmsOp::SERVED).prop_map(|o| format!("TrentService.{}", o.name())),
        1 => select(KmsOp::NOT_SERVED).prop_map(|o| format!("TrentService.{}", o.name())),
        2 => select(SecretsManagerOp::SERVED).prop_map(|o| format!("secretsmanager.{}", o.name())),
        1 => select(SecretsManagerOp::NOT_SERVED).prop_map(|o| format!("secretsmanager.{}", o.name())),
    ];
    (target, kms_body(), any::<bool>())
        .prop_map(|(target, body, signed)| json11_post(target, body, signed.then_some(KMS_AUTH)))
}

#[test]
fn generated_kms_and_secrets_manager_calls_get_json_errors() {
    let t = Target::new(false);
    let call = |op: &str, body: Value| {
        let a = t.call(&Req::new(
            "POST",
            "/",
            &[
                ("x-amz-target", &format!("TrentService.{op}")),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", KMS_AUTH),
            ],
            body.to_string(),
        ));
        assert_eq!(a.status, 200, "{op}: {}", a.text());
        a.json()
    };
    let key = call("CreateKey", json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        "CreateAlias",
        json!({"AliasName": "alias/fuzz", "TargetKeyId": key}),
    );
    let blob = call(
        "Encrypt",
        json!({"KeyId": key, "Plaintext": BASE64.encode(b"x")}),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    t.run(200, kms_request(), Shape::Json, 5, move |_, mut req| {
        let text = String::from_utf8_lossy(&req.body)
            .replace("KEY", &key)
            .replace("BLOB", &blob);
        if std::str::from_utf8(&req.body).is_ok() {
            req.body = text.into_bytes();
        }
        (req, Box::new(|_| {}))
    });
}

// ---- IAM and STS (query protocol) -------------------------------------------------------------

const IAM_NAMES: &[&str] = &[
    "RoleName",
    "PolicyName",
    "PolicyArn",
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "Path",
    "PathPrefix",
    "Description",
    "MaxSessionDuration",
    "MaxItems",
    "Marker",
    "VersionId",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "Tags.member.2.Key",
    "Tags.member.x",
];

fn iam_request() -> impl Strategy<Value = Req> {
    let action = prop_oneof![
        8 => select(IamOp::SERVED).prop_map(|o| ("iam", o.name())),
        1 => select(IamOp::NOT_SERVED).prop_map(|o| ("iam", o.name())),
        1 => select(StsOp::SERVED).prop_map(|o| ("sts", o.name())),
    ];
    let value = prop_oneof![
        3 => select(vec![
            "fuzz-role", "nobody", "inline", "/", "/a/", "3600", "43200", "1", "v1", "v2",
            "arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/Nope",
            "arn:aws:iam::000000000000:policy/fuzz-policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        ])
        .prop_map(str::to_owned),
        2 => telling_text(),
    ];
    let pairs = proptest::collection::vec(
        (
            prop_oneof![4 => select(IAM_NAMES).prop_map(str::to_owned), 1 => "[A-Za-z.1-3]{1,14}"],
            value,
        ),
        0..6,
    );
    (action, pairs).prop_map(|((service, action), pairs)| {
        let mut form = format!("Action={action}&Version=2010-05-08");
        for (k, v) in pairs {
            form.push_str(&format!("&{}={}", encode(k.as_bytes(), false), encode(v.as_bytes(), false)));
        }
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        Req {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![
                ("authorization".to_owned(), auth.into_bytes()),
                (
                    "content-type".to_owned(),
                    b"application/x-www-form-urlencoded; charset=utf-8".to_vec(),
                ),
            ],
            body: form.into_bytes(),
        }
    })
}

#[test]
fn generated_iam_and_sts_calls_get_query_errors() {
    let t = Target::new(false);
    t.run(250, iam_request(), Shape::QueryXml, 4, unchanged);
}

// ---- the clock endpoint ----------------------------------------------------------------------

fn clock_request() -> impl Strategy<Value = Req> {
    let number = prop_oneof![
        3 => (0u32..400).prop_map(|d| json!(f64::from(d) * 86_400.0)),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => any::<i64>().prop_map(Value::from),
        1 => json_value(&["advanceSeconds", "scale"]),
    ]
    .boxed();
    let body = (
        proptest::option::of(number.clone()),
        proptest::option::of(number),
    )
        .prop_map(|(advance, scale)| {
            let mut m = Map::new();
            if let Some(a) = advance {
                m.insert("advanceSeconds".into(), a);
            }
            if let Some(s) = scale {
                m.insert("scale".into(), s);
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        })
        .boxed();
    let body = prop_oneof![
        4 => body.clone(),
        2 => body.prop_flat_map(mutated),
        1 => json_body(&["advanceSeconds", "scale"]),
        1 => (4000usize..6000).prop_map(|n| vec![b' '; n]),
    ];
    (
        select(vec!["GET", "POST", "POST", "POST", "PUT", "DELETE"]),
        body,
    )
        .prop_map(|(method, body)| Req {
            method: method.into(),
            path: "/_veritrail/clock".into(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body,
        })
}

fn clock_millis(t: &Target) -> i64 {
    let a = t.call(&Req::new("GET", "/_veritrail/clock", &[], ""));
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()["epochMillis"].as_i64().unwrap()
}

#[test]
fn generated_clock_requests_move_time_only_forward_and_boundedly() {
    let t = Target::new(true);
    t.run(120, clock_request(), Shape::Clock, 1, |t, req| {
        let before = clock_millis(t);
        (
            req,
            Box::new(move |t: &Target| {
                let after = clock_millis(t);
                assert!(after >= before, "the clock went back: {before} -> {after}");
                let max = veritrail_emulator::clock_control::MAX_ADVANCE_SECONDS * 1000.0;
                assert!(
                    (after - before) as f64 <= max,
                    "one request moved the clock {} ms",
                    after - before
                );
            }),
        )
    });
}

// ---- the fixed attacks of issue 10, over TCP -------------------------------------------------

/// One exchange of raw bytes over TCP; `Err` when the connection broke or no answer came.
fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let broken = |why: &str| std::io::Error::other(why.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| broken("no complete answer"))?;
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| {
            Some((
                HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
                HeaderValue::from_str(v.trim()).ok()?,
            ))
        })
        .collect();
    Ok(Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// A request head (`Connection: close`) with `headers` and a body of `len` bytes.
fn head(method: &str, path: &str, addr: &str, headers: &[(&str, &str)], len: usize) -> String {
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

fn addr(running: &Running) -> String {
    running.addr.to_string()
}

/// The client error an attack must get: status, shape, code, and words its message holds.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    status: u16,
    shape: Shape,
    code: &'static str,
    says: &'static str,
}

const fn refusal(status: u16, shape: Shape, code: &'static str, says: &'static str) -> Refusal {
    Refusal {
        status,
        shape,
        code,
        says,
    }
}

/// Sends `body` over TCP and asserts it gets `expected`, then that the server still answers.
fn refused(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    expected: Refusal,
) {
    let a = addr(&t.running);
    let answer = raw_exchange(&a, &head(method, path, &a, headers, body.len()), body)
        .unwrap_or_else(|e| panic!("{method} {path}: the connection broke: {e}"));
    expected.check(&format!("{method} {path}"), &answer);
    t.alive().unwrap();
}

impl Refusal {
    /// Asserts that `answer` (to `what`) is this refusal.
    fn check(self, what: &str, answer: &Answer) {
        let text = answer.text();
        assert_eq!(answer.status, self.status, "{what}: {text}");
        check(self.shape, false, answer).unwrap_or_else(|e| panic!("{what}: {e}"));
        let named = match self.shape {
            Shape::Json => answer.json()["__type"] == self.code,
            _ => text.contains(&format!("<Code>{}</Code>", self.code)),
        };
        assert!(named, "{what}: expected {}: {text}", self.code);
        assert!(
            text.contains(self.says),
            "{what}: expected {:?}: {text}",
            self.says
        );
    }
}

const TOO_DEEP_ION: Refusal = refusal(400, Shape::Json, "InvalidParameterException", "levels deep");
const TOO_DEEP_PARAMETER: Refusal = refusal(400, Shape::Json, "BadRequestException", "levels deep");
const SESSION_HEADERS: [(&str, &str); 3] = [
    ("X-Amz-Target", "QLDBSession.SendCommand"),
    ("Content-Type", "application/x-amz-json-1.0"),
    ("Authorization", QLDB_AUTH),
];

#[test]
fn deep_ion_in_qldb_requests_is_refused() {
    let t = Target::new(false);
    t.ledger("deep");
    let digest = t.call(&Req::new(
        "POST",
        "/ledgers/deep/digest",
        &[("authorization", QLDB_AUTH)],
        "",
    ));
    // A valid address, so that the deep one beside it is the one read.
    let tip = digest.json()["DigestTipAddress"]["IonText"]
        .as_str()
        .unwrap()
        .to_owned();
    let block = json!({"IonText": tip});
    let qldb = [("Authorization", QLDB_AUTH)];
    for kind in 0..5 {
        let deep = json!({"IonText": nested(kind, 100_000, true)});
        let bodies = [
            ("/ledgers/deep/block", json!({"BlockAddress": deep})),
            (
                "/ledgers/deep/block",
                json!({"BlockAddress": block, "DigestTipAddress": deep}),
            ),
            (
                "/ledgers/deep/revision",
                json!({"BlockAddress": block, "DocumentId": "x", "DigestTipAddress": deep}),
            ),
        ];
        for (path, body) in bodies {
            let body = body.to_string();
            refused(&t, "POST", path, &qldb, body.as_bytes(), TOO_DEEP_ION);
        }
        let (token, tx) = t.transaction("deep");
        let body = json!({"SessionToken": token, "ExecuteStatement": {"TransactionId": tx, "Statement": "SELECT * FROM t WHERE t.a = ?", "Parameters": [deep]}}).to_string();
        refused(
            &t,
            "POST",
            "/",
            &SESSION_HEADERS,
            body.as_bytes(),
            TOO_DEEP_PARAMETER,
        );
    }
    // Ion binary: 100,000 lists (over QLDB's 128 KB parameter limit) and 30,000 (within it,
    // too deep).
    for (lists, says) in [(100_000, "more than the limit"), (30_000, "levels deep")] {
        let binary = nested_binary(lists);
        let (token, tx) = t.transaction("deep");
        let body = json!({"SessionToken": token, "ExecuteStatement": {"TransactionId": tx, "Statement": "INSERT INTO t ?", "Parameters": [{"IonBinary": BASE64.encode(&binary)}]}}).to_string();
        refused(
            &t,
            "POST",
            "/",
            &SESSION_HEADERS,
            body.as_bytes(),
            refusal(400, Shape::Json, "BadRequestException", says),
        );
    }
}

#[test]
fn deeply_nested_partiql_is_refused() {
    let t = Target::new(false);
    t.ledger("deep");
    t.commit("deep", &[("CREATE TABLE T", vec![])]);
    for statement in [
        format!(
            "SELECT * FROM Missing WHERE {}1{}",
            "(".repeat(1000),
            ")".repeat(1000)
        ),
        format!("SELECT * FROM T WHERE {}", "(".repeat(1000)),
        format!("SELECT {} FROM T", "[".repeat(1000)),
        format!("SELECT * FROM T WHERE {}", "NOT ".repeat(1000)),
        format!("SELECT * FROM T WHERE 1 = {}1", "-".repeat(1000)),
    ] {
        let (token, tx) = t.transaction("deep");
        let body = json!({"SessionToken": token, "ExecuteStatement": {"TransactionId": tx, "Statement": statement}}).to_string();
        refused(
            &t,
            "POST",
            "/",
            &SESSION_HEADERS,
            body.as_bytes(),
            refusal(400, Shape::Json, "BadRequestException", ""),
        );
    }
}

const S3_INVALID_ARGUMENT: Refusal = refusal(400, Shape::RestXml, "InvalidArgument", "");

#[test]
fn nested_s3_lock_headers_and_xml_are_refused() {
    let t = Target::new(false);
    t.buckets();
    let deep = "[".repeat(100_000);
    let md5 = veritrail_emulator::services::s3::content_md5(b"x");
    let auth = ("Authorization", S3_AUTH);
    let future = "2030-01-01T00:00:00Z";
    let attacks: [[(&str, &str); 2]; 3] = [
        [
            ("x-amz-object-lock-mode", &deep),
            ("x-amz-object-lock-retain-until-date", future),
        ],
        [
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            ("x-amz-object-lock-retain-until-date", &deep),
        ],
        [
            ("x-amz-object-lock-legal-hold", &deep),
            ("x-amz-meta-x", "y"),
        ],
    ];
    for attack in attacks {
        let mut headers = vec![auth, ("Content-MD5", md5.as_str())];
        headers.extend(attack);
        refused(
            &t,
            "PUT",
            "/locked/deep",
            &headers,
            b"x",
            S3_INVALID_ARGUMENT,
        );
    }
    for (method, path, root) in [
        ("PUT", "/locked/a?retention", "Retention"),
        ("PUT", "/locked/a?legal-hold", "LegalHold"),
        ("PUT", "/locked?object-lock", "ObjectLockConfiguration"),
        ("POST", "/locked?delete", "Delete"),
        ("PUT", "/locked?versioning", "VersioningConfiguration"),
        ("PUT", "/locked?lifecycle", "LifecycleConfiguration"),
    ] {
        let body = format!(
            "<{root}><Mode>{}COMPLIANCE{}</Mode></{root}>",
            "<a>".repeat(100_000),
            "</a>".repeat(100_000)
        );
        let md5 = veritrail_emulator::services::s3::content_md5(body.as_bytes());
        refused(
            &t,
            method,
            path,
            &[auth, ("Content-MD5", &md5)],
            body.as_bytes(),
            refusal(400, Shape::RestXml, "MalformedXML", "deeper"),
        );
    }
    // The version the attacks aimed at is untouched, and nothing else was stored.
    let (status, _, body) = crate::exchange(&t.running.url, "GET", "/locked/a", &[auth], "");
    assert_eq!((status, body.as_str()), (200, "a"));
    let (status, _, _) = crate::exchange(&t.running.url, "GET", "/locked/deep", &[auth], "");
    assert_eq!(status, 404);
}

#[test]
fn deeply_nested_json_bodies_are_refused() {
    let t = Target::new(false);
    t.ledger("deep");
    t.buckets();
    let malformed = refusal(400, Shape::Json, "SerializationException", "");
    let qldb = [("Authorization", QLDB_AUTH)];
    let cloudtrail = [
        ("X-Amz-Target", "CloudTrail_20131101.CreateTrail"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", CT_AUTH),
    ];
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let body = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        let inside = format!("{{\"Name\":{body}}}");
        for b in [&body, &inside] {
            let b = b.as_bytes();
            refused(&t, "POST", "/", &cloudtrail, b, malformed);
            refused(&t, "POST", "/", &SESSION_HEADERS, b, malformed);
            refused(&t, "POST", "/ledgers", &qldb, b, malformed);
            refused(&t, "POST", "/ledgers/deep/digest", &qldb, b, malformed);
        }
    }
    // A deep bucket policy is S3's MalformedPolicy.
    let body = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    refused(
        &t,
        "PUT",
        "/fuzz?policy",
        &[("Authorization", S3_AUTH)],
        body.as_bytes(),
        refusal(400, Shape::RestXml, "MalformedPolicy", ""),
    );
}

#[test]
fn huge_headers_are_answered_and_the_server_serves_on() {
    let t = Target::new(false);
    t.buckets();
    let a = addr(&t.running);
    let md5 = veritrail_emulator::services::s3::content_md5(b"x");
    // Large but within what the HTTP layer reads: the protocol's own error.
    for size in [16 << 10, 200 << 10] {
        let value = "G".repeat(size);
        let headers = [
            ("Authorization", S3_AUTH),
            ("x-amz-object-lock-mode", value.as_str()),
            (
                "x-amz-object-lock-retain-until-date",
                "2030-01-01T00:00:00Z",
            ),
            ("Content-MD5", md5.as_str()),
        ];
        refused(&t, "PUT", "/locked/h", &headers, b"x", S3_INVALID_ARGUMENT);
    }
    // Past what the HTTP layer reads (one huge header, or a thousand small ones): a 431 and a
    // closed connection, never a crash.
    let huge = "h".repeat(2 << 20);
    let one_huge = head("GET", "/", &a, &[("x-amz-meta-big", &huge)], 0);
    let many: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("x-amz-meta-h{i}"), "v".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let many = head("GET", "/", &a, &many, 0);
    for attack in [one_huge, many] {
        match raw_exchange(&a, &attack, b"") {
            Ok(answer) => assert_eq!(answer.status, 431),
            // The server may close while the client still writes.
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ),
                "{e}"
            ),
        }
        t.alive().unwrap();
    }
}

#[test]
fn bodies_over_the_limit_get_the_protocols_error() {
    let t = Target::new(false);
    t.buckets();
    let a = addr(&t.running);
    let s3 = vec![("Authorization", S3_AUTH)];
    let too_large = refusal(400, Shape::RestXml, "EntityTooLarge", "");
    let cases = [
        ("PUT", "/fuzz/big", s3.clone(), route::MAX_OBJECT, too_large),
        (
            "PUT",
            "/fuzz/a?retention",
            s3,
            route::MAX_OTHER_BODY,
            too_large,
        ),
        (
            "POST",
            "/",
            SESSION_HEADERS.to_vec(),
            route::MAX_JSON_BODY,
            refusal(413, Shape::Json, "RequestEntityTooLargeException", ""),
        ),
    ];
    for (method, path, headers, limit, expected) in cases {
        let body = vec![b' '; limit + 1];
        // Sent whole: the server reads past the limit and answers.
        refused(&t, method, path, &headers, &body, expected);
        // With `Expect: 100-continue` the client waits: it is refused before it sends.
        let mut with_expect = headers.clone();
        with_expect.push(("Expect", "100-continue"));
        let answer = raw_exchange(&a, &head(method, path, &a, &with_expect, body.len()), b"")
            .unwrap_or_else(|e| panic!("{path} with Expect: the connection broke: {e}"));
        expected.check(&format!("{method} {path} with Expect"), &answer);
        t.alive().unwrap();
    }
    // Nothing was stored.
    let (status, _, _) = crate::exchange(
        &t.running.url,
        "GET",
        "/fuzz/big",
        &[("Authorization", S3_AUTH)],
        "",
    );
    assert_eq!(status, 404);
}
