//! Alerts to an SNS topic: each alert published as JSON (`Subject` its severity and title,
//! message attributes `severity`, `packId` and `ruleId` for subscription filter policies),
//! one attempt per [`Notifier::send`], so the [`crate::notify::Deliverer`] gives it the same
//! retries, delivery log and dead-letter file as the webhook.

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::Value as Json;

use super::{Aws, failed};
use crate::error::ProcessorError;
use crate::notify::Notifier;

/// SNS's limit on a subject.
const MAX_SUBJECT: usize = 100;

/// An SNS topic alerts are published to.
#[derive(Debug)]
pub struct Topic {
    aws: Aws,
    client: aws_sdk_sns::Client,
    arn: String,
}

impl Topic {
    /// A topic by ARN; `arn:aws:sns:…` is checked here, the topic's existence at the first
    /// publication (a missing topic is a failed delivery, retried and then dead-lettered).
    pub fn new(aws: &Aws, arn: &str) -> Result<Self, ProcessorError> {
        if !arn.starts_with("arn:") || arn.split(':').nth(2) != Some("sns") {
            return Err(ProcessorError::Config(format!(
                "`{arn}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )));
        }
        Ok(Self {
            aws: aws.clone(),
            client: aws_sdk_sns::Client::new(aws.config()),
            arn: arn.to_owned(),
        })
    }
}

/// A subject SNS takes: printable ASCII, at most 100 characters.
fn subject(alert: &Json) -> String {
    let text = format!(
        "veritrail {}: {}",
        alert["severity"].as_str().unwrap_or("alert"),
        alert["title"].as_str().unwrap_or("rule matched")
    );
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT)
        .collect()
}

fn attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

impl Notifier for Topic {
    fn target(&self) -> String {
        self.arn.clone()
    }

    fn send(&mut self, alert: &Json) -> Result<(), String> {
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.arn)
            .subject(subject(alert))
            .message(alert.to_string());
        for name in ["severity", "packId", "ruleId"] {
            if let Some(v) = alert[name]
                .as_str()
                .filter(|v| !v.is_empty())
                .and_then(attribute)
            {
                publish = publish.message_attributes(name, v);
            }
        }
        self.aws
            .block_on(publish.send())
            .map(|_| ())
            .map_err(|e| failed(format!("Publish to {}", self.arn), e).to_string())
    }
}
