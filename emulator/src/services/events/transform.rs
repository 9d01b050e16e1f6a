//! What a target receives: the event, the constant `Input`, the part of the event `InputPath`
//! selects, or an `InputTransformer`'s template filled with values the `InputPathsMap` selects
//! (EventBridge user guide, "Transforming target input"; the behaviour of the real service as
//! LocalStack's recorded tests show it).
//!
//! - Paths are EventBridge's JSONPath subset: `$`, `.name` (dashes, underscores, slashes
//!   allowed), `[n]`, `[*]` and `.*` (a wildcard selects a list).
//! - A template that is a JSON object (starts with `{`): a placeholder outside quotes becomes
//!   the value as JSON (a string quoted), one inside quotes becomes the text of a string,
//!   number, boolean or null; an object or list inside quotes cannot be rendered and the
//!   delivery fails. A variable whose path selects nothing is `""` outside quotes and empty
//!   inside. The result must be JSON.
//! - Any other template is text: placeholders become their text (objects and lists as
//!   `{key:value,…}` and `[a,b]`, as EventBridge prints them), absent values nothing.
//! - Predefined variables: `aws.events.rule-arn`, `aws.events.rule-name`,
//!   `aws.events.event.ingestion-time`, `aws.events.event` (the event without `detail`, with
//!   `detailType`), `aws.events.event.json` (the whole event).
//!
//! Values put into a string of a JSON template are escaped, so the result stays JSON (the real
//! service inserts them unescaped and fails the delivery when that breaks the JSON).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The predefined variables' names.
pub const PREDEFINED: [&str; 5] = [
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    All,
}

/// A parsed JSONPath (`None` when it is not EventBridge's subset).
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return None;
            }
            steps.push(if key == "*" {
                Step::All
            } else {
                Step::Key(key.to_owned())
            });
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let (inside, after) = r.split_once(']')?;
            steps.push(if inside == "*" {
                Step::All
            } else {
                Step::Index(inside.parse().ok()?)
            });
            rest = after;
        } else {
            return None;
        }
    }
    Some(steps)
}

/// What a path selects in `event`: `None` when nothing; a wildcard selects a list of what
/// matched.
pub fn select(event: &Value, path: &str) -> Option<Value> {
    let steps = parse_path(path)?;
    let mut current: Vec<&Value> = vec![event];
    let mut many = false;
    for step in &steps {
        let mut next = Vec::new();
        for v in current {
            match (step, v) {
                (Step::Key(k), Value::Object(o)) => next.extend(o.get(k)),
                (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                (Step::All, Value::Array(a)) => next.extend(a.iter()),
                (Step::All, Value::Object(o)) => next.extend(o.values()),
                _ => {}
            }
        }
        many |= *step == Step::All;
        current = next;
    }
    if many {
        Some(Value::Array(current.into_iter().cloned().collect()))
    } else {
        current.first().map(|v| (*v).clone())
    }
}

/// The names of the placeholders (`<name>`) in a template.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(after.len());
        if end > 0 && after[end..].starts_with('>') {
            out.push(&after[..end]);
            rest = &after[end + 1..];
        } else {
            rest = after;
        }
    }
    out
}

/// Why a transformation produced nothing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError(pub String);

/// Text of a value as EventBridge prints it inside a text template.
fn bare(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                bare(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                bare(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON string's content (without the quotes).
fn escaped(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Fills a template with `values` (a variable with no value selected nothing).
pub fn render(
    template: &str,
    values: &BTreeMap<String, Option<Value>>,
) -> Result<String, TransformError> {
    let json_mode = template.trim_start().starts_with('{');
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escape = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let after = &rest[1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .unwrap_or(after.len());
            let name = &after[..end];
            if end > 0 && after[end..].starts_with('>') {
                if let Some(value) = values.get(name) {
                    match (json_mode, in_string, value) {
                        (false, _, Some(v)) => bare(v, &mut out),
                        (false, _, None) | (true, true, None) => {}
                        (true, false, None) => out.push_str("\"\""),
                        (true, false, Some(v)) => out.push_str(&v.to_string()),
                        (true, true, Some(Value::String(s))) => out.push_str(&escaped(s)),
                        (true, true, Some(v @ (Value::Object(_) | Value::Array(_)))) => {
                            return Err(TransformError(format!(
                                "the InputTemplate puts <{name}>, {}, inside a JSON string",
                                if v.is_object() { "an object" } else { "a list" }
                            )));
                        }
                        (true, true, Some(v)) => out.push_str(&v.to_string()),
                    }
                    rest = &after[end + 1..];
                    escape = false;
                    continue;
                }
            }
        }
        if json_mode {
            if escape {
                escape = false;
            } else if c == '\\' && in_string {
                escape = true;
            } else if c == '"' {
                in_string = !in_string;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if json_mode && serde_json::from_str::<Value>(&out).is_err() {
        return Err(TransformError(
            "the InputTemplate did not produce valid JSON".into(),
        ));
    }
    Ok(out)
}

/// What the predefined variables stand for in one delivery.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    /// ISO 8601, seconds.
    pub ingestion_time: &'a str,
}

/// `aws.events.event`: the event without its detail, `detail-type` as `detailType` and the
/// time it was ingested.
fn event_variable(event: &Value, ctx: &Context<'_>) -> Value {
    let mut out = Map::new();
    let get = |k: &str| event.get(k).cloned().unwrap_or(Value::Null);
    out.insert("id".into(), get("id"));
    out.insert("account".into(), get("account"));
    out.insert("detailType".into(), get("detail-type"));
    out.insert("time".into(), Value::String(ctx.ingestion_time.to_owned()));
    out.insert("source".into(), get("source"));
    out.insert("region".into(), get("region"));
    out.insert("resources".into(), get("resources"));
    out.insert("version".into(), get("version"));
    Value::Object(out)
}

/// The body a target receives for `event`, given the target's settings (its JSON as PutTargets
/// stored it).
pub fn payload(target: &Value, event: &Value, ctx: &Context<'_>) -> Result<String, TransformError> {
    if let Some(input) = target.get("Input").and_then(Value::as_str) {
        return Ok(input.to_owned());
    }
    if let Some(path) = target.get("InputPath").and_then(Value::as_str) {
        return Ok(select(event, path).unwrap_or(Value::Null).to_string());
    }
    let Some(transformer) = target.get("InputTransformer") else {
        return Ok(event.to_string());
    };
    let template = transformer
        .get("InputTemplate")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut values = BTreeMap::new();
    values.insert(
        "aws.events.rule-arn".to_owned(),
        Some(Value::String(ctx.rule_arn.to_owned())),
    );
    values.insert(
        "aws.events.rule-name".to_owned(),
        Some(Value::String(ctx.rule_name.to_owned())),
    );
    values.insert(
        "aws.events.event.ingestion-time".to_owned(),
        Some(Value::String(ctx.ingestion_time.to_owned())),
    );
    values.insert(
        "aws.events.event".to_owned(),
        Some(event_variable(event, ctx)),
    );
    values.insert("aws.events.event.json".to_owned(), Some(event.clone()));
    if let Some(paths) = transformer.get("InputPathsMap").and_then(Value::as_object) {
        for (name, path) in paths {
            let value = path.as_str().and_then(|p| select(event, p));
            values.insert(name.clone(), value);
        }
    }
    render(template, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": "core.update-account-command",
            "source": "core.update-account-command", "account": "000000000000",
            "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {
                "command": "update-account",
                "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
                "listsingle": ["HIGH"], "listmulti": ["ACTIVE", "INACTIVE"], "valid": true
            }
        })
    }

    const CTX: Context<'static> = Context {
        rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r",
        rule_name: "r",
        ingestion_time: "2026-01-01T00:00:01Z",
    };

    fn transformed(template: &str) -> Result<String, TransformError> {
        let target = json!({"InputTransformer": {
            "InputPathsMap": {
                "userId": "$.detail.payload.acc_id", "payload": "$.detail.payload",
                "systemstring": "$.detail.awsAccountId", "listsingle": "$.detail.listsingle",
                "listmulti": "$.detail.listmulti", "valid": "$.detail.valid",
                "detail-type": "$.detail-type", "command": "$.detail.notinmessage"
            },
            "InputTemplate": template
        }});
        payload(&target, &event(), &CTX)
    }

    /// The outputs the real service gave for these templates (LocalStack's recorded tests,
    /// `tests/aws/services/events/test_events_inputs.snapshot.json`).
    #[test]
    fn templates_fill_as_the_service_fills_them() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"method": "PUT", "path": "users-service/users/<userId>", "bod": <payload>}"#,
                r#"{"method": "PUT", "path": "users-service/users/0a787ecb-4015", "bod": {"acc_id":"0a787ecb-4015","sf_id":"baz"}}"#,
            ),
            (
                r#""Payload of <payload> with path users-service/users/<userId> and <userId>""#,
                r#""Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/0a787ecb-4015 and 0a787ecb-4015""#,
            ),
            (r#"{"id" : <userId>}"#, r#"{"id" : "0a787ecb-4015"}"#),
            (r#"{"id" : "<userId>"}"#, r#"{"id" : "0a787ecb-4015"}"#),
            (
                r#"{"bod": [<userId>, "hardcoded"]}"#,
                r#"{"bod": ["0a787ecb-4015", "hardcoded"]}"#,
            ),
            (
                r#"{"singlelistitem": <listsingle>}"#,
                r#"{"singlelistitem": ["HIGH"]}"#,
            ),
            (
                r#""<listsingle> single list item <listmulti> multiple list items <systemstring> system account id""#,
                r#""[HIGH] single list item [ACTIVE,INACTIVE] multiple list items  system account id""#,
            ),
            (
                r#"{"multi_replacement": "users/<userId>/second/<userId>"}"#,
                r#"{"multi_replacement": "users/0a787ecb-4015/second/0a787ecb-4015"}"#,
            ),
            (r#""Command is <valid>!""#, r#""Command is true!""#),
            (
                r#"{"detailType": <detail-type>, "command": <command>}"#,
                r#"{"detailType": "core.update-account-command", "command": ""}"#,
            ),
            (
                r#""Event of <detail-type> type, info <command>""#,
                r#""Event of core.update-account-command type, info ""#,
            ),
            (
                r#""<aws.events.rule-name> triggered at <aws.events.event.ingestion-time>""#,
                r#""r triggered at 2026-01-01T00:00:01Z""#,
            ),
        ];
        for (template, want) in cases {
            assert_eq!(transformed(template).as_deref(), Ok(*want), "{template}");
        }
        // Objects and lists cannot go inside a JSON string: nothing is delivered.
        for bad in [
            r#"{"not_valid": "users-service/users/<payload>", "bod": <payload>}"#,
            r#"{"singlelistitem": "<listsingle>"}"#,
        ] {
            assert!(transformed(bad).is_err(), "{bad}");
        }
        let both = transformed(r#"{"e": <aws.events.event>, "j": <aws.events.event.json>}"#)
            .map(|s| serde_json::from_str::<Value>(&s).unwrap())
            .unwrap();
        assert_eq!(both["e"]["detailType"], "core.update-account-command");
        assert_eq!(both["e"]["time"], "2026-01-01T00:00:01Z");
        assert!(both["e"].get("detail").is_none());
        assert_eq!(both["j"], event());
        // Quotes inside a value stay JSON.
        let quoted = json!({"detail": {"q": "say \"hi\""}});
        let t = json!({"InputTransformer": {"InputPathsMap": {"q": "$.detail.q"}, "InputTemplate": "{\"m\": \"<q>!\"}"}});
        let out: Value = serde_json::from_str(&payload(&t, &quoted, &CTX).unwrap()).unwrap();
        assert_eq!(out["m"], "say \"hi\"!");
    }

    #[test]
    fn input_and_input_path_select_what_the_target_gets() {
        let e = event();
        assert_eq!(
            payload(&json!({"Input": "{\"x\":1}"}), &e, &CTX).unwrap(),
            "{\"x\":1}"
        );
        assert_eq!(
            payload(&json!({"InputPath": "$.detail.payload.sf_id"}), &e, &CTX).unwrap(),
            "\"baz\""
        );
        assert_eq!(
            payload(&json!({"InputPath": "$.detail.listmulti[1]"}), &e, &CTX).unwrap(),
            "\"INACTIVE\""
        );
        assert_eq!(
            payload(&json!({"InputPath": "$.detail.listmulti[*]"}), &e, &CTX).unwrap(),
            "[\"ACTIVE\",\"INACTIVE\"]"
        );
        assert_eq!(
            payload(&json!({"InputPath": "$.detail.nothing"}), &e, &CTX).unwrap(),
            "null"
        );
        assert_eq!(payload(&json!({}), &e, &CTX).unwrap(), e.to_string());
        assert_eq!(
            placeholders("<a> and <b.c-d> but not < x > or <>"),
            ["a", "b.c-d"]
        );
        assert_eq!(select(&e, "not a path"), None);
    }
}
