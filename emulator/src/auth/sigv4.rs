//! AWS Signature Version 4, checked as AWS checks it
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>):
//! the canonical request is rebuilt from the request as it arrived (method, path, query, the
//! headers the client says it signed, the payload hash), signed with the secret of the
//! credential's access key, and compared with the client's signature in constant time.
//!
//! Both forms are read: the `Authorization: AWS4-HMAC-SHA256 …` header, and presigned URLs
//! (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`). S3's payload forms too: a hex
//! `x-amz-content-sha256` (checked against the body), `UNSIGNED-PAYLOAD`, and the chunked
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies whose every chunk is signed, chained
//! from the seed signature; `STREAMING-UNSIGNED-PAYLOAD-TRAILER` is accepted with its headers
//! signed (its trailing checksum is checked with the body, in S3). Other services always sign
//! their payload's hash.
//!
//! Paths: S3 signs the path as sent; every other service encodes it once more.

use axum::http::HeaderMap;
use hmac::{KeyInit as _, Mac as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::Digest as _;
use veritrail_core::Hash32;
use veritrail_core::time::UtcMillis;

use super::credentials::{Credential, Credentials};
use crate::wire::hex;
use crate::wire::sigv4::CredentialScope;
use crate::wire::time::parse_iso8601;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How far a request's time may be from the server's clock (AWS: 15 minutes).
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;
/// The longest a presigned URL may live (AWS: 7 days).
pub const MAX_EXPIRES_S: i64 = 7 * 24 * 3600;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// RFC 3986's unreserved characters stay; everything else is `%XX` (upper-case hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, keeping `/` (path segments).
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// A request as it arrived, before anything is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub method: &'a str,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// The query string, still percent-encoded (without `?`).
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The body as it arrived (still `aws-chunked` when it was sent so).
    pub body: &'a [u8],
}

/// Why a request's signature does not prove who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Authorization` header and no presigned query: an anonymous request.
    Missing,
    /// The signature's parts cannot be read (IncompleteSignature).
    Malformed(String),
    /// The access key is not in the credentials file.
    UnknownKey(String),
    /// The signature is not the one the secret gives.
    Mismatch {
        access_key: String,
        string_to_sign: String,
        canonical_request: String,
    },
    /// A chunk of a streaming body does not carry the signature its bytes give.
    ChunkMismatch { access_key: String, chunk: usize },
    /// The request's time is more than [`MAX_SKEW_MS`] from the server's.
    Skewed {
        request_time: String,
        now: UtcMillis,
    },
    /// A presigned URL used after `X-Amz-Date` + `X-Amz-Expires`.
    Expired {
        expires_at: UtcMillis,
        now: UtcMillis,
    },
    /// The body's SHA-256 is not the `x-amz-content-sha256` that was signed.
    ContentMismatch { claimed: String, computed: String },
}

/// The parts of a signature, from either form.
struct Parts<'a> {
    scope: CredentialScope,
    /// `20240101T000000Z`.
    amz_date: &'a str,
    signed_headers: Vec<String>,
    signature: &'a str,
    presigned: Option<i64>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(SignatureError::Malformed(format!(
            "the request carries more than one {name} header"
        )));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| SignatureError::Malformed(format!("the {name} header is not visible ASCII")))
}

/// The raw (still encoded) value of query parameter `name`, if it occurs once.
fn raw_param<'a>(query: &'a str, name: &str) -> Result<Option<&'a str>, SignatureError> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode_str(k).decode_utf8().ok().as_deref() == Some(name) {
            if found.is_some() {
                return Err(SignatureError::Malformed(format!(
                    "the query gives {name} more than once"
                )));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn decoded_param(query: &str, name: &str) -> Result<Option<String>, SignatureError> {
    raw_param(query, name)?
        .map(|v| {
            percent_decode_str(v)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| SignatureError::Malformed(format!("{name} is not UTF-8")))
        })
        .transpose()
}

fn signed_header_list(text: &str) -> Result<Vec<String>, SignatureError> {
    let names: Vec<&str> = text.split(';').collect();
    let valid = |n: &&str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if !names.iter().all(valid) {
        return Err(SignatureError::Malformed(format!(
            "SignedHeaders {text:?} must be lower-case header names separated by ';'"
        )));
    }
    if !names.windows(2).all(|w| w[0] < w[1]) {
        return Err(SignatureError::Malformed(format!(
            "SignedHeaders {text:?} must be sorted, each name once"
        )));
    }
    if !names.contains(&"host") {
        return Err(SignatureError::Malformed(
            "SignedHeaders must include host".into(),
        ));
    }
    Ok(names.iter().map(|n| (*n).to_owned()).collect())
}

fn scope(credential: &str) -> Result<CredentialScope, SignatureError> {
    CredentialScope::parse(credential).ok_or_else(|| {
        SignatureError::Malformed(format!(
            "Credential {credential:?} is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request"
        ))
    })
}

/// Reads the signature's parts from the `Authorization` header or the presigned query.
fn parts<'a>(req: &Incoming<'a>) -> Result<Parts<'a>, SignatureError> {
    let authorization = header(req.headers, "authorization")?;
    let presigned = raw_param(req.query, "X-Amz-Algorithm")?.is_some()
        || raw_param(req.query, "X-Amz-Signature")?.is_some()
        || raw_param(req.query, "X-Amz-Credential")?.is_some();
    match (authorization, presigned) {
        (Some(_), true) => Err(SignatureError::Malformed(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".into(),
        )),
        (Some(auth), false) => header_parts(req, auth),
        (None, true) => query_parts(req),
        (None, false) if raw_param(req.query, "AWSAccessKeyId")?.is_some() => {
            Err(SignatureError::Malformed(
                "Signature Version 2 is not accepted: sign with AWS4-HMAC-SHA256".into(),
            ))
        }
        (None, false) => Err(SignatureError::Missing),
    }
}

fn header_parts<'a>(req: &Incoming<'a>, auth: &'a str) -> Result<Parts<'a>, SignatureError> {
    let rest = auth
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            let algorithm = auth.split(' ').next().unwrap_or("");
            SignatureError::Malformed(format!(
                "Unsupported Authorization Type: {algorithm:?} (only AWS4-HMAC-SHA256 is accepted)"
            ))
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            SignatureError::Malformed(format!(
                "Authorization header has a part without '=': {part:?}"
            ))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => {
                return Err(SignatureError::Malformed(format!(
                    "Authorization header has an unknown part {other:?}"
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(SignatureError::Malformed(format!(
                "Authorization header gives {key} twice"
            )));
        }
    }
    let required = |v: Option<&'a str>, name: &str| {
        v.ok_or_else(|| {
            SignatureError::Malformed(format!(
                "Authorization header requires '{name}' parameter. Authorization={auth}"
            ))
        })
    };
    let credential = required(credential, "Credential")?;
    let signed = required(signed, "SignedHeaders")?;
    let signature = required(signature, "Signature")?;
    let amz_date = header(req.headers, "x-amz-date")?.ok_or_else(|| {
        SignatureError::Malformed(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header; veritrail reads X-Amz-Date".into(),
        )
    })?;
    Ok(Parts {
        scope: scope(credential)?,
        amz_date,
        signed_headers: signed_header_list(signed)?,
        signature,
        presigned: None,
    })
}

fn query_parts<'a>(req: &Incoming<'a>) -> Result<Parts<'a>, SignatureError> {
    let required = |name: &str| {
        raw_param(req.query, name)?.ok_or_else(|| {
            SignatureError::Malformed(format!(
                "Query-string authentication requires the {name} parameter"
            ))
        })
    };
    let algorithm = decoded_param(req.query, "X-Amz-Algorithm")?.unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(SignatureError::Malformed(format!(
            "X-Amz-Algorithm {algorithm:?} is not accepted (only AWS4-HMAC-SHA256)"
        )));
    }
    let credential = decoded_param(req.query, "X-Amz-Credential")?.unwrap_or_default();
    let amz_date = required("X-Amz-Date")?;
    let expires = required("X-Amz-Expires")?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_S).contains(s))
        .ok_or_else(|| {
            SignatureError::Malformed(format!(
                "X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES_S}"
            ))
        })?;
    let signed = decoded_param(req.query, "X-Amz-SignedHeaders")?.ok_or_else(|| {
        SignatureError::Malformed(
            "Query-string authentication requires the X-Amz-SignedHeaders parameter".into(),
        )
    })?;
    Ok(Parts {
        scope: scope(&credential)?,
        amz_date,
        signed_headers: signed_header_list(&signed)?,
        signature: required("X-Amz-Signature")?,
        presigned: Some(expires),
    })
}

/// `20240101T000000Z` as an instant.
fn amz_time(s: &str) -> Option<UtcMillis> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    parse_iso8601(&iso)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of every length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The key of one day, region and service.
fn signing_key(secret: &str, scope: &CredentialScope) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k = hmac(&k, scope.region.as_bytes());
    let k = hmac(&k, scope.service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn scope_text(scope: &CredentialScope) -> String {
    format!(
        "{}/{}/{}/aws4_request",
        scope.date, scope.region, scope.service
    )
}

/// Whether the hex signature `given` is `expected`, in constant time.
fn signature_matches(given: &str, expected: &[u8; 32]) -> bool {
    match Hash32::from_hex(given) {
        Ok(g) => g.ct_eq(&Hash32(*expected)),
        Err(_) => false,
    }
}

/// The canonical URI: S3's path as sent; other services' encoded once more.
fn canonical_uri(path: &str, s3: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if s3 {
        path.to_owned()
    } else {
        percent_encode(path.as_bytes(), UNRESERVED_AND_SLASH).to_string()
    }
}

/// The canonical query: each name and value decoded, encoded strictly, sorted.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let enc = |s: &str| {
                let bytes: Vec<u8> = percent_decode_str(s).collect();
                percent_encode(&bytes, UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header's values joined with `,`, each trimmed, inner runs of spaces made one.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The payload hash that goes into the canonical request, and what the body must then be.
#[derive(Debug, PartialEq, Eq)]
enum Payload {
    /// The hex SHA-256 of the body.
    Hashed(String),
    Unsigned,
    StreamingSigned {
        trailer: bool,
    },
    StreamingUnsignedTrailer,
}

fn payload(
    req: &Incoming<'_>,
    s3: bool,
    presigned: bool,
) -> Result<(String, Payload), SignatureError> {
    let claimed = header(req.headers, "x-amz-content-sha256")?;
    let claimed = match (claimed, presigned) {
        (Some(c), _) => c,
        (None, true) if s3 => return Ok((UNSIGNED_PAYLOAD.into(), Payload::Unsigned)),
        (None, _) => {
            let h = sha256_hex(req.body);
            return Ok((h.clone(), Payload::Hashed(h)));
        }
    };
    let kind = match claimed {
        UNSIGNED_PAYLOAD => Payload::Unsigned,
        STREAMING_SIGNED => Payload::StreamingSigned { trailer: false },
        STREAMING_SIGNED_TRAILER => Payload::StreamingSigned { trailer: true },
        STREAMING_UNSIGNED_TRAILER => Payload::StreamingUnsignedTrailer,
        hash if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Payload::Hashed(hash.to_ascii_lowercase())
        }
        other => {
            return Err(SignatureError::Malformed(format!(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256 in hex, not {other:?}"
            )));
        }
    };
    if !s3 && !matches!(kind, Payload::Hashed(_)) {
        return Err(SignatureError::Malformed(format!(
            "x-amz-content-sha256 {claimed} is only accepted by S3: sign the payload's SHA-256"
        )));
    }
    Ok((claimed.to_owned(), kind))
}

/// Checks the signature of `req` against `credentials` at `now`; the credential it proves.
pub fn verify<'c>(
    req: &Incoming<'_>,
    credentials: &'c Credentials,
    now: UtcMillis,
) -> Result<&'c Credential, SignatureError> {
    let p = parts(req)?;
    let credential = credentials
        .get(&p.scope.access_key)
        .ok_or_else(|| SignatureError::UnknownKey(p.scope.access_key.clone()))?;
    let at = amz_time(p.amz_date).ok_or_else(|| {
        SignatureError::Malformed(format!(
            "X-Amz-Date {:?} is not YYYYMMDD'T'HHMMSS'Z'",
            p.amz_date
        ))
    })?;
    if !p.amz_date.starts_with(&p.scope.date) {
        return Err(SignatureError::Malformed(format!(
            "Invalid credential date {:?}: it is not the date of X-Amz-Date {:?}",
            p.scope.date, p.amz_date
        )));
    }
    match p.presigned {
        None if (now.0 - at.0).abs() > MAX_SKEW_MS => {
            return Err(SignatureError::Skewed {
                request_time: p.amz_date.to_owned(),
                now,
            });
        }
        Some(_) if at.0 - now.0 > MAX_SKEW_MS => {
            return Err(SignatureError::Skewed {
                request_time: p.amz_date.to_owned(),
                now,
            });
        }
        Some(expires) => {
            let expires_at = UtcMillis(at.0.saturating_add(expires * 1000));
            if now > expires_at {
                return Err(SignatureError::Expired { expires_at, now });
            }
        }
        None => {}
    }
    let s3 = p.scope.service == "s3";
    let (payload_hash, kind) = payload(req, s3, p.presigned.is_some())?;
    let mut canonical_request = format!(
        "{}\n{}\n{}\n",
        req.method,
        canonical_uri(req.path, s3),
        canonical_query(req.query, p.presigned.is_some())
    );
    for name in &p.signed_headers {
        canonical_request.push_str(name);
        canonical_request.push(':');
        canonical_request.push_str(&canonical_header_value(req.headers, name));
        canonical_request.push('\n');
    }
    canonical_request.push('\n');
    canonical_request.push_str(&p.signed_headers.join(";"));
    canonical_request.push('\n');
    canonical_request.push_str(&payload_hash);
    let scope = scope_text(&p.scope);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        p.amz_date,
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(credential.secret(), &p.scope);
    if !signature_matches(p.signature, &hmac(&key, string_to_sign.as_bytes())) {
        return Err(SignatureError::Mismatch {
            access_key: credential.access_key.clone(),
            string_to_sign,
            canonical_request,
        });
    }
    match kind {
        Payload::Hashed(claimed) => {
            let computed = sha256_hex(req.body);
            if claimed != computed {
                return Err(SignatureError::ContentMismatch { claimed, computed });
            }
        }
        Payload::StreamingSigned { trailer } => {
            let chain = Chain {
                key: &key,
                amz_date: p.amz_date,
                scope: &scope,
                access_key: &credential.access_key,
            };
            chain.verify(req.body, p.signature, trailer)?;
        }
        Payload::Unsigned | Payload::StreamingUnsignedTrailer => {}
    }
    Ok(credential)
}

/// What signs each chunk of a streaming body.
struct Chain<'a> {
    key: &'a [u8; 32],
    amz_date: &'a str,
    scope: &'a str,
    access_key: &'a str,
}

impl Chain<'_> {
    fn sign(&self, kind: &str, previous: &str, hash: &str, empty_line: bool) -> [u8; 32] {
        let text = if empty_line {
            format!(
                "{kind}\n{}\n{}\n{previous}\n{}\n{hash}",
                self.amz_date,
                self.scope,
                sha256_hex(b"")
            )
        } else {
            format!(
                "{kind}\n{}\n{}\n{previous}\n{hash}",
                self.amz_date, self.scope
            )
        };
        hmac(self.key, text.as_bytes())
    }

    /// Checks every chunk of `body` (`<hex size>;chunk-signature=<sig>\r\n<data>\r\n`, ending
    /// with a zero-size chunk, then the signed trailers when `trailer`).
    fn verify(&self, body: &[u8], seed: &str, trailer: bool) -> Result<(), SignatureError> {
        let mismatch = |chunk| SignatureError::ChunkMismatch {
            access_key: self.access_key.to_owned(),
            chunk,
        };
        let line_end = |b: &[u8]| b.windows(2).position(|w| w == b"\r\n");
        let mut previous = seed.to_ascii_lowercase();
        let mut rest = body;
        for chunk in 0usize.. {
            let end = line_end(rest).ok_or_else(|| mismatch(chunk))?;
            let line = std::str::from_utf8(&rest[..end]).map_err(|_| mismatch(chunk))?;
            let (size, signature) = line
                .split_once(";chunk-signature=")
                .ok_or_else(|| mismatch(chunk))?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(|_| mismatch(chunk))?;
            rest = &rest[end + 2..];
            let data = rest.get(..size).ok_or_else(|| mismatch(chunk))?;
            let expected = self.sign(
                "AWS4-HMAC-SHA256-PAYLOAD",
                &previous,
                &sha256_hex(data),
                true,
            );
            if !signature_matches(signature.trim(), &expected) {
                return Err(mismatch(chunk));
            }
            previous = hex(&expected);
            rest = &rest[size..];
            if size == 0 {
                break;
            }
            rest = rest.strip_prefix(b"\r\n").ok_or_else(|| mismatch(chunk))?;
        }
        if !trailer {
            return Ok(());
        }
        // The trailers, each `name:value\r\n`, then `x-amz-trailer-signature:<sig>\r\n\r\n`.
        let text = std::str::from_utf8(rest).map_err(|_| mismatch(usize::MAX))?;
        let mut trailers = Vec::new();
        let mut signature = None;
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or_else(|| mismatch(usize::MAX))?;
            let name = name.trim().to_ascii_lowercase();
            if name == "x-amz-trailer-signature" {
                signature = Some(value.trim());
            } else {
                trailers.push(format!("{name}:{}\n", value.trim()));
            }
        }
        // Canonical trailers: sorted by name, each `name:value\n`.
        trailers.sort();
        let canonical = trailers.concat();
        let signature = signature.ok_or_else(|| mismatch(usize::MAX))?;
        let expected = self.sign(
            "AWS4-HMAC-SHA256-TRAILER",
            &previous,
            &sha256_hex(canonical.as_bytes()),
            false,
        );
        if signature_matches(signature, &expected) {
            Ok(())
        } else {
            Err(mismatch(usize::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The worked examples of AWS's documentation (IAM's `ListUsers`, S3's GET Object, its
    //! presigned URL and its chunked PUT), then every way a request can fail to prove itself.

    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    const DOC_SECRET_S3: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const DOC_SECRET_IAM: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn creds() -> Credentials {
        Credentials::parse(
            &format!(
                "[s3]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {DOC_SECRET_S3}\nprincipal = arn:aws:iam::123456789012:user/s3doc\nrole = admin\n\
                 [iam]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = {DOC_SECRET_IAM}\nprincipal = arn:aws:iam::123456789012:user/iamdoc\nrole = auditor\n"
            ),
            "test",
        )
        .unwrap()
    }

    fn at(iso: &str) -> UtcMillis {
        parse_iso8601(iso).unwrap()
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn iam_list_users(signature: &str) -> HeaderMap {
        headers(&[
            ("host", "iam.amazonaws.com"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
        ])
    }

    const IAM_SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    const S3_GET_SIGNATURE: &str =
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    fn s3_get(signature: &str) -> HeaderMap {
        headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}"
                ),
            ),
        ])
    }

    fn get<'a>(path: &'a str, query: &'a str, h: &'a HeaderMap) -> Incoming<'a> {
        Incoming {
            method: "GET",
            path,
            query,
            headers: h,
            body: b"",
        }
    }

    #[test]
    fn the_documented_examples_verify() {
        let c = creds();
        let h = iam_list_users(IAM_SIGNATURE);
        let who = verify(
            &get("/", "Action=ListUsers&Version=2010-05-08", &h),
            &c,
            at("2015-08-30T12:40:00Z"),
        )
        .unwrap();
        assert_eq!(who.principal.arn, "arn:aws:iam::123456789012:user/iamdoc");

        let h = s3_get(S3_GET_SIGNATURE);
        let who = verify(&get("/test.txt", "", &h), &c, at("2013-05-24T00:05:00Z")).unwrap();
        assert_eq!(who.access_key, "AKIAIOSFODNN7EXAMPLE");

        let presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
        // A presigned URL works until it expires, a day later.
        verify(
            &get("/test.txt", presigned, &h),
            &c,
            at("2013-05-24T23:59:00Z"),
        )
        .unwrap();
        assert!(matches!(
            verify(
                &get("/test.txt", presigned, &h),
                &c,
                at("2013-05-25T00:00:01Z")
            ),
            Err(SignatureError::Expired { .. })
        ));
        // Another path, or a query parameter more, is another request.
        assert!(matches!(
            verify(
                &get("/test2.txt", presigned, &h),
                &c,
                at("2013-05-24T01:00:00Z")
            ),
            Err(SignatureError::Mismatch { .. })
        ));
        let more = format!("{presigned}&versionId=1");
        assert!(matches!(
            verify(&get("/test.txt", &more, &h), &c, at("2013-05-24T01:00:00Z")),
            Err(SignatureError::Mismatch { .. })
        ));
    }

    /// S3's chunked upload example: 64 KiB then 1 KiB of `a`, each chunk signed.
    fn chunked_body(signatures: [&str; 3]) -> Vec<u8> {
        let mut body = Vec::new();
        for (size, sig) in [
            (65536usize, signatures[0]),
            (1024, signatures[1]),
            (0, signatures[2]),
        ] {
            body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            body.extend(std::iter::repeat_n(b'a', size));
            body.extend_from_slice(b"\r\n");
        }
        body
    }

    const CHUNK_SIGNATURES: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];

    fn chunked_headers() -> HeaderMap {
        headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_SIGNED),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            ),
        ])
    }

    #[test]
    fn every_chunk_of_a_streaming_upload_is_checked() {
        let c = creds();
        let h = chunked_headers();
        let now = at("2013-05-24T00:00:30Z");
        let put = |body: &[u8]| {
            let req = Incoming {
                method: "PUT",
                path: "/examplebucket/chunkObject.txt",
                query: "",
                headers: &h,
                body,
            };
            verify(&req, &c, now).map(|c| c.access_key.clone())
        };
        let body = chunked_body(CHUNK_SIGNATURES);
        assert_eq!(body.len(), 66824);
        assert_eq!(put(&body).unwrap(), "AKIAIOSFODNN7EXAMPLE");
        // One byte changed in the second chunk: its signature no longer matches.
        let mut tampered = body.clone();
        let second = body.len() - 1024 - 100;
        tampered[second] = b'b';
        assert!(matches!(
            put(&tampered),
            Err(SignatureError::ChunkMismatch { chunk: 1, .. })
        ));
        // Chunks signed out of the chain (the second's signature on the first).
        let swapped = chunked_body([
            CHUNK_SIGNATURES[1],
            CHUNK_SIGNATURES[0],
            CHUNK_SIGNATURES[2],
        ]);
        assert!(matches!(
            put(&swapped),
            Err(SignatureError::ChunkMismatch { chunk: 0, .. })
        ));
        // A body cut short, or with a chunk's signature left out.
        assert!(put(&body[..1000]).is_err());
        let unsigned = String::from_utf8(body.clone()).unwrap().replacen(
            &format!(";chunk-signature={}", CHUNK_SIGNATURES[0]),
            "",
            1,
        );
        assert!(put(unsigned.as_bytes()).is_err());
    }

    #[test]
    fn wrong_unknown_skewed_and_malformed_requests_prove_nothing() {
        let c = creds();
        let now = at("2013-05-24T00:05:00Z");
        let check = |h: &HeaderMap, now| verify(&get("/test.txt", "", h), &c, now);
        // A wrong signature (one hex digit off).
        let wrong = S3_GET_SIGNATURE.replacen('f', "e", 1);
        match check(&s3_get(&wrong), now) {
            Err(SignatureError::Mismatch {
                canonical_request, ..
            }) => assert!(canonical_request.starts_with(
                "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            )),
            other => panic!("{other:?}"),
        }
        // A header it signed, changed.
        let mut h = s3_get(S3_GET_SIGNATURE);
        h.insert("range", HeaderValue::from_static("bytes=0-99"));
        assert!(matches!(
            check(&h, now),
            Err(SignatureError::Mismatch { .. })
        ));
        // A body that is not the one whose hash was signed.
        let h = s3_get(S3_GET_SIGNATURE);
        let req = Incoming {
            body: b"x",
            ..get("/test.txt", "", &h)
        };
        assert!(matches!(
            verify(&req, &c, now),
            Err(SignatureError::ContentMismatch { .. })
        ));
        // Sixteen minutes either way of the server's clock.
        for skewed in ["2013-05-24T00:16:01Z", "2013-05-23T23:43:59Z"] {
            assert!(matches!(
                check(&s3_get(S3_GET_SIGNATURE), at(skewed)),
                Err(SignatureError::Skewed { .. })
            ));
        }
        // An access key that is not in the file.
        let h = headers(&[
            ("host", "x"),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIANOBODY/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=00",
            ),
        ]);
        assert_eq!(
            check(&h, now).unwrap_err(),
            SignatureError::UnknownKey("AKIANOBODY".into())
        );
        assert_eq!(
            check(&HeaderMap::new(), now).unwrap_err(),
            SignatureError::Missing
        );
    }

    #[test]
    fn other_services_must_sign_their_payload() {
        let c = creds();
        let mut h = iam_list_users(IAM_SIGNATURE);
        h.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        let e = verify(
            &get("/", "Action=ListUsers&Version=2010-05-08", &h),
            &c,
            at("2015-08-30T12:40:00Z"),
        )
        .unwrap_err();
        assert!(matches!(e, SignatureError::Malformed(m) if m.contains("only accepted by S3")));
    }

    /// Authorization headers that are not quite right: each is refused (never a panic, never
    /// an identity).
    #[test]
    fn malformed_authorization_headers_are_refused() {
        let c = creds();
        let now = at("2013-05-24T00:00:00Z");
        let good = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let mut cases: Vec<String> = vec![
            String::new(),
            "AWS4-HMAC-SHA256".into(),
            "AWS4-HMAC-SHA256 ".into(),
            format!("AWS4-HMAC-SHA25 {good}"),
            format!("AWS4-ECDSA-P256-SHA256 {good}"),
            "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=".into(),
            format!("AWS4-HMAC-SHA256 {good},Signature=00"),
            format!("AWS4-HMAC-SHA256 {good},Extra=1"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3,SignedHeaders=host,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=x-amz-date;host,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=x-amz-date,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=Host,Signature=00".into(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=,Signature=00".into(),
            "AWS4-HMAC-SHA256 ,,,".into(),
            "AWS4-HMAC-SHA256 Credential==,SignedHeaders==,Signature==".into(),
            format!("AWS4-HMAC-SHA256 {}", good.replace("f0e8", "zzzz")),
            format!("AWS4-HMAC-SHA256 {}", good.replace("Signature=f0e8bdb8", "Signature=")),
            format!("AWS4-HMAC-SHA256 {}", "a".repeat(10_000)),
            format!("AWS4-HMAC-SHA256 Credential={}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00", "K".repeat(200)),
        ];
        // Every prefix of the good header, too.
        let full = format!("AWS4-HMAC-SHA256 {good}");
        cases.extend((0..full.len() - 1).map(|n| full[..n].to_owned()));
        for auth in &cases {
            let mut h = s3_get(S3_GET_SIGNATURE);
            match HeaderValue::from_str(auth) {
                Ok(v) => {
                    h.insert("authorization", v);
                }
                Err(_) => continue,
            }
            let r = verify(&get("/test.txt", "", &h), &c, now);
            assert!(r.is_err(), "{auth:?} proved {r:?}");
        }
        // Two Authorization headers, or a header and a presigned query.
        let mut h = s3_get(S3_GET_SIGNATURE);
        h.append(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 x"),
        );
        assert!(matches!(
            verify(&get("/test.txt", "", &h), &c, now),
            Err(SignatureError::Malformed(_))
        ));
        let h = s3_get(S3_GET_SIGNATURE);
        assert!(matches!(
            verify(&get("/test.txt", "X-Amz-Signature=00", &h), &c, now),
            Err(SignatureError::Malformed(_))
        ));
        // Presigned queries with a part missing or out of range.
        let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
        for query in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=-1&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=2013-05-24&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%FF&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D",
        ] {
            let r = verify(&get("/test.txt", query, &h), &c, now);
            assert!(
                matches!(r, Err(SignatureError::Malformed(_))),
                "{query}: {r:?}"
            );
        }
    }
}
