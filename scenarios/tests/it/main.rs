//! The seed recipes replayed end to end through the real AWS SDK for Rust clients
//! (`aws-sdk-qldb`, `aws-sdk-qldbsession`, `aws-sdk-s3`, `aws-sdk-sqs`, `aws-sdk-sns`, `aws-sdk-cloudtrail`, `aws-sdk-eventbridge`, `aws-sdk-sts`, `aws-sdk-iam`, `aws-sdk-kms`, `aws-sdk-secretsmanager`, `aws-sdk-kinesis`), the
//! official QLDB drivers, boto3 and the AWS CLI against an emulator started on port 0.
#![allow(clippy::unwrap_used)]

mod auth;
mod awscli;
mod bank;
mod drivers;
mod eventbridge;
mod iam_kms;
mod journal_out;
mod kinesis;
mod s3;
mod seed_recipe;
mod sqs_sns;
mod transfers;

use veritrail_core::ion_rs::Element;

pub fn ion(text: &str) -> Element {
    Element::read_one(text).unwrap()
}

pub fn field<'a>(e: &'a Element, name: &str) -> &'a Element {
    e.as_struct()
        .unwrap()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {e}"))
}

/// Creates a ledger through the SDK and waits for ACTIVE, polling as the DMV sample does.
pub async fn active_ledger(qldb: &aws_sdk_qldb::Client, name: &str, deletion_protection: bool) {
    let created = qldb
        .create_ledger()
        .name(name)
        .permissions_mode(aws_sdk_qldb::types::PermissionsMode::Standard)
        .deletion_protection(deletion_protection)
        .send()
        .await
        .unwrap();
    assert_eq!(created.name(), Some(name));
    for _ in 0..50 {
        let d = qldb.describe_ledger().name(name).send().await.unwrap();
        if d.state() == Some(&aws_sdk_qldb::types::LedgerState::Active) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("ledger {name} never became ACTIVE");
}
