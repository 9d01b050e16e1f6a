//! Posture checks: is the architecture that makes the audit trail trustworthy in place?
//!
//! Collecting and judging are apart. [`collect`] makes read-only AWS calls (CloudTrail, S3,
//! KMS, EventBridge, SNS, SQS) and keeps every answer, or the SDK's error, as JSON in a
//! [`Snapshot`]; [`judge`] is a pure function from a snapshot, a [`Policy`], the shipped rule
//! packs and the time to [`CheckResult`]s. A check whose call failed is `ERROR` with the SDK's
//! message, never `PASS`.
//!
//! The JSON of a run ([`results_json`]) is what `veritrail check --json` prints and what an
//! evidence bundle embeds:
//!
//! ```json
//! {"generatedAt": "2026-01-01T00:00:00.000Z",
//!  "target": {"region": "us-east-1", "trail": "arn:…", "evidenceBuckets": ["…"], "ledger": "audit"},
//!  "policy": {"retentionMonths": 12, …},
//!  "summary": {"pass": 17, "fail": 0, "error": 0},
//!  "checks": [{"id": "trail.multi_region", "title": "…", "status": "PASS", "reason": "…",
//!              "requirements": [{"framework": "PCI DSS v4.0.1", "requirement": "10.2.1"}],
//!              "evidence": [{"call": "cloudtrail:DescribeTrails", "target": "", "response": {…}}]}]}
//! ```
//!
//! `evidence` entries carry either `response` or `error`. Check ids are stable.

pub mod collect;
pub mod judge;

use std::fmt;

use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

pub use collect::{CollectOptions, collect};
pub use judge::{ExpectedRule, expected_rules, judge};

/// Why posture checks could not run at all (a single check that cannot run is `ERROR` instead).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostureError {
    /// The policy file is not valid.
    Policy(String),
    /// The AWS configuration or the runtime could not be set up.
    Config(String),
    /// A shipped rule pack does not parse (a build defect).
    Packs(String),
}

impl fmt::Display for PostureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy(m) => write!(f, "policy: {m}"),
            Self::Config(m) => write!(f, "AWS configuration: {m}"),
            Self::Packs(m) => write!(f, "rule packs: {m}"),
        }
    }
}

impl std::error::Error for PostureError {}

/// What the checks hold the architecture to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Object Lock COMPLIANCE default retention at least this long (PCI DSS v4.0.1 10.5.1: 12).
    pub retention_months: u32,
    /// The newest signed checkpoint may be at most this old.
    pub checkpoint_max_age_hours: u32,
    /// The trail must have delivered a log file at most this long ago.
    pub delivery_max_age_hours: u32,
    /// The buckets that hold evidence; empty means the trail's own bucket.
    pub evidence_buckets: Vec<String>,
    /// The SNS topic alerts go to (name or ARN).
    pub alert_topic: String,
    /// How far back `validate-logs` must be clean.
    pub validate_hours: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            retention_months: 12,
            checkpoint_max_age_hours: 24,
            delivery_max_age_hours: 24,
            evidence_buckets: Vec::new(),
            alert_topic: "veritrail-alerts".into(),
            validate_hours: 24,
        }
    }
}

impl Policy {
    /// Reads a policy document: a JSON object whose members (all optional) are
    /// `retentionMonths`, `checkpointMaxAgeHours`, `deliveryMaxAgeHours`, `evidenceBuckets`,
    /// `alertTopic` and `validateHours`. Unknown members are refused, so a typo is not a
    /// silently weaker policy.
    pub fn from_json(text: &str) -> Result<Self, PostureError> {
        let bad = |m: String| PostureError::Policy(m);
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let Value::Object(map) = v else {
            return Err(bad("a policy is a JSON object".into()));
        };
        let mut p = Self::default();
        for (k, v) in &map {
            let hours = |what: &str| -> Result<u32, PostureError> {
                v.as_u64()
                    .filter(|n| (1..=100_000).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| bad(format!("{what} must be a whole number from 1 to 100000")))
            };
            match k.as_str() {
                "retentionMonths" => p.retention_months = hours(k)?,
                "checkpointMaxAgeHours" => p.checkpoint_max_age_hours = hours(k)?,
                "deliveryMaxAgeHours" => p.delivery_max_age_hours = hours(k)?,
                "validateHours" => p.validate_hours = hours(k)?,
                "alertTopic" => {
                    p.alert_topic = v
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| bad("alertTopic must be a topic name or ARN".into()))?
                        .to_owned();
                }
                "evidenceBuckets" => {
                    p.evidence_buckets = v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|b| b.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| {
                            bad("evidenceBuckets must be a list of bucket names".into())
                        })?;
                }
                other => return Err(bad(format!("unknown member {other:?}"))),
            }
        }
        Ok(p)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "retentionMonths": self.retention_months,
            "checkpointMaxAgeHours": self.checkpoint_max_age_hours,
            "deliveryMaxAgeHours": self.delivery_max_age_hours,
            "evidenceBuckets": self.evidence_buckets,
            "alertTopic": self.alert_topic,
            "validateHours": self.validate_hours,
        })
    }
}

/// One call made (or a local verification run) and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `service:Operation`, e.g. `s3:GetBucketVersioning`; local work is `veritrail:…`.
    pub call: String,
    /// What it was asked about (a bucket, a trail ARN, a rule name); empty for none.
    pub target: String,
    /// The response as JSON, in the API's member names, or the error's whole message.
    pub outcome: Result<Value, String>,
}

impl Call {
    pub fn ok(call: &str, target: &str, response: Value) -> Self {
        Self {
            call: call.into(),
            target: target.into(),
            outcome: Ok(response),
        }
    }

    pub fn failed(call: &str, target: &str, error: impl Into<String>) -> Self {
        Self {
            call: call.into(),
            target: target.into(),
            outcome: Err(error.into()),
        }
    }

    pub fn to_json(&self) -> Value {
        match &self.outcome {
            Ok(r) => json!({"call": self.call, "target": self.target, "response": r}),
            Err(e) => json!({"call": self.call, "target": self.target, "error": e}),
        }
    }
}

/// Everything collected: the answers the checks judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub region: String,
    /// The trail asked for (`--trail`, name or ARN); `None` picks one (see
    /// [`judge::select_trail`]).
    pub wanted_trail: Option<String>,
    /// The ledger whose integrity was checked.
    pub ledger: Option<String>,
    pub calls: Vec<Call>,
}

impl Snapshot {
    /// The call `call` about `target`, if it was made.
    pub fn get(&self, call: &str, target: &str) -> Option<&Call> {
        self.calls
            .iter()
            .find(|c| c.call == call && c.target == target)
    }

    pub fn push(&mut self, call: Call) {
        self.calls.push(call);
    }
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Pass,
    Fail,
    /// The check could not run (a call failed, an input is missing): never a pass.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pass, Self::Fail, Self::Error]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A requirement of a framework a check supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    /// As the rule packs name it: `PCI DSS v4.0.1`, `SOC 2`, `ISO/IEC 27001:2022`, `HIPAA`.
    pub framework: &'static str,
    pub requirement: &'static str,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub reason: String,
    pub requirements: &'static [Requirement],
    /// The calls judged.
    pub evidence: Vec<Call>,
}

impl CheckResult {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "status": self.status.as_str(),
            "reason": self.reason,
            "requirements": self.requirements.iter().map(|r| json!({"framework": r.framework, "requirement": r.requirement})).collect::<Vec<_>>(),
            "evidence": self.evidence.iter().map(Call::to_json).collect::<Vec<_>>(),
        })
    }
}

/// What was checked, for the report's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub region: String,
    /// The trail judged (ARN), if one was found.
    pub trail: Option<String>,
    pub evidence_buckets: Vec<String>,
    pub ledger: Option<String>,
}

/// The JSON document of a run (see the module documentation).
pub fn results_json(
    results: &[CheckResult],
    target: &Target,
    policy: &Policy,
    generated_at: UtcMillis,
) -> Value {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    json!({
        "generatedAt": generated_at.to_string(),
        "target": {
            "region": target.region,
            "trail": target.trail,
            "evidenceBuckets": target.evidence_buckets,
            "ledger": target.ledger,
        },
        "policy": policy.to_json(),
        "summary": {"pass": count(Status::Pass), "fail": count(Status::Fail), "error": count(Status::Error)},
        "checks": results.iter().map(CheckResult::to_json).collect::<Vec<_>>(),
    })
}

/// The target a snapshot describes under `policy`.
pub fn target_of(snapshot: &Snapshot, policy: &Policy, ledger: Option<&str>) -> Target {
    let trail = judge::selected_trail(snapshot);
    Target {
        region: snapshot.region.clone(),
        trail: trail.and_then(|t| t["TrailARN"].as_str().map(str::to_owned)),
        evidence_buckets: judge::evidence_buckets(snapshot, policy),
        ledger: ledger.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_its_members_and_refuses_unknown_ones() {
        let p =
            Policy::from_json(r#"{"retentionMonths": 84, "evidenceBuckets": ["a", "b"]}"#).unwrap();
        assert_eq!(p.retention_months, 84);
        assert_eq!(p.evidence_buckets, ["a", "b"]);
        assert_eq!(p.checkpoint_max_age_hours, 24);
        for bad in [
            r#"{"retentionMonth": 12}"#,
            r#"{"retentionMonths": 0}"#,
            r#"{"retentionMonths": "12"}"#,
            r#"{"evidenceBuckets": [""]}"#,
            "[]",
            "{",
        ] {
            assert!(
                matches!(Policy::from_json(bad), Err(PostureError::Policy(_))),
                "{bad}"
            );
        }
    }
}
