//! An SQS queue as a source: the queue an EventBridge rule targets (the AWS-native path), or
//! one an SNS topic fans out to.
//!
//! Messages are received by long polling, ten at a time, and each is one event: an
//! EventBridge event (the CloudTrail record in `detail`), the same wrapped in an SNS
//! notification (`{"Type":"Notification","Message":"…"}`), or a CloudTrail record. A message
//! is deleted only once its record is durable (the batch's token is the receipt handles).
//!
//! A message the pipeline rejects (not JSON, not a CloudTrail record, over the ledger's
//! limits) is counted and reported like any rejection, and then:
//! - if the queue has a `RedrivePolicy`, it is not deleted: it comes back after its visibility
//!   timeout and SQS itself moves it to the dead-letter queue after `maxReceiveCount`
//!   receives, where it stays for whoever looks into it (each receive counts as a rejection);
//! - otherwise it is written to `rejected-messages.jsonl` in the processor's state directory
//!   (synced) and then deleted, so that it neither loops forever nor disappears unseen.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use serde_json::{Value as Json, json};

use super::{Aws, failed};
use crate::error::ProcessorError;
use crate::source::{RawEvent, Source, SourceBatch, append_line};

/// A received message, for its acknowledgement.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// Where and how to poll a queue.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The queue's URL.
    pub url: String,
    /// Long-poll wait, 0 to 20 seconds.
    pub wait_seconds: i32,
    /// End (`next_batch` gives `None`) at the first receive that returns nothing, instead of
    /// polling until stopped.
    pub until_empty: bool,
    /// Set to end at the next poll.
    pub stop: Arc<AtomicBool>,
    /// Where rejected messages of a queue without a redrive policy are written.
    pub rejected_file: PathBuf,
}

/// An SQS queue as a [`Source`].
#[derive(Debug)]
pub struct QueueSource {
    aws: Aws,
    client: aws_sdk_sqs::Client,
    options: QueueOptions,
    /// Whether SQS moves messages received too often to a dead-letter queue.
    has_redrive: bool,
}

impl QueueSource {
    /// Opens the queue (GetQueueAttributes: it must exist; is there a redrive policy?).
    pub fn open(aws: &Aws, options: QueueOptions) -> Result<Self, ProcessorError> {
        let client = aws_sdk_sqs::Client::new(aws.config());
        let attributes = aws
            .block_on(
                client
                    .get_queue_attributes()
                    .queue_url(&options.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .send(),
            )
            .map_err(|e| failed(format!("GetQueueAttributes on {}", options.url), e))?;
        let has_redrive = attributes
            .attributes()
            .is_some_and(|a| a.contains_key(&QueueAttributeName::RedrivePolicy));
        Ok(Self {
            aws: aws.clone(),
            client,
            options,
            has_redrive,
        })
    }

    /// Whether rejected messages are left for the queue's dead-letter queue.
    pub fn has_redrive(&self) -> bool {
        self.has_redrive
    }

    fn delete(&self, handles: &[&Received]) -> Result<(), ProcessorError> {
        for chunk in handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt_handle)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed("DeleteMessageBatch", e))?;
            // A handle SQS no longer takes (its visibility timeout passed) leaves the message
            // to come again: the idempotent append stores it once, so that is not an error.
            self.aws
                .block_on(
                    self.client
                        .delete_message_batch()
                        .queue_url(&self.options.url)
                        .set_entries(Some(entries))
                        .send(),
                )
                .map_err(|e| failed(format!("DeleteMessageBatch on {}", self.options.url), e))?;
        }
        Ok(())
    }
}

/// The event a message body carries: the body itself, or an SNS notification's `Message`.
pub fn event_of_message(body: &str) -> Result<Json, String> {
    let value: Json =
        serde_json::from_str(body).map_err(|e| format!("the message is not valid JSON: {e}"))?;
    if value["Type"] == "Notification" && value.get("TopicArn").is_some() {
        let Some(inner) = value["Message"].as_str() else {
            return Err("an SNS notification without a `Message` string".into());
        };
        return serde_json::from_str(inner)
            .map_err(|e| format!("the SNS notification's `Message` is not valid JSON: {e}"));
    }
    Ok(value)
}

impl Source for QueueSource {
    type Token = Vec<Received>;

    fn next_batch(&self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        loop {
            if self.options.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let answer = self
                .aws
                .block_on(
                    self.client
                        .receive_message()
                        .queue_url(&self.options.url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(self.options.wait_seconds)
                        .send(),
                )
                .map_err(|e| failed(format!("ReceiveMessage on {}", self.options.url), e))?;
            let messages = answer.messages();
            if messages.is_empty() {
                if self.options.until_empty {
                    return Ok(None);
                }
                continue;
            }
            let mut events = Vec::with_capacity(messages.len());
            let mut token = Vec::with_capacity(messages.len());
            for m in messages {
                let received = Received {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                };
                events.push(RawEvent {
                    at: format!("{} message {}", self.options.url, received.message_id),
                    value: event_of_message(&received.body),
                });
                token.push(received);
            }
            return Ok(Some(SourceBatch::new(
                self.options.url.clone(),
                events,
                token,
            )));
        }
    }

    fn acknowledge(&self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        let rejected: HashSet<usize> = batch.rejected.iter().copied().collect();
        let mut done = Vec::with_capacity(batch.token.len());
        for (i, m) in batch.token.iter().enumerate() {
            if !rejected.contains(&i) {
                done.push(m);
            } else if !self.has_redrive {
                append_line(
                    &self.options.rejected_file,
                    &json!({"queue": self.options.url, "messageId": m.message_id, "body": m.body}),
                )?;
                done.push(m);
            }
        }
        self.delete(&done)
    }
}
