//! Reading an EventBridge request's members against the API model's constraints (lengths,
//! patterns, enums, ranges), the way the service does: every broken constraint is collected and
//! reported at once as one `ValidationException` ("2 validation errors detected: Value 'x' at
//! 'name' failed to satisfy constraint: …; …"). A member of the wrong JSON type is a
//! `SerializationException` at once, as the service's deserializer answers it.

use serde_json::{Map, Value};

use crate::services::events::error::EventsError;

/// A pattern as the model spells it (for the message) and a check that implements it.
pub type PatternCheck = (&'static str, fn(&str) -> bool);

/// A string member's constraints in the API model.
#[derive(Debug, Clone, Copy)]
pub struct Constraint {
    pub min: usize,
    pub max: usize,
    pub pattern: Option<PatternCheck>,
    pub choices: Option<&'static [&'static str]>,
}

impl Constraint {
    pub const fn length(min: usize, max: usize) -> Self {
        Self {
            min,
            max,
            pattern: None,
            choices: None,
        }
    }

    pub const fn pattern(min: usize, max: usize, text: &'static str, f: fn(&str) -> bool) -> Self {
        Self {
            min,
            max,
            pattern: Some((text, f)),
            choices: None,
        }
    }

    pub const fn choices(choices: &'static [&'static str]) -> Self {
        Self {
            min: 0,
            max: usize::MAX,
            pattern: None,
            choices: Some(choices),
        }
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// `[\.\-_A-Za-z0-9]+`: rule, target, connection and API destination names.
pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(name_char)
}

/// `[/\.\-_A-Za-z0-9]+`: event bus names.
pub fn is_bus_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| name_char(c) || c == '/')
}

/// `arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/` and the rest, split.
fn bus_arn_parts(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("arn:aws")?;
    let (partition, rest) = rest.split_once(':')?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !partition.chars().all(word) {
        return None;
    }
    let rest = rest.strip_prefix("events:")?;
    let (region, rest) = rest.split_once(':')?;
    let mut parts = region.splitn(3, '-');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    let lower = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    if !lower(a) || !lower(b) || c.is_empty() || !c.chars().all(word) {
        return None;
    }
    let (account, rest) = rest.split_once(':')?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((region, rest.strip_prefix("event-bus/")?))
}

/// An event bus given by name or ARN: its region (when an ARN) and name.
pub fn bus_name_or_arn(s: &str) -> Option<(Option<&str>, &str)> {
    match bus_arn_parts(s) {
        Some((region, name)) => Some((Some(region), name)),
        None if s.starts_with("arn:") => None,
        None => Some((None, s)),
    }
}

/// `(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/\.\-_A-Za-z0-9]+`.
pub fn is_bus_name_or_arn(s: &str) -> bool {
    bus_name_or_arn(s).is_some_and(|(_, name)| is_bus_name(name))
}

/// PutEvents' bus: the same without `/` in the name.
pub fn is_non_partner_bus(s: &str) -> bool {
    bus_name_or_arn(s).is_some_and(|(_, name)| is_name(name))
}

/// `^arn:aws([a-z]|\-)*:events:([a-z]|\d|\-)*:([0-9]{12})?:<kind>\/[\.\-_A-Za-z0-9]+\/[\-A-Za-z0-9]+$`,
/// split into region, name and id.
pub fn resource_arn<'a>(s: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = s.strip_prefix("arn:aws")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '-')
    {
        return None;
    }
    let rest = rest.strip_prefix("events:")?;
    let (region, rest) = rest.split_once(':')?;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    let (account, rest) = rest.split_once(':')?;
    if !(account.is_empty() || account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let rest = rest.strip_prefix(kind)?.strip_prefix('/')?;
    let (name, id) = rest.split_once('/')?;
    let id_ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (is_name(name) && id_ok).then_some((region, name, id))
}

pub fn is_connection_arn(s: &str) -> bool {
    resource_arn(s, "connection").is_some()
}

/// `^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@\x26=+$,A-Za-z0-9])+)([).!';/?:,])?$`.
pub fn is_https_endpoint(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"-()_.!~*';/?:@&=+$,".contains(&c) => i += 1,
            _ => return false,
        }
    }
    !b.is_empty()
}

/// `^[ \t]*[^\x00-\x1F:\x7F]+([ \t]+[^\x00-\x1F:\x7F]+)*[ \t]*$`: header names and values of
/// connections.
pub fn is_auth_header_value(s: &str) -> bool {
    let plain = |c: char| !(c.is_ascii_control() || c == ':');
    s.chars().all(|c| plain(c) || c == ' ' || c == '\t') && s.chars().any(|c| plain(c) && c != ' ')
}

/// One member's value, as the service quotes it in a message.
fn quoted(v: &str) -> String {
    format!("'{v}'")
}

/// The members of one request, read against the model.
#[derive(Debug)]
pub struct Input<'a> {
    body: &'a Value,
    errors: Vec<String>,
}

impl<'a> Input<'a> {
    pub fn new(body: &'a Value) -> Self {
        Self {
            body,
            errors: Vec::new(),
        }
    }

    /// The request body.
    pub fn body(&self) -> &'a Value {
        self.body
    }

    /// Records a broken constraint of `path`.
    pub fn fail(&mut self, value: Option<&str>, path: &str, constraint: impl std::fmt::Display) {
        let value = value.map_or_else(|| "null".to_owned(), quoted);
        self.errors.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// A required member is missing.
    pub fn missing(&mut self, path: &str) {
        self.fail(None, path, "Member must not be null");
    }

    /// Checks a string against a constraint (reported at `path`).
    pub fn check(&mut self, value: &str, path: &str, c: &Constraint) {
        if let Some(choices) = c.choices {
            if !choices.contains(&value) {
                let set = choices.join(", ");
                self.fail(
                    Some(value),
                    path,
                    format!("Member must satisfy enum value set: [{set}]"),
                );
            }
            return;
        }
        if let Some((text, f)) = c.pattern {
            if !value.is_empty() && !f(value) {
                self.fail(
                    Some(value),
                    path,
                    format!("Member must satisfy regular expression pattern: {text}"),
                );
            }
        }
        let len = value.encode_utf16().count();
        if len > c.max {
            self.fail(
                Some(value),
                path,
                format!("Member must have length less than or equal to {}", c.max),
            );
        }
        if len < c.min {
            self.fail(
                Some(value),
                path,
                format!("Member must have length greater than or equal to {}", c.min),
            );
        }
    }

    fn wrong_type(member: &str, expected: &str) -> EventsError {
        EventsError::Serialization(format!(
            "Member {member} must be {expected}: the request could not be read"
        ))
    }

    /// A string member of `object` (the body or a nested structure).
    pub fn string_in<'v>(
        &mut self,
        object: &'v Value,
        member: &str,
        path: &str,
        c: &Constraint,
        required: bool,
    ) -> Result<Option<&'v str>, EventsError> {
        match object.get(member) {
            None | Some(Value::Null) => {
                if required {
                    self.missing(path);
                }
                Ok(None)
            }
            Some(Value::String(s)) => {
                self.check(s, path, c);
                Ok(Some(s))
            }
            Some(_) => Err(Self::wrong_type(member, "a string")),
        }
    }

    /// A string member of the body.
    pub fn string(
        &mut self,
        member: &str,
        path: &str,
        c: &Constraint,
        required: bool,
    ) -> Result<Option<&'a str>, EventsError> {
        self.string_in(self.body, member, path, c, required)
    }

    /// An integer member of `object` in `min..=max`.
    pub fn int_in(
        &mut self,
        object: &Value,
        member: &str,
        path: &str,
        (min, max): (i64, i64),
    ) -> Result<Option<i64>, EventsError> {
        match object.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let v = n
                    .as_i64()
                    .ok_or_else(|| Self::wrong_type(member, "an integer"))?;
                let text = v.to_string();
                if v < min {
                    self.fail(
                        Some(&text),
                        path,
                        format!("Member must have value greater than or equal to {min}"),
                    );
                } else if v > max {
                    self.fail(
                        Some(&text),
                        path,
                        format!("Member must have value less than or equal to {max}"),
                    );
                }
                Ok(Some(v))
            }
            Some(_) => Err(Self::wrong_type(member, "an integer")),
        }
    }

    /// `Limit` (1 to 100) of the List operations.
    pub fn limit(&mut self) -> Result<Option<usize>, EventsError> {
        Ok(self
            .int_in(self.body, "Limit", "limit", (1, 100))?
            .map(|n| n.clamp(1, 100) as usize))
    }

    pub fn bool(&self, member: &str) -> Result<Option<bool>, EventsError> {
        match self.body.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(member, "a boolean")),
        }
    }

    /// A list member of `object`.
    pub fn list_in<'v>(
        &self,
        object: &'v Value,
        member: &str,
    ) -> Result<Option<&'v Vec<Value>>, EventsError> {
        match object.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(Self::wrong_type(member, "a list")),
        }
    }

    pub fn list(&self, member: &str) -> Result<Option<&'a Vec<Value>>, EventsError> {
        self.list_in(self.body, member)
    }

    /// A structure or map member of `object`.
    pub fn object_in<'v>(
        &self,
        object: &'v Value,
        member: &str,
    ) -> Result<Option<&'v Map<String, Value>>, EventsError> {
        match object.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(Self::wrong_type(member, "a structure")),
        }
    }

    /// The collected constraint failures as one `ValidationException`, or nothing.
    pub fn finish(self) -> Result<(), EventsError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(EventsError::Validation(format!(
                "1 validation error detected: {}",
                self.errors[0]
            ))),
            n => Err(EventsError::Validation(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

/// One page of a listing: up to `limit` (default 100) items from where `token` (from the
/// previous page) left off, and the token of the next page when more remain.
pub fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<T>, Option<String>), EventsError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let start = match token {
        None => 0,
        Some(t) => engine
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:")?.parse::<usize>().ok())
            .ok_or_else(|| EventsError::Validation("The NextToken is not valid.".into()))?,
    };
    let limit = limit.unwrap_or(100);
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let end = start.saturating_add(out.len());
    let next = (end < total).then(|| engine.encode(format!("offset:{end}")));
    Ok((out, next))
}

/// The constraints the operations share.
pub mod c {
    use super::*;

    pub const RULE_NAME: Constraint =
        Constraint::pattern(1, 64, r"[\.\-_A-Za-z0-9]+", super::is_name);
    pub const BUS_NAME: Constraint =
        Constraint::pattern(1, 256, r"[/\.\-_A-Za-z0-9]+", super::is_bus_name);
    pub const BUS_NAME_OR_ARN: Constraint = Constraint::pattern(
        1,
        1600,
        r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/\.\-_A-Za-z0-9]+",
        super::is_bus_name_or_arn,
    );
    pub const NON_PARTNER_BUS: Constraint = Constraint::pattern(
        1,
        1600,
        r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+",
        super::is_non_partner_bus,
    );
    pub const CONNECTION_ARN: Constraint = Constraint::pattern(
        1,
        1600,
        r"^arn:aws([a-z]|\-)*:events:([a-z]|\d|\-)*:([0-9]{12})?:connection\/[\.\-_A-Za-z0-9]+\/[\-A-Za-z0-9]+$",
        super::is_connection_arn,
    );
    pub const HTTPS_ENDPOINT: Constraint = Constraint::pattern(
        1,
        2048,
        r"^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@\x26=+$,A-Za-z0-9])+)([).!';/?:,])?$",
        super::is_https_endpoint,
    );
    pub const AUTH_HEADER: Constraint = Constraint::pattern(
        1,
        512,
        r"^[ \t]*[^\x00-\x1F:\x7F]+([ \t]+[^\x00-\x1F:\x7F]+)*[ \t]*$",
        super::is_auth_header_value,
    );
    pub const DESCRIPTION: Constraint = Constraint::length(0, 512);
    pub const ARN: Constraint = Constraint::length(1, 1600);
    pub const NEXT_TOKEN: Constraint = Constraint::length(1, 2048);
    pub const RULE_STATE: Constraint = Constraint::choices(&[
        "ENABLED",
        "DISABLED",
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    ]);
    pub const TAG_KEY: Constraint = Constraint::length(1, 128);
    pub const TAG_VALUE: Constraint = Constraint::length(0, 256);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constraint_failures_read_as_the_service_words_them() {
        let body = json!({"Name": "Invalid Name With Spaces!", "AuthorizationType": "INVALID"});
        let mut input = Input::new(&body);
        input.string("Name", "name", &c::RULE_NAME, true).unwrap();
        input
            .string(
                "AuthorizationType",
                "authorizationType",
                &Constraint::choices(&["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"]),
                true,
            )
            .unwrap();
        input.string("Other", "other", &c::ARN, true).unwrap();
        let Err(EventsError::Validation(m)) = input.finish() else {
            panic!("refused")
        };
        assert_eq!(
            m,
            "3 validation errors detected: Value 'Invalid Name With Spaces!' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+; Value 'INVALID' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]; Value null at 'other' failed to satisfy constraint: Member must not be null"
        );
        let long = json!({"Name": "a".repeat(65)});
        let mut input = Input::new(&long);
        input.string("Name", "name", &c::RULE_NAME, true).unwrap();
        assert!(
            matches!(input.finish(), Err(EventsError::Validation(m)) if m.starts_with("1 validation error detected: Value '") && m.ends_with("Member must have length less than or equal to 64"))
        );
        let typed = json!({"Name": 5});
        assert!(matches!(
            Input::new(&typed).string("Name", "name", &c::RULE_NAME, true),
            Err(EventsError::Serialization(_))
        ));
    }

    #[test]
    fn names_arns_and_endpoints_follow_the_model_patterns() {
        assert!(is_bus_name_or_arn("default"));
        assert!(is_bus_name_or_arn(
            "arn:aws:events:us-east-1:000000000000:event-bus/custom"
        ));
        assert_eq!(
            bus_name_or_arn("arn:aws:events:eu-west-1:000000000000:event-bus/b"),
            Some((Some("eu-west-1"), "b"))
        );
        assert!(!is_bus_name_or_arn(
            "arn:aws:events:us-east-1:0:event-bus/x"
        ));
        assert!(!is_non_partner_bus("a/b"));
        assert_eq!(
            resource_arn(
                "arn:aws:events:us-east-1:000000000000:connection/c1/abc-123",
                "connection"
            ),
            Some(("us-east-1", "c1", "abc-123"))
        );
        assert!(!is_connection_arn("invalid-connection-arn"));
        assert!(is_https_endpoint("https://example.com/api?x=1&y=%20"));
        assert!(!is_https_endpoint("https://example.com/a b"));
        assert!(!is_https_endpoint("https://x/%2"));
        assert!(is_auth_header_value("x-api-key"));
        assert!(!is_auth_header_value("a:b"));
        assert!(!is_auth_header_value("   "));
    }
}
