//! Rule packs: named sets of EventBridge patterns with their severity, the compliance controls
//! they support, and test events that each rule must (and must not) fire on.
//!
//! A pack is a JSON document (the shipped ones are `packs/*.json`, built into the binary):
//!
//! ```json
//! {"id": "my-pack", "title": "…", "description": "…",
//!  "rules": [{"id": "trail-deleted", "title": "…", "severity": "critical", "description": "…",
//!             "controls": [{"framework": "PCI DSS v4.0.1", "control": "10.2.1.6"}],
//!             "pattern": {"source": ["aws.cloudtrail"], "detail": {"eventName": ["DeleteTrail"]}},
//!             "tests": [{"expect": "match", "source": "where the record came from", "event": {…}}]}]}
//! ```
//!
//! A test event is a CloudTrail record (wrapped as EventBridge would, see [`crate::envelope`]) or
//! an EventBridge event. [`parse`] reports every problem it finds, each with where it is.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::envelope;
use crate::machine::{Machine, MachineBuilder};
use crate::pattern::Pattern;

/// The packs shipped with veritrail: id and JSON text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "cis-aws-foundations",
        include_str!("../packs/cis-aws-foundations.json"),
    ),
    (
        "audit-trail-protection",
        include_str!("../packs/audit-trail-protection.json"),
    ),
];

/// How serious a rule's finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    const NAMES: [(&'static str, Severity); 5] = [
        ("informational", Severity::Informational),
        ("low", Severity::Low),
        ("medium", Severity::Medium),
        ("high", Severity::High),
        ("critical", Severity::Critical),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("medium", |(n, _)| n)
    }

    fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, s)| *s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A control of a compliance framework that a rule supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub framework: String,
    pub control: String,
}

/// A test event: the rule must fire on it (`expect_match`) or must not.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    pub expect_match: bool,
    /// Where the record came from.
    pub source: String,
    /// The event as rules see it (a CloudTrail record is wrapped in EventBridge's envelope).
    pub event: Value,
}

/// One rule of a pack.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub controls: Vec<Control>,
    pub pattern: Pattern,
    pub tests: Vec<TestEvent>,
}

/// A rule pack.
#[derive(Debug, Clone)]
pub struct RulePack {
    pub id: String,
    pub title: String,
    pub description: String,
    pub rules: Vec<Rule>,
}

/// Something wrong in a pack: where (`rules[2] (trail-deleted).pattern`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackProblem {
    pub at: String,
    pub problem: String,
}

impl fmt::Display for PackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.at, self.problem)
        }
    }
}

/// A test event on which a rule did not do what the test expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub rule: String,
    /// Index of the test in the rule's `tests`.
    pub test: usize,
    pub source: String,
    pub expected_match: bool,
    /// Set when the event could not be matched at all.
    pub error: Option<String>,
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(
                f,
                "rule {} test {} ({}): the event cannot be matched: {e}",
                self.rule, self.test, self.source
            ),
            None => write!(
                f,
                "rule {} test {} ({}): expected the rule to {}, it {}",
                self.rule,
                self.test,
                self.source,
                if self.expected_match {
                    "fire"
                } else {
                    "stay silent"
                },
                if self.expected_match {
                    "did not fire"
                } else {
                    "fired"
                }
            ),
        }
    }
}

struct Reader {
    problems: Vec<PackProblem>,
}

impl Reader {
    fn problem(&mut self, at: &str, problem: impl Into<String>) {
        self.problems.push(PackProblem {
            at: at.to_owned(),
            problem: problem.into(),
        });
    }

    fn text(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> String {
        match o.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                self.problem(at, format!("`{key}` is empty"));
                String::new()
            }
            Some(_) => {
                self.problem(at, format!("`{key}` must be a string"));
                String::new()
            }
            None => {
                self.problem(at, format!("`{key}` is missing"));
                String::new()
            }
        }
    }

    fn unknown_keys(&mut self, o: &Map<String, Value>, known: &[&str], at: &str) {
        for k in o.keys() {
            if !known.contains(&k.as_str()) {
                self.problem(
                    at,
                    format!("unknown key `{k}` (known: {})", known.join(", ")),
                );
            }
        }
    }

    fn rule(&mut self, value: &Value, at: &str) -> Option<Rule> {
        let Some(o) = value.as_object() else {
            self.problem(at, "a rule must be a JSON object");
            return None;
        };
        let before = self.problems.len();
        self.unknown_keys(
            o,
            &[
                "id",
                "title",
                "severity",
                "description",
                "controls",
                "pattern",
                "tests",
                "cloudwatch_filter",
            ],
            at,
        );
        let id = self.text(o, "id", at);
        let at = if id.is_empty() {
            at.to_owned()
        } else {
            format!("{at} ({id})")
        };
        let title = self.text(o, "title", &at);
        let description = match o.get("description") {
            None => String::new(),
            Some(_) => self.text(o, "description", &at),
        };
        let severity_text = self.text(o, "severity", &at);
        let severity = Severity::parse(&severity_text);
        if severity.is_none() && !severity_text.is_empty() {
            self.problem(
                &at,
                format!(
                    "severity `{severity_text}` is not one of informational, low, medium, high, critical"
                ),
            );
        }
        let controls = self.controls(o.get("controls"), &format!("{at}.controls"));
        let pattern = match o.get("pattern") {
            None => {
                self.problem(&at, "`pattern` is missing");
                None
            }
            Some(p @ Value::Object(_)) => self.pattern(&p.to_string(), &format!("{at}.pattern")),
            Some(Value::String(s)) => self.pattern(s, &format!("{at}.pattern")),
            Some(_) => {
                self.problem(
                    &format!("{at}.pattern"),
                    "must be an event pattern (a JSON object, or its text)",
                );
                None
            }
        };
        let tests = self.tests(o.get("tests"), &format!("{at}.tests"));
        if self.problems.len() > before {
            return None;
        }
        Some(Rule {
            id,
            title,
            severity: severity?,
            description,
            controls,
            pattern: pattern?,
            tests,
        })
    }

    fn pattern(&mut self, text: &str, at: &str) -> Option<Pattern> {
        match Pattern::compile(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(at, format!("{}: {}", e.code(), e.message()));
                None
            }
        }
    }

    fn controls(&mut self, value: Option<&Value>, at: &str) -> Vec<Control> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(list) = value.as_array() else {
            self.problem(at, "must be a list of {\"framework\", \"control\"}");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let at = format!("{at}[{i}]");
            match c.as_object() {
                Some(o) => {
                    self.unknown_keys(o, &["framework", "control"], &at);
                    let framework = self.text(o, "framework", &at);
                    let control = self.text(o, "control", &at);
                    out.push(Control { framework, control });
                }
                None => self.problem(&at, "must be {\"framework\", \"control\"}"),
            }
        }
        out
    }

    fn tests(&mut self, value: Option<&Value>, at: &str) -> Vec<TestEvent> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(list) = value.as_array() else {
            self.problem(at, "must be a list of test events");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let Some(o) = t.as_object() else {
                self.problem(&at, "a test must be {\"expect\", \"source\", \"event\"}");
                continue;
            };
            self.unknown_keys(o, &["expect", "source", "event"], &at);
            let expect_match = match o.get("expect").and_then(Value::as_str) {
                Some("match") => true,
                Some("no-match") => false,
                _ => {
                    self.problem(&at, "`expect` must be \"match\" or \"no-match\"");
                    continue;
                }
            };
            let source = match o.get("source") {
                None => String::new(),
                Some(_) => self.text(o, "source", &at),
            };
            let Some(event) = o.get("event").and_then(envelope::as_event) else {
                self.problem(
                    &at,
                    "`event` must be a CloudTrail record or an EventBridge event (a JSON object)",
                );
                continue;
            };
            out.push(TestEvent {
                expect_match,
                source,
                event,
            });
        }
        out
    }
}

/// Reads a pack from JSON text; on failure, every problem found.
pub fn parse(text: &str) -> Result<RulePack, Vec<PackProblem>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![PackProblem {
            at: String::new(),
            problem: format!("not valid JSON: {e}"),
        }]
    })?;
    let mut r = Reader {
        problems: Vec::new(),
    };
    let Some(o) = value.as_object() else {
        r.problem("", "a pack must be a JSON object");
        return Err(r.problems);
    };
    r.unknown_keys(
        o,
        &[
            "id",
            "title",
            "description",
            "version",
            "provenance",
            "rules",
        ],
        "",
    );
    let id = r.text(o, "id", "");
    let title = r.text(o, "title", "");
    let description = match o.get("description") {
        None => String::new(),
        Some(_) => r.text(o, "description", ""),
    };
    let mut rules = Vec::new();
    match o.get("rules").and_then(Value::as_array) {
        None => r.problem("", "`rules` must be a list of rules"),
        Some(list) if list.is_empty() => r.problem("rules", "the pack has no rules"),
        Some(list) => {
            let mut seen = HashSet::new();
            for (i, v) in list.iter().enumerate() {
                let at = format!("rules[{i}]");
                if let Some(rule) = r.rule(v, &at) {
                    if !seen.insert(rule.id.clone()) {
                        r.problem(&at, format!("rule id `{}` is used twice", rule.id));
                    }
                    rules.push(rule);
                }
            }
        }
    }
    if !r.problems.is_empty() {
        return Err(r.problems);
    }
    Ok(RulePack {
        id,
        title,
        description,
        rules,
    })
}

/// The shipped pack with this id.
pub fn builtin(id: &str) -> Option<Result<RulePack, Vec<PackProblem>>> {
    BUILTIN
        .iter()
        .find(|(name, _)| *name == id)
        .map(|(_, text)| parse(text))
}

impl RulePack {
    /// All the pack's rules in one machine; a match names the rule's index in `rules`.
    pub fn machine(&self) -> Machine<usize> {
        let mut b = MachineBuilder::new();
        for (i, r) in self.rules.iter().enumerate() {
            b.add(i, &r.pattern);
        }
        b.build()
    }

    /// Runs every rule's test events through the pack's machine; the tests that failed.
    pub fn check_tests(&self) -> Vec<TestFailure> {
        let machine = self.machine();
        let mut failures = Vec::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            for (ti, test) in rule.tests.iter().enumerate() {
                let failure = |error| TestFailure {
                    rule: rule.id.clone(),
                    test: ti,
                    source: test.source.clone(),
                    expected_match: test.expect_match,
                    error,
                };
                match machine.matches_value(&test.event) {
                    Ok(found) => {
                        if found.contains(&&ri) != test.expect_match {
                            failures.push(failure(None));
                        }
                    }
                    Err(e) => failures.push(failure(Some(e.to_string()))),
                }
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_where_they_are() {
        let text = r#"{"id":"p","title":"t","rules":[
            {"id":"a","title":"A","severity":"urgent","pattern":{"x":[]}},
            {"id":"a","title":"B","severity":"low","pattern":{"x":["1"]},"tests":[{"expect":"maybe","event":{}}]},
            {"id":"c","title":"C","severity":"low","patern":{"x":["1"]}}]}"#;
        let problems = parse(text).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.contains("rules[0] (a): severity `urgent`")),
            "{text:?}"
        );
        assert!(text.iter().any(|p| p.starts_with("rules[0] (a).pattern: InvalidEventPatternException: Event pattern is not valid. Reason: Empty arrays are not allowed")), "{text:?}");
        assert!(
            text.iter()
                .any(|p| p.contains("rules[1] (a).tests[0]: `expect`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains("unknown key `patern`")),
            "{text:?}"
        );
        assert!(parse("[1]").is_err());
        assert!(
            parse("not json").unwrap_err()[0]
                .problem
                .starts_with("not valid JSON")
        );
    }
}
