//! What SNS sends: the JSON envelope of a notification or a subscription confirmation (for SQS
//! subscribers without raw delivery, and for HTTP endpoints), SNS's message attributes as SQS
//! message attributes (raw delivery), and HTTP POSTs with SNS's headers, retried by the
//! subscription's (or topic's) delivery policy on the emulator's clock.
//!
//! Messages are not signed: they carry no `Signature`/`SigningCertURL` (the emulator has no
//! certificate a validator would trust).

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::net::TcpStream;

/// SNS's default HTTP/S retry policy: three retries, 20 seconds apart.
pub const DEFAULT_RETRIES: i64 = 3;
pub const DEFAULT_DELAY_MS: i64 = 20_000;
/// How long one POST may take (SNS waits 15 seconds for an endpoint).
pub const POST_TIMEOUT: Duration = Duration::from_secs(15);

/// A published message as its subscribers get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub message_id: String,
    pub topic_arn: String,
    /// The message for each protocol (`MessageStructure` `json`) or for all (`default`).
    pub message: String,
    pub per_protocol: Option<Map<String, Value>>,
    pub subject: Option<String>,
    pub attributes: Map<String, Value>,
    /// ISO 8601 with milliseconds.
    pub timestamp: String,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub sequence_number: Option<String>,
}

impl Published {
    /// The message text a protocol receives.
    pub fn text_for(&self, protocol: &str) -> &str {
        self.per_protocol
            .as_ref()
            .and_then(|m| m.get(protocol).or_else(|| m.get("default")))
            .and_then(Value::as_str)
            .unwrap_or(&self.message)
    }

    /// The `Notification` envelope for a subscription.
    pub fn envelope(&self, protocol: &str, subscription_arn: &str, base_url: &str) -> String {
        let mut v = Map::new();
        v.insert("Type".into(), json!("Notification"));
        v.insert("MessageId".into(), json!(self.message_id));
        if let Some(s) = &self.sequence_number {
            v.insert("SequenceNumber".into(), json!(s));
        }
        v.insert("TopicArn".into(), json!(self.topic_arn));
        if let Some(s) = &self.subject {
            v.insert("Subject".into(), json!(s));
        }
        v.insert("Message".into(), json!(self.text_for(protocol)));
        v.insert("Timestamp".into(), json!(self.timestamp));
        v.insert(
            "UnsubscribeURL".into(),
            json!(unsubscribe_url(base_url, subscription_arn)),
        );
        if !self.attributes.is_empty() {
            let attrs: Map<String, Value> = self
                .attributes
                .iter()
                .map(|(k, a)| {
                    let t = a
                        .get("DataType")
                        .and_then(Value::as_str)
                        .unwrap_or("String");
                    let value = a
                        .get("StringValue")
                        .or_else(|| a.get("BinaryValue"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    (k.clone(), json!({"Type": t, "Value": value}))
                })
                .collect();
            v.insert("MessageAttributes".into(), Value::Object(attrs));
        }
        Value::Object(v).to_string()
    }
}

/// `<base>/?Action=Unsubscribe&SubscriptionArn=…`.
pub fn unsubscribe_url(base_url: &str, subscription_arn: &str) -> String {
    format!(
        "{base_url}/?Action=Unsubscribe&SubscriptionArn={}",
        crate::wire::query::encode(subscription_arn)
    )
}

/// The `SubscriptionConfirmation` an HTTP endpoint gets.
pub fn confirmation(
    message_id: &str,
    topic_arn: &str,
    token: &str,
    base_url: &str,
    timestamp: &str,
) -> String {
    let subscribe_url = format!(
        "{base_url}/?Action=ConfirmSubscription&TopicArn={}&Token={token}",
        crate::wire::query::encode(topic_arn)
    );
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": format!("You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp,
    })
    .to_string()
}

/// A retry policy's number of retries and delay (from `healthyRetryPolicy`), SNS's defaults
/// otherwise.
pub fn retry_policy(delivery_policy: Option<&str>) -> (i64, i64) {
    let policy = delivery_policy
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|v| {
            v.get("healthyRetryPolicy")
                .or_else(|| {
                    v.get("http")
                        .and_then(|h| h.get("defaultHealthyRetryPolicy"))
                })
                .cloned()
        });
    let get = |name: &str| {
        policy
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_i64)
    };
    (
        get("numRetries").unwrap_or(DEFAULT_RETRIES).clamp(0, 100),
        get("minDelayTarget").map_or(DEFAULT_DELAY_MS, |s| s.clamp(1, 3600) * 1000),
    )
}

/// One HTTP delivery waiting (a row of `sns_http`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpDelivery {
    pub id: i64,
    pub subscription_arn: String,
    pub topic_arn: String,
    pub endpoint: String,
    /// `Notification` or `SubscriptionConfirmation`.
    pub kind: String,
    pub message_id: String,
    pub body: String,
    pub raw: bool,
    pub attempts: i64,
}

/// How a POST went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth another try (5xx, 429, no connection, no answer in time).
    Retry(String),
    /// Not worth another try (4xx, an endpoint the emulator cannot reach).
    Failed(String),
}

async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// POSTs one delivery with SNS's headers. Only `http://` endpoints are reached (there is no TLS
/// client in the emulator).
pub async fn post(d: &HttpDelivery) -> Outcome {
    let Some(rest) = d.endpoint.strip_prefix("http://") else {
        return Outcome::Failed(format!(
            "veritrail does not reach {} (only http:// endpoints)",
            d.endpoint
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\nUser-Agent: Amazon Simple Notification Service Agent\r\nConnection: close\r\nx-amz-sns-message-type: {}\r\nx-amz-sns-message-id: {}\r\nx-amz-sns-topic-arn: {}\r\n",
        d.body.len(),
        d.kind,
        d.message_id,
        d.topic_arn
    );
    if d.kind == "Notification" {
        head.push_str(&format!(
            "x-amz-sns-subscription-arn: {}\r\n",
            d.subscription_arn
        ));
    }
    if d.raw {
        head.push_str("x-amz-sns-rawdelivery: true\r\n");
    }
    head.push_str("\r\n");
    let exchange = async {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let mut request = head.into_bytes();
        request.extend_from_slice(d.body.as_bytes());
        write_all(&stream, &request)
            .await
            .map_err(|e| format!("sending to {authority}: {e}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 8192 {
            let n = read(&stream, &mut buf)
                .await
                .map_err(|e| format!("reading from {authority}: {e}"))?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&answer);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("{authority} did not answer in HTTP"))
    };
    match tokio::time::timeout(POST_TIMEOUT, exchange).await {
        Err(_) => Outcome::Retry(format!("{authority} did not answer within 15 s")),
        Ok(Err(e)) => Outcome::Retry(e),
        Ok(Ok(status)) if (200..300).contains(&status) => Outcome::Delivered,
        Ok(Ok(status)) if status == 429 || status >= 500 => {
            Outcome::Retry(format!("the endpoint answered {status}"))
        }
        Ok(Ok(status)) => Outcome::Failed(format!("the endpoint answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_policies() {
        let p = Published {
            message_id: "m".into(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:t".into(),
            message: r#"{"default":"d","sqs":"q"}"#.into(),
            per_protocol: Some(serde_json::from_str(r#"{"default":"d","sqs":"q"}"#).unwrap()),
            subject: Some("S".into()),
            attributes: serde_json::from_str(r#"{"k":{"DataType":"String","StringValue":"v"}}"#)
                .unwrap(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            group_id: None,
            dedup_id: None,
            sequence_number: None,
        };
        let e: Value = serde_json::from_str(&p.envelope("sqs", "arn:s", "http://h")).unwrap();
        assert_eq!(e["Message"], "q");
        assert_eq!(e["Subject"], "S");
        assert_eq!(
            e["MessageAttributes"]["k"],
            json!({"Type": "String", "Value": "v"})
        );
        assert_eq!(
            e["UnsubscribeURL"],
            "http://h/?Action=Unsubscribe&SubscriptionArn=arn%3As"
        );
        assert_eq!(p.text_for("http"), "d");
        assert_eq!(retry_policy(None), (3, 20_000));
        assert_eq!(
            retry_policy(Some(
                r#"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":5}}"#
            )),
            (1, 5000)
        );
    }
}
