//! S3 with Object Lock through the real `aws-sdk-s3`: the emulator's XML and headers parse as
//! the SDK expects, and locked versions are refused with S3's error codes.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockRetentionMode, ObjectLockRule,
};
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
