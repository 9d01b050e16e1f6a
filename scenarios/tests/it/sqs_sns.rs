//! SQS and SNS through the AWS SDK for Rust (`aws-sdk-sqs`, `aws-sdk-sns`), unmodified: a topic
//! delivering to queues through a filter policy, receiving and deleting, a visibility timeout
//! expiring when the emulator's clock moves, redrive to a dead-letter queue, FIFO
//! deduplication, an HTTP subscriber confirming and getting a notification, and SQS's and
//! SNS's errors as the SDK's typed errors.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;

use aws_sdk_sns::types::MessageAttributeValue as SnsAttribute;
use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use veritrail_scenarios::{sns_client, spawn, sqs_client};

pub(crate) async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, &str)],
) -> (String, String) {
    let mut create = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        create = create.attributes(k.clone(), *v);
    }
    let url = create.send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

pub(crate) async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_delivers_to_queues_through_the_aws_sdk() {
    let running = spawn().await.unwrap();
    let (sqs, sns) = (sqs_client(&running.url), sns_client(&running.url));
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (all_url, all_arn) = queue(&sqs, "all-alerts", &[]).await;
    let (high_url, high_arn) = queue(&sqs, "high-alerts", &[]).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&all_arn)
        .send()
        .await
        .unwrap();
    let high = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&high_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"severity": ["HIGH", "CRITICAL"]}"#)
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    let attrs = sns
        .get_subscription_attributes()
        .subscription_arn(&high)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs["FilterPolicyScope"], "MessageAttributes");
    for (severity, text) in [("LOW", "disk 70%"), ("HIGH", "disk 95%")] {
        sns.publish()
            .topic_arn(&topic)
            .message(text)
            .message_attributes(
                "severity",
                SnsAttribute::builder()
                    .data_type("String")
                    .string_value(severity)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let all = receive(&sqs, &all_url).await;
    assert_eq!(all.len(), 2);
    let envelope: serde_json::Value = serde_json::from_str(all[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    let high_got = receive(&sqs, &high_url).await;
    assert_eq!(high_got.len(), 1);
    assert_eq!(high_got[0].body(), Some("disk 95%"));
    assert_eq!(
        high_got[0].message_attributes().unwrap()["severity"].string_value(),
        Some("HIGH")
    );
    for m in all.iter().chain(&high_got) {
        let url = if high_got.contains(m) {
            &high_url
        } else {
            &all_url
        };
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    assert!(receive(&sqs, &all_url).await.is_empty());

    // SNS's and SQS's errors as the SDK's typed errors.
    let e = sns
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:000000000000:none")
        .message("x")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .is_some_and(|e| e.is_not_found_exception()),
        "{e:?}"
    );
    let e = sqs
        .get_queue_url()
        .queue_name("none")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist()),
        "{e:?}"
    );
    let e = sqs
        .send_message()
        .queue_url(&all_url)
        .message_body("x".repeat((1 << 20) + 1))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.message()
            .unwrap_or("")
            .contains("Message must be shorter than 1048576 bytes"),
        "{e:?}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_redrive_and_fifo_through_the_aws_sdk() {
    let running = spawn().await.unwrap();
    let sqs = sqs_client(&running.url);
    let clock = running.emulator.clock();
    let (dlq_url, dlq_arn) = queue(&sqs, "jobs-dead", &[]).await;
    let policy =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string();
    let (url, _) = queue(
        &sqs,
        "jobs",
        &[
            (QueueAttributeName::VisibilityTimeout, "30"),
            (QueueAttributeName::RedrivePolicy, &policy),
        ],
    )
    .await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("flaky job")
        .send()
        .await
        .unwrap();
    for n in 1..=2 {
        let got = receive(&sqs, &url).await;
        assert_eq!(got.len(), 1);
        let count =
            &got[0].attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount];
        assert_eq!(count, &n.to_string());
        // Invisible until the visibility timeout passes on the emulator's clock.
        assert!(receive(&sqs, &url).await.is_empty());
        clock.advance(30_000).unwrap();
    }
    assert!(receive(&sqs, &url).await.is_empty());
    let dead = receive(&sqs, &dlq_url).await;
    assert_eq!(dead[0].body(), Some("flaky job"));
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&url));

    // FIFO: content-based deduplication for five minutes, order within a group.
    let (fifo, _) = queue(
        &sqs,
        "jobs.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
        ],
    )
    .await;
    let a = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("a")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let dup = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("a")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(a.message_id(), dup.message_id());
    sqs.send_message()
        .queue_url(&fifo)
        .message_body("b")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let batch = sqs
        .send_message_batch()
        .queue_url(&fifo)
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("c")
                .message_body("c")
                .message_group_id("g")
                .build()
                .unwrap(),
        )
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("bad id")
                .message_body("d")
                .message_group_id("g")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        batch.code(),
        Some("AWS.SimpleQueueService.InvalidBatchEntryId"),
        "{batch:?}"
    );
    let got: Vec<String> = receive(&sqs, &fifo)
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    assert_eq!(got, ["a", "b"]);
    clock.advance(5 * 60_000).unwrap();
    let later = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("a")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    assert_ne!(later.message_id(), a.message_id());

    // A long poll ends when a message arrives.
    let (poll_url, _) = queue(&sqs, "poll", &[]).await;
    let waiting = {
        let (sqs, url) = (sqs.clone(), poll_url.clone());
        tokio::spawn(async move {
            sqs.receive_message()
                .queue_url(url)
                .wait_time_seconds(20)
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sqs.send_message()
        .queue_url(&poll_url)
        .message_body("wake up")
        .send()
        .await
        .unwrap();
    let got = waiting.await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("wake up"));
    running.shutdown().await.unwrap();
}

/// Serves one HTTP subscriber on port 0; every request body goes down the channel.
pub(crate) fn subscriber() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sns", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut line, mut kind, mut len) = (String::new(), String::new(), 0usize);
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length: ") {
                    len = v.parse().unwrap();
                }
                if let Some(v) = l.strip_prefix("x-amz-sns-message-type: ") {
                    kind = v.to_owned();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            if tx.send((kind, String::from_utf8(body).unwrap())).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_subscriber_confirms_and_is_notified_through_the_aws_sdk() {
    let running = spawn().await.unwrap();
    let sns = sns_client(&running.url);
    let topic = sns
        .create_topic()
        .name("webhooks")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, mut rx) = subscriber();
    let pending = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.subscription_arn(), Some("pending confirmation"));
    let wait = std::time::Duration::from_secs(20);
    let (kind, body) = tokio::time::timeout(wait, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, "subscriptionconfirmation");
    let confirmation: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        confirmation["SubscribeURL"]
            .as_str()
            .unwrap()
            .starts_with(&running.url)
    );
    let confirmed = sns
        .confirm_subscription()
        .topic_arn(&topic)
        .token(confirmation["Token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let sub = confirmed.subscription_arn().unwrap().to_owned();
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.subscriptions()[0].subscription_arn(),
        Some(sub.as_str())
    );
    sns.publish()
        .topic_arn(&topic)
        .subject("Deploy")
        .message("v2 is out")
        .send()
        .await
        .unwrap();
    let (kind, body) = tokio::time::timeout(wait, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, "notification");
    let n: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (n["Subject"].as_str(), n["Message"].as_str()),
        (Some("Deploy"), Some("v2 is out"))
    );
    sns.unsubscribe()
        .subscription_arn(&sub)
        .send()
        .await
        .unwrap();
    assert!(
        sns.list_subscriptions()
            .send()
            .await
            .unwrap()
            .subscriptions()
            .is_empty()
    );
    running.shutdown().await.unwrap();
}
