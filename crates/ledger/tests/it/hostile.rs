//! Hostile input to the ledger: statements and values built to exhaust the stack or memory get
//! a syntax or limit error with a position, never a crash, and change nothing. Everything runs
//! on a thread with a 2 MiB stack, the size of the threads servers run ledger work on.

use veritrail_core::ion_rs::Element;
use veritrail_ledger::LedgerOptions;
use veritrail_ledger::db::{Database, DatabaseOptions, DbError};
use veritrail_ledger::limits::{
    MAX_EXPRESSION_DEPTH, MAX_ION_DEPTH, MAX_LIST_ITEMS, MAX_STATEMENT_CHARS,
};

fn ion(text: &str) -> Element {
    Element::read_one(text).unwrap()
}

fn database(name: &str, strict_limits: bool) -> Database {
    let dir = crate::temp_dir(name);
    let ledger =
        crate::backend::create(&dir.join("h.ledger"), "h", LedgerOptions::default()).unwrap();
    let db = Database::new(
        ledger,
        DatabaseOptions {
            strict_limits,
            ..DatabaseOptions::default()
        },
    );
    db.execute("CREATE TABLE T", &[]).unwrap();
    db.execute("INSERT INTO T {'a': 1, 'l': [1, 2, 3]}", &[])
        .unwrap();
    db
}

/// Runs `f` on a thread with a 2 MiB stack.
fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

/// `[[[…1…]]]` nested `depth` deep, as Ion text.
fn nested_list(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A statement must fail with a syntax error at `position` whose message has `says`.
fn refused_at(db: &Database, statement: &str, position: usize, says: &str) {
    let before = db.ledger().digest().unwrap();
    match db.execute(statement, &[]) {
        Err(DbError::Syntax(e)) => {
            assert_eq!(e.position, position, "{e}");
            assert!(e.message.contains(says), "{e}");
        }
        other => panic!("{}…: {other:?}", &statement[..statement.len().min(60)]),
    }
    assert_eq!(db.ledger().digest().unwrap(), before);
}

#[test]
fn deep_and_huge_statements_get_a_syntax_error_with_the_position() {
    let db = database("hostile-statements", true);
    on_small_stack(|| {
        let prefix = "SELECT * FROM T WHERE ";
        let at = prefix.len();
        let depth = "nests deeper than";
        // A thousand nested parentheses: refused where the limit is crossed.
        let parens = format!("{prefix}{}a = 1{}", "(".repeat(1000), ")".repeat(1000));
        refused_at(&db, &parens, at + MAX_EXPRESSION_DEPTH, depth);
        // NOT NOT NOT …, - - - …, and a long chain of additions folded to the left.
        let nots = format!("{prefix}{}a = 1", "NOT ".repeat(20_000));
        refused_at(&db, &nots, at + 4 * MAX_EXPRESSION_DEPTH, depth);
        let minus = format!("{prefix}a = {}1", "- ".repeat(40_000));
        refused_at(&db, &minus, at + 4 + 2 * (MAX_EXPRESSION_DEPTH - 1), depth);
        let sum = format!("{prefix}a = 1{}", " + 1".repeat(20_000));
        let e = db.execute(&sum, &[]).unwrap_err();
        assert!(e.to_string().contains(depth), "{e}");
        // AND and OR are associative: ten thousand alternatives make a shallow tree.
        let ors = format!("{prefix}a = 0{}", " OR a = 1".repeat(10_000));
        assert_eq!(db.execute(&ors, &[]).unwrap().len(), 1);
        // Deeply nested literals: struct, list, bag, and an Ion literal in backticks.
        let structs = format!("{prefix}a = {}1{}", "{'x':".repeat(5000), "}".repeat(5000));
        let e = db.execute(&structs, &[]).unwrap_err();
        assert!(e.to_string().contains(depth), "{e}");
        let lists = format!("{prefix}a IN {}", nested_list(5000).replacen('[', "(", 1));
        let e = db.execute(&lists, &[]).unwrap_err();
        assert!(e.to_string().contains(depth), "{e}");
        let ion_literal = format!("{prefix}a = `{}`", nested_list(40_000));
        refused_at(
            &db,
            &ion_literal,
            at + 5 + MAX_ION_DEPTH,
            "Ion literal nests containers deeper than",
        );
        // Huge lists and paths.
        let in_list = format!("{prefix}a IN ({})", vec!["1"; MAX_LIST_ITEMS + 1].join(","));
        refused_at(
            &db,
            &in_list,
            at + 6 + 2 * MAX_LIST_ITEMS,
            "at most 1000 items",
        );
        let path = format!("{prefix}t{} = 1", ".a".repeat(20_000));
        let e = db.execute(&path, &[]).unwrap_err();
        assert!(e.to_string().contains("a path has at most"), "{e}");
        // A statement over QLDB's 100,000 characters.
        let long = format!("{prefix}a = '{}'", "x".repeat(MAX_STATEMENT_CHARS));
        refused_at(
            &db,
            &long,
            MAX_STATEMENT_CHARS,
            "longer than 100000 characters",
        );
        // At the limits themselves, everything still works.
        let deepest = format!(
            "{prefix}{}a = 1{}",
            "(".repeat(MAX_EXPRESSION_DEPTH - 3),
            ")".repeat(MAX_EXPRESSION_DEPTH - 3)
        );
        assert_eq!(db.execute(&deepest, &[]).unwrap().len(), 1);
        let deep_ion = format!(
            "SELECT * FROM T WHERE a = 1 AND `{}` IS NOT NULL",
            nested_list(MAX_ION_DEPTH)
        );
        assert_eq!(db.execute(&deep_ion, &[]).unwrap().len(), 1);
    });
}

#[test]
fn values_nested_too_deep_are_refused_before_they_are_hashed() {
    let db = database("hostile-values", true);
    on_small_stack(|| {
        let before = db.ledger().digest().unwrap();
        let too_deep = ion(&format!("{{d:{}}}", nested_list(MAX_ION_DEPTH)));
        let e = db.execute("INSERT INTO T ?", &[too_deep]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "limit exceeded: parameter 1 nests containers deeper than 128 levels"
        );
        // The deepest allowed document goes in, is hashed, read back and matched.
        let deepest = ion(&format!("{{d:{}}}", nested_list(MAX_ION_DEPTH - 1)));
        db.execute("INSERT INTO T ?", std::slice::from_ref(&deepest))
            .unwrap();
        let rows = db
            .execute(
                "SELECT * FROM T AS t WHERE t.d = ?",
                &[ion(&nested_list(127))],
            )
            .unwrap();
        assert_eq!(rows, [deepest]);
        // A document made deeper by an UPDATE is refused too.
        let e = db
            .execute(
                "UPDATE T AS t SET t.d = ? WHERE t.a IS MISSING",
                &[ion(&nested_list(MAX_ION_DEPTH))],
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("a document nests containers deeper"),
            "{e}"
        );
        assert_eq!(db.ledger().block_count(), before.tip + 2);
    });
}

#[test]
fn qldb_size_limits_hold_in_strict_mode() {
    let db = database("hostile-sizes", true);
    let big = |n: usize| ion(&format!("{{blob:\"{}\"}}", "x".repeat(n)));
    let e = db.execute("INSERT INTO T ?", &[big(140_000)]).unwrap_err();
    assert!(
        e.to_string()
            .contains("a document is at most 131072 bytes of Ion binary"),
        "{e}"
    );
    db.execute("INSERT INTO T ?", &[big(120_000)]).unwrap();
    // 4 MB per transaction: 35 documents of 120 KB are over it.
    let e = db
        .run(0, |tx| {
            for _ in 0..35 {
                tx.execute("INSERT INTO T ?", &[big(120_000)])?;
            }
            Ok(())
        })
        .unwrap_err();
    assert!(e.to_string().contains("at most 4194304 bytes"), "{e}");
    // Rewriting one document many times counts it once.
    db.run(0, |tx| {
        for _ in 0..50 {
            tx.execute(
                "UPDATE T AS t SET t.blob = ? WHERE t.a = 1",
                &[Element::string("x".repeat(100_000))],
            )?;
        }
        Ok(())
    })
    .unwrap();
    // Without strict limits a large document is accepted.
    let relaxed = database("hostile-sizes-relaxed", false);
    relaxed.execute("INSERT INTO T ?", &[big(300_000)]).unwrap();
}

#[test]
fn tables_cannot_take_the_names_qldb_reserves() {
    let db = database("hostile-names", true);
    let before = db.ledger().digest().unwrap();
    for (statement, says) in [
        ("CREATE TABLE history", "it names a system source"),
        ("CREATE TABLE History", "it names a system source"),
        (
            "CREATE TABLE information_schema",
            "it names a system source",
        ),
        (
            "CREATE TABLE _ql_committed_T",
            "the `_ql_` prefix belongs to system views",
        ),
        ("CREATE TABLE \"select\"", "it is a PartiQL reserved word"),
        ("CREATE TABLE \"Txid\"", "it is a PartiQL reserved word"),
        (
            "CREATE TABLE \"1abc\"",
            "use 1 to 128 letters, digits and underscores",
        ),
        (
            "CREATE TABLE \"a b\"",
            "use 1 to 128 letters, digits and underscores",
        ),
        ("CREATE TABLE \"\"", "use 1 to 128 letters"),
    ] {
        let e = db.execute(statement, &[]).unwrap_err();
        assert!(
            matches!(
                e,
                DbError::Invalid {
                    position: Some(13),
                    ..
                }
            ),
            "{statement}: {e}"
        );
        assert!(e.to_string().contains(says), "{statement}: {e}");
    }
    let long = format!("CREATE TABLE {}", "a".repeat(129));
    assert!(db.execute(&long, &[]).is_err());
    db.execute(&format!("CREATE TABLE {}", "a".repeat(128)), &[])
        .unwrap();
    db.execute("CREATE TABLE _under_score9", &[]).unwrap();
    assert_eq!(db.ledger().block_count(), before.tip + 3);
}
