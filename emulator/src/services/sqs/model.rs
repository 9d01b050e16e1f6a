//! Queues: names, URLs and ARNs, and their attributes with SQS's ranges and rules. A queue's
//! settable attributes are kept as SQS shows them (strings, defaults filled in at creation);
//! the typed accessors read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::services::sqs::error::SqsError;

/// The largest message SQS takes, and a queue's default `MaximumMessageSize` (1 MiB since
/// August 2025; the smallest allowed is 1 KiB).
pub const MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Entries in one batch request.
pub const MAX_BATCH: usize = 10;
/// A FIFO queue's deduplication window.
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// After DeleteQueue, the name is not taken again for this long; PurgeQueue runs once per
/// this long.
pub const QUIET_MS: i64 = 60 * 1000;
/// The longest a message may stay in flight after it was received.
pub const MAX_VISIBILITY_SECONDS: i64 = 43_200;

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Queue {
    /// The key of its messages in `sqs_messages` (never reused).
    pub id: i64,
    pub name: String,
    pub region: String,
    /// Milliseconds.
    pub created: i64,
    pub modified: i64,
    /// Settable attributes (and `FifoQueue`), as SQS shows them.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// When PurgeQueue last ran.
    #[serde(with = "crate::services::saved::present")]
    pub purged: Option<i64>,
}

/// Where a FIFO queue's or redrive policy's dead-letter queue is, and after how many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub target_arn: String,
    pub max_receive_count: i64,
}

/// What a settable attribute may hold.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int(i64, i64),
    Bool,
    Json,
    Text,
    OneOf(&'static [&'static str]),
}

/// Attributes CreateQueue and SetQueueAttributes take: (name, kind, FIFO only, default).
const SETTABLE: &[(&str, Kind, bool, Option<&str>)] = &[
    ("DelaySeconds", Kind::Int(0, 900), false, Some("0")),
    (
        "MaximumMessageSize",
        Kind::Int(1024, MAX_MESSAGE_SIZE as i64),
        false,
        Some("1048576"),
    ),
    (
        "MessageRetentionPeriod",
        Kind::Int(60, 1_209_600),
        false,
        Some("345600"),
    ),
    ("Policy", Kind::Json, false, None),
    (
        "ReceiveMessageWaitTimeSeconds",
        Kind::Int(0, 20),
        false,
        Some("0"),
    ),
    (
        "VisibilityTimeout",
        Kind::Int(0, MAX_VISIBILITY_SECONDS),
        false,
        Some("30"),
    ),
    ("RedrivePolicy", Kind::Json, false, None),
    ("RedriveAllowPolicy", Kind::Json, false, None),
    ("KmsMasterKeyId", Kind::Text, false, None),
    (
        "KmsDataKeyReusePeriodSeconds",
        Kind::Int(60, 86_400),
        false,
        None,
    ),
    ("SqsManagedSseEnabled", Kind::Bool, false, Some("true")),
    ("ContentBasedDeduplication", Kind::Bool, true, Some("false")),
    (
        "DeduplicationScope",
        Kind::OneOf(&["messageGroup", "queue"]),
        true,
        Some("queue"),
    ),
    (
        "FifoThroughputLimit",
        Kind::OneOf(&["perQueue", "perMessageGroupId"]),
        true,
        Some("perQueue"),
    ),
];

/// Attributes GetQueueAttributes computes (never set).
pub const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Whether `name` is a queue attribute GetQueueAttributes knows (`All` included).
pub fn known_attribute(name: &str) -> bool {
    name == "All"
        || name == "FifoQueue"
        || COMPUTED.contains(&name)
        || SETTABLE.iter().any(|(n, ..)| *n == name)
}

fn valid_name_chars(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a queue name: 1 to 80 letters, digits, hyphens and underscores; a FIFO queue's ends
/// with `.fifo` (counted in the 80).
pub fn check_name(name: &str, fifo: bool) -> Result<(), SqsError> {
    let ok = name.len() <= 80
        && match name.strip_suffix(".fifo") {
            Some(stem) if fifo => valid_name_chars(stem),
            _ => !fifo && valid_name_chars(name),
        };
    if ok {
        return Ok(());
    }
    Err(SqsError::InvalidParameterValue(if fifo {
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".into()
    } else {
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            .into()
    }))
}

/// `arn:aws:sqs:<region>:<account>:<name>`.
pub fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{}:{name}", crate::ACCOUNT_ID)
}

/// The region and name of a queue ARN of this account.
pub fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sqs:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, name) = rest.split_once(':')?;
    (account == crate::ACCOUNT_ID && !region.is_empty() && !name.is_empty())
        .then_some((region, name))
}

/// `http://<host>/<account>/<name>`, the URL clients send the queue's requests to.
pub fn url(host: &str, name: &str) -> String {
    format!("http://{host}/{}/{name}", crate::ACCOUNT_ID)
}

/// The queue name of a queue URL (or the path of a query-protocol request sent to one): its
/// last two path segments must be this account and a name.
pub fn name_of_url(url: &str) -> Option<&str> {
    let path = match url.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => url,
    };
    let path = path.split(['?', '#']).next()?.trim_end_matches('/');
    let mut segments = path.rsplit('/');
    let name = segments.next()?;
    let account = segments.next()?;
    (account == crate::ACCOUNT_ID && !name.is_empty()).then_some(name)
}

fn invalid_value(name: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

/// Checks one settable attribute and returns it as SQS keeps it (booleans lower-case).
fn normalise(name: &str, value: &str, fifo: bool) -> Result<String, SqsError> {
    let Some((_, kind, fifo_only, _)) = SETTABLE.iter().find(|(n, ..)| *n == name) else {
        return Err(SqsError::InvalidAttributeName(format!(
            "Unknown Attribute {name}."
        )));
    };
    if *fifo_only && !fifo {
        return Err(SqsError::InvalidAttributeName(format!(
            "You can specify the {name} only when FifoQueue is set to true."
        )));
    }
    match kind {
        Kind::Int(low, high) => match value.trim().parse::<i64>() {
            Ok(n) if (*low..=*high).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid_value(name)),
        },
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_owned()),
            _ => Err(invalid_value(name)),
        },
        Kind::Json => {
            if value.is_empty() {
                return Ok(String::new());
            }
            match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(_)) => Ok(value.to_owned()),
                _ if name == "RedrivePolicy" => Err(SqsError::InvalidParameterValue(format!(
                    "Value {value} for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map."
                ))),
                _ => Err(invalid_value(name)),
            }
        }
        Kind::Text => Ok(value.to_owned()),
        Kind::OneOf(allowed) => allowed
            .iter()
            .find(|a| **a == value)
            .map(|a| (*a).to_owned())
            .ok_or_else(|| invalid_value(name)),
    }
}

/// Reads a redrive policy's JSON (already known to be an object).
pub fn read_redrive(text: &str) -> Result<Redrive, SqsError> {
    let bad = |why: &str| {
        SqsError::InvalidParameterValue(format!(
            "Value {text} for parameter RedrivePolicy is invalid. Reason: {why}"
        ))
    };
    let v: Value =
        serde_json::from_str(text).map_err(|_| bad("Redrive policy is not a valid JSON map."))?;
    let target = v
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        })?;
    let count = match v.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        None => {
            return Err(bad(
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
            ));
        }
        _ => None,
    };
    match count {
        Some(n) if (1..=1000).contains(&n) => Ok(Redrive {
            target_arn: target.to_owned(),
            max_receive_count: n,
        }),
        _ => Err(bad(&format!(
            "Invalid value for maxReceiveCount: {}, valid values are from 1 to 1000 both inclusive.",
            v.get("maxReceiveCount")
                .map(Value::to_string)
                .unwrap_or_default()
        ))),
    }
}

/// `attributes` with `given` set (an empty value removes one), each checked, and the redrive
/// policy read.
fn apply<'a>(
    mut attributes: BTreeMap<String, String>,
    given: impl Iterator<Item = (&'a String, &'a String)>,
    fifo: bool,
) -> Result<BTreeMap<String, String>, SqsError> {
    for (k, v) in given {
        let v = normalise(k, v, fifo)?;
        if v.is_empty() {
            attributes.remove(k);
        } else {
            attributes.insert(k.clone(), v);
        }
    }
    if let Some(r) = attributes.get("RedrivePolicy") {
        read_redrive(r)?;
    }
    Ok(attributes)
}

impl Queue {
    /// A new queue's attributes: `given` checked, defaults filled in. `FifoQueue` decides the
    /// kind; the name must fit it.
    pub fn new_attributes(
        name: &str,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let fifo = match given.get("FifoQueue").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(_) => return Err(invalid_value("FifoQueue")),
        };
        if name.ends_with(".fifo") && !fifo {
            // SQS names the rule of standard queue names.
            check_name(name, false)?;
        }
        check_name(name, fifo)?;
        let mut out = BTreeMap::new();
        for (n, _, fifo_only, default) in SETTABLE {
            if let Some(d) = default {
                if !*fifo_only || fifo {
                    out.insert((*n).to_owned(), (*d).to_owned());
                }
            }
        }
        if fifo {
            out.insert("FifoQueue".into(), "true".into());
        }
        let settable = given.iter().filter(|(k, _)| *k != "FifoQueue");
        apply(out, settable, fifo)
    }

    /// The attributes after SetQueueAttributes with `given` (checked; the queue is unchanged
    /// if any is refused).
    pub fn with_attributes(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        if let Some(k) = given
            .keys()
            .find(|k| *k == "FifoQueue" || COMPUTED.contains(&k.as_str()))
        {
            return Err(SqsError::InvalidAttributeName(format!(
                "Unknown Attribute {k}."
            )));
        }
        apply(self.attributes.clone(), given.iter(), self.fifo())
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.attributes
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn fifo(&self) -> bool {
        self.attributes
            .get("FifoQueue")
            .is_some_and(|v| v == "true")
    }

    pub fn arn(&self) -> String {
        arn(&self.region, &self.name)
    }

    pub fn delay_seconds(&self) -> i64 {
        self.int("DelaySeconds", 0)
    }

    pub fn max_message_size(&self) -> usize {
        usize::try_from(self.int("MaximumMessageSize", MAX_MESSAGE_SIZE as i64))
            .unwrap_or(MAX_MESSAGE_SIZE)
    }

    /// Milliseconds.
    pub fn retention_ms(&self) -> i64 {
        self.int("MessageRetentionPeriod", 345_600)
            .saturating_mul(1000)
    }

    pub fn wait_seconds(&self) -> i64 {
        self.int("ReceiveMessageWaitTimeSeconds", 0)
    }

    pub fn visibility_seconds(&self) -> i64 {
        self.int("VisibilityTimeout", 30)
    }

    pub fn content_based_dedup(&self) -> bool {
        self.attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true")
    }

    /// Deduplication per message group rather than per queue.
    pub fn dedup_per_group(&self) -> bool {
        self.attributes
            .get("DeduplicationScope")
            .is_some_and(|v| v == "messageGroup")
    }

    pub fn redrive(&self) -> Option<Redrive> {
        self.attributes
            .get("RedrivePolicy")
            .and_then(|r| read_redrive(r).ok())
    }

    /// Re-checks a saved queue (a row no call could have written is damage).
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name, self.fifo()).map_err(|e| e.parts().3)?;
        for (k, v) in &self.attributes {
            if k == "FifoQueue" {
                if v != "true" {
                    return Err(format!("queue {}: FifoQueue is {v:?}", self.name));
                }
                continue;
            }
            let n = normalise(k, v, self.fifo())
                .map_err(|e| format!("queue {}: {}", self.name, e.parts().3))?;
            if &n != v {
                return Err(format!("queue {}: {k} is {v:?}", self.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_urls_and_arns() {
        assert!(check_name("orders", false).is_ok());
        assert!(check_name("orders.fifo", true).is_ok());
        assert!(check_name("orders.fifo", false).is_err());
        assert!(check_name("orders", true).is_err());
        assert!(check_name(&"a".repeat(81), false).is_err());
        assert!(check_name(&format!("{}.fifo", "a".repeat(76)), true).is_err());
        assert!(check_name("a b", false).is_err());
        assert_eq!(
            name_of_url("http://127.0.0.1:4566/000000000000/orders"),
            Some("orders")
        );
        assert_eq!(name_of_url("/000000000000/orders"), Some("orders"));
        assert_eq!(name_of_url("http://h/111111111111/orders"), None);
        assert_eq!(name_of_url("orders"), None);
        assert_eq!(
            parse_arn("arn:aws:sqs:eu-west-1:000000000000:q"),
            Some(("eu-west-1", "q"))
        );
        assert_eq!(parse_arn("arn:aws:sns:eu-west-1:000000000000:q"), None);
    }

    #[test]
    fn attributes_hold_to_sqs_ranges() {
        let a = Queue::new_attributes("q", &attrs(&[("VisibilityTimeout", "60")])).unwrap();
        assert_eq!(a["VisibilityTimeout"], "60");
        assert_eq!(a["MaximumMessageSize"], "1048576");
        assert!(!a.contains_key("FifoQueue"));
        let e = Queue::new_attributes("q", &attrs(&[("VisibilityTimeout", "43201")])).unwrap_err();
        assert_eq!(
            e.parts().3,
            "Invalid value for the parameter VisibilityTimeout."
        );
        let e = Queue::new_attributes("q", &attrs(&[("Nope", "1")])).unwrap_err();
        assert_eq!(e.parts().0, "InvalidAttributeName");
        let e = Queue::new_attributes("q", &attrs(&[("ContentBasedDeduplication", "true")]))
            .unwrap_err();
        assert!(e.parts().3.contains("only when FifoQueue"), "{e:?}");
        let f = Queue::new_attributes("q.fifo", &attrs(&[("FifoQueue", "TRUE")])).unwrap();
        assert_eq!(f["DeduplicationScope"], "queue");
        assert!(Queue::new_attributes("q.fifo", &attrs(&[])).is_err());
        let e = Queue::new_attributes(
            "q",
            &attrs(&[("RedrivePolicy", r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:d","maxReceiveCount":0}"#)]),
        )
        .unwrap_err();
        assert!(
            e.parts().3.contains("valid values are from 1 to 1000"),
            "{e:?}"
        );
        let r = read_redrive(r#"{"deadLetterTargetArn":"x","maxReceiveCount":"3"}"#).unwrap();
        assert_eq!(r.max_receive_count, 3);
    }
}
