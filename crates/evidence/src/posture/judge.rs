//! Judging a [`Snapshot`]: pure functions, no I/O, so each check is tested on small fixture
//! snapshots. Every check names the calls it judged; a call that failed or was not made makes
//! the check `ERROR`, never `PASS`.

use std::cell::RefCell;

use serde_json::Value;
use veritrail_core::time::UtcMillis;
use veritrail_core::wildcard::wildcard_match;

use super::{Call, CheckResult, Policy, PostureError, Requirement, Snapshot, Status};

const PCI: &str = "PCI DSS v4.0.1";
const SOC2: &str = "SOC 2";
const ISO: &str = "ISO/IEC 27001:2022";
const HIPAA: &str = "HIPAA";

const fn req(framework: &'static str, requirement: &'static str) -> Requirement {
    Requirement {
        framework,
        requirement,
    }
}

const AUDIT_CONTROLS: Requirement = req(HIPAA, "164.312(b)");
const LOGGING: Requirement = req(ISO, "A.8.15");
const MONITORING: Requirement = req(ISO, "A.8.16");

/// A rule of the shipped packs that must be deployed as an enabled EventBridge rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRule {
    pub pack: String,
    pub id: String,
    pub title: String,
    /// The event pattern as JSON.
    pub pattern: Value,
    /// (framework, control) as the pack names them.
    pub controls: Vec<(String, String)>,
}

/// The rules of the packs shipped with veritrail.
pub fn expected_rules() -> Result<Vec<ExpectedRule>, PostureError> {
    let mut out = Vec::new();
    for (name, text) in veritrail_rules::packs::BUILTIN {
        let pack = veritrail_rules::packs::parse(text)
            .map_err(|p| PostureError::Packs(format!("{name}: {} problems", p.len())))?;
        for r in pack.rules {
            let pattern = serde_json::from_str(r.pattern.source())
                .map_err(|e| PostureError::Packs(format!("{name}/{}: {e}", r.id)))?;
            out.push(ExpectedRule {
                pack: pack.id.clone(),
                id: r.id,
                title: r.title,
                pattern,
                controls: r
                    .controls
                    .into_iter()
                    .map(|c| (c.framework, c.control))
                    .collect(),
            });
        }
    }
    Ok(out)
}

type Verdict = (Status, String);
type Judged = Result<Verdict, Verdict>;

fn pass(reason: impl Into<String>) -> Judged {
    Ok((Status::Pass, reason.into()))
}

fn fail(reason: impl Into<String>) -> Judged {
    Ok((Status::Fail, reason.into()))
}

fn error(reason: impl Into<String>) -> Verdict {
    (Status::Error, reason.into())
}

/// What a check reads, recording every call it looks at as its evidence.
struct Ctx<'a> {
    snap: &'a Snapshot,
    policy: &'a Policy,
    rules: &'a [ExpectedRule],
    now: UtcMillis,
    used: RefCell<Vec<Call>>,
}

impl<'a> Ctx<'a> {
    /// The answer to `call` about `target`; an error verdict if it failed or was not made.
    fn answer(&self, call: &str, target: &str) -> Result<&'a Value, Verdict> {
        let Some(c) = self.snap.get(call, target) else {
            return Err(error(format!("{call} {target} was not called")));
        };
        let mut used = self.used.borrow_mut();
        if !used.contains(c) {
            used.push(c.clone());
        }
        match &c.outcome {
            Ok(v) => Ok(v),
            Err(e) => Err(error(format!("{call} {target}: {e}"))),
        }
    }

    fn trail(&self) -> Result<&'a Value, Verdict> {
        let described = self.answer("cloudtrail:DescribeTrails", "")?;
        select_trail(described, self.snap.wanted_trail.as_deref()).ok_or_else(|| {
            (
                Status::Fail,
                match &self.snap.wanted_trail {
                    Some(w) => format!("no trail named {w}"),
                    None => "no trail in this region".into(),
                },
            )
        })
    }

    fn trail_arn(&self) -> Result<&'a str, Verdict> {
        self.trail()?["TrailARN"]
            .as_str()
            .ok_or_else(|| error("the trail has no TrailARN"))
    }
}

/// The trail the checks judge: the one named (name or ARN), else the first multi-region trail,
/// else the first.
pub fn select_trail<'v>(described: &'v Value, wanted: Option<&str>) -> Option<&'v Value> {
    let trails = described["trailList"].as_array()?;
    match wanted {
        Some(w) => trails
            .iter()
            .find(|t| t["Name"].as_str() == Some(w) || t["TrailARN"].as_str() == Some(w)),
        None => trails
            .iter()
            .find(|t| t["IsMultiRegionTrail"] == true)
            .or_else(|| trails.first()),
    }
}

/// The trail selected in a snapshot, if DescribeTrails answered.
pub fn selected_trail(snap: &Snapshot) -> Option<&Value> {
    let c = snap.get("cloudtrail:DescribeTrails", "")?;
    select_trail(c.outcome.as_ref().ok()?, snap.wanted_trail.as_deref())
}

/// The buckets holding evidence: the policy's, or the selected trail's bucket.
pub fn evidence_buckets(snap: &Snapshot, policy: &Policy) -> Vec<String> {
    if !policy.evidence_buckets.is_empty() {
        return policy.evidence_buckets.clone();
    }
    selected_trail(snap)
        .and_then(|t| t["S3BucketName"].as_str())
        .map(|b| vec![b.to_owned()])
        .unwrap_or_default()
}

/// The alert topic's ARN: the policy's ARN, or the topic of that name in ListTopics.
pub fn alert_topic_arn(policy: &Policy, list_topics: &Value) -> Option<String> {
    if policy.alert_topic.starts_with("arn:") {
        return Some(policy.alert_topic.clone());
    }
    let suffix = format!(":{}", policy.alert_topic);
    list_topics["Topics"]
        .as_array()?
        .iter()
        .filter_map(|t| t["TopicArn"].as_str())
        .find(|a| a.ends_with(&suffix))
        .map(str::to_owned)
}

/// A check: its id, title, requirements and judgement.
struct Spec {
    id: &'static str,
    title: &'static str,
    requirements: &'static [Requirement],
    judge: fn(&Ctx) -> Judged,
}

const CHECKS: &[Spec] = &[
    Spec {
        id: "trail.multi_region",
        title: "A multi-region CloudTrail trail",
        requirements: &[
            req(PCI, "10.2.1"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: multi_region,
    },
    Spec {
        id: "trail.logging",
        title: "The trail is logging",
        requirements: &[
            req(PCI, "10.2.1"),
            req(PCI, "10.7.2"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: logging,
    },
    Spec {
        id: "trail.log_file_validation",
        title: "Log file validation (signed digests) is on",
        requirements: &[
            req(PCI, "10.3.2"),
            req(PCI, "10.3.4"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: log_file_validation,
    },
    Spec {
        id: "trail.management_events",
        title: "Management events, read and write, are recorded",
        requirements: &[
            req(PCI, "10.2.1"),
            req(PCI, "10.2.2"),
            req(SOC2, "CC7.2"),
            req(SOC2, "CC8.1"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: management_events,
    },
    Spec {
        id: "trail.data_events",
        title: "S3 data events are recorded for the evidence buckets",
        requirements: &[
            req(PCI, "10.2.1.3"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: data_events,
    },
    Spec {
        id: "trail.recent_delivery",
        title: "The trail delivered recently, without errors",
        requirements: &[
            req(PCI, "10.7.2"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: recent_delivery,
    },
    Spec {
        id: "bucket.versioning",
        title: "Versioning is on for the evidence buckets",
        requirements: &[
            req(PCI, "10.3.2"),
            req(PCI, "10.3.3"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: versioning,
    },
    Spec {
        id: "bucket.object_lock_compliance",
        title: "Object Lock COMPLIANCE default retention as long as the policy requires",
        requirements: &[
            req(PCI, "10.3.2"),
            req(PCI, "10.5.1"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: object_lock,
    },
    Spec {
        id: "bucket.sse_kms_rotating",
        title: "SSE-KMS with an enabled key that rotates",
        requirements: &[
            req(PCI, "10.3.2"),
            req(SOC2, "CC6.1"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: sse_kms,
    },
    Spec {
        id: "bucket.public_access_blocked",
        title: "Public access is blocked",
        requirements: &[req(PCI, "10.3.1"), req(SOC2, "CC6.1"), LOGGING],
        judge: public_access,
    },
    Spec {
        id: "bucket.no_public_delete",
        title: "No bucket policy lets anyone delete",
        requirements: &[
            req(PCI, "10.3.2"),
            req(SOC2, "CC6.1"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: no_public_delete,
    },
    Spec {
        id: "monitoring.rules",
        title: "An enabled EventBridge rule for every rule of the shipped packs",
        requirements: &[
            req(PCI, "10.4.1"),
            req(PCI, "10.7.2"),
            req(SOC2, "CC7.2"),
            req(SOC2, "CC7.3"),
            MONITORING,
            AUDIT_CONTROLS,
        ],
        judge: monitoring_rules,
    },
    Spec {
        id: "monitoring.targets",
        title: "Every deployed pack rule has a target that exists",
        requirements: &[
            req(PCI, "10.4.1"),
            req(PCI, "10.7.2"),
            req(SOC2, "CC7.3"),
            MONITORING,
        ],
        judge: monitoring_targets,
    },
    Spec {
        id: "monitoring.alert_topic",
        title: "The alert topic exists and has a confirmed subscription",
        requirements: &[
            req(PCI, "10.4.1"),
            req(PCI, "10.7.2"),
            req(SOC2, "CC7.3"),
            req(SOC2, "CC7.4"),
            MONITORING,
        ],
        judge: alert_topic,
    },
    Spec {
        id: "integrity.validate_logs",
        title: "validate-logs is clean for the period",
        requirements: &[
            req(PCI, "10.3.4"),
            req(SOC2, "CC7.2"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: validate_logs,
    },
    Spec {
        id: "integrity.ledger",
        title: "ledger verify is clean",
        requirements: &[
            req(PCI, "10.3.2"),
            req(PCI, "10.3.4"),
            req(SOC2, "CC8.1"),
            LOGGING,
            AUDIT_CONTROLS,
        ],
        judge: ledger,
    },
    Spec {
        id: "integrity.checkpoint_fresh",
        title: "A signed checkpoint no older than the policy allows",
        requirements: &[req(PCI, "10.3.4"), LOGGING, AUDIT_CONTROLS],
        judge: checkpoint_fresh,
    },
];

/// Every check's id, title and requirements, in the order they run.
pub fn catalogue() -> impl Iterator<Item = (&'static str, &'static str, &'static [Requirement])> {
    CHECKS.iter().map(|c| (c.id, c.title, c.requirements))
}

/// Judges `snap` under `policy` at `now`; one result per check, in a fixed order.
pub fn judge(
    snap: &Snapshot,
    policy: &Policy,
    rules: &[ExpectedRule],
    now: UtcMillis,
) -> Vec<CheckResult> {
    CHECKS
        .iter()
        .map(|spec| {
            let ctx = Ctx {
                snap,
                policy,
                rules,
                now,
                used: RefCell::new(Vec::new()),
            };
            let (status, reason) = (spec.judge)(&ctx).unwrap_or_else(|v| v);
            CheckResult {
                id: spec.id,
                title: spec.title,
                status,
                reason,
                requirements: spec.requirements,
                evidence: ctx.used.into_inner(),
            }
        })
        .collect()
}

fn multi_region(ctx: &Ctx) -> Judged {
    let t = ctx.trail()?;
    let name = t["Name"].as_str().unwrap_or("?");
    if t["IsMultiRegionTrail"] == true {
        pass(format!("trail {name} is multi-region"))
    } else {
        fail(format!("trail {name} records only its home region"))
    }
}

fn logging(ctx: &Ctx) -> Judged {
    let arn = ctx.trail_arn()?;
    let status = ctx.answer("cloudtrail:GetTrailStatus", arn)?;
    if status["IsLogging"] == true {
        pass("IsLogging is true")
    } else {
        fail("logging is stopped (IsLogging false)")
    }
}

fn log_file_validation(ctx: &Ctx) -> Judged {
    if ctx.trail()?["LogFileValidationEnabled"] == true {
        pass("LogFileValidationEnabled is true")
    } else {
        fail("log file validation is off: no signed digests prove the log files unaltered")
    }
}

/// A field selector's values for `field` under `op` (`Equals`, `StartsWith`, …).
fn field_values<'v>(selector: &'v Value, field: &str, op: &str) -> Option<Vec<&'v str>> {
    selector["FieldSelectors"]
        .as_array()?
        .iter()
        .find(|f| f["Field"] == field)
        .map(|f| {
            f[op]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        })
}

fn has_field(selector: &Value, field: &str) -> bool {
    selector["FieldSelectors"]
        .as_array()
        .is_some_and(|a| a.iter().any(|f| f["Field"] == field))
}

fn management_events(ctx: &Ctx) -> Judged {
    let arn = ctx.trail_arn()?;
    let sel = ctx.answer("cloudtrail:GetEventSelectors", arn)?;
    let basic = sel["EventSelectors"].as_array().is_some_and(|a| {
        a.iter().any(|s| {
            s["IncludeManagementEvents"] != false
                && s["ReadWriteType"].as_str().unwrap_or("All") == "All"
        })
    });
    let advanced = sel["AdvancedEventSelectors"].as_array().is_some_and(|a| {
        a.iter().any(|s| {
            field_values(s, "eventCategory", "Equals").is_some_and(|v| v.contains(&"Management"))
                && !has_field(s, "readOnly")
        })
    });
    if basic || advanced {
        pass("management events, read and write, are selected")
    } else {
        fail("no event selector records all management events (read and write)")
    }
}

fn data_events(ctx: &Ctx) -> Judged {
    let arn = ctx.trail_arn()?;
    let sel = ctx.answer("cloudtrail:GetEventSelectors", arn)?;
    let buckets = evidence_buckets(ctx.snap, ctx.policy);
    if buckets.is_empty() {
        return Err(error(
            "no evidence bucket: the trail names none and the policy lists none",
        ));
    }
    let covered = |bucket: &str| {
        let whole = format!("arn:aws:s3:::{bucket}/");
        let basic = sel["EventSelectors"].as_array().is_some_and(|a| {
            a.iter()
                .flat_map(|s| s["DataResources"].as_array().into_iter().flatten())
                .any(|d| {
                    d["Type"] == "AWS::S3::Object"
                        && d["Values"].as_array().is_some_and(|v| {
                            v.iter().filter_map(Value::as_str).any(|v| {
                                v == "arn:aws:s3"
                                    || v == "arn:aws:s3:::"
                                    || v == whole
                                    || v == whole.trim_end_matches('/')
                            })
                        })
                })
        });
        let advanced = sel["AdvancedEventSelectors"].as_array().is_some_and(|a| {
            a.iter().any(|s| {
                field_values(s, "eventCategory", "Equals").is_some_and(|v| v.contains(&"Data"))
                    && field_values(s, "resources.type", "Equals")
                        .is_some_and(|v| v.contains(&"AWS::S3::Object"))
                    && (!has_field(s, "resources.ARN")
                        || field_values(s, "resources.ARN", "StartsWith")
                            .is_some_and(|v| v.iter().any(|p| whole.starts_with(p))))
            })
        });
        basic || advanced
    };
    let missing: Vec<&String> = buckets.iter().filter(|b| !covered(b)).collect();
    if missing.is_empty() {
        pass(format!(
            "S3 object data events are recorded for {}",
            buckets.join(", ")
        ))
    } else {
        fail(format!(
            "no S3 data events are recorded for {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Epoch seconds (as the API gives them) to milliseconds.
fn epoch_millis(v: &Value) -> Option<UtcMillis> {
    v.as_f64()
        .filter(|s| s.is_finite() && s.abs() < 1e13)
        .map(|s| UtcMillis((s * 1000.0).round() as i64))
}

fn hours(ms: i64) -> String {
    format!("{:.1} hours", ms as f64 / 3_600_000.0)
}

fn recent_delivery(ctx: &Ctx) -> Judged {
    let arn = ctx.trail_arn()?;
    let status = ctx.answer("cloudtrail:GetTrailStatus", arn)?;
    for field in ["LatestDeliveryError", "LatestDigestDeliveryError"] {
        if let Some(e) = status[field].as_str().filter(|e| !e.is_empty()) {
            return fail(format!("{field}: {e}"));
        }
    }
    let Some(at) = epoch_millis(&status["LatestDeliveryTime"]) else {
        return fail("the trail has delivered no log file");
    };
    let age = ctx.now.0 - at.0;
    let max = i64::from(ctx.policy.delivery_max_age_hours) * 3_600_000;
    if age > max {
        fail(format!(
            "the last log file was delivered {} ago, at {at}; the policy allows {} hours",
            hours(age),
            ctx.policy.delivery_max_age_hours
        ))
    } else {
        pass(format!(
            "last log file delivered at {at}, without delivery errors"
        ))
    }
}

/// Runs `check` on every evidence bucket: FAIL if one fails, else ERROR if one could not be
/// judged, else PASS.
fn per_bucket(ctx: &Ctx, check: impl Fn(&Ctx, &str) -> Judged) -> Judged {
    let buckets = evidence_buckets(ctx.snap, ctx.policy);
    if buckets.is_empty() {
        return Err(error(
            "no evidence bucket: the trail names none and the policy lists none",
        ));
    }
    let (mut fails, mut errors, mut passes) = (Vec::new(), Vec::new(), Vec::new());
    for b in &buckets {
        let (status, reason) = check(ctx, b).unwrap_or_else(|v| v);
        let line = format!("{b}: {reason}");
        match status {
            Status::Pass => passes.push(line),
            Status::Fail => fails.push(line),
            Status::Error => errors.push(line),
        }
    }
    if !fails.is_empty() {
        fails.extend(errors);
        fail(fails.join("; "))
    } else if !errors.is_empty() {
        Err(error(errors.join("; ")))
    } else {
        pass(passes.join("; "))
    }
}

fn versioning(ctx: &Ctx) -> Judged {
    per_bucket(ctx, |ctx, b| {
        let v = ctx.answer("s3:GetBucketVersioning", b)?;
        match v["Status"].as_str() {
            Some("Enabled") => pass("versioning Enabled"),
            Some(s) => fail(format!("versioning {s}")),
            None => fail("versioning never enabled"),
        }
    })
}

fn object_lock(ctx: &Ctx) -> Judged {
    let months = ctx.policy.retention_months;
    let required_days = (i64::from(months) * 365 + 11) / 12;
    per_bucket(ctx, |ctx, b| {
        let v = ctx.answer("s3:GetObjectLockConfiguration", b)?;
        let conf = &v["ObjectLockConfiguration"];
        if conf["ObjectLockEnabled"] != "Enabled" {
            return fail("Object Lock is not enabled");
        }
        let d = &conf["Rule"]["DefaultRetention"];
        let Some(mode) = d["Mode"].as_str() else {
            return fail("no default retention");
        };
        let days = d["Days"]
            .as_i64()
            .or_else(|| d["Years"].as_i64().map(|y| y * 365))
            .unwrap_or(0);
        let period = match (d["Days"].as_i64(), d["Years"].as_i64()) {
            (Some(n), _) => format!("{n} days"),
            (None, Some(n)) => format!("{n} years"),
            _ => "no period".into(),
        };
        if mode != "COMPLIANCE" {
            fail(format!(
                "default retention is {mode} ({period}): anyone with s3:BypassGovernanceRetention can delete; COMPLIANCE is required"
            ))
        } else if days < required_days {
            fail(format!(
                "COMPLIANCE for {period}, shorter than the {months} months ({required_days} days) the policy requires"
            ))
        } else {
            pass(format!("COMPLIANCE for {period}"))
        }
    })
}

fn sse_kms(ctx: &Ctx) -> Judged {
    per_bucket(ctx, |ctx, b| {
        let v = ctx.answer("s3:GetBucketEncryption", b)?;
        let rule = &v["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"];
        let algorithm = rule["SSEAlgorithm"].as_str().unwrap_or("none");
        if !algorithm.starts_with("aws:kms") {
            return fail(format!("default encryption is {algorithm}, not SSE-KMS"));
        }
        let Some(key) = rule["KMSMasterKeyID"].as_str() else {
            return fail("SSE-KMS with the AWS managed key, whose rotation is not yours to show");
        };
        let meta = &ctx.answer("kms:DescribeKey", key)?["KeyMetadata"];
        if meta["KeyState"] != "Enabled" {
            return fail(format!(
                "key {key} is {}",
                meta["KeyState"].as_str().unwrap_or("in an unknown state")
            ));
        }
        if ctx.answer("kms:GetKeyRotationStatus", key)?["KeyRotationEnabled"] != true {
            return fail(format!("key {key} does not rotate"));
        }
        pass(format!("SSE-KMS with key {key}, enabled and rotating"))
    })
}

fn public_access(ctx: &Ctx) -> Judged {
    per_bucket(ctx, |ctx, b| {
        let v = ctx.answer("s3:GetPublicAccessBlock", b)?;
        let c = &v["PublicAccessBlockConfiguration"];
        if c.is_null() {
            return fail("no public access block");
        }
        let off: Vec<&str> = [
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        ]
        .into_iter()
        .filter(|k| c[*k] != true)
        .collect();
        if off.is_empty() {
            pass("all four public access block settings on")
        } else {
            fail(format!("off: {}", off.join(", ")))
        }
    })
}

/// Actions that remove or shorten what a bucket keeps.
const DELETING: &[&str] = &[
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutBucketObjectLockConfiguration",
];

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn public_principal(p: &Value) -> bool {
    p == "*" || strings(&p["AWS"]).contains(&"*")
}

/// The statements of a bucket policy that let anyone delete: (Sid or index, action).
pub fn public_deletes(policy: &Value) -> Vec<String> {
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    };
    let mut found = Vec::new();
    for (i, s) in statements.into_iter().enumerate() {
        if s["Effect"] != "Allow" || !public_principal(&s["Principal"]) {
            continue;
        }
        let name = s["Sid"]
            .as_str()
            .map_or_else(|| format!("#{i}"), str::to_owned);
        let allowed: Vec<&str> = if s["NotAction"].is_null() {
            DELETING
                .iter()
                .copied()
                .filter(|a| {
                    strings(&s["Action"])
                        .iter()
                        .any(|p| wildcard_match(p, a, true))
                })
                .collect()
        } else {
            DELETING
                .iter()
                .copied()
                .filter(|a| {
                    !strings(&s["NotAction"])
                        .iter()
                        .any(|p| wildcard_match(p, a, true))
                })
                .collect()
        };
        if let Some(a) = allowed.first() {
            found.push(format!("statement {name} allows {a} to everyone"));
        }
    }
    found
}

fn no_public_delete(ctx: &Ctx) -> Judged {
    per_bucket(ctx, |ctx, b| {
        let v = ctx.answer("s3:GetBucketPolicy", b)?;
        let Some(text) = v["Policy"].as_str() else {
            return pass("no bucket policy");
        };
        let policy: Value = serde_json::from_str(text)
            .map_err(|e| error(format!("the bucket policy is not JSON: {e}")))?;
        let found = public_deletes(&policy);
        if found.is_empty() {
            pass("the bucket policy lets no one outside delete")
        } else {
            fail(found.join("; "))
        }
    })
}

fn rule_enabled(r: &Value) -> bool {
    r["State"]
        .as_str()
        .is_some_and(|s| s.starts_with("ENABLED"))
}

/// The deployed rule carrying `expected`'s pattern (enabled ones first).
fn deployed<'v>(list: &'v Value, expected: &ExpectedRule) -> Option<&'v Value> {
    let rules = list["Rules"].as_array()?;
    let same = |r: &&Value| {
        r["EventPattern"]
            .as_str()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .is_some_and(|p| p == expected.pattern)
    };
    rules
        .iter()
        .filter(same)
        .find(|r| rule_enabled(r))
        .or_else(|| rules.iter().find(same))
}

fn monitoring_rules(ctx: &Ctx) -> Judged {
    let list = ctx.answer("events:ListRules", "default")?;
    let mut missing = Vec::new();
    let mut disabled = Vec::new();
    for e in ctx.rules {
        match deployed(list, e) {
            None => missing.push(format!("{}/{}", e.pack, e.id)),
            Some(r) if !rule_enabled(r) => disabled.push(format!(
                "{}/{} ({})",
                e.pack,
                e.id,
                r["Name"].as_str().unwrap_or("?")
            )),
            Some(_) => {}
        }
    }
    if missing.is_empty() && disabled.is_empty() {
        return pass(format!(
            "all {} rules of the shipped packs are deployed and enabled",
            ctx.rules.len()
        ));
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "no rule with the pattern of {}",
            missing.join(", ")
        ));
    }
    if !disabled.is_empty() {
        parts.push(format!("disabled: {}", disabled.join(", ")));
    }
    fail(parts.join("; "))
}

/// Whether a target's resource answered (a queue's or topic's attributes were read).
fn target_works(ctx: &Ctx, arn: &str) -> Result<bool, Verdict> {
    if arn.starts_with("arn:aws:sqs:") {
        ctx.answer("sqs:GetQueueAttributes", arn).map(|_| true)
    } else if arn.starts_with("arn:aws:sns:") {
        ctx.answer("sns:GetTopicAttributes", arn).map(|_| true)
    } else {
        Ok(false)
    }
}

fn monitoring_targets(ctx: &Ctx) -> Judged {
    let list = ctx.answer("events:ListRules", "default")?;
    let mut broken = Vec::new();
    let mut judged = 0;
    let mut seen = Vec::new();
    for e in ctx.rules {
        let Some(name) = deployed(list, e).and_then(|r| r["Name"].as_str()) else {
            continue;
        };
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        judged += 1;
        let targets = ctx.answer("events:ListTargetsByRule", name)?;
        let arns: Vec<&str> = targets["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["Arn"].as_str())
            .collect();
        let mut works = false;
        for arn in &arns {
            match target_works(ctx, arn) {
                Ok(true) => works = true,
                Ok(false) => {}
                Err((_, why)) => broken.push(format!("{name}: {why}")),
            }
        }
        if arns.is_empty() {
            broken.push(format!("{name}: no target"));
        } else if !works && !broken.iter().any(|b| b.starts_with(&format!("{name}:"))) {
            broken.push(format!(
                "{name}: no SQS queue or SNS topic target that exists ({})",
                arns.join(", ")
            ));
        }
    }
    if judged == 0 {
        return fail("no rule of the shipped packs is deployed");
    }
    if broken.is_empty() {
        pass(format!(
            "all {judged} deployed pack rules deliver to a queue or topic that exists"
        ))
    } else {
        fail(broken.join("; "))
    }
}

fn alert_topic(ctx: &Ctx) -> Judged {
    let topics = ctx.answer("sns:ListTopics", "")?;
    let Some(arn) = alert_topic_arn(ctx.policy, topics) else {
        return fail(format!("no topic {}", ctx.policy.alert_topic));
    };
    ctx.answer("sns:GetTopicAttributes", &arn)?;
    let subs = ctx.answer("sns:ListSubscriptionsByTopic", &arn)?;
    let confirmed: Vec<String> = subs["Subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["SubscriptionArn"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:"))
        })
        .map(|s| {
            format!(
                "{} {}",
                s["Protocol"].as_str().unwrap_or("?"),
                s["Endpoint"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if confirmed.is_empty() {
        fail(format!(
            "topic {arn} has no confirmed subscription: alerts reach no one"
        ))
    } else {
        pass(format!("topic {arn} delivers to {}", confirmed.join(", ")))
    }
}

fn validate_logs(ctx: &Ctx) -> Judged {
    let arn = ctx.trail_arn()?;
    let report = ctx.answer("veritrail:ValidateLogs", arn)?;
    let summary = report["summary"]
        .as_str()
        .unwrap_or("")
        .trim()
        .replace('\n', " ");
    let digests = report["digests"]["valid"].as_u64().unwrap_or(0)
        + report["digests"]["invalid"].as_u64().unwrap_or(0);
    if report["valid"] != true {
        fail(format!("validate-logs found problems: {summary}"))
    } else if digests == 0 {
        fail(format!(
            "no digest file between {} and {}: nothing proves the log files unaltered",
            report["start"].as_str().unwrap_or("?"),
            report["end"].as_str().unwrap_or("?")
        ))
    } else {
        pass(summary)
    }
}

fn ledger(ctx: &Ctx) -> Judged {
    let name = ctx.snap.ledger.as_deref().unwrap_or("");
    let v = ctx.answer("veritrail:LedgerVerify", name)?;
    if v["verified"] == true {
        pass(format!(
            "{} blocks recomputed, digest {}{}",
            v["blocks"],
            v["digest"].as_str().unwrap_or("?"),
            v["checkpointSize"]
                .as_u64()
                .map_or_else(String::new, |n| format!(
                    ", signed checkpoint at {n} blocks matches"
                ))
        ))
    } else {
        fail(format!(
            "{} check failed: {}",
            v["check"].as_str().unwrap_or("?"),
            v["reason"].as_str().unwrap_or("?")
        ))
    }
}

fn checkpoint_fresh(ctx: &Ctx) -> Judged {
    let name = ctx.snap.ledger.as_deref().unwrap_or("");
    let v = ctx.answer("veritrail:LatestCheckpoint", name)?;
    if v.is_null() {
        return fail("no signed checkpoint");
    }
    let Some(at) = v["time"]
        .as_str()
        .and_then(veritrail_verify::validate_logs::parse_time)
    else {
        return Err(error("the checkpoint has no readable time line"));
    };
    let age = ctx.now.0 - at.0;
    let max = i64::from(ctx.policy.checkpoint_max_age_hours);
    if age > max * 3_600_000 {
        fail(format!(
            "the newest signed checkpoint ({} blocks) is from {at}, {} old; the policy allows {max} hours",
            v["size"],
            hours(age)
        ))
    } else {
        pass(format!("signed checkpoint of {} blocks at {at}", v["size"]))
    }
}
