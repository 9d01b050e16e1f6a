//! SNS's errors: one variant per SNS error code, with SNS's wording, rendered in the query
//! protocol's `<ErrorResponse>`.

use axum::http::StatusCode;

use crate::env::NoRandomness;
use crate::store::StoreError;
use crate::wire::ErrorBody;

/// An SNS error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsError {
    /// `InvalidParameter`: the message names the parameter (`Invalid parameter: TopicArn`).
    InvalidParameter(String),
    /// `ParameterValueInvalid` (message attributes).
    InvalidParameterValue(String),
    /// `NotFound`: what was not found (`Topic does not exist`).
    NotFound(String),
    /// `ResourceNotFound` (tag operations).
    ResourceNotFound,
    TagLimitExceeded,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    NoRandomness(String),
    Store(StoreError),
}

impl From<StoreError> for SnsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<rusqlite::Error> for SnsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<NoRandomness> for SnsError {
    fn from(e: NoRandomness) -> Self {
        Self::NoRandomness(e.0)
    }
}

impl SnsError {
    /// (code, status, message).
    pub fn parts(&self) -> (&'static str, StatusCode, String) {
        use SnsError::*;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            InvalidParameter(m) => ("InvalidParameter", bad, m.clone()),
            InvalidParameterValue(m) => ("ParameterValueInvalid", bad, m.clone()),
            NotFound(m) => ("NotFound", StatusCode::NOT_FOUND, m.clone()),
            ResourceNotFound => (
                "ResourceNotFound",
                StatusCode::NOT_FOUND,
                "Resource does not exist".into(),
            ),
            TagLimitExceeded => (
                "TagLimitExceeded",
                bad,
                "Could not complete request: tag quota of per resource exceeded".into(),
            ),
            EmptyBatchRequest => (
                "EmptyBatchRequest",
                bad,
                "The batch request doesn't contain any entries.".into(),
            ),
            TooManyEntriesInBatchRequest => (
                "TooManyEntriesInBatchRequest",
                bad,
                "The batch request contains more entries than permissible.".into(),
            ),
            BatchEntryIdsNotDistinct => (
                "BatchEntryIdsNotDistinct",
                bad,
                "Two or more batch entries in the request have the same Id.".into(),
            ),
            InvalidBatchEntryId => (
                "InvalidBatchEntryId",
                bad,
                "The Id of a batch entry in a batch request doesn't abide by the specification."
                    .into(),
            ),
            BatchRequestTooLong => (
                "BatchRequestTooLong",
                bad,
                "The length of all the messages put together is more than the limit.".into(),
            ),
            NoRandomness(m) => (
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("no randomness for an id: {m}"),
            ),
            Store(e) => (
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ),
        }
    }
}

impl From<SnsError> for ErrorBody {
    fn from(e: SnsError) -> Self {
        let (code, status, message) = e.parts();
        ErrorBody::new(status, code, message)
    }
}
