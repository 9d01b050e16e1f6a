//! One event from a source as the record the ledger stores.
//!
//! A source hands over either a CloudTrail record (an element of a log file's `Records`) or an
//! EventBridge "AWS API Call via CloudTrail" event, whose `detail` is the record. Either way the
//! stored document is the CloudTrail record, every field kept as it came. From an EventBridge
//! envelope only what the record lacks and the envelope states is added at top level
//! (`recipientAccountId` from `account`, `awsRegion` from `region`, `eventTime` from `time`);
//! nothing is invented: the envelope's `id` is EventBridge's, not CloudTrail's `eventID`, so a
//! record without an `eventID` is rejected rather than given one, and `eventID` stays the one
//! key that makes the same event from a log file and from EventBridge the same record.
//!
//! The record is validated by [`AuditRecord::from_json`] (the fields an auditor asks for:
//! `eventID`, `eventTime`, `eventSource`, `eventName`, `userIdentity`, `sourceIPAddress`,
//! `errorCode`, `recipientAccountId`, `awsRegion`, each of the right type where present).

use serde_json::{Map, Value as Json};
use veritrail_core::AuditRecord;
use veritrail_rules::envelope;

/// Why one event could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where the event came from: file and record index or line.
    pub at: String,
    /// What was wrong with it.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// A validated record: the fields the pipeline needs, and the record itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub event_id: String,
    pub event_time: String,
    pub event_name: Option<String>,
    /// The CloudTrail record, every field as it came.
    pub fields: Map<String, Json>,
}

/// Fields of an EventBridge envelope that state a record field the record may lack.
const FROM_ENVELOPE: [(&str, &str); 3] = [
    ("account", "recipientAccountId"),
    ("region", "awsRegion"),
    ("time", "eventTime"),
];

/// A CloudTrail record or an EventBridge event as the record to store; the error says why not.
pub fn record_from_event(value: Json) -> Result<Record, String> {
    let record = if envelope::is_eventbridge_event(&value) {
        let Json::Object(mut event) = value else {
            return Err("an EventBridge event must be a JSON object".into());
        };
        let Some(Json::Object(mut detail)) = event.remove("detail") else {
            return Err(
                "the EventBridge event's `detail` is not a CloudTrail record (an object)".into(),
            );
        };
        for (from, to) in FROM_ENVELOPE {
            if !detail.contains_key(to) {
                if let Some(v @ Json::String(_)) = event.remove(from) {
                    detail.insert(to.to_owned(), v);
                }
            }
        }
        Json::Object(detail)
    } else {
        value
    };
    let parsed = AuditRecord::from_json(record).map_err(|e| e.to_string())?;
    let event_id = parsed.event_id.clone();
    let event_time = parsed.when.as_str().to_owned();
    let event_name = parsed.what.event_name.clone();
    Ok(Record {
        event_id,
        event_time,
        event_name,
        fields: parsed.into_original(),
    })
}
