//! CloudTrail digest and log checks: the AWS CLI's vectors, a signed three-hour chain, and
//! each kind of tampering reported with the AWS CLI's words.

use std::io::Write as _;

use base64::Engine as _;
use rand::SeedableRng as _;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use sha2::Digest as _;
use veritrail_verify::cloudtrail::{
    DigestInvalid, FetchedDigest, GunzipError, LogInvalid, MAX_DIGEST_BYTES, check_digest,
    check_link, check_log, gunzip_bounded, public_key_fingerprint, sha256_hex, sha256_with_rsa,
    string_to_sign,
};

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn aws_cli_vectors() {
    // test_properly_signs_when_no_previous_signature
    assert_eq!(
        string_to_sign("a", "b", "c", &sha256_hex(b"abc"), None),
        "a\nb/c\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nnull"
    );
    // Functional-test log hashes.
    assert_eq!(
        sha256_hex(b"{}"),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(
        sha256_hex(br#"{"foo":"bar"}"#),
        "7a38bf81f383f69433ad6e900d35b3e2385593f76a7b7ab5d4355b8ba41ee24b"
    );
    assert_eq!(
        sha256_hex(br#"{"baz":"qux"}"#),
        "5b1070294963f40cb5b3c7a05d3fbaf7ffe4e5d226632026e39cfeb32d349c0c"
    );
    // The documentation key's fingerprint.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/cloudtrail/aws-cli-valid-test-key.b64"
    );
    let der = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read_to_string(path).unwrap().trim())
        .unwrap();
    assert_eq!(
        public_key_fingerprint(&der),
        "8eba5db5bea9b640d1c96a77256fe7f2"
    );
}

pub(crate) struct Trail {
    key: rsa::RsaPrivateKey,
    pub(crate) der: Vec<u8>,
    pub(crate) fingerprint: String,
}

pub(crate) struct Signed {
    pub(crate) key: String,
    pub(crate) gzip: Vec<u8>,
    pub(crate) signature: String,
    pub(crate) sha256: String,
}

impl Trail {
    pub(crate) fn new() -> Self {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::StdRng::seed_from_u64(7), 1024).unwrap();
        let der = key
            .to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let fingerprint = public_key_fingerprint(&der);
        Self {
            key,
            der,
            fingerprint,
        }
    }

    /// A digest for hour `h` listing `logs`, chained to `previous`.
    pub(crate) fn digest(
        &self,
        h: u32,
        logs: &[(&str, &[u8])],
        previous: Option<&Signed>,
    ) -> Signed {
        let key = format!(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T{:02}0000Z.json.gz",
            h + 1
        );
        let files: Vec<serde_json::Value> = logs
            .iter()
            .map(|(k, body)| serde_json::json!({"s3Bucket": "trail-bucket", "s3Object": k, "hashValue": sha256_hex(body), "hashAlgorithm": "SHA-256"}))
            .collect();
        let json = serde_json::json!({
            "awsAccountId": "123456789012",
            "digestStartTime": format!("2024-01-01T{h:02}:00:00Z"),
            "digestEndTime": format!("2024-01-01T{:02}:00:00Z", h + 1),
            "digestS3Bucket": "trail-bucket",
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": previous.map(|_| "trail-bucket"),
            "previousDigestS3Object": previous.map(|p| p.key.clone()),
            "previousDigestHashValue": previous.map(|p| p.sha256.clone()),
            "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
            "previousDigestSignature": previous.map(|p| p.signature.clone()),
            "logFiles": files,
        });
        let raw = json.to_string().into_bytes();
        let end = json["digestEndTime"].as_str().unwrap();
        self.sign(&key, end, &raw, previous.map(|p| p.signature.as_str()))
    }

    /// Signs `raw` (any bytes, valid digest JSON or not) as the digest at `key` ending at `end`.
    pub(crate) fn sign(
        &self,
        key: &str,
        end: &str,
        raw: &[u8],
        previous_signature: Option<&str>,
    ) -> Signed {
        let sha256 = sha256_hex(raw);
        let message = string_to_sign(end, "trail-bucket", key, &sha256, previous_signature);
        let sig = self
            .key
            .sign(sha256_with_rsa(), &sha2::Sha256::digest(message.as_bytes()))
            .unwrap();
        Signed {
            key: key.to_owned(),
            gzip: gzip(raw),
            signature: sig.iter().map(|b| format!("{b:02x}")).collect(),
            sha256,
        }
    }
}

pub(crate) fn fetched<'a>(s: &'a Signed) -> FetchedDigest<'a> {
    FetchedDigest {
        bucket: "trail-bucket",
        key: &s.key,
        gzip: &s.gzip,
        signature: Some(&s.signature),
        signature_algorithm: Some("SHA256withRSA"),
    }
}

#[test]
fn a_signed_chain_verifies_and_every_tampering_is_named() {
    let trail = Trail::new();
    let keys = |fp: &str| (fp == trail.fingerprint).then(|| trail.der.clone());
    let log1 = br#"{"Records":[{"eventID":"1"}]}"#;
    let log2 = br#"{"Records":[{"eventID":"2"}]}"#;
    let d0 = trail.digest(0, &[("logs/a.json.gz", log1)], None);
    let d1 = trail.digest(1, &[], Some(&d0));
    let d2 = trail.digest(2, &[("logs/b.json.gz", log2)], Some(&d1));
    let v0 = check_digest(&fetched(&d0), "us-east-1", keys).unwrap();
    let v1 = check_digest(&fetched(&d1), "us-east-1", keys).unwrap();
    let v2 = check_digest(&fetched(&d2), "us-east-1", keys).unwrap();
    check_link(&v0, &v1).unwrap();
    check_link(&v1, &v2).unwrap();
    assert_eq!(v2.log_files.len(), 1);
    check_log(&gzip(log2), &v2.log_files[0].hash).unwrap();

    // A log altered after delivery.
    assert_eq!(
        check_log(&gzip(br#"{"Records":[]}"#), &v2.log_files[0].hash),
        Err(LogInvalid::HashMismatch)
    );
    assert_eq!(
        LogInvalid::HashMismatch.to_string(),
        "hash value doesn't match"
    );
    // Two gzip members: refused as awscli refuses them.
    let mut doubled = gzip(log2);
    doubled.extend(gzip(b"more"));
    let e = check_log(&doubled, &v2.log_files[0].hash).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected data after end of compressed stream"
    );
    assert_eq!(
        check_log(b"not gzip", "x").unwrap_err().to_string(),
        "invalid format"
    );

    // A flipped signature byte, missing metadata, a moved object, garbage.
    let mut bad = fetched(&d2);
    let flipped = format!(
        "{}{}",
        if d2.signature.starts_with('0') {
            "1"
        } else {
            "0"
        },
        &d2.signature[1..]
    );
    bad.signature = Some(&flipped);
    assert_eq!(
        check_digest(&bad, "us-east-1", keys),
        Err(DigestInvalid::SignatureVerificationFailed)
    );
    let mut no_meta = fetched(&d2);
    no_meta.signature = None;
    assert_eq!(
        check_digest(&no_meta, "us-east-1", keys),
        Err(DigestInvalid::SignatureVerificationFailed)
    );
    let mut moved = fetched(&d2);
    moved.key = "elsewhere.json.gz";
    assert_eq!(
        check_digest(&moved, "us-east-1", keys)
            .unwrap_err()
            .to_string(),
        "has been moved from its original location"
    );
    let mut garbage = fetched(&d2);
    garbage.gzip = b"garbage";
    assert_eq!(
        check_digest(&garbage, "us-east-1", keys),
        Err(DigestInvalid::InvalidFormat)
    );
    // A digest altered after signing (its bytes, so its hash, changed).
    let mut raw = gunzip_bounded(&d1.gzip, MAX_DIGEST_BYTES).unwrap();
    let at = raw.len() - 3;
    raw[at] ^= 1;
    let altered = gzip(&raw);
    let mut changed = fetched(&d1);
    changed.gzip = &altered;
    assert!(check_digest(&changed, "us-east-1", keys).is_err());

    // Keys: unknown fingerprint, a key that is not PKCS #1.
    let e = check_digest(&fetched(&d2), "eu-west-1", |_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "public key not found in region eu-west-1 for fingerprint {}",
            trail.fingerprint
        )
    );
    let spki = trail
        .key
        .to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let e = check_digest(&fetched(&d2), "us-east-1", |_| Some(spki.clone())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Unable to load PKCS #1 key with fingerprint {}",
            trail.fingerprint
        )
    );

    // Beyond awscli: a digest that links to another predecessor.
    let stranger = trail.digest(1, &[("logs/x.json.gz", log1)], Some(&d0));
    let vs = check_digest(&fetched(&stranger), "us-east-1", keys).unwrap();
    assert!(check_link(&vs, &v2).is_err());
}

#[test]
fn gzip_bombs_stop_at_the_limit() {
    // 17 MiB of zeros compress to a few kilobytes; a digest may not decompress past 16 MiB.
    let bomb = gzip(&vec![0u8; MAX_DIGEST_BYTES + (1 << 20)]);
    assert!(bomb.len() < 64 * 1024);
    let e = check_digest(
        &FetchedDigest {
            bucket: "b",
            key: "k",
            gzip: &bomb,
            signature: Some("00"),
            signature_algorithm: Some("SHA256withRSA"),
        },
        "us-east-1",
        |_| None,
    )
    .unwrap_err();
    assert_eq!(
        e,
        DigestInvalid::TooLarge {
            limit: MAX_DIGEST_BYTES
        }
    );
    assert!(e.to_string().starts_with("invalid format"), "{e}");
    assert_eq!(
        gunzip_bounded(&bomb, 1000),
        Err(GunzipError::TooLarge { limit: 1000 })
    );
    // Exactly at the limit is fine; trailing bytes and garbage are named.
    assert_eq!(gunzip_bounded(&gzip(&[7; 1000]), 1000).unwrap().len(), 1000);
    let mut trailing = gzip(b"x");
    trailing.push(0);
    assert_eq!(
        gunzip_bounded(&trailing, 10),
        Err(GunzipError::TrailingData)
    );
    assert!(matches!(
        gunzip_bounded(b"not gzip", 10),
        Err(GunzipError::NotGzip(_))
    ));
}
