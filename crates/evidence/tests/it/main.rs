//! veritrail-evidence's tests: posture judgements over small fixture snapshots, reports and
//! OCSF findings built from them.
#![allow(clippy::unwrap_used)]

mod posture;
mod report;
