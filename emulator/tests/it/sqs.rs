//! SQS over TCP in both protocols: queues and their attributes, sending and receiving with
//! visibility, receive counts and message attributes, redrive to a dead-letter queue, FIFO
//! order and deduplication, delays and retention on the emulator's clock, SQS's limits and
//! error codes, long polls that hold no thread, and messages that survive a kill.

use std::time::Duration;

use crate::{Instance, Reply, exchange, request};
use serde_json::{Value, json};

const T0: i64 = 1_767_225_600_000; // 2026-01-01

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDSQS/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00";

/// One SQS call in the JSON protocol.
pub fn sqs(url: &str, op: &str, body: Value) -> Reply {
    let target = format!("AmazonSQS.{op}");
    request(
        url,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Authorization", AUTH),
        ],
        &body.to_string(),
    )
}

/// A call that must succeed.
fn ok(url: &str, op: &str, body: Value) -> Value {
    let r = sqs(url, op, body.clone());
    assert_eq!(r.status, 200, "{op} {body}: {:?}", r.json);
    r.json
}

/// A call that must fail with `json_type` and the query code `query` (as `x-amzn-query-error`).
fn refused(url: &str, op: &str, body: Value, json_type: &str, query: &str) -> String {
    let r = sqs(url, op, body.clone());
    assert_eq!(r.status / 100, 4, "{op} {body}: {:?}", r.json);
    assert_eq!(r.error_type(), json_type, "{op} {body}: {:?}", r.json);
    assert_eq!(
        r.header("x-amzn-query-error"),
        Some(format!("{query};Sender").as_str()),
        "{op}"
    );
    r.json["message"].as_str().unwrap().to_owned()
}

pub(crate) fn create(url: &str, name: &str, attributes: Value) -> String {
    ok(
        url,
        "CreateQueue",
        json!({"QueueName": name, "Attributes": attributes}),
    )["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn receive(url: &str, queue: &str, extra: Value) -> Vec<Value> {
    let mut body =
        json!({"QueueUrl": queue, "AttributeNames": ["All"], "MessageAttributeNames": ["All"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    ok(url, "ReceiveMessage", body)["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn attributes(url: &str, queue: &str) -> Value {
    ok(
        url,
        "GetQueueAttributes",
        json!({"QueueUrl": queue, "AttributeNames": ["All"]}),
    )["Attributes"]
        .clone()
}

fn advance(i: &Instance, seconds: i64) {
    i.running
        .as_ref()
        .unwrap()
        .emulator
        .clock()
        .advance(seconds * 1000)
        .unwrap();
}

#[test]
fn queues_are_created_listed_changed_and_deleted_as_sqs_does() {
    let mut i = Instance::new("sqs-queues");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(&u, "orders", json!({"VisibilityTimeout": "45"}));
    assert_eq!(q, format!("{u}/000000000000/orders"));
    // The same name with the same attributes is the same queue; a different value is refused.
    assert_eq!(create(&u, "orders", json!({"VisibilityTimeout": "45"})), q);
    let m = refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "orders", "Attributes": {"VisibilityTimeout": "46"}}),
        "QueueNameExists",
        "QueueAlreadyExists",
    );
    assert_eq!(
        m,
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout"
    );
    assert_eq!(
        ok(&u, "GetQueueUrl", json!({"QueueName": "orders"}))["QueueUrl"],
        q.as_str()
    );
    let m = refused(
        &u,
        "GetQueueUrl",
        json!({"QueueName": "nope"}),
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );
    assert_eq!(m, "The specified queue does not exist.");

    let a = attributes(&u, &q);
    assert_eq!(a["VisibilityTimeout"], "45");
    assert_eq!(a["MaximumMessageSize"], "1048576");
    assert_eq!(a["MessageRetentionPeriod"], "345600");
    assert_eq!(a["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:orders");
    assert_eq!(a["ApproximateNumberOfMessages"], "0");
    assert_eq!(a["CreatedTimestamp"], (T0 / 1000).to_string());
    ok(
        &u,
        "SetQueueAttributes",
        json!({"QueueUrl": q, "Attributes": {"DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "20"}}),
    );
    let a = ok(
        &u,
        "GetQueueAttributes",
        json!({"QueueUrl": q, "AttributeNames": ["DelaySeconds"]}),
    );
    assert_eq!(a, json!({"Attributes": {"DelaySeconds": "5"}}));
    let m = refused(
        &u,
        "SetQueueAttributes",
        json!({"QueueUrl": q, "Attributes": {"DelaySeconds": "901"}}),
        "InvalidAttributeValue",
        "InvalidAttributeValue",
    );
    assert_eq!(m, "Invalid value for the parameter DelaySeconds.");
    refused(
        &u,
        "SetQueueAttributes",
        json!({"QueueUrl": q, "Attributes": {"QueueArn": "x"}}),
        "InvalidAttributeName",
        "InvalidAttributeName",
    );
    refused(
        &u,
        "GetQueueAttributes",
        json!({"QueueUrl": q, "AttributeNames": ["Colour"]}),
        "InvalidAttributeName",
        "InvalidAttributeName",
    );
    refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "bad name"}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "x.fifo"}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );

    // Tags.
    ok(
        &u,
        "TagQueue",
        json!({"QueueUrl": q, "Tags": {"team": "audit", "env": "test"}}),
    );
    ok(&u, "UntagQueue", json!({"QueueUrl": q, "TagKeys": ["env"]}));
    assert_eq!(
        ok(&u, "ListQueueTags", json!({"QueueUrl": q})),
        json!({"Tags": {"team": "audit"}})
    );

    // Listing by prefix, in pages.
    for n in ["orders-a", "orders-b", "other"] {
        create(&u, n, json!({}));
    }
    let all = ok(&u, "ListQueues", json!({"QueueNamePrefix": "orders"}));
    assert_eq!(all["QueueUrls"].as_array().unwrap().len(), 3);
    assert!(all.get("NextToken").is_none());
    let first = ok(
        &u,
        "ListQueues",
        json!({"QueueNamePrefix": "orders", "MaxResults": 2}),
    );
    assert_eq!(
        first["QueueUrls"],
        json!([q, format!("{u}/000000000000/orders-a")])
    );
    let token = first["NextToken"].as_str().unwrap();
    let second = ok(
        &u,
        "ListQueues",
        json!({"QueueNamePrefix": "orders", "MaxResults": 2, "NextToken": token}),
    );
    assert_eq!(
        second["QueueUrls"],
        json!([format!("{u}/000000000000/orders-b")])
    );
    assert!(second.get("NextToken").is_none());
    refused(
        &u,
        "ListQueues",
        json!({"MaxResults": 0}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );

    // Deleted: gone, and the name is free again only after a minute.
    ok(&u, "DeleteQueue", json!({"QueueUrl": q}));
    refused(
        &u,
        "GetQueueAttributes",
        json!({"QueueUrl": q}),
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );
    refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "orders"}),
        "QueueDeletedRecently",
        "AWS.SimpleQueueService.QueueDeletedRecently",
    );
    advance(&i, 61);
    create(&u, "orders", json!({}));
    assert!(receive(&u, &q, json!({})).is_empty());
}

#[test]
fn messages_become_visible_again_and_count_their_receives() {
    let mut i = Instance::new("sqs-visibility");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(&u, "work", json!({"VisibilityTimeout": "30"}));
    let sent = ok(
        &u,
        "SendMessage",
        json!({
            "QueueUrl": q, "MessageBody": "hello",
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "greeting"}, "n": {"DataType": "Number", "StringValue": "3"}},
            "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
        }),
    );
    assert_eq!(sent["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
    assert!(
        sent["MD5OfMessageAttributes"].is_string()
            && sent["MD5OfMessageSystemAttributes"].is_string()
    );
    let got = receive(&u, &q, json!({}));
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["Body"], "hello");
    assert_eq!(m["MessageId"], sent["MessageId"]);
    assert_eq!(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);
    assert_eq!(
        m["MessageAttributes"]["n"],
        json!({"DataType": "Number", "StringValue": "3"})
    );
    assert_eq!(m["Attributes"]["ApproximateReceiveCount"], "1");
    assert_eq!(m["Attributes"]["SentTimestamp"], T0.to_string());
    assert_eq!(m["Attributes"]["SenderId"], "AKIDSQS");
    assert_eq!(
        m["Attributes"]["AWSTraceHeader"],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    let first = m["ReceiptHandle"].as_str().unwrap().to_owned();
    // In flight: not received again, counted as not visible.
    assert!(receive(&u, &q, json!({})).is_empty());
    assert_eq!(
        attributes(&u, &q)["ApproximateNumberOfMessagesNotVisible"],
        "1"
    );
    advance(&i, 29);
    assert!(receive(&u, &q, json!({})).is_empty());
    advance(&i, 1);
    let again = receive(&u, &q, json!({"VisibilityTimeout": 10}));
    assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
    assert_eq!(
        again[0]["Attributes"]["ApproximateFirstReceiveTimestamp"],
        T0.to_string()
    );
    let second = again[0]["ReceiptHandle"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    // The older receipt no longer changes it; the newer one does.
    let m = refused(
        &u,
        "ChangeMessageVisibility",
        json!({"QueueUrl": q, "ReceiptHandle": first, "VisibilityTimeout": 0}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(
        m.ends_with(
            "Reason: Message does not exist or is not available for visibility timeout change."
        ),
        "{m}"
    );
    ok(
        &u,
        "ChangeMessageVisibility",
        json!({"QueueUrl": q, "ReceiptHandle": second, "VisibilityTimeout": 0}),
    );
    let third = receive(&u, &q, json!({"VisibilityTimeout": 0}));
    assert_eq!(third[0]["Attributes"]["ApproximateReceiveCount"], "3");
    let h = third[0]["ReceiptHandle"].as_str().unwrap();
    // Visibility 0: visible at once, so not in flight.
    refused(
        &u,
        "ChangeMessageVisibility",
        json!({"QueueUrl": q, "ReceiptHandle": h, "VisibilityTimeout": 5}),
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    );
    ok(
        &u,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": h}),
    );
    ok(
        &u,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": h}),
    );
    assert_eq!(attributes(&u, &q)["ApproximateNumberOfMessages"], "0");
    let m = refused(
        &u,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": "garbage"}),
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
    );
    assert_eq!(
        m,
        "The input receipt handle \"garbage\" is not a valid receipt handle."
    );

    // Batches, with one bad entry reported apart.
    let batch = ok(
        &u,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": [
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "two", "DelaySeconds": 901},
            {"Id": "c", "MessageBody": "three", "MessageAttributes": {"x": {"DataType": "String", "StringValue": ""}}}
        ]}),
    );
    assert_eq!(batch["Successful"].as_array().unwrap().len(), 1);
    let failed = batch["Failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["Id"], "b");
    assert_eq!(failed[0]["Code"], "InvalidParameterValue");
    assert_eq!(failed[0]["SenderFault"], true);
    let got = receive(&u, &q, json!({"MaxNumberOfMessages": 10}));
    assert_eq!(got.len(), 1);
    let deleted = ok(
        &u,
        "DeleteMessageBatch",
        json!({"QueueUrl": q, "Entries": [
            {"Id": "x", "ReceiptHandle": got[0]["ReceiptHandle"]},
            {"Id": "y", "ReceiptHandle": "bad"}
        ]}),
    );
    assert_eq!(deleted["Successful"], json!([{"Id": "x"}]));
    assert_eq!(deleted["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
}

#[test]
fn sqs_limits_get_sqs_errors() {
    let mut i = Instance::new("sqs-limits");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(&u, "small", json!({"MaximumMessageSize": "1024"}));
    let m = refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "x".repeat(1025)}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert_eq!(
        m,
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    );
    // Attributes count against the size.
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "x".repeat(1000), "MessageAttributes": {"name": {"DataType": "String", "StringValue": "y".repeat(30)}}}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    let big = create(&u, "big", json!({}));
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": big, "MessageBody": "x".repeat(1 << 20)}),
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": big, "MessageBody": "x".repeat((1 << 20) + 1)}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": ""}),
        "MissingRequiredParameterException",
        "MissingParameter",
    );
    let m = refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "bell\u{7}"}),
        "InvalidMessageContents",
        "InvalidMessageContents",
    );
    assert!(m.starts_with("Invalid characters found."), "{m}");
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a", "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a", "MessageAttributes": {"x": {"DataType": "Number", "StringValue": "ten"}}}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a", "MessageDeduplicationId": "d"}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": format!("{u}/000000000000/none"), "MessageBody": "a"}),
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );
    refused(
        &u,
        "SendMessage",
        json!({"MessageBody": "a"}),
        "MissingRequiredParameterException",
        "MissingParameter",
    );
    let entries: Vec<Value> = (0..11)
        .map(|n| json!({"Id": format!("e{n}"), "MessageBody": "x"}))
        .collect();
    let m = refused(
        &u,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": entries}),
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    );
    assert_eq!(
        m,
        "Maximum number of entries per request are 10. You have sent 11."
    );
    refused(
        &u,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": []}),
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
    );
    refused(
        &u,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": [{"Id": "a b", "MessageBody": "x"}]}),
        "InvalidBatchEntryId",
        "AWS.SimpleQueueService.InvalidBatchEntryId",
    );
    let m = refused(
        &u,
        "DeleteMessageBatch",
        json!({"QueueUrl": q, "Entries": [{"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}]}),
        "BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    );
    assert_eq!(m, "Id a repeated.");
    let half = "x".repeat(600 * 1024);
    let m = refused(
        &u,
        "SendMessageBatch",
        json!({"QueueUrl": big, "Entries": [{"Id": "a", "MessageBody": half}, {"Id": "b", "MessageBody": half}]}),
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
    );
    assert!(
        m.starts_with("Batch requests cannot be longer than 1048576 bytes."),
        "{m}"
    );
    refused(
        &u,
        "ReceiveMessage",
        json!({"QueueUrl": q, "MaxNumberOfMessages": 11}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    refused(
        &u,
        "ReceiveMessage",
        json!({"QueueUrl": q, "WaitTimeSeconds": 21}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    // A member of the wrong type is the JSON protocol's serialization error.
    let r = sqs(&u, "SendMessage", json!({"QueueUrl": q, "MessageBody": 5}));
    assert_eq!((r.status, r.error_type()), (400, "SerializationException"));
    // Nothing refused was stored; the one message sent to `big` is there.
    assert_eq!(attributes(&u, &q)["ApproximateNumberOfMessages"], "0");
    assert_eq!(attributes(&u, &big)["ApproximateNumberOfMessages"], "1");
}

#[test]
fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    let mut i = Instance::new("sqs-redrive");
    i.start(T0, false);
    let u = i.url().to_owned();
    let dlq = create(&u, "dead", json!({}));
    let arn = "arn:aws:sqs:us-east-1:000000000000:dead";
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 2}).to_string();
    let m = refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "src", "Attributes": {"RedrivePolicy": json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:none", "maxReceiveCount": 2}).to_string()}}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(m.contains("Dead letter target does not exist"), "{m}");
    let q = create(
        &u,
        "src",
        json!({"RedrivePolicy": policy, "VisibilityTimeout": "10"}),
    );
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "poison"}),
    );
    for n in 1..=2 {
        let got = receive(&u, &q, json!({}));
        assert_eq!(
            got[0]["Attributes"]["ApproximateReceiveCount"],
            n.to_string()
        );
        advance(&i, 10);
    }
    // The third receive finds it received twice already: it moves.
    assert!(receive(&u, &q, json!({})).is_empty());
    let dead = receive(&u, &dlq, json!({}));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["Body"], "poison");
    assert_eq!(
        dead[0]["Attributes"]["DeadLetterQueueSourceArn"],
        "arn:aws:sqs:us-east-1:000000000000:src"
    );
    assert_eq!(
        ok(&u, "ListDeadLetterSourceQueues", json!({"QueueUrl": dlq}))["queueUrls"],
        json!([q])
    );
    // A FIFO queue cannot use a standard dead-letter queue.
    let m = refused(
        &u,
        "CreateQueue",
        json!({"QueueName": "f.fifo", "Attributes": {"FifoQueue": "true", "RedrivePolicy": json!({"deadLetterTargetArn": arn, "maxReceiveCount": 1}).to_string()}}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(m.contains("same type of queue"), "{m}");
}

#[test]
fn fifo_queues_keep_group_order_and_drop_duplicates_for_five_minutes() {
    let mut i = Instance::new("sqs-fifo");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(
        &u,
        "jobs.fifo",
        json!({"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "x"}),
        "MissingRequiredParameterException",
        "MissingParameter",
    );
    refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "x", "MessageGroupId": "g", "DelaySeconds": 3}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    let a1 = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a1", "MessageGroupId": "a"}),
    );
    let dup = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a1", "MessageGroupId": "a"}),
    );
    assert_eq!(dup["MessageId"], a1["MessageId"]);
    assert_eq!(dup["SequenceNumber"], a1["SequenceNumber"]);
    let a2 = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a2", "MessageGroupId": "a", "MessageDeduplicationId": "explicit"}),
    );
    assert!(a2["SequenceNumber"].as_str().unwrap() > a1["SequenceNumber"].as_str().unwrap());
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "b1", "MessageGroupId": "b"}),
    );
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "other", "MessageGroupId": "a", "MessageDeduplicationId": "explicit"}),
    );
    assert_eq!(attributes(&u, &q)["ApproximateNumberOfMessages"], "3");

    // One at a time: a1 first; while it is in flight group a waits and b1 comes.
    let first = receive(&u, &q, json!({}));
    assert_eq!(first[0]["Body"], "a1");
    assert_eq!(first[0]["Attributes"]["MessageGroupId"], "a");
    assert_eq!(
        first[0]["Attributes"]["SequenceNumber"],
        a1["SequenceNumber"]
    );
    let next = receive(&u, &q, json!({"MaxNumberOfMessages": 10}));
    let bodies: Vec<&str> = next.iter().map(|m| m["Body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["b1"]);
    // An expired receipt handle of a FIFO queue is refused.
    advance(&i, 31);
    let m = refused(
        &u,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": first[0]["ReceiptHandle"]}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert!(m.ends_with("The receipt handle has expired."), "{m}");
    // Visible again: a1 comes back before a2, and both come in order in one receive.
    let again = receive(&u, &q, json!({"MaxNumberOfMessages": 10}));
    let bodies: Vec<&str> = again.iter().map(|m| m["Body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["a1", "a2", "b1"]);
    for m in &again {
        ok(
            &u,
            "DeleteMessage",
            json!({"QueueUrl": q, "ReceiptHandle": m["ReceiptHandle"]}),
        );
    }
    // After five minutes the same content is a new message.
    advance(&i, 5 * 60);
    let later = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "a1", "MessageGroupId": "a"}),
    );
    assert_ne!(later["MessageId"], a1["MessageId"]);
    let plain = create(&u, "plain.fifo", json!({"FifoQueue": "true"}));
    let m = refused(
        &u,
        "SendMessage",
        json!({"QueueUrl": plain, "MessageBody": "x", "MessageGroupId": "g"}),
        "InvalidParameterValueException",
        "InvalidParameterValue",
    );
    assert_eq!(
        m,
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    );
}

#[test]
fn delays_and_retention_follow_the_emulator_clock() {
    let mut i = Instance::new("sqs-time");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(
        &u,
        "timed",
        json!({"MessageRetentionPeriod": "60", "DelaySeconds": "10"}),
    );
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "queue delay"}),
    );
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "no delay", "DelaySeconds": 0}),
    );
    assert_eq!(
        attributes(&u, &q)["ApproximateNumberOfMessagesDelayed"],
        "1"
    );
    let got = receive(&u, &q, json!({"MaxNumberOfMessages": 10}));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["Body"], "no delay");
    advance(&i, 10);
    let got = receive(&u, &q, json!({"MaxNumberOfMessages": 10}));
    assert_eq!(got[0]["Body"], "queue delay");
    // Past the retention period the messages are gone.
    advance(&i, 51);
    let a = attributes(&u, &q);
    assert_eq!(
        (
            a["ApproximateNumberOfMessages"].as_str(),
            a["ApproximateNumberOfMessagesNotVisible"].as_str()
        ),
        (Some("0"), Some("0"))
    );
    assert!(receive(&u, &q, json!({})).is_empty());
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "purge me", "DelaySeconds": 0}),
    );
    ok(&u, "PurgeQueue", json!({"QueueUrl": q}));
    refused(
        &u,
        "PurgeQueue",
        json!({"QueueUrl": q}),
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
    );
    assert!(receive(&u, &q, json!({})).is_empty());
}

/// One query-protocol call (a form POSTed to `path`): status and body.
fn query(url: &str, path: &str, form: &str) -> (u16, String) {
    let (status, _, body) = exchange(
        url,
        "POST",
        path,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Authorization", AUTH),
        ],
        form,
    );
    (status, body)
}

#[test]
fn the_query_protocol_reads_forms_and_answers_sqs_xml() {
    let mut i = Instance::new("sqs-query");
    i.start(T0, false);
    let u = i.url().to_owned();
    let (s, body) = query(
        &u,
        "/",
        "Action=CreateQueue&Version=2012-11-05&QueueName=legacy&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40",
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(&format!("<CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><CreateQueueResult><QueueUrl>{u}/000000000000/legacy</QueueUrl></CreateQueueResult><ResponseMetadata><RequestId>")), "{body}");
    // Sent to the queue's URL, without QueueUrl.
    let (s, body) = query(
        &u,
        "/000000000000/legacy",
        "Action=SendMessage&MessageBody=hi%20there&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v",
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<MD5OfMessageBody>"), "{body}");
    let (s, body) = query(
        &u,
        "/000000000000/legacy",
        "Action=ReceiveMessage&AttributeName.1=All&MessageAttributeName.1=All",
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<Body>hi there</Body>"), "{body}");
    assert!(
        body.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        ),
        "{body}"
    );
    assert!(body.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"), "{body}");
    let (s, body) = query(
        &u,
        "/",
        "Action=GetQueueAttributes&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Flegacy&AttributeName.1=VisibilityTimeout",
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<GetQueueAttributesResult><Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute></GetQueueAttributesResult>"), "{body}");
    let (s, body) = query(
        &u,
        "/000000000000/missing",
        "Action=SendMessage&MessageBody=x",
    );
    assert_eq!(s, 400);
    assert!(body.contains("<ErrorResponse><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist.</Message></Error>"), "{body}");
    let (s, body) = query(
        &u,
        "/",
        "Action=DeleteQueue&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Flegacy",
    );
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<DeleteQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata>"), "{body}");
    let (s, body) = query(&u, "/", "Action=ListQueues&Attribute=x&Attribute.1.Name=y");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("<Code>MalformedQueryString</Code>"), "{body}");
}

#[test]
fn long_polls_wait_for_messages_without_a_thread_each() {
    let mut i = Instance::new("sqs-longpoll");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(&u, "poll", json!({}));
    // More waiting polls than the server has threads (two): each holds none.
    let polls: Vec<_> = (0..24)
        .map(|_| {
            let (u, q) = (u.clone(), q.clone());
            std::thread::spawn(move || receive(&u, &q, json!({"WaitTimeSeconds": 20})))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The server still answers at once while they wait.
    assert_eq!(attributes(&u, &q)["ApproximateNumberOfMessages"], "0");
    for b in 0..3 {
        let entries: Vec<Value> = (0..8)
            .map(
                |n| json!({"Id": format!("m{n}"), "MessageBody": format!("batch {b} message {n}")}),
            )
            .collect();
        ok(
            &u,
            "SendMessageBatch",
            json!({"QueueUrl": q, "Entries": entries}),
        );
    }
    let mut got: Vec<String> = polls
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .map(|m| m["Body"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 24, "every poll got its own message");

    // A poll on an empty queue ends when the emulator's clock passes its wait time.
    let (u2, q2) = (u.clone(), q.clone());
    let poll = std::thread::spawn(move || receive(&u2, &q2, json!({"WaitTimeSeconds": 20})));
    std::thread::sleep(Duration::from_millis(200));
    advance(&i, 21);
    i.running.as_ref().unwrap().emulator.wake_pollers(false);
    assert!(poll.join().unwrap().is_empty());
    // A delayed message ends the wait when its delay passes on the clock.
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "late", "DelaySeconds": 5}),
    );
    let (u2, q2) = (u.clone(), q.clone());
    let poll = std::thread::spawn(move || receive(&u2, &q2, json!({"WaitTimeSeconds": 20})));
    std::thread::sleep(Duration::from_millis(200));
    advance(&i, 5);
    let got = poll.join().unwrap();
    assert_eq!(got[0]["Body"], "late");
    // Stopping answers the polls still waiting.
    let (u2, q2) = (u.clone(), q.clone());
    let poll = std::thread::spawn(move || receive(&u2, &q2, json!({"WaitTimeSeconds": 20})));
    std::thread::sleep(Duration::from_millis(200));
    i.stop();
    assert!(poll.join().unwrap().is_empty());
}

#[test]
fn messages_and_their_receipts_survive_a_kill() {
    let mut i = Instance::new("sqs-kill");
    i.start(T0, false);
    let u = i.url().to_owned();
    let q = create(&u, "durable", json!({"VisibilityTimeout": "60"}));
    let fifo = create(&u, "durable.fifo", json!({"FifoQueue": "true"}));
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "in flight"}),
    );
    ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "waiting"}),
    );
    let sent = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": fifo, "MessageBody": "once", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}),
    );
    let got = receive(&u, &q, json!({}));
    let handle = got[0]["ReceiptHandle"].as_str().unwrap().to_owned();
    let first = got[0]["Body"].as_str().unwrap().to_owned();
    i.kill();
    i.start(T0 + 1000, false);
    let u = i.url().to_owned();
    let q = q.replace(&q[..q.find("/000000000000").unwrap()], &u);
    let fifo = fifo.replace(&fifo[..fifo.find("/000000000000").unwrap()], &u);
    let a = attributes(&u, &q);
    assert_eq!(
        (
            a["ApproximateNumberOfMessages"].as_str(),
            a["ApproximateNumberOfMessagesNotVisible"].as_str()
        ),
        (Some("1"), Some("1"))
    );
    assert_eq!(a["VisibilityTimeout"], "60");
    // The receipt handed out before the kill still deletes its message.
    ok(
        &u,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": handle}),
    );
    let rest = receive(&u, &q, json!({}));
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0]["Body"], first.as_str());
    // The deduplication window survives too.
    let dup = ok(
        &u,
        "SendMessage",
        json!({"QueueUrl": fifo, "MessageBody": "twice", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}),
    );
    assert_eq!(dup["MessageId"], sent["MessageId"]);
}
