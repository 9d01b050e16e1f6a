//! Framework reports: per requirement, the posture checks, the pack rules and the ledger records
//! that support it, and a status; as JSON, Markdown or self-contained HTML (no external asset).
//!
//! A report is built from the JSON of a posture run ([`crate::posture::results_json`], what
//! `veritrail check --json` prints), so a saved run renders the same as a fresh one.
//!
//! A requirement's status: `FAIL` if a supporting check failed, else `ERROR` if one could not
//! run, else `PASS` if at least one check supports it. A requirement only rules support takes
//! the status of `monitoring.rules` (the rules are only as good as their deployment); one
//! nothing supports is `NOT ASSESSED`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::frameworks::Framework;
use crate::posture::ExpectedRule;

/// What the ledger holds that supports the requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Audit records in the ledger; `None` when no ledger was read.
    pub audit_records: Option<u64>,
    /// Alerts raised, by `pack/rule`.
    pub alerts_by_rule: BTreeMap<String, u64>,
}

/// Builds the report's JSON for `frameworks` from a posture run's JSON.
pub fn build(
    checks: &Value,
    frameworks: &[Framework],
    rules: &[ExpectedRule],
    counts: &RecordCounts,
) -> Value {
    let check_list: Vec<&Value> = checks["checks"].as_array().into_iter().flatten().collect();
    let monitoring = check_list
        .iter()
        .find(|c| c["id"] == "monitoring.rules")
        .and_then(|c| c["status"].as_str())
        .unwrap_or("ERROR");
    let mut out = Vec::new();
    for f in frameworks {
        // The catalogue's requirements, then any a check or rule names that it lacks.
        let mut names: Vec<(String, String)> = f
            .requirements
            .iter()
            .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
            .collect();
        let mut extra = BTreeSet::new();
        for c in &check_list {
            for r in c["requirements"].as_array().into_iter().flatten() {
                if r["framework"] == f.name {
                    extra.insert(r["requirement"].as_str().unwrap_or("").to_owned());
                }
            }
        }
        for r in rules {
            for (fw, control) in &r.controls {
                if fw == f.name {
                    extra.insert(control.clone());
                }
            }
        }
        for e in extra {
            if !names.iter().any(|(n, _)| *n == e) {
                names.push((e, String::new()));
            }
        }
        let mut rows = Vec::new();
        for (requirement, title) in names {
            let supporting: Vec<&&Value> = check_list
                .iter()
                .filter(|c| {
                    c["requirements"].as_array().is_some_and(|rs| {
                        rs.iter().any(|r| {
                            r["framework"] == f.name && r["requirement"] == requirement.as_str()
                        })
                    })
                })
                .collect();
            let rule_ids: Vec<String> = rules
                .iter()
                .filter(|r| {
                    r.controls
                        .iter()
                        .any(|(fw, c)| fw == f.name && *c == requirement)
                })
                .map(|r| format!("{}/{}", r.pack, r.id))
                .collect();
            let statuses: Vec<&str> = supporting
                .iter()
                .filter_map(|c| c["status"].as_str())
                .collect();
            let status = if statuses.contains(&"FAIL") {
                "FAIL"
            } else if statuses.contains(&"ERROR") {
                "ERROR"
            } else if !statuses.is_empty() {
                "PASS"
            } else if !rule_ids.is_empty() {
                monitoring
            } else {
                "NOT ASSESSED"
            };
            let alerts: u64 = rule_ids
                .iter()
                .map(|r| counts.alerts_by_rule.get(r).copied().unwrap_or(0))
                .sum();
            rows.push(json!({
                "requirement": requirement,
                "title": title,
                "status": status,
                "checks": supporting.iter().map(|c| json!({"id": c["id"], "status": c["status"], "reason": c["reason"]})).collect::<Vec<_>>(),
                "rules": rule_ids,
                "records": {"auditRecords": counts.audit_records, "alerts": alerts},
            }));
        }
        let worst = ["FAIL", "ERROR", "PASS"]
            .into_iter()
            .find(|s| rows.iter().any(|r| r["status"] == *s))
            .unwrap_or("NOT ASSESSED");
        out.push(json!({"id": f.id, "name": f.name, "status": worst, "requirements": rows}));
    }
    json!({
        "generatedAt": checks["generatedAt"],
        "target": checks["target"],
        "policy": checks["policy"],
        "auditRecords": counts.audit_records,
        "frameworks": out,
    })
}

fn cell(v: &Value) -> String {
    v.as_str()
        .unwrap_or("")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// The report as Markdown: one table per framework.
pub fn markdown(report: &Value) -> String {
    let mut s = String::from("# Compliance report\n\n");
    let _ = writeln!(
        s,
        "Generated {} for trail `{}` in {}; evidence buckets {}; ledger {} ({} audit records).\n",
        cell(&report["generatedAt"]),
        cell(&report["target"]["trail"]),
        cell(&report["target"]["region"]),
        report["target"]["evidenceBuckets"],
        report["target"]["ledger"].as_str().unwrap_or("none"),
        report["auditRecords"]
            .as_u64()
            .map_or_else(|| "unknown".into(), |n| n.to_string())
    );
    for f in report["frameworks"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "## {}: {}\n", cell(&f["name"]), cell(&f["status"]));
        s.push_str("| Requirement | Status | Checks | Rules | Alerts |\n|---|---|---|---|---|\n");
        for r in f["requirements"].as_array().into_iter().flatten() {
            let checks: Vec<String> = r["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("`{}` {}", cell(&c["id"]), cell(&c["status"])))
                .collect();
            let rules: Vec<String> = r["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("`{}`", cell(x)))
                .collect();
            let title = cell(&r["title"]);
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | {} |",
                cell(&r["requirement"]),
                if title.is_empty() {
                    String::new()
                } else {
                    format!(" {title}")
                },
                cell(&r["status"]),
                checks.join("<br>"),
                rules.join("<br>"),
                r["records"]["alerts"]
            );
        }
        s.push('\n');
    }
    s
}

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn text(v: &Value) -> String {
    esc(v.as_str().unwrap_or(""))
}

/// The report as one self-contained HTML page (inline style, no script, no external asset).
pub fn html(report: &Value) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Compliance report</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #999;padding:4px 8px;vertical-align:top;text-align:left}.PASS{background:#d7f5d7}.FAIL{background:#f8d0d0}.ERROR{background:#f8ecc0}.NOT{background:#eee}</style></head><body>\n<h1>Compliance report</h1>\n",
    );
    let _ = writeln!(
        s,
        "<p>Generated {} for trail <code>{}</code> in {}; ledger {} ({} audit records).</p>",
        text(&report["generatedAt"]),
        text(&report["target"]["trail"]),
        text(&report["target"]["region"]),
        esc(report["target"]["ledger"].as_str().unwrap_or("none")),
        report["auditRecords"]
            .as_u64()
            .map_or_else(|| "unknown".into(), |n| n.to_string())
    );
    for f in report["frameworks"].as_array().into_iter().flatten() {
        let status = f["status"].as_str().unwrap_or("");
        let _ = writeln!(
            s,
            "<h2>{} <span class=\"{}\">{}</span></h2>\n<table><tr><th>Requirement</th><th>Status</th><th>Checks</th><th>Rules</th><th>Alerts</th></tr>",
            text(&f["name"]),
            esc(status.split(' ').next().unwrap_or("")),
            esc(status)
        );
        for r in f["requirements"].as_array().into_iter().flatten() {
            let status = r["status"].as_str().unwrap_or("");
            let checks: Vec<String> = r["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "<code>{}</code> <span class=\"{}\" title=\"{}\">{}</span>",
                        text(&c["id"]),
                        text(&c["status"]),
                        text(&c["reason"]),
                        text(&c["status"])
                    )
                })
                .collect();
            let rules: Vec<String> = r["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("<code>{}</code>", text(x)))
                .collect();
            let _ = writeln!(
                s,
                "<tr><td>{} {}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&r["requirement"]),
                text(&r["title"]),
                esc(status.split(' ').next().unwrap_or("")),
                esc(status),
                checks.join("<br>"),
                rules.join("<br>"),
                r["records"]["alerts"]
            );
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body></html>\n");
    s
}
