//! CloudTrail log-file integrity (`../shared/specs/cloudtrail.md` §1-3): digest files, their
//! SHA256withRSA signatures, public-key fingerprints, and log-file hashes, checked in the
//! order `aws cloudtrail validate-logs` checks them and reported with its messages.
//!
//! This is the verification core of `veritrail validate-logs`; fetching objects (S3, the
//! emulator, a local mirror) is the caller's business.

use std::fmt;
use std::io::Read as _;

use md5::Md5;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::Digest as _;
use sha2::Sha256;

/// DER `DigestInfo` prefix of a SHA-256 hash in a PKCS #1 v1.5 signature (RFC 8017 §9.2).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The PKCS #1 v1.5 scheme with SHA-256 (Java's `SHA256withRSA`).
pub fn sha256_with_rsa() -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: Box::new(SHA256_DIGEST_INFO),
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key's fingerprint as CloudTrail gives it: hex MD5 of the key's DER bytes.
pub fn public_key_fingerprint(der: &[u8]) -> String {
    hex(&Md5::digest(der))
}

/// The string CloudTrail signs for a digest file: end time, `bucket/key`, the hex SHA-256 of
/// the uncompressed digest, and the previous digest's signature (or `null`), joined by `\n`.
pub fn string_to_sign(
    digest_end_time: &str,
    bucket: &str,
    key: &str,
    digest_sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{bucket}/{key}\n{digest_sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// The largest uncompressed digest file [`check_digest`] reads: 16 MiB. A digest lists one
/// hour's log files of one account and region, a few kilobytes.
pub const MAX_DIGEST_BYTES: usize = 16 << 20;

/// The largest uncompressed log file [`check_log`] hashes (it is streamed, never held whole).
pub use veritrail_core::record::MAX_LOG_FILE_BYTES;

/// Why an object could not be gunzipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GunzipError {
    /// Not gzip, or a damaged or truncated stream.
    NotGzip(String),
    /// Bytes after the one gzip member CloudTrail writes (awscli refuses them too).
    TrailingData,
    /// It decompresses to more than the limit (a gzip bomb, or not a CloudTrail file).
    TooLarge { limit: usize },
}

impl fmt::Display for GunzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotGzip(e) => write!(f, "not gzip: {e}"),
            Self::TrailingData => f.write_str("unexpected data after end of compressed stream"),
            Self::TooLarge { limit } => {
                write!(f, "decompresses to more than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for GunzipError {}

/// Decompresses one gzip member in chunks, handing each to `sink`, and stops as soon as more
/// than `limit` bytes come out. Anything after the member is refused.
fn gunzip_into(bytes: &[u8], limit: usize, mut sink: impl FnMut(&[u8])) -> Result<(), GunzipError> {
    // bufread over the slice itself, so what follows the first member stays visible.
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| GunzipError::NotGzip(e.to_string()))?;
        if n == 0 {
            break;
        }
        total += n;
        if total > limit {
            return Err(GunzipError::TooLarge { limit });
        }
        sink(&chunk[..n]);
    }
    if decoder.into_inner().is_empty() {
        Ok(())
    } else {
        Err(GunzipError::TrailingData)
    }
}

/// Gunzips one object of at most [`MAX_LOG_FILE_BYTES`] uncompressed bytes (a log file; see
/// [`gunzip_bounded`] for other limits).
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, GunzipError> {
    gunzip_bounded(bytes, MAX_LOG_FILE_BYTES)
}

/// Gunzips one object of at most `limit` uncompressed bytes. CloudTrail writes one gzip member;
/// anything after it is refused, as awscli refuses it.
pub fn gunzip_bounded(bytes: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    gunzip_into(bytes, limit, |c| out.extend_from_slice(c))?;
    Ok(out)
}

/// Why a digest file is INVALID, worded as `aws cloudtrail validate-logs` words it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestInvalid {
    /// Not gzip, not JSON, or a required key missing.
    InvalidFormat,
    /// Missing signature metadata, or a signature that does not verify.
    SignatureVerificationFailed,
    /// `digestS3Bucket`/`digestS3Object` name another place than where it was fetched.
    Moved,
    /// No public key with the digest's fingerprint.
    PublicKeyNotFound { region: String, fingerprint: String },
    /// The key is not a PKCS #1 RSA public key.
    UnloadableKey { fingerprint: String },
    /// The object does not exist.
    NotFound,
    /// It decompresses to more than [`MAX_DIGEST_BYTES`].
    TooLarge { limit: usize },
}

impl fmt::Display for DigestInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidFormat => f.write_str("invalid format"),
            Self::SignatureVerificationFailed => f.write_str("signature verification failed"),
            Self::Moved => f.write_str("has been moved from its original location"),
            Self::PublicKeyNotFound {
                region,
                fingerprint,
            } => {
                write!(
                    f,
                    "public key not found in region {region} for fingerprint {fingerprint}"
                )
            }
            Self::UnloadableKey { fingerprint } => {
                write!(
                    f,
                    "Unable to load PKCS #1 key with fingerprint {fingerprint}"
                )
            }
            Self::NotFound => f.write_str("not found"),
            Self::TooLarge { limit } => {
                write!(f, "invalid format: decompresses to more than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DigestInvalid {}

/// One log file a digest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedFile {
    pub bucket: String,
    pub key: String,
    /// Lower-case hex SHA-256 of the uncompressed log.
    pub hash: String,
}

/// A digest file that passed its checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub account_id: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub bucket: String,
    pub key: String,
    pub fingerprint: String,
    pub previous_bucket: Option<String>,
    pub previous_key: Option<String>,
    pub previous_hash: Option<String>,
    pub previous_signature: Option<String>,
    pub log_files: Vec<LoggedFile>,
    /// Hex SHA-256 of the uncompressed digest (what the next digest's previousDigestHashValue
    /// should be).
    pub sha256: String,
    /// The digest's own hex signature (what the next digest's previousDigestSignature should be).
    pub signature: String,
}

/// The object as fetched: where from, its bytes (gzip), and its `x-amz-meta-*` metadata.
#[derive(Debug, Clone, Copy)]
pub struct FetchedDigest<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub gzip: &'a [u8],
    /// `x-amz-meta-signature`.
    pub signature: Option<&'a str>,
    /// `x-amz-meta-signature-algorithm`.
    pub signature_algorithm: Option<&'a str>,
}

fn text(v: &Value, key: &str) -> Result<Option<String>, DigestInvalid> {
    match v.get(key) {
        None => Err(DigestInvalid::InvalidFormat),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DigestInvalid::InvalidFormat),
    }
}

fn required(v: &Value, key: &str) -> Result<String, DigestInvalid> {
    text(v, key)?.ok_or(DigestInvalid::InvalidFormat)
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a digest file as awscli does, in its order: format, signature metadata, required
/// keys, location, public key, signature. `public_key` finds the DER of a key by fingerprint.
pub fn check_digest(
    fetched: &FetchedDigest<'_>,
    home_region: &str,
    public_key: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Digest, DigestInvalid> {
    let raw = gunzip_bounded(fetched.gzip, MAX_DIGEST_BYTES).map_err(|e| match e {
        GunzipError::TooLarge { limit } => DigestInvalid::TooLarge { limit },
        _ => DigestInvalid::InvalidFormat,
    })?;
    let json: Value = serde_json::from_slice(&raw).map_err(|_| DigestInvalid::InvalidFormat)?;
    if !json.is_object() {
        return Err(DigestInvalid::InvalidFormat);
    }
    let (Some(signature), Some(_algorithm)) = (fetched.signature, fetched.signature_algorithm)
    else {
        return Err(DigestInvalid::SignatureVerificationFailed);
    };
    let fingerprint = required(&json, "digestPublicKeyFingerprint")?;
    let bucket = required(&json, "digestS3Bucket")?;
    let key = required(&json, "digestS3Object")?;
    let previous_signature = text(&json, "previousDigestSignature")?;
    let end_time = required(&json, "digestEndTime")?;
    let start_time = required(&json, "digestStartTime")?;
    if bucket != fetched.bucket || key != fetched.key {
        return Err(DigestInvalid::Moved);
    }
    let der = public_key(&fingerprint).ok_or_else(|| DigestInvalid::PublicKeyNotFound {
        region: home_region.to_owned(),
        fingerprint: fingerprint.clone(),
    })?;
    let rsa_key = RsaPublicKey::from_pkcs1_der(&der).map_err(|_| DigestInvalid::UnloadableKey {
        fingerprint: fingerprint.clone(),
    })?;
    let sha256 = sha256_hex(&raw);
    let message = string_to_sign(
        &end_time,
        &bucket,
        &key,
        &sha256,
        previous_signature.as_deref(),
    );
    let sig = hex_bytes(signature).ok_or(DigestInvalid::SignatureVerificationFailed)?;
    rsa_key
        .verify(sha256_with_rsa(), &Sha256::digest(message.as_bytes()), &sig)
        .map_err(|_| DigestInvalid::SignatureVerificationFailed)?;
    let log_files = match json.get("logFiles") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|l| {
                Ok(LoggedFile {
                    bucket: required(l, "s3Bucket")?,
                    key: required(l, "s3Object")?,
                    hash: required(l, "hashValue")?,
                })
            })
            .collect::<Result<_, DigestInvalid>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(DigestInvalid::InvalidFormat),
    };
    Ok(Digest {
        account_id: text(&json, "awsAccountId").ok().flatten(),
        start_time,
        end_time,
        bucket,
        key,
        fingerprint,
        previous_bucket: text(&json, "previousDigestS3Bucket").ok().flatten(),
        previous_key: text(&json, "previousDigestS3Object").ok().flatten(),
        previous_hash: text(&json, "previousDigestHashValue").ok().flatten(),
        previous_signature,
        log_files,
        sha256,
        signature: signature.to_owned(),
    })
}

/// Why a log file is INVALID, worded as awscli words it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogInvalid {
    HashMismatch,
    NotFound,
    /// Not gzip, more than one gzip member, or larger than [`MAX_LOG_FILE_BYTES`].
    InvalidFormat(GunzipError),
}

impl fmt::Display for LogInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch => f.write_str("hash value doesn't match"),
            Self::NotFound => f.write_str("not found"),
            Self::InvalidFormat(e @ GunzipError::TrailingData) => write!(f, "{e}"),
            Self::InvalidFormat(e @ GunzipError::TooLarge { .. }) => {
                write!(f, "invalid format: {e}")
            }
            Self::InvalidFormat(_) => f.write_str("invalid format"),
        }
    }
}

impl std::error::Error for LogInvalid {}

/// Checks a log file (gzip bytes as fetched) against the hash its digest lists. The log is
/// hashed as it decompresses, up to [`MAX_LOG_FILE_BYTES`].
pub fn check_log(gzip: &[u8], expected_hash: &str) -> Result<(), LogInvalid> {
    let mut hasher = Sha256::new();
    gunzip_into(gzip, MAX_LOG_FILE_BYTES, |c| hasher.update(c))
        .map_err(LogInvalid::InvalidFormat)?;
    let hash = hex(&hasher.finalize());
    // awscli compares hexdigest() strings: an upper-case hashValue never matches.
    if hex_eq(&hash, expected_hash) {
        Ok(())
    } else {
        Err(LogInvalid::HashMismatch)
    }
}

/// What veritrail checks beyond awscli: the chain of hashes between consecutive digests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainInvalid {
    /// The newer digest's previousDigestHashValue is not the older digest's SHA-256.
    PreviousHash {
        expected: String,
        found: Option<String>,
    },
    /// The newer digest's previousDigestSignature is not the older digest's signature.
    PreviousSignature,
    /// The newer digest's window does not start where the older one's ended.
    NotContiguous { previous_end: String, start: String },
}

impl fmt::Display for ChainInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PreviousHash { expected, found } => write!(
                f,
                "previousDigestHashValue is {} but the previous digest hashes to {expected}",
                found.as_deref().unwrap_or("null")
            ),
            Self::PreviousSignature => {
                f.write_str("previousDigestSignature is not the previous digest's signature")
            }
            Self::NotContiguous {
                previous_end,
                start,
            } => write!(
                f,
                "digestStartTime {start} is not the previous digest's digestEndTime {previous_end}"
            ),
        }
    }
}

impl std::error::Error for ChainInvalid {}

/// Compares two hex strings in constant time (for equal lengths), case-sensitively as awscli.
pub fn hex_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks that `newer` links to `older` by hash and signature, and that its window starts where
/// the older one ended (awscli checks none of this).
pub fn check_link(older: &Digest, newer: &Digest) -> Result<(), ChainInvalid> {
    if !newer
        .previous_hash
        .as_deref()
        .is_some_and(|h| hex_eq(h, &older.sha256))
    {
        return Err(ChainInvalid::PreviousHash {
            expected: older.sha256.clone(),
            found: newer.previous_hash.clone(),
        });
    }
    if !newer
        .previous_signature
        .as_deref()
        .is_some_and(|s| hex_eq(s, &older.signature))
    {
        return Err(ChainInvalid::PreviousSignature);
    }
    if newer.start_time != older.end_time {
        return Err(ChainInvalid::NotContiguous {
            previous_end: older.end_time.clone(),
            start: newer.start_time.clone(),
        });
    }
    Ok(())
}
