//! PutEvents (custom events onto a bus, each entry answered on its own) and TestEventPattern.

use serde_json::{Value, json};
use veritrail_rules::Pattern;

use crate::ACCOUNT_ID;
use crate::services::events::delivery::Delivery;
use crate::services::events::error::EventsError;
use crate::services::events::input::{Constraint, Input, c};
use crate::services::events::model::uuid;
use crate::services::events::rules::resolve_bus;
use crate::services::events::{Ctx, State};
use crate::wire::json::epoch_member;
use crate::wire::time::iso8601_seconds;

/// The most a PutEvents request's entries may add up to (EventBridge's 256 KB).
pub const MAX_ENTRIES_SIZE: usize = 256 * 1024;
/// Entries in one request.
const MAX_ENTRIES: usize = 10;
/// The members an event given to TestEventPattern must have.
const EVENT_MEMBERS: [&str; 6] = ["id", "account", "source", "time", "region", "detail-type"];

const ANY: Constraint = Constraint::length(0, usize::MAX);

/// An entry's size as EventBridge counts it: 14 bytes for `Time`, and the UTF-8 bytes of
/// `Source`, `DetailType`, `Detail` and each resource.
fn entry_size(e: &Value) -> usize {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map_or(0, str::len);
    let time = if e.get("Time").is_some_and(|t| !t.is_null()) {
        14
    } else {
        0
    };
    let resources: usize = e
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::len)
        .sum();
    time + s("Source") + s("DetailType") + s("Detail") + resources
}

/// The request's entries as the service prints them in its "at most 10" message (Java's
/// `toString` of the entries).
fn java_list(entries: &[Value]) -> String {
    let field = |e: &Value, k: &str| match e.get(k) {
        None | Some(Value::Null) => "null".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => format!(
            "[{}]",
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(v) => v.to_string(),
    };
    let items: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "PutEventsRequestEntry(time={}, source={}, resources={}, detailType={}, detail={}, eventBusName={}, traceHeader={}, kmsKeyIdentifier=null, internalMetadata=null)",
                field(e, "Time"),
                field(e, "Source"),
                field(e, "Resources"),
                field(e, "DetailType"),
                field(e, "Detail"),
                field(e, "EventBusName"),
                field(e, "TraceHeader"),
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn entry_error(code: &str, message: &str) -> Value {
    json!({"ErrorCode": code, "ErrorMessage": message})
}

fn required(name: &str) -> Value {
    entry_error(
        "InvalidArgument",
        &format!("Parameter {name} is not valid. Reason: {name} is a required argument."),
    )
}

/// Puts each entry on its bus; returns the answer and the deliveries of every match (the
/// caller queues them in its store write).
pub fn put_events(ctx: &Ctx<'_>, state: &State) -> Result<(Value, Vec<Delivery>), EventsError> {
    let body = ctx.req.json();
    let mut input = Input::new(body);
    let entries = input.list("Entries")?.cloned().unwrap_or_default();
    if body.get("Entries").is_none_or(Value::is_null) {
        input.missing("entries");
    } else if entries.is_empty() {
        input.fail(
            Some("[]"),
            "entries",
            "Member must have length greater than or equal to 1",
        );
    } else if entries.len() > MAX_ENTRIES {
        input.fail(
            Some(&java_list(&entries)),
            "entries",
            "Member must have length less than or equal to 10",
        );
    }
    for (i, e) in entries.iter().enumerate() {
        if !e.is_object() {
            return Err(EventsError::Serialization(
                "Entries must be a list of structures".into(),
            ));
        }
        let at = format!("entries.{}.member", i + 1);
        for member in ["Source", "DetailType", "Detail"] {
            input.string_in(e, member, &format!("{at}.{member}"), &ANY, false)?;
        }
        input.string_in(
            e,
            "EventBusName",
            &format!("{at}.eventBusName"),
            &c::NON_PARTNER_BUS,
            false,
        )?;
        input.string_in(
            e,
            "TraceHeader",
            &format!("{at}.traceHeader"),
            &Constraint::length(1, 500),
            false,
        )?;
        for r in input.list_in(e, "Resources")?.into_iter().flatten() {
            if !r.is_string() {
                return Err(EventsError::Serialization(
                    "Resources must be a list of strings".into(),
                ));
            }
        }
        epoch_member(e, "Time").map_err(EventsError::Serialization)?;
    }
    input.finish()?;
    if entries.iter().map(entry_size).sum::<usize>() > MAX_ENTRIES_SIZE {
        return Err(EventsError::Validation(
            "Total size of the entries in the request is over the limit.".into(),
        ));
    }
    let mut answers = Vec::new();
    let mut deliveries = Vec::new();
    for e in &entries {
        let text = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(source), Some(detail_type), Some(detail)) =
            (text("Source"), text("DetailType"), text("Detail"))
        else {
            let missing = ["Source", "DetailType", "Detail"]
                .into_iter()
                .find(|k| text(k).is_none())
                .unwrap_or("Detail");
            answers.push(required(missing));
            continue;
        };
        if source.starts_with("aws.") {
            answers.push(entry_error(
                "NotAuthorizedForSourceException",
                "Not authorized for the source.",
            ));
            continue;
        }
        let detail = match serde_json::from_str::<Value>(detail) {
            Ok(d @ Value::Object(_)) => d,
            _ => {
                answers.push(entry_error("MalformedDetail", "Detail is malformed."));
                continue;
            }
        };
        let (region, bus) = resolve_bus(ctx, text("EventBusName"));
        let time = epoch_member(e, "Time").ok().flatten().unwrap_or(ctx.now);
        let id = uuid(&ctx.env.new_id());
        let event = json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT_ID,
            "time": iso8601_seconds(time),
            "region": region,
            "resources": e.get("Resources").cloned().unwrap_or_else(|| json!([])),
            "detail": detail,
        });
        // A detail nested as deep as JSON input may go cannot be read back inside its event.
        if serde_json::from_str::<Value>(&event.to_string()).is_err() {
            answers.push(entry_error("MalformedDetail", "Detail is malformed."));
            continue;
        }
        // An event for a bus that does not exist is accepted and goes nowhere, as on AWS.
        if let Some(compiled) = state.compiled(&region, &bus) {
            deliveries.extend(compiled.deliveries(&compiled.all, &event, &region, ctx.now));
        }
        answers.push(json!({ "EventId": id }));
    }
    let failed = answers
        .iter()
        .filter(|a| a.get("ErrorCode").is_some())
        .count();
    Ok((
        json!({"FailedEntryCount": failed, "Entries": answers}),
        deliveries,
    ))
}

pub fn test_event_pattern(ctx: &Ctx<'_>) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let pattern = input.string(
        "EventPattern",
        "eventPattern",
        &Constraint::length(0, 4096),
        true,
    )?;
    let event = input.string("Event", "event", &ANY, true)?;
    input.finish()?;
    let pattern = Pattern::compile(pattern.unwrap_or_default())?;
    let invalid = || EventsError::Validation("Parameter Event is not valid.".into());
    let event: Value = serde_json::from_str(event.unwrap_or_default()).map_err(|_| invalid())?;
    let fields = event.as_object().ok_or_else(invalid)?;
    if EVENT_MEMBERS.iter().any(|k| !fields.contains_key(*k)) {
        return Err(invalid());
    }
    let result = pattern.matches_value(&event).map_err(|_| invalid())?;
    Ok(json!({ "Result": result }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sized_as_eventbridge_sizes_them() {
        let e = json!({"Time": 1, "Source": "héllo", "DetailType": "t", "Detail": "{}",
            "Resources": ["ab", "c"]});
        assert_eq!(entry_size(&e), 14 + 6 + 1 + 2 + 3);
        assert!(java_list(&[e]).starts_with(
            "[PutEventsRequestEntry(time=1, source=héllo, resources=[ab, c], detailType=t, detail={}, eventBusName=null"
        ));
    }
}
