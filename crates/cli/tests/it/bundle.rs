//! Evidence bundles end to end (issue 14, items 2, 3 and 6): real stratus-red-team records
//! ingested so alerts exist, one reviewed, a bundle of a period verified, a second bundle
//! chained to the first with `--previous`, the auditor's queries, and every part tampered
//! with, each failure named by `veritrail verify bundle`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::validate_logs::{ARN, BUCKET, Mirror};
use crate::{s, scratch, text, veritrail};

const FROM: &str = "2024-01-01T00:00:00Z";
const TO: &str = "2024-12-01T00:00:00Z";
const STOP: &str = "aws.defense-evasion.cloudtrail-stop.json";

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(text(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

struct Setup {
    dir: PathBuf,
    data: PathBuf,
}

impl Setup {
    fn ledger<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = args.to_vec();
        v.extend_from_slice(&["--ledger", "audit", "--data-dir", s(&self.data)]);
        v
    }

    /// `veritrail evidence bundle` of the period into `out`.
    fn bundle(&self, out: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "evidence",
            "bundle",
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        veritrail(&self.ledger(&args))
    }

    fn key(&self) -> PathBuf {
        self.data.join("keys/audit.pub")
    }

    fn verify(&self, bundle: &Path, previous: Option<&Path>) -> (Option<i32>, Value) {
        let key = self.key();
        let mut args = vec!["verify", "bundle", s(bundle), "--key", s(&key), "--json"];
        if let Some(p) = previous {
            args.extend_from_slice(&["--previous", s(p)]);
        }
        let out = veritrail(&args);
        (out.status.code(), json_of(&out))
    }
}

/// Ingests the stratus records but one technique's, bundles the period, ingests the rest,
/// reviews the StopLogging alert, and bundles again chained to the first.
fn two_bundles(name: &str) -> (Setup, PathBuf, PathBuf) {
    let dir = scratch(name);
    let data = dir.join("data");
    let setup = Setup {
        dir: dir.clone(),
        data,
    };
    ok(veritrail(&[
        "ledger",
        "create",
        "audit",
        "--data-dir",
        s(&setup.data),
    ]));
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let stratus = crate::shared_cloudtrail("stratus-red-team");
    for e in std::fs::read_dir(&stratus).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let to = if p.file_name().unwrap() == STOP {
                &second
            } else {
                &first
            };
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    let ingest = |from: &Path| {
        ok(veritrail(&setup.ledger(&[
            "ingest",
            "--from-dir",
            s(from),
            "--json",
        ])));
    };
    ingest(&first);

    // The trail's logs for the period, validated by the same code as `veritrail validate-logs`.
    let (mirror, _) = Mirror::three_hours(&format!("{name}-mirror"));
    let b1 = dir.join("first.bundle");
    let out = ok(setup.bundle(
        &b1,
        &[
            "--trail-arn",
            ARN,
            "--s3-bucket",
            BUCKET,
            "--local-dir",
            s(&mirror.root),
            "--json",
        ],
    ));
    let summary = json_of(&out);
    assert_eq!(summary["records"], 309, "{summary}");
    assert!(summary["previousTip"].is_null());

    ingest(&second);
    let alerts = ok(veritrail(&setup.ledger(&["alerts", "list", "--json"])));
    let stop_alert = text(&alerts.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["eventName"] == "StopLogging")
        .expect("StopLogging raised an alert");
    let id = stop_alert["alertId"].as_str().unwrap().to_owned();
    ok(veritrail(&setup.ledger(&[
        "alerts",
        "ack",
        &id,
        "--by",
        "alice",
        "--note",
        "trail restarted, ticket SEC-12",
    ])));

    // The auditor's questions, one of them kept for the bundle.
    let stops = dir.join("stops.json");
    let out = ok(veritrail(&setup.ledger(&[
        "evidence",
        "query",
        "stops",
        "--from",
        FROM,
        "--to",
        TO,
        "--minutes",
        "30",
        "--out",
        s(&stops),
    ])));
    let table = text(&out.stdout);
    assert!(table.lines().next().unwrap().starts_with("stop"), "{table}");
    assert!(
        table.contains("cloudtrail.amazonaws.com StopLogging"),
        "{table}"
    );

    let report = dir.join("validate-logs.json");
    let out = veritrail(&[
        "validate-logs",
        "--trail-arn",
        ARN,
        "--start-time",
        FROM,
        "--end-time",
        TO,
        "--s3-bucket",
        BUCKET,
        "--local-dir",
        s(&mirror.root),
        "--json",
    ]);
    std::fs::write(&report, &out.stdout).unwrap();
    let posture = dir.join("posture.json");
    std::fs::write(
        &posture,
        json!({"generatedAt": "2024-12-01T00:00:00Z", "target": "emulator", "checks": [
            {"id": "trail.multi-region", "title": "A multi-region trail", "status": "PASS", "reason": "trail audit", "requirements": ["PCI DSS 10.2.1"], "evidence": []},
            {"id": "bucket.object-lock", "title": "Object Lock", "status": "FAIL", "reason": "GOVERNANCE", "requirements": ["PCI DSS 10.5.1"], "evidence": []}
        ]})
        .to_string(),
    )
    .unwrap();
    let b2 = dir.join("second.bundle");
    let out = ok(setup.bundle(
        &b2,
        &[
            "--previous",
            s(&b1),
            "--validate-logs-report",
            s(&report),
            "--posture",
            s(&posture),
            "--query",
            s(&stops),
            "--json",
        ],
    ));
    let summary = json_of(&out);
    assert_eq!(summary["records"], 310, "{summary}");
    assert!(summary["previousTip"].is_u64(), "{summary}");
    assert!(summary["queryRows"].as_u64().unwrap() >= 1, "{summary}");
    assert!(!text(&out.stderr).is_empty(), "progress goes to stderr");
    (setup, b1, b2)
}

fn read_bundle(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The bundle with one part's text changed.
fn with_text(bundle: &Value, part: &str, edit: impl FnOnce(&str) -> String) -> Value {
    let mut b = bundle.clone();
    let old = b["parts"][part].as_str().unwrap().to_owned();
    let new = edit(&old);
    assert_ne!(old, new, "the edit of {part} changed nothing");
    b["parts"][part] = Value::String(new);
    b
}

/// The bundle with one JSON part changed.
fn with_json(bundle: &Value, part: &str, edit: impl FnOnce(&mut Value)) -> Value {
    with_text(bundle, part, |t| {
        let mut v: Value = serde_json::from_str(t).unwrap();
        edit(&mut v);
        v.to_string()
    })
}

/// Flips one base64 character of the first `{{…}}` blob in Ion text.
fn flip_blob(ion: &str) -> String {
    let at = ion.find("{{").unwrap() + 4;
    let mut bytes = ion.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn expect_caught(
    setup: &Setup,
    tampered: &Value,
    previous: Option<&Path>,
    expected: &[(&str, &str)],
    what: &str,
) {
    let path = setup
        .dir
        .join(format!("tampered-{}.bundle", what.replace(' ', "-")));
    std::fs::write(&path, tampered.to_string()).unwrap();
    let (code, report) = setup.verify(&path, previous);
    assert_eq!(code, Some(1), "{what}: {report}");
    assert_eq!(report["valid"], false);
    let failures: Vec<(String, String)> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["part"].as_str().unwrap().to_owned(),
                f["check"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (part, check) in expected {
        assert!(
            failures.iter().any(|(p, c)| p == part && c == check),
            "{what}: expected {part} ({check}) among {failures:?}"
        );
    }
}

#[test]
fn bundles_verify_chain_and_every_tampered_part_is_named() {
    let (setup, b1, b2) = two_bundles("bundle-chain");

    let (code, r1) = setup.verify(&b1, None);
    assert_eq!(code, Some(0), "{r1}");
    assert_eq!(r1["records"], 309);
    assert_eq!(r1["logsValid"], true, "{r1}");
    assert!(r1["failures"].as_array().unwrap().is_empty());

    let (code, r2) = setup.verify(&b2, Some(&b1));
    assert_eq!(code, Some(0), "{r2}");
    assert_eq!(r2["records"], 310);
    let (old, new) = (
        r2["consistency"]["fromSize"].as_u64().unwrap(),
        r2["consistency"]["toSize"].as_u64().unwrap(),
    );
    assert!(old < new, "{r2}");
    assert_eq!(r2["posture"], json!({"PASS": 1, "FAIL": 1, "ERROR": 0}));
    // The review is in the bundle as the alert's second revision.
    let bundle = read_bundle(&b2);
    let alerts: Value =
        serde_json::from_str(bundle["parts"]["alerts.json"].as_str().unwrap()).unwrap();
    let review = alerts
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["view"]["review"]["by"] == "alice")
        .expect("the review is in the bundle");
    assert_eq!(alerts[review]["view"]["state"], "ACKNOWLEDGED");

    // Text output names the chain too.
    let out = veritrail(&[
        "verify",
        "bundle",
        s(&b2),
        "--previous",
        s(&b1),
        "--key",
        s(&setup.key()),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("OK bundle of ledger audit"));
    assert!(text(&out.stdout).contains("extends the previous bundle"));

    // Text output names each failing part on stderr.
    let tampered = with_text(&bundle, "keys.json", |k| {
        k.replacen("veritrail/", "veritrail/x", 1)
    });
    let path = setup.dir.join("keys-changed.bundle");
    std::fs::write(&path, tampered.to_string()).unwrap();
    let out = veritrail(&["verify", "bundle", s(&path), "--key", s(&setup.key())]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("FAILED bundle of ledger audit"), "{err}");
    assert!(
        err.contains("\n  keys.json (hash): ") && err.contains("\n  keys.json (ledger key): "),
        "{err}"
    );

    // A record's field.
    let t = with_json(&bundle, "records.json", |v| {
        let name = format!("\"{}\"", v[0]["view"]["eventName"].as_str().unwrap());
        let ion = v[0]["Revision"]["IonText"].as_str().unwrap();
        v[0]["Revision"]["IonText"] = Value::String(ion.replacen(&name, "\"Renamed\"", 1));
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[
            ("records.json", "hash"),
            ("records.json[0]", "revision hash"),
        ],
        "record field",
    );

    // A proof hash.
    let t = with_json(&bundle, "records.json", |v| {
        let p = v[1]["Proof"]["IonText"].as_str().unwrap();
        v[1]["Proof"]["IonText"] = Value::String(flip_blob(p));
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[("records.json", "hash"), ("records.json[1]", "proof fold")],
        "proof hash",
    );

    // A dropped record.
    let t = with_json(&bundle, "records.json", |v| {
        v.as_array_mut().unwrap().remove(2);
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[("records.json", "hash"), ("records.json", "count")],
        "dropped record",
    );

    // The manifest rewritten to match a changed part: the signature no longer holds.
    let t = {
        let changed = with_json(&bundle, "records.json", |v| {
            v.as_array_mut().unwrap().remove(2);
        });
        let records = changed["parts"]["records.json"].as_str().unwrap();
        let new_hash = veritrail_verify::bundle::part_hash(records).to_hex();
        let manifest = changed["manifest"].as_str().unwrap();
        let line = manifest
            .lines()
            .find(|l| l.ends_with(" records.json"))
            .unwrap();
        let forged = format!("part {new_hash} 309 records.json");
        let mut c = changed.clone();
        c["manifest"] = Value::String(manifest.replace(line, &forged));
        c
    };
    expect_caught(&setup, &t, None, &[("manifest", "signature")], "manifest");

    // The manifest's signature.
    let t = {
        let mut c = bundle.clone();
        let m = c["manifest"].as_str().unwrap();
        let (body, sig) = m.split_once("\n\n").unwrap();
        let at = sig.len() - 6;
        let mut sig = sig.as_bytes().to_vec();
        sig[at] = if sig[at] == b'A' { b'B' } else { b'A' };
        c["manifest"] = Value::String(format!("{body}\n\n{}", String::from_utf8(sig).unwrap()));
        c
    };
    expect_caught(&setup, &t, None, &[("manifest", "signature")], "signature");

    // The checkpoint.
    let t = with_text(&bundle, "checkpoint.note", |n| {
        let size = n.lines().nth(1).unwrap();
        n.replacen(
            &format!("\n{size}\n"),
            &format!("\n{}\n", size.parse::<u64>().unwrap() + 1),
            1,
        )
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[
            ("checkpoint.note", "hash"),
            ("checkpoint.note", "signature"),
        ],
        "checkpoint",
    );

    // The digest.
    let t = with_json(&bundle, "digest.json", |v| {
        let d = veritrail_core::Hash32::from_base64(v["Digest"].as_str().unwrap()).unwrap();
        v["Digest"] = Value::String(d.with_bit_flipped(3).to_base64());
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[
            ("digest.json", "hash"),
            ("digest.json", "digest"),
            ("checkpoint.note", "digest"),
            ("records.json[0]", "proof fold"),
        ],
        "digest",
    );

    // The consistency proof.
    let t = with_json(&bundle, "consistency.json", |v| {
        let p = v["Proof"]["IonText"].as_str().unwrap();
        v["Proof"]["IonText"] = Value::String(flip_blob(p));
    });
    expect_caught(
        &setup,
        &t,
        Some(&b1),
        &[("consistency.json", "hash"), ("consistency.json", "proof")],
        "consistency proof",
    );

    // A chain to the wrong previous bundle.
    expect_caught(
        &setup,
        &bundle,
        Some(&b2),
        &[("consistency.json", "previous")],
        "wrong previous",
    );

    // A period that does not hold the records: the signed period is checked against each.
    let t = {
        let mut c = bundle.clone();
        let m = c["manifest"].as_str().unwrap();
        c["manifest"] =
            Value::String(m.replacen(&format!("to {TO}"), "to 2024-07-31T00:00:00Z", 1));
        c
    };
    expect_caught(
        &setup,
        &t,
        None,
        &[("manifest", "signature"), ("records.json[300]", "period")],
        "period",
    );

    // A review's note.
    let t = with_json(&bundle, "alerts.json", |v| {
        let ion = v[review]["Revision"]["IonText"].as_str().unwrap();
        v[review]["Revision"]["IonText"] = Value::String(ion.replacen("SEC-12", "SEC-13", 1));
    });
    let part = format!("alerts.json[{review}]");
    expect_caught(
        &setup,
        &t,
        None,
        &[("alerts.json", "hash"), (&part, "revision hash")],
        "review",
    );

    // The validate-logs report's summary.
    let t = with_json(&bundle, "validate-logs.json", |v| {
        v["logs"]["valid"] = json!(v["logs"]["valid"].as_u64().unwrap() + 1);
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[
            ("validate-logs.json", "hash"),
            ("validate-logs.json", "summary"),
        ],
        "validate-logs summary",
    );

    // A query answer's readable view.
    let t = with_json(&bundle, "query/stops.json", |v| {
        v["rows"][0]["view"]["eventName"] = json!("StartLogging");
    });
    expect_caught(
        &setup,
        &t,
        None,
        &[
            ("query/stops.json", "hash"),
            ("query/stops.json[0]", "view"),
        ],
        "query view",
    );

    // A part slipped in.
    let t = {
        let mut c = bundle.clone();
        c["parts"]["extra.json"] = json!("{}");
        c
    };
    expect_caught(
        &setup,
        &t,
        None,
        &[("extra.json", "unlisted")],
        "extra part",
    );

    // Another ledger's key.
    let other = setup.dir.join("other");
    ok(veritrail(&[
        "ledger",
        "create",
        "audit",
        "--data-dir",
        s(&other),
    ]));
    let out = veritrail(&[
        "verify",
        "bundle",
        s(&b2),
        "--key",
        s(&other.join("keys/audit.pub")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json_of(&out);
    let checks: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"signature") && checks.contains(&"ledger key"),
        "{r}"
    );
}

#[test]
fn queries_answer_with_proofs_and_bad_input_exits_2() {
    let dir = scratch("bundle-queries");
    let data = dir.join("data");
    ok(veritrail(&[
        "ledger",
        "create",
        "audit",
        "--data-dir",
        s(&data),
    ]));
    let stratus = crate::shared_cloudtrail("stratus-red-team");
    let with = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&["--ledger", "audit", "--data-dir", s(&data)]);
        veritrail(&v)
    };
    // A ledger with no records yet (no tables): an empty bundle that verifies.
    let empty = dir.join("empty.bundle");
    ok(with(&[
        "evidence",
        "bundle",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        s(&empty),
    ]));
    let key = data.join("keys/audit.pub");
    let out = ok(veritrail(&[
        "verify",
        "bundle",
        s(&empty),
        "--key",
        s(&key),
        "--json",
    ]));
    assert_eq!(json_of(&out)["records"], 0);

    ok(with(&["ingest", "--from-dir", s(&stratus), "--json"]));

    // Who touched the trail StopLogging stopped.
    let out = ok(with(&[
        "evidence",
        "query",
        "who",
        "--resource",
        "stratus-red-team-ct-stop-trail-buykxbqejv",
        "--from",
        FROM,
        "--to",
        TO,
        "--json",
    ]));
    let answer = json_of(&out);
    let rows = answer["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().any(|r| r["view"]["eventName"] == "StopLogging"),
        "{answer}"
    );
    // Each row is get-revision output: it verifies against the answer's digest on its own.
    let digest = dir.join("digest.json");
    std::fs::write(&digest, answer["digest"].to_string()).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let rev = dir.join(format!("row{i}.json"));
        std::fs::write(&rev, row.to_string()).unwrap();
        ok(veritrail(&[
            "verify",
            "revision",
            "--digest",
            s(&digest),
            "--revision",
            s(&rev),
        ]));
    }

    let out = ok(with(&[
        "evidence", "query", "alerts", "--from", FROM, "--to", TO, "--json",
    ]));
    let alerts = json_of(&out);
    assert!(
        alerts["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["role"] == "raised")
    );

    // Bad input: exit 2, never a panic.
    let bad = |args: &[&str]| {
        let out = with(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"));
    };
    bad(&[
        "evidence",
        "query",
        "alerts",
        "--from",
        "yesterday",
        "--to",
        TO,
    ]);
    bad(&["evidence", "query", "alerts", "--from", TO, "--to", FROM]);
    bad(&[
        "evidence",
        "query",
        "who",
        "--resource",
        "",
        "--from",
        FROM,
        "--to",
        TO,
    ]);
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    bad(&[
        "evidence",
        "bundle",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        s(&dir.join("b")),
        "--posture",
        s(&garbage),
    ]);
    bad(&[
        "evidence",
        "bundle",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        s(&dir.join("b")),
        "--previous",
        s(&garbage),
    ]);
    assert!(!dir.join("b").exists(), "nothing written on bad input");
    for args in [
        vec!["verify", "bundle", s(&garbage), "--key", s(&key)],
        vec!["verify", "bundle", s(&dir.join("absent")), "--key", s(&key)],
        vec!["verify", "bundle", s(&garbage), "--key", "not-a-key"],
    ] {
        let out = veritrail(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
