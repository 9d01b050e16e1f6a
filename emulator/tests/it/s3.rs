//! S3 with Object Lock: COMPLIANCE cannot be shortened or bypassed, GOVERNANCE only with the
//! bypass header, legal hold blocks deletion, delete markers hide nothing from a versioned
//! read, all judged against the emulator's clock.

use std::sync::Arc;

use veritrail_core::time::{ManualClock, UtcMillis};

use crate::{runtime, s3_call};

const DAY: i64 = 86_400_000;

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn object_lock_protects_versions_until_the_clock_passes() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("veritrail-emulator-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let clock = Arc::new(ManualClock::new(UtcMillis(1_704_067_200_000), 0)); // 2024-01-01
    let mut config = veritrail_emulator::Config::new(&dir);
    config.clock = clock.clone();
    let emu = veritrail_emulator::Emulator::open(config).unwrap();
    let running = rt
        .block_on(veritrail_emulator::serve(
            Arc::new(emu),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let u = running.url.clone();

    // A bucket with Object Lock: versioning comes with it and cannot be suspended.
    assert_eq!(
        s3_call(
            &u,
            "PUT",
            "/evidence",
            &[("x-amz-bucket-object-lock-enabled", "true")],
            ""
        )
        .0,
        200
    );
    assert!(
        s3_call(&u, "GET", "/evidence?versioning", &[], "")
            .2
            .contains("<Status>Enabled</Status>")
    );
    let (s, _, b) = s3_call(
        &u,
        "PUT",
        "/evidence?versioning",
        &[],
        "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>",
    );
    assert_eq!(s, 409);
    assert!(b.contains("<Code>InvalidBucketState</Code>"), "{b}");
    let rule = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>365</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    assert_eq!(
        s3_call(&u, "PUT", "/evidence?object-lock", &[], rule).0,
        200
    );
    assert!(
        s3_call(&u, "GET", "/evidence?object-lock", &[], "")
            .2
            .contains("<Days>365</Days>")
    );

    // A log under default COMPLIANCE retention, with its metadata.
    let (s, h, _) = s3_call(
        &u,
        "PUT",
        "/evidence/AWSLogs/1/log.json.gz",
        &[
            ("x-amz-meta-signature", "abcd"),
            ("content-type", "application/json"),
        ],
        "{\"Records\":[]}",
    );
    assert_eq!(s, 200);
    let v1 = header(&h, "x-amz-version-id").unwrap().to_owned();
    let (s, h, body) = s3_call(&u, "GET", "/evidence/AWSLogs/1/log.json.gz", &[], "");
    assert_eq!((s, body.as_str()), (200, "{\"Records\":[]}"));
    assert_eq!(header(&h, "x-amz-meta-signature"), Some("abcd"));
    assert_eq!(header(&h, "x-amz-object-lock-mode"), Some("COMPLIANCE"));

    // Deleting the locked version is refused; a delete marker is allowed and hides nothing.
    let (s, _, b) = s3_call(
        &u,
        "DELETE",
        &format!("/evidence/AWSLogs/1/log.json.gz?versionId={v1}"),
        &[("x-amz-bypass-governance-retention", "true")],
        "",
    );
    assert_eq!(s, 403);
    assert!(
        b.contains("Access Denied because object protected by object lock."),
        "{b}"
    );
    let (s, h, _) = s3_call(&u, "DELETE", "/evidence/AWSLogs/1/log.json.gz", &[], "");
    assert_eq!((s, header(&h, "x-amz-delete-marker")), (204, Some("true")));
    assert_eq!(
        s3_call(&u, "GET", "/evidence/AWSLogs/1/log.json.gz", &[], "").0,
        404
    );
    assert_eq!(
        s3_call(
            &u,
            "GET",
            &format!("/evidence/AWSLogs/1/log.json.gz?versionId={v1}"),
            &[],
            ""
        )
        .2,
        "{\"Records\":[]}"
    );
    let versions = s3_call(&u, "GET", "/evidence?versions", &[], "").2;
    assert!(
        versions.contains("<DeleteMarker>")
            && versions.contains(&format!("<VersionId>{v1}</VersionId>")),
        "{versions}"
    );

    // COMPLIANCE cannot be shortened; it can be extended.
    let short = "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2024-02-01T00:00:00Z</RetainUntilDate></Retention>";
    assert_eq!(
        s3_call(
            &u,
            "PUT",
            &format!("/evidence/AWSLogs/1/log.json.gz?retention&versionId={v1}"),
            &[("x-amz-bypass-governance-retention", "true")],
            short
        )
        .0,
        403
    );
    let long = "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2026-01-01T00:00:00Z</RetainUntilDate></Retention>";
    assert_eq!(
        s3_call(
            &u,
            "PUT",
            &format!("/evidence/AWSLogs/1/log.json.gz?retention&versionId={v1}"),
            &[],
            long
        )
        .0,
        200
    );

    // GOVERNANCE gives way only to the bypass header.
    let put_locked = |key: &str, mode: &str| {
        let body = "governed";
        let md5 = veritrail_emulator::services::s3::content_md5(body.as_bytes());
        s3_call(
            &u,
            "PUT",
            key,
            &[
                ("x-amz-object-lock-mode", mode),
                (
                    "x-amz-object-lock-retain-until-date",
                    "2024-06-01T00:00:00Z",
                ),
                ("content-md5", md5.as_str()),
            ],
            body,
        )
    };
    let (s, h, _) = put_locked("/evidence/gov.txt", "GOVERNANCE");
    assert_eq!(s, 200);
    let gv = header(&h, "x-amz-version-id").unwrap().to_owned();
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/gov.txt?versionId={gv}"),
            &[],
            ""
        )
        .0,
        403
    );
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/gov.txt?versionId={gv}"),
            &[("x-amz-bypass-governance-retention", "true")],
            ""
        )
        .0,
        204
    );
    // Lock headers need Content-MD5.
    let (s, _, b) = s3_call(
        &u,
        "PUT",
        "/evidence/x.txt",
        &[("x-amz-object-lock-legal-hold", "ON")],
        "x",
    );
    assert_eq!(s, 400);
    assert!(
        b.contains("Content-MD5 OR x-amz-checksum- HTTP header is required"),
        "{b}"
    );

    // Legal hold blocks deletion even after retention has passed, until it is OFF.
    let (s, h, _) = s3_call(&u, "PUT", "/evidence/held.txt", &[], "held");
    assert_eq!(s, 200);
    let hv = header(&h, "x-amz-version-id").unwrap().to_owned();
    assert_eq!(
        s3_call(
            &u,
            "PUT",
            &format!("/evidence/held.txt?legal-hold&versionId={hv}"),
            &[],
            "<LegalHold><Status>ON</Status></LegalHold>"
        )
        .0,
        200
    );
    clock.set(UtcMillis(1_704_067_200_000 + 400 * DAY));
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/held.txt?versionId={hv}"),
            &[],
            ""
        )
        .0,
        403
    );
    assert_eq!(
        s3_call(
            &u,
            "PUT",
            &format!("/evidence/held.txt?legal-hold&versionId={hv}"),
            &[],
            "<LegalHold><Status>OFF</Status></LegalHold>"
        )
        .0,
        200
    );
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/held.txt?versionId={hv}"),
            &[],
            ""
        )
        .0,
        204
    );

    // The log's extended retention (2026) still holds at 2025; after it, the version goes.
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/AWSLogs/1/log.json.gz?versionId={v1}"),
            &[],
            ""
        )
        .0,
        403
    );
    clock.set(UtcMillis(1_704_067_200_000 + 800 * DAY));
    assert_eq!(
        s3_call(
            &u,
            "DELETE",
            &format!("/evidence/AWSLogs/1/log.json.gz?versionId={v1}"),
            &[],
            ""
        )
        .0,
        204
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listing_location_and_plain_buckets() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();
    assert_eq!(s3_call(&u, "PUT", "/logs", &[], "").0, 200);
    assert_eq!(s3_call(&u, "PUT", "/logs", &[], "").0, 409);
    assert_eq!(s3_call(&u, "PUT", "/Bad_Name", &[], "").0, 400);
    for k in ["a/1", "a/2", "a/3", "b/1"] {
        assert_eq!(s3_call(&u, "PUT", &format!("/logs/{k}"), &[], k).0, 200);
    }
    let loc = s3_call(&u, "GET", "/logs?location", &[], "").2;
    assert!(loc.contains("<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></LocationConstraint>"), "{loc}");
    let page = s3_call(&u, "GET", "/logs?prefix=a%2F&max-keys=2", &[], "").2;
    assert!(
        page.contains("<IsTruncated>true</IsTruncated>")
            && page.contains("<NextMarker>a/2</NextMarker>"),
        "{page}"
    );
    let rest = s3_call(&u, "GET", "/logs?prefix=a%2F&marker=a%2F2", &[], "").2;
    assert!(
        rest.contains("<Key>a/3</Key>") && !rest.contains("<Key>a/1</Key>"),
        "{rest}"
    );
    let v2 = s3_call(&u, "GET", "/logs?list-type=2&prefix=b", &[], "").2;
    assert!(v2.contains("<KeyCount>1</KeyCount>"), "{v2}");
    // Lock operations on a bucket without Object Lock.
    let (s, _, b) = s3_call(&u, "GET", "/logs?object-lock", &[], "");
    assert_eq!(s, 404);
    assert!(b.contains("ObjectLockConfigurationNotFoundError"));
    let (s, _, b) = s3_call(
        &u,
        "PUT",
        "/logs/a/1?retention",
        &[],
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
    );
    assert_eq!(s, 400);
    assert!(
        b.contains("Bucket is missing Object Lock Configuration"),
        "{b}"
    );
    // Unversioned delete really deletes; DeleteObjects reports each key.
    assert_eq!(s3_call(&u, "DELETE", "/logs/b/1", &[], "").0, 204);
    assert_eq!(s3_call(&u, "GET", "/logs/b/1", &[], "").0, 404);
    let deleted = s3_call(
        &u,
        "POST",
        "/logs?delete",
        &[],
        "<Delete><Object><Key>a/1</Key></Object><Object><Key>a/2</Key></Object></Delete>",
    )
    .2;
    assert_eq!(deleted.matches("<Deleted>").count(), 2, "{deleted}");
    assert_eq!(s3_call(&u, "GET", "/nope/x", &[], "").0, 404);
}

#[test]
fn operations_not_emulated_are_refused_not_faked() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();
    assert_eq!(s3_call(&u, "PUT", "/copies", &[], "").0, 200);
    assert_eq!(s3_call(&u, "PUT", "/copies/a", &[], "original").0, 200);
    let (status, _, body) = s3_call(
        &u,
        "PUT",
        "/copies/b",
        &[("x-amz-copy-source", "/copies/a")],
        "",
    );
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("<Code>NotImplemented</Code>"), "{body}");
    assert!(body.contains("CopyObject"), "{body}");
    let (status, _, body) = s3_call(&u, "PUT", "/copies/c?partNumber=1&uploadId=x", &[], "part");
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("UploadPart"), "{body}");
    // Nothing was stored under either key.
    assert_eq!(s3_call(&u, "GET", "/copies/b", &[], "").0, 404);
    assert_eq!(s3_call(&u, "GET", "/copies/c", &[], "").0, 404);
    let (status, _, body) = s3_call(
        &u,
        "PUT",
        "/copies?replication",
        &[],
        "<ReplicationConfiguration/>",
    );
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("PutBucketReplication"), "{body}");
}
