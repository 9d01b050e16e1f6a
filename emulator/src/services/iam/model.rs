//! IAM's entities and rules: roles and customer managed policies as they are saved, the small
//! set of AWS managed policies the emulator knows, names, paths and tags within IAM's limits, and
//! policy documents checked as IAM checks their grammar.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::IamError;

/// A role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: i64,
    /// The trust policy, as given.
    pub assume_role_policy: String,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub tags: Vec<(String, String)>,
    /// Inline policies: name to document, as given.
    pub inline: BTreeMap<String, String>,
    /// The ARNs of the managed policies attached, in the order they were attached.
    pub attached: Vec<String>,
}

impl Role {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            crate::ACCOUNT_ID,
            self.path,
            self.name
        )
    }

    /// Checks a saved role against what any call could have stored.
    pub fn check(&self) -> Result<(), String> {
        role_name(&self.name).map_err(|e| e.parts().2.to_owned())?;
        path(&self.path).map_err(|e| e.parts().2.to_owned())?;
        if !(MIN_SESSION..=MAX_SESSION).contains(&self.max_session_duration) {
            return Err("its MaxSessionDuration is out of range".into());
        }
        Ok(())
    }
}

/// A customer managed policy (one version, `v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: i64,
    pub document: String,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl Policy {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy{}{}",
            crate::ACCOUNT_ID,
            self.path,
            self.name
        )
    }

    pub fn check(&self) -> Result<(), String> {
        policy_name(&self.name).map_err(|e| e.parts().2.to_owned())?;
        path(&self.path).map_err(|e| e.parts().2.to_owned())
    }
}

/// The AWS managed policies the emulator knows (attachable by ARN, as the recipes do): name and
/// document. IAM refuses any other `arn:aws:iam::aws:policy/…` it does not have.
pub const AWS_MANAGED: &[(&str, &str)] = &[
    (
        "AdministratorAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ),
    (
        "ReadOnlyAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:List*","cloudtrail:LookupEvents","events:Describe*","events:List*","iam:Get*","iam:List*","kms:Describe*","kms:Get*","kms:List*","qldb:Describe*","qldb:Get*","qldb:List*","s3:Get*","s3:List*","sns:Get*","sns:List*","sqs:Get*","sqs:List*"],"Resource":"*"}]}"#,
    ),
    (
        "AmazonSQSFullAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:*"],"Resource":"*"}]}"#,
    ),
    (
        "AmazonS3ReadOnlyAccess",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    ),
];

/// The AWS managed policy at `arn`, if the emulator knows it.
pub fn aws_managed(arn: &str) -> Option<(&'static str, &'static str)> {
    let name = arn.strip_prefix("arn:aws:iam::aws:policy/")?;
    AWS_MANAGED.iter().find(|(n, _)| *n == name).copied()
}

/// MaxSessionDuration's range (one to twelve hours).
pub const MIN_SESSION: i64 = 3600;
pub const MAX_SESSION: i64 = 43200;
/// At most this many tags on a role or policy.
pub const MAX_TAGS: usize = 50;
/// At most this many managed policies attached to one role.
pub const MAX_ATTACHED: usize = 10;
/// The longest trust policy, inline policies of a role together, and managed policy document.
pub const MAX_TRUST_POLICY: usize = 2048;
pub const MAX_INLINE_TOTAL: usize = 10240;
pub const MAX_MANAGED_POLICY: usize = 6144;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn name_of(value: &str, member: &str, max: usize) -> Result<(), IamError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(IamError::constraint(
            value,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !value.chars().all(is_name_char) {
        return Err(IamError::constraint(
            value,
            member,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

pub fn role_name(v: &str) -> Result<(), IamError> {
    name_of(v, "roleName", 64)
}

pub fn policy_name(v: &str) -> Result<(), IamError> {
    name_of(v, "policyName", 128)
}

/// A path: `/`, or `/` … `/` of printable ASCII, at most 512 characters.
pub fn path(v: &str) -> Result<(), IamError> {
    let ok = v.len() <= 512
        && (v == "/"
            || (v.len() > 1
                && v.starts_with('/')
                && v.ends_with('/')
                && v.chars().all(|c| ('!'..='~').contains(&c))));
    if ok {
        Ok(())
    } else {
        Err(IamError::constraint(
            v,
            "path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ))
    }
}

/// A description: at most 1000 characters.
pub fn description(v: &str) -> Result<(), IamError> {
    if v.chars().count() > 1000 {
        return Err(IamError::constraint(
            v,
            "description",
            "Member must have length less than or equal to 1000",
        ));
    }
    Ok(())
}

/// Tags as the query protocol gives them (`Tags.member.N.Key/Value`), checked.
pub fn tags(input: &Value) -> Result<Vec<(String, String)>, IamError> {
    let members = match input.get("Tags").and_then(|t| t.get("member")) {
        None => return Ok(Vec::new()),
        Some(Value::Array(m)) => m,
        Some(_) => return Err(IamError::InvalidInput("Tags must be a list.".into())),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for m in members {
        let key = m
            .get("Key")
            .and_then(Value::as_str)
            .ok_or_else(|| IamError::missing("tags.member.key"))?;
        let value = m.get("Value").and_then(Value::as_str).unwrap_or("");
        if key.is_empty() || key.chars().count() > 128 {
            return Err(IamError::constraint(
                key,
                "tags.member.key",
                "Member must have length between 1 and 128",
            ));
        }
        if value.chars().count() > 256 {
            return Err(IamError::constraint(
                value,
                "tags.member.value",
                "Member must have length less than or equal to 256",
            ));
        }
        if key.starts_with("aws:") {
            return Err(IamError::InvalidInput(
                "User-defined tags cannot start with the reserved prefix 'aws:'.".into(),
            ));
        }
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(IamError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    if out.len() > MAX_TAGS {
        return Err(IamError::LimitExceeded(format!(
            "The number of tags has reached the maximum limit of {MAX_TAGS}."
        )));
    }
    Ok(out)
}

/// Which kind of policy a document is: a trust policy names principals; a permissions policy
/// names resources and must not name principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Trust,
    Permissions,
}

fn string_or_strings(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => {
            !a.is_empty() && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty()))
        }
        _ => false,
    }
}

/// Checks a policy document's grammar as IAM does, with IAM's messages.
pub fn policy_document(text: &str, kind: PolicyKind) -> Result<(), IamError> {
    let malformed = |m: &str| IamError::MalformedPolicyDocument(m.to_owned());
    let doc: Value =
        serde_json::from_str(text).map_err(|_| malformed("This policy contains invalid Json"))?;
    let Some(doc) = doc.as_object() else {
        return Err(malformed("This policy contains invalid Json"));
    };
    for key in doc.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed(&format!(
                "Syntax errors in policy. Unknown field {key}"
            )));
        }
    }
    match doc.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return Err(malformed("The policy failed legacy parsing")),
    }
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err(malformed("Syntax errors in policy.")),
    };
    for s in statements {
        let Some(s) = s.as_object() else {
            return Err(malformed("Syntax errors in policy."));
        };
        for key in s.keys() {
            if !matches!(
                key.as_str(),
                "Sid"
                    | "Effect"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Principal"
                    | "NotPrincipal"
                    | "Condition"
            ) {
                return Err(malformed(&format!(
                    "Syntax errors in policy. Unknown field {key}"
                )));
            }
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            _ => return Err(malformed("Syntax errors in policy.")),
        }
        let action = s.get("Action").or_else(|| s.get("NotAction"));
        if !action.is_some_and(string_or_strings) {
            return Err(malformed("Policy statement must contain actions."));
        }
        if let Some(c) = s.get("Condition") {
            if !c.is_object() {
                return Err(malformed("Syntax errors in policy."));
            }
        }
        let principal = s.get("Principal").or_else(|| s.get("NotPrincipal"));
        let resource = s.get("Resource").or_else(|| s.get("NotResource"));
        match kind {
            PolicyKind::Permissions => {
                if principal.is_some() {
                    return Err(malformed("Policy document should not specify a principal."));
                }
                if !resource.is_some_and(string_or_strings) {
                    return Err(malformed("Policy statement must contain resources."));
                }
            }
            PolicyKind::Trust => {
                let ok = match principal {
                    Some(Value::String(s)) => s == "*",
                    Some(Value::Object(o)) => {
                        !o.is_empty()
                            && o.iter().all(|(k, v)| {
                                matches!(
                                    k.as_str(),
                                    "AWS" | "Service" | "Federated" | "CanonicalUser"
                                ) && string_or_strings(v)
                            })
                    }
                    _ => false,
                };
                if !ok {
                    return Err(malformed("Invalid principal in policy"));
                }
                if resource.is_some() {
                    return Err(malformed("Has prohibited field Resource"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_checked_as_iam_does() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        policy_document(trust, PolicyKind::Trust).unwrap();
        let e = policy_document(trust, PolicyKind::Permissions).unwrap_err();
        assert_eq!(
            e.parts().2,
            "Policy document should not specify a principal."
        );
        let perms = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["sqs:ReceiveMessage"],"Resource":"*"}}"#;
        policy_document(perms, PolicyKind::Permissions).unwrap();
        assert_eq!(
            policy_document("{not json", PolicyKind::Permissions)
                .unwrap_err()
                .parts()
                .0,
            "MalformedPolicyDocument"
        );
        let no_resource = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
        assert_eq!(
            policy_document(no_resource, PolicyKind::Permissions)
                .unwrap_err()
                .parts()
                .2,
            "Policy statement must contain resources."
        );
        let bad_effect = r#"{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#;
        assert!(policy_document(bad_effect, PolicyKind::Permissions).is_err());
        let bad_version = r#"{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(policy_document(bad_version, PolicyKind::Permissions).is_err());
        assert!(policy_document("[]", PolicyKind::Trust).is_err());
        for (d, ok) in [
            ("/", true),
            ("/a/b/", true),
            ("a/", false),
            ("/a", false),
            ("", false),
        ] {
            assert_eq!(path(d).is_ok(), ok, "{d}");
        }
        assert!(role_name("ok_Name+=,.@-1").is_ok());
        assert!(role_name("bad name").is_err());
        assert!(role_name(&"r".repeat(65)).is_err());
        assert_eq!(
            aws_managed("arn:aws:iam::aws:policy/ReadOnlyAccess").map(|p| p.0),
            Some("ReadOnlyAccess")
        );
        assert!(aws_managed("arn:aws:iam::aws:policy/Nope").is_none());
        for (_, doc) in AWS_MANAGED {
            policy_document(doc, PolicyKind::Permissions).unwrap();
        }
    }
}
