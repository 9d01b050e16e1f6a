//! S3's errors: one variant per S3 error code, with S3's status and wording, rendered in the
//! rest-xml shape (`<Error><Code>…`).

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// An S3 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    NoSuchBucket(String),
    NoSuchKey(String),
    NoSuchVersion {
        key: String,
        version: String,
    },
    /// A plain GET or HEAD of a key whose current version is a delete marker.
    CurrentIsDeleteMarker(String),
    /// A GET or HEAD of a delete marker by its version id.
    VersionIsDeleteMarker(String),
    BucketAlreadyOwnedByYou(String),
    InvalidBucketName(String),
    BucketNotEmpty(String),
    KeyTooLong(usize),
    EntityTooLarge(usize),
    /// Content-MD5 that is not base64 of 16 bytes.
    InvalidDigest,
    /// A checksum that does not match the body; the algorithm's name (`Content-MD5`, `CRC32` …).
    BadDigest(&'static str),
    /// An `x-amz-checksum-*` header whose value is not base64 of the algorithm's size.
    InvalidChecksumHeader(&'static str),
    IncompleteBody(String),
    MalformedXml(String),
    InvalidArgument(String),
    InvalidRequest(String),
    /// Deleting, or shortening the retention of, a version protected by Object Lock.
    AccessDeniedLocked,
    InvalidBucketState(String),
    ObjectLockConfigurationNotFound,
    NoSuchObjectLockConfiguration,
    NoSuchBucketPolicy(String),
    MalformedPolicy(String),
    NoSuchLifecycleConfiguration(String),
    NoSuchTagSet(String),
    InvalidTag(String),
    NoSuchPublicAccessBlockConfiguration(String),
    ServerSideEncryptionConfigurationNotFound(String),
    /// A stored body whose hash no longer matches what was stored: reported, never served.
    StoredObjectDamaged {
        bucket: String,
        key: String,
    },
    /// KMS refused what SSE-KMS asked of it: answered as `KMS.<code>`.
    Kms(crate::services::kms::KmsError),
    Store(StoreError),
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<S3Error> for ErrorBody {
    fn from(e: S3Error) -> Self {
        use S3Error::*;
        let bad = StatusCode::BAD_REQUEST;
        match e {
            NoSuchBucket(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
            )
            .with("BucketName", b),
            NoSuchKey(k) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
            .with("Key", k),
            NoSuchVersion { key, version } => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchVersion",
                "The specified version does not exist.",
            )
            .with("Key", key)
            .with("VersionId", version),
            CurrentIsDeleteMarker(k) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
            .with("Key", k)
            .with_header("x-amz-delete-marker", "true"),
            VersionIsDeleteMarker(version) => ErrorBody::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
            .with("Method", "GET")
            .with("ResourceType", "DeleteMarker")
            .with_header("x-amz-delete-marker", "true")
            .with_header("x-amz-version-id", version),
            BucketAlreadyOwnedByYou(b) => ErrorBody::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .with("BucketName", b),
            InvalidBucketName(b) => {
                ErrorBody::new(bad, "InvalidBucketName", "The specified bucket is not valid.")
                    .with("BucketName", b)
            }
            BucketNotEmpty(b) => ErrorBody::new(
                StatusCode::CONFLICT,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
            )
            .with("BucketName", b),
            KeyTooLong(n) => ErrorBody::new(bad, "KeyTooLongError", "Your key is too long")
                .with("Size", n.to_string())
                .with("MaxSizeAllowed", super::model::MAX_KEY_BYTES.to_string()),
            EntityTooLarge(limit) => ErrorBody::new(
                bad,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("MaxSizeAllowed", limit.to_string()),
            InvalidDigest => ErrorBody::new(
                bad,
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            ),
            BadDigest("Content-MD5") => ErrorBody::new(
                bad,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ),
            BadDigest(algorithm) => ErrorBody::new(
                bad,
                "BadDigest",
                format!("The {algorithm} you specified did not match the calculated checksum."),
            ),
            InvalidChecksumHeader(header) => ErrorBody::new(
                bad,
                "InvalidRequest",
                format!("Value for {header} header is invalid."),
            ),
            IncompleteBody(m) => ErrorBody::new(bad, "IncompleteBody", m),
            MalformedXml(why) => ErrorBody::new(
                bad,
                "MalformedXML",
                format!(
                    "The XML you provided was not well-formed or did not validate against our published schema ({why})"
                ),
            ),
            InvalidArgument(m) => ErrorBody::new(bad, "InvalidArgument", m),
            InvalidRequest(m) => ErrorBody::new(bad, "InvalidRequest", m),
            AccessDeniedLocked => ErrorBody::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Access Denied because object protected by object lock.",
            ),
            InvalidBucketState(m) => ErrorBody::new(StatusCode::CONFLICT, "InvalidBucketState", m),
            ObjectLockConfigurationNotFound => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
            ),
            NoSuchObjectLockConfiguration => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchObjectLockConfiguration",
                "The specified object does not have a ObjectLock configuration",
            ),
            NoSuchBucketPolicy(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            )
            .with("BucketName", b),
            MalformedPolicy(m) => ErrorBody::new(bad, "MalformedPolicy", m),
            NoSuchLifecycleConfiguration(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
            )
            .with("BucketName", b),
            NoSuchTagSet(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchTagSet",
                "The TagSet does not exist",
            )
            .with("BucketName", b),
            InvalidTag(m) => ErrorBody::new(bad, "InvalidTag", m),
            NoSuchPublicAccessBlockConfiguration(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
            )
            .with("BucketName", b),
            ServerSideEncryptionConfigurationNotFound(b) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ServerSideEncryptionConfigurationNotFoundError",
                "The server side encryption configuration was not found",
            )
            .with("BucketName", b),
            StoredObjectDamaged { bucket, key } => ErrorBody::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!(
                    "The stored object {bucket}/{key} failed its integrity check: it was changed on disk and is not served"
                ),
            ),
            Kms(e) => ErrorBody::new(e.status(), format!("KMS.{}", e.code()), e.message()),
            Store(e) => ErrorBody::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            ),
        }
    }
}

impl From<crate::services::kms::KmsError> for S3Error {
    fn from(e: crate::services::kms::KmsError) -> Self {
        Self::Kms(e)
    }
}
