//! CloudTrail's errors: one variant per CloudTrail error code, with CloudTrail's wording,
//! rendered in the awsJson shape.

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// A CloudTrail error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudTrailError {
    TrailNotFound(String),
    TrailAlreadyExists(String),
    InvalidTrailName(String),
    S3BucketDoesNotExist(String),
    InsufficientS3BucketPolicy(String),
    InvalidS3Prefix(String),
    InvalidParameter(String),
    InvalidParameterCombination(String),
    InvalidKmsKeyId(String),
    InvalidEventSelectors(String),
    InvalidTimeRange,
    InvalidLookupAttributes(String),
    InvalidMaxResults,
    InvalidNextToken,
    InvalidTagParameter(String),
    TagsLimitExceeded,
    ResourceNotFound(String),
    CloudTrailArnInvalid(String),
    /// A signing key could not be made or read.
    Keys(String),
    Store(StoreError),
}

impl From<StoreError> for CloudTrailError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<CloudTrailError> for ErrorBody {
    fn from(e: CloudTrailError) -> Self {
        use CloudTrailError::*;
        let bad = |code: &'static str, m: String| ErrorBody::new(StatusCode::BAD_REQUEST, code, m);
        let account = crate::ACCOUNT_ID;
        match e {
            TrailNotFound(name) => bad(
                "TrailNotFoundException",
                format!("Unknown trail: {name} for the user: {account}"),
            ),
            TrailAlreadyExists(name) => bad(
                "TrailAlreadyExistsException",
                format!("Trail {name} already exists for customer: {account}"),
            ),
            InvalidTrailName(name) => bad(
                "InvalidTrailNameException",
                format!(
                    "Trail name {name} is not valid: 3 to 128 letters, digits, periods, underscores and hyphens, starting and ending with a letter or digit"
                ),
            ),
            S3BucketDoesNotExist(b) => bad(
                "S3BucketDoesNotExistException",
                format!("S3 bucket {b} does not exist."),
            ),
            InsufficientS3BucketPolicy(b) => bad(
                "InsufficientS3BucketPolicyException",
                format!("Incorrect S3 bucket policy is detected for bucket: {b}"),
            ),
            InvalidS3Prefix(p) => bad(
                "InvalidS3PrefixException",
                format!("The S3 key prefix {p} is not valid"),
            ),
            InvalidParameter(m) => bad("InvalidParameterException", m),
            InvalidParameterCombination(m) => bad("InvalidParameterCombinationException", m),
            InvalidKmsKeyId(k) => bad(
                "InvalidKmsKeyIdException",
                format!("Invalid KmsKeyId {k}: give a key id, key ARN, alias name or alias ARN"),
            ),
            InvalidEventSelectors(m) => bad("InvalidEventSelectorsException", m),
            InvalidTimeRange => bad(
                "InvalidTimeRangeException",
                "Start time must be before end time".into(),
            ),
            InvalidLookupAttributes(m) => bad("InvalidLookupAttributesException", m),
            InvalidMaxResults => bad(
                "InvalidMaxResultsException",
                "MaxResults must be 1 to 50".into(),
            ),
            InvalidNextToken => bad(
                "InvalidNextTokenException",
                "The NextToken is not valid".into(),
            ),
            InvalidTagParameter(m) => bad("InvalidTagParameterException", m),
            TagsLimitExceeded => bad(
                "TagsLimitExceededException",
                "The number of tags on the resource exceeds the limit of 50".into(),
            ),
            ResourceNotFound(arn) => bad(
                "ResourceNotFoundException",
                format!("The resource {arn} was not found"),
            ),
            CloudTrailArnInvalid(arn) => bad(
                "CloudTrailARNInvalidException",
                format!("{arn} is not a valid CloudTrail ARN"),
            ),
            Keys(m) => ErrorBody::internal(format!("a digest signing key: {m}")),
            Store(e) => ErrorBody::internal(e.to_string()),
        }
    }
}
