//! `veritrail verify` and `veritrail demo` on the real vehicle-registration files.

use crate::{s, scratch, testdata, text, veritrail};

#[test]
fn real_revision_and_block_verify() {
    let digest = testdata("get-digest.json");
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&digest),
        "--revision",
        s(&testdata("get-revision.json")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert_eq!(line.lines().count(), 1);
    assert!(
        line.starts_with("OK revision JUJgkIcNbhS2goq8RqLuZ4 version 3"),
        "{line}"
    );

    let out = veritrail(&[
        "verify",
        "block",
        "--digest",
        s(&digest),
        "--block",
        s(&testdata("get-block.json")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(
        v["blockHash"],
        "NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc="
    );
    assert_eq!(v["tip"]["sequenceNo"], 123);
}

#[test]
fn a_bare_hash_verifies_with_its_proof() {
    let out = veritrail(&[
        "verify",
        "hash",
        "--digest",
        s(&testdata("get-digest.json")),
        "--hash",
        "mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=",
        "--proof",
        s(&testdata("get-revision.json")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = veritrail(&[
        "verify",
        "hash",
        "--digest",
        s(&testdata("get-digest.json")),
        "--hash",
        "NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc=",
        "--proof",
        s(&testdata("get-revision.json")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("proof fold"));
}

#[test]
fn a_tampered_digest_fails_with_exit_1() {
    let dir = scratch("tampered");
    let original = std::fs::read_to_string(testdata("get-digest.json")).unwrap();
    let tampered = original.replace(
        "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=",
        "7m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=",
    );
    let path = dir.join("digest.json");
    std::fs::write(&path, tampered).unwrap();
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&path),
        "--revision",
        s(&testdata("get-revision.json")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("FAILED proof fold"),
        "{}",
        text(&out.stderr)
    );
    let out = veritrail(&[
        "verify",
        "block",
        "--digest",
        s(&path),
        "--block",
        s(&testdata("get-block.json")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["check"].as_str()),
        (Some(false), Some("proof fold"))
    );
}

#[test]
fn tampered_revision_data_names_the_revision_hash() {
    let dir = scratch("data");
    let original = std::fs::read_to_string(testdata("get-revision.json")).unwrap();
    let path = dir.join("revision.json");
    std::fs::write(&path, original.replace("Everett", "Everest")).unwrap();
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&testdata("get-digest.json")),
        "--revision",
        s(&path),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("FAILED revision hash"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unreadable_input_exits_2_with_a_clear_message() {
    let dir = scratch("bad");
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"Revision\":{\"IonText\":\"{blockAddress:\"}}").unwrap();
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&testdata("get-digest.json")),
        "--revision",
        s(&garbage),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("Revision.IonText") && err.contains("not a single valid Ion value"),
        "{err}"
    );

    let missing = dir.join("missing.json");
    for (digest, problem) in [
        (s(&missing), "No such file"),
        (
            "/dev/zero",
            "larger than 1048576 bytes, the limit for a get-digest file",
        ),
    ] {
        let out = veritrail(&[
            "verify",
            "block",
            "--digest",
            digest,
            "--block",
            s(&testdata("get-block.json")),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["check"], "input");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("--digest {digest}: {problem}")),
            "{message}"
        );
    }

    // Passing a block where a revision is expected is named, not a panic.
    let out = veritrail(&[
        "verify",
        "revision",
        "--digest",
        s(&testdata("get-digest.json")),
        "--revision",
        s(&testdata("get-block.json")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Revision: missing"),
        "{}",
        text(&out.stderr)
    );

    // Wrong command line: clap's usage error, also exit 2.
    let out = veritrail(&["verify", "revision", "--digest"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_and_help_work_with_no_files() {
    let out = veritrail(&["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("\nOK ").count(), 2);
    let out = veritrail(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("verify"));
    let out = veritrail(&["verify", "revision", "--help"]);
    assert!(text(&out.stdout).contains("--revision <FILE>"));
}

#[test]
fn endless_deep_and_huge_input_exits_2_and_never_aborts() {
    let dir = scratch("hostile");
    let digest = testdata("get-digest.json");
    let deep_ion = dir.join("deep-ion.json");
    std::fs::write(
        &deep_ion,
        serde_json::json!({"Block": {"IonText": "[".repeat(100_000)}}).to_string(),
    )
    .unwrap();
    let deep_revision = dir.join("deep-revision.json");
    std::fs::write(
        &deep_revision,
        serde_json::json!({"Revision": {"IonText": format!("{{a:{}", "{b:".repeat(100_000))}})
            .to_string(),
    )
    .unwrap();
    let deep_json = dir.join("deep-json.json");
    std::fs::write(&deep_json, "{\"Block\":".repeat(100_000)).unwrap();
    let deep_proof = dir.join("deep-proof.ion");
    std::fs::write(&deep_proof, "(".repeat(100_000)).unwrap();
    for (args, expect) in [
        (
            vec!["verify", "block", "--block", "/dev/zero"],
            "--block /dev/zero: larger than",
        ),
        (
            vec!["verify", "revision", "--revision", s(&deep_revision)],
            "Revision.IonText: Ion nested more than 150 levels deep",
        ),
        (
            vec!["verify", "block", "--block", s(&deep_ion)],
            "Block.IonText: Ion nested more than 150 levels deep",
        ),
        (
            vec!["verify", "block", "--block", s(&deep_json)],
            "recursion limit exceeded",
        ),
        (
            vec![
                "verify",
                "hash",
                "--hash",
                "mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=",
                "--proof",
                s(&deep_proof),
            ],
            "levels deep",
        ),
        (
            vec!["verify", "consistency", "--file", s(&deep_json)],
            "recursion limit exceeded",
        ),
    ] {
        let mut all = args.clone();
        if args[1] != "consistency" {
            all.extend(["--digest", s(&digest)]);
        }
        let out = veritrail(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    // A tip at the last sequence number there is: no journal has one block more.
    let huge_tip = dir.join("huge-tip.json");
    let tip = serde_json::json!({"IonText": "{strandId:\"s\",sequenceNo:18446744073709551615}"});
    std::fs::write(
        &huge_tip,
        serde_json::json!({"OldDigest": "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=", "OldTipAddress": tip, "NewDigest": "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=", "NewTipAddress": tip, "Proof": {"IonText": "[]"}}).to_string(),
    )
    .unwrap();
    let out = veritrail(&["verify", "consistency", "--file", s(&huge_tip)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("sequenceNo is too large"));
}

/// A veritrail block (from `veritrail ledger block`) and the digest covering it.
fn veritrail_block(name: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let dir = scratch(name);
    crate::ledger::populated(&dir);
    let d = s(&dir);
    let digest = dir.join("digest.json");
    let out = veritrail(&["ledger", "digest", "bank", "--data-dir", d]);
    std::fs::write(&digest, &out.stdout).unwrap();
    let out = veritrail(&["ledger", "block", "bank", "--data-dir", d, "--seq", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let block = dir.join("block.json");
    std::fs::write(&block, &out.stdout).unwrap();
    (digest, block, text(&out.stdout))
}

#[test]
fn a_veritrail_block_with_a_changed_timestamp_fails() {
    let (digest, block, original) = veritrail_block("strict-block");
    let verify = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "block",
            "--digest",
            s(&digest),
            "--block",
            s(file),
        ];
        args.extend(extra);
        veritrail(&args)
    };
    let out = verify(&block, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rules"], "veritrail");

    // Move the block's timestamp (only the header's; the revisions' txTime stays).
    let at = original.find("blockTimestamp:").unwrap() + "blockTimestamp:".len();
    let end = at + original[at..].find(',').unwrap();
    let tampered = format!(
        "{}2001-01-01T00:00:00.000Z{}",
        &original[..at],
        &original[end..]
    );
    assert_ne!(tampered, original);
    let path = block.with_file_name("tampered.json");
    std::fs::write(&path, tampered).unwrap();
    let out = verify(&path, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).starts_with("FAILED block info hash"),
        "{}",
        text(&out.stderr)
    );
    // QLDB's rules alone, asked for explicitly, cannot see the change.
    let out = verify(&path, &["--rules", "qldb"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("qldb rules"),
        "{}",
        text(&out.stdout)
    );

    // Real QLDB output keeps QLDB's rules under auto, and fails veritrail's when forced.
    let (real_digest, real_block) = (testdata("get-digest.json"), testdata("get-block.json"));
    let mut args = vec![
        "verify",
        "block",
        "--digest",
        s(&real_digest),
        "--block",
        s(&real_block),
    ];
    let out = veritrail(&args);
    assert!(
        text(&out.stdout).contains("qldb rules"),
        "{}",
        text(&out.stdout)
    );
    args.extend(["--rules", "veritrail"]);
    assert_eq!(veritrail(&args).status.code(), Some(1));
}
