//! IAM policy documents (bucket policies today; identity policies when IAM is emulated): whether
//! a policy lets a principal perform an action on a resource. Statements are read as IAM reads
//! them: `Effect`, `Principal`, `Action`/`NotAction`, `Resource`/`NotResource` with `*` and `?`
//! wildcards, and `Condition` with the string and ARN operators (`StringEquals`, `StringLike`,
//! `ArnEquals`, `ArnLike`, their negations and `…IfExists`) over the request's context keys. An
//! explicit `Deny` wins; a condition operator this evaluator does not know is never satisfied,
//! so an unknown rule can only refuse, never grant.

use std::collections::BTreeMap;

use serde_json::Value;
pub use veritrail_core::wildcard::wildcard_match;

/// Who asks: an AWS service principal (`cloudtrail.amazonaws.com`) or an account/user ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Service(String),
    Aws(String),
}

/// One request to judge.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: Principal,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys (`aws:SourceArn`, `s3:x-amz-acl` …) and their values.
    pub context: BTreeMap<&'a str, String>,
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn principal_matches(v: Option<&Value>, who: &Principal) -> bool {
    match v {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(o)) => o.iter().any(|(kind, ids)| {
            strings(ids).iter().any(|id| match (kind.as_str(), who) {
                ("AWS", _) if *id == "*" => true,
                ("Service", Principal::Service(s)) => id == s,
                ("AWS", Principal::Aws(arn)) => id == arn,
                _ => false,
            })
        }),
        _ => false,
    }
}

fn listed(statement: &Value, key: &str, not_key: &str, value: &str, fold: bool) -> bool {
    if let Some(v) = statement.get(key) {
        strings(v).iter().any(|p| wildcard_match(p, value, fold))
    } else if let Some(v) = statement.get(not_key) {
        !strings(v).iter().any(|p| wildcard_match(p, value, fold))
    } else {
        false
    }
}

fn condition_holds(conditions: Option<&Value>, context: &BTreeMap<&str, String>) -> bool {
    let Some(Value::Object(ops)) = conditions else {
        return conditions.is_none();
    };
    ops.iter().all(|(op, tests)| {
        let (name, if_exists) = match op.strip_suffix("IfExists") {
            Some(n) => (n, true),
            None => (op.as_str(), false),
        };
        let Value::Object(tests) = tests else {
            return false;
        };
        tests.iter().all(|(key, wanted)| {
            let wanted = strings(wanted);
            let Some(actual) = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
            else {
                return if_exists || name.starts_with("StringNot") || name.starts_with("ArnNot");
            };
            let any = |like: bool, fold: bool| {
                wanted.iter().any(|w| {
                    if like {
                        wildcard_match(w, actual, fold)
                    } else if fold {
                        w.eq_ignore_ascii_case(actual)
                    } else {
                        *w == actual
                    }
                })
            };
            match name {
                "StringEquals" | "ArnEquals" => any(false, false),
                "StringNotEquals" | "ArnNotEquals" => !any(false, false),
                "StringEqualsIgnoreCase" => any(false, true),
                "StringNotEqualsIgnoreCase" => !any(false, true),
                "StringLike" | "ArnLike" => any(true, false),
                "StringNotLike" | "ArnNotLike" => !any(true, false),
                _ => false,
            }
        })
    })
}

/// The policy's statements, whether given as one object or a list.
fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// Whether `policy` (a JSON policy document) allows `request`: some statement allows it and no
/// statement denies it.
pub fn allows(policy: &str, request: &Request<'_>) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    let applies = |s: &Value| {
        principal_matches(s.get("Principal"), &request.principal)
            && listed(s, "Action", "NotAction", request.action, true)
            && listed(s, "Resource", "NotResource", request.resource, false)
            && condition_holds(s.get("Condition"), &request.context)
    };
    let mut allowed = false;
    for s in statements(&doc) {
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") if applies(s) => return false,
            Some("Allow") if applies(s) => allowed = true,
            _ => {}
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket policy AWS's CloudTrail guide gives for a trail's bucket.
    const CLOUDTRAIL_POLICY: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::trail-logs",
         "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit"}}},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::trail-logs/AWSLogs/000000000000/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                         "aws:SourceArn": "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit"}}}
      ]}"#;

    fn put(resource: &str, trail: &str) -> Request<'static> {
        Request {
            principal: Principal::Service("cloudtrail.amazonaws.com".into()),
            action: "s3:PutObject",
            resource: Box::leak(resource.to_owned().into_boxed_str()),
            context: BTreeMap::from([
                ("s3:x-amz-acl", "bucket-owner-full-control".to_owned()),
                ("aws:SourceArn", trail.to_owned()),
            ]),
        }
    }

    #[test]
    fn the_documented_cloudtrail_policy_allows_only_its_trail() {
        let trail = "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit";
        assert!(allows(
            CLOUDTRAIL_POLICY,
            &put("arn:aws:s3:::trail-logs/AWSLogs/000000000000/x", trail)
        ));
        assert!(!allows(
            CLOUDTRAIL_POLICY,
            &put("arn:aws:s3:::trail-logs/other/x", trail)
        ));
        assert!(!allows(
            CLOUDTRAIL_POLICY,
            &put(
                "arn:aws:s3:::trail-logs/AWSLogs/000000000000/x",
                "arn:aws:cloudtrail:us-east-1:000000000000:trail/other"
            )
        ));
        let deny = r#"{"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:Put*", "Resource": "arn:aws:s3:::trail-logs/*"}]}"#;
        assert!(!allows(
            deny,
            &put("arn:aws:s3:::trail-logs/AWSLogs/000000000000/x", trail)
        ));
        let odd = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}}"#;
        assert!(
            !allows(odd, &put("arn:aws:s3:::b/k", trail)),
            "unknown operators never grant"
        );
        assert!(!allows("not json", &put("arn:aws:s3:::b/k", trail)));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("s3:Put*", "s3:PutObject", true));
        assert!(wildcard_match("S3:PUTOBJECT", "s3:PutObject", true));
        assert!(!wildcard_match(
            "arn:aws:s3:::A/*",
            "arn:aws:s3:::a/x",
            false
        ));
        assert!(wildcard_match("a?c*", "abcdef", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*", "", false));
        let long = "a".repeat(10_000);
        assert!(!wildcard_match(
            &format!("{}b", "*a".repeat(50)),
            &long,
            false
        ));
    }
}
