//! `veritrail rules …`: the built-in rule packs, which of their rules fire on a file of events, and
//! checking a user's own pack.
//!
//! Exit codes: `test` 0 when no rule fired, 1 when at least one did, 2 when the input could not be
//! read; `lint` 0 when the pack is valid and its test events pass, 1 when it has problems, 2 when
//! the file is not readable JSON.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use veritrail_rules::packs::{self, BUILTIN, RulePack};
use veritrail_rules::{MachineBuilder, envelope};

use crate::Outcome;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rule packs built into veritrail and their rules.
    List {
        /// Print one JSON object per rule.
        #[arg(long)]
        json: bool,
    },
    /// Show which rules fire on which events. Exit 0: none fired; 1: at least one fired; 2: the
    /// input could not be read.
    Test {
        /// Built-in pack ids or pack files [default: every built-in pack].
        #[arg(value_name = "PACK")]
        packs: Vec<String>,
        /// CloudTrail records (a log file {"Records":[…]}, gzipped or not, a JSON array, or one
        /// JSON object per line) or EventBridge events.
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// Print one JSON object per event that fired a rule, then a summary object.
        #[arg(long)]
        json: bool,
    },
    /// Check a rule pack: its fields, every pattern (refused as EventBridge refuses it), and that
    /// each rule fires on its "match" test events and on none of its "no-match" ones.
    Lint {
        /// The pack (JSON).
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: RulesCommand) -> Outcome {
    match cmd {
        RulesCommand::List { json } => list(json),
        RulesCommand::Test {
            packs,
            events,
            json,
        } => match test(&packs, &events, json) {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("error: {e:#}");
                Outcome::BadInput
            }
        },
        RulesCommand::Lint { file, json } => lint(&file, json),
    }
}

fn builtin_packs() -> anyhow::Result<Vec<RulePack>> {
    BUILTIN.iter().map(|(id, _)| load_pack(id)).collect()
}

/// A built-in pack by id, or a pack file.
fn load_pack(spec: &str) -> anyhow::Result<RulePack> {
    if let Some(parsed) = packs::builtin(spec) {
        return parsed.map_err(|p| anyhow::anyhow!("built-in pack {spec}: {}", joined(&p)));
    }
    let path = Path::new(spec);
    if !path.is_file() {
        let known: Vec<&str> = BUILTIN.iter().map(|(id, _)| *id).collect();
        bail!(
            "`{spec}` is neither a built-in pack ({}) nor a file",
            known.join(", ")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {spec}"))?;
    packs::parse(&text).map_err(|p| {
        anyhow::anyhow!(
            "{spec} is not a valid pack (see `veritrail rules lint {spec}`): {}",
            joined(&p)
        )
    })
}

fn joined(problems: &[packs::PackProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn list(json_out: bool) -> Outcome {
    let packs = match builtin_packs() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Outcome::BadInput;
        }
    };
    for pack in &packs {
        if !json_out {
            println!("{} — {} ({} rules)", pack.id, pack.title, pack.rules.len());
        }
        for r in &pack.rules {
            if json_out {
                println!("{}", rule_json(pack, r));
            } else {
                let controls: Vec<String> = r
                    .controls
                    .iter()
                    .map(|c| format!("{} {}", c.framework, c.control))
                    .collect();
                println!(
                    "  {} [{}] {} ({})",
                    r.id,
                    r.severity,
                    r.title,
                    controls.join("; ")
                );
            }
        }
    }
    Outcome::Verified
}

fn rule_json(pack: &RulePack, r: &packs::Rule) -> Value {
    json!({
        "pack": pack.id,
        "rule": r.id,
        "title": r.title,
        "severity": r.severity.as_str(),
        "controls": r.controls.iter().map(|c| json!({"framework": c.framework, "control": c.control})).collect::<Vec<_>>(),
    })
}

/// Reads an events file: JSON (gzipped or not), or JSON lines; the events as rules see them.
fn read_events(path: &Path) -> anyhow::Result<Vec<Value>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{}: not a readable gzip file", path.display()))?;
        out
    } else {
        raw
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
    let items: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut o)) => match o.remove("Records") {
            Some(Value::Array(records)) => records,
            Some(_) => bail!("{}: `Records` is not a list", path.display()),
            None => vec![Value::Object(o)],
        },
        Ok(Value::Array(items)) => items,
        Ok(_) => bail!(
            "{}: expected CloudTrail records or EventBridge events",
            path.display()
        ),
        Err(whole) => {
            let mut items = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    if i == 0 {
                        anyhow::anyhow!("{}: not JSON: {whole}", path.display())
                    } else {
                        anyhow::anyhow!("{}: line {}: not JSON: {e}", path.display(), i + 1)
                    }
                })?;
                items.push(v);
            }
            items
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            envelope::as_event(v).ok_or_else(|| {
                anyhow::anyhow!("{}: event {i} is not a JSON object", path.display())
            })
        })
        .collect()
}

fn test(specs: &[String], events_file: &Path, json_out: bool) -> anyhow::Result<Outcome> {
    let packs = if specs.is_empty() {
        builtin_packs()?
    } else {
        specs
            .iter()
            .map(|s| load_pack(s))
            .collect::<anyhow::Result<_>>()?
    };
    let events = read_events(events_file)?;
    let mut b = MachineBuilder::new();
    for (pi, pack) in packs.iter().enumerate() {
        for (ri, rule) in pack.rules.iter().enumerate() {
            b.add((pi, ri), &rule.pattern);
        }
    }
    let machine = b.build();
    let (mut fired_events, mut matches, mut unreadable) = (0usize, 0usize, 0usize);
    for (i, event) in events.iter().enumerate() {
        let found = match machine.matches_value(event) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: event {i}: {e}");
                unreadable += 1;
                continue;
            }
        };
        if found.is_empty() {
            continue;
        }
        fired_events += 1;
        matches += found.len();
        let detail = &event["detail"];
        let field = |k: &str| detail[k].as_str().unwrap_or("-").to_owned();
        if json_out {
            let rules: Vec<Value> = found
                .iter()
                .map(|&&(p, r)| rule_json(&packs[p], &packs[p].rules[r]))
                .collect();
            println!(
                "{}",
                json!({"event": i, "eventID": detail["eventID"], "eventName": detail["eventName"],
                       "eventTime": detail["eventTime"], "rules": rules})
            );
        } else {
            let who = detail["userIdentity"]["arn"]
                .as_str()
                .or_else(|| detail["userIdentity"]["type"].as_str())
                .unwrap_or("-");
            let rules: Vec<String> = found
                .iter()
                .map(|&&(p, r)| {
                    let rule = &packs[p].rules[r];
                    format!("{}/{} [{}]", packs[p].id, rule.id, rule.severity)
                })
                .collect();
            println!(
                "event {i} {} {} by {who} ({}): {}",
                field("eventTime"),
                field("eventName"),
                field("eventID"),
                rules.join(", ")
            );
        }
    }
    let rule_count: usize = packs.iter().map(|p| p.rules.len()).sum();
    if json_out {
        println!(
            "{}",
            json!({"summary": {"events": events.len(), "eventsMatched": fired_events, "matches": matches,
                               "rules": rule_count, "unreadable": unreadable}})
        );
    } else {
        println!(
            "{} events, {} rules: {fired_events} events fired {matches} rule matches{}",
            events.len(),
            rule_count,
            if unreadable > 0 {
                format!(", {unreadable} events could not be matched")
            } else {
                String::new()
            }
        );
    }
    Ok(if unreadable > 0 {
        Outcome::BadInput
    } else if fired_events > 0 {
        Outcome::Failed
    } else {
        Outcome::Verified
    })
}

fn lint(file: &Path, json_out: bool) -> Outcome {
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: reading {name}: {e}");
            return Outcome::BadInput;
        }
    };
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        if json_out {
            println!(
                "{}",
                json!({"file": name, "valid": false, "error": format!("not valid JSON: {e}")})
            );
        } else {
            eprintln!("error: {name}: not valid JSON: {e}");
        }
        return Outcome::BadInput;
    }
    let (pack, problems) = match packs::parse(&text) {
        Ok(p) => (Some(p), Vec::new()),
        Err(p) => (None, p),
    };
    let failures = pack.as_ref().map(RulePack::check_tests).unwrap_or_default();
    let valid = problems.is_empty() && failures.is_empty();
    let tests: usize = pack
        .as_ref()
        .map_or(0, |p| p.rules.iter().map(|r| r.tests.len()).sum());
    if json_out {
        println!(
            "{}",
            json!({
                "file": name,
                "valid": valid,
                "pack": pack.as_ref().map(|p| p.id.clone()),
                "rules": pack.as_ref().map_or(0, |p| p.rules.len()),
                "tests": tests,
                "problems": problems.iter().map(|p| json!({"at": p.at, "problem": p.problem})).collect::<Vec<_>>(),
                "testFailures": failures.iter().map(|f| json!({"rule": f.rule, "test": f.test, "source": f.source,
                    "expected": if f.expected_match { "match" } else { "no-match" }, "error": f.error})).collect::<Vec<_>>(),
            })
        );
    } else {
        for p in &problems {
            eprintln!("{name}: {p}");
        }
        for f in &failures {
            eprintln!("{name}: {f}");
        }
        if let (Some(p), true) = (&pack, valid) {
            println!(
                "OK {name}: pack {} ({} rules, {tests} test events pass)",
                p.id,
                p.rules.len()
            );
        } else {
            eprintln!(
                "FAILED {name}: {} problems, {} failing test events",
                problems.len(),
                failures.len()
            );
        }
    }
    if valid {
        Outcome::Verified
    } else {
        Outcome::Failed
    }
}
