//! [`AuditRecord`]: one CloudTrail record seen through the five audit elements an auditor asks
//! for (who, what, when, where, outcome), with the original record kept losslessly beside them.
//!
//! Field names and shapes follow `../shared/specs/cloudtrail.md` §1.3. Unknown and newer fields
//! are kept in the original; only the fields read here are validated.
//!
//! Records come from outside, so their size is bounded ([`MAX_LOG_FILE_BYTES`],
//! [`MAX_RECORD_BYTES`]) and their nesting is bounded by `serde_json`'s own recursion limit
//! (128 levels; its `unbounded_depth` feature must stay off), which also bounds everything done
//! with a parsed record afterwards ([`crate::json_ion`], Ion Hash).

use std::fmt;

use ion_rs::Element;
use serde_json::{Map, Value as Json};

use crate::json_ion::{IonToJsonError, ion_to_json, json_to_ion};
use crate::time::days_from_civil;

/// The largest uncompressed CloudTrail log file [`parse_log_file`] reads: 512 MiB. CloudTrail
/// starts a new file every five minutes, so real files are far smaller.
pub const MAX_LOG_FILE_BYTES: usize = 512 << 20;

/// The largest single record [`AuditRecord::from_json_str`] reads: 1 MiB. CloudTrail drops events
/// over 256 KB before delivery to EventBridge; a record in a log file is of the same order.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A CloudTrail record that failed validation: which field, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's position in its file, when it came from a file (0-based).
    pub index: Option<usize>,
    /// Dotted path of the offending field (`userIdentity.sessionContext.attributes.mfaAuthenticated`);
    /// empty when the record as a whole is wrong.
    pub field: String,
    /// What was wrong.
    pub problem: String,
}

impl RecordError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            index: None,
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.index {
            write!(f, "record {i}: ")?;
        }
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "field `{}`: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for RecordError {}

/// Who acted: CloudTrail's `userIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Who {
    /// `Root`, `IAMUser`, `AssumedRole`, `AWSService`, … (absent for Insight records).
    pub identity_type: Option<String>,
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: Option<String>,
    pub user_name: Option<String>,
    /// The AWS service that made the call for the principal, if any.
    pub invoked_by: Option<String>,
    /// Present for temporary credentials.
    pub session: Option<SessionContext>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionContext {
    /// The role or user that issued the session; `None` when CloudTrail sends `{}`.
    pub issuer: Option<SessionIssuer>,
    /// `attributes.mfaAuthenticated` (CloudTrail sends the strings "true"/"false").
    pub mfa_authenticated: Option<bool>,
    /// `attributes.creationDate`.
    pub creation_date: Option<String>,
    pub source_identity: Option<String>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionIssuer {
    pub issuer_type: Option<String>,
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub user_name: Option<String>,
}

/// What was done.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct What {
    /// `s3.amazonaws.com`, … (absent for Insight records).
    pub event_source: Option<String>,
    /// The API operation, e.g. `PutBucketPolicy`.
    pub event_name: Option<String>,
    /// The resources the call touched.
    pub resources: Vec<Resource>,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub resource_type: Option<String>,
}

/// Where the call came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Where {
    /// An IP address, or a service name / `AWS Internal` for calls AWS made.
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub aws_region: Option<String>,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl Outcome {
    /// True when CloudTrail recorded no error.
    pub fn succeeded(&self) -> bool {
        self.error_code.is_none() && self.error_message.is_none()
    }
}

/// A UTC instant as CloudTrail writes it (`2023-07-10T11:42:36Z`, fractions allowed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime {
    epoch_millis: i64,
    text: String,
}

impl EventTime {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…]Z`.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return None;
        }
        if b[16] != b':' || *b.last()? != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(r)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut millis = 0;
        let rest = &text[19..text.len() - 1];
        if !rest.is_empty() {
            let digits = rest.strip_prefix('.')?;
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let padded = format!("{digits:0<3}");
            millis = padded[..3].parse().ok()?;
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month[(month - 1) as usize]
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let epoch_millis = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
        Some(Self {
            epoch_millis,
            text: text.to_owned(),
        })
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn epoch_millis(&self) -> i64 {
        self.epoch_millis
    }

    /// The text exactly as the record had it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One CloudTrail record: its five audit elements, a few identifying fields, and the original.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// `eventID`: CloudTrail's unique id for the event (duplicates can be delivered).
    pub event_id: String,
    pub event_version: Option<String>,
    /// `AwsApiCall`, `AwsServiceEvent`, `AwsConsoleAction`, `AwsConsoleSignIn`, `AwsCloudTrailInsight`.
    pub event_type: Option<String>,
    /// `Management`, `Data`, `Insight`, `NetworkActivity`.
    pub event_category: Option<String>,
    pub read_only: Option<bool>,
    pub recipient_account_id: Option<String>,
    pub who: Who,
    pub what: What,
    pub when: EventTime,
    pub origin: Where,
    pub outcome: Outcome,
    original: Map<String, Json>,
}

impl AuditRecord {
    /// Parses one record from JSON text of at most [`MAX_RECORD_BYTES`].
    pub fn from_json_str(text: &str) -> Result<Self, RecordError> {
        Self::from_json(parse_bounded(text, MAX_RECORD_BYTES, "a record")?)
    }

    /// Validates and reads one record from a JSON value.
    pub fn from_json(value: Json) -> Result<Self, RecordError> {
        let Json::Object(original) = value else {
            return Err(RecordError::new(
                "",
                format!("a record must be a JSON object, found {}", kind(&value)),
            ));
        };
        let o = Fields::new(&original, "");
        let event_type = o.opt_str("eventType")?;
        let insight = event_type.as_deref() == Some("AwsCloudTrailInsight");
        let what = What {
            event_source: if insight {
                o.opt_str("eventSource")?
            } else {
                Some(o.req_str("eventSource")?)
            },
            event_name: if insight {
                o.opt_str("eventName")?
            } else {
                Some(o.req_str("eventName")?)
            },
            resources: o.resources()?,
        };
        let time_text = o.req_str("eventTime")?;
        let when = EventTime::parse(&time_text).ok_or_else(|| {
            RecordError::new(
                "eventTime",
                format!("`{time_text}` is not a UTC time like 2023-07-10T11:42:36Z"),
            )
        })?;
        let record = Self {
            event_id: o.req_str("eventID")?,
            event_version: o.opt_str("eventVersion")?,
            event_type,
            event_category: o.opt_str("eventCategory")?,
            read_only: o.opt_bool("readOnly")?,
            recipient_account_id: o.opt_str("recipientAccountId")?,
            who: o.who()?,
            what,
            when,
            origin: Where {
                source_ip_address: o.opt_str("sourceIPAddress")?,
                user_agent: o.opt_str("userAgent")?,
                aws_region: o.opt_str("awsRegion")?,
            },
            outcome: Outcome {
                error_code: o.opt_str("errorCode")?,
                error_message: o.opt_str("errorMessage")?,
            },
            original: Map::new(),
        };
        Ok(Self { original, ..record })
    }

    /// Reads a record back from its stored Ion form (see [`AuditRecord::to_ion`]).
    pub fn from_ion(value: &Element) -> Result<Self, RecordError> {
        let json = ion_to_json(value).map_err(|e: IonToJsonError| {
            RecordError::new(
                "",
                format!("the stored form is not a CloudTrail record: {e}"),
            )
        })?;
        Self::from_json(json)
    }

    /// The stored form: the original record as an Ion struct, field order kept.
    pub fn to_ion(&self) -> Element {
        json_to_ion(&Json::Object(self.original.clone()))
    }

    /// The original record, exactly as it was parsed.
    pub fn original(&self) -> &Map<String, Json> {
        &self.original
    }

    /// The original record, given back without a copy (for a caller that stores or wraps it).
    pub fn into_original(self) -> Map<String, Json> {
        self.original
    }

    /// `requestParameters`, if the record had any (it may be `null`).
    pub fn request_parameters(&self) -> Option<&Json> {
        self.original
            .get("requestParameters")
            .filter(|v| !v.is_null())
    }
}

/// Parses JSON from outside: at most `limit` bytes, at most `serde_json`'s 128 levels deep.
fn parse_bounded(text: &str, limit: usize, what: &str) -> Result<Json, RecordError> {
    if text.len() > limit {
        return Err(RecordError::new(
            "",
            format!(
                "{what} of {} bytes is more than the limit of {limit} bytes",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| RecordError::new("", format!("not valid JSON: {e}")))
}

/// Parses a CloudTrail log file body (`{"Records":[…]}`, uncompressed, at most
/// [`MAX_LOG_FILE_BYTES`]). An error names the record's index and the field.
pub fn parse_log_file(text: &str) -> Result<Vec<AuditRecord>, RecordError> {
    let value = parse_bounded(text, MAX_LOG_FILE_BYTES, "a log file")?;
    let Json::Object(mut top) = value else {
        return Err(RecordError::new("", "a log file must be a JSON object"));
    };
    let Some(Json::Array(records)) = top.remove("Records") else {
        return Err(RecordError::new(
            "Records",
            "a log file needs a `Records` array",
        ));
    };
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| AuditRecord::from_json(r).map_err(|e| e.at(i)))
        .collect()
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Typed access to an object's fields, with the path for error messages.
struct Fields<'a> {
    map: &'a Map<String, Json>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Json>, prefix: &'a str) -> Self {
        Self { map, prefix }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn wrong(&self, name: &str, expected: &str, found: &Json) -> RecordError {
        RecordError::new(
            self.path(name),
            format!("expected {expected}, found {}", kind(found)),
        )
    }

    fn opt_str(&self, name: &str) -> Result<Option<String>, RecordError> {
        match self.map.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    fn req_str(&self, name: &str) -> Result<String, RecordError> {
        self.opt_str(name)?
            .ok_or_else(|| RecordError::new(self.path(name), "missing"))
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, RecordError> {
        match self.map.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(name, "a boolean", other)),
        }
    }

    /// A boolean CloudTrail writes as the string "true" or "false".
    fn opt_bool_string(&self, name: &str) -> Result<Option<bool>, RecordError> {
        match self.opt_str(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(RecordError::new(
                self.path(name),
                format!("expected \"true\" or \"false\", found \"{other}\""),
            )),
        }
    }

    fn opt_object(&self, name: &str) -> Result<Option<&'a Map<String, Json>>, RecordError> {
        match self.map.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Object(o)) => Ok(Some(o)),
            Some(other) => Err(self.wrong(name, "an object", other)),
        }
    }

    fn who(&self) -> Result<Who, RecordError> {
        let Some(identity) = self.opt_object("userIdentity")? else {
            return Ok(Who::default());
        };
        let path = self.path("userIdentity");
        let u = Fields::new(identity, &path);
        Ok(Who {
            identity_type: u.opt_str("type")?,
            principal_id: u.opt_str("principalId")?,
            arn: u.opt_str("arn")?,
            account_id: u.opt_str("accountId")?,
            access_key_id: u.opt_str("accessKeyId")?,
            user_name: u.opt_str("userName")?,
            invoked_by: u.opt_str("invokedBy")?,
            session: u.session()?,
        })
    }

    fn session(&self) -> Result<Option<SessionContext>, RecordError> {
        let Some(ctx) = self.opt_object("sessionContext")? else {
            return Ok(None);
        };
        let path = self.path("sessionContext");
        let c = Fields::new(ctx, &path);
        let issuer = match c.opt_object("sessionIssuer")? {
            Some(m) if !m.is_empty() => {
                let ipath = c.path("sessionIssuer");
                let i = Fields::new(m, &ipath);
                Some(SessionIssuer {
                    issuer_type: i.opt_str("type")?,
                    principal_id: i.opt_str("principalId")?,
                    arn: i.opt_str("arn")?,
                    account_id: i.opt_str("accountId")?,
                    user_name: i.opt_str("userName")?,
                })
            }
            _ => None,
        };
        let (mfa_authenticated, creation_date) = match c.opt_object("attributes")? {
            Some(attrs) => {
                let apath = c.path("attributes");
                let a = Fields::new(attrs, &apath);
                (
                    a.opt_bool_string("mfaAuthenticated")?,
                    a.opt_str("creationDate")?,
                )
            }
            None => (None, None),
        };
        Ok(Some(SessionContext {
            issuer,
            mfa_authenticated,
            creation_date,
            source_identity: c.opt_str("sourceIdentity")?,
        }))
    }

    fn resources(&self) -> Result<Vec<Resource>, RecordError> {
        let items = match self.map.get("resources") {
            None | Some(Json::Null) => return Ok(Vec::new()),
            Some(Json::Array(items)) => items,
            Some(other) => return Err(self.wrong("resources", "an array", other)),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.path("resources"));
                let Json::Object(m) = item else {
                    return Err(RecordError::new(
                        path,
                        format!("expected an object, found {}", kind(item)),
                    ));
                };
                let r = Fields::new(m, &path);
                Ok(Resource {
                    arn: r.opt_str("ARN")?,
                    account_id: r.opt_str("accountId")?,
                    resource_type: r.opt_str("type")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"1","accessKeyId":"ASIA","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::1:role/r","accountId":"1","userName":"r"},"webIdFederationData":{},"attributes":{"creationDate":"2023-07-10T11:42:31Z","mfaAuthenticated":"true"}}},"eventTime":"2023-07-10T11:42:36Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","errorCode":"AccessDenied","errorMessage":"denied","requestParameters":{"bucketName":"b"},"responseElements":null,"eventID":"e-1","readOnly":false,"resources":[{"ARN":"arn:aws:s3:::b","accountId":"1","type":"AWS::S3::Bucket"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"1","eventCategory":"Management"}"#;

    #[test]
    fn reads_the_five_elements() {
        let r = AuditRecord::from_json_str(SAMPLE).unwrap();
        assert_eq!(r.who.identity_type.as_deref(), Some("AssumedRole"));
        let session = r.who.session.as_ref().unwrap();
        assert_eq!(session.mfa_authenticated, Some(true));
        assert_eq!(
            session.issuer.as_ref().unwrap().user_name.as_deref(),
            Some("r")
        );
        assert_eq!(r.what.event_name.as_deref(), Some("PutBucketPolicy"));
        assert_eq!(
            r.what.resources[0].resource_type.as_deref(),
            Some("AWS::S3::Bucket")
        );
        assert_eq!(r.when.epoch_millis(), 1_688_989_356_000);
        assert_eq!(r.origin.source_ip_address.as_deref(), Some("198.51.100.7"));
        assert!(!r.outcome.succeeded());
        assert_eq!(r.read_only, Some(false));
        assert_eq!(r.request_parameters().unwrap()["bucketName"], "b");
    }

    #[test]
    fn malformed_records_name_the_field() {
        let cases = [
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n"}"#,
                "eventTime",
                "missing",
            ),
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n","eventTime":"yesterday"}"#,
                "eventTime",
                "not a UTC time",
            ),
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n","eventTime":"2023-02-30T00:00:00Z"}"#,
                "eventTime",
                "not a UTC time",
            ),
            (
                r#"{"eventID":7,"eventSource":"s","eventName":"n","eventTime":"2023-07-10T11:42:36Z"}"#,
                "eventID",
                "expected a string, found a number",
            ),
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n","eventTime":"2023-07-10T11:42:36Z","readOnly":"yes"}"#,
                "readOnly",
                "expected a boolean",
            ),
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n","eventTime":"2023-07-10T11:42:36Z","userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":"maybe"}}}}"#,
                "userIdentity.sessionContext.attributes.mfaAuthenticated",
                "expected \"true\" or \"false\"",
            ),
            (
                r#"{"eventID":"x","eventSource":"s","eventName":"n","eventTime":"2023-07-10T11:42:36Z","resources":[{"ARN":1}]}"#,
                "resources[0].ARN",
                "expected a string",
            ),
            (
                r#"{"eventID":"x","eventTime":"2023-07-10T11:42:36Z"}"#,
                "eventSource",
                "missing",
            ),
        ];
        for (text, field, problem) in cases {
            let err = AuditRecord::from_json_str(text).unwrap_err();
            assert_eq!(err.field, field, "{text}");
            assert!(err.problem.contains(problem), "{text}: {err}");
            assert!(err.to_string().contains(field));
        }
        let err = AuditRecord::from_json_str("[1]").unwrap_err();
        assert!(err.problem.contains("JSON object"));
    }

    #[test]
    fn insight_records_need_no_source_or_name() {
        let r = AuditRecord::from_json_str(
            r#"{"eventID":"i","eventTime":"2023-07-10T11:42:36Z","eventType":"AwsCloudTrailInsight"}"#,
        )
        .unwrap();
        assert_eq!(r.what.event_source, None);
    }

    #[test]
    fn log_file_errors_give_the_index() {
        let text = format!(r#"{{"Records":[{SAMPLE},{{"eventID":"x"}}]}}"#);
        let err = parse_log_file(&text).unwrap_err();
        assert_eq!(err.index, Some(1));
        assert!(
            err.to_string()
                .starts_with("record 1: field `eventSource`: missing")
        );
    }

    #[test]
    fn deep_or_large_json_is_an_error_not_a_crash() {
        // serde_json's recursion limit is on: 100,000 levels are refused, not followed.
        for text in [
            "[".repeat(100_000),
            format!("{{\"Records\":[{}]}}", "{\"a\":".repeat(100_000)),
        ] {
            let err = parse_log_file(&text).unwrap_err();
            assert!(err.problem.contains("recursion limit exceeded"), "{err}");
            let err = AuditRecord::from_json_str(&text).unwrap_err();
            assert!(err.problem.contains("recursion limit exceeded"), "{err}");
        }
        let big = format!("{{\"eventID\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        let err = AuditRecord::from_json_str(&big).unwrap_err();
        assert!(err.problem.contains("more than the limit"), "{err}");
    }

    #[test]
    fn the_deepest_json_accepted_converts_and_hashes() {
        // As deep as serde_json goes: the JSON ↔ Ion mapping and Ion Hash recurse no deeper.
        let mut depth = 1;
        let mut deepest = None;
        while let Ok(v) = serde_json::from_str::<Json>(&format!(
            "{}1{}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        )) {
            deepest = Some(v);
            depth += 1;
        }
        assert!(depth > 100 && depth < 200, "serde_json stopped at {depth}");
        let json = deepest.unwrap();
        let ion = json_to_ion(&json);
        let _ = crate::ion_hash(&ion);
        assert_eq!(ion_to_json(&ion).unwrap(), json);
        let text = ion.to_string();
        let back = crate::ion_input::read_one(
            text.as_bytes(),
            crate::ion_input::IonLimits::QLDB_PARAMETER_TEXT,
        )
        .unwrap();
        assert_eq!(back, ion);
    }

    #[test]
    fn event_time_arithmetic() {
        assert_eq!(
            EventTime::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .epoch_millis(),
            0
        );
        assert_eq!(
            EventTime::parse("2000-03-01T00:00:00.5Z")
                .unwrap()
                .epoch_millis(),
            951_868_800_500
        );
        assert!(EventTime::parse("2023-07-10 11:42:36Z").is_none());
        assert!(EventTime::parse("2023-07-10T11:42:36.Z").is_none());
    }
}
