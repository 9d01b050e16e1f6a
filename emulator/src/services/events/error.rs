//! EventBridge's errors: one variant per EventBridge error code, with EventBridge's wording
//! (as the real service answers; `../shared/specs/cloudtrail.md` §5.3), rendered in the awsJson
//! shape.

use axum::http::StatusCode;
use veritrail_rules::InvalidEventPattern;

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// An EventBridge error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsError {
    /// `ValidationException`: a member breaks the API model's constraints ("1 validation error
    /// detected: …") or a rule of the service ("Rule can't be deleted since it has targets.").
    Validation(String),
    /// A member of the wrong JSON type (a number where a string belongs …).
    Serialization(String),
    /// A pattern EventBridge refuses, with its reason.
    InvalidEventPattern(InvalidEventPattern),
    ResourceNotFound(String),
    ResourceAlreadyExists(String),
    LimitExceeded,
    /// A connection's secret could not be written or read.
    Keys(String),
    Store(StoreError),
}

impl EventsError {
    /// `Rule <name> does not exist on EventBus <bus>.`
    pub fn no_rule(name: &str, bus: &str) -> Self {
        Self::ResourceNotFound(format!("Rule {name} does not exist on EventBus {bus}."))
    }

    /// `Event bus <name> does not exist.`
    pub fn no_bus(name: &str) -> Self {
        Self::ResourceNotFound(format!("Event bus {name} does not exist."))
    }

    pub fn no_connection(name: &str) -> Self {
        Self::ResourceNotFound(format!(
            "Failed to describe the connection(s). Connection '{name}' does not exist."
        ))
    }

    pub fn no_api_destination(name: &str) -> Self {
        Self::ResourceNotFound(format!(
            "Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
        ))
    }
}

impl From<StoreError> for EventsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<InvalidEventPattern> for EventsError {
    fn from(e: InvalidEventPattern) -> Self {
        Self::InvalidEventPattern(e)
    }
}

impl From<EventsError> for ErrorBody {
    fn from(e: EventsError) -> Self {
        let bad = |code: &'static str, m: String| ErrorBody::new(StatusCode::BAD_REQUEST, code, m);
        match e {
            EventsError::Validation(m) => bad("ValidationException", m),
            EventsError::Serialization(m) => bad("SerializationException", m),
            EventsError::InvalidEventPattern(p) => bad(InvalidEventPattern::CODE, p.message()),
            EventsError::ResourceNotFound(m) => bad("ResourceNotFoundException", m),
            EventsError::ResourceAlreadyExists(m) => bad("ResourceAlreadyExistsException", m),
            EventsError::LimitExceeded => bad(
                "LimitExceededException",
                "The requested resource exceeds the maximum number allowed.".into(),
            ),
            EventsError::Keys(m) => ErrorBody::internal(format!("a connection's secret: {m}")),
            EventsError::Store(e) => ErrorBody::internal(e.to_string()),
        }
    }
}
