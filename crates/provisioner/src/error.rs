//! The provisioner's errors: a configuration that cannot be used, a resource that exists and is
//! not this prefix's, and a failed AWS call (with the SDK's whole message).

use std::fmt;

/// What went wrong.
#[derive(Debug)]
pub enum ProvisionError {
    /// The configuration (file, prefix, region, retention, …) cannot be used.
    Config(String),
    /// A resource with the plan's name exists and belongs to someone else.
    NotOurs { resource: String, reason: String },
    /// A resource is in a state the plan cannot change (a bucket without Object Lock, …).
    Conflict { resource: String, reason: String },
    /// An AWS call failed.
    Aws { call: String, message: String },
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::NotOurs { resource, reason } => write!(
                f,
                "{resource} exists and is not this prefix's: {reason}; choose another name or prefix"
            ),
            Self::Conflict { resource, reason } => write!(f, "{resource}: {reason}"),
            Self::Aws { call, message } => write!(f, "{call} failed: {message}"),
        }
    }
}

impl std::error::Error for ProvisionError {}

impl ProvisionError {
    /// Whether the error is the user's input (exit 2) rather than a failure (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Config(_))
    }
}

/// An SDK error as a [`ProvisionError::Aws`], with the SDK's whole message.
pub(crate) fn aws<E: std::error::Error>(call: impl Into<String>, error: E) -> ProvisionError {
    ProvisionError::Aws {
        call: call.into(),
        message: aws_sdk_s3::error::DisplayErrorContext(error).to_string(),
    }
}
