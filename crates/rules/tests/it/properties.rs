//! Property tests: outside input never panics the compiler or the matcher, and one machine of
//! many rules agrees with each rule matched alone, for events given as values and as text.

use proptest::prelude::*;
use serde_json::{Value, json};
use veritrail_rules::{EventError, MachineBuilder, Pattern, PatternLimits, RuleByRule};

const FIELDS: &[&str] = &["a", "b", "c.d"];
const STRINGS: &[&str] = &[
    "x", "xy", "XY", "", "abc", "10.0.0.1", "::1", "a*b", "ß", "SS", "é",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        prop::sample::select(&[0.0, 1.0, -1.0, 5.0, 300.0, 0.1, 2.5][..]).prop_map(|n| json!(n)),
        any::<i32>().prop_map(|n| json!(n)),
        Just(json!(true)),
        Just(json!(null)),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(FIELDS), inner, 1..3)
                .prop_map(|m| json!(m)),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(FIELDS), event_value(), 1..4)
        .prop_map(|m| json!(m))
}

fn matcher() -> impl Strategy<Value = Value> {
    let s = || prop::sample::select(STRINGS);
    prop_oneof![
        scalar(),
        s().prop_map(|v| json!({"prefix": v})),
        s().prop_map(|v| json!({"suffix": v})),
        s().prop_map(|v| json!({"equals-ignore-case": v})),
        prop::sample::select(&["*", "x*", "*y", "a*b", "*b*", "a\\*b"][..])
            .prop_map(|v| json!({"wildcard": v})),
        s().prop_map(|v| json!({"anything-but": v})),
        Just(json!({"anything-but": [1, 5]})),
        s().prop_filter("non-empty", |v| !v.is_empty())
            .prop_map(|v| json!({"anything-but": {"prefix": v}})),
        s().prop_map(|v| json!({"anything-but": {"equals-ignore-case": [v]}})),
        Just(json!({"anything-but": {"wildcard": ["x*", "*c"]}})),
        prop::sample::select(&[0.0, 1.0, 5.0][..])
            .prop_map(|n| json!({"numeric": [">", n, "<=", 300]})),
        Just(json!({"cidr": "10.0.0.0/24"})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
    ]
}

fn conditions() -> impl Strategy<Value = std::collections::BTreeMap<&'static str, Value>> {
    let field = prop::collection::vec(matcher(), 1..3).prop_map(Value::Array);
    prop::collection::btree_map(prop::sample::select(FIELDS), field, 1..3)
}

fn pattern() -> impl Strategy<Value = Value> {
    (conditions(), prop::option::of((conditions(), conditions()))).prop_map(|(base, or)| {
        let mut p = json!(base);
        if let Some((l, r)) = or {
            p["$or"] = json!([l, r]);
        }
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_text_compiles_or_is_refused_without_panicking(text in ".{0,200}") {
        let _ = Pattern::compile(&text);
    }

    #[test]
    fn any_text_as_an_event_is_matched_or_refused_without_panicking(text in ".{0,200}") {
        let p = Pattern::compile(r#"{"a":[{"exists":true}],"b":[{"prefix":"x"}]}"#).unwrap();
        let _ = p.matches_json(&text);
    }

    #[test]
    fn one_machine_agrees_with_each_rule_alone(
        patterns in prop::collection::vec(pattern(), 1..8),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let compiled: Vec<Pattern> = patterns.iter().filter_map(|p| Pattern::compile(&p.to_string()).ok()).collect();
        let mut b = MachineBuilder::new();
        for (i, p) in compiled.iter().enumerate() {
            b.add(i, p);
        }
        let machine = b.build();
        for e in &events {
            let got: Vec<usize> = machine.matches_value(e).unwrap().into_iter().copied().collect();
            let by_text: Vec<usize> = machine.matches_json(&e.to_string()).unwrap().into_iter().copied().collect();
            prop_assert_eq!(&got, &by_text);
            prop_assert_eq!(got, RuleByRule::new(&compiled).matches_value(e).unwrap());
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let p = Pattern::compile(r#"{"a":[{"exists":true}]}"#).unwrap();
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    assert!(matches!(
        p.matches_json(&deep),
        Err(EventError::TooDeep { .. })
    ));
    let mut v = json!(1);
    for _ in 0..1200 {
        v = json!([v]);
    }
    assert!(matches!(
        p.matches_value(&json!({ "a": v })),
        Err(EventError::TooDeep { .. })
    ));
    let pattern = format!("{}[1]{}", "{\"a\":".repeat(1500), "}".repeat(1500));
    assert!(Pattern::compile(&pattern).is_err());
    let limits = PatternLimits {
        max_chars: usize::MAX,
        ..PatternLimits::default()
    };
    let refused = Pattern::compile_with(&pattern, &limits).unwrap_err();
    assert!(
        refused
            .reason()
            .starts_with("Document nesting depth (257) exceeds the maximum allowed (256"),
        "{}",
        refused.reason()
    );
}

#[test]
fn an_event_over_256_kb_is_refused() {
    let p = Pattern::compile(r#"{"a":["x"]}"#).unwrap();
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(256 * 1024));
    assert!(matches!(
        p.matches_json(&big),
        Err(EventError::TooLarge { .. })
    ));
}
