//! Evidence bundles built here from the format around real QLDB output (the vehicle-registration
//! digest and revision, as a query answer's row) and signed with a test key: the bundle verifies,
//! named failures for targeted changes, and mutated bundles are verified or refused, never a
//! panic, and never valid unless they still say the same.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Digest as _;
use veritrail_core::time::UtcMillis;
use veritrail_verify::bundle::{FORMAT, Manifest, ManifestPart, part_hash, verify_bundle};
use veritrail_verify::parse_digest;

use crate::mutate::{config, mutated};

const LEDGER: &str = "vehicles";

fn testdata(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../testdata/qldb/vehicle-registration/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Signs a note body as `veritrail-ledger`'s `CheckpointKey::sign_note` does (C2SP signed note,
/// Ed25519, key name `name`, seed bytes all `seed`), built here from the format; returns the
/// note and the verifier key.
pub fn sign(name: &str, seed: u8, body: &str) -> (String, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key().to_bytes();
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([0x01]);
    h.update(public);
    let key_hash = h.finalize()[..4].to_vec();
    let mut sig = key_hash.clone();
    sig.extend_from_slice(&key.sign(body.as_bytes()).to_bytes());
    let note = format!("{body}\n\u{2014} {name} {}\n", BASE64.encode(sig));
    let hex: String = key_hash.iter().map(|b| format!("{b:02x}")).collect();
    let mut vk = vec![0x01];
    vk.extend_from_slice(&public);
    (note, format!("{name}+{hex}+{}", BASE64.encode(vk)))
}

fn ledger_sign(body: &str) -> (String, String) {
    sign(&format!("veritrail/{LEDGER}"), 9, body)
}

/// A valid bundle and its verifier key.
fn bundle() -> (Value, String) {
    let digest_text = testdata("get-digest.json");
    let digest = parse_digest(&digest_text).unwrap();
    let (checkpoint, key) = ledger_sign(&format!(
        "veritrail/{LEDGER}\n{}\n{}\nstrand {}\ntime 2024-01-02T00:00:00.000Z\n",
        digest.tip.sequence_no + 1,
        digest.digest.to_base64(),
        digest.tip.strand_id
    ));
    let revision: Value = serde_json::from_str(&testdata("get-revision.json")).unwrap();
    let parts = [
        ("digest.json", digest_text, None),
        ("checkpoint.note", checkpoint, None),
        ("records.json", "[]".to_owned(), Some(0)),
        ("alerts.json", "[]".to_owned(), Some(0)),
        (
            "query/vehicle.json",
            json!({"query": "who", "rows": [revision]}).to_string(),
            Some(1),
        ),
        (
            "keys.json",
            json!({"ledger": key, "cloudtrail": []}).to_string(),
            None,
        ),
    ];
    let manifest = Manifest {
        ledger: LEDGER.into(),
        from: UtcMillis(1_704_067_200_000),
        to: UtcMillis(1_704_153_600_000),
        created: UtcMillis(1_704_153_600_000),
        digest: digest.digest,
        tip: digest.tip.sequence_no,
        parts: parts
            .iter()
            .map(|(name, text, entries)| ManifestPart {
                name: (*name).into(),
                sha256: part_hash(text),
                entries: *entries,
            })
            .collect(),
    };
    let (note, _) = ledger_sign(&manifest.body());
    let mut map = serde_json::Map::new();
    for (name, text, _) in parts {
        map.insert(name.into(), Value::String(text));
    }
    (
        json!({"format": FORMAT, "manifest": note, "parts": map}),
        key,
    )
}

fn failures(bundle: &Value, key: &str) -> Vec<(String, &'static str)> {
    let r = verify_bundle(bundle.to_string().as_bytes(), None, key).unwrap();
    r.failures.into_iter().map(|f| (f.part, f.check)).collect()
}

#[test]
fn the_built_bundle_verifies_and_round_trips_its_manifest() {
    let (b, key) = bundle();
    let r = verify_bundle(b.to_string().as_bytes(), None, &key).unwrap();
    assert!(r.is_valid(), "{:?}", r.failures);
    assert_eq!((r.ledger.as_str(), r.query_rows), (LEDGER, 1));
    let body = b["manifest"]
        .as_str()
        .unwrap()
        .split_once("\n\n")
        .unwrap()
        .0;
    let m = Manifest::parse(body).unwrap();
    assert_eq!(m.body().trim_end(), body);
}

#[test]
fn each_change_is_named() {
    let (b, key) = bundle();
    let mut t = b.clone();
    let mut rows: Value =
        serde_json::from_str(t["parts"]["query/vehicle.json"].as_str().unwrap()).unwrap();
    let ion = rows["rows"][0]["Revision"]["IonText"]
        .as_str()
        .unwrap()
        .to_owned();
    rows["rows"][0]["Revision"]["IonText"] = json!(ion.replacen("VIN", "VIM", 1));
    t["parts"]["query/vehicle.json"] = json!(rows.to_string());
    let f = failures(&t, &key);
    assert!(f.contains(&("query/vehicle.json".into(), "hash")), "{f:?}");
    assert!(
        f.contains(&("query/vehicle.json[0]".into(), "revision hash")),
        "{f:?}"
    );

    let mut t = b.clone();
    t["parts"].as_object_mut().unwrap().remove("digest.json");
    let f = failures(&t, &key);
    assert!(f.contains(&("digest.json".into(), "missing")), "{f:?}");

    let other = format!("{key}x");
    assert!(!failures(&b, &other).is_empty());

    for bad in [&b"[]"[..], b"{\"format\":\"x\"}", b"not json", b""] {
        assert!(verify_bundle(bad, None, &key).is_err());
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn mutated_bundles_are_verified_or_refused(bytes in mutated(bundle().0.to_string().into_bytes())) {
        let (good, key) = bundle();
        if let Ok(r) = verify_bundle(&bytes, None, &key) {
            if r.is_valid() {
                // Only a change JSON does not see (spacing, escapes) leaves a bundle valid.
                let same: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(same, good);
            }
        }
    }

    #[test]
    fn mutated_query_rows_are_caught(ion in mutated(
        serde_json::from_str::<Value>(&testdata("get-revision.json")).unwrap()["Revision"]["IonText"]
            .as_str().unwrap().as_bytes().to_vec()
    )) {
        let (mut b, key) = bundle();
        let mut rows: Value =
            serde_json::from_str(b["parts"]["query/vehicle.json"].as_str().unwrap()).unwrap();
        let original = rows["rows"][0]["Revision"]["IonText"].as_str().unwrap().to_owned();
        let ion = String::from_utf8_lossy(&ion).into_owned();
        rows["rows"][0]["Revision"]["IonText"] = json!(ion);
        b["parts"]["query/vehicle.json"] = json!(rows.to_string());
        let r = verify_bundle(b.to_string().as_bytes(), None, &key).unwrap();
        prop_assert_eq!(r.is_valid(), ion == original);
    }
}
