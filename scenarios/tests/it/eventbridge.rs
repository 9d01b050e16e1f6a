//! EventBridge through the AWS SDK for Rust (`aws-sdk-eventbridge`, with `aws-sdk-cloudtrail`,
//! `aws-sdk-s3`, `aws-sdk-sqs` and `aws-sdk-sns`), unmodified: the seed's detection path, a
//! rule on CloudTrail's StopLogging delivering to a queue, to a topic (through an input
//! transformer) that fans out to a queue and to an HTTP subscriber, read-only calls reaching
//! only the rule that asked for them, an unreachable HTTP target ending in the dead-letter
//! queue, and EventBridge's own errors as the SDK's typed errors.

use std::time::Duration;

use aws_sdk_eventbridge::error::ProvideErrorMetadata as _;
use aws_sdk_eventbridge::types::{
    ConnectionAuthorizationType, CreateConnectionApiKeyAuthRequestParameters,
    CreateConnectionAuthRequestParameters, DeadLetterConfig, InputTransformer,
    PutEventsRequestEntry, RetryPolicy, RuleState, Target,
};
use serde_json::{Value, json};
use veritrail_scenarios::{
    cloudtrail_client, events_client, s3_client, sns_client, spawn, sqs_client,
};

use crate::sqs_sns::{queue, receive, subscriber};

/// Receives from `url` until a message arrives (deliveries leave the calls that made them
/// at once and arrive shortly after).
async fn first(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    for _ in 0..200 {
        let got = receive(sqs, url).await;
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing arrived on {url}");
}

fn body(m: &aws_sdk_sqs::types::Message) -> Value {
    serde_json::from_str(m.body().unwrap()).unwrap()
}

/// The evidence bucket and a trail writing to it, through the SDKs.
async fn trail(url: &str) -> aws_sdk_cloudtrail::Client {
    let s3 = s3_client(url);
    s3.create_bucket()
        .bucket("trail-logs")
        .send()
        .await
        .unwrap();
    let policy =
        veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("trail-logs");
    s3.put_bucket_policy()
        .bucket("trail-logs")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let ct = cloudtrail_client(url);
    ct.create_trail()
        .name("audit")
        .s3_bucket_name("trail-logs")
        .send()
        .await
        .unwrap();
    ct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_logging_reaches_a_queue_a_topic_and_an_http_subscriber_through_the_aws_sdk() {
    let running = spawn().await.unwrap();
    let u = running.url.as_str();
    let (events, sqs, sns) = (events_client(u), sqs_client(u), sns_client(u));
    let (alerts_url, alerts_arn) = queue(&sqs, "alerts", &[]).await;
    let (fanout_url, fanout_arn) = queue(&sqs, "fanout", &[]).await;
    let topic = sns
        .create_topic()
        .name("security")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&fanout_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let (hook, mut hook_rx) = subscriber();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&hook)
        .send()
        .await
        .unwrap();
    let wait = Duration::from_secs(20);
    let (kind, confirmation) = tokio::time::timeout(wait, hook_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, "subscriptionconfirmation");
    let confirmation: Value = serde_json::from_str(&confirmation).unwrap();
    sns.confirm_subscription()
        .topic_arn(&topic)
        .token(confirmation["Token"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    // The audit-trail protection rule: StopLogging, as the shipped pack writes it.
    let stop = json!({
        "source": ["aws.cloudtrail"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging"]}
    });
    let rule = events
        .put_rule()
        .name("trail-stopped")
        .event_pattern(stop.to_string())
        .description("CloudTrail logging was stopped")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule.rule_arn(),
        Some("arn:aws:events:us-east-1:000000000000:rule/trail-stopped")
    );
    let transformer = InputTransformer::builder()
        .input_paths_map("trail", "$.detail.requestParameters.name")
        .input_paths_map("who", "$.detail.userIdentity.arn")
        .input_template(
            r#"{"alert": "trail <trail> stopped", "by": <who>, "rule": "<aws.events.rule-name>"}"#,
        )
        .build()
        .unwrap();
    let put = events
        .put_targets()
        .rule("trail-stopped")
        .targets(
            Target::builder()
                .id("queue")
                .arn(&alerts_arn)
                .build()
                .unwrap(),
        )
        .targets(
            Target::builder()
                .id("topic")
                .arn(&topic)
                .input_transformer(transformer)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);

    // Read-only calls: two rules on GetTrailStatus, only the one that asks gets it.
    let status = json!({"detail": {"eventName": ["GetTrailStatus"]}}).to_string();
    let mut reads = vec![];
    for (name, state) in [
        (
            "reads-all",
            RuleState::EnabledWithAllCloudtrailManagementEvents,
        ),
        ("reads-plain", RuleState::Enabled),
    ] {
        let (url, arn) = queue(&sqs, name, &[]).await;
        events
            .put_rule()
            .name(name)
            .event_pattern(&status)
            .state(state)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(name)
            .targets(Target::builder().id(name).arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
        reads.push(url);
    }

    let ct = trail(u).await;
    ct.start_logging().name("audit").send().await.unwrap();
    ct.get_trail_status().name("audit").send().await.unwrap();
    ct.stop_logging().name("audit").send().await.unwrap();

    // The queue gets the CloudTrail event as EventBridge carries it.
    let got = first(&sqs, &alerts_url).await;
    assert_eq!(got.len(), 1);
    let event = body(&got[0]);
    assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
    assert_eq!(event["source"], "aws.cloudtrail");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["detail"]["eventName"], "StopLogging");
    assert_eq!(event["detail"]["requestParameters"]["name"], "audit");
    assert_eq!(
        event["resources"],
        json!([]),
        "CloudTrail events carry no resources"
    );

    // The topic gets the transformed input, raw on the queue and wrapped for HTTP.
    let fanned = first(&sqs, &fanout_url).await;
    let expected = json!({
        "alert": "trail audit stopped",
        "by": "arn:aws:iam::000000000000:user/AKIDVERITRAIL",
        "rule": "trail-stopped"
    });
    assert_eq!(body(&fanned[0]), expected);
    let (kind, notification) = tokio::time::timeout(wait, hook_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, "notification");
    let notification: Value = serde_json::from_str(&notification).unwrap();
    assert_eq!(notification["TopicArn"], topic.as_str());
    let message: Value = serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message, expected);

    // The read-only call reached the rule that asked for read-only events, not the other.
    let got = first(&sqs, &reads[0]).await;
    assert_eq!(body(&got[0])["detail"]["eventName"], "GetTrailStatus");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receive(&sqs, &reads[1]).await.is_empty());
    assert!(running.emulator.event_failures().unwrap().is_empty());

    // The rule and its targets as the SDK reads them back.
    let listed = events
        .list_targets_by_rule()
        .rule("trail-stopped")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = listed.targets().iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["queue", "topic"]);
    let by_target = events
        .list_rule_names_by_target()
        .target_arn(&alerts_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_target.rule_names(), ["trail-stopped"]);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_ends_in_the_dead_letter_queue_and_bad_input_gets_typed_errors() {
    let running = veritrail_scenarios::spawn_with(|c| {
        c.events_http_timeout = Duration::from_millis(300);
    })
    .await
    .unwrap();
    let u = running.url.as_str();
    let (events, sqs) = (events_client(u), sqs_client(u));
    let (dead_url, dead_arn) = queue(&sqs, "undelivered", &[]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let auth = CreateConnectionAuthRequestParameters::builder()
        .api_key_auth_parameters(
            CreateConnectionApiKeyAuthRequestParameters::builder()
                .api_key_name("x-api-key")
                .api_key_value("s3cret")
                .build()
                .unwrap(),
        )
        .build();
    let connection = events
        .create_connection()
        .name("siem")
        .authorization_type(ConnectionAuthorizationType::ApiKey)
        .auth_parameters(auth)
        .send()
        .await
        .unwrap();
    let destination = events
        .create_api_destination()
        .name("siem")
        .connection_arn(connection.connection_arn().unwrap())
        .invocation_endpoint(&endpoint)
        .http_method(aws_sdk_eventbridge::types::ApiDestinationHttpMethod::Post)
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .name("orders")
        .event_pattern(r#"{"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("orders")
        .targets(
            Target::builder()
                .id("siem")
                .arn(destination.api_destination_arn().unwrap())
                .role_arn("arn:aws:iam::000000000000:role/events-invoke")
                .retry_policy(RetryPolicy::builder().maximum_retry_attempts(0).build())
                .dead_letter_config(DeadLetterConfig::builder().arn(&dead_arn).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Entries are answered one by one: one without a detail fails alone. A request over
    // 256 KB is refused whole.
    let entry = |detail: Option<String>| {
        PutEventsRequestEntry::builder()
            .source("shop")
            .detail_type("order")
            .set_detail(detail)
            .build()
    };
    let put = events
        .put_events()
        .entries(entry(Some(json!({"total": 250}).to_string())))
        .entries(entry(Some(json!({"total": 5}).to_string())))
        .entries(entry(None))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 1);
    let results = put.entries();
    assert!(results[0].event_id().is_some() && results[1].event_id().is_some());
    assert_eq!(results[2].error_code(), Some("InvalidArgument"));
    let err = events
        .put_events()
        .entries(entry(Some(
            json!({"pad": "x".repeat(256 * 1024)}).to_string(),
        )))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        (err.code(), err.message()),
        (
            Some("ValidationException"),
            Some("Total size of the entries in the request is over the limit.")
        )
    );

    // Only the matching event was delivered, failed, and went to the dead-letter queue.
    let got = first(&sqs, &dead_url).await;
    assert_eq!(got.len(), 1);
    let event = body(&got[0]);
    assert_eq!(event["detail"], json!({"total": 250}));
    assert_eq!(event["id"].as_str(), results[0].event_id());
    let attributes = got[0].message_attributes().unwrap();
    let attribute = |k: &str| attributes[k].string_value().unwrap().to_owned();
    assert_eq!(attribute("ERROR_CODE"), "CONNECTION_FAILURE");
    assert_eq!(
        attribute("EXHAUSTED_RETRY_CONDITION"),
        "MaximumRetryAttempts"
    );
    assert_eq!(
        attribute("RULE_ARN"),
        "arn:aws:events:us-east-1:000000000000:rule/orders"
    );

    // EventBridge's errors, as the SDK's typed errors.
    let err = events
        .put_rule()
        .name("bad")
        .event_pattern(r#"{"source": "shop"}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_event_pattern_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "Event pattern is not valid. Reason: \"source\" must be an object or an array\n at [Source: (String)\"{\"source\": \"shop\"}\"; line: 1, column: 13]"
        )
    );
    let err = events
        .delete_rule()
        .name("orders")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Rule can't be deleted since it has targets.")
    );
    let err = events
        .describe_rule()
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // TestEventPattern, on the user guide's numeric matching example.
    let matched = events
        .test_event_pattern()
        .event_pattern(r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}"#)
        .event(
            json!({
                "id": "1", "account": "123456789012", "source": "test", "time": "2017-04-22T02:15:45Z",
                "region": "us-east-1", "resources": [], "detail-type": "t", "detail": {"c-count": 5}
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(matched.result());
    running.shutdown().await.unwrap();
}
