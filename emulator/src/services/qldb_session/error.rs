//! The session API's errors, as QLDB answers them in the awsJson1_0 shape (the drivers read
//! the code and, for BadRequest, the message).

use axum::http::StatusCode;

use crate::wire::ErrorBody;

/// A session API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    BadRequest(String),
    InvalidSession(String),
    OccConflict(String),
    LimitExceeded(String),
    Serialization(String),
    /// The caller's role may not write (an auditor's transaction ran a statement that writes).
    AccessDenied(String),
    Internal(String),
}

impl From<SessionError> for ErrorBody {
    fn from(e: SessionError) -> Self {
        let bad = |code: &'static str, m: String| ErrorBody::new(StatusCode::BAD_REQUEST, code, m);
        match e {
            SessionError::BadRequest(m) => bad("BadRequestException", m),
            SessionError::InvalidSession(m) => bad("InvalidSessionException", m),
            SessionError::OccConflict(m) => bad("OccConflictException", m),
            SessionError::LimitExceeded(m) => bad("LimitExceededException", m),
            SessionError::Serialization(m) => bad("SerializationException", m),
            SessionError::AccessDenied(m) => {
                ErrorBody::new(StatusCode::FORBIDDEN, "AccessDeniedException", m)
            }
            SessionError::Internal(m) => ErrorBody::internal(m),
        }
    }
}
