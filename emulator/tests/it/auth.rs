//! Authenticated serving through the request layer: an emulator with a credentials file, called
//! with requests signed here (SigV4, header form), for every operation of every service: an
//! auditor is refused every write and manage call and may make every read; a writer is refused
//! every manage call; the refusals are CloudTrail records naming the principal; a QLDB session
//! of an auditor may read but not write. (Signatures from the real SDKs, the AWS CLI and boto3
//! are checked in `scenarios/`.)

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use hmac::{KeyInit as _, Mac as _};
use sha2::Digest as _;
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_emulator::auth::{Authenticator, Credentials};
use veritrail_emulator::ops::{Access, Operation, QLDB_BINDINGS, S3_BINDINGS, S3Level, S3Op};
use veritrail_emulator::{Config, Emulator};

const CREDENTIALS: &str = "\
[auditor]
aws_access_key_id = AKIAAUDITOR
aws_secret_access_key = auditor-secret
principal = arn:aws:iam::123456789012:user/audit/alice
role = auditor

[writer]
aws_access_key_id = AKIAWRITER
aws_secret_access_key = writer-secret
principal = arn:aws:sts::123456789012:assumed-role/Ingest/run-7
role = writer

[admin]
aws_access_key_id = AKIAADMIN
aws_secret_access_key = admin-secret
principal = arn:aws:iam::123456789012:user/root-ops
role = admin
";

/// 2030-01-01T00:00:00Z.
const NOW: i64 = 1_893_456_000_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A test client: signs like the SDKs do (every header signed, the payload's SHA-256).
struct Signer {
    key: &'static str,
    secret: &'static str,
    /// The client's clock, in ms.
    at: i64,
}

impl Signer {
    fn new(role: &str) -> Self {
        let (key, secret) = match role {
            "auditor" => ("AKIAAUDITOR", "auditor-secret"),
            "writer" => ("AKIAWRITER", "writer-secret"),
            _ => ("AKIAADMIN", "admin-secret"),
        };
        Self {
            key,
            secret,
            at: NOW,
        }
    }

    fn sign(
        &self,
        service: &str,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HeaderMap {
        let t = UtcMillis(self.at).to_string();
        // 2030-01-01T00:00:00.000Z -> 20300101T000000Z
        let amz_date = format!(
            "{}{}{}T{}{}{}Z",
            &t[0..4],
            &t[5..7],
            &t[8..10],
            &t[11..13],
            &t[14..16],
            &t[17..19]
        );
        let date = &amz_date[..8];
        let payload = hex(&sha2::Sha256::digest(body));
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect();
        all.push(("host".into(), "emulator.test".into()));
        all.push(("x-amz-date".into(), amz_date.clone()));
        all.push(("x-amz-content-sha256".into(), payload.clone()));
        all.sort();
        let canonical_uri = if service == "s3" {
            path.to_owned()
        } else {
            path.replace('%', "%25")
        };
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort();
        let canonical_query: Vec<String> = pairs
            .iter()
            .map(|p| {
                if p.contains('=') {
                    (*p).to_owned()
                } else {
                    format!("{p}=")
                }
            })
            .collect();
        let signed: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        let canonical = format!(
            "{method}\n{canonical_uri}\n{}\n{}\n{}\n{payload}",
            canonical_query.join("&"),
            all.iter()
                .map(|(k, v)| format!("{k}:{v}\n"))
                .collect::<String>(),
            signed.join(";")
        );
        let scope = format!("{date}/us-east-1/{service}/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&sha2::Sha256::digest(canonical.as_bytes()))
        );
        let mut k = hmac(format!("AWS4{}", self.secret).as_bytes(), date);
        for part in ["us-east-1", service, "aws4_request"] {
            k = hmac(&k, part);
        }
        let signature = hex(&hmac(&k, &to_sign));
        let mut h = HeaderMap::new();
        for (name, value) in &all {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
                self.key,
                signed.join(";")
            ))
            .unwrap(),
        );
        h
    }
}

struct Auth {
    emulator: Emulator,
    clock: Arc<ManualClock>,
    dir: std::path::PathBuf,
}

impl Drop for Auth {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn emulator(name: &str) -> Auth {
    let dir = std::env::temp_dir().join(format!("veritrail-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let clock = Arc::new(ManualClock::new(UtcMillis(NOW), 0));
    let mut config = Config::new(&dir);
    config.clock = clock.clone();
    config.credentials = Some(Arc::new(Authenticator::new(
        Credentials::parse(CREDENTIALS, "test").unwrap(),
    )));
    Auth {
        emulator: Emulator::open(config).unwrap(),
        clock,
        dir,
    }
}

/// A reply: status, the error code (JSON `__type` or XML `<Code>`), the body.
fn reply(r: axum::response::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let body = rt
        .block_on(axum::body::to_bytes(r.into_body(), 16 << 20))
        .unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    let code = if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        v["__type"].as_str().unwrap_or("").to_owned()
    } else {
        text.split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .unwrap_or("")
            .to_owned()
    };
    (status, code, text)
}

/// One request of `op`, as its client would send it: (signing service, method, path, query,
/// headers, body). `None` for the operations no request can name (legacy twins of served
/// ones).
#[allow(clippy::type_complexity)]
fn request_for(
    op: &Operation,
) -> Option<(
    &'static str,
    &'static str,
    String,
    String,
    Vec<(&'static str, String)>,
    Vec<u8>,
)> {
    let json = |target: String, content: &str| {
        vec![
            ("x-amz-target", target),
            ("content-type", content.to_owned()),
        ]
    };
    let name = op.name();
    // The awsJson services: (signing name, target prefix, JSON version).
    let target = match op {
        Operation::QldbSession(_) => Some(("qldb", "QLDBSession", "1.0")),
        Operation::CloudTrail(_) => Some(("cloudtrail", "CloudTrail_20131101", "1.1")),
        Operation::Events(_) => Some(("events", "AWSEvents", "1.1")),
        Operation::Sqs(_) => Some(("sqs", "AmazonSQS", "1.0")),
        Operation::Kms(_) => Some(("kms", "TrentService", "1.1")),
        Operation::Kinesis(_) => Some(("kinesis", "Kinesis_20131202", "1.1")),
        Operation::SecretsManager(_) => Some(("secretsmanager", "secretsmanager", "1.1")),
        _ => None,
    };
    if let Some((service, prefix, version)) = target {
        return Some((
            service,
            "POST",
            "/".into(),
            String::new(),
            json(
                format!("{prefix}.{name}"),
                &format!("application/x-amz-json-{version}"),
            ),
            b"{}".to_vec(),
        ));
    }
    Some(match op {
        Operation::S3(s3) => {
            let (method, level, sub, extra): (&str, S3Level, String, Vec<(&str, String)>) = match s3
            {
                S3Op::CopyObject => (
                    "PUT",
                    S3Level::Object,
                    String::new(),
                    vec![("x-amz-copy-source", "/b/src".into())],
                ),
                S3Op::UploadPartCopy => (
                    "PUT",
                    S3Level::Object,
                    "partNumber=1&uploadId=u".into(),
                    vec![("x-amz-copy-source", "/b/src".into())],
                ),
                S3Op::UploadPart => (
                    "PUT",
                    S3Level::Object,
                    "partNumber=1&uploadId=u".into(),
                    vec![],
                ),
                S3Op::ListObjectsV2 => ("GET", S3Level::Bucket, "list-type=2".into(), vec![]),
                other => {
                    let (m, l, sub, _) = S3_BINDINGS.iter().find(|(_, _, _, o)| o == other)?;
                    // The configurations are named by id (without one, GET lists them).
                    let by_id = ["analytics", "inventory", "metrics", "intelligent-tiering"];
                    let sub = match *sub {
                        s if by_id.contains(&s) && !other.name().starts_with("List") => {
                            format!("{s}&id=1")
                        }
                        "uploadId" => "uploadId=u".to_owned(),
                        s => s.to_owned(),
                    };
                    (*m, *l, sub, vec![])
                }
            };
            let path = match level {
                S3Level::Service => "/".to_owned(),
                S3Level::Bucket => "/b".to_owned(),
                S3Level::Object => "/b/k".to_owned(),
            };
            ("s3", method, path, sub, extra, Vec::new())
        }
        Operation::Qldb(q) => {
            let (m, template, _) = QLDB_BINDINGS.iter().find(|(_, _, o)| o == q)?;
            let path = template
                .replace(
                    "{+}",
                    "arn%3Aaws%3Aqldb%3Aus-east-1%3A000000000000%3Aledger%2Fl",
                )
                .replace("{}", "l");
            ("qldb", m, path, String::new(), vec![], b"{}".to_vec())
        }
        Operation::Sns(_) | Operation::Sts(_) | Operation::Iam(_) => (
            match op {
                Operation::Sns(_) => "sns",
                Operation::Sts(_) => "sts",
                _ => "iam",
            },
            "POST",
            "/".into(),
            String::new(),
            vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            format!("Action={name}&Version=2010-05-08").into_bytes(),
        ),
        _ => return None,
    })
}

fn call(a: &Auth, signer: &Signer, op: &Operation) -> Option<(u16, String, String)> {
    let (service, method, path, query, headers, body) = request_for(op)?;
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let h = signer.sign(service, method, &path, &query, &borrowed, &body);
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    // The request must name the operation it was made for.
    let classified = veritrail_emulator::route::classify(
        &method.parse::<Method>().unwrap(),
        &target.parse().unwrap(),
        &h,
    );
    if let Some(named) = classified.operation {
        assert_eq!(&named, op, "{method} {target}");
    }
    Some(reply(a.emulator.handle(
        &method.parse().unwrap(),
        &target,
        &h,
        &body,
    )))
}

/// The CloudTrail records of `event_name` (LookupEvents, signed by `signer`).
fn lookup(a: &Auth, signer: &Signer, event_name: &str) -> Vec<serde_json::Value> {
    let body = format!(
        r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"{event_name}"}}]}}"#
    );
    let h = signer.sign(
        "cloudtrail",
        "POST",
        "/",
        "",
        &[
            ("x-amz-target", "CloudTrail_20131101.LookupEvents"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    );
    let (status, _, text) = reply(a.emulator.handle(&Method::POST, "/", &h, body.as_bytes()));
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
        .collect()
}

fn denied(code: &str) -> bool {
    code == "AccessDenied" || code == "AccessDeniedException"
}

#[test]
fn each_role_is_refused_every_call_above_it_and_allowed_the_rest() {
    let a = emulator("roles");
    let mut seen = [0usize; 3];
    for op in Operation::every() {
        let access = op.access();
        for role in ["auditor", "writer"] {
            let Some((status, code, body)) = call(&a, &Signer::new(role), &op) else {
                continue;
            };
            let allowed = match role {
                "auditor" => access == Access::Read,
                _ => access != Access::Manage,
            };
            if allowed {
                assert!(
                    !denied(&code),
                    "{role} {op:?} ({access:?}): {status} {body}"
                );
            } else {
                assert_eq!(status, 403, "{role} {op:?} ({access:?}): {body}");
                assert!(denied(&code), "{role} {op:?}: {code} {body}");
                assert!(body.contains("is not authorized to perform"), "{body}");
            }
        }
        seen[access as usize] += 1;
    }
    // Every kind of access was exercised.
    assert!(seen.iter().all(|n| *n > 10), "{seen:?}");
    // Nothing the auditor and the writer were refused happened: no bucket, no ledger.
    let admin = Signer::new("admin");
    let h = admin.sign("s3", "GET", "/", "", &[], b"");
    let (status, _, body) = reply(a.emulator.handle(&Method::GET, "/", &h, b""));
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<Bucket>"), "{body}");
}

#[test]
fn refusals_are_recorded_with_the_principal_and_successes_name_it() {
    let a = emulator("records");
    let auditor = Signer::new("auditor");
    let (status, code, _) = call(&a, &auditor, &Operation::S3(S3Op::CreateBucket)).unwrap();
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    let writer = Signer::new("writer");
    let (status, _, body) = call(
        &a,
        &writer,
        &Operation::Sts(veritrail_emulator::ops::StsOp::GetCallerIdentity),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Arn>arn:aws:sts::123456789012:assumed-role/Ingest/run-7</Arn>")
            && body.contains("<Account>123456789012</Account>"),
        "{body}"
    );
    let lookup = |name: &str| {
        let mut found = lookup(&a, &auditor, name);
        assert_eq!(found.len(), 1, "{found:?}");
        found.remove(0)
    };
    let refused = lookup("CreateBucket");
    assert_eq!(refused["errorCode"], "AccessDenied");
    assert_eq!(refused["userIdentity"]["type"], "IAMUser");
    assert_eq!(
        refused["userIdentity"]["arn"],
        "arn:aws:iam::123456789012:user/audit/alice"
    );
    assert_eq!(refused["userIdentity"]["userName"], "alice");
    assert_eq!(refused["userIdentity"]["accountId"], "123456789012");
    assert_eq!(refused["userIdentity"]["accessKeyId"], "AKIAAUDITOR");
    let ok = lookup("GetCallerIdentity");
    assert!(ok.get("errorCode").is_none(), "{ok}");
    assert_eq!(ok["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        ok["userIdentity"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/Ingest/run-7"
    );
}

#[test]
fn unproven_requests_are_refused_in_each_protocol_and_not_recorded() {
    let a = emulator("unproven");
    let get_caller = Operation::Sts(veritrail_emulator::ops::StsOp::GetCallerIdentity);
    let list_buckets = Operation::S3(S3Op::ListBuckets);
    let list_trails = Operation::CloudTrail(veritrail_emulator::ops::CloudTrailOp::ListTrails);
    // A wrong secret.
    let wrong = Signer {
        secret: "not-the-secret",
        ..Signer::new("auditor")
    };
    let expect = |op: &Operation, signer: &Signer, status: u16, code: &str| {
        let (s, c, body) = call(&a, signer, op).unwrap();
        assert_eq!((s, c.as_str()), (status, code), "{op:?}: {body}");
        body
    };
    let body = expect(&list_buckets, &wrong, 403, "SignatureDoesNotMatch");
    assert!(body.contains("<CanonicalRequest>GET\n/\n"), "{body}");
    expect(&list_trails, &wrong, 403, "SignatureDoesNotMatch");
    expect(&get_caller, &wrong, 403, "SignatureDoesNotMatch");
    // An access key the file does not have.
    let unknown = Signer {
        key: "AKIANOBODY",
        ..Signer::new("auditor")
    };
    expect(&list_buckets, &unknown, 403, "InvalidAccessKeyId");
    expect(&list_trails, &unknown, 403, "InvalidClientTokenId");
    expect(&get_caller, &unknown, 403, "InvalidClientTokenId");
    // A client clock 16 minutes behind the emulator's.
    let late = Signer {
        at: NOW - 16 * 60_000,
        ..Signer::new("auditor")
    };
    let body = expect(&list_buckets, &late, 403, "RequestTimeTooSkewed");
    assert!(
        body.contains("<ServerTime>2030-01-01T00:00:00Z</ServerTime>")
            && body.contains("<RequestTime>20291231T234400Z</RequestTime>"),
        "{body}"
    );
    expect(&list_trails, &late, 403, "RequestTimeTooSkewed");
    // The emulator's clock moves instead: 14 minutes is within the limit, 16 is not.
    let right = Signer::new("auditor");
    a.clock.set(UtcMillis(NOW + 14 * 60_000));
    expect(&list_trails, &right, 200, "");
    a.clock.set(UtcMillis(NOW + 16 * 60_000));
    expect(&list_trails, &right, 403, "RequestTimeTooSkewed");
    a.clock.set(UtcMillis(NOW));
    // No signature at all.
    let (s, c, _) = reply(a.emulator.handle(&Method::GET, "/", &HeaderMap::new(), b""));
    assert_eq!((s, c.as_str()), (403, "AccessDenied"));
    let mut h = HeaderMap::new();
    h.insert(
        "x-amz-target",
        HeaderValue::from_static("CloudTrail_20131101.ListTrails"),
    );
    let (s, c, _) = reply(a.emulator.handle(&Method::POST, "/", &h, b"{}"));
    assert_eq!((s, c.as_str()), (403, "MissingAuthenticationToken"));
    // A malformed Authorization header.
    let mut h = right.sign("s3", "GET", "/", "", &[], b"");
    h.insert(
        "authorization",
        HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIAAUDITOR"),
    );
    let (s, c, _) = reply(a.emulator.handle(&Method::GET, "/", &h, b""));
    assert_eq!((s, c.as_str()), (400, "IncompleteSignature"));
    // A body other than the one signed.
    let h = Signer::new("admin").sign(
        "cloudtrail",
        "POST",
        "/",
        "",
        &[
            ("x-amz-target", "CloudTrail_20131101.CreateTrail"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        br#"{"Name":"t","S3BucketName":"b"}"#,
    );
    let (s, c, body) = reply(a.emulator.handle(
        &Method::POST,
        "/",
        &h,
        br#"{"Name":"u","S3BucketName":"b"}"#,
    ));
    assert_eq!((s, c.as_str()), (403, "SignatureDoesNotMatch"), "{body}");
    // None of these was recorded: only the one ListTrails that was served is.
    assert_eq!(lookup(&a, &right, "ListTrails").len(), 1);
    for name in ["ListBuckets", "GetCallerIdentity", "CreateTrail"] {
        assert_eq!(lookup(&a, &right, name).len(), 0, "{name}");
    }
}

#[test]
fn an_auditors_qldb_session_reads_but_never_writes() {
    let a = emulator("session");
    let admin = Signer::new("admin");
    let body = br#"{"Name":"l","PermissionsMode":"STANDARD","DeletionProtection":false}"#;
    let h = admin.sign(
        "qldb",
        "POST",
        "/ledgers",
        "",
        &[("content-type", "application/json")],
        body,
    );
    let (status, _, text) = reply(a.emulator.handle(&Method::POST, "/ledgers", &h, body));
    assert_eq!(status, 200, "{text}");
    let db = a.emulator.ledger_database("l").unwrap();
    let blocks = db.ledger().block_count();
    let auditor = Signer::new("auditor");
    let send = |command: serde_json::Value| {
        let body = command.to_string();
        let h = auditor.sign(
            "qldb",
            "POST",
            "/",
            "",
            &[
                ("x-amz-target", "QLDBSession.SendCommand"),
                ("content-type", "application/x-amz-json-1.0"),
            ],
            body.as_bytes(),
        );
        let (status, code, text) =
            reply(a.emulator.handle(&Method::POST, "/", &h, body.as_bytes()));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        (status, code, v)
    };
    let (status, _, v) = send(serde_json::json!({"StartSession": {"LedgerName": "l"}}));
    assert_eq!(status, 200, "{v}");
    let token = v["StartSession"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, _, v) = send(serde_json::json!({"SessionToken": token, "StartTransaction": {}}));
    let tx = v["StartTransaction"]["TransactionId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Reading is allowed.
    let (status, _, v) = send(serde_json::json!({"SessionToken": token,
        "ExecuteStatement": {"TransactionId": tx, "Statement": "SELECT * FROM information_schema.user_tables"}}));
    assert_eq!(status, 200, "{v}");
    // Writing is not: the transaction ends and nothing of it is committed.
    let (status, code, v) = send(serde_json::json!({"SessionToken": token,
        "ExecuteStatement": {"TransactionId": tx, "Statement": "CREATE TABLE t"}}));
    assert_eq!(
        (status, code.as_str()),
        (403, "AccessDeniedException"),
        "{v}"
    );
    let (status, _, v) = send(serde_json::json!({"SessionToken": token,
        "ExecuteStatement": {"TransactionId": tx, "Statement": "SELECT * FROM t"}}));
    assert_eq!(status, 400, "the transaction is over: {v}");
    assert_eq!(db.ledger().block_count(), blocks, "nothing was committed");
}

/// The Authorization header of a good request, and the query of a good presigned one, mutated
/// (bit flips, deletions, insertions of the bytes parsers care about, duplications,
/// truncations): each answer is a refusal in S3's shape, never a panic or a 500, and a request
/// is served only when what was mutated is still the same signature (spaces and the case of hex
/// digits aside); none is recorded under another identity.
#[test]
fn mutated_signatures_never_serve_an_unproven_identity() {
    use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};

    let a = emulator("mutated");
    let writer = Signer::new("writer");
    let signed = writer.sign("s3", "GET", "/", "", &[], b"");
    let good = signed["authorization"].to_str().unwrap().to_owned();
    let same = |text: &[u8]| -> Vec<u8> {
        text.iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect()
    };
    let mut settings = crate::mutate::config(400);
    settings.rng_seed = RngSeed::Fixed(0x5eed_0017);
    let mut runner = TestRunner::new(settings);
    let (served, refused) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    runner
        .run(
            &crate::mutate::mutated(good.clone().into_bytes()),
            |header| {
                let mut h = signed.clone();
                let Ok(value) = HeaderValue::from_bytes(&header) else {
                    return Ok(());
                };
                h.insert("authorization", value);
                let (status, code, body) = reply(a.emulator.handle(&Method::GET, "/", &h, b""));
                if status == 200 {
                    if same(&header) != same(good.as_bytes()) {
                        return Err(TestCaseError::fail(format!(
                            "served {:?}",
                            String::from_utf8_lossy(&header)
                        )));
                    }
                    served.set(served.get() + 1);
                } else if !(400..500).contains(&status) || code.is_empty() {
                    return Err(TestCaseError::fail(format!("{status} {body}")));
                } else {
                    refused.set(refused.get() + 1);
                }
                Ok(())
            },
        )
        .unwrap();
    // A presigned URL's query, mutated the same way.
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAWRITER%2F20300101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20300101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let mut host = HeaderMap::new();
    host.insert("host", HeaderValue::from_static("emulator.test"));
    let mut runner = TestRunner::new({
        let mut s = crate::mutate::config(400);
        s.rng_seed = RngSeed::Fixed(0x5eed_0018);
        s
    });
    runner
        .run(&crate::mutate::mutated(query.as_bytes().to_vec()), |q| {
            let Ok(q) = String::from_utf8(q) else {
                return Ok(());
            };
            let Ok(uri) = format!("/?{q}").parse::<axum::http::Uri>() else {
                return Ok(());
            };
            let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let (status, _, body) = reply(a.emulator.handle(&Method::GET, target, &host, b""));
            if !(400..500).contains(&status) {
                return Err(TestCaseError::fail(format!("{q}: {status} {body}")));
            }
            Ok(())
        })
        .unwrap();
    // The requests served are the records, each naming the writer; the refusals of unproven
    // requests are not recorded at all.
    let records = lookup(&a, &Signer::new("admin"), "ListBuckets");
    assert_eq!(records.len(), served.get());
    assert!(
        refused.get() > 300,
        "only {} mutations were refused",
        refused.get()
    );
    for record in records {
        assert_eq!(
            record["userIdentity"]["accessKeyId"], "AKIAWRITER",
            "{record}"
        );
    }
}
