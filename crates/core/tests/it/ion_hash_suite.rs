//! The official Ion Hash conformance suite (amazon-ion/ion-hash-test `ion_hash_tests.ion`),
//! every case, with the identity and MD5 hash functions it specifies.

use std::cell::RefCell;

use md5::{Digest as _, Md5};
use veritrail_core::ion_hash::{IonHasher, ion_hash_with};
use veritrail_core::ion_rs::{Element, IonType};

/// Identity "hash" that records every digest call, so the whole sequence can be compared.
#[derive(Default)]
struct RecordingIdentity {
    calls: RefCell<Vec<Vec<u8>>>,
}

impl IonHasher for RecordingIdentity {
    type Digest = Vec<u8>;
    fn digest(&self, data: &[u8]) -> Vec<u8> {
        self.calls.borrow_mut().push(data.to_vec());
        data.to_vec()
    }
}

struct Md5Hasher;

impl IonHasher for Md5Hasher {
    type Digest = Vec<u8>;
    fn digest(&self, data: &[u8]) -> Vec<u8> {
        Md5::digest(data).to_vec()
    }
}

fn bytes_of(sexp: &Element) -> Vec<u8> {
    sexp.as_sequence()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_i64().unwrap()).unwrap())
        .collect()
}

/// The `digest::` and `final_digest::` entries of an expectation, in order, and whether the
/// list ends in a `final_digest` (which checks only the last call).
fn expected_digests(expectation: &Element) -> (Vec<Vec<u8>>, bool) {
    let mut digests = Vec::new();
    let mut final_only = false;
    for entry in expectation.as_sequence().unwrap().iter() {
        let annotation = entry.annotations().first().unwrap().to_owned();
        match annotation.as_str() {
            "update" => {}
            "digest" => digests.push(bytes_of(entry)),
            "final_digest" => {
                digests.push(bytes_of(entry));
                final_only = true;
            }
            other => panic!("unknown expectation entry {other}::"),
        }
    }
    (digests, final_only)
}

fn case_input(case: &Element) -> (String, Element) {
    let st = case.as_struct().unwrap();
    if let Some(v) = st.get("ion") {
        let name = match case.annotations().first() {
            Some(a) => a.to_owned(),
            None => format!("{v}"),
        };
        (name, v.clone())
    } else {
        let raw = bytes_of(st.get("10n").unwrap());
        let mut stream = vec![0xE0, 0x01, 0x00, 0xEA];
        stream.extend_from_slice(&raw);
        let name = case
            .annotations()
            .first()
            .map(|a| a.to_owned())
            .unwrap_or_else(|| format!("10n {raw:02x?}"));
        (name, Element::read_one(stream).unwrap())
    }
}

#[test]
fn every_case_of_the_official_suite_passes() {
    let path = crate::shared_dir().join("vectors/ion-hash/ion_hash_tests.ion");
    let text = std::fs::read(&path).unwrap();
    let cases = Element::read_all(text).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in cases.iter() {
        assert_eq!(case.ion_type(), IonType::Struct);
        let (name, input) = case_input(case);
        let expect = case
            .as_struct()
            .unwrap()
            .get("expect")
            .unwrap()
            .as_struct()
            .unwrap();
        for (hasher_name, expectation) in expect.iter() {
            let (expected, final_only) = expected_digests(expectation);
            let actual: Vec<Vec<u8>> = match hasher_name.text().unwrap() {
                "identity" => {
                    let h = RecordingIdentity::default();
                    ion_hash_with(&h, &input);
                    h.calls.into_inner()
                }
                "md5" => vec![ion_hash_with(&Md5Hasher, &input)],
                other => panic!("case {name}: unknown hasher {other}"),
            };
            let ok = if final_only || hasher_name.text() == Some("md5") {
                actual.last() == expected.last()
            } else {
                actual == expected
            };
            if !ok {
                failures.push(format!(
                    "{name} [{}]\n  expected {:02x?}\n  actual   {:02x?}",
                    hasher_name.text().unwrap(),
                    expected,
                    actual
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 167 cases, 4 of them with an MD5 expectation too: none may be silently dropped.
    assert_eq!((cases.len(), checked), (167, 171));
}
