//! Every call the emulator serves becomes one CloudTrail record (eventVersion 1.11,
//! `../shared/specs/cloudtrail.md` §1.3), made from the parsed request and its outcome: who
//! (the authenticated principal, or an IAM user named after the SigV4 access key), what (service and operation), when (the emulator's clock), where
//! from (the client's address and user agent), and the outcome (`errorCode`, `errorMessage`).
//! S3 object calls and QLDB session commands are data events; everything else is a management
//! event.
//!
//! A record is written straight to its JSON text (one serialization of a borrowed struct, no
//! intermediate map): it is made on every request.

use serde::Serialize;
use serde_json::{Map, Value, json};
use veritrail_core::time::UtcMillis;

use crate::ACCOUNT_ID;
use crate::auth::PrincipalKind;
use crate::ops::Operation;
use crate::services::cloudtrail::records::NewRecord;
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

/// Who made a call, as CloudTrail's `userIdentity` and STS GetCallerIdentity name them: the
/// authenticated principal when the emulator authenticates, else an IAM user named after the
/// access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub access_key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

impl Caller {
    /// The caller of `req`.
    pub fn of(req: &AwsRequest) -> Self {
        let akid = req.access_key.as_deref().unwrap_or("ANONYMOUS");
        match &req.identity {
            Some(identity) => {
                let p = &identity.principal;
                let principal_id = match (p.kind, &p.user_name) {
                    (PrincipalKind::AssumedRole, Some(session)) => {
                        format!(
                            "AROA{}:{session}",
                            principal_id(akid).trim_start_matches("AIDA")
                        )
                    }
                    (PrincipalKind::Root, _) => p.account_id.clone(),
                    _ => principal_id(akid),
                };
                Self {
                    kind: p.kind.name(),
                    principal_id,
                    arn: p.arn.clone(),
                    account_id: p.account_id.clone(),
                    access_key_id: identity.access_key.clone(),
                    user_name: p.user_name.clone(),
                }
            }
            None => Self {
                kind: "IAMUser",
                principal_id: principal_id(akid),
                arn: caller_arn(akid),
                account_id: ACCOUNT_ID.to_owned(),
                access_key_id: akid.to_owned(),
                user_name: Some(akid.to_owned()),
            },
        }
    }
}

#[derive(Serialize)]
struct ResourceEntry {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "accountId")]
    account_id: &'static str,
}

/// A record's fields, in CloudTrail's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: &'a Caller,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: String,
    user_agent: &'a str,
    request_parameters: Value,
    response_elements: Option<()>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'static str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<ResourceEntry>,
}

/// `requestParameters` and `resources` of a call.
fn parameters(req: &AwsRequest) -> (Value, Vec<ResourceEntry>) {
    let resource = |kind, arn| ResourceEntry {
        kind,
        arn,
        account_id: ACCOUNT_ID,
    };
    match (&req.operation, &req.resource) {
        (Operation::CloudTrail(_), _) => {
            let body = req.json();
            let resources = body
                .get("Name")
                .and_then(Value::as_str)
                .map(|n| vec![resource("AWS::CloudTrail::Trail", n.to_owned())])
                .unwrap_or_default();
            (lower_first(body), resources)
        }
        (Operation::Events(op), _) => (
            crate::services::events::audit_parameters(*op, req.json()),
            vec![],
        ),
        (Operation::Kms(_) | Operation::SecretsManager(_), _) => {
            // Plaintexts and ciphertexts are never recorded, as on AWS.
            let mut body = req.json().clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("Plaintext");
                o.remove("CiphertextBlob");
            }
            (lower_first(&body), vec![])
        }
        (Operation::Kinesis(_), _) => {
            // Record data is never recorded, as on AWS.
            let mut body = req.json().clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("Data");
                o.remove("Records");
            }
            (lower_first(&body), vec![])
        }
        (Operation::Iam(_) | Operation::Sts(_), _) => {
            let form = crate::wire::query::form_input(&req.query, &req.body).unwrap_or(Value::Null);
            let mut form = lower_first(&form);
            if let Some(o) = form.as_object_mut() {
                o.remove("action");
                o.remove("version");
            }
            (form, vec![])
        }
        (Operation::S3(_), Resource::Bucket(bucket)) => (
            json!({"bucketName": bucket}),
            vec![resource(
                "AWS::S3::Bucket",
                format!("arn:aws:s3:::{bucket}"),
            )],
        ),
        (Operation::S3(_), Resource::Object { bucket, key }) => (
            json!({"bucketName": bucket, "key": key}),
            vec![resource(
                "AWS::S3::Bucket",
                format!("arn:aws:s3:::{bucket}"),
            )],
        ),
        (Operation::Qldb(_), Resource::Ledger { name, .. }) => (json!({"name": name}), vec![]),
        (Operation::Qldb(_), Resource::Arn(arn)) => (json!({"resourceArn": arn}), vec![]),
        _ => (Value::Null, vec![]),
    }
}

/// The IAM user id the emulator gives the caller of access key `akid` (`userIdentity.principalId`,
/// STS GetCallerIdentity's `UserId`): `AIDA` and up to 16 of the key's letters and digits.
pub fn principal_id(akid: &str) -> String {
    let principal: String = akid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_uppercase();
    format!("AIDA{principal}")
}

/// The ARN of the caller of access key `akid`: an IAM user named after the key.
pub fn caller_arn(akid: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user/{akid}")
}

/// The record of `req`, answered with `error` (or success), at `now`, with event id `event_id`.
pub fn record(
    req: &AwsRequest,
    error: Option<&ErrorInfo>,
    now: UtcMillis,
    event_id: String,
) -> NewRecord {
    let caller = Caller::of(req);
    let data_event = req.operation.data_event();
    let read_only = req.operation.read_only();
    let (request_parameters, resources) = parameters(req);
    let event_source = format!("{}.amazonaws.com", req.operation.service());
    // IAM is global: CloudTrail records its calls in us-east-1 whatever region signed them.
    let region = match req.operation {
        Operation::Iam(_) => "us-east-1",
        _ => req.region.as_str(),
    };
    let record = Record {
        event_version: "1.11",
        user_identity: &caller,
        event_time: iso8601_seconds(now),
        event_source: &event_source,
        event_name: req.operation.name(),
        aws_region: region,
        source_ip_address: req.source_ip.to_string(),
        user_agent: req.user_agent(),
        request_parameters,
        response_elements: None,
        request_id: &req.request_id,
        event_id: &event_id,
        read_only,
        event_type: "AwsApiCall",
        management_event: !data_event,
        recipient_account_id: ACCOUNT_ID,
        event_category: if data_event { "Data" } else { "Management" },
        error_code: error.map(|e| e.code.as_str()),
        error_message: error.map(|e| e.message.as_str()),
        resources,
    };
    // Serializing plain strings, numbers and a `Value` cannot fail.
    let json = serde_json::to_string(&record).unwrap_or_default();
    NewRecord {
        at: now,
        region: region.to_owned(),
        event_name: req.operation.name().to_owned(),
        event_source,
        read_only,
        management: !data_event,
        username: caller
            .user_name
            .clone()
            .unwrap_or_else(|| caller.access_key_id.clone()),
        event_id,
        json,
    }
}
