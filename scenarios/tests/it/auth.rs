//! Authenticated serving with the real AWS SDK for Rust: an emulator with a credentials file
//! (auditor, writer, admin), and clients with the right secret, a wrong one, an unknown key, a
//! presigned URL before and after it expires, and a clock more than 15 minutes off (the
//! emulator's clock is moved). The auditor reads and is refused every write, the QLDB session
//! included.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use veritrail_emulator::auth::{Authenticator, Credentials};
use veritrail_emulator::{Running, spawn_with};
use veritrail_scenarios::{DriverError, Session, sdk_config_as};

pub const CREDENTIALS: &str = "\
[alice]
aws_access_key_id = AKIAALICEAUDITOR
aws_secret_access_key = alice/Secret+Key0123456789
principal = arn:aws:iam::123456789012:user/alice
role = auditor

[ingest]
aws_access_key_id = AKIAINGESTWRITER
aws_secret_access_key = ingest-secret
principal = arn:aws:iam::123456789012:user/ingest
role = writer

[ops]
aws_access_key_id = AKIAOPSADMIN
aws_secret_access_key = ops-secret
principal = arn:aws:iam::123456789012:user/ops
role = admin
";

pub async fn authenticated() -> Running {
    spawn_with(|c| {
        c.credentials = Some(Arc::new(Authenticator::new(
            Credentials::parse(CREDENTIALS, "test").unwrap(),
        )));
    })
    .await
    .unwrap()
}

fn s3(url: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config_as(url, key, secret))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn sts(url: &str, key: &str, secret: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config_as(url, key, secret))
}

fn cloudtrail(url: &str, key: &str, secret: &str) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(&sdk_config_as(url, key, secret))
}

/// The error codes of ListBuckets (REST-XML), GetCallerIdentity (query) and DescribeTrails
/// (JSON) signed with `key` and `secret` (`None` for a call that succeeded).
async fn refusals(url: &str, key: &str, secret: &str) -> [Option<String>; 3] {
    let code = |e: &dyn aws_sdk_s3::error::ProvideErrorMetadata| e.code().map(str::to_owned);
    [
        s3(url, key, secret)
            .list_buckets()
            .send()
            .await
            .err()
            .and_then(|e| code(&e)),
        sts(url, key, secret)
            .get_caller_identity()
            .send()
            .await
            .err()
            .and_then(|e| code(&e)),
        cloudtrail(url, key, secret)
            .describe_trails()
            .send()
            .await
            .err()
            .and_then(|e| code(&e)),
    ]
}

/// A plain GET of `url` (a presigned URL): status and body.
fn fetch(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_proves_who_calls_and_roles_decide_what_they_may_do() {
    let e = authenticated().await;
    let url = e.url.as_str();
    let ops = s3(url, "AKIAOPSADMIN", "ops-secret");
    ops.create_bucket().bucket("evidence").send().await.unwrap();
    let writer = s3(url, "AKIAINGESTWRITER", "ingest-secret");
    writer
        .put_object()
        .bucket("evidence")
        .key("a.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    // With a checksum in an aws-chunked trailer, as recent SDKs send it.
    writer
        .put_object()
        .bucket("evidence")
        .key("b.txt")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(vec![b'x'; 100_000]))
        .send()
        .await
        .unwrap();
    let alice = s3(url, "AKIAALICEAUDITOR", "alice/Secret+Key0123456789");
    let got = alice
        .get_object()
        .bucket("evidence")
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"hello"
    );
    let size = alice
        .head_object()
        .bucket("evidence")
        .key("b.txt")
        .send()
        .await
        .unwrap()
        .content_length();
    assert_eq!(size, Some(100_000));
    // The auditor writes nothing, manages nothing; the writer manages nothing.
    let refused = alice
        .put_object()
        .bucket("evidence")
        .key("c.txt")
        .body(ByteStream::from_static(b"no"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused:?}");
    let refused = alice
        .delete_bucket()
        .bucket("evidence")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"));
    let refused = writer
        .delete_object()
        .bucket("evidence")
        .key("a.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDenied"));
    let listed = alice
        .list_objects_v2()
        .bucket("evidence")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 2, "nothing refused happened");

    // Who am I: the principal of the file.
    let me = sts(url, "AKIAALICEAUDITOR", "alice/Secret+Key0123456789")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    assert_eq!(me.account(), Some("123456789012"));

    // A wrong secret and an unknown key, in each protocol.
    assert_eq!(
        refusals(url, "AKIAALICEAUDITOR", "not-her-secret").await,
        [Some("SignatureDoesNotMatch"); 3].map(|c| c.map(str::to_owned))
    );
    assert_eq!(
        refusals(url, "AKIANOBODY", "x").await,
        [
            Some("InvalidAccessKeyId"),
            Some("InvalidClientTokenId"),
            Some("InvalidClientTokenId")
        ]
        .map(|c| c.map(str::to_owned))
    );

    // A presigned URL: good for a minute on the emulator's clock.
    let presigned = alice
        .get_object()
        .bucket("evidence")
        .key("a.txt")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap(),
        )
        .await
        .unwrap();
    let link = presigned.uri().to_owned();
    let (status, body) = tokio::task::spawn_blocking({
        let link = link.clone();
        move || fetch(&link)
    })
    .await
    .unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));
    let tampered = link.replace("a.txt", "b.txt");
    let (status, body) = tokio::task::spawn_blocking(move || fetch(&tampered))
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    e.emulator.clock().advance(61_000).unwrap();
    let (status, body) = tokio::task::spawn_blocking(move || fetch(&link))
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{body}"
    );

    // The client's clock more than 15 minutes from the server's.
    e.emulator.clock().advance(16 * 60_000).unwrap();
    assert_eq!(
        refusals(url, "AKIAALICEAUDITOR", "alice/Secret+Key0123456789").await,
        [Some("RequestTimeTooSkewed"); 3].map(|c| c.map(str::to_owned))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditors_qldb_transactions_read_and_never_write() {
    let e = authenticated().await;
    let url = e.url.as_str();
    let admin = sdk_config_as(url, "AKIAOPSADMIN", "ops-secret");
    crate::active_ledger(&aws_sdk_qldb::Client::new(&admin), "books", false).await;
    let writer =
        aws_sdk_qldbsession::Client::new(&sdk_config_as(url, "AKIAINGESTWRITER", "ingest-secret"));
    let session = Session::start(&writer, "books").await.unwrap();
    session
        .execute(|t| {
            Box::pin(async move {
                t.exec("CREATE TABLE entries", &[]).await?;
                t.exec("INSERT INTO entries {'n': 1}", &[]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let alice = aws_sdk_qldbsession::Client::new(&sdk_config_as(
        url,
        "AKIAALICEAUDITOR",
        "alice/Secret+Key0123456789",
    ));
    let session = Session::start(&alice, "books").await.unwrap();
    let rows = session
        .execute(|t| Box::pin(async move { t.exec("SELECT * FROM entries", &[]).await }))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let refused = session
        .execute(|t| Box::pin(async move { t.exec("INSERT INTO entries {'n': 2}", &[]).await }))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DriverError::Other(m) if m.contains("AccessDenied")),
        "{refused:?}"
    );
    let rows = session
        .execute(|t| Box::pin(async move { t.exec("SELECT * FROM entries", &[]).await }))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the refused insert was not committed");
    // The auditor may not create or delete ledgers either.
    let auditor_qldb = aws_sdk_qldb::Client::new(&sdk_config_as(
        url,
        "AKIAALICEAUDITOR",
        "alice/Secret+Key0123456789",
    ));
    let err = auditor_qldb
        .delete_ledger()
        .name("books")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    let digest = auditor_qldb
        .get_digest()
        .name("books")
        .send()
        .await
        .unwrap();
    assert!(!digest.digest().as_ref().is_empty());
}

/// Runs `drivers/boto3_auth.py` against `url` (trusting `ca` for HTTPS); its presigned URL.
pub async fn boto3_auth(url: &str, ca: Option<&std::path::Path>) -> String {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("drivers/boto3_auth.py");
    let mut cmd = std::process::Command::new(crate::drivers::python());
    cmd.arg(script)
        .arg(url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    if let Some(ca) = ca {
        cmd.arg(ca);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("boto3 auth: ok"),
        "boto3 failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("presigned: "))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_sign_as_the_file_says() {
    let e = authenticated().await;
    let link = boto3_auth(&e.url, None).await;
    let (status, body) = tokio::task::spawn_blocking({
        let link = link.clone();
        move || fetch(&link)
    })
    .await
    .unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));

    let emulator = Arc::clone(&e.emulator);
    crate::awscli::with_cli(&e.url, "auth-cli", move |u, home| {
        let aws = |who: (&str, &str), args: &[&str]| {
            let out = crate::awscli::command(u, home, args)
                .env("AWS_ACCESS_KEY_ID", who.0)
                .env("AWS_SECRET_ACCESS_KEY", who.1)
                .env("AWS_MAX_ATTEMPTS", "1")
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let alice = ("AKIAALICEAUDITOR", "alice/Secret+Key0123456789");
        let ingest = ("AKIAINGESTWRITER", "ingest-secret");
        let file = home.join("record.json");
        std::fs::write(&file, b"{\"eventName\":\"ConsoleLogin\"}\n").unwrap();
        let up = [
            "s3",
            "cp",
            file.to_str().unwrap(),
            "s3://evidence/cli/record.json",
        ];
        let (ok, out) = aws(ingest, &up);
        assert!(ok, "{out}");
        let down = home.join("down.json");
        let (ok, out) = aws(
            alice,
            &[
                "s3",
                "cp",
                "s3://evidence/cli/record.json",
                down.to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}");
        assert_eq!(std::fs::read(&down).unwrap(), std::fs::read(&file).unwrap());
        let (ok, out) = aws(alice, &up);
        assert!(!ok && out.contains("AccessDenied"), "{out}");
        let (ok, out) = aws(
            alice,
            &[
                "qldb",
                "create-ledger",
                "--name",
                "x",
                "--permissions-mode",
                "STANDARD",
            ],
        );
        assert!(!ok && out.contains("AccessDeniedException"), "{out}");
        let (ok, out) = aws(alice, &["sts", "get-caller-identity"]);
        assert!(
            ok && out.contains("arn:aws:iam::123456789012:user/alice"),
            "{out}"
        );
        let (ok, out) = aws(("AKIAALICEAUDITOR", "wrong"), &["s3", "ls"]);
        assert!(!ok && out.contains("SignatureDoesNotMatch"), "{out}");
        let (ok, out) = aws(("AKIANOBODY", "x"), &["sts", "get-caller-identity"]);
        assert!(!ok && out.contains("InvalidClientTokenId"), "{out}");
        // awscli 1.x presigns with Signature Version 2 unless told otherwise (refused here).
        let (ok, out) = aws(
            alice,
            &["configure", "set", "default.s3.signature_version", "s3v4"],
        );
        assert!(ok, "{out}");
        let (ok, presigned) = aws(
            alice,
            &[
                "s3",
                "presign",
                "s3://evidence/cli/record.json",
                "--expires-in",
                "30",
            ],
        );
        assert!(ok, "{presigned}");
        let (status, body) = fetch(presigned.trim());
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("ConsoleLogin"));
        // The clock passes both presigned URLs' expiry, then 15 minutes.
        emulator.clock().advance(61_000).unwrap();
        let (status, body) = fetch(presigned.trim());
        assert_eq!(status, 403);
        assert!(body.contains("Request has expired"), "{body}");
        let (status, body) = fetch(&link);
        assert_eq!(status, 403);
        assert!(body.contains("Request has expired"), "{body}");
        emulator.clock().advance(16 * 60_000).unwrap();
        let (ok, out) = aws(alice, &["sts", "get-caller-identity"]);
        assert!(!ok && out.contains("RequestTimeTooSkewed"), "{out}");
    })
    .await;
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl command:
/// (certificate, key) in `dir`.
fn test_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=veritrail test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_test_certificate() {
    let dir = std::env::temp_dir().join(format!("veritrail-tls-{}", std::process::id()));
    let (cert, key) = test_certificate(&dir);
    let tls = veritrail_emulator::tls::server_config(&cert, &key).unwrap();
    let e = veritrail_emulator::spawn_tls(
        |c| {
            c.credentials = Some(Arc::new(Authenticator::new(
                Credentials::parse(CREDENTIALS, "test").unwrap(),
            )));
        },
        Some(tls),
    )
    .await
    .unwrap();
    assert!(e.url.starts_with("https://127.0.0.1:"), "{}", e.url);
    // boto3 trusting the test certificate (verify=…), every check of the plain-HTTP run.
    let link = boto3_auth(&e.url, Some(&cert)).await;
    assert!(link.starts_with("https://"), "{link}");
    // The AWS CLI with --ca-bundle; without it, the certificate is not trusted.
    let (url, ca) = (e.url.clone(), cert.clone());
    crate::awscli::with_cli(&e.url, "auth-tls", move |_, home| {
        let aws = |args: &[&str]| {
            crate::awscli::command(&url, home, args)
                .env("AWS_ACCESS_KEY_ID", "AKIAALICEAUDITOR")
                .env("AWS_SECRET_ACCESS_KEY", "alice/Secret+Key0123456789")
                .env("AWS_MAX_ATTEMPTS", "1")
                .output()
                .unwrap()
        };
        let out = aws(&[
            "--ca-bundle",
            ca.to_str().unwrap(),
            "s3",
            "ls",
            "s3://evidence/",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("a.txt"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = aws(&["s3", "ls", "s3://evidence/"]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("SSL"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
    // Plain HTTP to the HTTPS port is not served.
    let plain = e.url.replace("https://", "http://") + "/";
    let answered = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(|| fetch(&plain)).map(|(status, _)| status)
    })
    .await
    .unwrap();
    assert!(!matches!(answered, Ok(200)), "{answered:?}");
    // The server's own clients use the loopback plain-HTTP listener, authenticated the same.
    let internal = e.internal_url.as_str();
    assert!(internal.starts_with("http://127.0.0.1:"));
    let err = s3(internal, "AKIANOBODY", "x")
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidAccessKeyId"));
    let listed = s3(internal, "AKIAALICEAUDITOR", "alice/Secret+Key0123456789")
        .list_buckets()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.buckets().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
