//! Match/no-match cases ported from event-ruler's tests and the EventBridge user guide: each
//! pattern alone, as JSON text and as a parsed value, and all of a file's patterns in one machine.

use serde_json::Value;
use veritrail_rules::{MachineBuilder, Pattern};

struct Case {
    name: String,
    pattern: String,
    event: String,
    matches: bool,
}

fn load(file: &str) -> Vec<Case> {
    let doc = crate::data(file);
    assert!(
        doc["source"].as_str().is_some_and(|s| !s.is_empty()),
        "{file} names no source"
    );
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            pattern: match c.get("pattern_text") {
                Some(t) => t.as_str().unwrap().to_owned(),
                None => c["pattern"].to_string(),
            },
            event: match c.get("event_text") {
                Some(t) => t.as_str().unwrap().to_owned(),
                None => c["event"].to_string(),
            },
            matches: c["matches"].as_bool().unwrap(),
        })
        .collect()
}

fn check_file(file: &str) {
    let cases = load(file);
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    let mut patterns = Vec::new();
    for c in &cases {
        let p = Pattern::compile(&c.pattern).unwrap_or_else(|e| panic!("{file}: {}: {e}", c.name));
        let by_text = p.matches_json(&c.event).unwrap();
        let value: Value = serde_json::from_str(&c.event).unwrap();
        let by_value = p.matches_value(&value).unwrap();
        if by_text != c.matches || by_value != c.matches {
            failures.push(format!(
                "{}: expected {}, text {by_text}, value {by_value}\n  pattern {}\n  event {}",
                c.name, c.matches, c.pattern, c.event
            ));
        }
        patterns.push(p);
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));

    // All the file's patterns in one machine: each event matches exactly the patterns that
    // match it one at a time.
    let mut b = MachineBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(i, p);
    }
    let machine = b.build();
    for c in &cases {
        let got: Vec<usize> = machine
            .matches_json(&c.event)
            .unwrap()
            .into_iter()
            .copied()
            .collect();
        let want: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| p.matches_json(&c.event).unwrap())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            got, want,
            "{file}: one machine vs one pattern at a time, event of {}",
            c.name
        );
    }
}

#[test]
fn event_ruler_ruler_test() {
    check_file("event-ruler-ruler-test.json");
}

#[test]
fn event_ruler_machine_test() {
    check_file("event-ruler-machine-test.json");
}

#[test]
fn event_ruler_readme() {
    check_file("event-ruler-readme.json");
}

#[test]
fn event_ruler_correctness_cases() {
    check_file("event-ruler-correctness.json");
}

#[test]
fn eventbridge_user_guide() {
    check_file("eventbridge-user-guide.json");
}
