//! IAM's errors: one variant per IAM error code, with IAM's wording, rendered in the query
//! protocol's `<ErrorResponse>`.

use axum::http::StatusCode;

use crate::env::NoRandomness;
use crate::store::StoreError;
use crate::wire::ErrorBody;

/// An IAM error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamError {
    /// `NoSuchEntity` (404): what was not found, in IAM's words.
    NoSuchEntity(String),
    /// `EntityAlreadyExists` (409).
    EntityAlreadyExists(String),
    /// `MalformedPolicyDocument` (400).
    MalformedPolicyDocument(String),
    /// `DeleteConflict` (409): the entity still has something attached.
    DeleteConflict(String),
    /// `ValidationError` (400): a member outside the model's constraints.
    Validation(String),
    /// `InvalidInput` (400): a value of the right shape that IAM cannot use (an ARN …).
    InvalidInput(String),
    /// `LimitExceeded` (409).
    LimitExceeded(String),
    /// `UnmodifiableEntity` (400): an AWS managed policy.
    Unmodifiable(String),
    /// `ServiceFailure` (500).
    Internal(String),
}

impl From<StoreError> for IamError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<rusqlite::Error> for IamError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(StoreError::from(e).to_string())
    }
}

impl From<NoRandomness> for IamError {
    fn from(e: NoRandomness) -> Self {
        Self::Internal(format!("no randomness for an id: {}", e.0))
    }
}

impl IamError {
    /// (code, status, message).
    pub fn parts(&self) -> (&'static str, StatusCode, &str) {
        use IamError::*;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            NoSuchEntity(m) => ("NoSuchEntity", StatusCode::NOT_FOUND, m),
            EntityAlreadyExists(m) => ("EntityAlreadyExists", StatusCode::CONFLICT, m),
            MalformedPolicyDocument(m) => ("MalformedPolicyDocument", bad, m),
            DeleteConflict(m) => ("DeleteConflict", StatusCode::CONFLICT, m),
            Validation(m) => ("ValidationError", bad, m),
            InvalidInput(m) => ("InvalidInput", bad, m),
            LimitExceeded(m) => ("LimitExceeded", StatusCode::CONFLICT, m),
            Unmodifiable(m) => ("UnmodifiableEntity", bad, m),
            Internal(m) => ("ServiceFailure", StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }

    /// IAM's wording for a member that breaks a constraint of the model.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// A required member that is missing.
    pub fn missing(member: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }
}

impl From<IamError> for ErrorBody {
    fn from(e: IamError) -> Self {
        let (code, status, message) = e.parts();
        ErrorBody::new(status, code, message.to_owned())
    }
}
