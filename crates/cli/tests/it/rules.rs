//! `veritrail rules list|test|lint` as a user runs them: which rules fire on real CloudTrail
//! files, exit codes 0/1/2, `--json`, gzipped input, and a user's own pack checked by `lint`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{s, scratch, text, veritrail};

fn invictus_dir() -> PathBuf {
    std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/cloudtrail/invictus-aws-dataset")
}

/// The dataset's log file that holds a record with this event name.
fn file_with(event_name: &str) -> PathBuf {
    let needle = format!("\"eventName\":\"{event_name}\"");
    let mut files: Vec<PathBuf> = std::fs::read_dir(invictus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .replace(": ", ":")
                .contains(&needle)
        })
        .unwrap_or_else(|| panic!("no dataset file has {event_name}"))
}

fn packs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/packs")
}

#[test]
fn list_names_every_built_in_rule() {
    let out = veritrail(&["rules", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(listing.contains("audit-trail-protection"));
    assert!(listing.contains("cis-4.5-cloudtrail-configuration-changes [high]"));
    let out = veritrail(&["rules", "list", "--json"]);
    let rules: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rules.len(), 28);
    assert!(
        rules
            .iter()
            .all(|r| r["controls"].as_array().is_some_and(|c| !c.is_empty()))
    );
}

#[test]
fn a_deleted_trail_fires_the_tampering_rules() {
    let file = file_with("DeleteTrail");
    let out = veritrail(&["rules", "test", "--events", s(&file)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("DeleteTrail"), "{report}");
    assert!(
        report.contains("audit-trail-protection/trail-deleted [critical]"),
        "{report}"
    );
    assert!(
        report.contains("cis-aws-foundations/cis-4.5-cloudtrail-configuration-changes"),
        "{report}"
    );

    let out = veritrail(&[
        "rules",
        "test",
        "audit-trail-protection",
        "--events",
        s(&file),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["rules"], 13);
    assert!(summary["eventsMatched"].as_u64().unwrap() >= 1);
    let deleted = lines
        .iter()
        .find(|l| l["eventName"] == "DeleteTrail")
        .expect("a line for the DeleteTrail event");
    assert!(
        deleted["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["pack"] == "audit-trail-protection")
    );
}

#[test]
fn gzipped_log_files_and_json_lines_are_read() {
    use std::io::Write as _;
    let file = file_with("DeleteTrail");
    let dir = scratch("rules-gz");
    let gz = dir.join("log.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(&file).unwrap()).unwrap();
    enc.finish().unwrap();
    let plain = veritrail(&["rules", "test", "--events", s(&file)]);
    let zipped = veritrail(&["rules", "test", "--events", s(&gz)]);
    assert_eq!(zipped.status.code(), Some(1), "{}", text(&zipped.stderr));
    assert_eq!(text(&plain.stdout), text(&zipped.stdout));

    // One benign record per line: nothing fires, exit 0.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let benign: Vec<String> = doc["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["eventName"] == "Decrypt" || r["eventName"] == "DescribeTrails")
        .map(Value::to_string)
        .collect();
    assert!(!benign.is_empty());
    let lines = dir.join("benign.jsonl");
    std::fs::write(&lines, benign.join("\n")).unwrap();
    let out = veritrail(&[
        "rules",
        "test",
        "audit-trail-protection",
        "--events",
        s(&lines),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(": 0 events fired 0 rule matches"));
}

#[test]
fn unreadable_input_exits_2() {
    let dir = scratch("rules-bad");
    let missing = dir.join("missing.json");
    let out = veritrail(&["rules", "test", "--events", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"Records\": [").unwrap();
    let out = veritrail(&["rules", "test", "--events", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not JSON"),
        "{}",
        text(&out.stderr)
    );
    let out = veritrail(&[
        "rules",
        "test",
        "no-such-pack",
        "--events",
        s(&file_with("DeleteTrail")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("neither a built-in pack"));
    std::fs::write(&bad, "[1, 2]").unwrap();
    let out = veritrail(&["rules", "test", "--events", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lint_accepts_the_shipped_packs_and_explains_a_broken_one() {
    for pack in ["cis-aws-foundations.json", "audit-trail-protection.json"] {
        let path = packs_dir().join(pack);
        let out = veritrail(&["rules", "lint", s(&path)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("OK "));
    }
    let dir = scratch("rules-lint");
    let broken = dir.join("mine.json");
    std::fs::write(
        &broken,
        r#"{"id":"mine","title":"My rules","rules":[
            {"id":"bad-pattern","title":"t","severity":"high","pattern":{"detail":{"eventName":"StopLogging"}}},
            {"id":"misses","title":"t","severity":"low","pattern":{"detail":{"eventName":["StopLogging"]}},
             "tests":[{"expect":"match","source":"made up","event":{"eventID":"1","eventSource":"cloudtrail.amazonaws.com","eventName":"StartLogging","eventTime":"2024-01-01T00:00:00Z"}}]}]}"#,
    )
    .unwrap();
    let out = veritrail(&["rules", "lint", s(&broken)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("rules[0] (bad-pattern).pattern: InvalidEventPatternException: Event pattern is not valid. Reason: \"eventName\" must be an object or an array"),
        "{err}"
    );
    let out = veritrail(&["rules", "lint", s(&broken), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1);

    // Fix the pattern: now the test event that should fire does not.
    let fixed = std::fs::read_to_string(&broken).unwrap().replace(
        r#"{"eventName":"StopLogging"}"#,
        r#"{"eventName":["StopLogging"]}"#,
    );
    std::fs::write(&broken, fixed).unwrap();
    let out = veritrail(&["rules", "lint", s(&broken)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("rule misses test 0 (made up): expected the rule to fire, it did not fire"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&broken, "not json").unwrap();
    let out = veritrail(&["rules", "lint", s(&broken)]);
    assert_eq!(out.status.code(), Some(2));
}
