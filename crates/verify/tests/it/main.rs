//! veritrail-verify against real QLDB output (`testdata/qldb/vehicle-registration`, copied from
//! `../shared/vectors`): the real files verify, and every tampering fails with the right error.
#![allow(clippy::unwrap_used)]

mod block_rules;
mod bundle;
mod cloudtrail;
mod hostile_input;
#[path = "../../../core/tests/it/mutate.rs"]
mod mutate;
mod vehicle_registration;
