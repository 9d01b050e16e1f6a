//! The one routing table: an HTTP request becomes an [`AwsRequest`] here, once. Its service and
//! operation come from the `X-Amz-Target` header (awsJson protocols), the SigV4 credential
//! scope's service and the path and query (rest-json, rest-xml), or the `Action` parameter
//! (query protocol); unsigned requests are QLDB by path (`/ledgers`, `/tags`) and S3 otherwise.
//!
//! Classification happens in two steps because the body's size limit depends on the
//! operation: [`classify`] reads the method, URI and headers, then [`parse`] takes the body.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use crate::ops::{
    CloudTrailOp, EventsOp, IamOp, KinesisOp, KmsOp, Operation, Protocol, QLDB_BINDINGS, QldbOp,
    QldbSessionOp, S3_BINDINGS, S3Level, S3Op, SecretsManagerOp, SnsOp, SqsOp, StsOp,
};
use crate::wire::sigv4::CredentialScope;
use crate::wire::{AwsRequest, ErrorBody, Query, Resource, json, query};

/// S3 objects up to this size are stored (a larger PUT gets `EntityTooLarge`).
pub const MAX_OBJECT: usize = 64 << 20;
/// JSON request bodies (QLDB session commands carry up to 4 MB of parameters per transaction).
pub const MAX_JSON_BODY: usize = 8 << 20;
/// Bodies of every other request (S3 configurations, query-protocol forms).
pub const MAX_OTHER_BODY: usize = crate::wire::xml::MAX_BODY;

/// A request's protocol and operation, known before its body is read.
#[derive(Debug, Clone)]
pub struct Classified {
    pub protocol: Protocol,
    /// `None` for the query protocol, whose operation is in the body.
    pub operation: Option<Operation>,
    pub resource: Resource,
    pub scope: Option<CredentialScope>,
    pub query: Query,
    /// The largest body this request may carry.
    pub body_limit: usize,
    /// The request is malformed before its body is read (bad encoding in the URI …).
    pub rejection: Option<ErrorBody>,
}

/// Why a request cannot be what it claims, before any handler sees it.
fn invalid_uri(protocol: Protocol, why: &str) -> ErrorBody {
    match protocol {
        Protocol::RestXml => ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            format!("Couldn't parse the specified URI: {why}"),
        ),
        _ => ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!("the request URI is not valid: {why}"),
        ),
    }
}

/// Reads the method, URI and headers of a request.
pub fn classify(method: &Method, uri: &Uri, headers: &HeaderMap) -> Classified {
    let path = uri.path();
    let (query, query_error) = match Query::parse(uri.query().unwrap_or("")) {
        Ok(q) => (q, None),
        Err(e) => (Query::default(), Some(e.0)),
    };
    let scope = CredentialScope::of(headers, &query);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut out = Classified {
        protocol: Protocol::RestXml,
        operation: None,
        resource: Resource::None,
        scope: scope.clone(),
        query,
        body_limit: MAX_OTHER_BODY,
        rejection: None,
    };
    let service = scope.as_ref().map(|s| s.service.as_str());
    if let Some(target) = target {
        out.body_limit = MAX_JSON_BODY;
        let (prefix, name) = target.rsplit_once('.').unwrap_or(("", target));
        let (protocol, operation) = match prefix {
            "QLDBSession" => (
                Protocol::AwsJson10,
                QldbSessionOp::from_name(name).map(Operation::QldbSession),
            ),
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101" | "CloudTrail_20131101" => (
                Protocol::AwsJson11,
                CloudTrailOp::from_name(name).map(Operation::CloudTrail),
            ),
            "AWSEvents" => (
                Protocol::AwsJson11,
                EventsOp::from_name(name).map(Operation::Events),
            ),
            "AmazonSQS" => (
                Protocol::AwsJson10,
                SqsOp::from_name(name).map(Operation::Sqs),
            ),
            "TrentService" => (
                Protocol::AwsJson11,
                KmsOp::from_name(name).map(Operation::Kms),
            ),
            "Kinesis_20131202" => (
                Protocol::AwsJson11,
                KinesisOp::from_name(name).map(Operation::Kinesis),
            ),
            "secretsmanager" => (
                Protocol::AwsJson11,
                SecretsManagerOp::from_name(name).map(Operation::SecretsManager),
            ),
            _ if content_type.contains("json-1.0") => (Protocol::AwsJson10, None),
            _ => (Protocol::AwsJson11, None),
        };
        out.protocol = protocol;
        out.operation = Some(operation.unwrap_or_else(|| Operation::NotServed {
            service: service.unwrap_or(prefix).to_owned(),
            operation: name.to_owned(),
        }));
    } else {
        let qldb_path = path.starts_with("/ledgers")
            || path.starts_with("/tags/")
            || path.starts_with("/journal-s3-exports");
        // The links SNS sends to HTTP subscribers are followed without signing.
        let sns_link = matches!(
            out.query.get("Action"),
            Some("ConfirmSubscription" | "Unsubscribe")
        ) && (out.query.contains("TopicArn")
            || out.query.contains("SubscriptionArn"));
        match service {
            Some("s3") => s3(method, path, headers, &mut out),
            Some("qldb") => qldb(method, path, &mut out),
            None if qldb_path => qldb(method, path, &mut out),
            None if sns_link => {
                out.protocol = Protocol::Query;
                out.operation = out.query.get("Action").map(|a| query_operation("sns", a));
            }
            None => s3(method, path, headers, &mut out),
            Some(other)
                if content_type.starts_with("application/x-www-form-urlencoded")
                    || out.query.contains("Action") =>
            {
                out.protocol = Protocol::Query;
                if other == "sqs" {
                    // A batch of messages of up to 1 MiB, percent-encoded.
                    out.body_limit = MAX_JSON_BODY;
                }
                out.operation = out.query.get("Action").map(|a| query_operation(other, a));
            }
            Some(other) => {
                out.protocol = Protocol::RestJson;
                out.operation = Some(Operation::NotServed {
                    service: other.to_owned(),
                    operation: format!("{method} {path}"),
                });
            }
        }
    }
    if let Some(why) = query_error {
        out.rejection = Some(invalid_uri(out.protocol, &why));
    }
    out
}

/// The operation a query-protocol request names with `Action`, for the service it was signed
/// for.
fn query_operation(service: &str, action: &str) -> Operation {
    let served = match service {
        "sqs" => SqsOp::from_name(action).map(Operation::Sqs),
        "sns" => SnsOp::from_name(action).map(Operation::Sns),
        "sts" => StsOp::from_name(action).map(Operation::Sts),
        "iam" => IamOp::from_name(action).map(Operation::Iam),
        _ => None,
    };
    served.unwrap_or_else(|| Operation::NotServed {
        service: service.to_owned(),
        operation: action.to_owned(),
    })
}

/// S3's path-style addressing: `/`, `/bucket`, `/bucket/key…`.
fn s3(method: &Method, path: &str, headers: &HeaderMap, out: &mut Classified) {
    out.protocol = Protocol::RestXml;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b, Some(k)),
        Some((b, _)) => (b, None),
        None => (trimmed, None),
    };
    let decoded = query::decode(bucket).and_then(|b| match key {
        Some(k) => query::decode(k).map(|k| (b, Some(k))),
        None => Ok((b, None)),
    });
    let (bucket, key) = match decoded {
        Ok(parts) => parts,
        Err(e) => {
            out.rejection = Some(invalid_uri(Protocol::RestXml, &e.0));
            out.operation = Some(Operation::NotServed {
                service: "s3".into(),
                operation: format!("{method} (undecodable path)"),
            });
            return;
        }
    };
    let level = match (&key, bucket.is_empty()) {
        (_, true) => S3Level::Service,
        (Some(_), false) => S3Level::Object,
        (None, false) => S3Level::Bucket,
    };
    out.resource = match (level, key) {
        (S3Level::Object, Some(key)) => Resource::Object {
            bucket: bucket.clone(),
            key,
        },
        (S3Level::Bucket, _) => Resource::Bucket(bucket.clone()),
        _ => Resource::None,
    };
    let q = &out.query;
    let mut op = S3_BINDINGS
        .iter()
        .find(|(m, l, sub, _)| {
            *m == method.as_str() && *l == level && (sub.is_empty() || q.contains(sub))
        })
        .map(|(_, _, _, op)| *op);
    // Operations that share a binding with another.
    let copy = headers.contains_key("x-amz-copy-source");
    op = match op {
        Some(S3Op::PutObject) if copy => Some(S3Op::CopyObject),
        Some(S3Op::UploadPart) if copy => Some(S3Op::UploadPartCopy),
        Some(S3Op::ListObjects) if q.get("list-type") == Some("2") => Some(S3Op::ListObjectsV2),
        Some(
            o @ (S3Op::GetBucketAnalyticsConfiguration
            | S3Op::GetBucketInventoryConfiguration
            | S3Op::GetBucketMetricsConfiguration
            | S3Op::GetBucketIntelligentTieringConfiguration),
        ) if !q.contains("id") => Some(match o {
            S3Op::GetBucketAnalyticsConfiguration => S3Op::ListBucketAnalyticsConfigurations,
            S3Op::GetBucketInventoryConfiguration => S3Op::ListBucketInventoryConfigurations,
            S3Op::GetBucketMetricsConfiguration => S3Op::ListBucketMetricsConfigurations,
            _ => S3Op::ListBucketIntelligentTieringConfigurations,
        }),
        other => other,
    };
    if matches!(op, Some(S3Op::PutObject | S3Op::UploadPart)) {
        out.body_limit = MAX_OBJECT;
    }
    out.operation = Some(match op {
        Some(op) => Operation::S3(op),
        None => Operation::NotServed {
            service: "s3".into(),
            operation: format!("{method} on {level:?}"),
        },
    });
}

/// QLDB's rest-json paths.
fn qldb(method: &Method, path: &str, out: &mut Classified) {
    out.protocol = Protocol::RestJson;
    out.body_limit = MAX_JSON_BODY;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = QLDB_BINDINGS.iter().find_map(|(m, template, op)| {
        if *m != method.as_str() {
            return None;
        }
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        let mut params = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match *part {
                "{+}" => {
                    let rest = segments.get(i..).filter(|r| !r.is_empty())?;
                    params.push(rest.join("/"));
                    return Some((*op, params));
                }
                "{}" => params.push((*segments.get(i)?).to_owned()),
                literal if segments.get(i) == Some(&literal) => {}
                _ => return None,
            }
        }
        (parts.len() == segments.len()).then_some((*op, params))
    });
    let Some((op, params)) = found else {
        out.operation = Some(Operation::NotServed {
            service: "qldb".into(),
            operation: format!("{method} {path}"),
        });
        return;
    };
    out.operation = Some(Operation::Qldb(op));
    let decoded: Result<Vec<String>, _> = params.iter().map(|p| query::decode(p)).collect();
    match decoded {
        Ok(params) => {
            out.resource = match (op, params.as_slice()) {
                (
                    QldbOp::TagResource | QldbOp::UntagResource | QldbOp::ListTagsForResource,
                    [arn],
                ) => Resource::Arn(arn.clone()),
                (_, [name]) => Resource::Ledger {
                    name: name.clone(),
                    child: None,
                },
                (_, [name, child]) => Resource::Ledger {
                    name: name.clone(),
                    child: Some(child.clone()),
                },
                _ => Resource::None,
            };
        }
        Err(e) => out.rejection = Some(invalid_uri(Protocol::RestJson, &e.0)),
    }
}

/// A request that [`parse`] made, and the error it must be answered with instead of being
/// handled, if any.
#[derive(Debug)]
pub struct Parsed {
    pub request: AwsRequest,
    pub rejection: Option<ErrorBody>,
}

/// Completes a classified request with its body.
pub fn parse(
    classified: Classified,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
    request_id: String,
    source_ip: Option<IpAddr>,
) -> Parsed {
    let Classified {
        protocol,
        operation,
        resource,
        scope,
        query,
        rejection,
        ..
    } = classified;
    let mut rejection = rejection;
    let mut json_body = None;
    let operation = match (protocol, operation) {
        (Protocol::Query, op) => {
            // The action is in the query or in the form body.
            let form = std::str::from_utf8(&body)
                .ok()
                .and_then(|b| Query::parse(b).ok())
                .unwrap_or_default();
            op.or_else(|| {
                form.get("Action").map(|a| {
                    query_operation(scope.as_ref().map_or("unknown", |s| s.service.as_str()), a)
                })
            })
            .unwrap_or_else(|| Operation::NotServed {
                service: scope
                    .as_ref()
                    .map_or("unknown", |s| s.service.as_str())
                    .to_owned(),
                operation: "(no Action)".to_owned(),
            })
        }
        (Protocol::AwsJson10 | Protocol::AwsJson11 | Protocol::RestJson, Some(op)) => {
            if op.served() {
                match json::parse_body(&body) {
                    Ok(v) => json_body = Some(v),
                    Err(e) => {
                        rejection.get_or_insert(e);
                    }
                }
            }
            op
        }
        (_, Some(op)) => op,
        (_, None) => Operation::NotServed {
            service: "unknown".into(),
            operation: method.to_string(),
        },
    };
    Parsed {
        request: AwsRequest {
            operation,
            protocol,
            resource,
            region: scope
                .as_ref()
                .map_or_else(|| "us-east-1".to_owned(), |s| s.region.clone()),
            access_key: scope.map(|s| s.access_key),
            identity: None,
            request_id,
            method,
            path: uri.path().to_owned(),
            query,
            raw_query: uri.query().unwrap_or("").to_owned(),
            headers,
            body,
            json: json_body,
            source_ip: source_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        },
        rejection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (Protocol, Option<Operation>, Resource) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let c = classify(&method.parse().unwrap(), &uri.parse().unwrap(), &h);
        (c.protocol, c.operation, c.resource)
    }

    const S3_AUTH: (&str, &str) = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
    );

    #[test]
    fn one_table_names_every_operation() {
        let s3 = |m: &str, u: &str| op(m, u, &[S3_AUTH]).1.unwrap();
        assert_eq!(s3("GET", "/"), Operation::S3(S3Op::ListBuckets));
        assert_eq!(s3("PUT", "/b"), Operation::S3(S3Op::CreateBucket));
        assert_eq!(
            s3("GET", "/b?list-type=2&prefix=x"),
            Operation::S3(S3Op::ListObjectsV2)
        );
        assert_eq!(
            s3("GET", "/b?versions"),
            Operation::S3(S3Op::ListObjectVersions)
        );
        assert_eq!(
            s3("PUT", "/b?replication"),
            Operation::S3(S3Op::PutBucketReplication)
        );
        assert_eq!(
            s3("GET", "/b?metrics"),
            Operation::S3(S3Op::ListBucketMetricsConfigurations)
        );
        assert_eq!(
            s3("GET", "/b?metrics&id=1"),
            Operation::S3(S3Op::GetBucketMetricsConfiguration)
        );
        assert_eq!(
            s3("PUT", "/b/k?retention"),
            Operation::S3(S3Op::PutObjectRetention)
        );
        assert_eq!(
            s3("PUT", "/b/k?partNumber=1&uploadId=u"),
            Operation::S3(S3Op::UploadPart)
        );
        assert_eq!(
            op("PUT", "/b/k", &[S3_AUTH, ("x-amz-copy-source", "/a/b")]).1,
            Some(Operation::S3(S3Op::CopyObject))
        );
        let (_, _, resource) = op("GET", "/b/a%2Fb%20c", &[S3_AUTH]);
        assert_eq!(
            resource,
            Resource::Object {
                bucket: "b".into(),
                key: "a/b c".into()
            }
        );
        let mut h = HeaderMap::new();
        h.insert("authorization", S3_AUTH.1.parse().unwrap());
        let c = classify(&Method::GET, &"/b/%FF".parse().unwrap(), &h);
        assert_eq!(c.rejection.unwrap().code, "InvalidURI");

        assert_eq!(
            op("POST", "/ledgers", &[]).1,
            Some(Operation::Qldb(QldbOp::CreateLedger))
        );
        assert_eq!(
            op("GET", "/ledgers/bank/journal-s3-exports/x", &[]).1,
            Some(Operation::Qldb(QldbOp::DescribeJournalS3Export))
        );
        let (_, o, r) = op(
            "POST",
            "/tags/arn%3Aaws%3Aqldb%3Aus-east-1%3A0%3Aledger%2Fbank",
            &[],
        );
        assert_eq!(o, Some(Operation::Qldb(QldbOp::TagResource)));
        assert_eq!(
            r,
            Resource::Arn("arn:aws:qldb:us-east-1:0:ledger/bank".into())
        );

        assert_eq!(
            op(
                "POST",
                "/",
                &[("x-amz-target", "CloudTrail_20131101.GetTrail")]
            )
            .1,
            Some(Operation::CloudTrail(CloudTrailOp::GetTrail))
        );
        let (p, o, _) = op("POST", "/", &[("x-amz-target", "AWSEvents.PutRule")]);
        assert_eq!(p, Protocol::AwsJson11);
        assert_eq!(o, Some(Operation::Events(EventsOp::PutRule)));
        let iam = "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let (p, o, _) = op(
            "POST",
            "/",
            &[
                ("authorization", iam),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        );
        assert_eq!((p, o), (Protocol::Query, None));
        assert_eq!(
            query_operation("iam", "CreateRole"),
            Operation::Iam(IamOp::CreateRole)
        );
        assert_eq!(
            query_operation("sts", "GetCallerIdentity"),
            Operation::Sts(StsOp::GetCallerIdentity)
        );
        let (p, o, _) = op("POST", "/", &[("x-amz-target", "TrentService.Encrypt")]);
        assert_eq!(
            (p, o),
            (Protocol::AwsJson11, Some(Operation::Kms(KmsOp::Encrypt)))
        );
        let (p, o, _) = op(
            "POST",
            "/",
            &[("x-amz-target", "Kinesis_20131202.GetRecords")],
        );
        assert_eq!(
            (p, o),
            (
                Protocol::AwsJson11,
                Some(Operation::Kinesis(KinesisOp::GetRecords))
            )
        );
        let (_, o, _) = op(
            "POST",
            "/",
            &[("x-amz-target", "secretsmanager.GetRandomPassword")],
        );
        assert_eq!(
            o,
            Some(Operation::SecretsManager(
                SecretsManagerOp::GetRandomPassword
            ))
        );
    }
}
