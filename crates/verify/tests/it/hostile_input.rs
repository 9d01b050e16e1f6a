//! Generated and mutated input for every parser and check in veritrail-verify: the AWS CLI's
//! JSON shapes (get-digest, get-block, get-revision, proofs), blocks, CloudTrail digest and log
//! files (mutated before and after signing), whole validate-logs runs over a store whose objects
//! were tampered with, signed checkpoints, and consistency and inclusion proofs of any size. Each
//! answers with a result or a typed error, never a panic.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use veritrail_core::Hash32;
use veritrail_verify::cloudtrail::{check_digest, check_link, check_log};
use veritrail_verify::input::parse_proof;
use veritrail_verify::validate_logs::{Object, ObjectStore, Request, parse_time, validate};
use veritrail_verify::{
    BlockRules, check_block_with, parse_block, parse_digest, parse_revision, verify_block,
    verify_chain_link, verify_checkpoint, verify_consistency, verify_inclusion, verify_revision,
};

use crate::cloudtrail::{Signed, Trail, fetched, gzip};
use crate::mutate::{config, mutated};

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../testdata/qldb/vehicle-registration/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The real block's Ion text, to mutate inside its JSON holder.
fn block_ion() -> Vec<u8> {
    let json: serde_json::Value = serde_json::from_slice(&testdata("get-block.json")).unwrap();
    json["Block"]["IonText"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn hash(bytes: &[u8; 32]) -> Hash32 {
    Hash32::from_slice(bytes).unwrap()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_aws_cli_output_is_read_or_refused(
        digest in mutated(testdata("get-digest.json")),
        block in mutated(testdata("get-block.json")),
        revision in mutated(testdata("get-revision.json")),
    ) {
        let good = parse_digest(&String::from_utf8_lossy(&testdata("get-digest.json"))).unwrap();
        let digest = parse_digest(&String::from_utf8_lossy(&digest)).unwrap_or(good);
        if let Ok(b) = parse_block(&String::from_utf8_lossy(&block)) {
            let _ = verify_block(&b.value, b.proof.as_deref(), &digest);
            let _ = verify_chain_link(&b.value, &b.value);
        }
        if let Ok(r) = parse_revision(&String::from_utf8_lossy(&revision)) {
            let _ = verify_revision(&r.value, r.proof.as_deref(), &digest);
        }
    }

    #[test]
    fn mutated_blocks_are_checked_or_refused(ion in mutated(block_ion())) {
        let text = String::from_utf8_lossy(&ion);
        let json = serde_json::json!({"Block": {"IonText": text}}).to_string();
        if let Ok(b) = parse_block(&json) {
            for rules in [BlockRules::Auto, BlockRules::Qldb, BlockRules::Veritrail] {
                let _ = check_block_with(&b.value, rules);
            }
        }
        let _ = parse_proof(&text);
    }

    #[test]
    fn consistency_and_inclusion_proofs_of_any_size(
        old_size in any::<u64>(),
        new_size in any::<u64>(),
        index in any::<u64>(),
        roots in any::<([u8; 32], [u8; 32])>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..80),
    ) {
        let proof: Vec<Hash32> = proof.iter().map(hash).collect();
        let (a, b) = (hash(&roots.0), hash(&roots.1));
        let _ = verify_consistency(old_size, new_size, &a, &b, &proof);
        let _ = verify_consistency(old_size % 300, new_size % 300, &a, &b, &proof);
        let _ = verify_inclusion(&a, index, new_size, &proof, &b);
        let _ = verify_inclusion(&a, index % 300, new_size % 300, &proof, &b);
    }
}

/// A signed checkpoint note and its verifier key, as `veritrail ledger checkpoint` writes them
/// (C2SP signed note, Ed25519), built here from the format.
fn signed_note() -> (String, String) {
    let body = format!(
        "veritrail/audit\n124\n{}\nstrand KmA3ZZca7vAIiJAK9S5Iwl\n",
        Hash32::sha256(b"root").to_base64()
    );
    crate::bundle::sign("veritrail/audit", 7, &body)
}

#[test]
fn the_built_checkpoint_verifies() {
    let (note, key) = signed_note();
    let c = verify_checkpoint(&note, &key).unwrap();
    assert_eq!(
        (c.size, c.extension("strand")),
        (124, Some("KmA3ZZca7vAIiJAK9S5Iwl"))
    );
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_checkpoints_and_keys_are_verified_or_refused(
        note in mutated(signed_note().0.into_bytes()),
        key in mutated(signed_note().1.into_bytes()),
    ) {
        let (good_note, good_key) = signed_note();
        let note = String::from_utf8_lossy(&note);
        let key = String::from_utf8_lossy(&key);
        if note != good_note.as_str() {
            // A changed note never verifies under the real key (unless only signature lines
            // of other keys changed, which the loop below allows).
            if let Ok(c) = verify_checkpoint(&note, &good_key) {
                prop_assert_eq!(c.size, 124);
            }
        }
        let _ = verify_checkpoint(&good_note, &key);
        let _ = verify_checkpoint(&note, &key);
    }
}

/// One trail, signed with a test key made once.
fn trail() -> &'static Trail {
    static TRAIL: OnceLock<Trail> = OnceLock::new();
    TRAIL.get_or_init(Trail::new)
}

const LOG: &[u8] = br#"{"Records":[{"eventID":"e","eventTime":"2024-01-01T00:01:00Z"}]}"#;
const LOG_KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/log.json.gz";

/// The JSON of hour 0's digest, to mutate before signing.
fn digest_json() -> Vec<u8> {
    let d = trail().digest(0, &[(LOG_KEY, LOG)], None);
    veritrail_verify::cloudtrail::gunzip(&d.gzip).unwrap()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn digests_mutated_before_signing_are_checked_or_refused(raw in mutated(digest_json())) {
        let t = trail();
        let key = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T010000Z.json.gz";
        // Signed after the change: every check past the signature sees the mutated JSON.
        let signed = t.sign(key, "2024-01-01T01:00:00Z", &raw, None);
        let lookup = |fp: &str| (fp == t.fingerprint).then(|| t.der.clone());
        if let Ok(d) = check_digest(&fetched(&signed), "us-east-1", lookup) {
            let _ = check_link(&d, &d);
            for l in &d.log_files {
                let _ = check_log(&gzip(LOG), &l.hash);
            }
        }
    }

    #[test]
    fn digests_and_logs_mutated_after_signing_are_refused(
        gz in mutated(trail().digest(0, &[(LOG_KEY, LOG)], None).gzip),
        log in mutated(gzip(LOG)),
    ) {
        let t = trail();
        let good = t.digest(0, &[(LOG_KEY, LOG)], None);
        let changed = Signed { gzip: gz, ..good };
        let lookup = |fp: &str| (fp == t.fingerprint).then(|| t.der.clone());
        let original = trail().digest(0, &[(LOG_KEY, LOG)], None);
        // Only a change gzip does not see (header bytes, say) may still verify.
        if let Ok(d) = check_digest(&fetched(&changed), "us-east-1", lookup) {
            prop_assert_eq!(d.sha256, original.sha256);
        }
        if check_log(&log, &veritrail_verify::cloudtrail::sha256_hex(LOG)).is_ok() {
            prop_assert_eq!(veritrail_verify::cloudtrail::gunzip(&log).unwrap(), LOG.to_vec());
        }
    }
}

/// A bucket in memory.
struct Store(BTreeMap<String, Object>);

impl ObjectStore for Store {
    fn list(&self, _bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self
            .0
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn get(&self, _bucket: &str, key: &str) -> Result<Option<Object>, String> {
        Ok(self.0.get(key).cloned())
    }
}

/// Three chained hours of digests and logs.
fn three_hours() -> BTreeMap<String, Object> {
    let t = trail();
    let mut objects = BTreeMap::new();
    let mut previous: Option<Signed> = None;
    for h in 0..3u32 {
        let log_key = format!("{LOG_KEY}.{h}");
        objects.insert(
            log_key.clone(),
            Object {
                body: gzip(LOG),
                metadata: BTreeMap::new(),
            },
        );
        let d = t.digest(h, &[(&log_key, LOG)], previous.as_ref());
        objects.insert(
            d.key.clone(),
            Object {
                body: d.gzip.clone(),
                metadata: BTreeMap::from([
                    ("signature".to_owned(), d.signature.clone()),
                    ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
                ]),
            },
        );
        previous = Some(d);
    }
    objects
}

fn request() -> Request {
    Request {
        trail_arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit".into(),
        bucket: "trail-bucket".into(),
        prefix: None,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        home_region: "us-east-1".into(),
        start: parse_time("2024-01-01T00:00:00Z").unwrap(),
        end: parse_time("2024-01-01T03:00:00Z").unwrap(),
    }
}

#[test]
fn the_stored_trail_is_valid() {
    let t = trail();
    let lookup = |fp: &str| (fp == t.fingerprint).then(|| t.der.clone());
    let report = validate(&Store(three_hours()), &lookup, &request()).unwrap();
    assert_eq!(
        (report.digests_valid, report.logs_valid, report.exit_code()),
        (3, 3, 0)
    );
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn validate_logs_over_tampered_objects_reports_and_never_panics(
        which in any::<proptest::sample::Index>(),
        body in mutated(b"placeholder".to_vec()),
        signature in mutated(b"00ff".to_vec()),
        change_body in any::<bool>(),
    ) {
        let t = trail();
        let mut objects = three_hours();
        let key = objects.keys().nth(which.index(objects.len())).unwrap().clone();
        let object = objects.get_mut(&key).unwrap();
        if change_body {
            // Splice the mutation into the real bytes.
            let mut b = object.body.clone();
            let at = which.index(b.len());
            b.splice(at..(at + body.len()).min(b.len()), body);
            object.body = b;
        } else {
            object.metadata.insert("signature".into(), String::from_utf8_lossy(&signature).into_owned());
        }
        let lookup = |fp: &str| (fp == t.fingerprint).then(|| t.der.clone());
        let report = validate(&Store(objects), &lookup, &request()).unwrap();
        prop_assert!(report.digests_valid + report.digests_invalid <= 3);
        prop_assert!(report.logs_valid <= 3);
    }
}
