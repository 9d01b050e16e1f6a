//! `veritrail validate-logs` over a local mirror of a trail signed with a test key: the AWS
//! CLI's summaries and exit codes for an intact trail and for each kind of tampering, plus the
//! chain check the AWS CLI does not make.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::SeedableRng as _;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use sha2::Digest as _;
use veritrail_verify::cloudtrail::{
    public_key_fingerprint, sha256_hex, sha256_with_rsa, string_to_sign,
};

use crate::{s, scratch, text, veritrail};

pub(crate) const BUCKET: &str = "trail-bucket";
pub(crate) const ARN: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub(crate) struct Mirror {
    pub(crate) root: PathBuf,
    key: rsa::RsaPrivateKey,
    fingerprint: String,
}

/// What a digest delivery leaves behind, for chaining the next one.
pub(crate) struct Delivered {
    key: String,
    sha256: String,
    signature: String,
}

impl Mirror {
    fn new(name: &str) -> Self {
        let root = scratch(name);
        let key =
            rsa::RsaPrivateKey::new(&mut rand::rngs::StdRng::seed_from_u64(11), 1024).unwrap();
        let der = key
            .to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let fingerprint = public_key_fingerprint(&der);
        let keys = serde_json::json!({"PublicKeyList": [{"Value": base64::engine::general_purpose::STANDARD.encode(&der), "Fingerprint": fingerprint}]});
        std::fs::write(root.join("public-keys.json"), keys.to_string()).unwrap();
        Self {
            root,
            key,
            fingerprint,
        }
    }

    fn put(&self, key: &str, body: &[u8], signature: Option<&str>) {
        let path = self.root.join(BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        if let Some(sig) = signature {
            let meta =
                serde_json::json!({"signature": sig, "signature-algorithm": "SHA256withRSA"});
            std::fs::write(
                format!("{}.metadata.json", path.display()),
                meta.to_string(),
            )
            .unwrap();
        }
    }

    /// Delivers one log and the digest for hour `h` (h:00 to h+1:00).
    fn hour(&self, h: u32, previous: Option<&Delivered>, forged_previous_hash: bool) -> Delivered {
        self.hour_edited(h, previous, forged_previous_hash, |_| {})
    }

    /// [`Mirror::hour`], with the digest's JSON edited before it is signed (what a faulty or
    /// dishonest producer holding the key could write).
    fn hour_edited(
        &self,
        h: u32,
        previous: Option<&Delivered>,
        forged_previous_hash: bool,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Delivered {
        let log_key = format!(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T{h:02}05Z_log{h:02}.json.gz"
        );
        let log = format!(
            r#"{{"Records":[{{"eventID":"e{h}","eventTime":"2024-01-01T{h:02}:01:00Z"}}]}}"#
        );
        self.put(&log_key, &gzip(log.as_bytes()), None);
        let key = format!(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T{:02}0000Z.json.gz",
            h + 1
        );
        let end = format!("2024-01-01T{:02}:00:00Z", h + 1);
        let previous_hash = previous.map(|p| {
            if forged_previous_hash {
                "0".repeat(64)
            } else {
                p.sha256.clone()
            }
        });
        let mut json = serde_json::json!({
            "awsAccountId": "123456789012",
            "digestStartTime": format!("2024-01-01T{h:02}:00:00Z"),
            "digestEndTime": end,
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": format!("2024-01-01T{h:02}:01:00Z"),
            "oldestEventTime": format!("2024-01-01T{h:02}:01:00Z"),
            "previousDigestS3Bucket": previous.map(|_| BUCKET),
            "previousDigestS3Object": previous.map(|p| p.key.clone()),
            "previousDigestHashValue": previous_hash,
            "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
            "previousDigestSignature": previous.map(|p| p.signature.clone()),
            "logFiles": [{"s3Bucket": BUCKET, "s3Object": log_key, "hashValue": sha256_hex(log.as_bytes()), "hashAlgorithm": "SHA-256"}],
        });
        edit(&mut json);
        let raw = json.to_string().into_bytes();
        let sha256 = sha256_hex(&raw);
        let end = json["digestEndTime"].as_str().unwrap().to_owned();
        let message = string_to_sign(
            &end,
            BUCKET,
            &key,
            &sha256,
            previous.map(|p| p.signature.as_str()),
        );
        let sig = self
            .key
            .sign(sha256_with_rsa(), &sha2::Sha256::digest(message.as_bytes()))
            .unwrap();
        let signature: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        self.put(&key, &gzip(&raw), Some(&signature));
        Delivered {
            key,
            sha256,
            signature,
        }
    }

    /// Three chained hours, 00:00 to 03:00.
    pub(crate) fn three_hours(name: &str) -> (Self, Vec<Delivered>) {
        let m = Self::new(name);
        let d0 = m.hour(0, None, false);
        let d1 = m.hour(1, Some(&d0), false);
        let d2 = m.hour(2, Some(&d1), false);
        (m, vec![d0, d1, d2])
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }

    fn validate(&self, end: &str, extra: &[&str]) -> (i32, String, String) {
        let root = s(&self.root).to_owned();
        let mut args = vec![
            "validate-logs",
            "--trail-arn",
            ARN,
            "--start-time",
            "2024-01-01T00:00:00Z",
            "--end-time",
            end,
            "--s3-bucket",
            BUCKET,
            "--local-dir",
            root.as_str(),
        ];
        args.extend_from_slice(extra);
        // Killed if it has not finished in a minute: a link loop once made it walk for ever.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let watch = veritrail_core::time::Stopwatch::start();
        while child.try_wait().unwrap().is_none() {
            if watch.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("validate-logs {args:?} did not finish in a minute");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
}

fn log_of(m: &Mirror, h: u32) -> PathBuf {
    m.path(&format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T{h:02}05Z_log{h:02}.json.gz"))
}

#[test]
fn an_intact_trail_is_valid() {
    let (m, _) = Mirror::three_hours("vl-intact");
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &["--verbose"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("Validating log files for trail {ARN} between 2024-01-01T00:00:00Z and 2024-01-01T03:00:00Z\n\n")), "{out}");
    assert!(
        // awscli's quirk, kept: a digest starting exactly at --start-time does not move the found
        // start, so the start printed is the next digest's.
        out.contains("Results found for 2024-01-01T01:00:00Z to 2024-01-01T03:00:00Z:"),
        "{out}"
    );
    assert!(
        out.contains("\n3/3 digest files valid\n3/3 log files valid\n"),
        "{out}"
    );
    assert_eq!(out.matches("\tvalid").count(), 6, "{out}");
    assert!(err.is_empty(), "{err}");
    let out = veritrail(&[
        "validate-logs",
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-01-01T00:00:00Z",
        "--end-time",
        "2024-01-01T03:00:00Z",
        "--s3-bucket",
        BUCKET,
        "--local-dir",
        s(&m.root),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["valid"].as_bool(),
            v["digests"]["valid"].as_u64(),
            v["logs"]["valid"].as_u64()
        ),
        (Some(true), Some(3), Some(3))
    );
}

#[test]
fn an_altered_log_is_invalid() {
    let (m, _) = Mirror::three_hours("vl-log");
    std::fs::write(log_of(&m, 1), gzip(br#"{"Records":[]}"#)).unwrap();
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("2/3 log files valid, 1/3 log files INVALID"),
        "{out}"
    );
    assert!(
        err.contains("_log01.json.gz\tINVALID: hash value doesn't match"),
        "{err}"
    );
}

#[test]
fn a_deleted_log_and_a_deleted_digest_are_invalid() {
    let (m, d) = Mirror::three_hours("vl-deleted");
    std::fs::remove_file(m.path(&d[1].key)).unwrap();
    std::fs::remove_file(log_of(&m, 2)).unwrap();
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("2/3 digest files valid, 1/3 digest files INVALID"),
        "{out}"
    );
    assert!(
        out.contains("1/2 log files valid, 1/2 log files INVALID"),
        "{out}"
    );
    assert!(err.contains("INVALID: not found"), "{err}");
}

#[test]
fn a_broken_signature_leaves_the_older_digests_valid() {
    let (m, d) = Mirror::three_hours("vl-signature");
    let meta = format!("{}.metadata.json", m.path(&d[2].key).display());
    let forged = format!(
        "{}{}",
        if d[2].signature.starts_with('0') {
            "1"
        } else {
            "0"
        },
        &d[2].signature[1..]
    );
    std::fs::write(
        &meta,
        serde_json::json!({"signature": forged, "signature-algorithm": "SHA256withRSA"})
            .to_string(),
    )
    .unwrap();
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("2/3 digest files valid, 1/3 digest files INVALID"),
        "{out}"
    );
    assert!(
        err.contains("INVALID: signature verification failed"),
        "{err}"
    );
}

#[test]
fn a_gap_between_chains_is_reported_and_not_invalid() {
    let (m, _) = Mirror::three_hours("vl-gap");
    // Logging stopped after 03:00 and a new chain began at 05:00.
    m.hour(5, None, false);
    let (code, out, err) = m.validate("2024-01-01T06:00:00Z", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("No log files were delivered by CloudTrail between 2024-01-01T03:00:00Z and 2024-01-01T05:00:00Z"), "{err}");
    assert!(out.contains("4/4 digest files valid"), "{out}");
}

#[test]
fn beyond_awscli_a_signed_digest_that_breaks_the_hash_chain() {
    let m = Mirror::new("vl-chain");
    let d0 = m.hour(0, None, false);
    // Signed with the trail's key, but its previousDigestHashValue does not match hour 0.
    m.hour(1, Some(&d0), true);
    let (code, out, err) = m.validate("2024-01-01T02:00:00Z", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("2/2 digest files valid"), "{out}");
    assert!(
        err.contains("INVALID: chain: previousDigestHashValue is 0000"),
        "{err}"
    );
}

#[test]
fn beyond_awscli_a_log_listed_twice_and_windows_out_of_place() {
    let m = Mirror::new("vl-twice");
    let d0 = m.hour(0, None, false);
    // Hour 1 lists hour 0's log again, beside its own.
    let d1 = m.hour_edited(1, Some(&d0), false, |j| {
        let again = serde_json::json!({"s3Bucket": BUCKET, "s3Object": "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0005Z_log00.json.gz", "hashValue": sha256_hex(br#"{"Records":[{"eventID":"e0","eventTime":"2024-01-01T00:01:00Z"}]}"#), "hashAlgorithm": "SHA-256"});
        j["logFiles"].as_array_mut().unwrap().push(again);
    });
    // Hour 2 claims a window that neither starts where hour 1 ended nor ends at its key's stamp.
    m.hour_edited(2, Some(&d1), false, |j| {
        j["digestStartTime"] = "2024-01-01T02:30:00Z".into();
        j["digestEndTime"] = "2024-01-01T03:30:00Z".into();
    });
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1, "{out}{err}");
    // awscli would call all of it valid: every signature holds.
    assert!(out.contains("3/3 digest files valid"), "{out}");
    assert!(
        err.contains("log00.json.gz\tINVALID: also listed by s3://trail-bucket/"),
        "{err}"
    );
    assert!(err.contains("INVALID: chain: out of place: its key is stamped 20240101T030000Z but its digestEndTime is 2024-01-01T03:30:00Z"), "{err}");
    assert!(err.contains("INVALID: chain: digestStartTime 2024-01-01T02:30:00Z is not the previous digest's digestEndTime 2024-01-01T02:00:00Z"), "{err}");
    let (_, json, _) = m.validate("2024-01-01T03:00:00Z", &["--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["logsListedTwice"], 1);
    assert_eq!(report["chainBreaks"], 2);
}

#[test]
fn hours_without_delivery_are_named_and_truncated_objects_are_reported() {
    let m = Mirror::new("vl-quiet");
    let d0 = m.hour(0, None, false);
    // Nothing delivered in hour 1: its digest lists no log file.
    let d1 = m.hour_edited(1, Some(&d0), false, |j| {
        j["logFiles"] = serde_json::json!([]);
        j["newestEventTime"] = serde_json::Value::Null;
        j["oldestEventTime"] = serde_json::Value::Null;
    });
    m.hour(2, Some(&d1), false);
    let (code, json, err) = m.validate("2024-01-01T03:00:00Z", &["--json"]);
    assert_eq!(code, 0, "{json}{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["noDelivery"],
        serde_json::json!([{"from": "2024-01-01T01:00:00Z", "to": "2024-01-01T02:00:00Z"}])
    );
    assert_eq!(report["logs"]["valid"], 2);

    // Half a log and half the newest digest: reported, never a crash.
    let log = log_of(&m, 0);
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    let newest = m.path("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T030000Z.json.gz");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("20240101T030000Z.json.gz\tINVALID: invalid format"),
        "{err}"
    );
    assert!(
        err.contains("log00.json.gz\tINVALID: invalid format"),
        "{err}"
    );
    assert!(
        out.contains("2/3 digest files valid, 1/3 digest files INVALID"),
        "{out}"
    );
}

#[test]
fn bad_arguments_exit_255() {
    let m = Mirror::new("vl-args");
    let root = s(&m.root).to_owned();
    for args in [
        vec![
            "validate-logs",
            "--trail-arn",
            "not-an-arn",
            "--start-time",
            "2024-01-01T00:00:00Z",
            "--s3-bucket",
            BUCKET,
            "--local-dir",
            root.as_str(),
        ],
        vec![
            "validate-logs",
            "--trail-arn",
            ARN,
            "--start-time",
            "2024-01-02T00:00:00Z",
            "--end-time",
            "2024-01-01T00:00:00Z",
            "--s3-bucket",
            BUCKET,
            "--local-dir",
            root.as_str(),
        ],
    ] {
        let out = veritrail(&args);
        assert_eq!(
            out.status.code(),
            Some(255),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let empty = scratch("vl-no-keys");
    let out = veritrail(&[
        "validate-logs",
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-01-01T00:00:00Z",
        "--s3-bucket",
        BUCKET,
        "--local-dir",
        s(&empty),
    ]);
    assert_eq!(out.status.code(), Some(255));
    let (code, out, _) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 0);
    assert!(out.contains("No digests found"), "{out}");
    let _: &Path = &m.root;
}

#[test]
fn symlinks_never_loop_and_never_lead_out_of_the_mirror() {
    use std::os::unix::fs::symlink;
    let m = Mirror::new("vl-links");
    let d0 = m.hour(0, None, false);
    // Hour 1 also lists a log by a key that climbs out of the bucket, and one whose file is a
    // link to a file outside the mirror; neither may be read.
    let outside = scratch("vl-links-outside");
    let secret = br#"{"Records":[]}"#;
    std::fs::write(outside.join("secret.json.gz"), gzip(secret)).unwrap();
    let logs = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01";
    let escaping = format!(
        "{logs}/../../../../../../../../{}/secret.json.gz",
        s(&outside)
    );
    let linked = format!("{logs}/linked.json.gz");
    symlink(outside.join("secret.json.gz"), m.path(&linked)).unwrap();
    let d1 = m.hour_edited(1, Some(&d0), false, |j| {
        for key in [&escaping, &linked] {
            j["logFiles"].as_array_mut().unwrap().push(serde_json::json!({"s3Bucket": BUCKET, "s3Object": key, "hashValue": sha256_hex(secret), "hashAlgorithm": "SHA-256"}));
        }
    });
    m.hour(2, Some(&d1), false);
    // Loops: a directory linked to its parent, one to itself, and one to the mirror's root.
    let digests = m.path("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01");
    symlink("..", digests.join("up")).unwrap();
    symlink(".", digests.join("self")).unwrap();
    symlink(&m.root, m.path("AWSLogs/root")).unwrap();
    symlink(&outside, m.path("AWSLogs/out")).unwrap();

    let (code, out, err) = m.validate("2024-01-01T03:00:00Z", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("3/3 digest files valid"), "{out}");
    assert!(
        out.contains("3/5 log files valid, 2/5 log files INVALID"),
        "{out}"
    );
    assert!(
        err.contains(&format!("s3://{BUCKET}/{escaping}\tINVALID: not found")),
        "{err}"
    );
    assert!(
        err.contains(&format!("s3://{BUCKET}/{linked}\tINVALID: not found")),
        "{err}"
    );
}

#[test]
fn with_json_digests_deleted_from_the_end_are_reported() {
    let (m, d) = Mirror::three_hours("vl-status");
    let status = |delivered: Option<i64>| {
        let v = match delivered {
            Some(t) => serde_json::json!({"IsLogging": true, "LatestDigestDeliveryTime": t}),
            None => serde_json::json!({"IsLogging": true}),
        };
        std::fs::write(m.root.join("trail-status.json"), v.to_string()).unwrap();
    };
    const T0: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z
    let report = |end: &str| {
        let (code, json, err) = m.validate(end, &["--json"]);
        (
            code,
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            err,
        )
    };
    // No status file: nothing to compare with, and said so.
    let (code, v, _) = report("2024-01-01T04:00:00Z");
    assert_eq!(code, 0);
    assert_eq!(v["latestDigestDelivery"]["checked"], false);
    assert!(
        v["latestDigestDelivery"]["reason"]
            .as_str()
            .unwrap()
            .contains("trail-status.json")
    );
    // The trail delivered its newest digest at 03:00 and it is there.
    status(Some(T0 + 3 * 3600 + 20));
    let (code, v, _) = report("2024-01-01T04:00:00Z");
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["latestDigestDelivery"],
        serde_json::json!({"checked": true, "trailStatus": "2024-01-01T03:00:20Z", "newestDigest": "2024-01-01T03:00:00Z", "missing": false})
    );
    // The newest digest is deleted: no gap, no broken link, awscli would call it valid.
    std::fs::remove_file(m.path(&d[2].key)).unwrap();
    let (code, out, _) = m.validate("2024-01-01T04:00:00Z", &[]);
    assert_eq!(code, 0, "{out}");
    let (code, v, _) = report("2024-01-01T04:00:00Z");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["latestDigestDelivery"]["missing"], true);
    assert_eq!(
        v["latestDigestDelivery"]["newestDigest"],
        "2024-01-01T02:00:00Z"
    );
    let event = v["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(event["kind"], "missing-digests");
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .contains("removed from the end of the chain"),
        "{event}"
    );
    // A range that ends before the latest delivery says nothing about it.
    let (code, v, _) = report("2024-01-01T02:00:00Z");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["latestDigestDelivery"]["checked"], false);
    // A status file that is not a GetTrailStatus response is named, not trusted.
    std::fs::write(m.root.join("trail-status.json"), "[[[").unwrap();
    let (_, v, _) = report("2024-01-01T04:00:00Z");
    assert_eq!(v["latestDigestDelivery"]["checked"], false);
    status(None);
    let (_, v, _) = report("2024-01-01T04:00:00Z");
    assert_eq!(
        v["latestDigestDelivery"]["reason"],
        "the trail has delivered no digest"
    );
}
