//! Property tests of the PartiQL parser and evaluator: generated statements, mutated real
//! statements and arbitrary text are parsed and, when they parse, run in a transaction over
//! sample data. Whatever the input, the answer is rows or an error, never a panic, and a
//! syntax error points inside the statement.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use veritrail_core::ion_rs::Element;
use veritrail_ledger::LedgerOptions;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::partiql::parse;

/// Statements of the spec, the seeds of the mutations.
const SEEDS: &[&str] = &[
    "SELECT * FROM Person AS p WHERE p.GovId = ?",
    "SELECT VALUE f FROM T WHERE f IN (?, ?)",
    "SELECT id FROM Person AS t BY id WHERE t.GovId = ?",
    "SELECT Vehicle FROM Vehicle INNER JOIN VehicleRegistration AS r ON Vehicle.VIN = r.VIN WHERE r.Owners.PrimaryOwner.PersonId = ?",
    "SELECT COUNT(*) FROM T",
    "UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = ?",
    "DELETE FROM DriversLicense AS d WHERE d.LicenseNumber = ?",
    "FROM VehicleRegistration AS v WHERE v.VIN = ? INSERT INTO v.Owners.SecondaryOwners VALUE ?",
    "SELECT * FROM _ql_committed_VehicleRegistration WHERE data.VIN = ?",
    "SELECT data.Owners.PrimaryOwner, metadata.version FROM history(VehicleRegistration, `2019-06-05T20:53:00Z`, `2019-06-05T21:00:00Z`) AS h WHERE h.metadata.id = ?",
    "SELECT VALUE name FROM information_schema.user_tables WHERE status = 'ACTIVE'",
    "INSERT INTO Person VALUE {'FirstName' : 'Raul', 'DOB' : `1963-08-19T`, 'l': [1, 2.5, `{a:(b c)}`]}",
    "SELECT * FROM T WHERE a <> 1 AND b < 2 OR NOT c >= 3 AND d BETWEEN 1 AND 5 AND e LIKE 'x%' AND f IS NOT MISSING",
    "SELECT t.l[*], t.s.*, upper(t.name) || '!' AS shout FROM T AS t WHERE -t.n * 2 % 3 / 1 + 1 - 2 = 0",
];

/// Sample data the statements run over: tables named like the seeds' and the generator's.
fn sample_db() -> Database {
    let dir = crate::temp_dir("partiql-props");
    let ledger =
        crate::backend::create(&dir.join("p.ledger"), "p", LedgerOptions::default()).unwrap();
    let db = Database::new(ledger, DatabaseOptions::default());
    db.run(0, |tx| {
        for t in [
            "T",
            "Person",
            "Vehicle",
            "VehicleRegistration",
            "DriversLicense",
        ] {
            tx.execute(&format!("CREATE TABLE {t}"), &[])?;
        }
        tx.execute("CREATE INDEX ON T (a)", &[])?;
        tx.execute("CREATE INDEX ON Person (GovId)", &[])?;
        Ok(())
    })
    .unwrap();
    for doc in [
        "{a:1, b:2.5, c:null, e:\"xyz\", f:true, n:3, name:\"ann\", l:[1, [2, {x:3}], \"s\"], s:{p:1, q:[]}}",
        "{a:\"1\", b:-2e0, n:-7, l:[], s:{}}",
        "{GovId:\"G1\", FirstName:\"Raul\", DOB:1963-08-19T}",
        "{VIN:\"V1\", Owners:{PrimaryOwner:{PersonId:\"P1\"}, SecondaryOwners:[]}}",
    ] {
        let table = if doc.contains("GovId") {
            "Person"
        } else if doc.contains("VIN") {
            "VehicleRegistration"
        } else {
            "T"
        };
        db.execute(
            &format!("INSERT INTO {table} ?"),
            &[Element::read_one(doc).unwrap()],
        )
        .unwrap();
    }
    db
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("T".to_owned()),
        Just("Person".to_owned()),
        Just("t".to_owned()),
        Just("a".to_owned()),
        Just("\"a\"".to_owned()),
        Just("history".to_owned()),
        Just("_ql_committed_T".to_owned()),
        "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
    ]
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1.5".to_owned()),
        Just("1e308".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("?".to_owned()),
        Just("NULL".to_owned()),
        Just("MISSING".to_owned()),
        Just("TRUE".to_owned()),
        "'[a-z%_']{0,5}'",
        Just("`{a:[1,2], b:2019-01-01T}`".to_owned()),
        Just("`(x y z)`".to_owned()),
        Just("`{{aGVsbG8=}}`".to_owned()),
        Just("`-inf`".to_owned()),
    ]
}

/// Expressions built from the grammar, nested a few levels.
fn expression() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        literal(),
        name(),
        (name(), name()).prop_map(|(a, b)| format!("{a}.{b}")),
        (name(), 0..4i64).prop_map(|(a, i)| format!("{a}.l[{i}]")),
        name().prop_map(|a| format!("{a}.l[*]")),
        name().prop_map(|a| format!("{a}.s.*")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let op = prop_oneof![
            Just("="),
            Just("<>"),
            Just("<"),
            Just(">="),
            Just("AND"),
            Just("OR"),
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("||"),
            Just("LIKE"),
            Just("NOT LIKE"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("{a} IS NOT NULL")),
            inner.clone().prop_map(|a| format!("{a} IS MISSING")),
            (inner.clone(), prop::collection::vec(inner.clone(), 1..4))
                .prop_map(|(a, l)| format!("{a} IN ({})", l.join(", "))),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|l| format!("[{}]", l.join(", "))),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|l| format!("<<{}>>", l.join(", "))),
            (name(), inner.clone()).prop_map(|(k, v)| format!("{{'{k}': {v}}}")),
            (
                prop_oneof![
                    Just("upper"),
                    Just("lower"),
                    Just("char_length"),
                    Just("coalesce"),
                    Just("exists"),
                    Just("nosuch")
                ],
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(f, l)| format!("{f}({})", l.join(", "))),
        ]
    })
    .boxed()
}

fn filter() -> BoxedStrategy<String> {
    proptest::option::of(expression())
        .prop_map(|f| f.map_or_else(String::new, |f| format!(" WHERE {f}")))
        .boxed()
}

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        name().prop_map(|t| format!("{t} AS t")),
        name().prop_map(|t| format!("{t} AS t BY id")),
        name().prop_map(|t| format!("_ql_committed_{t}")),
        name().prop_map(|t| format!("history({t}) AS h")),
        Just("history(T, `2000-01-01T`, `2100-01-01T`)".to_owned()),
        Just("information_schema.user_tables".to_owned()),
    ]
}

/// Whole statements from the grammar.
fn statement() -> BoxedStrategy<String> {
    let projection = prop_oneof![
        Just("*".to_owned()),
        Just("COUNT(*)".to_owned()),
        expression().prop_map(|e| format!("VALUE {e}")),
        (expression(), name()).prop_map(|(e, a)| format!("{e} AS {a}, t.*")),
    ];
    prop_oneof![
        (
            projection,
            source(),
            proptest::option::of(source()),
            filter()
        )
            .prop_map(|(p, s, j, f)| match j {
                Some(j) => format!("SELECT {p} FROM {s}, {j}{f}"),
                None => format!("SELECT {p} FROM {s}{f}"),
            }),
        (name(), expression(), expression(), filter())
            .prop_map(|(t, a, b, f)| format!("UPDATE {t} AS t SET t.{a} = {b}{f}")),
        (name(), filter()).prop_map(|(t, f)| format!("DELETE FROM {t} AS t{f}")),
        (name(), filter(), expression())
            .prop_map(|(t, f, v)| format!("FROM {t} AS t{f} INSERT INTO t.l VALUE {v}")),
        (name(), filter()).prop_map(|(t, f)| format!("FROM {t} AS t{f} REMOVE t.s")),
        (name(), expression()).prop_map(|(t, v)| format!("INSERT INTO {t} VALUE {v}")),
        name().prop_map(|t| format!("CREATE TABLE {t}")),
        (name(), name()).prop_map(|(t, f)| format!("CREATE INDEX ON {t} ({f})")),
        name().prop_map(|t| format!("DROP TABLE {t}")),
    ]
    .boxed()
}

/// A seed statement with a few random edits: deletions, insertions and duplications.
fn mutated() -> BoxedStrategy<String> {
    let edit = (
        0..3u8,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        "[ -~]{0,4}",
    );
    (
        prop::sample::select(SEEDS),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (kind, at, len, text) in edits {
                let at = at.index(chars.len() + 1);
                match kind {
                    0 => {
                        let end = (at + len.index(8)).min(chars.len());
                        chars.drain(at..end);
                    }
                    1 => {
                        chars.splice(at..at, text.chars());
                    }
                    _ => {
                        let end = (at + len.index(16)).min(chars.len());
                        let copy: Vec<char> = chars[at..end].to_vec();
                        chars.splice(at..at, copy);
                    }
                }
            }
            chars.into_iter().collect()
        })
        .boxed()
}

fn arbitrary() -> BoxedStrategy<String> {
    any::<String>().boxed()
}

/// Small Ion parameters of every kind.
fn parameter() -> impl Strategy<Value = Element> {
    prop_oneof![
        Just("1"),
        Just("\"G1\""),
        Just("null"),
        Just("{a:1, l:[1,2]}"),
        Just("[1, \"x\", {y:null}]"),
        Just("2019-06-05T20:53:00Z"),
        Just("{{aGVsbG8=}}"),
        Just("nan"),
    ]
    .prop_map(|t| Element::read_one(t).unwrap())
}

/// How many inputs parsed, and how many of those ran without an error.
#[derive(Debug, Default)]
struct Tally {
    parsed: std::sync::atomic::AtomicU32,
    ran: std::sync::atomic::AtomicU32,
}

/// Parses and runs each input on a thread with a 2 MiB stack (the generator itself, deeply
/// generic, runs on a larger one) and checks that nothing panicked.
fn never_panics(cases: u32, inputs: fn() -> BoxedStrategy<String>) -> Tally {
    use std::sync::atomic::Ordering::Relaxed;
    let db = sample_db();
    let tally = Tally::default();
    let check = |text: &str, params: &[Element]| -> Result<(), String> {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn_scoped(s, || match parse(text) {
                    Err(e) if e.position > text.len() => Err(format!("{e} in {text:?}")),
                    Err(_) => Ok(()),
                    Ok(_) => {
                        tally.parsed.fetch_add(1, Relaxed);
                        let mut tx = db.begin();
                        if tx.execute(text, params).is_ok() {
                            tally.ran.fetch_add(1, Relaxed);
                        }
                        tx.abort();
                        Ok(())
                    }
                })
                .map_err(|e| e.to_string())?
                .join()
                .map_err(|_| format!("panicked on {text:?}"))?
        })
    };
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || {
                // A fixed seed: every run tries the same inputs, so a failure reproduces.
                let mut runner = TestRunner::new_with_rng(
                    Config {
                        cases,
                        failure_persistence: None,
                        ..Config::default()
                    },
                    TestRng::deterministic_rng(RngAlgorithm::ChaCha),
                );
                let params = prop::collection::vec(parameter(), 0..4);
                runner
                    .run(&(inputs(), params), |(text, params)| {
                        check(&text, &params).map_err(TestCaseError::fail)
                    })
                    .unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
    });
    tally
}

#[test]
fn generated_statements_run_or_fail_cleanly() {
    let tally = never_panics(1500, statement);
    // The grammar is the parser's: most inputs parse, and many run to rows.
    let (parsed, ran) = (tally.parsed.into_inner(), tally.ran.into_inner());
    assert!(parsed > 1000 && ran > 250, "{parsed} parsed, {ran} ran");
}

#[test]
fn mutated_statements_run_or_fail_cleanly() {
    let tally = never_panics(1500, mutated);
    assert!(tally.parsed.into_inner() > 150);
}

#[test]
fn arbitrary_text_fails_cleanly() {
    never_panics(1000, arbitrary);
}
