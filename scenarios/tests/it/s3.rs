//! S3 with Object Lock through the real `aws-sdk-s3`: the emulator's XML and headers parse as
//! the SDK expects, locked versions are refused with S3's error codes, and the checksums the SDK
//! sends (headers and aws-chunked trailers) are checked and kept.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, DefaultRetention, Delete, ObjectIdentifier,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    ObjectLockMode, ObjectLockRetentionMode, ObjectLockRule,
};
use std::sync::{Arc, Mutex};

use veritrail_scenarios::{s3_client, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_lock_bucket_through_the_aws_sdk() {
    let emulator = spawn().await.unwrap();
    let s3 = s3_client(&emulator.url);
    s3.create_bucket()
        .bucket("evidence")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.head_bucket().bucket("evidence").send().await.unwrap();
    let versioning = s3
        .get_bucket_versioning()
        .bucket("evidence")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    s3.put_object_lock_configuration()
        .bucket("evidence")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(365)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let lock = s3
        .get_object_lock_configuration()
        .bucket("evidence")
        .send()
        .await
        .unwrap();
    let days = lock
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .and_then(|d| d.days());
    assert_eq!(days, Some(365));

    let put = s3
        .put_object()
        .bucket("evidence")
        .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
        .metadata("signature", "00ff")
        .metadata("signature-algorithm", "SHA256withRSA")
        .body(ByteStream::from_static(b"{\"logFiles\":[]}"))
        .send()
        .await
        .unwrap();
    let version = put.version_id().unwrap().to_owned();
    let got = s3
        .get_object()
        .bucket("evidence")
        .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.metadata().unwrap().get("signature").map(String::as_str),
        Some("00ff")
    );
    assert_eq!(
        got.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"{\"logFiles\":[]}"
    );

    let listed = s3
        .list_objects_v2()
        .bucket("evidence")
        .prefix("AWSLogs/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    let v1 = s3
        .list_objects()
        .bucket("evidence")
        .prefix("AWSLogs/")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.contents().len(), 1);

    // The locked version cannot be deleted, even with the governance bypass.
    let refused = s3
        .delete_object()
        .bucket("evidence")
        .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
        .version_id(&version)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    let e = refused.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("AccessDenied")
    );
    // A delete marker is allowed and hides nothing from a versioned read.
    let marker = s3
        .delete_object()
        .bucket("evidence")
        .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert!(
        s3.get_object()
            .bucket("evidence")
            .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
            .send()
            .await
            .is_err()
    );
    let old = s3
        .get_object()
        .bucket("evidence")
        .key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(old.version_id(), Some(version.as_str()));
    let versions = s3
        .list_object_versions()
        .bucket("evidence")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (versions.versions().len(), versions.delete_markers().len()),
        (1, 1)
    );

    // A legal hold on a fresh version.
    let held = s3
        .put_object()
        .bucket("evidence")
        .key("held")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    s3.put_object_legal_hold()
        .bucket("evidence")
        .key("held")
        .version_id(held.version_id().unwrap())
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let hold = s3
        .get_object_legal_hold()
        .bucket("evidence")
        .key("held")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold()
            .and_then(|h| h.status())
            .map(|s| s.as_str()),
        Some("ON")
    );
    let location = s3
        .get_bucket_location()
        .bucket("evidence")
        .send()
        .await
        .unwrap();
    assert!(
        location
            .location_constraint()
            .is_none_or(|l| l.as_str().is_empty())
    );
}

/// A TCP relay in front of the emulator that keeps the bytes clients send, to see the SDK's
/// framing: (the relay's URL, what went through it).
fn recording_relay(upstream: std::net::SocketAddr) -> (String, Arc<Mutex<Vec<u8>>>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = std::net::TcpStream::connect(upstream) else {
                break;
            };
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                loop {
                    match from_client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            sink.lock().unwrap().extend_from_slice(&buf[..n]);
                            if to_server.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, seen)
}

/// The S3 error code of a failed SDK call.
fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: E) -> String {
    e.code().unwrap_or_default().to_owned()
}

/// "hello world" under CRC32, as S3 spells it.
const HELLO_CRC32: &str = "DUoRhQ==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_through_the_aws_sdk() {
    let emulator = spawn().await.unwrap();
    let (url, seen) = recording_relay(emulator.addr);
    let sent = || String::from_utf8_lossy(&std::mem::take(&mut *seen.lock().unwrap())).into_owned();
    let s3 = s3_client(&url);
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let file = std::env::temp_dir().join(format!("veritrail-sums-{}", std::process::id()));
    std::fs::write(&file, b"hello world").unwrap();
    sent();

    // By default the SDK sends CRC32: in a header for a body in memory, in an aws-chunked
    // trailer for a streamed one. Both are checked and kept.
    s3.put_object()
        .bucket("sums")
        .key("in-memory")
        .body(ByteStream::from_static(b"hello world"))
        .send()
        .await
        .unwrap();
    assert!(sent().contains(&format!("x-amz-checksum-crc32: {HELLO_CRC32}")));
    s3.put_object()
        .bucket("sums")
        .key("streamed")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    let framing = sent();
    assert!(
        framing.contains("x-amz-trailer: x-amz-checksum-crc32")
            && framing.contains("content-encoding: aws-chunked")
            && framing.contains(&format!("x-amz-checksum-crc32:{HELLO_CRC32}")),
        "{framing}"
    );
    for key in ["in-memory", "streamed"] {
        // With checksum mode on, the SDK checks the answer's checksum against the body.
        let got = s3
            .get_object()
            .bucket("sums")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.checksum_crc32(), Some(HELLO_CRC32));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            b"hello world"
        );
    }

    // Every algorithm the SDK offers, in a header and in a trailer.
    for algorithm in [
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        for streamed in [false, true] {
            let body = if streamed {
                ByteStream::from_path(&file).await.unwrap()
            } else {
                ByteStream::from_static(b"hello world")
            };
            let key = format!("{}-{streamed}", algorithm.as_str());
            s3.put_object()
                .bucket("sums")
                .key(&key)
                .checksum_algorithm(algorithm.clone())
                .body(body)
                .send()
                .await
                .unwrap();
            let header = format!("x-amz-checksum-{}", algorithm.as_str().to_ascii_lowercase());
            let framing = sent();
            assert!(
                framing.contains(&header) && framing.contains("aws-chunked") == streamed,
                "{framing}"
            );
            let got = s3
                .get_object()
                .bucket("sums")
                .key(&key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            let returned = got
                .checksum_crc32_c()
                .or(got.checksum_crc64_nvme())
                .or(got.checksum_sha1())
                .or(got.checksum_sha256());
            assert!(returned.is_some(), "{key}: no checksum returned");
        }
    }

    // A checksum or Content-MD5 that does not match is refused, and nothing is stored.
    let wrong = [
        s3.put_object()
            .checksum_crc32("AAAAAA==")
            .body(ByteStream::from_static(b"hello world")),
        s3.put_object()
            .content_md5("XrY7u+Ae7tCTyyK7j1rNww==")
            .body(ByteStream::from_static(b"hello World")),
    ];
    for put in wrong {
        let refused = put.bucket("sums").key("wrong").send().await.unwrap_err();
        assert_eq!(code(refused.into_service_error()), "BadDigest");
    }
    assert!(
        s3.head_object()
            .bucket("sums")
            .key("wrong")
            .send()
            .await
            .is_err()
    );

    // What needs an integrity value (Object Lock headers, DeleteObjects) gets the SDK's.
    s3.create_bucket()
        .bucket("locked-sums")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until =
        aws_sdk_s3::primitives::DateTime::from_millis(emulator.emulator.now().0 + 86_400_000);
    s3.put_object()
        .bucket("locked-sums")
        .key("held")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"hello world"))
        .send()
        .await
        .unwrap();
    let deleted = s3
        .delete_objects()
        .bucket("sums")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("in-memory")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), 1);
    let _ = std::fs::remove_file(&file);
}
