//! `cargo xtask bench rules`: CloudTrail events matched against rule sets, on one core, printed as
//! JSON lines (`{"bench":"rules","metric":…,"value":…,"unit":…,"rules":…,"method":…}`).
//!
//! Events: the real records of `../shared/data/cloudtrail/invictus-aws-dataset` (about 2,900),
//! each wrapped as EventBridge delivers it ("AWS API Call via CloudTrail").
//! Rule sets: the shipped packs, and 100, 1,000 and 10,000 generated rules shaped like real
//! detection rules (source and event names, prefixes, wildcards, anything-but, CIDR blocks,
//! numeric ranges, `$or`).
//! Methods, measured in the same run:
//! - `machine`: all rules in one [`Machine`], events as parsed JSON values, each event once in
//!   turn over the whole dataset (so the events stream through the caches, as a backlog would);
//! - `machine_warm`: the same, each event matched 8 times in a row, every match counted: the rate
//!   when the event is already in cache (as right after it was parsed or built), reported beside
//!   `machine`, never instead of it;
//! - `machine_text`: all rules in one machine, events as JSON text (parsing included);
//! - `parse_machine`: events as JSON text parsed into values by `serde_json`, then matched as
//!   values (what a caller holding text pays without `machine_text`);
//! - `naive` (the baseline): every rule tried in turn, each compiled on its own.
//!
//! All methods must find the same matches; the run stops with an error if they do not.
//! `slowdown_10000_vs_100` compares the `machine` method at 10,000 and at 100 rules in nine
//! alternating rounds: the median ratio, with the lowest and highest beside it.
//! Rates are per core: events divided by this thread's CPU time (Linux `schedstat`), so other
//! work on a shared machine does not lower them.
//! Options: `--seconds S` (minimum CPU time per measurement, default 1), `--skip-naive`,
//! `--only LABEL` (one rule set: `shipped-packs`, `100`, `1000` or `10000`, e.g. to profile it),
//! `--method NAME` (with `--skip-naive`: only `machine`, `machine_warm`, `machine_text` or
//! `parse_machine`, to profile one of them).

/// The allocator the `veritrail` binary ships with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use veritrail_core::time::Stopwatch;

use serde_json::{Value, json};
use veritrail_rules::packs::{self, BUILTIN};
use veritrail_rules::{Machine, MachineBuilder, Pattern, RuleByRule, envelope};

/// Wall time of one call (for the one-off machine builds).
fn wall_seconds<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Stopwatch::start();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// CPU time this thread has run, from Linux's `/proc/thread-self/schedstat` (nanoseconds on a
/// core; other processes sharing the machine do not count), or `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// With [`wall_seconds`], the only places this bench reads a clock. Runs `pass` (which returns how many events it
/// matched) until at least `min_seconds` of this thread's CPU time have passed; returns events
/// and seconds. Throughput is per core: on a shared machine, wall time would count other
/// processes' turns. Without per-thread CPU time, wall time is used.
fn measure(min_seconds: f64, mut pass: impl FnMut() -> usize) -> (usize, f64) {
    let wall = Stopwatch::start();
    let cpu_start = thread_cpu_seconds();
    let elapsed = || match (cpu_start, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall.elapsed().as_secs_f64(),
    };
    let mut events = 0;
    loop {
        let spent = elapsed();
        if spent >= min_seconds && events > 0 {
            return (events, spent);
        }
        events += pass();
    }
}

fn emit(metric: &str, value: f64, unit: &str, rules: &str, method: &str) {
    println!(
        "{{\"bench\":\"rules\",\"metric\":\"{metric}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"rules\":\"{rules}\",\"method\":\"{method}\"}}"
    );
}

fn shared_dir() -> PathBuf {
    std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn events() -> Vec<Value> {
    let dir = shared_dir().join("data/cloudtrail/invictus-aws-dataset");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("a dataset file");
        let doc: Value = serde_json::from_str(&text).expect("dataset JSON");
        for r in doc["Records"].as_array().expect("Records") {
            out.push(envelope::as_event(r).expect("a record is an object"));
        }
    }
    out
}

/// Rules shaped like detection rules, spread over the services and operations of the dataset and
/// many more (so that most rules match nothing, as in a real deployment).
fn generated(n: usize, events: &[Value]) -> Vec<Pattern> {
    let mut names: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| {
            Some((
                e["source"].as_str()?.to_owned(),
                e["detail"]["eventName"].as_str()?.to_owned(),
            ))
        })
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // The first rules of each shape name operations of the dataset, the rest variants of them
        // (`DeleteTrailV7`): like a real deployment, each event matches a few rules whatever
        // their number.
        let (source, real) = &names[i % names.len()];
        let other = format!("{real}V{}", i / names.len());
        let name = if i < 10 * names.len() { real } else { &other };
        let p = match i % 10 {
            0..=3 => json!({"source": [source], "detail-type": ["AWS API Call via CloudTrail"],
                           "detail": {"eventName": [name, other]}}),
            4 => {
                json!({"source": [source], "detail": {"eventName": [{"prefix": format!("{}{i}", &real[..real.len().min(3)])}],
                        "userIdentity": {"type": ["IAMUser", "AssumedRole"]}}})
            }
            5 => json!({"detail": {"errorCode": [{"exists": true}], "eventName": [name],
                        "userIdentity": {"arn": [{"wildcard": format!("arn:aws:iam::*:user/user-{i}*")}]}}}),
            6 => {
                json!({"detail": {"sourceIPAddress": [{"cidr": format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)}],
                        "eventName": [name]}})
            }
            7 => json!({"source": [source], "detail": {"eventName": [other],
                        "requestParameters": {"durationSeconds": [{"numeric": [">", i % 3600, "<=", 43200]}]}}}),
            8 => json!({"source": [source], "detail": {"eventName": [name],
                        "userIdentity": {"userName": [{"anything-but": [format!("svc-{i}"), "terraform"]}]},
                        "awsRegion": [{"equals-ignore-case": "US-EAST-1"}]}}),
            _ => json!({"source": [source], "$or": [
                        {"detail": {"eventName": [other]}},
                        {"detail": {"errorCode": [format!("AccessDenied{i}")]}}]}),
        };
        out.push(Pattern::compile(&p.to_string()).expect("a generated rule compiles"));
    }
    out
}

fn machine(patterns: &[Pattern]) -> Machine<usize> {
    let mut b = MachineBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(i, p);
    }
    b.build()
}

/// Events per second of CPU time, matching `items` again and again with `one`.
fn rate<E>(seconds: f64, items: &[E], one: impl Fn(&E) -> usize) -> f64 {
    let (n, secs) = measure(seconds, || {
        let found: usize = items.iter().map(&one).sum();
        std::hint::black_box(found);
        items.len()
    });
    n as f64 / secs
}

fn machine_rate(m: &Machine<usize>, events: &[Value], seconds: f64) -> f64 {
    rate(seconds, events, |e| {
        m.matches_value(e).map_or(0, |r| r.len())
    })
}

/// Each event matched `WARM` times in a row; every match counts.
const WARM: usize = 8;

fn warm_rate(m: &Machine<usize>, events: &[Value], seconds: f64) -> f64 {
    let per_event = rate(seconds, events, |e| {
        (0..WARM)
            .map(|_| m.matches_value(e).map_or(0, |r| r.len()))
            .sum()
    });
    per_event * WARM as f64
}

fn text_rate(m: &Machine<usize>, texts: &[String], seconds: f64) -> f64 {
    rate(seconds, texts, |t| m.matches_json(t).map_or(0, |r| r.len()))
}

fn parse_rate(m: &Machine<usize>, texts: &[String], seconds: f64) -> f64 {
    rate(seconds, texts, |t| {
        serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|e| m.matches_value(&e).ok())
            .map_or(0, |r| r.len())
    })
}

fn run(
    label: &str,
    patterns: &[Pattern],
    events: &[Value],
    texts: &[String],
    seconds: f64,
    skip_naive: bool,
    method: Option<&String>,
) {
    let (m, secs) = wall_seconds(|| machine(patterns));
    emit("build_ms", secs * 1e3, "ms", label, "machine");
    if skip_naive {
        let wanted = |name: &str| method.is_none_or(|m| m == name);
        if wanted("machine") {
            let rate = machine_rate(&m, events, seconds);
            emit("events_per_second", rate, "events/s", label, "machine");
        }
        if wanted("machine_warm") {
            let rate = warm_rate(&m, events, seconds);
            emit("events_per_second", rate, "events/s", label, "machine_warm");
        }
        if wanted("machine_text") {
            let rate = text_rate(&m, texts, seconds);
            emit("events_per_second", rate, "events/s", label, "machine_text");
        }
        if wanted("parse_machine") {
            let rate = parse_rate(&m, texts, seconds);
            emit(
                "events_per_second",
                rate,
                "events/s",
                label,
                "parse_machine",
            );
        }
        return;
    }
    let naive = RuleByRule::new(patterns);

    // Same answers from every method, on every event.
    let mut total = 0usize;
    for (e, t) in events.iter().zip(texts) {
        let got: Vec<usize> = m
            .matches_value(e)
            .expect("event")
            .into_iter()
            .copied()
            .collect();
        assert_eq!(
            got,
            naive.matches_value(e).expect("event"),
            "machine and baseline disagree"
        );
        let from_text: Vec<usize> = m
            .matches_json(t)
            .expect("event text")
            .into_iter()
            .copied()
            .collect();
        assert_eq!(got, from_text, "values and text disagree");
        total += got.len();
    }
    emit("matches", total as f64, "matches", label, "machine");

    let machine_rate = machine_rate(&m, events, seconds);
    emit(
        "events_per_second",
        machine_rate,
        "events/s",
        label,
        "machine",
    );
    emit(
        "events_per_second",
        warm_rate(&m, events, seconds),
        "events/s",
        label,
        "machine_warm",
    );
    emit(
        "events_per_second",
        text_rate(&m, texts, seconds),
        "events/s",
        label,
        "machine_text",
    );
    emit(
        "events_per_second",
        parse_rate(&m, texts, seconds),
        "events/s",
        label,
        "parse_machine",
    );

    // The baseline can be slow: a pass is 64 events.
    let mut next = 0;
    let (n, secs) = measure(seconds, || {
        for _ in 0..64 {
            let e = &events[next % events.len()];
            next += 1;
            std::hint::black_box(naive.matches_value(e).map_or(0, |r| r.len()));
        }
        64
    });
    let naive_rate = n as f64 / secs;
    emit("events_per_second", naive_rate, "events/s", label, "naive");
    emit(
        "speedup",
        machine_rate / naive_rate,
        "x",
        label,
        "machine/naive",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let events = events();
    let texts: Vec<String> = events.iter().map(Value::to_string).collect();
    eprintln!(
        "bench rules: {} CloudTrail events, one thread",
        events.len()
    );

    let mut shipped = Vec::new();
    for (id, _) in BUILTIN {
        let pack = packs::builtin(id).expect("a shipped pack").expect("valid");
        shipped.extend(pack.rules.into_iter().map(|r| r.pattern));
    }
    let skip_naive = args.iter().any(|a| a == "--skip-naive");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let method = args
        .iter()
        .position(|a| a == "--method")
        .and_then(|i| args.get(i + 1));
    let wanted = |label: &str| only.is_none_or(|o| o == label);
    if wanted("shipped-packs") {
        run(
            "shipped-packs",
            &shipped,
            &events,
            &texts,
            seconds,
            skip_naive,
            method,
        );
    }
    let mut machines = Vec::new();
    for n in [100, 1_000, 10_000] {
        let label = n.to_string();
        if !wanted(&label) {
            continue;
        }
        let patterns = generated(n, &events);
        run(
            &label, &patterns, &events, &texts, seconds, skip_naive, method,
        );
        if method.is_none_or(|m| m == "machine") && n != 1_000 {
            machines.push(machine(&patterns));
        }
    }
    if let [small, large] = &machines[..] {
        slowdown(small, large, &events, seconds);
    }
}

/// Rounds of the 10,000-vs-100 comparison.
const ROUNDS: usize = 9;

/// The 10,000-rule machine against the 100-rule one, in alternating rounds of `seconds / 3`
/// each: the median of the rounds' ratios, so a slow spell of the machine (which lasts longer
/// than a round) lowers both sides of a ratio instead of one.
fn slowdown(small: &Machine<usize>, large: &Machine<usize>, events: &[Value], seconds: f64) {
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let each = seconds / 3.0;
            // Which one goes first alternates, so neither always runs on a warmer cache.
            if round % 2 == 0 {
                let s = machine_rate(small, events, each);
                s / machine_rate(large, events, each)
            } else {
                let l = machine_rate(large, events, each);
                machine_rate(small, events, each) / l
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    for (metric, value) in [
        ("slowdown_10000_vs_100", ratios[ROUNDS / 2]),
        ("slowdown_10000_vs_100_min", ratios[0]),
        ("slowdown_10000_vs_100_max", ratios[ROUNDS - 1]),
    ] {
        emit(metric, value, "x", "10000/100", "machine");
    }
}
