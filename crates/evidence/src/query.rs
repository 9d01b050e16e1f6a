//! Answers with proof: the auditor's questions as ledger revisions, each with its proof against
//! one digest, ready to go into an evidence bundle.
//!
//! - [`who`]: who did what to a resource between two times, from where, with what outcome.
//! - [`stops`]: every StopLogging, DeleteTrail and UpdateTrail that weakens logging, and the
//!   records that followed within N minutes.
//! - [`alerts`]: every alert raised on a record of the period and its review history.
//!
//! An answer is `{query, args, digest, rows: [{table, role, view, Revision, Proof}]}`: the
//! `Revision` and `Proof` are `aws qldb get-revision`'s, the `view` is
//! [`veritrail_verify::bundle::revision_view`] of the revision, which a verifier recomputes.

use std::fmt;

use serde_json::{Value as Json, json};
use veritrail_core::ion_rs::Element;
use veritrail_core::json_ion::ion_to_json;
use veritrail_core::time::UtcMillis;
use veritrail_ledger::db::{Database, DbError};
use veritrail_ledger::journal::LedgerDigest;
use veritrail_ledger::{Ledger, LedgerError};
use veritrail_verify::bundle::revision_view;
use veritrail_verify::validate_logs::{format_time, parse_time};

/// The ledger table of audit records (written by `veritrail ingest`).
pub const RECORDS_TABLE: &str = "AuditRecords";
/// The ledger table of alerts and their reviews.
pub const ALERTS_TABLE: &str = "Alerts";

/// Why a question could not be answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// The ledger could not be read.
    Ledger(LedgerError),
    /// A statement over the ledger failed.
    Db(DbError),
    /// The question itself is wrong (an empty resource, a period that ends before it starts).
    Invalid(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ledger(e) => write!(f, "ledger: {e}"),
            Self::Db(e) => write!(f, "ledger query: {e}"),
            Self::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<LedgerError> for QueryError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

impl From<DbError> for QueryError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// A period `[from, to)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: UtcMillis,
    pub to: UtcMillis,
}

impl Period {
    /// A period that starts before it ends.
    pub fn new(from: UtcMillis, to: UtcMillis) -> Result<Self, QueryError> {
        if from >= to {
            return Err(QueryError::Invalid(format!(
                "the period must start before it ends ({} is not before {})",
                format_time(from),
                format_time(to)
            )));
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, t: UtcMillis) -> bool {
        t >= self.from && t < self.to
    }
}

/// One revision found by `history()`: where it is and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub table: &'static str,
    pub seq: u64,
    pub document_id: String,
    pub version: i64,
    pub data: Json,
}

impl Found {
    pub(crate) fn event_time(&self) -> Option<UtcMillis> {
        self.data["eventTime"].as_str().and_then(parse_time)
    }
}

/// Every revision with data of `table` (none when the table does not exist yet), up to `tip`.
pub(crate) fn history(
    db: &Database,
    table: &'static str,
    tip: u64,
) -> Result<Vec<Found>, QueryError> {
    let rows = match db.execute(&format!("SELECT * FROM history({table}) AS h"), &[]) {
        Ok(rows) => rows,
        Err(DbError::NoSuchTable { name, .. }) if name == table => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in rows {
        let Some(st) = row.as_struct() else { continue };
        let Some(data) = st.get("data") else { continue };
        let seq = st
            .get("blockAddress")
            .and_then(Element::as_struct)
            .and_then(|a| a.get("sequenceNo"))
            .and_then(|s| s.as_int())
            .and_then(|i| i.as_u64());
        let meta = st.get("metadata").and_then(Element::as_struct);
        let id = meta.and_then(|m| m.get("id")).and_then(Element::as_text);
        let version = meta
            .and_then(|m| m.get("version"))
            .and_then(|v| v.as_int())
            .and_then(|i| i.as_i64());
        let (Some(seq), Some(id), Some(version)) = (seq, id, version) else {
            continue;
        };
        if seq > tip {
            continue;
        }
        out.push(Found {
            table,
            seq,
            document_id: id.to_owned(),
            version,
            data: ion_to_json(data).unwrap_or(Json::Null),
        });
    }
    Ok(out)
}

/// The revision of `found` with its proof under the digest at `tip`, as an answer row.
pub(crate) fn proved_row(
    ledger: &Ledger,
    table: &str,
    seq: u64,
    document_id: &str,
    tip: u64,
    role: Option<&str>,
) -> Result<Json, QueryError> {
    let with_proof = ledger.revision(seq, document_id, Some(tip))?;
    let mut row: Json = serde_json::from_str(&with_proof.to_json("Revision"))
        .map_err(|e| QueryError::Invalid(format!("the ledger's revision is not JSON: {e}")))?;
    if let Json::Object(o) = &mut row {
        let mut front = serde_json::Map::new();
        front.insert("table".into(), json!(table));
        if let Some(role) = role {
            front.insert("role".into(), json!(role));
        }
        front.insert("view".into(), revision_view(&with_proof.value));
        front.append(o);
        *o = front;
    }
    Ok(row)
}

/// An answer: the question, the digest its proofs are against, and the rows.
#[derive(Debug, Clone)]
pub struct Answer {
    pub query: &'static str,
    pub args: Json,
    pub digest: LedgerDigest,
    pub rows: Vec<Json>,
}

impl Answer {
    /// `{query, args, digest, rows}`, what `--json` and `--out` write.
    pub fn to_json(&self) -> Json {
        json!({
            "query": self.query,
            "args": self.args,
            "digest": serde_json::from_str::<Json>(&self.digest.to_get_digest_json()).unwrap_or(Json::Null),
            "rows": self.rows,
        })
    }

    /// One line per row: role, time, who, what, where from, outcome (or an alert's state).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let v = &row["view"];
            let t = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
            let outcome = match (v["errorCode"].as_str(), v["state"].as_str()) {
                (_, Some(state)) => state.to_owned(),
                (Some(code), None) => format!("failed: {code}"),
                (None, None) => "success".to_owned(),
            };
            let what = if v.get("alertId").is_some() {
                format!("{} {}", t("ruleId"), t("alertId"))
            } else {
                format!("{} {}", t("eventSource"), t("eventName"))
            };
            let review = v["review"]
                .as_object()
                .map(|r| {
                    format!(
                        "  {} by {} at {}: {}",
                        r.get("action").and_then(Json::as_str).unwrap_or("-"),
                        r.get("by").and_then(Json::as_str).unwrap_or("-"),
                        r.get("at").and_then(Json::as_str).unwrap_or("-"),
                        r.get("note").and_then(Json::as_str).unwrap_or("-")
                    )
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "{:<6} {}  {}  {}  from {}  {}  v{}{review}\n",
                row["role"].as_str().unwrap_or(""),
                t("eventTime"),
                t("who"),
                what,
                t("sourceIPAddress"),
                outcome,
                v["version"].as_i64().unwrap_or(0),
            ));
        }
        out
    }
}

/// Whether `value` names `resource`: equal, or an ARN or path ending in `/resource` or
/// `:resource`, anywhere in a JSON tree.
fn names(value: &Json, resource: &str) -> bool {
    match value {
        Json::String(s) => {
            s == resource
                || s.strip_suffix(resource)
                    .is_some_and(|head| head.ends_with('/') || head.ends_with(':'))
        }
        Json::Array(a) => a.iter().any(|v| names(v, resource)),
        Json::Object(o) => o.values().any(|v| names(v, resource)),
        _ => false,
    }
}

fn answer(
    db: &Database,
    query: &'static str,
    args: Json,
    picked: Vec<(Found, Option<&'static str>)>,
    digest: LedgerDigest,
) -> Result<Answer, QueryError> {
    let ledger = db.ledger();
    let rows = picked
        .iter()
        .map(|(f, role)| proved_row(&ledger, f.table, f.seq, &f.document_id, digest.tip, *role))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Answer {
        query,
        args,
        digest,
        rows,
    })
}

pub(crate) fn by_time(found: &mut [Found]) {
    found.sort_by(|a, b| {
        (a.event_time(), &a.document_id, a.version).cmp(&(
            b.event_time(),
            &b.document_id,
            b.version,
        ))
    });
}

/// Who did what to `resource` (an ARN or a name: a bucket, a trail, a role, a key) in the
/// period: every record whose `resources` or `requestParameters` name it.
pub fn who(db: &Database, resource: &str, period: Period) -> Result<Answer, QueryError> {
    if resource.trim().is_empty() {
        return Err(QueryError::Invalid("--resource must name something".into()));
    }
    let digest = db.ledger().digest()?;
    let mut found: Vec<Found> = history(db, RECORDS_TABLE, digest.tip)?
        .into_iter()
        .filter(|f| f.event_time().is_some_and(|t| period.contains(t)))
        .filter(|f| {
            names(&f.data["resources"], resource) || names(&f.data["requestParameters"], resource)
        })
        .collect();
    by_time(&mut found);
    let args = json!({"resource": resource, "from": format_time(period.from), "to": format_time(period.to)});
    answer(
        db,
        "who",
        args,
        found.into_iter().map(|f| (f, None)).collect(),
        digest,
    )
}

/// Why a CloudTrail call weakens logging, or `None`.
pub fn weakens_logging(data: &Json) -> Option<String> {
    if data["eventSource"] != "cloudtrail.amazonaws.com" {
        return None;
    }
    let p = &data["requestParameters"];
    match data["eventName"].as_str()? {
        "StopLogging" => Some("logging stopped".into()),
        "DeleteTrail" => Some("trail deleted".into()),
        "UpdateTrail" => {
            let mut why = Vec::new();
            for (field, what) in [
                ("enableLogFileValidation", "log file validation off"),
                ("isMultiRegionTrail", "no longer multi-region"),
                (
                    "includeGlobalServiceEvents",
                    "global service events excluded",
                ),
            ] {
                if p[field] == Json::Bool(false) {
                    why.push(what.to_owned());
                }
            }
            if p["kmsKeyId"] == "" {
                why.push("encryption with a KMS key removed".into());
            }
            for field in ["s3BucketName", "s3KeyPrefix", "cloudWatchLogsLogGroupArn"] {
                if let Some(v) = p[field].as_str() {
                    why.push(format!("{field} changed to `{v}`"));
                }
            }
            (!why.is_empty()).then(|| why.join(", "))
        }
        _ => None,
    }
}

/// Every stop or weakening of logging in the period, each followed by the records of the next
/// `follow_minutes` minutes (what happened while logging may have been off).
pub fn stops(db: &Database, period: Period, follow_minutes: u32) -> Result<Answer, QueryError> {
    let digest = db.ledger().digest()?;
    let mut all = history(db, RECORDS_TABLE, digest.tip)?;
    by_time(&mut all);
    let window = i64::from(follow_minutes) * 60_000;
    let mut picked = Vec::new();
    for (i, f) in all.iter().enumerate() {
        let Some(at) = f.event_time().filter(|t| period.contains(*t)) else {
            continue;
        };
        if weakens_logging(&f.data).is_none() {
            continue;
        }
        picked.push((f.clone(), Some("stop")));
        for next in &all[i + 1..] {
            match next.event_time() {
                Some(t) if t.0 <= at.0 + window => picked.push((next.clone(), Some("after"))),
                _ => break,
            }
        }
    }
    let args = json!({"from": format_time(period.from), "to": format_time(period.to), "followMinutes": follow_minutes});
    answer(db, "stops", args, picked, digest)
}

/// Every revision of the alerts raised on records of the period: the alert and its reviews.
pub(crate) fn alert_revisions(
    db: &Database,
    period: Period,
    tip: u64,
) -> Result<Vec<Found>, QueryError> {
    let all = history(db, ALERTS_TABLE, tip)?;
    let mut found: Vec<Found> = all
        .into_iter()
        .filter(|f| f.event_time().is_some_and(|t| period.contains(t)))
        .collect();
    by_time(&mut found);
    Ok(found)
}

/// Every alert raised on a record of the period and its review history.
pub fn alerts(db: &Database, period: Period) -> Result<Answer, QueryError> {
    let digest = db.ledger().digest()?;
    let found = alert_revisions(db, period, digest.tip)?;
    let picked = found
        .into_iter()
        .map(|f| {
            let role = if f.version == 0 { "raised" } else { "review" };
            (f, Some(role))
        })
        .collect();
    let args = json!({"from": format_time(period.from), "to": format_time(period.to)});
    answer(db, "alerts", args, picked, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_named_by_value_or_as_the_tail_of_an_arn_or_path() {
        let params = json!({"name": "audit", "resources": [{"ARN": "arn:aws:s3:::logs-bucket"}]});
        assert!(names(&params, "audit"));
        assert!(names(&params, "logs-bucket"));
        assert!(names(&params, "arn:aws:s3:::logs-bucket"));
        assert!(
            !names(&params, "bucket"),
            "a part of a name is not the name"
        );
        assert!(!names(&json!({"trailName": "audit-2"}), "audit"));
        assert!(names(
            &json!({"name": "arn:aws:cloudtrail:us-east-1:1:trail/audit"}),
            "audit"
        ));
    }

    #[test]
    fn what_weakens_logging() {
        let call = |name: &str, params: Json| json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": name, "requestParameters": params});
        assert!(weakens_logging(&call("StopLogging", json!({"name": "t"}))).is_some());
        assert!(weakens_logging(&call("DeleteTrail", json!({"name": "t"}))).is_some());
        assert!(weakens_logging(&call("StartLogging", json!({"name": "t"}))).is_none());
        assert!(weakens_logging(&call("UpdateTrail", json!({"name": "t"}))).is_none());
        let why = weakens_logging(&call(
            "UpdateTrail",
            json!({"name": "t", "enableLogFileValidation": false, "s3BucketName": "elsewhere"}),
        ))
        .unwrap_or_default();
        assert!(
            why.contains("validation off") && why.contains("elsewhere"),
            "{why}"
        );
        let other = json!({"eventSource": "s3.amazonaws.com", "eventName": "StopLogging"});
        assert!(weakens_logging(&other).is_none());
    }

    #[test]
    fn a_period_starts_before_it_ends_and_excludes_its_end() {
        assert!(Period::new(UtcMillis(5), UtcMillis(5)).is_err());
        let p = Period::new(UtcMillis(5), UtcMillis(9)).map_err(|e| e.to_string());
        assert_eq!(
            p.map(|p| (p.contains(UtcMillis(5)), p.contains(UtcMillis(9)))),
            Ok((true, false))
        );
    }
}
