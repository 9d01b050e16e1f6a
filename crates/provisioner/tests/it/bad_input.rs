//! Configurations that cannot be used are refused before any call, with what to change.

use veritrail_provisioner::{Config, ProvisionError};

fn refused(text: &str) -> String {
    let e = Config::parse(text)
        .and_then(|c| c.resolve("000000000000", "us-east-1").map(|_| ()))
        .unwrap_err();
    assert!(e.is_usage(), "{e}");
    e.to_string()
}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    let e = refused(r#"{"region": "us-middle-7"}"#);
    assert!(e.contains("unknown region \"us-middle-7\""), "{e}");
    let e = refused(r#"{"bucket": {"retentionDays": 300}}"#);
    assert!(e.contains("at least 12 months (365 days)"), "{e}");
    let e = refused(r#"{"prefix": "Bad_Prefix"}"#);
    assert!(e.contains("prefix \"Bad_Prefix\""), "{e}");
    let e = refused(r#"{"prefix": ""}"#);
    assert!(e.contains("prefix"), "{e}");
    let e = refused(r#"{"retention": 400}"#);
    assert!(e.contains("unknown field `retention`"), "{e}");
    let e = refused(r#"{"rules": {"packs": ["no-such-pack"]}}"#);
    assert!(e.contains("no shipped pack \"no-such-pack\""), "{e}");
    let e = refused(r#"{"bucket": {"storageClass": "TAPE"}}"#);
    assert!(e.contains("bucket.storageClass"), "{e}");
    let e = refused(r#"{"bucket": {"name": "Not_A_Bucket"}}"#);
    assert!(e.contains("bucket name"), "{e}");
    let e = refused(r#"{"queue": {"maxReceives": 0}}"#);
    assert!(e.contains("queue.maxReceives"), "{e}");
    let e = refused("{");
    assert!(e.contains("configuration"), "{e}");
}

#[test]
fn the_defaults_resolve_to_prefixed_names() {
    let n = Config::parse("{}")
        .unwrap()
        .resolve("123456789012", "eu-west-1")
        .unwrap();
    assert_eq!(n.bucket, "veritrail-evidence-123456789012-eu-west-1");
    assert_eq!(n.trail, "veritrail-trail");
    assert_eq!(n.key_alias, "alias/veritrail-evidence");
    assert_eq!(
        n.queue_arn(),
        "arn:aws:sqs:eu-west-1:123456789012:veritrail-audit"
    );
    assert_eq!(n.packs.len(), veritrail_rules::packs::BUILTIN.len());
    // Every rule name is EventBridge's: at most 64 of [.-_A-Za-z0-9], all distinct.
    let mut seen = std::collections::BTreeSet::new();
    for p in &n.packs {
        for r in &p.rules {
            let name = n.rule_name(&p.id, &r.id);
            assert!(name.len() <= 64, "{name}");
            assert!(name.starts_with("veritrail-"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)),
                "{name}"
            );
            assert!(seen.insert(name));
        }
    }
    let long = n.rule_name("pack", &"x".repeat(100));
    assert_eq!(long.len(), 64);
    assert_ne!(long, n.rule_name("pack", &"x".repeat(101)));
    // The config file's region wins; China and GovCloud get their partitions.
    let cn = Config::parse(r#"{"region": "cn-north-1"}"#)
        .unwrap()
        .resolve("123456789012", "us-east-1")
        .unwrap();
    assert_eq!(
        cn.bucket_arn(),
        "arn:aws-cn:s3:::veritrail-evidence-123456789012-cn-north-1"
    );
}

#[test]
fn a_missing_or_huge_config_file_is_refused() {
    let e = Config::read(std::path::Path::new("/nonexistent/provision.json")).unwrap_err();
    assert!(matches!(e, ProvisionError::Config(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/provision.json"), "{e}");
    // A device that never ends is read only up to the limit.
    let e = Config::read(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
}
