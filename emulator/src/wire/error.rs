//! AWS error answers in each protocol's own shape, so every client prints the code and message
//! instead of failing to parse the answer:
//!
//! - awsJson 1.0/1.1 and rest-json: `x-amzn-ErrorType: <Code>` and `{"__type", "message"}`;
//! - rest-xml (S3): `<Error><Code/><Message/>…<RequestId/></Error>`;
//! - query (IAM, STS, SNS, SQS as awscli 1.x speaks it):
//!   `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
//!
//! Services describe their errors as one enum each (one variant per AWS error code, with AWS's
//! wording) and convert them into an [`ErrorBody`]; the request layer renders it.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::ops::Protocol;
use crate::wire::xml::escape;

/// An error to send back, in any protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Extra members of the error (`ResourceType`, `BucketName`, …), as text.
    pub extra: Vec<(&'static str, String)>,
    /// Headers the answer carries beside the error (`x-amz-delete-marker` …).
    pub headers: Vec<(&'static str, String)>,
}

/// What the CloudTrail record of a failed call says: `errorCode` and `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a member to the error body.
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((key, value.into()));
        self
    }

    /// An operation the emulator does not serve, in its protocol's usual words.
    pub fn not_served(protocol: Protocol, service: &str, operation: &str) -> Self {
        let message = format!(
            "veritrail does not emulate the {service} operation {operation} (see the emulator's COVERAGE.md)"
        );
        match protocol {
            Protocol::RestXml => Self::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message),
            Protocol::Query => Self::new(StatusCode::BAD_REQUEST, "InvalidAction", message),
            _ => Self::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                message,
            ),
        }
    }

    /// The emulator failed, not the client.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            message,
        )
    }

    /// A request body too large for the operation.
    pub fn too_large(protocol: Protocol, limit: usize) -> Self {
        match protocol {
            Protocol::RestXml => Self::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("MaxSizeAllowed", limit.to_string()),
            _ => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!("the request body is over {limit} bytes"),
            ),
        }
    }

    /// What the CloudTrail record of the call says about it.
    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code.clone().into_owned(),
            message: self.message.clone(),
        }
    }

    /// The answer in `protocol`'s shape.
    pub fn render(&self, protocol: Protocol, request_id: &str) -> Response {
        let mut response = match protocol {
            Protocol::AwsJson10 | Protocol::AwsJson11 | Protocol::RestJson => self.json(protocol),
            Protocol::RestXml => self.rest_xml(request_id),
            Protocol::Query => self.query_xml(request_id),
        };
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                response.headers_mut().insert(*name, v);
            }
        }
        response
    }

    fn json(&self, protocol: Protocol) -> Response {
        let mut body = Map::new();
        body.insert("__type".into(), Value::String(self.code.to_string()));
        // Clients read either spelling (botocore `Message` or `message`, the Rust SDK
        // `message`); QLDB's own answers carry `Message`.
        body.insert("message".into(), Value::String(self.message.clone()));
        body.insert("Message".into(), Value::String(self.message.clone()));
        for (k, v) in &self.extra {
            body.insert((*k).into(), Value::String(v.clone()));
        }
        let content_type = match protocol {
            Protocol::AwsJson10 => "application/x-amz-json-1.0",
            Protocol::AwsJson11 => "application/x-amz-json-1.1",
            _ => "application/json",
        };
        let mut response = (
            self.status,
            [("content-type", content_type)],
            Value::Object(body).to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-ErrorType", v);
        }
        response
    }

    fn extra_xml(&self) -> String {
        self.extra
            .iter()
            .map(|(k, v)| format!("<{k}>{}</{k}>", escape(v)))
            .collect()
    }

    fn rest_xml(&self, request_id: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{}<RequestId>{}</RequestId><HostId>{}</HostId></Error>",
            escape(&self.code),
            escape(&self.message),
            self.extra_xml(),
            escape(request_id),
            escape(request_id),
        );
        (self.status, [("content-type", "application/xml")], body).into_response()
    }

    fn query_xml(&self, request_id: &str) -> Response {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message>{}</Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(&self.code),
            escape(&self.message),
            self.extra_xml(),
            escape(request_id),
        );
        (self.status, [("content-type", "text/xml")], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(r: Response) -> (u16, String, String) {
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, kind, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn each_protocol_gets_its_own_shape() {
        let e = ErrorBody::new(StatusCode::BAD_REQUEST, "Nope", "a <bad> & thing").with("Key", "k");
        let (s, kind, body) = text(e.render(Protocol::AwsJson11, "R1")).await;
        assert_eq!((s, kind.as_str()), (400, "Nope"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                v["__type"].as_str(),
                v["message"].as_str(),
                v["Key"].as_str()
            ),
            (Some("Nope"), Some("a <bad> & thing"), Some("k"))
        );
        let (_, _, body) = text(e.render(Protocol::RestXml, "R1")).await;
        assert!(body.contains("<Code>Nope</Code><Message>a &lt;bad&gt; &amp; thing</Message><Key>k</Key><RequestId>R1</RequestId>"), "{body}");
        let (_, _, body) = text(e.render(Protocol::Query, "R2")).await;
        assert!(body.contains("<ErrorResponse><Error><Type>Sender</Type><Code>Nope</Code>"));
        assert!(body.contains("<RequestId>R2</RequestId></ErrorResponse>"));
    }
}
