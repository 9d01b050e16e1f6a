//! Every call the emulator serves becomes one CloudTrail record (eventVersion 1.11,
//! `../shared/specs/cloudtrail.md` §1.3), made from the parsed request and its outcome: who
//! (the SigV4 access key), what (service and operation), when (the emulator's clock), where
//! from (the client's address and user agent), and the outcome (`errorCode`, `errorMessage`).
//! S3 object calls and QLDB session commands are data events; everything else is a management
//! event.

use serde_json::{Map, Value, json};
use veritrail_core::time::UtcMillis;

use crate::ACCOUNT_ID;
use crate::ops::Operation;
use crate::wire::time::iso8601_seconds;
use crate::wire::{AwsRequest, ErrorInfo, Resource};

/// A JSON object with each top-level key's first letter in lower case, as CloudTrail records
/// request parameters.
pub(crate) fn lower_first(v: &Value) -> Value {
    match v.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = c
                        .next()
                        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                        .unwrap_or_default();
                    (key, v.clone())
                })
                .collect::<Map<_, _>>(),
        ),
        None => Value::Null,
    }
}

/// `requestParameters` and `resources` of a call.
fn parameters(req: &AwsRequest) -> (Value, Vec<(&'static str, String)>) {
    match (&req.operation, &req.resource) {
        (Operation::CloudTrail(_), _) => {
            let body = req.json();
            let resources = body
                .get("Name")
                .and_then(Value::as_str)
                .map(|n| vec![("AWS::CloudTrail::Trail", n.to_owned())])
                .unwrap_or_default();
            (lower_first(body), resources)
        }
        (Operation::Events(op), _) => (
            crate::services::events::audit_parameters(*op, req.json()),
            vec![],
        ),
        (Operation::S3(_), Resource::Bucket(bucket)) => (
            json!({"bucketName": bucket}),
            vec![("AWS::S3::Bucket", format!("arn:aws:s3:::{bucket}"))],
        ),
        (Operation::S3(_), Resource::Object { bucket, key }) => (
            json!({"bucketName": bucket, "key": key}),
            vec![("AWS::S3::Bucket", format!("arn:aws:s3:::{bucket}"))],
        ),
        (Operation::Qldb(_), Resource::Ledger { name, .. }) => (json!({"name": name}), vec![]),
        (Operation::Qldb(_), Resource::Arn(arn)) => (json!({"resourceArn": arn}), vec![]),
        _ => (Value::Null, vec![]),
    }
}

/// The record of `req`, answered with `error` (or success), at `now`, with event id `event_id`.
pub fn record(
    req: &AwsRequest,
    error: Option<&ErrorInfo>,
    now: UtcMillis,
    event_id: String,
) -> Value {
    let akid = req.access_key.clone().unwrap_or_else(|| "ANONYMOUS".into());
    let data_event = req.operation.data_event();
    let (request_parameters, resources) = parameters(req);
    let principal: String = akid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_uppercase();
    let mut record = json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDA{principal}"),
            "arn": format!("arn:aws:iam::{ACCOUNT_ID}:user/{akid}"),
            "accountId": ACCOUNT_ID,
            "accessKeyId": akid,
            "userName": akid,
        },
        "eventTime": iso8601_seconds(now),
        "eventSource": format!("{}.amazonaws.com", req.operation.service()),
        "eventName": req.operation.name(),
        "awsRegion": req.region,
        "sourceIPAddress": req.source_ip.to_string(),
        "userAgent": req.user_agent(),
        "requestParameters": request_parameters,
        "responseElements": Value::Null,
        "requestID": req.request_id,
        "eventID": event_id,
        "readOnly": req.operation.read_only(),
        "eventType": "AwsApiCall",
        "managementEvent": !data_event,
        "recipientAccountId": ACCOUNT_ID,
        "eventCategory": if data_event { "Data" } else { "Management" },
    });
    if let Some(e) = error {
        record["errorCode"] = json!(e.code);
        record["errorMessage"] = json!(e.message);
    }
    if !resources.is_empty() {
        record["resources"] = json!(
            resources
                .iter()
                .map(|(t, arn)| json!({"type": t, "ARN": arn, "accountId": ACCOUNT_ID}))
                .collect::<Vec<_>>()
        );
    }
    record
}
