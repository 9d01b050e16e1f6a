//! Posture results as OCSF Compliance Findings (class 2003, category 2 Findings; OCSF 1.1
//! attribute names), the schema AWS Security Hub and Security Lake read: one finding per check.
//!
//! Each finding carries the base event's required attributes (`activity_id`, `category_uid`,
//! `class_uid`, `type_uid`, `severity_id`, `time`, `metadata` with `product` and `version`),
//! `finding_info` (required by Finding: `uid`, `title`), and `compliance` (required by
//! Compliance Finding: `standards`, with `requirements`, `control`, `status_id` and `status`).
//! A check that could not run is compliance status 2 (Warning: "did not yield a result due to
//! missing information"), never 1 (Pass).

use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

/// The OCSF version the findings follow.
pub const OCSF_VERSION: &str = "1.1.0";
pub const CLASS_UID: u32 = 2003;
pub const CATEGORY_UID: u32 = 2;
/// Activity 1, Create.
pub const ACTIVITY_CREATE: u32 = 1;

/// The findings for a posture run's JSON (what `veritrail check --json` prints), one per
/// check, restricted to the frameworks named in `standards` (all when empty). `time` is when
/// the findings were made.
pub fn findings(checks: &Value, standards: &[&str], time: UtcMillis) -> Vec<Value> {
    let region = checks["target"]["region"].as_str().unwrap_or("");
    let trail = checks["target"]["trail"].as_str();
    // arn:aws:cloudtrail:<region>:<account>:trail/<name>
    let account = trail.and_then(|a| a.split(':').nth(4)).unwrap_or("");
    let generated = checks["generatedAt"].as_str().unwrap_or("");
    let mut out = Vec::new();
    for c in checks["checks"].as_array().into_iter().flatten() {
        let reqs: Vec<(&str, &str)> = c["requirements"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["framework"].as_str()?, r["requirement"].as_str()?)))
            .filter(|(f, _)| standards.is_empty() || standards.contains(f))
            .collect();
        if reqs.is_empty() {
            continue;
        }
        let mut names: Vec<&str> = reqs.iter().map(|(f, _)| *f).collect();
        names.sort_unstable();
        names.dedup();
        let id = c["id"].as_str().unwrap_or("");
        let status = c["status"].as_str().unwrap_or("ERROR");
        let (status_id, status_caption, severity_id, severity) = match status {
            "PASS" => (1, "Pass", 1, "Informational"),
            "FAIL" => (3, "Fail", 4, "High"),
            _ => (2, "Warning", 3, "Medium"),
        };
        let mut resources = Vec::new();
        if let Some(t) = trail {
            resources.push(json!({"uid": t, "type": "AWS::CloudTrail::Trail", "region": region}));
        }
        if id.starts_with("bucket.") {
            for b in checks["target"]["evidenceBuckets"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(b) = b.as_str() {
                    resources.push(json!({"uid": format!("arn:aws:s3:::{b}"), "name": b, "type": "AWS::S3::Bucket", "region": region}));
                }
            }
        }
        out.push(json!({
            "activity_id": ACTIVITY_CREATE,
            "activity_name": "Create",
            "category_uid": CATEGORY_UID,
            "category_name": "Findings",
            "class_uid": CLASS_UID,
            "class_name": "Compliance Finding",
            "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
            "type_name": "Compliance Finding: Create",
            "severity_id": severity_id,
            "severity": severity,
            "time": time.0,
            "status_id": 1,
            "status": "New",
            "message": c["reason"],
            "metadata": {
                "version": OCSF_VERSION,
                "product": {"name": "veritrail", "vendor_name": "veritrail", "version": env!("CARGO_PKG_VERSION")},
                "profiles": ["cloud"],
                "uid": format!("veritrail:{id}:{generated}"),
            },
            "cloud": {"provider": "AWS", "region": region, "account": {"uid": account, "type": "AWS Account", "type_id": 10}},
            "finding_info": {
                "uid": format!("veritrail/{account}/{region}/{id}"),
                "title": c["title"],
                "desc": c["reason"],
                "types": ["Posture check"],
                "created_time": time.0,
            },
            "compliance": {
                "control": id,
                "standards": names,
                "requirements": reqs.iter().map(|(f, r)| format!("{f} {r}")).collect::<Vec<_>>(),
                "status_id": status_id,
                "status": status_caption,
                "status_detail": c["reason"],
            },
            "resources": resources,
            "unmapped": {"veritrail_status": status, "evidence_calls": c["evidence"].as_array().map_or(0, Vec::len)},
        }));
    }
    out
}
