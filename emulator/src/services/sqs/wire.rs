//! SQS's two protocols over one set of handlers. Handlers read their input in the JSON
//! protocol's shape and answer in it; a query-protocol request is first turned into that shape
//! (`Attribute.1.Name=…` into `Attributes`, `SendMessageBatchRequestEntry.N` into `Entries` …)
//! and its answer written as SQS's XML (`<Attribute><Name/><Value/></Attribute>`,
//! `<Message>…</Message>` …), following the query model SQS had before its move to JSON.

use serde_json::{Map, Value};

use crate::ops::SqsOp;
use crate::services::sqs::error::SqsError;
use crate::wire::xml::{element, escape};

/// The `xmlns` of SQS's query answers.
pub const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Members that are integers in the JSON protocol.
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
];

fn malformed(what: &str) -> SqsError {
    SqsError::Malformed(format!("{what} is not a list of entries numbered from 1"))
}

fn list(v: Value, what: &str) -> Result<Vec<Value>, SqsError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(malformed(what)),
    }
}

/// `Name.N.<key>=k&Name.N.<value>=v` as a map.
fn pairs(v: Value, what: &str, key: &str, value: &str) -> Result<Value, SqsError> {
    let mut out = Map::new();
    for item in list(v, what)? {
        let k = item
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| SqsError::Malformed(format!("an entry of {what} has no {key}")))?;
        let v = item.get(value).cloned().unwrap_or(Value::Null);
        out.insert(k.to_owned(), v);
    }
    Ok(Value::Object(out))
}

/// A message attribute value of the query protocol (`StringListValue.N`) in the JSON shape.
fn attribute_value(v: Value) -> Value {
    let Value::Object(m) = v else { return v };
    Value::Object(
        m.into_iter()
            .map(|(k, v)| match k.as_str() {
                "StringListValue" => ("StringListValues".to_owned(), v),
                "BinaryListValue" => ("BinaryListValues".to_owned(), v),
                _ => (k, v),
            })
            .collect(),
    )
}

/// A query-protocol request's parameters (as [`crate::wire::Query::tree`] nests them) in the
/// JSON protocol's shape.
pub fn input_from_query(tree: Value) -> Result<Value, SqsError> {
    let Value::Object(top) = tree else {
        return Ok(Value::Object(Map::new()));
    };
    let mut out = Map::new();
    for (k, v) in top {
        let (name, value) = match k.as_str() {
            "Action" | "Version" => continue,
            "Attribute" => ("Attributes".to_owned(), pairs(v, &k, "Name", "Value")?),
            "Tag" => ("Tags".to_owned(), pairs(v, &k, "Key", "Value")?),
            "TagKey" => ("TagKeys".to_owned(), Value::Array(list(v, &k)?)),
            "AttributeName" | "MessageSystemAttributeName" | "MessageAttributeName" => {
                (format!("{k}s"), Value::Array(list(v, &k)?))
            }
            "MessageAttribute" | "MessageSystemAttribute" => {
                let Value::Object(m) = pairs(v, &k, "Name", "Value")? else {
                    continue;
                };
                let m = m
                    .into_iter()
                    .map(|(n, v)| (n, attribute_value(v)))
                    .collect();
                (format!("{k}s"), Value::Object(m))
            }
            entries if entries.ends_with("BatchRequestEntry") => {
                let items = list(v, entries)?
                    .into_iter()
                    .map(input_from_query)
                    .collect::<Result<Vec<_>, _>>()?;
                ("Entries".to_owned(), Value::Array(items))
            }
            integer if INTEGERS.contains(&integer) => {
                let n = v
                    .as_str()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .map_or(v.clone(), Value::from);
                (k, n)
            }
            _ => (k, v),
        };
        out.insert(name, value);
    }
    Ok(Value::Object(out))
}

/// The element each item of a list member is written as.
fn item_name(op: SqsOp, member: &str) -> &'static str {
    match (op, member) {
        (_, "QueueUrls" | "queueUrls") => "QueueUrl",
        (_, "Messages") => "Message",
        (_, "Failed") => "BatchResultErrorEntry",
        (SqsOp::SendMessageBatch, _) => "SendMessageBatchResultEntry",
        (SqsOp::DeleteMessageBatch, _) => "DeleteMessageBatchResultEntry",
        (SqsOp::ChangeMessageVisibilityBatch, _) => "ChangeMessageVisibilityBatchResultEntry",
        _ => "member",
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => escape(s).into_owned(),
        Value::Null => String::new(),
        other => escape(&other.to_string()).into_owned(),
    }
}

fn write_members(op: SqsOp, members: &Map<String, Value>, out: &mut String, depth: usize) {
    for (k, v) in members {
        match (k.as_str(), v) {
            ("Attributes", Value::Object(m)) => {
                for (name, value) in m {
                    out.push_str("<Attribute>");
                    out.push_str(&element("Name", name));
                    out.push_str(&format!("<Value>{}</Value>", scalar(value)));
                    out.push_str("</Attribute>");
                }
            }
            ("Tags", Value::Object(m)) => {
                for (key, value) in m {
                    out.push_str("<Tag>");
                    out.push_str(&element("Key", key));
                    out.push_str(&format!("<Value>{}</Value>", scalar(value)));
                    out.push_str("</Tag>");
                }
            }
            ("MessageAttributes", Value::Object(m)) => {
                for (name, value) in m {
                    out.push_str("<MessageAttribute>");
                    out.push_str(&element("Name", name));
                    out.push_str("<Value>");
                    if let Value::Object(fields) = value {
                        write_members(op, fields, out, depth + 1);
                    }
                    out.push_str("</Value></MessageAttribute>");
                }
            }
            (_, Value::Array(items)) => {
                let tag = item_name(op, k);
                for item in items {
                    match item {
                        Value::Object(fields) if depth < 4 => {
                            out.push_str(&format!("<{tag}>"));
                            write_members(op, fields, out, depth + 1);
                            out.push_str(&format!("</{tag}>"));
                        }
                        other => out.push_str(&format!("<{tag}>{}</{tag}>", scalar(other))),
                    }
                }
            }
            (_, Value::Object(fields)) if depth < 4 => {
                out.push_str(&format!("<{k}>"));
                write_members(op, fields, out, depth + 1);
                out.push_str(&format!("</{k}>"));
            }
            (_, other) => out.push_str(&format!("<{k}>{}</{k}>", scalar(other))),
        }
    }
}

/// An answer in the JSON shape as the inside of SQS's `<OpResult>` (`None`: the operation has
/// no output).
pub fn result_xml(op: SqsOp, v: &Value) -> Option<String> {
    let Value::Object(members) = v else {
        return None;
    };
    let no_output = matches!(
        op,
        SqsOp::DeleteMessage
            | SqsOp::DeleteQueue
            | SqsOp::PurgeQueue
            | SqsOp::SetQueueAttributes
            | SqsOp::ChangeMessageVisibility
            | SqsOp::TagQueue
            | SqsOp::UntagQueue
    );
    if no_output {
        return None;
    }
    let mut out = String::new();
    write_members(op, members, &mut out, 0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_parameters_take_the_json_shape() {
        let q = crate::wire::Query::parse(
            "Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.DelaySeconds=5&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&AttributeName.1=All",
        )
        .unwrap();
        let v = input_from_query(q.tree().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "Entries": [{
                    "Id": "a", "MessageBody": "x", "DelaySeconds": 5,
                    "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}
                }],
                "Attributes": {"VisibilityTimeout": "5"},
                "AttributeNames": ["All"]
            })
        );
        let bad = crate::wire::Query::parse("Attribute=x").unwrap();
        assert!(input_from_query(bad.tree().unwrap()).is_err());
    }

    #[test]
    fn answers_are_written_as_sqs_xml() {
        let v = json!({"Messages": [{
            "MessageId": "m", "Body": "a<b",
            "Attributes": {"SentTimestamp": "1"},
            "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}}
        }]});
        assert_eq!(
            result_xml(SqsOp::ReceiveMessage, &v).unwrap(),
            "<Message><MessageId>m</MessageId><Body>a&lt;b</Body><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType></Value></MessageAttribute></Message>"
        );
        let v = json!({"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": true}]});
        assert_eq!(
            result_xml(SqsOp::DeleteMessageBatch, &v).unwrap(),
            "<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry><BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault></BatchResultErrorEntry>"
        );
        assert_eq!(result_xml(SqsOp::DeleteQueue, &json!({})), None);
    }
}
