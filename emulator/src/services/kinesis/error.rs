//! Kinesis Data Streams' errors: one variant per Kinesis error code, with Kinesis's wording,
//! rendered in awsJson1_1's shape (`__type` and `message`, status 400).

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// A Kinesis error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KinesisError {
    /// `ResourceNotFoundException`: `Stream <name> under account <id> not found.`
    ResourceNotFound(String),
    /// `ResourceInUseException`: `Stream <name> under account <id> already exists.`
    ResourceInUse(String),
    /// `InvalidArgumentException`: a member outside what Kinesis accepts.
    InvalidArgument(String),
    /// `ExpiredIteratorException`: a shard iterator older than five minutes.
    ExpiredIterator(String),
    /// `ExpiredNextTokenException`: a `NextToken` that is not one Kinesis gave.
    ExpiredNextToken(String),
    /// `LimitExceededException`: too many shards.
    LimitExceeded(String),
    /// `ValidationException`: a member outside the model's constraints.
    Validation(String),
    /// `InternalFailureException`: the emulator failed.
    Internal(String),
}

impl From<StoreError> for KinesisError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<rusqlite::Error> for KinesisError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(StoreError::from(e).to_string())
    }
}

impl KinesisError {
    /// The error code, as Kinesis answers it.
    pub fn code(&self) -> &'static str {
        use KinesisError::*;
        match self {
            ResourceNotFound(_) => "ResourceNotFoundException",
            ResourceInUse(_) => "ResourceInUseException",
            InvalidArgument(_) => "InvalidArgumentException",
            ExpiredIterator(_) => "ExpiredIteratorException",
            ExpiredNextToken(_) => "ExpiredNextTokenException",
            LimitExceeded(_) => "LimitExceededException",
            Validation(_) => "ValidationException",
            Internal(_) => "InternalFailureException",
        }
    }

    pub fn message(&self) -> &str {
        use KinesisError::*;
        match self {
            ResourceNotFound(m) | ResourceInUse(m) | InvalidArgument(m) | ExpiredIterator(m)
            | ExpiredNextToken(m) | LimitExceeded(m) | Validation(m) | Internal(m) => m,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            KinesisError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The model's wording for a member that breaks one of its constraints.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }
}

impl std::fmt::Display for KinesisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl From<KinesisError> for ErrorBody {
    fn from(e: KinesisError) -> Self {
        ErrorBody::new(e.status(), e.code(), e.message().to_owned())
    }
}
