//! EventBridge: rules, buses, targets, tags, PutEvents and TestEventPattern answered as the real
//! service answers (its messages as LocalStack's tests recorded them against AWS), the CloudTrail
//! record of every call put on the default bus, and delivery to API destinations over HTTP:
//! input transformation, retries on the emulator's clock, failures recorded, schedules, and a
//! queue that survives a kill.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use veritrail_core::time::{ManualClock, UtcMillis};

use crate::{Instance, Reply, request, runtime};

const EVENTS: &str = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/events/aws4_request, SignedHeaders=host, Signature=00";
const CT: &str = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00";
const S3: &str = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;

/// One EventBridge call.
pub fn events(url: &str, op: &str, body: Value) -> Reply {
    let target = format!("AWSEvents.{op}");
    request(
        url,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", EVENTS),
        ],
        &body.to_string(),
    )
}

fn ok(url: &str, op: &str, body: Value) -> Value {
    let r = events(url, op, body);
    assert_eq!(r.status, 200, "{op}: {}", r.json);
    r.json
}

fn refused(url: &str, op: &str, body: Value, code: &str, message: &str) {
    let r = events(url, op, body);
    assert_eq!((r.status, r.error_type()), (400, code), "{op}: {}", r.json);
    assert_eq!(r.json["message"], message, "{op}");
}

/// A request an HTTP endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP endpoint on port 0 that records what it receives and answers with `status`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<AtomicU16>,
}

impl Endpoint {
    pub fn start(rt: &tokio::runtime::Runtime) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (r, s) = (Arc::clone(&received), Arc::clone(&status));
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (r, s) = (Arc::clone(&r), Arc::clone(&s));
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                r.lock().unwrap().push(Received {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
            }
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            received,
            status,
        }
    }

    pub fn calls(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn on(&self, path: &str) -> Vec<Received> {
        self.calls()
            .into_iter()
            .filter(|c| c.uri.starts_with(path))
            .collect()
    }
}

/// Polls `done` for up to 20 s.
pub fn wait(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// An API-key connection and an API destination to `endpoint`; returns the destination's ARN.
pub fn destination(url: &str, name: &str, endpoint: &str) -> String {
    let connection = format!("{name}-connection");
    let arn = match events(url, "DescribeConnection", json!({"Name": connection})) {
        r if r.status == 200 => r.json["ConnectionArn"].as_str().unwrap().to_owned(),
        _ => ok(
            url,
            "CreateConnection",
            json!({
                "Name": connection,
                "AuthorizationType": "API_KEY",
                "AuthParameters": {
                    "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret-api-key-value"},
                    "InvocationHttpParameters": {"HeaderParameters": [
                        {"Key": "x-team", "Value": "audit", "IsValueSecret": false}
                    ]}
                }
            }),
        )["ConnectionArn"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    ok(
        url,
        "CreateApiDestination",
        json!({"Name": name, "ConnectionArn": arn, "InvocationEndpoint": endpoint, "HttpMethod": "POST"}),
    )["ApiDestinationArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

const ROLE: &str = "arn:aws:iam::000000000000:role/events-invoke";

#[test]
fn rules_buses_targets_and_tags_answer_as_eventbridge_does() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.as_str();
    let pattern = json!({"source": ["shop"]}).to_string();

    refused(
        u,
        "PutRule",
        json!({"Name": "Invalid Name With Spaces!", "EventPattern": pattern}),
        "ValidationException",
        r"1 validation error detected: Value 'Invalid Name With Spaces!' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+",
    );
    refused(
        u,
        "PutRule",
        json!({"Name": "r"}),
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.",
    );
    let bad = events(
        u,
        "PutRule",
        json!({"Name": "r", "EventPattern": "{\"source\": \"shop\"}"}),
    );
    assert_eq!(bad.error_type(), "InvalidEventPatternException");
    assert!(
        bad.json["message"].as_str().unwrap().starts_with(
            "Event pattern is not valid. Reason: \"source\" must be an object or an array"
        ),
        "{}",
        bad.json
    );
    for schedule in ["rate(1 minutes)", "rate(10 seconds)", "cron(0 1 * * * *)"] {
        refused(
            u,
            "PutRule",
            json!({"Name": "r", "ScheduleExpression": schedule}),
            "ValidationException",
            "Parameter ScheduleExpression is not valid.",
        );
    }
    refused(
        u,
        "PutRule",
        json!({"Name": "r", "EventPattern": pattern, "EventBusName": "nope"}),
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    );

    // Buses.
    let bus = ok(
        u,
        "CreateEventBus",
        json!({"Name": "orders", "Description": "shop orders", "Tags": [{"Key": "team", "Value": "shop"}]}),
    );
    assert_eq!(
        bus,
        json!({"EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/orders", "Description": "shop orders"})
    );
    refused(
        u,
        "CreateEventBus",
        json!({"Name": "orders"}),
        "ResourceAlreadyExistsException",
        "Event bus orders already exists.",
    );
    refused(
        u,
        "CreateEventBus",
        json!({"Name": "default"}),
        "ResourceAlreadyExistsException",
        "Event bus default already exists.",
    );
    refused(
        u,
        "DeleteEventBus",
        json!({"Name": "default"}),
        "ValidationException",
        "Cannot delete event bus default.",
    );
    refused(
        u,
        "DescribeEventBus",
        json!({"Name": "nope"}),
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
    );
    let listed = ok(u, "ListEventBuses", json!({}));
    let names: Vec<&str> = listed["EventBuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "orders"]);
    let by_arn = ok(
        u,
        "DescribeEventBus",
        json!({"Name": "arn:aws:events:us-east-1:000000000000:event-bus/orders"}),
    );
    assert_eq!(by_arn["Description"], "shop orders");
    refused(
        u,
        "PutRule",
        json!({"Name": "r", "ScheduleExpression": "rate(5 minutes)", "EventBusName": "orders"}),
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    );

    // Rules: ARNs, paging, prefixes.
    for i in 0..5 {
        let arn = ok(
            u,
            "PutRule",
            json!({"Name": format!("order-{i}"), "EventPattern": pattern, "EventBusName": "orders"}),
        );
        assert_eq!(
            arn["RuleArn"],
            format!("arn:aws:events:us-east-1:000000000000:rule/orders/order-{i}")
        );
    }
    let arn = ok(
        u,
        "PutRule",
        json!({"Name": "stop", "EventPattern": pattern, "Description": "d", "State": "DISABLED"}),
    );
    assert_eq!(
        arn["RuleArn"],
        "arn:aws:events:us-east-1:000000000000:rule/stop"
    );
    assert_eq!(
        ok(u, "DescribeRule", json!({"Name": "stop"})),
        json!({"Name": "stop", "Arn": "arn:aws:events:us-east-1:000000000000:rule/stop",
               "State": "DISABLED", "EventBusName": "default", "EventPattern": pattern,
               "Description": "d", "CreatedBy": "000000000000"})
    );
    refused(
        u,
        "DescribeRule",
        json!({"Name": "nope"}),
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    );
    ok(u, "EnableRule", json!({"Name": "stop"}));
    assert_eq!(
        ok(u, "DescribeRule", json!({"Name": "stop"}))["State"],
        "ENABLED"
    );
    let first = ok(
        u,
        "ListRules",
        json!({"EventBusName": "orders", "NamePrefix": "order-", "Limit": 2}),
    );
    assert_eq!(first["Rules"].as_array().unwrap().len(), 2);
    let mut names = vec![];
    let mut token = first["NextToken"].clone();
    names.extend(
        first["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].as_str().unwrap().to_owned()),
    );
    while let Some(t) = token.as_str() {
        let page = ok(
            u,
            "ListRules",
            json!({"EventBusName": "orders", "NamePrefix": "order-", "Limit": 2, "NextToken": t}),
        );
        names.extend(
            page["Rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Name"].as_str().unwrap().to_owned()),
        );
        token = page["NextToken"].clone();
    }
    assert_eq!(
        names,
        ["order-0", "order-1", "order-2", "order-3", "order-4"]
    );
    refused(
        u,
        "ListRules",
        json!({"NextToken": "not-a-token"}),
        "ValidationException",
        "The NextToken is not valid.",
    );

    // Targets.
    let queue = "arn:aws:sqs:us-east-1:000000000000:orders";
    refused(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders", "Targets": [{"Id": "!@#$@!#$", "Arn": queue}]}),
        "ValidationException",
        r"1 validation error detected: Value '!@#$@!#$' at 'targets.1.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+",
    );
    refused(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders",
               "Targets": [{"Id": "t", "Arn": queue, "Input": "{}", "InputPath": "$.detail"}]}),
        "ValidationException",
        "Only one of Input, InputPath, or InputTransformer must be provided for target t.",
    );
    refused(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders",
               "Targets": [{"Id": "t", "Arn": queue, "InputTransformer": {
                   "InputPathsMap": {"a": "$.detail.a"}, "InputTemplate": "\"<a> and <notdefinedkey>\""}}]}),
        "ValidationException",
        "InputTemplate for target t contains invalid placeholder notdefinedkey.",
    );
    refused(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders",
               "Targets": [{"Id": "t", "Arn": queue, "RetryPolicy": {"MaximumRetryAttempts": 186}}]}),
        "ValidationException",
        "1 validation error detected: Value '186' at 'targets.1.member.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185",
    );
    refused(
        u,
        "PutTargets",
        json!({"Rule": "nope", "Targets": [{"Id": "t", "Arn": queue}]}),
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    );
    let put = ok(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders", "Targets": [
            {"Id": "q", "Arn": queue},
            {"Id": "bad", "Arn": "not-an-arn"},
            {"Id": "fifo", "Arn": "arn:aws:sqs:us-east-1:000000000000:orders.fifo"},
            {"Id": "http", "Arn": "arn:aws:events:us-east-1:000000000000:api-destination/d/0000"}
        ]}),
    );
    assert_eq!(put["FailedEntryCount"], 3, "{put}");
    let failed: Vec<(&str, &str)> = put["FailedEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["ErrorCode"], "ValidationException");
            (
                f["TargetId"].as_str().unwrap(),
                f["ErrorMessage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("bad", "Provided Arn is not in correct format."),
            (
                "fifo",
                "Parameter(s) SqsParameters must be specified for target: fifo."
            ),
            (
                "http",
                "Parameter(s) RoleArn must be specified for target: http."
            ),
        ]
    );
    let more: Vec<Value> = (0..5)
        .map(|i| json!({"Id": format!("extra-{i}"), "Arn": queue}))
        .collect();
    refused(
        u,
        "PutTargets",
        json!({"Rule": "order-0", "EventBusName": "orders", "Targets": more}),
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
    );
    ok(
        u,
        "PutTargets",
        json!({"Rule": "order-1", "EventBusName": "orders", "Targets": [
            {"Id": "q", "Arn": queue, "InputPath": "$.detail"}]}),
    );
    // Putting a target with the same id replaces it.
    ok(
        u,
        "PutTargets",
        json!({"Rule": "order-1", "EventBusName": "orders", "Targets": [
            {"Id": "q", "Arn": queue, "InputPath": "$.detail.id"}]}),
    );
    assert_eq!(
        ok(
            u,
            "ListTargetsByRule",
            json!({"Rule": "order-1", "EventBusName": "orders"})
        ),
        json!({"Targets": [{"Id": "q", "Arn": queue, "InputPath": "$.detail.id"}]})
    );
    assert_eq!(
        ok(
            u,
            "ListRuleNamesByTarget",
            json!({"TargetArn": queue, "EventBusName": "orders"})
        ),
        json!({"RuleNames": ["order-0", "order-1"]})
    );
    refused(
        u,
        "DeleteRule",
        json!({"Name": "order-0", "EventBusName": "orders"}),
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    );
    ok(
        u,
        "RemoveTargets",
        json!({"Rule": "order-0", "EventBusName": "orders", "Ids": ["q"]}),
    );
    ok(
        u,
        "DeleteRule",
        json!({"Name": "order-0", "EventBusName": "orders"}),
    );
    ok(
        u,
        "DeleteRule",
        json!({"Name": "order-1", "EventBusName": "orders", "Force": true}),
    );
    // Deleting a rule that is not there succeeds, as on AWS.
    ok(
        u,
        "DeleteRule",
        json!({"Name": "order-0", "EventBusName": "orders"}),
    );

    // Tags on rules and buses.
    let rule_arn = "arn:aws:events:us-east-1:000000000000:rule/orders/order-2";
    ok(
        u,
        "TagResource",
        json!({"ResourceARN": rule_arn, "Tags": [{"Key": "tag1", "Value": "value1"}, {"Key": "tag2", "Value": "value2"}]}),
    );
    ok(
        u,
        "UntagResource",
        json!({"ResourceARN": rule_arn, "TagKeys": ["tag2"]}),
    );
    assert_eq!(
        ok(u, "ListTagsForResource", json!({"ResourceARN": rule_arn})),
        json!({"Tags": [{"Key": "tag1", "Value": "value1"}]})
    );
    assert_eq!(
        ok(
            u,
            "ListTagsForResource",
            json!({"ResourceARN": "arn:aws:events:us-east-1:000000000000:event-bus/orders"})
        ),
        json!({"Tags": [{"Key": "team", "Value": "shop"}]})
    );
    refused(
        u,
        "TagResource",
        json!({"ResourceARN": "arn:aws:events:us-east-1:000000000000:rule/nope", "Tags": []}),
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    );
    // Deleting a bus deletes its rules.
    ok(u, "DeleteEventBus", json!({"Name": "orders"}));
    refused(
        u,
        "DeleteEventBus",
        json!({"Name": "orders"}),
        "ResourceNotFoundException",
        "Event bus orders does not exist.",
    );
    refused(
        u,
        "ListRules",
        json!({"EventBusName": "orders"}),
        "ResourceNotFoundException",
        "Event bus orders does not exist.",
    );
    let r = events(u, "PutRule", json!({"Name": 5}));
    assert_eq!(r.error_type(), "SerializationException");
}

#[test]
fn put_events_answers_each_entry_and_test_event_pattern_matches() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.as_str();
    let answer = ok(
        u,
        "PutEvents",
        json!({"Entries": [
            {"Source": "shop", "DetailType": "order", "Detail": "{\"id\": 1}"},
            {"DetailType": "order", "Detail": "{}"},
            {"Source": "shop", "Detail": "{}"},
            {"Source": "shop", "DetailType": "order"},
            {"Source": "shop", "DetailType": "order", "Detail": "[1]"},
            {"Source": "shop", "DetailType": "order", "Detail": "{not json"},
            {"Source": "aws.ec2", "DetailType": "order", "Detail": "{}"},
            {"Source": "shop", "DetailType": "order", "Detail": "{}", "EventBusName": "no-such-bus"}
        ]}),
    );
    assert_eq!(answer["FailedEntryCount"], 6, "{answer}");
    let entries = answer["Entries"].as_array().unwrap();
    let id = entries[0]["EventId"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let errors: Vec<(&str, &str)> = entries[1..7]
        .iter()
        .map(|e| {
            (
                e["ErrorCode"].as_str().unwrap(),
                e["ErrorMessage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                "InvalidArgument",
                "Parameter Source is not valid. Reason: Source is a required argument."
            ),
            (
                "InvalidArgument",
                "Parameter DetailType is not valid. Reason: DetailType is a required argument."
            ),
            (
                "InvalidArgument",
                "Parameter Detail is not valid. Reason: Detail is a required argument."
            ),
            ("MalformedDetail", "Detail is malformed."),
            ("MalformedDetail", "Detail is malformed."),
            (
                "NotAuthorizedForSourceException",
                "Not authorized for the source."
            ),
        ]
    );
    // An entry for a bus that does not exist is accepted and goes nowhere, as on AWS.
    assert!(entries[7]["EventId"].is_string());
    let big = "x".repeat(256 * 1024);
    refused(
        u,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "order", "Detail": format!("{{\"big\": \"{big}\"}}")}]}),
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    );
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"Source": "s", "DetailType": "d", "Detail": "{}"}))
        .collect();
    let r = events(u, "PutEvents", json!({ "Entries": eleven }));
    assert_eq!(r.error_type(), "ValidationException");
    let m = r.json["message"].as_str().unwrap();
    assert!(
        m.starts_with("1 validation error detected: Value '[PutEventsRequestEntry(time=null, source=s, resources=null, detailType=d, detail={}, eventBusName=null")
            && m.ends_with("]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"),
        "{m}"
    );
    // Malformed JSON is the protocol's SerializationException.
    let (status, _, body) = crate::exchange(
        u,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "AWSEvents.PutEvents"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", EVENTS),
        ],
        "{\"Entries\": [",
    );
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");

    // TestEventPattern on the user guide's examples (as veritrail-rules holds them).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/rules/tests/data/eventbridge-user-guide.json");
    let guide: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut tried = 0;
    for case in guide["cases"].as_array().unwrap() {
        // Many examples show only the part of the event the pattern reads: the envelope members
        // TestEventPattern insists on are added when the pattern does not name them.
        let mut event = case["event"].clone();
        let pattern_text = case["pattern"].to_string();
        for (k, v) in [
            ("id", "1"),
            ("account", "000000000000"),
            ("source", "test"),
            ("time", "2026-01-01T00:00:00Z"),
            ("region", "us-east-1"),
            ("detail-type", "test"),
        ] {
            if event.get(k).is_none() && !pattern_text.contains(&format!("\"{k}\"")) {
                event[k] = json!(v);
            }
        }
        let complete = ["id", "account", "source", "time", "region", "detail-type"]
            .iter()
            .all(|k| event.get(*k).is_some());
        let r = events(
            u,
            "TestEventPattern",
            json!({"EventPattern": case["pattern"].to_string(), "Event": event.to_string()}),
        );
        if complete {
            assert_eq!(r.status, 200, "{}: {}", case["name"], r.json);
            assert_eq!(r.json["Result"], case["matches"], "{}", case["name"]);
            tried += 1;
        } else {
            assert_eq!(r.json["message"], "Parameter Event is not valid.");
        }
    }
    assert!(tried >= 10, "{tried} cases");
    refused(
        u,
        "TestEventPattern",
        json!({"EventPattern": "{\"source\": [\"x\"]}", "Event": "plain string"}),
        "ValidationException",
        "Parameter Event is not valid.",
    );
    refused(
        u,
        "TestEventPattern",
        json!({"EventPattern": "{\"source\": [\"x\"]}", "Event": "{\"testEvent\": \"value\"}"}),
        "ValidationException",
        "Parameter Event is not valid.",
    );
    // Refusals as the live service words them (recorded against AWS in LocalStack's
    // `test_events_patterns.snapshot.json`).
    for (pattern, reason) in [
        (
            r#"{"int": 42}"#,
            r#""int" must be an object or an array
 at [Source: (String)"{"int": 42}"; line: 1, column: 11]"#,
        ),
        (
            r#"{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}"#,
            r#"Bad numeric range operator: >
 at [Source: (String)"{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}"; line: 1, column: 49]"#,
        ),
    ] {
        let r = events(
            u,
            "TestEventPattern",
            json!({"EventPattern": pattern, "Event": "{}"}),
        );
        assert_eq!(r.error_type(), "InvalidEventPatternException");
        assert_eq!(
            r.json["message"],
            format!("Event pattern is not valid. Reason: {reason}")
        );
    }
}

/// A bucket CloudTrail may write to and a trail on it.
fn trail(u: &str) {
    let (status, _, body) = crate::exchange(u, "PUT", "/trail-logs", &[("Authorization", S3)], "");
    assert_eq!(status, 200, "{body}");
    crate::allow_cloudtrail(u, S3, "trail-logs");
    let created = crate::cloudtrail_call(
        u,
        CT,
        "CreateTrail",
        &json!({"Name": "audit", "S3BucketName": "trail-logs"}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
}

#[test]
fn cloudtrail_calls_reach_http_targets_transformed_and_read_only_only_when_asked() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.as_str();
    let endpoint = Endpoint::start(&rt);
    let alerts = destination(u, "alerts", &format!("{}/alerts/*", endpoint.url));
    let reads = destination(u, "reads", &format!("{}/reads", endpoint.url));
    let stop = json!({
        "source": ["aws.cloudtrail"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging"]}
    });
    ok(
        u,
        "PutRule",
        json!({"Name": "trail-stopped", "EventPattern": stop.to_string()}),
    );
    ok(
        u,
        "PutTargets",
        json!({"Rule": "trail-stopped", "Targets": [{
        "Id": "alert", "Arn": alerts, "RoleArn": ROLE,
        "HttpParameters": {"PathParameterValues": ["$.detail.eventName"],
                           "QueryStringParameters": {"source": "$.source"}},
        "InputTransformer": {
            "InputPathsMap": {"trail": "$.detail.requestParameters.name", "who": "$.detail.userIdentity.arn"},
            "InputTemplate": "{\"alert\": \"trail <trail> stopped\", \"by\": <who>, \"rule\": \"<aws.events.rule-name>\"}"
        }}]}),
    );
    // Two rules on a read-only call: only the one that asks for read-only events gets it.
    let status_pattern = json!({"detail": {"eventName": ["GetTrailStatus"]}}).to_string();
    for (name, state) in [
        ("reads-all", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"),
        ("reads-plain", "ENABLED"),
    ] {
        ok(
            u,
            "PutRule",
            json!({"Name": name, "EventPattern": status_pattern, "State": state}),
        );
        ok(
            u,
            "PutTargets",
            json!({"Rule": name, "Targets": [{"Id": name, "Arn": reads, "RoleArn": ROLE,
                   "Input": format!("{{\"rule\": \"{name}\"}}")}]}),
        );
    }
    trail(u);
    for op in ["StartLogging", "GetTrailStatus", "StopLogging"] {
        let r = crate::cloudtrail_call(u, CT, op, &json!({"Name": "audit"}));
        assert_eq!(r.status, 200, "{op}: {}", r.json);
    }
    wait("the alert and the read", || {
        endpoint.on("/alerts").len() == 1 && endpoint.on("/reads").len() == 1
    });
    let alert = &endpoint.on("/alerts")[0];
    assert_eq!(alert.method, "POST");
    assert_eq!(alert.uri, "/alerts/StopLogging?source=aws.cloudtrail");
    assert_eq!(alert.header("x-api-key"), Some("s3cret-api-key-value"));
    assert_eq!(alert.header("x-team"), Some("audit"));
    assert_eq!(
        alert.header("user-agent"),
        Some("Amazon/EventBridge/ApiDestinations")
    );
    assert_eq!(
        alert.json(),
        json!({"alert": "trail audit stopped", "by": "arn:aws:iam::000000000000:user/AKIDALICE", "rule": "trail-stopped"})
    );
    assert_eq!(
        endpoint.on("/reads")[0].json(),
        json!({"rule": "reads-all"})
    );
    // Nothing more arrives, and nothing failed.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(endpoint.calls().len(), 2, "{:?}", endpoint.calls());
    assert_eq!(emu.emulator.event_failures().unwrap(), Vec::<Value>::new());
    assert_eq!(emu.emulator.queued_event_deliveries().unwrap(), 0);
}

#[test]
fn failing_targets_are_retried_on_the_clock_and_then_recorded() {
    let rt = runtime();
    let emu = rt
        .block_on(veritrail_emulator::spawn_with(|c| {
            c.clock = Arc::new(ManualClock::new(UtcMillis(START), 0));
            c.events_http_timeout = Duration::from_millis(300);
        }))
        .unwrap();
    let u = emu.url.as_str();
    // A port nobody listens on, an endpoint that accepts and never answers, and one that
    // answers 400.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let refusing = Endpoint::start(&rt);
    refusing.status.store(400, Ordering::SeqCst);
    let dlq = "arn:aws:sqs:us-east-1:000000000000:undelivered";
    let targets = [
        (
            "closed",
            closed_url.clone(),
            json!({"MaximumRetryAttempts": 2}),
        ),
        ("silent", silent_url, json!({"MaximumRetryAttempts": 2})),
        (
            "refusing",
            refusing.url.clone(),
            json!({"MaximumRetryAttempts": 2}),
        ),
        (
            "aged",
            closed_url,
            json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}),
        ),
    ];
    ok(
        u,
        "PutRule",
        json!({"Name": "orders", "EventPattern": "{\"source\": [\"shop\"]}"}),
    );
    let mut list = vec![];
    for (name, url, policy) in &targets {
        let arn = destination(u, name, url);
        list.push(
            json!({"Id": name, "Arn": arn, "RoleArn": ROLE, "RetryPolicy": policy,
                         "DeadLetterConfig": {"Arn": dlq}}),
        );
    }
    ok(u, "PutTargets", json!({"Rule": "orders", "Targets": list}));
    let put = ok(
        u,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "order", "Detail": "{\"id\": 7}"}]}),
    );
    assert_eq!(put["FailedEntryCount"], 0);
    // Every delivery is queued or recorded as failed, never neither (the delivery task may
    // already have settled the refused one): read both while no settlement lands between.
    let mut accounted = None;
    for _ in 0..100 {
        let failed = emu.emulator.event_failures().unwrap().len();
        let queued = emu.emulator.queued_event_deliveries().unwrap();
        if emu.emulator.event_failures().unwrap().len() == failed {
            accounted = Some(failed + queued);
            break;
        }
    }
    assert_eq!(accounted, Some(4));
    wait("the refused delivery to be recorded", || {
        emu.emulator.event_failures().unwrap().len() == 1
    });
    // Retries fall due on the emulator's clock only.
    let mut failures = vec![];
    for _ in 0..60 {
        emu.emulator.clock().advance(10 * 60 * 1000).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        failures = emu.emulator.event_failures().unwrap();
        if failures.len() == 4 {
            break;
        }
    }
    assert_eq!(failures.len(), 4, "{failures:#?}");
    assert_eq!(emu.emulator.queued_event_deliveries().unwrap(), 0);
    let by_target = |id: &str| {
        failures
            .iter()
            .find(|f| f["targetId"] == id)
            .unwrap_or_else(|| panic!("no failure of {id}: {failures:#?}"))
            .clone()
    };
    let r = by_target("refusing");
    assert_eq!(
        (r["errorCode"].as_str(), r["attempts"].as_u64()),
        (Some("ERROR_FROM_TARGET"), Some(1))
    );
    assert_eq!(
        r["errorMessage"],
        "the API destination endpoint answered HTTP 400"
    );
    assert!(r["exhaustedRetryCondition"].is_null());
    assert_eq!(r["event"]["detail"], json!({"id": 7}));
    assert_eq!(
        r["ruleArn"],
        "arn:aws:events:us-east-1:000000000000:rule/orders"
    );
    assert_eq!(r["deadLetterQueue"]["arn"], dlq);
    for (id, code) in [("closed", "CONNECTION_FAILURE"), ("silent", "TIMEOUT")] {
        let f = by_target(id);
        assert_eq!(f["errorCode"], code, "{f}");
        assert_eq!(f["attempts"], 3, "one attempt and two retries: {f}");
        assert_eq!(f["exhaustedRetryCondition"], "MaximumRetryAttempts");
    }
    let aged = by_target("aged");
    assert_eq!(aged["exhaustedRetryCondition"], "MaximumEventAgeInSeconds");
    assert_eq!(refusing.calls().len(), 1, "a 400 is not retried");
    drop(silent);
}

#[test]
fn scheduled_rules_fire_on_the_emulators_clock() {
    let mut inst = Instance::new("events-schedule");
    inst.start(START, true);
    let endpoint = Endpoint::start(&inst.rt);
    let u = inst.url().to_owned();
    let arn = destination(&u, "ticks", &format!("{}/ticks", endpoint.url));
    let rule = ok(
        &u,
        "PutRule",
        json!({"Name": "every-5", "ScheduleExpression": "rate(5 minutes)"}),
    );
    ok(
        &u,
        "PutTargets",
        json!({"Rule": "every-5", "Targets": [{"Id": "t", "Arn": arn, "RoleArn": ROLE}]}),
    );
    let emulator = Arc::clone(&inst.running.as_ref().unwrap().emulator);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(endpoint.calls().is_empty(), "nothing before 5 minutes");
    emulator.clock().advance(5 * 60 * 1000).unwrap();
    wait("the first scheduled event", || endpoint.calls().len() == 1);
    let event = endpoint.calls()[0].json();
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
    assert_eq!(event["resources"], json!([rule["RuleArn"]]));
    assert_eq!(event["time"], "2026-01-01T00:05:00Z");
    // A clock moved ahead fires each time it passed.
    emulator.clock().advance(10 * 60 * 1000).unwrap();
    wait("two more", || endpoint.calls().len() == 3);
    // Deliveries run side by side, in no particular order (as on AWS).
    let mut times: Vec<String> = endpoint
        .calls()
        .iter()
        .map(|c| c.json()["time"].as_str().unwrap().to_owned())
        .collect();
    times.sort();
    assert_eq!(
        times,
        [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:15:00Z"
        ]
    );
    ok(&u, "DisableRule", json!({"Name": "every-5"}));
    emulator.clock().advance(10 * 60 * 1000).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(endpoint.calls().len(), 3, "a disabled rule does not fire");
}

#[test]
fn rules_secrets_and_queued_deliveries_survive_a_kill() {
    let mut inst = Instance::new("events-kill");
    inst.start(START, true);
    let endpoint = Endpoint::start(&inst.rt);
    endpoint.status.store(503, Ordering::SeqCst);
    let u = inst.url().to_owned();
    ok(&u, "CreateEventBus", json!({"Name": "orders"}));
    let arn = destination(&u, "flaky", &format!("{}/flaky", endpoint.url));
    ok(
        &u,
        "PutRule",
        json!({"Name": "r", "EventBusName": "orders", "EventPattern": "{\"source\": [\"shop\"]}"}),
    );
    ok(
        &u,
        "PutTargets",
        json!({"Rule": "r", "EventBusName": "orders", "Targets": [{"Id": "t", "Arn": arn, "RoleArn": ROLE}]}),
    );
    ok(
        &u,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "order", "Detail": "{\"n\": 1}", "EventBusName": "orders"}]}),
    );
    wait("the first attempt", || endpoint.calls().len() == 1);
    wait("its retry to be saved", || {
        inst.running
            .as_ref()
            .unwrap()
            .emulator
            .queued_event_deliveries()
            .unwrap()
            == 1
            && endpoint.calls().len() == 1
    });
    inst.kill();
    // The delivery is in aws.sqlite; the API key is in the key store, not in the data.
    let db = rusqlite::Connection::open(inst.dir.join("aws.sqlite")).unwrap();
    let queued: i64 = db
        .query_row("SELECT count(*) FROM ev_deliveries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 1);
    drop(db);
    for name in ["aws.sqlite", "aws.sqlite-wal"] {
        let bytes = std::fs::read(inst.dir.join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("s3cret-api-key-value"),
            "{name} holds the key"
        );
    }
    let secrets = inst.dir.join("keys/events-connections");
    assert_eq!(std::fs::read_dir(&secrets).unwrap().count(), 1);

    endpoint.status.store(200, Ordering::SeqCst);
    inst.start(START, true);
    let u = inst.url().to_owned();
    let emulator = Arc::clone(&inst.running.as_ref().unwrap().emulator);
    assert_eq!(
        ok(
            &u,
            "ListTargetsByRule",
            json!({"Rule": "r", "EventBusName": "orders"})
        )["Targets"][0]["Id"],
        "t"
    );
    let described = ok(
        &u,
        "DescribeConnection",
        json!({"Name": "flaky-connection"}),
    );
    assert_eq!(
        described["AuthParameters"]["ApiKeyAuthParameters"],
        json!({"ApiKeyName": "x-api-key"})
    );
    emulator.clock().advance(10 * 60 * 1000).unwrap();
    wait("the retry after the restart", || {
        endpoint.calls().len() == 2 && emulator.queued_event_deliveries().unwrap() == 0
    });
    let retried = &endpoint.calls()[1];
    assert_eq!(retried.json()["detail"], json!({"n": 1}));
    assert_eq!(retried.header("x-api-key"), Some("s3cret-api-key-value"));
    // A deleted connection's secret leaves the key store at the next tick.
    ok(&u, "DeleteApiDestination", json!({"Name": "flaky"}));
    let deleted = ok(&u, "DeleteConnection", json!({"Name": "flaky-connection"}));
    assert_eq!(deleted["ConnectionState"], "DELETING");
    wait("the secret to go", || {
        std::fs::read_dir(&secrets).unwrap().count() == 0
    });
    refused(
        &u,
        "DescribeConnection",
        json!({"Name": "flaky-connection"}),
        "ResourceNotFoundException",
        "Failed to describe the connection(s). Connection 'flaky-connection' does not exist.",
    );
}

#[test]
fn matched_events_reach_queues_and_topics_and_undelivered_ones_the_dead_letter_queue() {
    let rt = runtime();
    let emu = rt
        .block_on(veritrail_emulator::spawn_with(|c| {
            c.events_http_timeout = Duration::from_millis(300);
        }))
        .unwrap();
    let u = emu.url.as_str();
    let arn = |name: &str| format!("arn:aws:sqs:us-east-1:000000000000:{name}");
    let alerts = crate::sqs::create(u, "alerts", json!({}));
    let fanout = crate::sqs::create(u, "fanout", json!({}));
    let dead = crate::sqs::create(u, "undelivered", json!({}));
    let topic = crate::sns::topic(u, "security");
    crate::sns::ok(
        u,
        &[
            ("Action", "Subscribe"),
            ("TopicArn", &topic),
            ("Protocol", "sqs"),
            ("Endpoint", &arn("fanout")),
        ],
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = destination(
        u,
        "gone",
        &format!("http://{}", closed.local_addr().unwrap()),
    );
    drop(closed);
    let stop = json!({"detail": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging"]}});
    ok(
        u,
        "PutRule",
        json!({"Name": "trail-stopped", "EventPattern": stop.to_string()}),
    );
    ok(
        u,
        "PutTargets",
        json!({"Rule": "trail-stopped", "Targets": [
            {"Id": "queue", "Arn": arn("alerts")},
            {"Id": "topic", "Arn": topic, "InputTransformer": {
                "InputPathsMap": {"name": "$.detail.eventName"},
                "InputTemplate": "{\"alert\": \"<name>\", \"rule\": \"<aws.events.rule-name>\"}"}},
            {"Id": "webhook", "Arn": unreachable, "RoleArn": ROLE,
             "RetryPolicy": {"MaximumRetryAttempts": 0},
             "DeadLetterConfig": {"Arn": arn("undelivered")}}
        ]}),
    );
    trail(u);
    for op in ["StartLogging", "StopLogging"] {
        let r = crate::cloudtrail_call(u, CT, op, &json!({"Name": "audit"}));
        assert_eq!(r.status, 200, "{op}: {}", r.json);
    }
    let take = |queue: &str| {
        let mut got = vec![];
        wait(&format!("a message on {queue}"), || {
            got = crate::sqs::receive(u, queue, json!({"MaxNumberOfMessages": 10}));
            !got.is_empty()
        });
        got
    };

    // The queue target receives the event itself.
    let got = take(&alerts);
    assert_eq!(got.len(), 1, "{got:#?}");
    let event: Value = serde_json::from_str(got[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
    assert_eq!(event["source"], "aws.cloudtrail");
    assert_eq!(event["detail"]["eventName"], "StopLogging");
    assert_eq!(event["detail"]["requestParameters"]["name"], "audit");

    // The topic target publishes the transformed input; SNS wraps it for the queue.
    let got = take(&fanout);
    assert_eq!(got.len(), 1, "{got:#?}");
    let notification: Value = serde_json::from_str(got[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(notification["Type"], "Notification");
    assert_eq!(notification["TopicArn"], topic.as_str());
    let message: Value = serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        message,
        json!({"alert": "StopLogging", "rule": "trail-stopped"})
    );

    // The webhook nobody answers: no retry asked for, so the event goes to the dead-letter
    // queue with EventBridge's attributes, and the failure is recorded with the message id.
    let got = take(&dead);
    assert_eq!(got.len(), 1, "{got:#?}");
    let undelivered: Value = serde_json::from_str(got[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(undelivered["detail"]["eventName"], "StopLogging");
    let attribute = |k: &str| got[0]["MessageAttributes"][k]["StringValue"].clone();
    assert_eq!(attribute("ERROR_CODE"), "CONNECTION_FAILURE");
    assert_eq!(
        attribute("RULE_ARN"),
        "arn:aws:events:us-east-1:000000000000:rule/trail-stopped"
    );
    assert_eq!(attribute("TARGET_ARN"), unreachable.as_str());
    assert_eq!(
        attribute("EXHAUSTED_RETRY_CONDITION"),
        "MaximumRetryAttempts"
    );
    let failures = emu.emulator.event_failures().unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["targetId"], "webhook");
    assert_eq!(
        failures[0]["deadLetterQueue"]["messageId"],
        got[0]["MessageId"]
    );

    // A queue that is gone: the delivery fails for good as NO_RESOURCE, recorded.
    crate::sqs::sqs(u, "DeleteQueue", json!({"QueueUrl": alerts}));
    let r = crate::cloudtrail_call(u, CT, "StopLogging", &json!({"Name": "audit"}));
    assert_eq!(r.status, 200, "{}", r.json);
    wait("the failure to the deleted queue", || {
        emu.emulator
            .event_failures()
            .unwrap()
            .iter()
            .any(|f| f["targetId"] == "queue" && f["errorCode"] == "NO_RESOURCE")
    });
    assert_eq!(emu.emulator.queued_event_deliveries().unwrap(), 0);
}
