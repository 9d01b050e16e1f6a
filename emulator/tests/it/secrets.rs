//! Secrets and integrity at rest (issue 10, item 5): keys live in a private key directory and
//! nowhere in the data; a QLDB session token works only for the access key that started it and
//! cannot be guessed; S3 checks every checksum a client sends; and what is stored cannot be
//! changed on disk unnoticed: an altered body is reported, never served, and an altered
//! metadata row stops start-up with a clear error.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PrivateKeyParts as _;
use serde_json::{Value, json};

use crate::{
    Instance, S3_AUTH, SIGNED, allow_cloudtrail, cloudtrail_call, exchange, request, runtime,
    s3_call,
};

/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200_000;
const CT_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push(path.clone());
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The ways a secret could be written down: raw, hex, base64, and (for RSA keys) the private
/// exponent and primes on their own.
fn forms_of(secret: &[u8], name: &str) -> Vec<Vec<u8>> {
    let mut raw: Vec<Vec<u8>> = vec![secret.to_vec()];
    if name.ends_with(".der") {
        let key = rsa::RsaPrivateKey::from_pkcs1_der(secret).unwrap();
        raw.push(key.d().to_bytes_be()[..32].to_vec());
        for p in key.primes() {
            raw.push(p.to_bytes_be()[..32].to_vec());
        }
    }
    let mut out = Vec::new();
    for r in raw {
        out.push(veritrail_emulator::wire::hex(&r).into_bytes());
        out.push(BASE64.encode(&r).into_bytes());
        out.push(r);
    }
    out
}

/// No file under `data` outside `keys` holds any form of any secret in `keys`.
fn no_secret_in(data: &Path, keys: &Path) -> usize {
    let mut key_files = Vec::new();
    files(keys, &mut key_files);
    let needles: Vec<(String, Vec<u8>)> = key_files
        .iter()
        .filter(|p| p.is_file())
        .flat_map(|p| {
            let name = p.display().to_string();
            forms_of(&std::fs::read(p).unwrap(), &name)
                .into_iter()
                .map(move |n| (name.clone(), n))
        })
        .collect();
    let mut data_files = Vec::new();
    files(data, &mut data_files);
    let mut scanned = 0;
    for file in data_files
        .iter()
        .filter(|p| p.is_file() && !p.starts_with(keys))
    {
        let bytes = std::fs::read(file).unwrap();
        scanned += bytes.len();
        for (secret, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} holds a form of the secret in {secret}",
                file.display()
            );
        }
    }
    scanned
}

#[test]
fn keys_are_private_and_never_in_the_data() {
    let mut emu = Instance::new("secrets-keys");
    emu.start(START, true);
    let url = emu.url().to_owned();
    // A logging trail with validation: digests are signed with the key store's keys.
    assert_eq!(emu.s3("PUT", "/trail-logs", &[], "").0, 200);
    allow_cloudtrail(&url, S3_AUTH.1, "trail-logs");
    let created = cloudtrail_call(
        &url,
        CT_AUTH,
        "CreateTrail",
        &json!({"Name": "signed", "S3BucketName": "trail-logs", "EnableLogFileValidation": true}),
    );
    assert_eq!(created.status, 200, "{:?}", created.json);
    assert_eq!(
        cloudtrail_call(&url, CT_AUTH, "StartLogging", &json!({"Name": "signed"})).status,
        200
    );
    for i in 0..5 {
        assert_eq!(emu.s3("PUT", &format!("/trail-logs/x{i}"), &[], "x").0, 200);
    }
    let (status, _, text) = exchange(
        &url,
        "POST",
        "/_veritrail/clock",
        &[],
        r#"{"advanceSeconds": 7200}"#,
    );
    assert_eq!(status, 200, "{text}");
    let emulator = &emu.running.as_ref().unwrap().emulator;
    let digests = emulator.s3_keys("trail-logs", "AWSLogs/");
    assert!(
        digests.iter().any(|k| k.contains("CloudTrail-Digest")),
        "no digest was signed: {digests:?}"
    );
    let key_dir = emulator.config.key_dir();
    assert!(key_dir.join("s3-integrity.key").is_file());
    let mut key_files = Vec::new();
    files(&key_dir, &mut key_files);
    assert!(
        key_files
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "der")),
        "{key_files:?}"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_dir), 0o700);
        for p in &key_files {
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(p), want, "{}", p.display());
        }
    }
    // Neither while running (the WAL holds recent pages) nor after a clean stop.
    let dir = emu.dir.clone();
    assert!(no_secret_in(&dir, &key_dir) > 0);
    emu.stop();
    assert!(no_secret_in(&dir, &key_dir) > 0);
    // A key file others may read is refused at start-up.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let integrity = key_dir.join("s3-integrity.key");
        std::fs::set_permissions(&integrity, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = emu.try_start(START, false).unwrap_err();
        assert!(
            refused.contains("s3-integrity.key") && refused.contains("0600"),
            "{refused}"
        );
    }
}

fn session(url: &str, auth: Option<&str>, body: &Value) -> crate::Reply {
    let mut headers = vec![
        ("X-Amz-Target", "QLDBSession.SendCommand"),
        ("Content-Type", "application/x-amz-json-1.0"),
    ];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    request(url, "POST", "/", &headers, &body.to_string())
}

#[test]
fn session_tokens_belong_to_their_key_and_cannot_be_guessed() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let url = emu.url.clone();
    let created = request(
        &url,
        "POST",
        "/ledgers",
        &[SIGNED],
        &json!({"Name": "tokens", "PermissionsMode": "STANDARD"}).to_string(),
    );
    assert_eq!(created.status, 200);
    let alice = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/qldb/aws4_request, SignedHeaders=host, Signature=00";
    let mallory = "AWS4-HMAC-SHA256 Credential=AKIDMALLORY/20240101/us-east-1/qldb/aws4_request, SignedHeaders=host, Signature=00";
    let start = json!({"StartSession": {"LedgerName": "tokens"}});
    let started = session(&url, Some(alice), &start);
    let token = started.json["StartSession"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let begin = |t: &str| json!({"SessionToken": t, "StartTransaction": {}});
    // Another key, or none, is told the token is not valid, exactly as for a made-up one.
    let unknown = session(&url, Some(alice), &begin(&BASE64.encode([7u8; 32])));
    assert_eq!(unknown.error_type(), "InvalidSessionException");
    for auth in [Some(mallory), None] {
        let stolen = session(&url, auth, &begin(&token));
        assert_eq!(stolen.error_type(), "InvalidSessionException");
        assert_eq!(stolen.json["message"], unknown.json["message"]);
    }
    // The owner still can, so the attempts did not end the session.
    assert_eq!(session(&url, Some(alice), &begin(&token)).status, 200);

    // A thousand tokens: distinct, 32 bytes each, unrelated to the request ids beside them,
    // and every byte position all over the place.
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    let mut texts = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let r = session(&url, Some(alice), &start);
        let t = r.json["StartSession"]["SessionToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let request_id = r.header("x-amzn-requestid").unwrap();
        assert!(!t.contains(request_id) && !request_id.contains(&t));
        assert_eq!(t.len(), 44, "{t}");
        tokens.push(BASE64.decode(&t).unwrap());
        assert!(texts.insert(t), "a token repeated");
    }
    let prefixes: std::collections::BTreeSet<&str> = texts.iter().map(|t| &t[..8]).collect();
    assert_eq!(prefixes.len(), 1000, "tokens share a prefix");
    for i in 0..32 {
        let values: std::collections::BTreeSet<u8> = tokens.iter().map(|t| t[i]).collect();
        assert!(
            values.len() >= 200,
            "byte {i} takes only {} values",
            values.len()
        );
    }
}

/// "hello world" under each algorithm, computed independently (Python's hashlib and zlib, and
/// the CRC definitions).
const HELLO: &str = "hello world";
const SUMS: &[(&str, &str)] = &[
    ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="),
    ("x-amz-checksum-crc32", "DUoRhQ=="),
    ("x-amz-checksum-crc32c", "yZRlqg=="),
    ("x-amz-checksum-crc64nvme", "jSnVw/bqjr4="),
    ("x-amz-checksum-sha1", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
    (
        "x-amz-checksum-sha256",
        "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
    ),
];

#[test]
fn every_checksum_a_client_sends_is_checked() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let url = emu.url.clone();
    let s3 = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        s3_call(&url, method, path, headers, body)
    };
    assert_eq!(s3("PUT", "/sums", &[], "").0, 200);
    let refused = |headers: &[(&str, &str)], body: &str, code: &str| {
        let (status, _, text) = s3("PUT", "/sums/k", headers, body);
        assert_eq!(status, 400, "{headers:?}: {text}");
        assert!(
            text.contains(&format!("<Code>{code}</Code>")),
            "{headers:?}: {text}"
        );
    };
    for (header, right) in SUMS {
        // Right for another body.
        refused(&[(header, right)], "hello World", "BadDigest");
        // Not base64 of the algorithm's size.
        let malformed = if *header == "content-md5" {
            "InvalidDigest"
        } else {
            "InvalidRequest"
        };
        for bad in ["!!!!", "AAAA", "", &format!("{right}AAAA")] {
            refused(&[(header, bad)], HELLO, malformed);
        }
        // Right: stored, and the checksum is returned when asked for.
        let (status, h, text) = s3("PUT", "/sums/k", &[(header, right)], HELLO);
        assert_eq!(status, 200, "{header}: {text}");
        if *header != "content-md5" {
            assert!(h.iter().any(|(k, v)| k == header && v == right), "{h:?}");
            let (_, h, body) = s3("GET", "/sums/k", &[("x-amz-checksum-mode", "ENABLED")], "");
            assert_eq!(body, HELLO);
            assert!(h.iter().any(|(k, v)| k == header && v == right), "{h:?}");
        }
        assert_eq!(s3("DELETE", "/sums/k", &[], "").0, 204);
    }
    // Two checksums: both must match.
    let zeros = BASE64.encode([0u8; 32]);
    refused(
        &[SUMS[0], ("x-amz-checksum-crc32", "AAAAAA==")],
        HELLO,
        "BadDigest",
    );
    refused(
        &[SUMS[1], ("x-amz-checksum-sha256", zeros.as_str())],
        HELLO,
        "BadDigest",
    );
    // aws-chunked with a trailing checksum, as the SDKs send it.
    let chunked = |trailer: &str| {
        format!(
            "5;chunk-signature=00\r\nhello\r\n6;chunk-signature=00\r\n world\r\n0\r\n{trailer}\r\n\r\n"
        )
    };
    let framing = [
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
        ("x-amz-decoded-content-length", "11"),
    ];
    refused(
        &framing,
        &chunked("x-amz-checksum-crc32:AAAAAA=="),
        "BadDigest",
    );
    refused(&framing, &chunked(""), "IncompleteBody");
    refused(
        &framing,
        &chunked("x-amz-checksum-crc32:!!"),
        "InvalidRequest",
    );
    let mut short = framing.to_vec();
    short[3] = ("x-amz-decoded-content-length", "10");
    refused(
        &short,
        &chunked("x-amz-checksum-crc32:DUoRhQ=="),
        "IncompleteBody",
    );
    refused(&framing, "zz\r\nhello", "IncompleteBody");
    // Nothing refused was stored.
    assert_eq!(s3("GET", "/sums/k", &[], "").0, 404);
    let (status, _, text) = s3(
        "PUT",
        "/sums/k",
        &framing,
        &chunked("x-amz-checksum-crc32:DUoRhQ=="),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(s3("GET", "/sums/k", &[], "").2, HELLO);
}

/// Runs `f` on `aws.sqlite` while the emulator is stopped.
fn edit(dir: &Path, f: impl FnOnce(&rusqlite::Connection)) {
    let conn = rusqlite::Connection::open(dir.join("aws.sqlite")).unwrap();
    f(&conn);
}

fn row_of(conn: &rusqlite::Connection, key: &str) -> (i64, String, Vec<u8>) {
    conn.query_row(
        "SELECT seq, meta, body FROM s3_versions WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

#[test]
fn what_is_changed_on_disk_is_reported_not_served() {
    let mut emu = Instance::new("secrets-integrity");
    emu.start(START, false);
    emu.lock_bucket("vault");
    let md5 = veritrail_emulator::services::s3::content_md5(b"held");
    for (key, body, headers) in [
        ("body.txt", "the original body", vec![]),
        (
            "held.txt",
            "held",
            vec![
                ("x-amz-object-lock-legal-hold", "ON"),
                ("Content-MD5", md5.as_str()),
            ],
        ),
    ] {
        let (status, text) = emu.s3("PUT", &format!("/vault/{key}"), &headers, body);
        assert_eq!(status, 200, "{text}");
    }
    emu.stop();

    // A body changed by one bit, while the emulator was stopped.
    edit(&emu.dir, |c| {
        let (seq, _, mut body) = row_of(c, "body.txt");
        body[0] ^= 1;
        c.execute(
            "UPDATE s3_versions SET body = ?1 WHERE seq = ?2",
            rusqlite::params![body, seq],
        )
        .unwrap();
    });
    emu.start(START, false);
    for headers in [&[][..], &[("Range", "bytes=1-3")][..]] {
        let (status, text) = emu.s3("GET", "/vault/body.txt", headers, "");
        assert_eq!(status, 500, "{text}");
        assert!(
            text.contains("<Code>InternalError</Code>")
                && text.contains("vault/body.txt failed its integrity check"),
            "{text}"
        );
        assert!(!text.contains("original body"), "{text}");
    }
    // Everything else is served.
    let (status, text) = emu.s3("GET", "/vault/held.txt", &[], "");
    assert_eq!(status, 200, "{text}");
    emu.stop();

    // A metadata row changed (the legal hold lifted by hand): start-up fails and says where.
    let mut original = String::new();
    edit(&emu.dir, |c| {
        let (seq, meta, _) = row_of(c, "held.txt");
        original = meta.clone();
        let mut m: Value = serde_json::from_str(&meta).unwrap();
        m["legalHold"] = json!(false);
        c.execute(
            "UPDATE s3_versions SET meta = ?1 WHERE seq = ?2",
            rusqlite::params![m.to_string(), seq],
        )
        .unwrap();
    });
    let refused = emu.try_start(START, false).unwrap_err();
    assert!(
        refused.contains("vault/held.txt") && refused.contains("integrity check"),
        "{refused}"
    );
    // Put back, it opens again; then the bucket's settings are changed (Object Lock off).
    edit(&emu.dir, |c| {
        c.execute(
            "UPDATE s3_versions SET meta = ?1 WHERE key = 'held.txt'",
            [&original],
        )
        .unwrap();
    });
    emu.start(START, false);
    assert_eq!(emu.s3("GET", "/vault/held.txt", &[], "").0, 200);
    emu.stop();
    edit(&emu.dir, |c| {
        let settings: String = c
            .query_row(
                "SELECT settings FROM s3_buckets WHERE name = 'vault'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut s: Value = serde_json::from_str(&settings).unwrap();
        s["objectLock"] = json!(false);
        c.execute(
            "UPDATE s3_buckets SET settings = ?1 WHERE name = 'vault'",
            [s.to_string()],
        )
        .unwrap();
    });
    let refused = emu.try_start(START, false).unwrap_err();
    assert!(
        refused.contains("bucket vault") && refused.contains("integrity check"),
        "{refused}"
    );
}

#[test]
fn a_saved_clock_moved_on_disk_does_not_expire_retention() {
    let mut emu = Instance::new("secrets-clock");
    emu.start(START, false);
    emu.lock_bucket("vault");
    let md5 = veritrail_emulator::services::s3::content_md5(b"evidence");
    let (status, text) = emu.s3(
        "PUT",
        "/vault/ledger.csv",
        &[
            ("Content-MD5", md5.as_str()),
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            (
                "x-amz-object-lock-retain-until-date",
                "2027-01-01T00:00:00Z",
            ),
        ],
        "evidence",
    );
    assert_eq!(status, 200, "{text}");
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-version-id: "))
        .unwrap()
        .to_owned();
    emu.stop();
    let saved = |c: &rusqlite::Connection| -> (i64, Option<Vec<u8>>) {
        c.query_row(
            "SELECT now, mac FROM emulator_clock WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let mut original = (0, None);
    // The saved time moved four years ahead by hand, so the restart would begin past the
    // retention date: start-up refuses, naming the row.
    edit(&emu.dir, |c| {
        original = saved(c);
        c.execute(
            "UPDATE emulator_clock SET now = now + 4 * 366 * 86400000 WHERE id = 1",
            [],
        )
        .unwrap();
    });
    let refused = emu.try_start(START, false).unwrap_err();
    assert!(
        refused.contains("emulator_clock") && refused.contains("integrity tag"),
        "{refused}"
    );
    // The tag taken away as well: refused all the same.
    edit(&emu.dir, |c| {
        c.execute("UPDATE emulator_clock SET mac = NULL WHERE id = 1", [])
            .unwrap();
    });
    let refused = emu.try_start(START, false).unwrap_err();
    assert!(refused.contains("integrity tag"), "{refused}");
    // Put back, it starts, and the version is still locked.
    edit(&emu.dir, |c| {
        c.execute(
            "UPDATE emulator_clock SET now = ?1, mac = ?2 WHERE id = 1",
            rusqlite::params![original.0, original.1],
        )
        .unwrap();
    });
    emu.start(START, false);
    let (status, text) = emu.s3(
        "DELETE",
        &format!("/vault/ledger.csv?versionId={version}"),
        &[],
        "",
    );
    assert_eq!(status, 403, "{text}");
    let (status, _) = emu.s3("GET", "/vault/ledger.csv", &[], "");
    assert_eq!(status, 200);
}
