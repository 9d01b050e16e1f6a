//! SQS's errors: one variant per error code, with SQS's wording. SQS moved from the query
//! protocol to JSON keeping its old codes: a JSON answer names the error by its JSON type
//! (`QueueDoesNotExist`) and carries the query code in `x-amzn-query-error`
//! (`AWS.SimpleQueueService.NonExistentQueue;Sender`), which is what botocore and the AWS CLI
//! report; a query-protocol answer names the query code.

use axum::http::StatusCode;

use crate::env::NoRandomness;
use crate::ops::Protocol;
use crate::store::StoreError;
use crate::wire::ErrorBody;

/// An SQS error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsError {
    QueueDoesNotExist,
    /// The attribute whose value differs.
    QueueNameExists(String),
    QueueDeletedRecently,
    /// The queue's name.
    PurgeQueueInProgress(String),
    InvalidAttributeName(String),
    InvalidAttributeValue(String),
    InvalidParameterValue(String),
    /// The parameter's name.
    MissingParameter(String),
    /// The receipt handle given.
    ReceiptHandleIsInvalid(String),
    MessageNotInflight,
    /// The kind of entry (`SendMessageBatch`).
    EmptyBatchRequest(&'static str),
    /// How many entries were sent.
    TooManyEntriesInBatchRequest(usize),
    /// The repeated id.
    BatchEntryIdsNotDistinct(String),
    InvalidBatchEntryId,
    /// The limit and the size sent.
    BatchRequestTooLong(usize, usize),
    InvalidMessageContents,
    OverLimit(String),
    /// A request body that is not the operation's shape (a member of the wrong type).
    Malformed(String),
    NoRandomness(String),
    Store(StoreError),
}

impl From<StoreError> for SqsError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<rusqlite::Error> for SqsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<NoRandomness> for SqsError {
    fn from(e: NoRandomness) -> Self {
        Self::NoRandomness(e.0)
    }
}

impl SqsError {
    /// (query code, JSON type, status, message).
    pub fn parts(&self) -> (&'static str, &'static str, StatusCode, String) {
        use SqsError::*;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            QueueDoesNotExist => (
                "AWS.SimpleQueueService.NonExistentQueue",
                "QueueDoesNotExist",
                bad,
                "The specified queue does not exist.".into(),
            ),
            QueueNameExists(attribute) => (
                "QueueAlreadyExists",
                "QueueNameExists",
                bad,
                format!(
                    "A queue already exists with the same name and a different value for attribute {attribute}"
                ),
            ),
            QueueDeletedRecently => (
                "AWS.SimpleQueueService.QueueDeletedRecently",
                "QueueDeletedRecently",
                bad,
                "You must wait 60 seconds after deleting a queue before you can create another with the same name.".into(),
            ),
            PurgeQueueInProgress(name) => (
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                "PurgeQueueInProgress",
                StatusCode::FORBIDDEN,
                format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
            ),
            InvalidAttributeName(m) => ("InvalidAttributeName", "InvalidAttributeName", bad, m.clone()),
            InvalidAttributeValue(m) => {
                ("InvalidAttributeValue", "InvalidAttributeValue", bad, m.clone())
            }
            InvalidParameterValue(m) => (
                "InvalidParameterValue",
                "InvalidParameterValueException",
                bad,
                m.clone(),
            ),
            MissingParameter(name) => (
                "MissingParameter",
                "MissingRequiredParameterException",
                bad,
                format!("The request must contain the parameter {name}."),
            ),
            ReceiptHandleIsInvalid(handle) => (
                "ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                bad,
                format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
            ),
            MessageNotInflight => (
                "AWS.SimpleQueueService.MessageNotInflight",
                "MessageNotInflight",
                bad,
                "Message does not exist or is not available for visibility timeout change.".into(),
            ),
            EmptyBatchRequest(kind) => (
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "EmptyBatchRequest",
                bad,
                format!("There should be at least one {kind}RequestEntry in the request."),
            ),
            TooManyEntriesInBatchRequest(n) => (
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "TooManyEntriesInBatchRequest",
                bad,
                format!("Maximum number of entries per request are 10. You have sent {n}."),
            ),
            BatchEntryIdsNotDistinct(id) => (
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                "BatchEntryIdsNotDistinct",
                bad,
                format!("Id {id} repeated."),
            ),
            InvalidBatchEntryId => (
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "InvalidBatchEntryId",
                bad,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".into(),
            ),
            BatchRequestTooLong(limit, sent) => (
                "AWS.SimpleQueueService.BatchRequestTooLong",
                "BatchRequestTooLong",
                bad,
                format!(
                    "Batch requests cannot be longer than {limit} bytes. You have sent {sent} bytes."
                ),
            ),
            InvalidMessageContents => (
                "InvalidMessageContents",
                "InvalidMessageContents",
                bad,
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
            ),
            OverLimit(m) => ("OverLimit", "OverLimit", StatusCode::FORBIDDEN, m.clone()),
            Malformed(m) => ("MalformedQueryString", "SerializationException", bad, m.clone()),
            NoRandomness(m) => (
                "InternalError",
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("no randomness for an id: {m}"),
            ),
            Store(e) => (
                "InternalError",
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ),
        }
    }

    /// The code a batch result entry names (the query code, as SQS reports them in both
    /// protocols).
    pub fn code(&self) -> &'static str {
        self.parts().0
    }

    /// Whether the client is at fault (a batch entry's `SenderFault`).
    pub fn sender_fault(&self) -> bool {
        !self.parts().2.is_server_error()
    }

    /// The error in `protocol`'s shape.
    pub fn into_body(self, protocol: Protocol) -> ErrorBody {
        let (query, json, status, message) = self.parts();
        if protocol == Protocol::Query {
            return ErrorBody::new(status, query, message);
        }
        let fault = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        ErrorBody::new(status, json, message)
            .with_header("x-amzn-query-error", format!("{query};{fault}"))
    }
}
