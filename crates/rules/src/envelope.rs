//! CloudTrail records as the EventBridge events that rules see (`../shared/specs/cloudtrail.md`
//! §1.4): `{"version":"0","id","detail-type","source","account","time","region","resources":[],
//! "detail":<the record>}`.

use serde_json::{Map, Value, json};
use veritrail_core::AuditRecord;

/// EventBridge's `detail-type` for a CloudTrail `eventType`.
///
/// Console sign-ins: the documentation spells it "AWS Console Signin via CloudTrail", but the
/// events (and the rules written against them) say "AWS Console Sign In via CloudTrail"; the latter
/// is emitted.
pub fn detail_type(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

/// EventBridge's `source` for a CloudTrail `eventSource`: `aws.` and the service's name
/// (`cloudtrail.amazonaws.com` is `aws.cloudtrail`).
pub fn source(event_source: &str) -> String {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    let service = service.split('.').next().unwrap_or(service);
    match service {
        "monitoring" => "aws.cloudwatch".to_owned(),
        s => format!("aws.{s}"),
    }
}

/// The EventBridge event for a CloudTrail record given as JSON. The envelope's `id` is the
/// record's `eventID` (EventBridge assigns its own id; rules seldom read it). Fields the record
/// lacks are left out of the envelope.
pub fn cloudtrail_event(record: &Map<String, Value>) -> Value {
    into_event(record.clone())
}

/// [`cloudtrail_event`] taking the record by value, so a pipeline that stores the record after
/// matching it wraps it without a copy; [`into_record`] takes it back out.
pub fn into_event(record: Map<String, Value>) -> Value {
    let text = |k: &str| record.get(k).and_then(Value::as_str);
    let mut event = Map::new();
    event.insert("version".into(), json!("0"));
    if let Some(id) = text("eventID") {
        event.insert("id".into(), json!(id));
    }
    event.insert("detail-type".into(), json!(detail_type(text("eventType"))));
    if let Some(s) = text("eventSource") {
        event.insert("source".into(), json!(source(s)));
    }
    let account = text("recipientAccountId").or_else(|| {
        record
            .get("userIdentity")
            .and_then(|u| u.get("accountId"))
            .and_then(Value::as_str)
    });
    if let Some(a) = account {
        event.insert("account".into(), json!(a));
    }
    if let Some(t) = text("eventTime") {
        event.insert("time".into(), json!(t));
    }
    if let Some(r) = text("awsRegion") {
        event.insert("region".into(), json!(r));
    }
    event.insert("resources".into(), json!([]));
    event.insert("detail".into(), Value::Object(record));
    Value::Object(event)
}

/// The record inside an event made by [`into_event`] (its `detail`), without a copy.
pub fn into_record(event: Value) -> Option<Map<String, Value>> {
    match event {
        Value::Object(mut o) => match o.remove("detail") {
            Some(Value::Object(record)) => Some(record),
            _ => None,
        },
        _ => None,
    }
}

/// The EventBridge event for a parsed CloudTrail record.
pub fn from_record(record: &AuditRecord) -> Value {
    cloudtrail_event(record.original())
}

/// Whether a JSON object is already an EventBridge event (it has `detail-type` and `detail`)
/// rather than a bare CloudTrail record.
pub fn is_eventbridge_event(value: &Value) -> bool {
    value.get("detail-type").is_some() && value.get("detail").is_some()
}

/// An event for matching: EventBridge events as they are, CloudTrail records wrapped.
pub fn as_event(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) if is_eventbridge_event(value) => Some(value.clone()),
        Value::Object(record) => Some(cloudtrail_event(record)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_a_record_like_eventbridge() {
        let record = serde_json::from_str::<Value>(
            r#"{"eventVersion":"1.08","eventID":"e-1","eventType":"AwsConsoleSignIn","eventSource":"signin.amazonaws.com",
                "eventName":"ConsoleLogin","eventTime":"2023-07-10T11:42:36Z","awsRegion":"us-east-1","recipientAccountId":"123"}"#,
        )
        .unwrap();
        let e = as_event(&record).unwrap();
        assert_eq!(e["detail-type"], "AWS Console Sign In via CloudTrail");
        assert_eq!(e["source"], "aws.signin");
        assert_eq!(e["account"], "123");
        assert_eq!(e["detail"]["eventName"], "ConsoleLogin");
        assert_eq!(as_event(&e).unwrap(), e);
        assert_eq!(source("monitoring.amazonaws.com"), "aws.cloudwatch");
        assert_eq!(
            detail_type(Some("AwsApiCall")),
            "AWS API Call via CloudTrail"
        );
    }
}
