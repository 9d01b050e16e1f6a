//! Match/no-match cases ported from event-ruler's tests and the EventBridge user guide: each
//! pattern alone, as JSON text and as a parsed value, and all of a file's patterns in one machine.

use serde_json::Value;
use veritrail_rules::{MachineBuilder, Pattern, RuleByRule};

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
    let mut out = Vec::new();
    for c in doc["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap().to_owned();
        let pattern = match c.get("pattern_text") {
            Some(t) => t.as_str().unwrap().to_owned(),
            None => c["pattern"].to_string(),
        };
        // A case has one event, or a list of them (`events`) for the same pattern.
        let events = match c.get("events") {
            Some(list) => list.as_array().unwrap().clone(),
            None => vec![c.clone()],
        };
        for (i, e) in events.iter().enumerate() {
            out.push(Case {
                name: if events.len() > 1 {
                    format!("{name} #{i}")
                } else {
                    name.clone()
                },
                pattern: pattern.clone(),
                event: match e.get("event_text") {
                    Some(t) => t.as_str().unwrap().to_owned(),
                    None => e["event"].to_string(),
                },
                // Where event-ruler has a bug veritrail does not copy, the file says so and gives
                // veritrail's result beside event-ruler's.
                matches: match e.get("veritrail") {
                    Some(v) => {
                        assert!(e["why"].as_str().is_some_and(|w| !w.is_empty()));
                        v.as_bool().unwrap()
                    }
                    None => e["matches"].as_bool().unwrap(),
                },
            });
        }
    }
    out
}

fn check_file(file: &str) {
    let cases = load(file);
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
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
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));

    // All the file's (distinct) patterns in one machine: each event matches exactly the patterns
    // that match it one at a time. For the large generated corpus, the first 600 events.
    let mut distinct: Vec<&str> = cases.iter().map(|c| c.pattern.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let compiled: Vec<Pattern> = distinct
        .iter()
        .map(|t| Pattern::compile(t).unwrap())
        .collect();
    let mut b = MachineBuilder::new();
    for (i, p) in compiled.iter().enumerate() {
        b.add(i, p);
    }
    let machine = b.build();
    let alone = RuleByRule::new(&compiled);
    for c in cases.iter().take(600) {
        let got: Vec<usize> = machine
            .matches_json(&c.event)
            .unwrap()
            .into_iter()
            .copied()
            .collect();
        let want = alone.matches_json(&c.event).unwrap();
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
fn event_ruler_differential_corpus() {
    check_file("event-ruler-differential.json");
}

#[test]
fn eventbridge_user_guide() {
    check_file("eventbridge-user-guide.json");
}
