//! JSON bodies of the JSON protocols: parsed once by the request layer, answered with the
//! protocol's content type. serde_json refuses nesting deeper than 128 by itself; the body size
//! is bounded before it gets here ([`crate::route::MAX_JSON_BODY`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ops::Protocol;
use crate::wire::ErrorBody;

/// Parses a JSON request body; an empty one is `{}`. The top level must be an object.
pub fn parse_body(body: &[u8]) -> Result<Value, ErrorBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// A 200 answer with a JSON body in `protocol`'s content type.
pub fn ok(protocol: Protocol, body: &Value) -> Response {
    let content_type = match protocol {
        Protocol::AwsJson10 => "application/x-amz-json-1.0",
        Protocol::AwsJson11 => "application/x-amz-json-1.1",
        _ => "application/json",
    };
    (
        StatusCode::OK,
        [("content-type", content_type)],
        body.to_string(),
    )
        .into_response()
}

/// A string member of a JSON object.
pub fn str_member<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// An epoch-seconds timestamp member (awsJson sends them as numbers, possibly fractional), in
/// milliseconds; `None` when absent, `Err` when not a number of a sane size.
pub fn epoch_member(
    v: &Value,
    name: &str,
) -> Result<Option<veritrail_core::time::UtcMillis>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => {
            let secs = n
                .as_f64()
                .filter(|s| s.is_finite() && s.abs() < 1e13)
                .ok_or_else(|| format!("{name} must be a timestamp in epoch seconds"))?;
            Ok(Some(veritrail_core::time::UtcMillis(
                (secs * 1000.0) as i64,
            )))
        }
    }
}

/// The string members of a JSON object (others are left out), e.g. tags or metadata.
pub fn string_map(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Epoch seconds, as awsJson answers timestamps.
pub fn epoch_seconds(t: veritrail_core::time::UtcMillis) -> f64 {
    t.0 as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_within_limits() {
        assert_eq!(parse_body(b"  ").unwrap(), serde_json::json!({}));
        assert!(parse_body(b"[1]").is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_body(deep.as_bytes()).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(epoch_member(&serde_json::json!({"T": 1e300}), "T").is_err());
        assert_eq!(
            epoch_member(&serde_json::json!({"T": 1.5}), "T").unwrap(),
            Some(veritrail_core::time::UtcMillis(1500))
        );
    }
}
