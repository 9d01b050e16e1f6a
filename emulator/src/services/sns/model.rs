//! Topics and subscriptions, their attributes with SNS's rules, and the rules of published
//! messages (size, subject, message attributes).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::services::sns::error::SnsError;

/// The largest message (with its attributes) SNS publishes, and the largest batch.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// How long a subscription's confirmation token is valid.
pub const TOKEN_TTL_MS: i64 = 3 * 24 * 3600 * 1000;
/// A FIFO topic's deduplication window.
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topic {
    pub arn: String,
    pub name: String,
    pub region: String,
    /// Settable attributes as set (`DisplayName`, `Policy`, `FifoTopic` …).
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The next FIFO sequence number.
    pub next_seq: i64,
    /// Subscriptions removed from it (`SubscriptionsDeleted`).
    pub deleted_subscriptions: u64,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub confirmed: bool,
    /// The token of the confirmation sent to an HTTP endpoint, and until when it is valid.
    #[serde(with = "crate::services::saved::present")]
    pub token: Option<String>,
    pub token_expires: i64,
    /// `RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`, `RedrivePolicy`,
    /// `DeliveryPolicy`, `SubscriptionRoleArn`, as set.
    pub attributes: BTreeMap<String, String>,
    /// Where the emulator was reached when the subscription was made (for the links in
    /// messages: SubscribeURL, UnsubscribeURL).
    pub base_url: String,
}

/// The protocols SNS knows; the emulator delivers to `sqs`, `http` and `https`.
pub const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
];

const TOPIC_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "DisplayName",
    "FifoTopic",
    "Policy",
    "SignatureVersion",
    "TracingConfig",
    "KmsMasterKeyId",
    "ContentBasedDeduplication",
    "ArchivePolicy",
    "FifoThroughputScope",
    "DataProtectionPolicy",
];

const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

fn invalid(m: impl Into<String>) -> SnsError {
    SnsError::InvalidParameter(m.into())
}

/// `arn:aws:sns:<region>:<account>:<name>`.
pub fn topic_arn(region: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{}:{name}", crate::ACCOUNT_ID)
}

/// The region of a topic ARN of this account (`Invalid parameter: TopicArn` otherwise).
pub fn topic_region(arn: &str) -> Result<&str, SnsError> {
    let rest = arn
        .strip_prefix("arn:aws:sns:")
        .ok_or_else(|| invalid("Invalid parameter: TopicArn"))?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [region, account, name]
            if !region.is_empty() && !name.is_empty() && *account == crate::ACCOUNT_ID =>
        {
            Ok(region)
        }
        _ => Err(invalid("Invalid parameter: TopicArn")),
    }
}

/// Checks a topic name: 1 to 256 letters, digits, hyphens and underscores; a FIFO topic's ends
/// with `.fifo`.
pub fn check_topic_name(name: &str, fifo: bool) -> Result<(), SnsError> {
    let stem = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    let ok = name.len() <= 256
        && stem.is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else if fifo {
        Err(invalid(
            "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
        ))
    } else {
        Err(invalid("Invalid parameter: Topic Name"))
    }
}

fn json_object(value: &str) -> bool {
    matches!(serde_json::from_str::<Value>(value), Ok(Value::Object(_)))
}

/// Checks a topic attribute; returns it as kept.
pub fn check_topic_attribute(name: &str, value: &str, fifo: bool) -> Result<String, SnsError> {
    let known = TOPIC_ATTRIBUTES.contains(&name)
        || name.ends_with("FeedbackRoleArn")
        || name.ends_with("FeedbackSampleRate");
    if !known {
        return Err(invalid("Invalid parameter: AttributeName"));
    }
    let bad = || {
        invalid(format!(
            "Invalid parameter: Attributes Reason: {name}: invalid value {value}"
        ))
    };
    match name {
        "Policy" | "DeliveryPolicy" | "ArchivePolicy" | "DataProtectionPolicy"
            if !value.is_empty() && !json_object(value) =>
        {
            Err(bad())
        }
        "SignatureVersion" if !matches!(value, "1" | "2") => Err(bad()),
        "FifoTopic" if !matches!(value.to_ascii_lowercase().as_str(), "true" | "false") => {
            Err(bad())
        }
        "ContentBasedDeduplication" if !fifo => Err(invalid(
            "Invalid parameter: Attributes Reason: Content-based deduplication can only be set for FIFO topics",
        )),
        "ContentBasedDeduplication"
            if !matches!(value.to_ascii_lowercase().as_str(), "true" | "false") =>
        {
            Err(bad())
        }
        "DisplayName" if value.chars().count() > 100 => Err(bad()),
        "FifoTopic" | "ContentBasedDeduplication" => Ok(value.to_ascii_lowercase()),
        _ => Ok(value.to_owned()),
    }
}

/// Checks a subscription attribute (`prefix` is how SNS begins the message: for Subscribe,
/// `Invalid parameter: Attributes Reason: `). Filter policies are checked by
/// [`crate::services::sns::filter`].
pub fn check_subscription_attribute(
    name: &str,
    value: &str,
    prefix: &str,
) -> Result<String, SnsError> {
    if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
        return Err(invalid(format!("{prefix}AttributeName")));
    }
    match name {
        "RawMessageDelivery" => match value.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Ok(v.to_owned()),
            _ => Err(invalid(format!(
                "{prefix}RawMessageDelivery: Invalid value [{value}]. Must be true or false."
            ))),
        },
        "FilterPolicyScope" => match value {
            "MessageAttributes" | "MessageBody" => Ok(value.to_owned()),
            _ => Err(invalid(format!(
                "{prefix}FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
            ))),
        },
        "RedrivePolicy" => {
            let v: Value = serde_json::from_str(value)
                .map_err(|_| invalid(format!("{prefix}RedrivePolicy: failed to parse JSON.")))?;
            let target = v
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .unwrap_or("");
            if crate::services::sqs::model::parse_arn(target).is_none() {
                return Err(invalid(format!(
                    "{prefix}RedrivePolicy: deadLetterTargetArn is an invalid arn"
                )));
            }
            Ok(value.to_owned())
        }
        "DeliveryPolicy" | "ReplayPolicy" if !value.is_empty() && !json_object(value) => {
            Err(invalid(format!("{prefix}{name}: failed to parse JSON.")))
        }
        _ => Ok(value.to_owned()),
    }
}

/// The attribute types SNS takes (`String`, `String.Array`, `Number`, `Binary`).
fn base_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "String" => Some("String"),
        "String.Array" => Some("String.Array"),
        "Number" => Some("Number"),
        "Binary" => Some("Binary"),
        t if t.starts_with("String.") => Some("String"),
        t if t.starts_with("Number.") => Some("Number"),
        t if t.starts_with("Binary.") => Some("Binary"),
        _ => None,
    }
}

fn check_attribute_name(name: &str) -> Result<(), SnsError> {
    let v = |m: String| SnsError::InvalidParameterValue(m);
    if name.len() > 256 {
        return Err(v(
            "Length of message attribute name must be less than 256 bytes.".into(),
        ));
    }
    if name.starts_with('.') {
        return Err(v(
            "Invalid message attribute name starting with character '.' was found.".into(),
        ));
    }
    if name.ends_with('.') {
        return Err(v(
            "Invalid message attribute name ending with character '.' was found.".into(),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(v(format!(
            "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            u32::from(c)
        )));
    }
    if name.contains("..") {
        return Err(v(
            "Message attribute name can not have successive '.' character.".into(),
        ));
    }
    Ok(())
}

/// Checks published message attributes (`{"name": {"DataType", "StringValue" | "BinaryValue"}}`);
/// returns their size in bytes.
pub fn check_message_attributes(attributes: &Map<String, Value>) -> Result<usize, SnsError> {
    if attributes.len() > 10 {
        return Err(SnsError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attributes.len()
        )));
    }
    let mut size = 0;
    for (name, attr) in attributes {
        check_attribute_name(name)?;
        let data_type = attr
            .get("DataType")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                SnsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' must contain a DataType."
                ))
            })?;
        let base = base_type(data_type).ok_or_else(|| {
            SnsError::InvalidParameterValue(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            ))
        })?;
        let member = if base == "Binary" {
            "BinaryValue"
        } else {
            "StringValue"
        };
        let value = attr.get(member).and_then(Value::as_str).unwrap_or("");
        if value.is_empty() {
            return Err(SnsError::InvalidParameterValue(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )));
        }
        let bytes = if base == "Binary" {
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| {
                    SnsError::InvalidParameterValue(format!(
                        "The message attribute '{name}' with type 'Binary' must be base64."
                    ))
                })?
                .len()
        } else {
            value.len()
        };
        match base {
            "Number" if value.parse::<f64>().map_or(true, |n| !n.is_finite()) => {
                return Err(SnsError::InvalidParameterValue(format!(
                    "An error occurred while trying to parse the value '{value}' of the message attribute '{name}' of type 'Number'."
                )));
            }
            "String.Array"
                if !matches!(serde_json::from_str::<Value>(value), Ok(Value::Array(_))) =>
            {
                return Err(SnsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' with type 'String.Array' does not contain a valid JSON array."
                )));
            }
            _ => {}
        }
        size += name.len() + data_type.len() + bytes;
    }
    Ok(size)
}

/// Checks a Subject: at most 100 printable ASCII characters, no line breaks.
pub fn check_subject(subject: &str) -> Result<(), SnsError> {
    let ok = !subject.is_empty()
        && subject.chars().count() <= 100
        && subject
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control());
    if ok {
        Ok(())
    } else {
        Err(invalid("Invalid parameter: Subject"))
    }
}

impl Topic {
    pub fn fifo(&self) -> bool {
        self.attributes
            .get("FifoTopic")
            .is_some_and(|v| v == "true")
    }

    pub fn content_based_dedup(&self) -> bool {
        self.attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true")
    }

    /// Re-checks a saved topic.
    pub fn check(&self) -> Result<(), String> {
        check_topic_name(&self.name, self.fifo()).map_err(|e| e.parts().2)?;
        if self.arn != topic_arn(&self.region, &self.name) {
            return Err(format!("topic {} has the ARN {}", self.name, self.arn));
        }
        for (k, v) in &self.attributes {
            check_topic_attribute(k, v, self.fifo())
                .map_err(|e| format!("topic {}: {}", self.name, e.parts().2))?;
        }
        Ok(())
    }
}

impl Subscription {
    pub fn raw(&self) -> bool {
        self.attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v == "true")
    }

    /// Re-checks a saved subscription.
    pub fn check(&self) -> Result<(), String> {
        if !self.arn.starts_with(&format!("{}:", self.topic_arn))
            || !PROTOCOLS.contains(&self.protocol.as_str())
        {
            return Err(format!("subscription {} is not one SNS makes", self.arn));
        }
        for (k, v) in &self.attributes {
            check_subscription_attribute(k, v, "")
                .map_err(|e| format!("subscription {}: {}", self.arn, e.parts().2))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_attributes_and_messages_follow_sns_rules() {
        assert!(check_topic_name("alerts", false).is_ok());
        assert!(check_topic_name("alerts.fifo", true).is_ok());
        assert!(check_topic_name("alerts.fifo", false).is_err());
        assert!(check_topic_name("", false).is_err());
        assert_eq!(
            topic_region("arn:aws:sns:eu-west-1:000000000000:t").unwrap(),
            "eu-west-1"
        );
        assert!(topic_region("arn:aws:sqs:eu-west-1:000000000000:t").is_err());
        assert!(check_topic_attribute("Colour", "x", false).is_err());
        assert!(check_topic_attribute("ContentBasedDeduplication", "true", false).is_err());
        assert_eq!(
            check_subscription_attribute("RawMessageDelivery", "TRUE", "").unwrap(),
            "true"
        );
        let e = check_subscription_attribute(
            "FilterPolicyScope",
            "Body",
            "Invalid parameter: Attributes Reason: ",
        )
        .unwrap_err();
        assert!(
            e.parts()
                .2
                .starts_with("Invalid parameter: Attributes Reason: FilterPolicyScope"),
            "{e:?}"
        );
        let attrs = json!({"k": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1.5"}});
        assert_eq!(
            check_message_attributes(attrs.as_object().unwrap()).unwrap(),
            1 + 6 + 1 + 1 + 6 + 3
        );
        for bad in [
            json!({"k": {"DataType": "Text", "StringValue": "v"}}),
            json!({"k": {"DataType": "String", "StringValue": ""}}),
            json!({"k k": {"DataType": "String", "StringValue": "v"}}),
            json!({"k": {"DataType": "String.Array", "StringValue": "[1"}}),
            json!({"k": {"DataType": "Number", "StringValue": "x"}}),
        ] {
            let e = check_message_attributes(bad.as_object().unwrap()).unwrap_err();
            assert_eq!(e.parts().0, "ParameterValueInvalid", "{bad}");
        }
        assert!(check_subject("Alarm: disk").is_ok());
        assert!(check_subject("two\nlines").is_err());
    }
}
