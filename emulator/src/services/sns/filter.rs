//! Subscription filter policies: EventBridge's pattern language (veritrail-rules) over an event
//! made of the message's attributes (`FilterPolicyScope` `MessageAttributes`, the default) or its
//! JSON body (`MessageBody`), with SNS's own limits (5 keys, 150 combinations, 256 KiB).

use serde_json::{Map, Value};
use veritrail_rules::{Machine, MachineBuilder, Pattern, PatternLimits};

use crate::services::sns::error::SnsError;

/// Where a policy looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    MessageAttributes,
    MessageBody,
}

impl Scope {
    pub fn of(name: Option<&str>) -> Self {
        if name == Some("MessageBody") {
            Self::MessageBody
        } else {
            Self::MessageAttributes
        }
    }
}

/// A compiled filter policy.
#[derive(Debug, Clone)]
pub struct Filter {
    machine: Machine<()>,
    scope: Scope,
}

/// Most keys a policy names, and most combinations of values it expands to.
const MAX_KEYS: usize = 5;
const MAX_COMBINATIONS: u64 = 150;

/// The leaf keys of a policy and the number of combinations it expands to (values of each key
/// multiplied; `$or` adds its branches). Depth is bounded by the compile that came first.
fn measure(v: &Map<String, Value>, keys: &mut usize) -> u64 {
    let mut product: u64 = 1;
    for (k, v) in v {
        let n = match (k.as_str(), v) {
            ("$or", Value::Array(branches)) => branches
                .iter()
                .filter_map(Value::as_object)
                .map(|b| measure(b, keys))
                .sum(),
            (_, Value::Object(inner)) => measure(inner, keys),
            (_, Value::Array(values)) => {
                *keys += 1;
                values.len().max(1) as u64
            }
            _ => {
                *keys += 1;
                1
            }
        };
        product = product.saturating_mul(n.max(1));
    }
    product
}

/// Compiles `policy` for `scope`; `prefix` begins refusals as SNS words them for the call
/// (`Invalid parameter: FilterPolicy: ` …).
pub fn compile(policy: &str, scope: Scope, prefix: &str) -> Result<Filter, SnsError> {
    let bad = |why: &str| SnsError::InvalidParameter(format!("{prefix}FilterPolicy: {why}"));
    let limits = PatternLimits {
        max_chars: 256 * 1024,
        ..PatternLimits::default()
    };
    let pattern = Pattern::compile_with(policy, &limits).map_err(|e| bad(e.reason()))?;
    let v: Value = serde_json::from_str(policy).map_err(|_| bad("failed to parse JSON."))?;
    let top = v
        .as_object()
        .ok_or_else(|| bad("Filter policy must be a JSON object"))?;
    if scope == Scope::MessageAttributes && top.iter().any(|(k, v)| k != "$or" && v.is_object()) {
        return Err(bad(
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ));
    }
    let mut keys = 0;
    if measure(top, &mut keys) > MAX_COMBINATIONS {
        return Err(bad("Filter policy is too complex"));
    }
    if keys > MAX_KEYS {
        return Err(bad("Filter policy can not have more than 5 keys"));
    }
    let mut b = MachineBuilder::new();
    b.add((), &pattern);
    Ok(Filter {
        machine: b.build(),
        scope,
    })
}

/// The event a `MessageAttributes` policy matches: each attribute by name, a `Number` as a
/// number, a `String.Array` as its array; binary attributes are not matched.
fn attribute_event(attributes: &Map<String, Value>) -> Value {
    let mut event = Map::new();
    for (name, a) in attributes {
        let data_type = a.get("DataType").and_then(Value::as_str).unwrap_or("");
        let Some(text) = a.get("StringValue").and_then(Value::as_str) else {
            continue;
        };
        let value = if data_type == "String.Array" {
            match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Array(_)) => v,
                _ => continue,
            }
        } else if data_type.starts_with("Number") {
            match serde_json::from_str::<Value>(text.trim()) {
                Ok(n @ Value::Number(_)) => n,
                _ => Value::String(text.to_owned()),
            }
        } else {
            Value::String(text.to_owned())
        };
        event.insert(name.clone(), value);
    }
    Value::Object(event)
}

impl Filter {
    /// Whether a message passes: its attributes, or its body when the scope is the body (a body
    /// that is not a JSON object never passes).
    pub fn passes(&self, message: &str, attributes: &Map<String, Value>) -> bool {
        let event = match self.scope {
            Scope::MessageAttributes => attribute_event(attributes),
            Scope::MessageBody => match serde_json::from_str::<Value>(message) {
                Ok(v @ Value::Object(_)) => v,
                _ => return false,
            },
        };
        self.machine
            .matches_value(&event)
            .is_ok_and(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn policies_match_attributes_and_bodies_as_sns_does() {
        let f = compile(
            r#"{"store": ["example_corp"], "price": [{"numeric": [">=", 100]}], "tags": [{"prefix": "urg"}]}"#,
            Scope::MessageAttributes,
            "",
        )
        .unwrap();
        let hit = attrs(json!({
            "store": {"DataType": "String", "StringValue": "example_corp"},
            "price": {"DataType": "Number", "StringValue": "150.5"},
            "tags": {"DataType": "String.Array", "StringValue": "[\"normal\", \"urgent\"]"}
        }));
        assert!(f.passes("x", &hit));
        let mut cheap = hit.clone();
        cheap.insert(
            "price".into(),
            json!({"DataType": "Number", "StringValue": "99"}),
        );
        assert!(!f.passes("x", &cheap));
        // A number sent as a String is not a number.
        let mut text = hit.clone();
        text.insert(
            "price".into(),
            json!({"DataType": "String", "StringValue": "150"}),
        );
        assert!(!f.passes("x", &text));
        let body = compile(
            r#"{"detail": {"severity": ["HIGH"]}}"#,
            Scope::MessageBody,
            "",
        )
        .unwrap();
        assert!(body.passes(r#"{"detail": {"severity": "HIGH"}}"#, &Map::new()));
        assert!(!body.passes("not json", &Map::new()));
    }

    #[test]
    fn policies_sns_refuses_are_refused_with_its_words() {
        let p = "Invalid parameter: ";
        let e = compile(r#"{"a": {"b": ["c"]}}"#, Scope::MessageAttributes, p).unwrap_err();
        assert!(
            e.parts()
                .2
                .contains("does not support nested filter policy"),
            "{e:?}"
        );
        let e = compile(
            r#"{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}"#,
            Scope::MessageAttributes,
            p,
        )
        .unwrap_err();
        assert_eq!(
            e.parts().2,
            "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
        );
        let many: Vec<u32> = (0..20).collect();
        let policy = json!({"a": many, "b": many}).to_string();
        let e = compile(&policy, Scope::MessageAttributes, p).unwrap_err();
        assert!(
            e.parts().2.ends_with("Filter policy is too complex"),
            "{e:?}"
        );
        let e = compile(r#"{"a": []}"#, Scope::MessageAttributes, p).unwrap_err();
        assert!(e.parts().2.starts_with(p), "{e:?}");
        assert!(compile("{nope", Scope::MessageAttributes, p).is_err());
    }
}
