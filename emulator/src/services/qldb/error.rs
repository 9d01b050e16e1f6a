//! QLDB control-plane errors: one variant per QLDB error code, with QLDB's status and wording,
//! rendered in the rest-json shape (`x-amzn-ErrorType`, `Message`, and QLDB's extra members).

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// A QLDB control-plane error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QldbError {
    LedgerNotFound(String),
    ResourceNotFound(String),
    LedgerAlreadyExists(String),
    /// A ledger of this name is already in the shared database the journals are kept in.
    LedgerInDatabase {
        name: String,
        database: String,
    },
    DeletionProtected(String),
    InvalidParameter {
        parameter: &'static str,
        message: String,
    },
    LimitExceeded(String),
    /// A journal export (by id) that does not exist.
    ExportNotFound(String),
    /// `ResourcePreconditionNotMetException`: QLDB cannot do what was asked (an export's
    /// bucket or role).
    Precondition(String),
    /// A journal stream (by id) that does not exist.
    StreamNotFound(String),
    /// A journal stream that is no longer ACTIVE (or IMPAIRED).
    StreamNotActive {
        id: String,
        status: String,
    },
    Internal(String),
}

impl QldbError {
    pub fn invalid(parameter: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            parameter,
            message: message.into(),
        }
    }
}

impl From<StoreError> for QldbError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<QldbError> for ErrorBody {
    fn from(e: QldbError) -> Self {
        match e {
            QldbError::LedgerNotFound(name) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("The ledger with name {name} does not exist"),
            )
            .with("ResourceType", "LEDGER")
            .with("ResourceName", name),
            QldbError::ResourceNotFound(arn) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("The resource {arn} does not exist"),
            )
            .with("ResourceType", "LEDGER")
            .with("ResourceName", arn),
            QldbError::LedgerAlreadyExists(name) => ErrorBody::new(
                StatusCode::CONFLICT,
                "ResourceAlreadyExistsException",
                format!("The ledger with name {name} already exists"),
            )
            .with("ResourceType", "LEDGER")
            .with("ResourceName", name),
            QldbError::LedgerInDatabase { name, database } => ErrorBody::new(
                StatusCode::CONFLICT,
                "ResourceAlreadyExistsException",
                format!(
                    "The ledger with name {name} already exists in {database}: another veritrail created it there, or a CreateLedger was interrupted before its settings were saved (drop schema veritrail_{name} to reuse the name)"
                ),
            )
            .with("ResourceType", "LEDGER")
            .with("ResourceName", name),
            QldbError::DeletionProtected(name) => ErrorBody::new(
                StatusCode::PRECONDITION_FAILED,
                "ResourcePreconditionNotMetException",
                format!(
                    "Preventing deletion of ledger {name} because deletion protection is enabled. Disable deletion protection using UpdateLedger first."
                ),
            )
            .with("ResourceType", "LEDGER")
            .with("ResourceName", name),
            QldbError::InvalidParameter { parameter, message } => ErrorBody::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterException",
                message,
            )
            .with("ParameterName", parameter),
            QldbError::ExportNotFound(id) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("The export with id {id} does not exist"),
            )
            .with("ResourceType", "EXPORT")
            .with("ResourceName", id),
            QldbError::Precondition(m) => ErrorBody::new(
                StatusCode::PRECONDITION_FAILED,
                "ResourcePreconditionNotMetException",
                m,
            ),
            QldbError::StreamNotFound(id) => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("The stream with id {id} does not exist"),
            )
            .with("ResourceType", "STREAM")
            .with("ResourceName", id),
            QldbError::StreamNotActive { id, status } => ErrorBody::new(
                StatusCode::PRECONDITION_FAILED,
                "ResourcePreconditionNotMetException",
                format!("The stream {id} is {status}: only an ACTIVE stream can be cancelled"),
            )
            .with("ResourceType", "STREAM")
            .with("ResourceName", id),
            QldbError::LimitExceeded(m) => {
                ErrorBody::new(StatusCode::BAD_REQUEST, "LimitExceededException", m)
            }
            QldbError::Internal(m) => ErrorBody::internal(m),
        }
    }
}
