//! Every shipped rule fires on each of its positive test events and on none of its negatives,
//! matched with the whole pack in one machine; every rule names its controls and has both kinds
//! of test event; test events name their source.

use veritrail_rules::packs::{self, BUILTIN};

#[test]
fn every_shipped_rule_fires_on_its_positives_and_on_none_of_its_negatives() {
    assert_eq!(BUILTIN.len(), 2);
    let mut rules = 0;
    let mut tests = 0;
    for (id, _) in BUILTIN {
        let pack = packs::builtin(id)
            .unwrap()
            .unwrap_or_else(|p| panic!("{id}: {p:?}"));
        assert_eq!(&pack.id, id);
        for rule in &pack.rules {
            assert!(!rule.controls.is_empty(), "{}: no controls", rule.id);
            assert!(
                rule.tests.iter().any(|t| t.expect_match),
                "{}: no positive test",
                rule.id
            );
            assert!(
                rule.tests.iter().any(|t| !t.expect_match),
                "{}: no negative test",
                rule.id
            );
            assert!(
                rule.tests.iter().all(|t| !t.source.is_empty()),
                "{}: a test without source",
                rule.id
            );
            rules += 1;
            tests += rule.tests.len();
        }
        let failures = pack.check_tests();
        assert!(
            failures.is_empty(),
            "{id}:\n{}",
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(rules, 28);
    assert!(tests > 100, "{tests}");
}

#[test]
fn the_cis_pack_covers_every_monitoring_control() {
    let pack = packs::builtin("cis-aws-foundations").unwrap().unwrap();
    for n in 1..=15 {
        let control = format!("4.{n}");
        assert!(
            pack.rules.iter().any(|r| r
                .controls
                .iter()
                .any(|c| c.framework == "CIS AWS Foundations Benchmark v1.4.0"
                    && c.control == control)),
            "no rule for CIS {control}"
        );
    }
}

#[test]
fn the_audit_trail_pack_covers_the_issue_list() {
    let pack = packs::builtin("audit-trail-protection").unwrap().unwrap();
    let ids: Vec<&str> = pack.rules.iter().map(|r| r.id.as_str()).collect();
    for want in [
        "trail-logging-stopped",
        "trail-deleted",
        "trail-updated",
        "trail-event-selectors-changed",
        "kms-key-disabled",
        "kms-key-deletion-scheduled",
        "s3-object-lock-configuration-changed",
        "s3-bucket-policy-deleted",
        "s3-versioning-suspended",
        "root-activity",
        "console-login-without-mfa",
        "console-login-failed",
        "security-group-open-to-world",
    ] {
        assert!(ids.contains(&want), "missing {want}");
    }
    for rule in &pack.rules {
        for framework in ["PCI DSS v4.0.1", "SOC 2", "ISO/IEC 27001:2022", "HIPAA"] {
            assert!(
                rule.controls.iter().any(|c| c.framework == framework),
                "{}: no {framework}",
                rule.id
            );
        }
    }
}
