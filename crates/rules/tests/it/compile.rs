//! Patterns event-ruler accepts and refuses, and the refusals' exact wording
//! (`tests/data/event-ruler-compile.json`).

use veritrail_rules::{InvalidEventPattern, Pattern};

#[test]
fn accepted_patterns_compile() {
    let doc = crate::data("event-ruler-compile.json");
    let mut failures = Vec::new();
    for p in doc["accepted"].as_array().unwrap() {
        let text = p.as_str().unwrap();
        if let Err(e) = Pattern::compile(text) {
            failures.push(format!("{text}\n  refused: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn refused_patterns_get_event_rulers_reason() {
    let doc = crate::data("event-ruler-compile.json");
    let mut failures = Vec::new();
    let refused = doc["refused"].as_array().unwrap();
    assert!(refused.len() > 100);
    for case in refused {
        let text = case["pattern_text"].as_str().unwrap();
        let want = case["reason"].as_str().unwrap();
        match Pattern::compile(text) {
            Ok(_) => failures.push(format!("{text:?}\n  accepted, expected: {want:?}")),
            Err(e) => {
                assert_eq!(e.code(), InvalidEventPattern::CODE);
                assert_eq!(
                    e.message(),
                    format!("Event pattern is not valid. Reason: {}", e.reason())
                );
                if e.reason() != want {
                    failures.push(format!(
                        "{text:?}\n  got:  {:?}\n  want: {want:?}",
                        e.reason()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        refused.len(),
        failures.join("\n")
    );
}
