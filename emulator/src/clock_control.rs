//! The emulator's own endpoint, `/_veritrail/clock`: `GET` reads the clock; `POST
//! {"advanceSeconds": N, "scale": X}` moves it forward and/or sets its speed, then delivers what
//! fell due. Moving time is what expires Object Lock retention, so `POST` is refused unless the
//! emulator was started with clock control on (`--allow-clock-control`; tests and demos), and
//! each move is bounded. The clock only moves forward and its reading survives restarts (see
//! [`crate::Emulator::open`]).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Emulator;
use crate::wire::time::iso8601_seconds;

/// The largest move of one `POST`: a year and a day.
pub const MAX_ADVANCE_SECONDS: f64 = 366.0 * 86_400.0;
/// The fastest the clock may run.
pub const MAX_SCALE: f64 = 100_000.0;
/// The largest body a request to the endpoint may carry.
pub const MAX_BODY: usize = 4096;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn bad(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"message": message}))
}

/// The answer to a body over [`MAX_BODY`], in the endpoint's own shape.
pub fn too_large() -> Response {
    bad(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the body is over {MAX_BODY} bytes"),
    )
}

/// Serves `/_veritrail/clock`.
pub fn endpoint(emulator: &Emulator, method: &Method, body: &[u8]) -> Response {
    if *method == Method::POST {
        if !emulator.config.clock_control {
            return bad(
                StatusCode::FORBIDDEN,
                "clock control is off: start the emulator with --allow-clock-control to move its clock",
            );
        }
        let v: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object: {\"advanceSeconds\": N} and/or {\"scale\": X}",
                );
            }
        };
        let scale = match v.get("scale").map(serde_json::Value::as_f64) {
            None => None,
            Some(Some(x)) if x.is_finite() && (0.0..=MAX_SCALE).contains(&x) => Some(x),
            Some(_) => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    &format!("scale must be a number from 0 to {MAX_SCALE}"),
                );
            }
        };
        let advance = match v.get("advanceSeconds").map(serde_json::Value::as_f64) {
            None => None,
            Some(Some(s)) if s.is_finite() && (0.0..=MAX_ADVANCE_SECONDS).contains(&s) => {
                Some((s * 1000.0) as i64)
            }
            Some(_) => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "advanceSeconds must be a number from 0 to {MAX_ADVANCE_SECONDS} (the clock only moves forward, at most a year and a day at a time)"
                    ),
                );
            }
        };
        if let Some(x) = scale {
            if let Err(e) = emulator.clock().set_scale(x) {
                return bad(StatusCode::BAD_REQUEST, &e);
            }
        }
        if let Some(ms) = advance {
            if let Err(e) = emulator.clock().advance(ms) {
                return bad(StatusCode::BAD_REQUEST, &e);
            }
        }
        if let Err(e) = emulator.deliver() {
            return bad(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
        // Messages may have become visible: SQS long polls look again.
        emulator.wake_pollers(false);
    } else if *method != Method::GET {
        return bad(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST");
    }
    let now = emulator.env().now();
    answer(
        StatusCode::OK,
        json!({
            "now": iso8601_seconds(now),
            "epochMillis": now.0,
            "scale": emulator.clock().scale(),
            "control": emulator.config.clock_control,
        }),
    )
}
