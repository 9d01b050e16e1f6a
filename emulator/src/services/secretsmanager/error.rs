//! Secrets Manager's errors: one variant per error code, with its wording, rendered in
//! awsJson1_1's shape.

use axum::http::StatusCode;

use crate::env::NoRandomness;
use crate::wire::ErrorBody;

/// A Secrets Manager error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsManagerError {
    /// `ValidationException`: a member outside the model's constraints (AWS's "1 validation
    /// error detected: …" wording).
    Validation(String),
    /// `InvalidParameterException`: the parameters cannot be honoured together.
    InvalidParameter(String),
    /// `InternalServiceError`: no randomness to draw from.
    Internal(String),
}

impl From<NoRandomness> for SecretsManagerError {
    fn from(e: NoRandomness) -> Self {
        Self::Internal(format!("no randomness for a password: {}", e.0))
    }
}

impl From<SecretsManagerError> for ErrorBody {
    fn from(e: SecretsManagerError) -> Self {
        let bad = StatusCode::BAD_REQUEST;
        match e {
            SecretsManagerError::Validation(m) => ErrorBody::new(bad, "ValidationException", m),
            SecretsManagerError::InvalidParameter(m) => {
                ErrorBody::new(bad, "InvalidParameterException", m)
            }
            SecretsManagerError::Internal(m) => {
                ErrorBody::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceError", m)
            }
        }
    }
}
