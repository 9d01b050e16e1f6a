//! Framework reports and OCSF findings from a posture run's JSON.

use serde_json::{Value, json};
use veritrail_evidence::frameworks;
use veritrail_evidence::posture::{Policy, expected_rules, results_json, target_of};
use veritrail_evidence::report::{RecordCounts, build, html, markdown};

use crate::posture::{NOW, healthy, run};

fn checks_json(break_retention: bool) -> Value {
    let mut s = healthy();
    if break_retention {
        let c = s
            .calls
            .iter_mut()
            .find(|c| c.call == "s3:GetObjectLockConfiguration")
            .unwrap();
        c.outcome = Ok(
            json!({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}}}),
        );
    }
    let policy = Policy::default();
    results_json(
        &run(&s, &policy),
        &target_of(&s, &policy, Some("audit")),
        &policy,
        NOW,
    )
}

fn row<'a>(report: &'a Value, framework: &str, requirement: &str) -> &'a Value {
    report["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == framework)
        .unwrap()["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["requirement"] == requirement)
        .unwrap_or_else(|| panic!("no {framework} {requirement}"))
}

#[test]
fn every_requirement_lists_its_checks_rules_and_records() {
    let rules = expected_rules().unwrap();
    let counts = RecordCounts {
        audit_records: Some(120),
        alerts_by_rule: [("audit-trail-protection/trail-logging-stopped".to_owned(), 2)].into(),
    };
    let report = build(&checks_json(false), frameworks::ALL, &rules, &counts);
    assert_eq!(report["frameworks"].as_array().unwrap().len(), 4);
    for f in report["frameworks"].as_array().unwrap() {
        assert_eq!(f["status"], "PASS", "{}", f["id"]);
    }
    let r = row(&report, "pci-dss", "10.5.1");
    assert_eq!(r["status"], "PASS");
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "bucket.object_lock_compliance")
    );
    let r = row(&report, "pci-dss", "10.2.1.6");
    assert!(
        r["rules"]
            .as_array()
            .unwrap()
            .contains(&json!("audit-trail-protection/trail-logging-stopped"))
    );
    assert_eq!(r["records"]["alerts"], 2);
    assert_eq!(r["records"]["auditRecords"], 120);
    // Only rules support 8.4.2: it takes the status of the rules' deployment.
    assert_eq!(row(&report, "pci-dss", "8.4.2")["status"], "PASS");
    assert_eq!(row(&report, "hipaa", "164.312(b)")["status"], "PASS");
}

#[test]
fn a_failed_check_fails_the_requirements_it_supports_in_every_format() {
    let rules = expected_rules().unwrap();
    let report = build(
        &checks_json(true),
        frameworks::ALL,
        &rules,
        &RecordCounts::default(),
    );
    assert_eq!(row(&report, "pci-dss", "10.5.1")["status"], "FAIL");
    assert_eq!(row(&report, "pci-dss", "10.2.1")["status"], "PASS");
    assert_eq!(row(&report, "iso27001", "A.8.15")["status"], "FAIL");
    assert_eq!(row(&report, "iso27001", "A.8.16")["status"], "PASS");
    assert_eq!(row(&report, "soc2", "CC7.2")["status"], "PASS");
    let md = markdown(&report);
    assert!(md.contains("## PCI DSS v4.0.1: FAIL"), "{md}");
    assert!(
        md.lines().any(|l| l.starts_with("| 10.5.1 ")
            && l.contains("| FAIL |")
            && l.contains("`bucket.object_lock_compliance` FAIL")),
        "{md}"
    );
    let page = html(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("<script") && !page.contains("src=") && !page.contains("href="),
        "external or active content"
    );
    assert!(page.contains("<td class=\"FAIL\">FAIL</td>"));
}

#[test]
fn ocsf_findings_carry_the_required_fields() {
    let checks = checks_json(true);
    let found = veritrail_evidence::ocsf::findings(&checks, &[], NOW);
    assert_eq!(found.len(), 17);
    for f in &found {
        for field in [
            "activity_id",
            "category_uid",
            "class_uid",
            "type_uid",
            "severity_id",
            "time",
            "metadata",
            "finding_info",
            "compliance",
        ] {
            assert!(!f[field].is_null(), "{field} missing in {f}");
        }
        assert_eq!(f["class_uid"], 2003);
        assert_eq!(f["category_uid"], 2);
        assert_eq!(f["type_uid"], 200301);
        assert!(f["metadata"]["version"].as_str().unwrap().starts_with("1."));
        assert!(f["metadata"]["product"]["name"].is_string());
        assert!(f["metadata"]["product"]["vendor_name"].is_string());
        assert!(f["finding_info"]["uid"].is_string());
        assert!(f["finding_info"]["title"].is_string());
        assert!(!f["compliance"]["standards"].as_array().unwrap().is_empty());
        assert!([1, 2, 3].contains(&f["compliance"]["status_id"].as_u64().unwrap()));
        assert_eq!(f["cloud"]["provider"], "AWS");
    }
    let lock = found
        .iter()
        .find(|f| f["compliance"]["control"] == "bucket.object_lock_compliance")
        .unwrap();
    assert_eq!(lock["compliance"]["status_id"], 3);
    assert_eq!(lock["compliance"]["status"], "Fail");
    assert!(
        lock["compliance"]["requirements"]
            .as_array()
            .unwrap()
            .contains(&json!("PCI DSS v4.0.1 10.5.1"))
    );
    assert_eq!(lock["resources"][1]["uid"], "arn:aws:s3:::evidence");
    // Restricted to HIPAA: only the checks that support 164.312(b), naming only HIPAA.
    let hipaa = veritrail_evidence::ocsf::findings(&checks, &["HIPAA"], NOW);
    assert!(!hipaa.is_empty() && hipaa.len() < found.len());
    for f in &hipaa {
        assert_eq!(f["compliance"]["standards"], json!(["HIPAA"]));
    }
}
