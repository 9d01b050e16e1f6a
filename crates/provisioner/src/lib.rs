//! veritrail-provisioner: the architecture veritrail relies on (evidence bucket, KMS key,
//! trail, rules and their targets, the processor's role) as desired state, planned, applied
//! and destroyed through the AWS SDK for Rust against AWS or the emulator.
//!
//! [`Config`] (a small JSON file, every field defaulted) resolves to [`Names`]; [`plan`] reads
//! what exists and lists the differences per resource and setting; [`apply`] makes them in
//! dependency order and is idempotent; [`destroy`] removes what the prefix owns, leaving
//! objects under retention (and the bucket and key they need) with their dates.

pub mod apply;
pub mod config;
pub mod destroy;
pub mod engine;
pub mod error;
pub mod plan;
pub mod policy;

pub use apply::{Applied, apply};
pub use config::{Config, Names};
pub use destroy::{Destroyed, destroy};
pub use engine::{Clients, OWNER_TAG, plan};
pub use error::ProvisionError;
pub use plan::{Change, Kind, Plan};
