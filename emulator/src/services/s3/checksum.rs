//! Request bodies as S3 receives them: `aws-chunked` framing (what SDKs send with streaming
//! signatures or trailing checksums) is removed, and every integrity value the client sent,
//! `Content-MD5` and the `x-amz-checksum-*` family in headers or trailers, is checked against
//! the bytes before anything is stored.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest as _;

use crate::services::s3::error::S3Error;
use crate::services::s3::model::{Checksum, ChecksumAlgorithm};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the body is `aws-chunked`.
fn is_aws_chunked(headers: &HeaderMap) -> bool {
    header(headers, "content-encoding").is_some_and(|e| e.contains("aws-chunked"))
        || header(headers, "x-amz-content-sha256").is_some_and(|s| s.starts_with("STREAMING-"))
}

/// Decodes `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n<trailers>\r\n\r\n` into the
/// data and the trailers (lower-case names).
fn decode_aws_chunked(body: &[u8]) -> Result<(Vec<u8>, BTreeMap<String, String>), S3Error> {
    let bad =
        |why: &str| S3Error::IncompleteBody(format!("The aws-chunked body is malformed: {why}"));
    let line_end = |b: &[u8]| b.windows(2).position(|w| w == b"\r\n");
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let end = line_end(rest).ok_or_else(|| bad("a chunk header has no line end"))?;
        let line =
            std::str::from_utf8(&rest[..end]).map_err(|_| bad("a chunk header is not text"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| bad("a chunk size is not hex"))?;
        rest = &rest[end + 2..];
        if size == 0 {
            break;
        }
        let data = rest
            .get(..size)
            .ok_or_else(|| bad("a chunk is shorter than its size"))?;
        out.extend_from_slice(data);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or_else(|| bad("a chunk does not end with CRLF"))?;
    }
    let mut trailers = BTreeMap::new();
    let text = std::str::from_utf8(rest).map_err(|_| bad("the trailers are not text"))?;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("a trailer has no colon"))?;
        trailers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    Ok((out, trailers))
}

/// The checksum of `bytes` under `algorithm`, as the header carries it (base64 of big-endian
/// bytes).
pub fn compute(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> String {
    use crc_fast::CrcAlgorithm;
    let raw: Vec<u8> = match algorithm {
        ChecksumAlgorithm::Crc32 => (crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, bytes) as u32)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Crc32c => (crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, bytes) as u32)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Crc64Nvme => crc_fast::checksum(CrcAlgorithm::Crc64Nvme, bytes)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Sha1 => {
            use sha1::Digest as _;
            sha1::Sha1::digest(bytes).to_vec()
        }
        ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
    };
    BASE64.encode(raw)
}

fn expected_len(algorithm: ChecksumAlgorithm) -> usize {
    match algorithm {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// The body the client meant, once framing is removed and every checksum it sent matches; with
/// the checksum to keep for the object, if it sent one.
pub fn verified_body(
    headers: &HeaderMap,
    raw: Bytes,
) -> Result<(Bytes, Option<Checksum>), S3Error> {
    let (body, trailers) = if is_aws_chunked(headers) {
        let (data, trailers) = decode_aws_chunked(&raw)?;
        if let Some(n) = header(headers, "x-amz-decoded-content-length") {
            if n.trim().parse::<usize>().ok() != Some(data.len()) {
                return Err(S3Error::IncompleteBody(format!(
                    "x-amz-decoded-content-length says {n} bytes, the body has {}",
                    data.len()
                )));
            }
        }
        (Bytes::from(data), trailers)
    } else {
        (raw, BTreeMap::new())
    };
    if let Some(md5) = header(headers, "content-md5") {
        let given = BASE64
            .decode(md5.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or(S3Error::InvalidDigest)?;
        if given.as_slice() != md5::Md5::digest(&body).as_slice() {
            return Err(S3Error::BadDigest("Content-MD5"));
        }
    }
    let announced = header(headers, "x-amz-trailer").map(|t| t.trim().to_ascii_lowercase());
    let mut kept = None;
    for algorithm in ChecksumAlgorithm::ALL {
        let name = algorithm.header();
        let given = match header(headers, name) {
            Some(v) => Some(v.trim().to_owned()),
            None => trailers.get(name).cloned(),
        };
        let Some(given) = given else {
            if announced.as_deref() == Some(name) {
                return Err(S3Error::IncompleteBody(format!(
                    "the trailer {name} was announced but not sent"
                )));
            }
            continue;
        };
        let valid = BASE64
            .decode(&given)
            .is_ok_and(|d| d.len() == expected_len(algorithm));
        if !valid {
            return Err(S3Error::InvalidChecksumHeader(name));
        }
        if compute(algorithm, &body) != given {
            return Err(S3Error::BadDigest(algorithm.name()));
        }
        kept.get_or_insert(Checksum {
            algorithm,
            value: given,
        });
    }
    Ok((body, kept))
}

/// Base64 MD5 of a body, as `Content-MD5` wants it (for tests and clients).
pub fn content_md5(body: &[u8]) -> String {
    BASE64.encode(md5::Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn known_answers() {
        // AWS's documented values for "Hello world" are not published; these are the standard
        // check values of each algorithm over "123456789".
        let check = b"123456789";
        let hex = |s: String| {
            BASE64
                .decode(s)
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(hex(compute(ChecksumAlgorithm::Crc32, check)), "cbf43926");
        assert_eq!(hex(compute(ChecksumAlgorithm::Crc32c, check)), "e3069283");
        assert_eq!(
            hex(compute(ChecksumAlgorithm::Crc64Nvme, check)),
            "ae8b14860a799888"
        );
        assert_eq!(
            hex(compute(ChecksumAlgorithm::Sha1, check)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
    }

    #[test]
    fn every_checksum_is_checked() {
        let body = Bytes::from_static(b"hello world");
        let md5 = content_md5(&body);
        assert!(verified_body(&headers(&[("content-md5", &md5)]), body.clone()).is_ok());
        let wrong = content_md5(b"other");
        assert_eq!(
            verified_body(&headers(&[("content-md5", &wrong)]), body.clone()),
            Err(S3Error::BadDigest("Content-MD5"))
        );
        assert_eq!(
            verified_body(&headers(&[("content-md5", "nope")]), body.clone()),
            Err(S3Error::InvalidDigest)
        );
        let crc = compute(ChecksumAlgorithm::Crc32, &body);
        let (_, kept) =
            verified_body(&headers(&[("x-amz-checksum-crc32", &crc)]), body.clone()).unwrap();
        assert_eq!(kept.unwrap().value, crc);
        let bad = compute(ChecksumAlgorithm::Crc32, b"x");
        assert_eq!(
            verified_body(&headers(&[("x-amz-checksum-crc32", &bad)]), body.clone()),
            Err(S3Error::BadDigest("CRC32"))
        );
        assert_eq!(
            verified_body(&headers(&[("x-amz-checksum-sha256", "AAAA")]), body.clone()),
            Err(S3Error::InvalidChecksumHeader("x-amz-checksum-sha256"))
        );
    }

    #[test]
    fn aws_chunked_bodies_and_trailers() {
        let crc = compute(ChecksumAlgorithm::Crc32, b"hello world");
        let framed = format!(
            "5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n"
        );
        let h = headers(&[
            ("content-encoding", "aws-chunked"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("x-amz-decoded-content-length", "11"),
        ]);
        let (body, kept) = verified_body(&h, Bytes::from(framed.clone())).unwrap();
        assert_eq!(&body[..], b"hello world");
        assert_eq!(kept.unwrap().algorithm, ChecksumAlgorithm::Crc32);
        let tampered = framed.replace("hello", "jello");
        assert_eq!(
            verified_body(&h, Bytes::from(tampered)),
            Err(S3Error::BadDigest("CRC32"))
        );
        let no_trailer = "5\r\nhello\r\n0\r\n\r\n";
        let h = headers(&[
            ("content-encoding", "aws-chunked"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ]);
        assert!(matches!(
            verified_body(&h, Bytes::from(no_trailer)),
            Err(S3Error::IncompleteBody(_))
        ));
        let h = headers(&[("content-encoding", "aws-chunked")]);
        assert!(verified_body(&h, Bytes::from_static(b"zz\r\n")).is_err());
        assert!(verified_body(&h, Bytes::from_static(b"ffffffff\r\nab")).is_err());
    }
}
