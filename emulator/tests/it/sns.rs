//! SNS over TCP (query protocol): topics and subscriptions, publishing to SQS subscribers (the
//! envelope, raw delivery, filter policies on attributes and bodies, per-protocol messages),
//! HTTP subscribers (the confirmation handshake, notifications with SNS's headers, retries on
//! the emulator's clock and the record of failures), FIFO topics, SNS's errors, and state that
//! survives a kill.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::sqs::sqs;
use crate::{Instance, exchange};

const T0: i64 = 1_767_225_600_000;
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDSNS/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=00";

/// One SNS call: status and XML body.
pub(crate) fn sns(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let body: String = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                veritrail_emulator::wire::query::encode(k),
                veritrail_emulator::wire::query::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, text) = exchange(
        url,
        "POST",
        "/",
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Authorization", AUTH),
        ],
        &format!("Version=2010-03-31&{body}"),
    );
    (status, text)
}

pub(crate) fn ok(url: &str, form: &[(&str, &str)]) -> String {
    let (status, body) = sns(url, form);
    assert_eq!(status, 200, "{form:?}: {body}");
    body
}

/// A refused call: its status, code and message.
fn refused(url: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let (status, body) = sns(url, form);
    assert!(status >= 400, "{form:?}: {body}");
    assert!(body.contains("<ErrorResponse>"), "{body}");
    (status, between(&body, "Code"), between(&body, "Message"))
}

/// The text of the first `<tag>` element.
pub(crate) fn between(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let end = body[start..].find(&format!("</{tag}>")).unwrap() + start;
    body[start..end]
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub(crate) fn topic(url: &str, name: &str) -> String {
    between(
        &ok(url, &[("Action", "CreateTopic"), ("Name", name)]),
        "TopicArn",
    )
}

fn queue(url: &str, name: &str, attributes: Value) -> (String, String) {
    let r = sqs(
        url,
        "CreateQueue",
        json!({"QueueName": name, "Attributes": attributes}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    (
        r.json["QueueUrl"].as_str().unwrap().to_owned(),
        format!("arn:aws:sqs:us-east-1:000000000000:{name}"),
    )
}

fn drain(url: &str, queue: &str) -> Vec<Value> {
    let r = sqs(
        url,
        "ReceiveMessage",
        json!({"QueueUrl": queue, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"], "AttributeNames": ["All"]}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    let messages = r.json["Messages"].as_array().cloned().unwrap_or_default();
    for m in &messages {
        let d = sqs(
            url,
            "DeleteMessage",
            json!({"QueueUrl": queue, "ReceiptHandle": m["ReceiptHandle"]}),
        );
        assert_eq!(d.status, 200);
    }
    messages
}

fn subscribe(
    url: &str,
    topic: &str,
    protocol: &str,
    endpoint: &str,
    attributes: &[(&str, &str)],
) -> String {
    let mut form = vec![
        ("Action".to_owned(), "Subscribe".to_owned()),
        ("TopicArn".to_owned(), topic.to_owned()),
        ("Protocol".to_owned(), protocol.to_owned()),
        ("Endpoint".to_owned(), endpoint.to_owned()),
    ];
    for (n, (k, v)) in attributes.iter().enumerate() {
        form.push((format!("Attributes.entry.{}.key", n + 1), (*k).to_owned()));
        form.push((format!("Attributes.entry.{}.value", n + 1), (*v).to_owned()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    between(&ok(url, &form), "SubscriptionArn")
}

#[test]
fn topics_are_created_listed_tagged_and_deleted() {
    let mut i = Instance::new("sns-topics");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = topic(&u, "alerts");
    assert_eq!(t, "arn:aws:sns:us-east-1:000000000000:alerts");
    assert_eq!(topic(&u, "alerts"), t);
    ok(
        &u,
        &[
            ("Action", "SetTopicAttributes"),
            ("TopicArn", &t),
            ("AttributeName", "DisplayName"),
            ("AttributeValue", "Alerts"),
        ],
    );
    let attrs = ok(&u, &[("Action", "GetTopicAttributes"), ("TopicArn", &t)]);
    assert!(
        attrs.contains("<entry><key>DisplayName</key><value>Alerts</value></entry>"),
        "{attrs}"
    );
    assert!(
        attrs.contains("<entry><key>SubscriptionsConfirmed</key><value>0</value></entry>"),
        "{attrs}"
    );
    let (s, code, m) = refused(
        &u,
        &[
            ("Action", "CreateTopic"),
            ("Name", "alerts"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "Other"),
        ],
    );
    assert_eq!((s, code.as_str()), (400, "InvalidParameter"));
    assert_eq!(
        m,
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
    );
    let (_, code, m) = refused(&u, &[("Action", "CreateTopic"), ("Name", "bad name")]);
    assert_eq!(
        (code.as_str(), m.as_str()),
        ("InvalidParameter", "Invalid parameter: Topic Name")
    );
    let (s, code, m) = refused(
        &u,
        &[
            ("Action", "GetTopicAttributes"),
            ("TopicArn", "arn:aws:sns:us-east-1:000000000000:none"),
        ],
    );
    assert_eq!(
        (s, code.as_str(), m.as_str()),
        (404, "NotFound", "Topic does not exist")
    );
    let (_, code, m) = refused(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", "not-an-arn"),
            ("Message", "x"),
        ],
    );
    assert_eq!(
        (code.as_str(), m.as_str()),
        ("InvalidParameter", "Invalid parameter: TopicArn")
    );
    ok(
        &u,
        &[
            ("Action", "TagResource"),
            ("ResourceArn", &t),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "audit"),
        ],
    );
    let tags = ok(
        &u,
        &[("Action", "ListTagsForResource"), ("ResourceArn", &t)],
    );
    assert!(
        tags.contains("<Tags><member><Key>team</Key><Value>audit</Value></member></Tags>"),
        "{tags}"
    );
    for n in 0..105 {
        topic(&u, &format!("t{n:03}"));
    }
    let first = ok(&u, &[("Action", "ListTopics")]);
    assert_eq!(first.matches("<TopicArn>").count(), 100);
    let token = between(&first, "NextToken");
    let second = ok(&u, &[("Action", "ListTopics"), ("NextToken", &token)]);
    assert_eq!(second.matches("<TopicArn>").count(), 6);
    assert!(!second.contains("<NextToken>"));
    ok(&u, &[("Action", "DeleteTopic"), ("TopicArn", &t)]);
    refused(&u, &[("Action", "GetTopicAttributes"), ("TopicArn", &t)]);
}

#[test]
fn published_messages_reach_sqs_subscribers_that_their_filters_let_through() {
    let mut i = Instance::new("sns-sqs");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = topic(&u, "orders");
    let (all_url, all_arn) = queue(&u, "all", json!({}));
    let (big_url, big_arn) = queue(&u, "big", json!({}));
    let (body_url, body_arn) = queue(&u, "by-body", json!({}));
    let sub_all = subscribe(&u, &t, "sqs", &all_arn, &[]);
    assert!(sub_all.starts_with(&format!("{t}:")), "{sub_all}");
    subscribe(
        &u,
        &t,
        "sqs",
        &big_arn,
        &[
            ("RawMessageDelivery", "true"),
            (
                "FilterPolicy",
                r#"{"amount": [{"numeric": [">", 100]}], "kind": ["order"]}"#,
            ),
        ],
    );
    subscribe(
        &u,
        &t,
        "sqs",
        &body_arn,
        &[
            ("FilterPolicyScope", "MessageBody"),
            ("FilterPolicy", r#"{"status": [{"anything-but": "ok"}]}"#),
        ],
    );
    // Subscribing again is the same subscription; with other attributes it is refused.
    assert_eq!(subscribe(&u, &t, "sqs", &all_arn, &[]), sub_all);
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &t),
            ("Protocol", "sqs"),
            ("Endpoint", &all_arn),
            ("Attributes.entry.1.key", "RawMessageDelivery"),
            ("Attributes.entry.1.value", "true"),
        ],
    );
    assert_eq!(
        m,
        "Invalid parameter: Attributes Reason: Subscription already exists with different attributes"
    );

    let publish = |message: &str, attrs: &[(&str, &str, &str)]| {
        let mut form = vec![
            ("Action".to_owned(), "Publish".to_owned()),
            ("TopicArn".to_owned(), t.clone()),
            ("Message".to_owned(), message.to_owned()),
            ("Subject".to_owned(), "Order".to_owned()),
        ];
        for (n, (name, t, v)) in attrs.iter().enumerate() {
            let p = format!("MessageAttributes.entry.{}", n + 1);
            form.push((format!("{p}.Name"), (*name).to_owned()));
            form.push((format!("{p}.Value.DataType"), (*t).to_owned()));
            form.push((format!("{p}.Value.StringValue"), (*v).to_owned()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        between(&ok(&u, &form), "MessageId")
    };
    let big_id = publish(
        r#"{"status": "late"}"#,
        &[("amount", "Number", "250"), ("kind", "String", "order")],
    );
    publish(
        r#"{"status": "ok"}"#,
        &[("amount", "Number", "50"), ("kind", "String", "order")],
    );
    publish(
        "not json",
        &[("amount", "String", "250"), ("kind", "String", "order")],
    );

    let all = drain(&u, &all_url);
    assert_eq!(all.len(), 3);
    let envelope: Value = serde_json::from_str(all[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], big_id.as_str());
    assert_eq!(envelope["TopicArn"], t.as_str());
    assert_eq!(envelope["Subject"], "Order");
    assert_eq!(envelope["Message"], r#"{"status": "late"}"#);
    assert_eq!(
        envelope["MessageAttributes"]["amount"],
        json!({"Type": "Number", "Value": "250"})
    );
    assert!(
        envelope["UnsubscribeURL"]
            .as_str()
            .unwrap()
            .contains("Action=Unsubscribe")
    );
    assert_eq!(all[0]["Attributes"]["SenderId"], "AIDAIT2UOQQY3AUEKVGXU");
    // Raw delivery, filtered on attributes: only the big order; a String "250" is not a number.
    let big = drain(&u, &big_url);
    assert_eq!(big.len(), 1);
    assert_eq!(big[0]["Body"], r#"{"status": "late"}"#);
    assert_eq!(
        big[0]["MessageAttributes"]["amount"],
        json!({"DataType": "Number", "StringValue": "250"})
    );
    // Filtered on the body: not "ok", and a body that is not JSON never passes.
    let by_body = drain(&u, &body_url);
    assert_eq!(by_body.len(), 1);
    let e: Value = serde_json::from_str(by_body[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(e["Message"], r#"{"status": "late"}"#);

    // One message per protocol.
    ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("MessageStructure", "json"),
            ("Message", r#"{"default": "for all", "sqs": "for queues"}"#),
        ],
    );
    let e: Value = serde_json::from_str(drain(&u, &all_url)[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(e["Message"], "for queues");

    // SNS's refusals.
    for (form, code, message) in [
        (
            vec![("Message", "")],
            "InvalidParameter",
            "Invalid parameter: Empty message",
        ),
        (
            vec![("Message", "x"), ("MessageStructure", "json")],
            "InvalidParameter",
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        ),
        (
            vec![("Message", r#"{"sqs": "x"}"#), ("MessageStructure", "json")],
            "InvalidParameter",
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
        (
            vec![("Message", "x"), ("Subject", "two\nlines")],
            "InvalidParameter",
            "Invalid parameter: Subject",
        ),
        (
            vec![
                ("Message", "x"),
                ("MessageAttributes.entry.1.Name", "a"),
                ("MessageAttributes.entry.1.Value.DataType", "String"),
            ],
            "ParameterValueInvalid",
            "The message attribute 'a' must contain non-empty message attribute value for message attribute type 'String'.",
        ),
        (
            vec![("Message", "x"), ("MessageDeduplicationId", "d")],
            "InvalidParameter",
            "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        ),
    ] {
        let mut f = vec![("Action", "Publish"), ("TopicArn", t.as_str())];
        f.extend(form);
        let (_, c, m) = refused(&u, &f);
        assert_eq!((c.as_str(), m.as_str()), (code, message));
    }
    let long = "x".repeat(256 * 1024 + 1);
    let (_, c, m) = refused(
        &u,
        &[("Action", "Publish"), ("TopicArn", &t), ("Message", &long)],
    );
    assert_eq!(
        (c.as_str(), m.as_str()),
        ("InvalidParameter", "Invalid parameter: Message too long")
    );
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &t),
            ("Protocol", "sqs"),
            ("Endpoint", &big_arn),
            ("Attributes.entry.1.key", "FilterPolicy"),
            (
                "Attributes.entry.1.value",
                r#"{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}"#,
            ),
        ],
    );
    assert_eq!(
        m,
        "Invalid parameter: Attributes Reason: FilterPolicy: Filter policy can not have more than 5 keys"
    );
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &t),
            ("Protocol", "carrier-pigeon"),
            ("Endpoint", "x"),
        ],
    );
    assert_eq!(
        m,
        "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"
    );
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &t),
            ("Protocol", "sqs"),
            ("Endpoint", "https://example.invalid"),
        ],
    );
    assert_eq!(m, "Invalid parameter: SQS endpoint ARN");

    // A batch: each entry filtered and delivered, a bad entry reported apart.
    let batch = ok(
        &u,
        &[
            ("Action", "PublishBatch"),
            ("TopicArn", &t),
            ("PublishBatchRequestEntries.member.1.Id", "one"),
            ("PublishBatchRequestEntries.member.1.Message", "first"),
            ("PublishBatchRequestEntries.member.2.Id", "two"),
            ("PublishBatchRequestEntries.member.2.Message", ""),
        ],
    );
    assert!(
        batch.contains("<Successful><member><Id>one</Id><MessageId>"),
        "{batch}"
    );
    assert!(batch.contains("<Failed><member><Id>two</Id><Code>InvalidParameter</Code><Message>Invalid parameter: Empty message</Message><SenderFault>true</SenderFault></member></Failed>"), "{batch}");
    assert_eq!(drain(&u, &all_url).len(), 1);
    let (_, c, _) = refused(
        &u,
        &[
            ("Action", "PublishBatch"),
            ("TopicArn", &t),
            ("PublishBatchRequestEntries.member.1.Id", "a"),
            ("PublishBatchRequestEntries.member.1.Message", "x"),
            ("PublishBatchRequestEntries.member.2.Id", "a"),
            ("PublishBatchRequestEntries.member.2.Message", "y"),
        ],
    );
    assert_eq!(c, "BatchEntryIdsNotDistinct");

    // A queue deleted under its subscription: the failure is recorded.
    let r = sqs(&u, "DeleteQueue", json!({"QueueUrl": all_url}));
    assert_eq!(r.status, 200);
    let lost = publish("lost", &[]);
    let failures = i
        .running
        .as_ref()
        .unwrap()
        .emulator
        .sns()
        .failed_deliveries()
        .unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (
            failures[0].message_id.as_str(),
            failures[0].endpoint.as_str()
        ),
        (lost.as_str(), all_arn.as_str())
    );
    assert_eq!(failures[0].reason, "The specified queue does not exist.");
    // Unsubscribed: no more deliveries.
    ok(
        &u,
        &[("Action", "Unsubscribe"), ("SubscriptionArn", &sub_all)],
    );
    let (s, code, _) = refused(
        &u,
        &[
            ("Action", "GetSubscriptionAttributes"),
            ("SubscriptionArn", &sub_all),
        ],
    );
    assert_eq!((s, code.as_str()), (404, "NotFound"));
}

#[test]
fn fifo_topics_deliver_once_in_order_to_fifo_queues() {
    let mut i = Instance::new("sns-fifo");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = between(
        &ok(
            &u,
            &[
                ("Action", "CreateTopic"),
                ("Name", "events.fifo"),
                ("Attributes.entry.1.key", "FifoTopic"),
                ("Attributes.entry.1.value", "true"),
                ("Attributes.entry.2.key", "ContentBasedDeduplication"),
                ("Attributes.entry.2.value", "true"),
            ],
        ),
        "TopicArn",
    );
    let (q_url, q_arn) = queue(&u, "events.fifo", json!({"FifoQueue": "true"}));
    let std_topic = topic(&u, "plain");
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &std_topic),
            ("Protocol", "sqs"),
            ("Endpoint", &q_arn),
        ],
    );
    assert!(
        m.ends_with("FIFO SQS Queues can not be subscribed to standard SNS topics"),
        "{m}"
    );
    subscribe(&u, &t, "sqs", &q_arn, &[("RawMessageDelivery", "true")]);
    let (_, _, m) = refused(
        &u,
        &[("Action", "Publish"), ("TopicArn", &t), ("Message", "x")],
    );
    assert_eq!(
        m,
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    );
    let first = ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "one"),
            ("MessageGroupId", "g"),
        ],
    );
    let again = ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "one"),
            ("MessageGroupId", "g"),
        ],
    );
    assert_eq!(between(&first, "MessageId"), between(&again, "MessageId"));
    assert_eq!(
        between(&first, "SequenceNumber"),
        between(&again, "SequenceNumber")
    );
    let second = ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "two"),
            ("MessageGroupId", "g"),
        ],
    );
    assert!(between(&second, "SequenceNumber") > between(&first, "SequenceNumber"));
    let got: Vec<String> = drain(&u, &q_url)
        .iter()
        .map(|m| m["Body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ["one", "two"]);
}

/// A request an endpoint got: its headers (lower-case names) and body.
type Seen = (Vec<(String, String)>, String);

/// A tiny HTTP endpoint on port 0: it keeps each request (headers, body) and answers with the
/// status the test sets.
struct Endpoint {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<Mutex<u16>>,
}

impl Endpoint {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(200u16));
        let (s, st) = (Arc::clone(&seen), Arc::clone(&status));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(": ") {
                        headers.push((k.to_ascii_lowercase(), v.to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                s.lock()
                    .unwrap()
                    .push((headers, String::from_utf8(body).unwrap()));
                let code = *st.lock().unwrap();
                let _ = conn.write_all(
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Self { url, seen, status }
    }

    /// Waits (up to 20 s of real time) until `n` requests came.
    fn wait_for(&self, n: usize) -> Vec<Seen> {
        for _ in 0..400 {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the endpoint got {} requests, not {n}",
            self.seen.lock().unwrap().len()
        );
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn http_subscribers_confirm_then_receive_notifications() {
    let mut i = Instance::new("sns-http");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = topic(&u, "hooks");
    let hook = Endpoint::start();
    let (_, _, m) = refused(
        &u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &t),
            ("Protocol", "http"),
            ("Endpoint", "https://x"),
        ],
    );
    assert_eq!(
        m,
        "Invalid parameter: Endpoint must match the specified protocol"
    );
    assert_eq!(
        subscribe(&u, &t, "http", &hook.url, &[]),
        "pending confirmation"
    );
    let seen = hook.wait_for(1);
    let (h, body) = &seen[0];
    assert_eq!(
        header(h, "x-amz-sns-message-type"),
        Some("SubscriptionConfirmation")
    );
    assert_eq!(header(h, "x-amz-sns-topic-arn"), Some(t.as_str()));
    assert_eq!(
        header(h, "user-agent"),
        Some("Amazon Simple Notification Service Agent")
    );
    let c: Value = serde_json::from_str(body).unwrap();
    assert_eq!(c["Type"], "SubscriptionConfirmation");
    assert_eq!(c["TopicArn"], t.as_str());
    // Not confirmed yet: nothing is sent to it.
    let listed = ok(
        &u,
        &[("Action", "ListSubscriptionsByTopic"), ("TopicArn", &t)],
    );
    assert!(
        listed.contains("<SubscriptionArn>PendingConfirmation</SubscriptionArn>"),
        "{listed}"
    );
    ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "early"),
        ],
    );
    let (_, code, m) = refused(
        &u,
        &[
            ("Action", "ConfirmSubscription"),
            ("TopicArn", &t),
            ("Token", "wrong"),
        ],
    );
    assert_eq!(
        (code.as_str(), m.as_str()),
        ("InvalidParameter", "Invalid parameter: Token")
    );
    // The endpoint follows SubscribeURL as it is, unsigned.
    let link = c["SubscribeURL"].as_str().unwrap();
    let path = &link[link.find("/?").unwrap()..];
    let (status, _, answer) = exchange(&u, "GET", path, &[], "");
    assert_eq!(status, 200, "{answer}");
    let sub = between(&answer, "SubscriptionArn");
    assert!(sub.starts_with(&format!("{t}:")), "{answer}");
    ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "hello"),
            ("Subject", "Hi"),
            ("MessageAttributes.entry.1.Name", "k"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "v"),
        ],
    );
    let seen = hook.wait_for(2);
    assert_eq!(
        seen.len(),
        2,
        "the message published before the confirmation is not sent"
    );
    let (h, body) = &seen[1];
    assert_eq!(header(h, "x-amz-sns-message-type"), Some("Notification"));
    assert_eq!(header(h, "x-amz-sns-subscription-arn"), Some(sub.as_str()));
    assert_eq!(header(h, "content-type"), Some("text/plain; charset=UTF-8"));
    let n: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (n["Message"].as_str(), n["Subject"].as_str()),
        (Some("hello"), Some("Hi"))
    );
    assert_eq!(header(h, "x-amz-sns-message-id"), n["MessageId"].as_str());
    assert_eq!(n["MessageAttributes"]["k"]["Value"], "v");
    // Unsubscribing through the link works the same way.
    let link = n["UnsubscribeURL"].as_str().unwrap();
    let (status, _, _) = exchange(&u, "GET", &link[link.find("/?").unwrap()..], &[], "");
    assert_eq!(status, 200);
    assert!(!ok(&u, &[("Action", "ListSubscriptions")]).contains(&sub));
}

#[test]
fn failing_http_deliveries_are_retried_on_the_clock_then_recorded_and_dead_lettered() {
    let mut i = Instance::new("sns-http-fail");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = topic(&u, "flaky");
    let (dlq_url, dlq_arn) = queue(&u, "undelivered", json!({}));
    let hook = Endpoint::start();
    subscribe(
        &u,
        &t,
        "http",
        &hook.url,
        &[(
            "RedrivePolicy",
            &json!({"deadLetterTargetArn": dlq_arn}).to_string(),
        )],
    );
    let c: Value = serde_json::from_str(&hook.wait_for(1)[0].1).unwrap();
    ok(
        &u,
        &[
            ("Action", "ConfirmSubscription"),
            ("TopicArn", &t),
            ("Token", c["Token"].as_str().unwrap()),
        ],
    );
    *hook.status.lock().unwrap() = 500;
    let id = between(
        &ok(
            &u,
            &[
                ("Action", "Publish"),
                ("TopicArn", &t),
                ("Message", "retry me"),
            ],
        ),
        "MessageId",
    );
    hook.wait_for(2);
    // SNS's default policy: three retries, 20 seconds apart on the emulator's clock.
    let clock = || i.running.as_ref().unwrap().emulator.clock();
    for n in 3..=5 {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            hook.seen.lock().unwrap().len(),
            n - 1,
            "no retry before its time"
        );
        clock().advance(20_000).unwrap();
        hook.wait_for(n);
    }
    let emulator = &i.running.as_ref().unwrap().emulator;
    let mut failures = Vec::new();
    for _ in 0..100 {
        failures = emulator.sns().failed_deliveries().unwrap();
        if !failures.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].message_id.as_str(), failures[0].attempts),
        (id.as_str(), 4)
    );
    assert_eq!(failures[0].reason, "the endpoint answered 500");
    let dead = drain(&u, &dlq_url);
    let e: Value = serde_json::from_str(dead[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(e["Message"], "retry me");
    // An endpoint nobody listens on fails the same way; a 4xx is not retried.
    *hook.status.lock().unwrap() = 404;
    ok(
        &u,
        &[("Action", "Publish"), ("TopicArn", &t), ("Message", "gone")],
    );
    hook.wait_for(6);
    for _ in 0..100 {
        if emulator.sns().failed_deliveries().unwrap().len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let failures = emulator.sns().failed_deliveries().unwrap();
    assert_eq!(
        (failures[1].attempts, failures[1].reason.as_str()),
        (1, "the endpoint answered 404")
    );
}

#[test]
fn topics_subscriptions_and_waiting_deliveries_survive_a_kill() {
    let mut i = Instance::new("sns-kill");
    i.start(T0, false);
    let u = i.url().to_owned();
    let t = topic(&u, "kept");
    let (_, q_arn) = queue(&u, "kept-q", json!({}));
    subscribe(
        &u,
        &t,
        "sqs",
        &q_arn,
        &[("FilterPolicy", r#"{"k": ["v"]}"#)],
    );
    // An endpoint that is not there yet: the confirmation waits for its retry.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    subscribe(&u, &t, "http", &format!("http://{addr}/late"), &[]);
    std::thread::sleep(Duration::from_millis(500));
    i.kill();
    i.start(T0 + 1000, false);
    let u = i.url().to_owned();
    let listed = ok(
        &u,
        &[("Action", "ListSubscriptionsByTopic"), ("TopicArn", &t)],
    );
    assert_eq!(listed.matches("<member>").count(), 2, "{listed}");
    // The filter policy came back with its subscription.
    ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "filtered out"),
        ],
    );
    ok(
        &u,
        &[
            ("Action", "Publish"),
            ("TopicArn", &t),
            ("Message", "in"),
            ("MessageAttributes.entry.1.Name", "k"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "v"),
        ],
    );
    let q = format!("{u}/000000000000/kept-q");
    let got = drain(&u, &q);
    assert_eq!(got.len(), 1);
    // The endpoint comes up: the waiting confirmation is retried there on the clock.
    let listener = TcpListener::bind(addr).unwrap();
    i.running
        .as_ref()
        .unwrap()
        .emulator
        .clock()
        .advance(20_000)
        .unwrap();
    listener.set_nonblocking(false).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut head = [0u8; 512];
    let n = conn.read(&mut head).unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n])
            .contains("x-amz-sns-message-type: SubscriptionConfirmation")
    );
}
