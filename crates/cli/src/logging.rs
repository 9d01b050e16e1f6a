//! Structured logs: what the processor and `veritrail serve` report as they work (events set
//! aside, alerts raised and delivered, batches made durable), written to stderr through
//! `tracing`, as text or as one JSON object per line.
//!
//! `VERITRAIL_LOG` sets the level (`off`, `error`, `warn`, `info`, `debug`, `trace`; `warn` by
//! default, `info` for `veritrail serve`); `VERITRAIL_LOG_FORMAT` is `text` (the default) or
//! `json`. Times come from the one clock.

use std::fmt;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt as _;
use veritrail_core::time::{Clock as _, SystemClock};

/// Log times by the system clock, RFC 3339 with milliseconds.
struct ClockTime;

impl FormatTime for ClockTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{}", SystemClock.now())
    }
}

/// The level and format asked for by the environment, or why they cannot be used.
fn settings(
    level: Option<&str>,
    format: Option<&str>,
    default: LevelFilter,
) -> Result<(LevelFilter, bool), String> {
    let level = match level.map(str::trim) {
        None | Some("") => default,
        Some(v) => v.parse::<LevelFilter>().map_err(|_| {
            format!("VERITRAIL_LOG={v} is not a level: use off, error, warn, info, debug or trace")
        })?,
    };
    let json = match format.map(str::trim) {
        None | Some("") | Some("text") => false,
        Some("json") => true,
        Some(v) => return Err(format!("VERITRAIL_LOG_FORMAT={v}: use text or json")),
    };
    Ok((level, json))
}

/// Installs the stderr logger; `default` is the level when `VERITRAIL_LOG` is not set.
/// veritrail's own events are logged at that level; other crates' (the AWS SDK's) only at
/// `error`, or at the level asked when it is `debug` or `trace`.
pub fn init(default: LevelFilter) -> Result<(), String> {
    let level = std::env::var("VERITRAIL_LOG").ok();
    let format = std::env::var("VERITRAIL_LOG_FORMAT").ok();
    let (level, json) = settings(level.as_deref(), format.as_deref(), default)?;
    // The SDK warns about things a user did not ask about (a missing ~/.aws/config), and
    // `validate-logs` must print what awscli prints: other crates speak only at `error`,
    // unless debugging was asked for.
    let others = if level >= LevelFilter::DEBUG {
        level
    } else {
        level.min(LevelFilter::ERROR)
    };
    let targets = Targets::new()
        .with_default(others)
        .with_target("veritrail", level);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_timer(ClockTime)
        .with_target(false);
    let installed = if json {
        let subscriber = builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber.with(targets))
    } else {
        tracing::subscriber::set_global_default(builder.finish().with(targets))
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_formats_from_the_environment() {
        let d = LevelFilter::WARN;
        assert_eq!(settings(None, None, d), Ok((LevelFilter::WARN, false)));
        assert_eq!(
            settings(Some("debug"), Some("json"), d),
            Ok((LevelFilter::DEBUG, true))
        );
        assert_eq!(
            settings(Some("OFF"), Some("text"), d),
            Ok((LevelFilter::OFF, false))
        );
        assert!(
            settings(Some("loud"), None, d)
                .unwrap_err()
                .contains("VERITRAIL_LOG=loud")
        );
        assert!(
            settings(None, Some("xml"), d)
                .unwrap_err()
                .contains("VERITRAIL_LOG_FORMAT=xml")
        );
    }
}
