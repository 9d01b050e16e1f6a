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
    let out = veritrail(&[
        "verify",
        "block",
        "--digest",
        s(&missing),
        "--block",
        s(&testdata("get-block.json")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["check"], "input");
    assert!(v["message"].as_str().unwrap().contains("--digest"));

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
