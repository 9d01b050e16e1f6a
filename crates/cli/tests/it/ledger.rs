//! `veritrail ledger …` end to end: create, append real CloudTrail records, read digests,
//! blocks and revisions as the AWS CLI prints them, and check them with `veritrail verify`.

use crate::{cloudtrail_file, s, scratch, text, veritrail};

pub const LOG: &str = "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json";
pub const LOG2: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_zs3JGxETHr59VpkX.json";

/// A fresh scratch directory `test` with ledger `name` created in it.
fn created(test: &str, name: &str) -> std::path::PathBuf {
    let dir = scratch(test);
    let out = veritrail(&["ledger", "create", name, "--data-dir", s(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir
}

/// Creates ledger `bank` in `dir`, appends two log files in batches of 7, signs a checkpoint.
pub fn populated(dir: &std::path::Path) {
    let d = s(dir);
    let out = veritrail(&["ledger", "create", "bank", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for log in [LOG, LOG2] {
        let out = veritrail(&[
            "ledger",
            "append",
            "bank",
            "--data-dir",
            d,
            "--file",
            s(&cloudtrail_file(log)),
            "--batch",
            "7",
            "--quiet",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = veritrail(&["ledger", "checkpoint", "bank", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_ledger_round_trip_verifies_with_the_independent_verifier() {
    let dir = scratch("ledger-roundtrip");
    populated(&dir);
    let d = s(&dir);
    let out = veritrail(&["ledger", "verify", "bank", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the signed checkpoint at"),
        "{}",
        text(&out.stdout)
    );

    let digest = dir.join("digest.json");
    let out = veritrail(&["ledger", "digest", "bank", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&digest, &out.stdout).unwrap();

    let out = veritrail(&["ledger", "block", "bank", "--data-dir", d, "--seq", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let block_file = dir.join("block.json");
    std::fs::write(&block_file, &out.stdout).unwrap();
    let out = veritrail(&[
        "verify",
        "block",
        "--digest",
        s(&digest),
        "--block",
        s(&block_file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("(7 revisions"),
        "{}",
        text(&out.stdout)
    );

    // A revision, found through the block's own JSON, verifies too.
    let block: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&block_file).unwrap()).unwrap();
    let ion =
        veritrail_core::ion_rs::Element::read_one(block["Block"]["IonText"].as_str().unwrap())
            .unwrap();
    let revisions = ion
        .as_struct()
        .unwrap()
        .get("revisions")
        .unwrap()
        .as_list()
        .unwrap();
    let metadata = revisions
        .get(0)
        .unwrap()
        .as_struct()
        .unwrap()
        .get("metadata")
        .unwrap();
    let id = metadata
        .as_struct()
        .unwrap()
        .get("id")
        .unwrap()
        .as_text()
        .unwrap()
        .to_owned();
    let id = id.as_str();
    let out = veritrail(&[
        "ledger",
        "revision",
        "bank",
        "--data-dir",
        d,
        "--seq",
        "3",
        "--document-id",
        id,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rev_file = dir.join("revision.json");
    std::fs::write(&rev_file, &out.stdout).unwrap();
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&digest),
        "--revision",
        s(&rev_file),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["documentId"], id);
    assert_eq!(v["version"], 0);

    // The stored document is the CloudTrail record.
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&rev_file).unwrap()).unwrap();
    assert!(
        r["Revision"]["IonText"]
            .as_str()
            .unwrap()
            .contains("eventSource")
    );

    // Consistency between an old and the current digest.
    let out = veritrail(&[
        "ledger",
        "consistency",
        "bank",
        "--data-dir",
        d,
        "--from",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(c["Proof"]["IonText"].as_str().unwrap().starts_with("[{{"));
    let file = dir.join("consistency.json");
    std::fs::write(&file, c.to_string()).unwrap();
    let out = veritrail(&["verify", "consistency", "--file", s(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the first 3 blocks are unchanged"),
        "{}",
        text(&out.stdout)
    );
    // A forged older digest does not pass.
    let old = c["OldDigest"].as_str().unwrap();
    let forged = c
        .to_string()
        .replace(old, &veritrail_core::Hash32::sha256(b"forged").to_base64());
    std::fs::write(&file, forged).unwrap();
    let out = veritrail(&["verify", "consistency", "--file", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("consistency"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn appends_acknowledge_each_transaction() {
    let dir = created("ledger-acks", "acks");
    let d = s(&dir);
    let out = veritrail(&[
        "ledger",
        "append",
        "acks",
        "--data-dir",
        d,
        "--file",
        s(&cloudtrail_file(LOG)),
        "--batch",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let acks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("committed block "))
        .collect();
    assert_eq!(acks.len(), 3, "{stdout}");
    assert!(acks[0].starts_with("committed block 1 tx "));
    assert!(stdout.contains("appended 29 records in 3 transactions"));
}

fn append_json(d: &str, name: &str, log: &str) -> serde_json::Value {
    let out = veritrail(&[
        "ledger",
        "append",
        name,
        "--data-dir",
        d,
        "--json",
        "--quiet",
        "--file",
        s(&cloudtrail_file(log)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).unwrap()
}

fn query_lines(d: &str, name: &str, statement: &str) -> Vec<String> {
    let out = veritrail(&[
        "ledger",
        "query",
        name,
        "--data-dir",
        d,
        "--json",
        statement,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{statement}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn appending_the_same_file_twice_stores_each_record_once() {
    let dir = created("ledger-idempotent", "idem");
    let d = s(&dir);
    let first = append_json(d, "idem", LOG);
    assert_eq!(
        (&first["records"], &first["appended"], &first["duplicates"]),
        (&29.into(), &29.into(), &0.into())
    );
    let again = append_json(d, "idem", LOG);
    assert_eq!(
        (
            &again["appended"],
            &again["duplicates"],
            &again["transactions"]
        ),
        (&0.into(), &29.into(), &0.into())
    );
    assert_eq!(
        again["tip"], first["tip"],
        "a repeated append writes no block"
    );
    let out = veritrail(&[
        "ledger",
        "append",
        "idem",
        "--data-dir",
        d,
        "--quiet",
        "--file",
        s(&cloudtrail_file(LOG)),
        "--file",
        s(&cloudtrail_file(LOG2)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("skipped 29 duplicates"), "{stdout}");
    let ids = query_lines(d, "idem", "SELECT VALUE r.eventID FROM AuditRecords AS r");
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a record is stored twice");
    assert_eq!(
        veritrail(&["ledger", "verify", "idem", "--data-dir", d])
            .status
            .code(),
        Some(0)
    );
}

/// The bug of issue 11: records appended after `CREATE INDEX ON AuditRecords (eventName)`
/// were missing from the index, so an indexed lookup found half of what a scan found.
#[test]
fn an_index_created_between_appends_finds_every_record() {
    let dir = created("ledger-index", "idx");
    let d = s(&dir);
    append_json(d, "idx", LOG);
    assert_eq!(
        query_lines(d, "idx", "CREATE INDEX ON AuditRecords (eventName)").len(),
        1
    );
    append_json(d, "idx", LOG2);
    let mut names = query_lines(d, "idx", "SELECT VALUE r.eventName FROM AuditRecords AS r");
    names.sort();
    names.dedup();
    assert!(names.len() > 5, "{names:?}");
    let mut both = 0;
    for name in &names {
        let param = name.as_str();
        let lookup = |statement: &str| {
            let out = veritrail(&[
                "ledger",
                "query",
                "idx",
                "--data-dir",
                d,
                statement,
                "--param",
                param,
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_owned()
        };
        // An equality on the indexed field uses the index; `|| ''` forces a full scan.
        let indexed = lookup("SELECT COUNT(*) FROM AuditRecords AS r WHERE r.eventName = ?");
        let scanned = lookup("SELECT COUNT(*) FROM AuditRecords AS r WHERE r.eventName || '' = ?");
        assert_eq!(indexed, scanned, "{name}");
        both += usize::from(indexed != "{_1: 1}");
    }
    assert!(both > 0, "no event name appears more than once");
    // The table declares both indexes: eventID (the appends' key) and eventName.
    let indexes = query_lines(
        d,
        "idx",
        "SELECT VALUE t.indexes FROM information_schema.user_tables AS t WHERE t.name = 'AuditRecords'",
    );
    assert_eq!(indexes.len(), 1);
    assert!(
        indexes[0].contains("[eventID]") && indexes[0].contains("[eventName]"),
        "{indexes:?}"
    );
}

#[test]
fn bad_requests_exit_2_and_name_the_problem() {
    let dir = created("ledger-bad", "bank");
    let d = s(&dir);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ledger", "digest", "missing", "--data-dir", d],
            "no ledger at",
        ),
        (
            &["ledger", "block", "bank", "--data-dir", d, "--seq", "5"],
            "block 5 does not exist: the last block is 0",
        ),
        (
            &["ledger", "digest", "bank", "--data-dir", d, "--tip", "3"],
            "digest tip 3 does not exist",
        ),
        (
            &[
                "ledger",
                "revision",
                "bank",
                "--data-dir",
                d,
                "--seq",
                "0",
                "--document-id",
                "AAAAAAAAAAAAAAAAAAAAAA",
            ],
            "has no revision in block 0",
        ),
        (
            &["ledger", "create", "bank", "--data-dir", d],
            "already exists",
        ),
        (
            &["ledger", "create", "bad--name", "--data-dir", d],
            "invalid ledger name",
        ),
    ];
    for (args, message) in cases {
        let out = veritrail(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"eventID\":\"x\"}\n").unwrap();
    let out = veritrail(&[
        "ledger",
        "append",
        "bank",
        "--data-dir",
        d,
        "--file",
        s(&junk),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("field `eventSource`: missing"),
        "{}",
        text(&out.stderr)
    );
    // A tip before the block.
    let out = veritrail(&[
        "ledger",
        "append",
        "bank",
        "--data-dir",
        d,
        "--file",
        s(&cloudtrail_file(LOG)),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = veritrail(&[
        "ledger",
        "block",
        "bank",
        "--data-dir",
        d,
        "--seq",
        "1",
        "--tip",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("digest tip 0 comes before block 1"));
}

#[test]
fn appended_records_are_queryable_with_partiql() {
    let dir = created("ledger-query", "q");
    let d = s(&dir);
    let out = veritrail(&[
        "ledger",
        "append",
        "q",
        "--data-dir",
        d,
        "--file",
        s(&cloudtrail_file(LOG)),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "SELECT COUNT(*) FROM AuditRecords",
    ]);
    assert_eq!(text(&out.stdout).trim(), "{_1: 29}");
    // The eventID index answers a point lookup; --json prints JSON lines.
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "--json",
        "SELECT r.eventName FROM AuditRecords AS r WHERE r.eventID = ?",
        "--param",
        "\"293ba626-3be5-4a26-ab1b-0f4c54f49959\"",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"eventName":"GetStorageLensConfiguration"}"#
    );
    // Writes go through the journal and verify.
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "CREATE TABLE Notes",
        "INSERT INTO Notes ?",
        "--param",
        "{text:\"reviewed\"}",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "SELECT VALUE n.text FROM Notes AS n",
    ]);
    assert_eq!(text(&out.stdout).trim(), "\"reviewed\"");
    assert_eq!(
        veritrail(&["ledger", "verify", "q", "--data-dir", d])
            .status
            .code(),
        Some(0)
    );
    // A bad statement names the position and exits 2.
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "SELECT * FROM Nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("at position 14: no such table `Nope`"),
        "{}",
        text(&out.stderr)
    );
    let out = veritrail(&[
        "ledger",
        "query",
        "q",
        "--data-dir",
        d,
        "SELECT * FROM Notes",
        "--param",
        "{oops",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn export_and_verified_import() {
    let dir = scratch("ledger-export");
    populated(&dir);
    let d = s(&dir);
    let out = veritrail(&["ledger", "digest", "bank", "--data-dir", d]);
    let digest = dir.join("digest.json");
    std::fs::write(&digest, &out.stdout).unwrap();
    let export = dir.join("export");
    let out = veritrail(&[
        "ledger",
        "export",
        "bank",
        "--data-dir",
        d,
        "--out",
        s(&export),
        "--prefix",
        "j/",
        "--format",
        "ion_binary",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("exported "),
        "{}",
        text(&out.stdout)
    );

    let copy = dir.join("copy");
    let out = veritrail(&[
        "ledger",
        "import",
        "copy",
        "--data-dir",
        s(&copy),
        "--from",
        s(&export),
        "--digest",
        s(&digest),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("matches the saved digest"),
        "{}",
        text(&out.stdout)
    );
    let out = veritrail(&["ledger", "verify", "copy", "--data-dir", s(&copy)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let count = |data_dir: &str, name: &str| {
        text(
            &veritrail(&[
                "ledger",
                "query",
                name,
                "--data-dir",
                data_dir,
                "SELECT COUNT(*) FROM AuditRecords",
            ])
            .stdout,
        )
    };
    assert_eq!(count(s(&copy), "copy"), count(d, "bank"));
    assert!(count(d, "bank").starts_with("{_1: "));

    // A saved digest from another journal: nothing is imported.
    let other = dir.join("other-digest.json");
    let forged = std::fs::read_to_string(&digest).unwrap();
    let value: serde_json::Value = serde_json::from_str(&forged).unwrap();
    let wrong = forged.replace(
        value["Digest"].as_str().unwrap(),
        &veritrail_core::Hash32::sha256(b"x").to_base64(),
    );
    std::fs::write(&other, wrong).unwrap();
    let refused = dir.join("refused");
    let out = veritrail(&[
        "ledger",
        "import",
        "copy",
        "--data-dir",
        s(&refused),
        "--from",
        s(&export),
        "--digest",
        s(&other),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was imported"),
        "{}",
        text(&out.stderr)
    );
    assert!(!refused.join("copy.ledger").exists());

    // A changed document in the export: the first bad block is named, nothing is imported.
    let text_export = dir.join("export-text");
    assert_eq!(
        veritrail(&[
            "ledger",
            "export",
            "bank",
            "--data-dir",
            d,
            "--out",
            s(&text_export)
        ])
        .status
        .code(),
        Some(0)
    );
    let object = walk(&text_export)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "ion"))
        .unwrap();
    let body = std::fs::read_to_string(&object).unwrap();
    std::fs::write(&object, body.replacen("\"us-east-1\"", "\"eu-west-1\"", 1)).unwrap();
    let out = veritrail(&[
        "ledger",
        "import",
        "copy2",
        "--data-dir",
        s(&refused),
        "--from",
        s(&text_export),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("FAILED block 1: revision hash"),
        "{}",
        text(&out.stderr)
    );
    assert!(!refused.join("copy2.ledger").exists());

    // A partial export cannot be imported.
    let partial = dir.join("partial");
    let out = veritrail(&[
        "ledger",
        "export",
        "bank",
        "--data-dir",
        d,
        "--out",
        s(&partial),
        "--start",
        "2100-01-01T00:00:00Z",
        "--end",
        "2100-01-02T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = veritrail(&[
        "ledger",
        "import",
        "copy3",
        "--data-dir",
        s(&refused),
        "--from",
        s(&partial),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // A data object nested a million levels deep: refused before it is parsed, no crash.
    std::fs::write(
        &object,
        format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)),
    )
    .unwrap();
    let out = veritrail(&[
        "ledger",
        "import",
        "copy4",
        "--data-dir",
        s(&refused),
        "--from",
        s(&text_export),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Ion nested more than 150 levels deep"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hostile_statements_and_parameters_exit_2_with_the_position() {
    let dir = created("ledger-hostile", "h");
    let d = s(&dir);
    let parens = format!(
        "SELECT * FROM AuditRecords WHERE {}1{}",
        "(".repeat(1000),
        ")".repeat(1000)
    );
    let deep_param = format!("{{a:{}1{}}}", "[".repeat(50_000), "]".repeat(50_000));
    for (args, says) in [
        (
            vec![parens.as_str()],
            "syntax error at position 133: the expression nests deeper than 100 levels",
        ),
        (
            vec!["SELECT * FROM T", "--param", deep_param.as_str()],
            "--param 1 is not one Ion value: Ion nested more than 150 levels deep (at byte 152)",
        ),
        (
            vec!["CREATE TABLE history"],
            "at position 13: `history` is not a valid table name",
        ),
    ] {
        let mut full = vec!["ledger", "query", "h", "--data-dir", d];
        full.extend(args);
        let out = veritrail(&full);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
