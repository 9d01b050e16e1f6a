//! CloudTrail (awsJson1_1, `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>`,
//! `../shared/specs/cloudtrail.md` §4): trails, logging state, event selectors, public keys,
//! and LookupEvents over a record of every API call the emulator serves (§1.3 record shape).
//! Log files and signed digests reach S3 through [`crate::delivery`].

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

use crate::error::AwsError;
use crate::{ACCOUNT_ID, Emulator};

pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// The operation a CloudTrail `X-Amz-Target` names: botocore sends the long form
/// (`com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>`), the AWS SDK for Rust the short
/// one (`CloudTrail_20131101.<Op>`).
pub fn target_operation(target: &str) -> Option<&str> {
    target
        .strip_prefix(TARGET_PREFIX)
        .or_else(|| target.strip_prefix("CloudTrail_20131101."))
}

/// A trail.
#[derive(Debug, Clone)]
pub struct Trail {
    pub name: String,
    pub region: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub validation: bool,
    pub global_events: bool,
    pub multi_region: bool,
    pub logging: bool,
    pub start_logging: Option<UtcMillis>,
    pub stop_logging: Option<UtcMillis>,
    pub event_selectors: Value,
    pub delivery: crate::delivery::Delivery,
}

impl Trail {
    fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{ACCOUNT_ID}:trail/{}",
            self.region, self.name
        )
    }

    fn describe(&self) -> Value {
        json!({
            "Name": self.name,
            "S3BucketName": self.bucket,
            "S3KeyPrefix": self.prefix,
            "IncludeGlobalServiceEvents": self.global_events,
            "IsMultiRegionTrail": self.multi_region,
            "HomeRegion": self.region,
            "TrailARN": self.arn(),
            "LogFileValidationEnabled": self.validation,
            "HasCustomEventSelectors": false,
            "HasInsightSelectors": false,
            "IsOrganizationTrail": false,
        })
    }
}

/// One served call as CloudTrail recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: UtcMillis,
    pub region: String,
    pub value: Value,
}

/// CloudTrail's state in one emulator.
#[derive(Debug, Default)]
pub struct State {
    pub trails: BTreeMap<String, Trail>,
    /// Deleted trails whose final files are still to be delivered.
    pub retired: Vec<Trail>,
    /// Every API call served, oldest first, as CloudTrail records.
    pub records: Vec<Recorded>,
    /// Digest-signing keys, oldest first (see [`crate::delivery::signing_key`]).
    pub keys: Vec<crate::delivery::SigningKey>,
    /// Trails, keys or delivery changed since the last save ([`crate::persist`]).
    pub dirty: bool,
    /// How many of `records` are saved.
    pub persisted_records: usize,
}

/// A timestamp argument (awsJson sends epoch seconds, possibly fractional).
fn epoch_arg(body: &Value, key: &str) -> Option<UtcMillis> {
    body.get(key)
        .and_then(Value::as_f64)
        .map(|s| UtcMillis((s * 1000.0) as i64))
}

fn seconds(t: UtcMillis) -> f64 {
    t.0 as f64 / 1000.0
}

fn not_found(name: &str) -> AwsError {
    AwsError::new(
        StatusCode::BAD_REQUEST,
        "TrailNotFoundException",
        format!("Unknown trail: {name} for the user: {ACCOUNT_ID}"),
    )
}

fn valid_trail_name(n: &str) -> bool {
    let b = n.as_bytes();
    (3..=128).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !b
            .windows(2)
            .any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
        && !n.split('.').all(|p| p.parse::<u8>().is_ok())
}

/// Finds a trail by name or ARN.
fn trail_key(state: &State, name_or_arn: &str) -> Option<String> {
    if state.trails.contains_key(name_or_arn) {
        return Some(name_or_arn.to_owned());
    }
    state
        .trails
        .values()
        .find(|t| t.arn() == name_or_arn)
        .map(|t| t.name.clone())
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn name_arg(body: &Value, member: &str) -> Result<String, AwsError> {
    body.get(member)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            AwsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterException",
                format!("{member} is required"),
            )
        })
}

/// Handles one CloudTrail operation.
pub fn handle(emulator: &Emulator, operation: &str, body: &[u8], region: &str) -> Response {
    let result = (|| -> Result<Value, AwsError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                AwsError::serialization(format!("the request body is not valid JSON: {e}"))
            })?
        };
        let now = emulator.config.clock.now();
        let mut state = emulator.cloudtrail();
        // Reads change nothing, except that ListPublicKeys may make the first key.
        let reads = ["Get", "List", "Describe", "Lookup"];
        if operation == "ListPublicKeys" || !reads.iter().any(|r| operation.starts_with(r)) {
            state.dirty = true;
        }
        match operation {
            "CreateTrail" => {
                let name = name_arg(&body, "Name")?;
                if !valid_trail_name(&name) {
                    return Err(AwsError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidTrailNameException",
                        format!(
                            "Trail name {name} is not valid: 3 to 128 letters, digits, periods, underscores and hyphens, starting and ending with a letter or digit"
                        ),
                    ));
                }
                if state.trails.contains_key(&name) {
                    return Err(AwsError::new(
                        StatusCode::BAD_REQUEST,
                        "TrailAlreadyExistsException",
                        format!("Trail {name} already exists for customer: {ACCOUNT_ID}"),
                    ));
                }
                let bucket = name_arg(&body, "S3BucketName")?;
                if !emulator.buckets().contains_key(&bucket) {
                    return Err(AwsError::new(
                        StatusCode::BAD_REQUEST,
                        "S3BucketDoesNotExistException",
                        format!("S3 bucket {bucket} does not exist."),
                    ));
                }
                let trail = Trail {
                    name: name.clone(),
                    region: region.to_owned(),
                    bucket,
                    prefix: body
                        .get("S3KeyPrefix")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    validation: body
                        .get("EnableLogFileValidation")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    global_events: body
                        .get("IncludeGlobalServiceEvents")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    multi_region: body
                        .get("IsMultiRegionTrail")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    logging: false,
                    start_logging: None,
                    stop_logging: None,
                    event_selectors: json!([{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [], "ExcludeManagementEventSources": []}]),
                    delivery: Default::default(),
                };
                let mut out = trail.describe();
                out.as_object_mut().map(|o| o.remove("HomeRegion"));
                state.trails.insert(name, trail);
                Ok(out)
            }
            "UpdateTrail" => {
                let name = name_arg(&body, "Name")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                let records = state.records.len();
                let t = state.trails.get_mut(&key).ok_or_else(|| not_found(&name))?;
                if let Some(b) = body.get("S3BucketName").and_then(Value::as_str) {
                    t.bucket = b.to_owned();
                }
                if let Some(p) = body.get("S3KeyPrefix") {
                    t.prefix = p.as_str().map(str::to_owned);
                }
                if let Some(v) = body.get("EnableLogFileValidation").and_then(Value::as_bool) {
                    t.validation = v;
                    if !v {
                        t.delivery.chains.clear();
                    } else if t.logging {
                        crate::delivery::start(t, records, now);
                    }
                }
                if let Some(v) = body.get("IsMultiRegionTrail").and_then(Value::as_bool) {
                    t.multi_region = v;
                }
                if let Some(v) = body
                    .get("IncludeGlobalServiceEvents")
                    .and_then(Value::as_bool)
                {
                    t.global_events = v;
                }
                Ok(t.describe())
            }
            "DeleteTrail" => {
                let name = name_arg(&body, "Name")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                if let Some(mut t) = state.trails.remove(&key) {
                    // The final files (up to and including this call) go out on the next tick.
                    t.delivery.flush = t.logging;
                    t.logging = false;
                    state.retired.push(t);
                }
                Ok(json!({}))
            }
            "GetTrail" => {
                let name = name_arg(&body, "Name")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                Ok(json!({"Trail": state.trails[&key].describe()}))
            }
            "DescribeTrails" => {
                let wanted: Option<Vec<String>> = body
                    .get("trailNameList")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    });
                let list: Vec<Value> = state
                    .trails
                    .values()
                    .filter(|t| {
                        wanted
                            .as_ref()
                            .is_none_or(|w| w.iter().any(|n| *n == t.name || *n == t.arn()))
                    })
                    .map(Trail::describe)
                    .collect();
                Ok(json!({"trailList": list}))
            }
            "ListTrails" => Ok(
                json!({"Trails": state.trails.values().map(|t| json!({"TrailARN": t.arn(), "Name": t.name, "HomeRegion": t.region})).collect::<Vec<_>>()}),
            ),
            "GetTrailStatus" => {
                let name = name_arg(&body, "Name")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                let t = &state.trails[&key];
                let mut v = json!({"IsLogging": t.logging});
                if let Some(d) = t.delivery.latest_delivery {
                    v["LatestDeliveryTime"] = json!(seconds(d));
                    v["LatestDeliveryAttemptSucceeded"] = json!(crate::s3_time(d));
                }
                if let Some(d) = t.delivery.latest_digest {
                    v["LatestDigestDeliveryTime"] = json!(seconds(d));
                }
                if let Some(e) = &t.delivery.latest_error {
                    v["LatestDeliveryError"] = json!(e);
                    v["LatestDigestDeliveryError"] = json!(e);
                }
                if let Some(s) = t.start_logging {
                    v["StartLoggingTime"] = json!(seconds(s));
                    v["TimeLoggingStarted"] = json!(crate::s3_time(s));
                }
                if let Some(s) = t.stop_logging {
                    v["StopLoggingTime"] = json!(seconds(s));
                    v["TimeLoggingStopped"] = json!(crate::s3_time(s));
                }
                Ok(v)
            }
            "StartLogging" | "StopLogging" => {
                let name = name_arg(&body, "Name")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                let records = state.records.len();
                let t = state.trails.get_mut(&key).ok_or_else(|| not_found(&name))?;
                if operation == "StartLogging" {
                    if !t.logging {
                        t.start_logging = Some(now);
                        crate::delivery::start(t, records, now);
                    }
                    t.logging = true;
                } else if t.logging {
                    // The final files (up to and including this call) go out on the next tick.
                    t.logging = false;
                    t.stop_logging = Some(now);
                    t.delivery.flush = true;
                }
                Ok(json!({}))
            }
            "PutEventSelectors" => {
                let name = name_arg(&body, "TrailName")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                let basic = body.get("EventSelectors");
                let advanced = body.get("AdvancedEventSelectors");
                let selectors = match (basic, advanced) {
                    (Some(b), None) if b.as_array().is_some_and(|a| a.len() <= 5) => {
                        json!({"EventSelectors": b})
                    }
                    (None, Some(a)) if a.is_array() => json!({"AdvancedEventSelectors": a}),
                    _ => {
                        return Err(AwsError::new(
                            StatusCode::BAD_REQUEST,
                            "InvalidEventSelectorsException",
                            "Give EventSelectors (at most 5) or AdvancedEventSelectors, not both",
                        ));
                    }
                };
                let t = state.trails.get_mut(&key).ok_or_else(|| not_found(&name))?;
                t.event_selectors = selectors
                    .get("EventSelectors")
                    .or_else(|| selectors.get("AdvancedEventSelectors"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut out = selectors;
                out["TrailARN"] = json!(t.arn());
                Ok(out)
            }
            "GetEventSelectors" => {
                let name = name_arg(&body, "TrailName")?;
                let key = trail_key(&state, &name).ok_or_else(|| not_found(&name))?;
                let t = &state.trails[&key];
                Ok(json!({"TrailARN": t.arn(), "EventSelectors": t.event_selectors}))
            }
            "ListPublicKeys" => {
                let (from, to) = (
                    epoch_arg(&body, "StartTime").unwrap_or(now),
                    epoch_arg(&body, "EndTime").unwrap_or(now),
                );
                if from > to {
                    return Err(AwsError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidTimeRangeException",
                        "Start time must be before end time",
                    ));
                }
                // There is always a current key (awscli gives up on an empty list).
                crate::delivery::signing_key(&mut state.keys, now).map_err(AwsError::internal)?;
                let list: Vec<Value> = state
                    .keys
                    .iter()
                    .filter(|k| k.valid_from <= to && k.valid_until() >= from)
                    .map(|k| {
                        json!({
                            "Value": base64::engine::general_purpose::STANDARD.encode(&k.der),
                            "ValidityStartTime": seconds(k.valid_from),
                            "ValidityEndTime": seconds(k.valid_until()),
                            "Fingerprint": k.fingerprint,
                        })
                    })
                    .collect();
                Ok(json!({"PublicKeyList": list}))
            }
            "LookupEvents" => lookup_events(&state, &body, now),
            other => Err(AwsError::unknown_operation(&format!("CloudTrail.{other}"))),
        }
    })();
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

fn lookup_events(state: &State, body: &Value, now: UtcMillis) -> Result<Value, AwsError> {
    let bad =
        |code: &'static str, m: &str| AwsError::new(StatusCode::BAD_REQUEST, code, m.to_owned());
    let max = match body.get("MaxResults") {
        None | Some(Value::Null) => 50,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| bad("InvalidMaxResultsException", "MaxResults must be 1 to 50"))?
            as usize,
    };
    let (start, end) = (epoch_arg(body, "StartTime"), epoch_arg(body, "EndTime"));
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(bad(
                "InvalidTimeRangeException",
                "Start time must be before end time",
            ));
        }
    }
    let window_start = UtcMillis(now.0 - 90 * 86_400_000);
    let attributes = body
        .get("LookupAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if attributes.len() > 1 {
        return Err(bad(
            "InvalidLookupAttributesException",
            "At most one lookup attribute is supported",
        ));
    }
    let filter = attributes.first().map(|a| {
        (
            a.get("AttributeKey")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            a.get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        )
    });
    let offset: usize = match body.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| bad("InvalidNextTokenException", "The NextToken is not valid"))?,
    };
    let matching: Vec<&Value> = state
        .records
        .iter()
        .rev()
        .map(|r| &r.value)
        .filter(|r| r["managementEvent"] == json!(true))
        .filter(|r| {
            let t = r["eventTime"]
                .as_str()
                .and_then(veritrail_core::record::EventTime::parse)
                .map(|t| UtcMillis(t.epoch_millis()));
            t.is_some_and(|t| {
                t >= window_start && start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e)
            })
        })
        .filter(|r| match &filter {
            None => true,
            Some((k, v)) => match k.as_str() {
                "EventId" => r["eventID"] == json!(v),
                "EventName" => r["eventName"] == json!(v),
                "EventSource" => r["eventSource"] == json!(v),
                "ReadOnly" => r["readOnly"].as_bool().map(|b| b.to_string()) == Some(v.clone()),
                "Username" => r["userIdentity"]["userName"] == json!(v),
                "AccessKeyId" => r["userIdentity"]["accessKeyId"] == json!(v),
                "ResourceName" => r["resources"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x["ARN"] == json!(v))),
                "ResourceType" => r["resources"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x["type"] == json!(v))),
                _ => false,
            },
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(max)
        .map(|r| {
            let time = r["eventTime"].as_str().and_then(veritrail_core::record::EventTime::parse).map_or(0.0, |t| t.epoch_millis() as f64 / 1000.0);
            json!({
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": r["readOnly"].as_bool().unwrap_or(false).to_string(),
                "AccessKeyId": r["userIdentity"]["accessKeyId"],
                "EventTime": time,
                "EventSource": r["eventSource"],
                "Username": r["userIdentity"]["userName"],
                "Resources": r["resources"].as_array().map(|rs| rs.iter().map(|x| json!({"ResourceType": x["type"], "ResourceName": x["ARN"]})).collect::<Vec<_>>()).unwrap_or_default(),
                "CloudTrailEvent": r.to_string(),
            })
        })
        .collect();
    let mut out = json!({"Events": page});
    if matching.len() > offset + max {
        out["NextToken"] = json!((offset + max).to_string());
    }
    Ok(out)
}

/// What the emulator knows of a served call, to record it.
#[derive(Debug)]
pub struct Call<'a> {
    pub service: &'a str,
    pub operation: String,
    pub region: &'a str,
    pub headers: &'a HeaderMap,
    pub request_parameters: Value,
    pub error: Option<(String, String)>,
    pub request_id: &'a str,
    pub resources: Vec<(String, String)>,
    pub data_event: bool,
}

/// Records one served call as a CloudTrail record (eventVersion 1.11).
pub fn record(emulator: &Emulator, call: Call<'_>) {
    let now = emulator.config.clock.now();
    let akid = crate::sigv4_credential(call.headers, 0).unwrap_or_else(|| "ANONYMOUS".into());
    let read_only = ["Get", "List", "Describe", "Lookup", "Head"]
        .iter()
        .any(|p| call.operation.starts_with(p));
    let mut record = json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDA{}", akid.chars().filter(char::is_ascii_alphanumeric).take(16).collect::<String>().to_uppercase()),
            "arn": format!("arn:aws:iam::{ACCOUNT_ID}:user/{akid}"),
            "accountId": ACCOUNT_ID,
            "accessKeyId": akid,
            "userName": akid,
        },
        "eventTime": crate::s3_time(UtcMillis(now.0 - now.0.rem_euclid(1000))),
        "eventSource": format!("{}.amazonaws.com", call.service),
        "eventName": call.operation,
        "awsRegion": call.region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": call.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("unknown"),
        "requestParameters": call.request_parameters,
        "responseElements": Value::Null,
        "requestID": call.request_id,
        "eventID": emulator.new_id(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": !call.data_event,
        "recipientAccountId": ACCOUNT_ID,
        "eventCategory": if call.data_event { "Data" } else { "Management" },
    });
    if let Some((code, message)) = call.error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!(message);
    }
    if !call.resources.is_empty() {
        record["resources"] = json!(
            call.resources
                .iter()
                .map(|(t, arn)| json!({"type": t, "ARN": arn, "accountId": ACCOUNT_ID}))
                .collect::<Vec<_>>()
        );
    }
    emulator.cloudtrail().records.push(Recorded {
        at: now,
        region: call.region.to_owned(),
        value: record,
    });
}
