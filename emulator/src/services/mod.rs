//! One folder per emulated service, each with its operations' handlers (named after the AWS
//! operations), its state, its rows in `aws.sqlite` and its errors (one variant per AWS error
//! code). A service that needs another calls that service's narrow API (a few `pub fn`s at the
//! end of its `mod.rs`), never its maps; no service imports the emulator itself.

pub mod cloudtrail;
pub mod events;
pub mod iam;
pub mod kinesis;
pub mod kms;
pub mod qldb;
pub mod qldb_session;
pub mod s3;
pub mod saved;
pub mod secretsmanager;
pub mod sns;
pub mod sqs;
pub mod sts;
