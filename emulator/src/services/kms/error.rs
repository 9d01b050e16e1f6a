//! KMS's errors: one variant per KMS error code, with KMS's wording, rendered in awsJson1_1's
//! shape.

use axum::http::StatusCode;

use crate::env::NoRandomness;
use crate::keys::KeyError;
use crate::store::StoreError;
use crate::wire::ErrorBody;

/// A KMS error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    /// `NotFoundException`: the key or alias, in KMS's words.
    NotFound(String),
    /// `DisabledException`: `<key ARN> is disabled.`
    Disabled(String),
    /// `KMSInvalidStateException`: the key's state does not allow the call.
    InvalidState(String),
    /// `InvalidCiphertextException`: the blob was changed, or its context is not the one given.
    InvalidCiphertext,
    /// `IncorrectKeyException`: Decrypt named a key other than the blob's.
    IncorrectKey,
    /// `InvalidKeyUsageException`: an algorithm the key does not use.
    InvalidKeyUsage,
    /// `AlreadyExistsException`.
    AlreadyExists(String),
    /// `InvalidAliasNameException`.
    InvalidAliasName(String),
    /// `ValidationException`: a member outside the model's constraints.
    Validation(String),
    /// `UnsupportedOperationException`: a kind of key the emulator does not make.
    Unsupported(String),
    /// `TagException`.
    Tag(String),
    /// `KMSInternalException`.
    Internal(String),
}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<rusqlite::Error> for KmsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(StoreError::from(e).to_string())
    }
}

impl From<NoRandomness> for KmsError {
    fn from(e: NoRandomness) -> Self {
        Self::Internal(format!("no randomness: {}", e.0))
    }
}

impl From<KeyError> for KmsError {
    fn from(e: KeyError) -> Self {
        Self::Internal(e.0)
    }
}

impl KmsError {
    /// The error code, as KMS answers it (S3 prefixes it with `KMS.`).
    pub fn code(&self) -> &'static str {
        use KmsError::*;
        match self {
            NotFound(_) => "NotFoundException",
            Disabled(_) => "DisabledException",
            InvalidState(_) => "KMSInvalidStateException",
            InvalidCiphertext => "InvalidCiphertextException",
            IncorrectKey => "IncorrectKeyException",
            InvalidKeyUsage => "InvalidKeyUsageException",
            AlreadyExists(_) => "AlreadyExistsException",
            InvalidAliasName(_) => "InvalidAliasNameException",
            Validation(_) => "ValidationException",
            Unsupported(_) => "UnsupportedOperationException",
            Tag(_) => "TagException",
            Internal(_) => "KMSInternalException",
        }
    }

    pub fn message(&self) -> String {
        use KmsError::*;
        match self {
            NotFound(m) | Disabled(m) | InvalidState(m) | AlreadyExists(m)
            | InvalidAliasName(m) | Validation(m) | Unsupported(m) | Tag(m) | Internal(m) => {
                m.clone()
            }
            InvalidCiphertext => {
                "The ciphertext is not valid for this key and encryption context.".into()
            }
            InvalidKeyUsage => {
                "The encryption algorithm is not valid for this key: use SYMMETRIC_DEFAULT.".into()
            }
            IncorrectKey => {
                "The key ID in the request does not identify a CMK that can perform this operation."
                    .into()
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            KmsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// KMS's wording for a member that breaks a constraint of the model.
    pub fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }
}

impl From<KmsError> for ErrorBody {
    fn from(e: KmsError) -> Self {
        ErrorBody::new(e.status(), e.code(), e.message())
    }
}
