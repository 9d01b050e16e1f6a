//! veritrail-rules: the EventBridge event-pattern language, and veritrail's compliance rule packs.
//!
//! - [`Pattern`]: a compiled event pattern, with event-ruler's semantics (exact values, numbers
//!   across spellings, `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but` in all
//!   its forms, `numeric`, `cidr`, `exists`, `$or`, arrays). A pattern EventBridge refuses is an
//!   [`InvalidEventPattern`] with EventBridge's code and wording.
//! - [`Machine`]: any number of patterns compiled into one matcher; matching an event costs about
//!   the size of the event, not the number of rules.
//! - [`envelope`]: CloudTrail records as the EventBridge events rules see
//!   ("AWS API Call via CloudTrail").
//! - [`packs`]: the rule packs shipped with veritrail (CIS AWS Foundations monitoring, audit-trail
//!   protection), their schema, and checking a pack against its own test events.
//!
//! For an EventBridge emulator: `PutRule` validates with [`Pattern::compile`] (its error is the
//! `InvalidEventPatternException` to return); `TestEventPattern` is [`Pattern::matches_json`];
//! delivery keeps one [`Machine`] per event bus over the enabled rules (named by rule ARN, rebuilt
//! when a rule changes, shared as an `Arc` between requests) and matches each served call's
//! [`envelope::from_record`]. SNS filter policies use the same language: compile the policy with
//! [`Pattern::compile_with`] and match an event made of the message attributes (or the body).
//!
//! The reference for semantics is event-ruler (github.com/aws/event-ruler @337e8d99), the engine
//! behind EventBridge; see `tests/data/` for the cases ported from its tests, each with its source.
//!
//! Architecture Invariant: no I/O and no panics on outside input; patterns and events are
//! bounded ([`PatternLimits`], [`EventLimits`]) and nothing recurses on an event's nesting
//! beyond those bounds.

mod event;
mod index;
mod ip;
mod json;
mod machine;
mod number;
mod pattern;
mod text;

pub mod envelope;
pub mod packs;

pub use event::{EventError, EventLimits};
pub use machine::{Machine, MachineBuilder, RuleByRule};
pub use pattern::{InvalidEventPattern, Pattern, PatternLimits};
