//! Message attributes: SQS's rules for names, types and values, their size, the MD5 digest SQS
//! answers with (`MD5OfMessageAttributes`, which the SDKs check), and the selection a receiver
//! asks for. Attributes are kept in the JSON protocol's shape:
//! `{"name": {"DataType": "String", "StringValue": "v"}}` (binary values in base64).

use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::{Map, Value};

use crate::services::sqs::error::SqsError;

/// At most this many attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;

fn invalid(m: impl Into<String>) -> SqsError {
    SqsError::InvalidParameterValue(m.into())
}

/// Whether every character may be in an SQS message (XML 1.0's characters).
pub fn valid_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    })
}

/// A number as SQS's `Number` type takes it: decimal, optionally signed, with an optional
/// fraction and exponent.
fn is_number(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (!int.is_empty() || !frac.is_empty())
        && digits(int)
        && digits(frac)
        && exp_ok
        && s.parse::<f64>().is_ok_and(f64::is_finite)
}

fn check_name(name: &str) -> Result<(), SqsError> {
    if name.len() >= 256 {
        return Err(invalid(
            "Message (user) attribute names must be shorter than 256 Bytes",
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(invalid(
            "Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. ",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.")
        || lower.starts_with("amazon.")
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
    {
        return Err(invalid(
            "You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved for internal use. Additionally, they cannot start or end with '.'.",
        ));
    }
    Ok(())
}

/// The transport type of a data type: 1 for String and Number, 2 for Binary (`None`: not a
/// type SQS knows).
fn transport(data_type: &str) -> Option<u8> {
    let base = data_type.split('.').next().unwrap_or("");
    match base {
        "String" | "Number" => Some(1),
        "Binary" => Some(2),
        _ => None,
    }
}

/// One attribute's value: its data type and bytes.
struct Checked {
    data_type: String,
    bytes: Vec<u8>,
}

fn check_value(name: &str, v: &Value) -> Result<Checked, SqsError> {
    let obj = v.as_object().ok_or_else(|| {
        SqsError::Malformed(format!("the message attribute {name} is not a structure"))
    })?;
    let data_type = obj.get("DataType").and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "The message attribute '{name}' must contain a DataType."
        ))
    })?;
    if data_type.len() >= 256 {
        return Err(invalid(
            "Message (user) attribute types must be shorter than 256 Bytes",
        ));
    }
    let kind = transport(data_type).ok_or_else(|| {
        invalid(format!(
            "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        ))
    })?;
    let base = data_type.split('.').next().unwrap_or("");
    let empty = || {
        invalid(format!(
            "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
        ))
    };
    let bytes = if kind == 2 {
        let text = obj.get("BinaryValue").and_then(Value::as_str).unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| {
                SqsError::Malformed(format!(
                    "the BinaryValue of message attribute {name} is not base64"
                ))
            })?;
        if bytes.is_empty() {
            return Err(empty());
        }
        bytes
    } else {
        let text = obj.get("StringValue").and_then(Value::as_str).unwrap_or("");
        if text.is_empty() {
            return Err(empty());
        }
        if !valid_text(text) {
            return Err(SqsError::InvalidMessageContents);
        }
        if base == "Number" && !is_number(text) {
            return Err(invalid(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        text.as_bytes().to_vec()
    };
    Ok(Checked {
        data_type: data_type.to_owned(),
        bytes,
    })
}

/// Checks a message's attributes (`None` or an object) and returns them as kept (only
/// `DataType` and the value member) with their size in bytes (names, types and values, as SQS
/// counts them against the message size).
pub fn check(v: Option<&Value>) -> Result<(Map<String, Value>, usize), SqsError> {
    let Some(v) = v else {
        return Ok((Map::new(), 0));
    };
    let map = v
        .as_object()
        .ok_or_else(|| SqsError::Malformed("MessageAttributes must be a map".into()))?;
    if map.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            map.len()
        )));
    }
    let mut out = Map::new();
    let mut size = 0usize;
    for (name, value) in map {
        check_name(name)?;
        let c = check_value(name, value)?;
        size += name.len() + c.data_type.len() + c.bytes.len();
        let member = if transport(&c.data_type) == Some(2) {
            "BinaryValue"
        } else {
            "StringValue"
        };
        let kept = value.get(member).cloned().unwrap_or(Value::Null);
        let mut entry = Map::new();
        entry.insert("DataType".into(), Value::String(c.data_type));
        entry.insert(member.into(), kept);
        out.insert(name.clone(), Value::Object(entry));
    }
    Ok((out, size))
}

/// Checks `MessageSystemAttributes` on a send: only `AWSTraceHeader`, a String.
pub fn check_system(v: Option<&Value>) -> Result<Map<String, Value>, SqsError> {
    let Some(v) = v else {
        return Ok(Map::new());
    };
    let map = v
        .as_object()
        .ok_or_else(|| SqsError::Malformed("MessageSystemAttributes must be a map".into()))?;
    let mut out = Map::new();
    for (name, value) in map {
        if name != "AWSTraceHeader" {
            return Err(invalid(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        let c = check_value(name, value)?;
        if c.data_type != "String" {
            return Err(invalid(format!(
                "Message system attribute '{name}' must be of type 'String'."
            )));
        }
        let mut entry = Map::new();
        entry.insert("DataType".into(), Value::String(c.data_type));
        entry.insert(
            "StringValue".into(),
            value.get("StringValue").cloned().unwrap_or(Value::Null),
        );
        out.insert(name.clone(), Value::Object(entry));
    }
    Ok(out)
}

/// SQS's MD5 of message attributes: for each attribute in name order, the length-prefixed name
/// and data type, the transport type, and the length-prefixed value. `None` when there are none.
pub fn md5(attributes: &Map<String, Value>) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    fn part(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend((bytes.len() as u32).to_be_bytes());
        out.extend(bytes);
    }
    let mut data = Vec::new();
    for name in names {
        let v = &attributes[name];
        let data_type = v.get("DataType").and_then(Value::as_str).unwrap_or("");
        let kind = transport(data_type).unwrap_or(1);
        let value = if kind == 2 {
            v.get("BinaryValue")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .unwrap_or_default()
        } else {
            v.get("StringValue")
                .and_then(Value::as_str)
                .unwrap_or("")
                .as_bytes()
                .to_vec()
        };
        part(&mut data, name.as_bytes());
        part(&mut data, data_type.as_bytes());
        data.push(kind);
        part(&mut data, &value);
    }
    Some(crate::wire::hex(&Md5::digest(&data)))
}

/// The attributes a receiver asked for by name (`All`, `.*`, `prefix.*` or exact names).
pub fn select(attributes: &Map<String, Value>, names: &[String]) -> Map<String, Value> {
    let wanted = |n: &str| {
        names.iter().any(|w| {
            w == "All"
                || w == ".*"
                || w == n
                || w.strip_suffix(".*")
                    .is_some_and(|p| n.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
        })
    };
    attributes
        .iter()
        .filter(|(k, _)| wanted(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The MD5 of a message body, hex.
pub fn md5_of(body: &str) -> String {
    crate::wire::hex(&Md5::digest(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_follow_sqs_rules() {
        let (kept, size) = check(Some(&json!({
            "color": {"DataType": "String", "StringValue": "blue"},
            "n": {"DataType": "Number.int", "StringValue": "-1.5e3"},
            "b": {"DataType": "Binary", "BinaryValue": "AQI="}
        })))
        .unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(size, 5 + 6 + 4 + 1 + 10 + 6 + 1 + 6 + 2);
        for (bad, words) in [
            (
                json!({"AWS.x": {"DataType": "String", "StringValue": "v"}}),
                "reserved",
            ),
            (
                json!({"a b": {"DataType": "String", "StringValue": "v"}}),
                "can only contain",
            ),
            (
                json!({"x": {"DataType": "Text", "StringValue": "v"}}),
                "supported type prefixes",
            ),
            (
                json!({"x": {"DataType": "String", "StringValue": ""}}),
                "non-empty value of type 'String'",
            ),
            (
                json!({"x": {"DataType": "Number", "StringValue": "1x"}}),
                "to a number",
            ),
        ] {
            let e = check(Some(&bad)).unwrap_err();
            assert!(e.parts().3.contains(words), "{bad}: {e:?}");
        }
        let many: Map<String, Value> = (0..11)
            .map(|i| {
                (
                    format!("a{i}"),
                    json!({"DataType": "String", "StringValue": "v"}),
                )
            })
            .collect();
        assert!(
            check(Some(&Value::Object(many)))
                .unwrap_err()
                .parts()
                .3
                .contains("[11] exceeds")
        );
        assert!(!valid_text("a\u{1}"));
        assert!(valid_text("tab\there ✓ \u{10000}"));
    }

    #[test]
    fn the_attribute_digest_is_sqs_s() {
        // Computed with the algorithm of the SQS developer guide (and botocore's check).
        let (kept, _) = check(Some(&json!({
            "Attr": {"DataType": "String", "StringValue": "value"}
        })))
        .unwrap();
        let mut want = Vec::new();
        for part in [&b"Attr"[..], b"String"] {
            want.extend((part.len() as u32).to_be_bytes());
            want.extend(part);
        }
        want.push(1);
        want.extend(5u32.to_be_bytes());
        want.extend(b"value");
        assert_eq!(md5(&kept).unwrap(), crate::wire::hex(&Md5::digest(&want)));
        assert_eq!(md5(&Map::new()), None);
        let picked = select(&kept, &["Att.*".into()]);
        assert!(picked.is_empty());
        assert_eq!(select(&kept, &[".*".into()]).len(), 1);
    }
}
