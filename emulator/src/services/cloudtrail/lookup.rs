//! LookupEvents: management events of the last 90 days, newest first, by one lookup attribute,
//! read from `aws.sqlite` a page at a time (the page token is the last record's sequence
//! number).

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::services::cloudtrail::Ctx;
use crate::services::cloudtrail::error::CloudTrailError;
use crate::services::cloudtrail::records::{self, Attribute};
use crate::services::cloudtrail::trails::lookup_window_start;
use crate::wire::json::{epoch_member, str_member};

fn attribute(body: &Value) -> Result<Option<Attribute>, CloudTrailError> {
    let list = match body.get("LookupAttributes") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(CloudTrailError::InvalidLookupAttributes(
                "LookupAttributes must be a list".into(),
            ));
        }
    };
    let [one] = list.as_slice() else {
        return if list.is_empty() {
            Ok(None)
        } else {
            Err(CloudTrailError::InvalidLookupAttributes(
                "At most one lookup attribute is supported".into(),
            ))
        };
    };
    let key = str_member(one, "AttributeKey").unwrap_or("");
    let value = str_member(one, "AttributeValue").unwrap_or("").to_owned();
    if value.is_empty() || value.len() > 2000 {
        return Err(CloudTrailError::InvalidLookupAttributes(
            "AttributeValue must be 1 to 2000 characters".into(),
        ));
    }
    Ok(Some(match key {
        "EventId" => Attribute::EventId(value),
        "EventName" => Attribute::EventName(value),
        "EventSource" => Attribute::EventSource(value),
        "ReadOnly" => Attribute::ReadOnly(value.eq_ignore_ascii_case("true")),
        "Username" => Attribute::Username(value),
        "AccessKeyId" => Attribute::AccessKeyId(value),
        "ResourceName" => Attribute::ResourceName(value),
        "ResourceType" => Attribute::ResourceType(value),
        other => {
            return Err(CloudTrailError::InvalidLookupAttributes(format!(
                "{other} is not a lookup attribute: EventId, EventName, EventSource, ReadOnly, Username, AccessKeyId, ResourceName or ResourceType"
            )));
        }
    }))
}

pub fn lookup_events(ctx: &Ctx<'_>, conn: &Connection) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let max = match body.get("MaxResults") {
        None | Some(Value::Null) => 50,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=50).contains(n))
            .ok_or(CloudTrailError::InvalidMaxResults)? as usize,
    };
    let bad_time = |m: String| CloudTrailError::InvalidParameter(m);
    let start = epoch_member(body, "StartTime").map_err(bad_time)?;
    let end = epoch_member(body, "EndTime").map_err(bad_time)?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(CloudTrailError::InvalidTimeRange);
        }
    }
    let from = start
        .unwrap_or(veritrail_core::time::UtcMillis(i64::MIN))
        .max(lookup_window_start(ctx.now));
    let to = end.unwrap_or(veritrail_core::time::UtcMillis(i64::MAX));
    let before = match str_member(body, "NextToken") {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| CloudTrailError::InvalidNextToken)?,
        ),
    };
    let attribute = attribute(body)?;
    let (page, more) = records::lookup(conn, attribute.as_ref(), from, to, before, max)?;
    let events: Vec<Value> = page
        .iter()
        .map(|r| {
            let v = &r.value;
            json!({
                "EventId": v["eventID"],
                "EventName": v["eventName"],
                "ReadOnly": v["readOnly"].as_bool().unwrap_or(false).to_string(),
                "AccessKeyId": v["userIdentity"]["accessKeyId"],
                "EventTime": crate::wire::json::epoch_seconds(veritrail_core::time::UtcMillis(
                    r.at.0 - r.at.0.rem_euclid(1000)
                )),
                "EventSource": v["eventSource"],
                "Username": v["userIdentity"]["userName"],
                "Resources": v["resources"].as_array().map(|rs| rs.iter().map(|x| json!({
                    "ResourceType": x["type"], "ResourceName": x["ARN"]
                })).collect::<Vec<_>>()).unwrap_or_default(),
                "CloudTrailEvent": v.to_string(),
            })
        })
        .collect();
    let mut out = json!({"Events": events});
    if more {
        if let Some(last) = page.last() {
            out["NextToken"] = json!(last.seq.to_string());
        }
    }
    Ok(out)
}
