//! The real vehicle-registration GetDigest / GetBlock / GetRevision output, and bit flips of it.

use veritrail_core::Hash32;
use veritrail_core::ion_rs::Element;
use veritrail_verify::{
    BlockError, Digest, RevisionError, parse_block, parse_digest, parse_revision, verify_block,
    verify_chain_link, verify_revision,
};

fn read(name: &str) -> String {
    let path = format!(
        "{}/../../testdata/qldb/vehicle-registration/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn digest() -> Digest {
    parse_digest(&read("get-digest.json")).unwrap()
}

#[test]
fn the_real_revision_verifies() {
    let rev = parse_revision(&read("get-revision.json")).unwrap();
    let report = verify_revision(&rev.value, rev.proof.as_deref(), &digest()).unwrap();
    assert_eq!(
        report.document_id.as_deref(),
        Some("JUJgkIcNbhS2goq8RqLuZ4")
    );
    assert_eq!(report.version, Some(3));
    assert_eq!(report.block.sequence_no, 100);
    assert_eq!(report.proof_len, 10);
    assert_eq!(
        report.revision_hash.to_base64(),
        "mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg="
    );
}

#[test]
fn the_real_block_verifies() {
    let block = parse_block(&read("get-block.json")).unwrap();
    let report = verify_block(&block.value, block.proof.as_deref(), &digest()).unwrap();
    assert_eq!(
        report.block_hash.to_base64(),
        "NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc="
    );
    assert_eq!(report.revisions, 1);
    assert_eq!(report.proof_len, 7);
}

#[test]
fn real_qldb_blocks_pass_qldb_rules_but_not_veritrail_strict_rules() {
    let block = parse_block(&read("get-block.json")).unwrap();
    veritrail_verify::check_block(&block.value).unwrap();
    let e = veritrail_verify::check_block_strict(&block.value).unwrap_err();
    assert_eq!(e.check(), "block info hash");
}

#[test]
fn every_bit_of_the_digest_matters() {
    let rev = parse_revision(&read("get-revision.json")).unwrap();
    let block = parse_block(&read("get-block.json")).unwrap();
    let good = digest();
    for bit in 0..256 {
        let bad = Digest {
            digest: good.digest.with_bit_flipped(bit),
            tip: good.tip.clone(),
        };
        let e = verify_revision(&rev.value, rev.proof.as_deref(), &bad).unwrap_err();
        assert!(matches!(e, RevisionError::ProofFold(_)), "bit {bit}: {e}");
        let e = verify_block(&block.value, block.proof.as_deref(), &bad).unwrap_err();
        assert!(matches!(e, BlockError::ProofFold(_)), "bit {bit}: {e}");
    }
}

#[test]
fn every_bit_of_every_proof_hash_matters() {
    let rev = parse_revision(&read("get-revision.json")).unwrap();
    let block = parse_block(&read("get-block.json")).unwrap();
    let d = digest();
    let rev_proof = rev.proof.unwrap();
    let block_proof = block.proof.unwrap();
    for i in 0..rev_proof.len() {
        for bit in 0..256 {
            let mut p = rev_proof.clone();
            p[i] = p[i].with_bit_flipped(bit);
            let e = verify_revision(&rev.value, Some(&p), &d).unwrap_err();
            assert!(
                matches!(e, RevisionError::ProofFold(_)),
                "proof[{i}] bit {bit}: {e}"
            );
        }
    }
    for i in 0..block_proof.len() {
        for bit in 0..256 {
            let mut p = block_proof.clone();
            p[i] = p[i].with_bit_flipped(bit);
            let e = verify_block(&block.value, Some(&p), &d).unwrap_err();
            assert!(
                matches!(e, BlockError::ProofFold(_)),
                "proof[{i}] bit {bit}: {e}"
            );
        }
    }
}

/// Flips every bit of the revision's `data` as Ion text. A flip either makes the text unreadable
/// (an input error) or changes the value, which must change the revision hash.
#[test]
fn every_bit_of_the_revision_data_matters() {
    let json: serde_json::Value = serde_json::from_str(&read("get-revision.json")).unwrap();
    let text = json["Revision"]["IonText"].as_str().unwrap();
    let start = text.find("data:{").unwrap() + "data:".len();
    let end = text.find(",metadata:").unwrap();
    let d = digest();
    let proof = parse_revision(&read("get-revision.json"))
        .unwrap()
        .proof
        .unwrap();
    let (mut hash_mismatches, mut unreadable) = (0, 0);
    for pos in start..end {
        for bit in 0..8 {
            let mut bytes = text.as_bytes().to_vec();
            bytes[pos] ^= 1 << bit;
            let Ok(tampered) = Element::read_one(&bytes[..]) else {
                unreadable += 1;
                continue;
            };
            match verify_revision(&tampered, Some(&proof), &d) {
                Err(RevisionError::RevisionHash { .. }) => hash_mismatches += 1,
                Err(RevisionError::Malformed(_)) => unreadable += 1,
                other => panic!("flip at byte {pos} bit {bit} was not caught: {other:?}"),
            }
        }
    }
    assert_eq!(hash_mismatches + unreadable, (end - start) * 8);
    assert!(
        hash_mismatches > 1000,
        "{hash_mismatches} flips reached the hash check"
    );
}

#[test]
fn tampered_block_parts_name_what_broke() {
    let block_json: serde_json::Value = serde_json::from_str(&read("get-block.json")).unwrap();
    let text = block_json["Block"]["IonText"].as_str().unwrap().to_owned();
    let d = digest();
    let proof = parse_block(&read("get-block.json")).unwrap().proof.unwrap();
    let check = |tampered: &str| {
        let value = Element::read_one(tampered.as_bytes()).unwrap();
        verify_block(&value, Some(&proof), &d).unwrap_err().check()
    };
    // Data of the revision changes: the revision hash no longer matches.
    assert_eq!(
        check(&text.replace("City:\"Everett\"", "City:\"Seattle\"")),
        "revision hash"
    );
    // The statement text changes: H(transactionInfo) is no longer listed.
    assert_eq!(
        check(&text.replace("AS r \\nWHERE", "AS q \\nWHERE")),
        "transaction info hash"
    );
    // A different previous block: the block hash no longer matches.
    assert_eq!(
        check(&text.replace(
            "7kewBXhpdbClcZKxhVmpoMHpUGOJtWQD0iY2LPfZkYA=",
            "8kewBXhpdbClcZKxhVmpoMHpUGOJtWQD0iY2LPfZkYA="
        )),
        "block hash"
    );
    // A changed internal entry: the entries hash no longer matches.
    assert_eq!(
        check(&text.replace(
            "eRSwnmAM7WWANWDd5iGOyK+T4tDXyzUq6HZ/0fgLHos=",
            "fRSwnmAM7WWANWDd5iGOyK+T4tDXyzUq6HZ/0fgLHos="
        )),
        "entries hash"
    );
    // The revision's stated hash is rewritten: it no longer matches its metadata and data.
    assert_eq!(
        check(&text.replace(
            "hash:{{mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=}},data",
            "hash:{{AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}},data"
        )),
        "revision hash"
    );
    // A block at a later sequence number than the digest's tip.
    assert_eq!(
        check(&text.replace("sequenceNo:100}", "sequenceNo:124}")),
        "digest tip"
    );
}

/// Builds the block that follows the real block 100, with hashes made by the QLDB rules.
fn next_block(previous_hash: &str) -> String {
    use veritrail_core::qldb::{block_hash, revision_hash};
    use veritrail_core::{ion_hash, merkle_root};
    let metadata = r#"{id:"JUJgkIcNbhS2goq8RqLuZ4",version:4,txTime:2019-09-16T19:38:00.001Z,txId:"GnQeJBAicTX0Ah32ZnVtSX"}"#;
    let data = r#"{VIN:"1N4AL11D75C109151",City:"Tacoma"}"#;
    let info = r#"{statements:[{statement:"UPDATE VehicleRegistration SET City = 'Tacoma'",startTime:2019-09-16T19:37:59.000Z,statementDigest:{{jcgPX2vsOJ0waum4qmDYtn1pCAT9xKNIzA+2k4R+mxA=}}}],documents:{JUJgkIcNbhS2goq8RqLuZ4:{tableName:"VehicleRegistration",tableId:"BFJKdXgzt9oF4wjMbuxy4G",statements:[0]}}}"#;
    let e = |t: &str| Element::read_one(t).unwrap();
    let rev = revision_hash(&e(metadata), Some(&ion_hash(&e(data))));
    let entries = [rev, ion_hash(&e(info))];
    let entries_hash = merkle_root(&entries).unwrap();
    let prev = Hash32::from_base64(previous_hash).unwrap();
    let bh = block_hash(&entries_hash, Some(&prev));
    let addr = r#"{strandId:"KmA3ZZca7vAIiJAK9S5Iwl",sequenceNo:101}"#;
    format!(
        "{{blockAddress:{addr},transactionId:\"GnQeJBAicTX0Ah32ZnVtSX\",blockTimestamp:2019-09-16T19:38:00.010Z,\
         blockHash:{{{{{bh}}}}},entriesHash:{{{{{entries_hash}}}}},previousBlockHash:{{{{{prev}}}}},\
         entriesHashList:[{{{{{}}}}},{{{{{}}}}}],transactionInfo:{info},\
         revisions:[{{blockAddress:{addr},hash:{{{{{rev}}}}},data:{data},metadata:{metadata}}}]}}",
        entries[0], entries[1]
    )
}

#[test]
fn chain_links_are_checked() {
    let block = parse_block(&read("get-block.json")).unwrap().value;
    let real_hash = "NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc=";
    let next = Element::read_one(next_block(real_hash).as_bytes()).unwrap();
    verify_chain_link(&block, &next).unwrap();
    // A block cannot follow itself, nor precede its predecessor.
    let e = verify_chain_link(&block, &block).unwrap_err();
    assert!(e.to_string().contains("does not follow"), "{e}");
    assert!(verify_chain_link(&next, &block).is_err());
    // A next block that is internally consistent but names another predecessor.
    let other = Hash32::from_base64(real_hash)
        .unwrap()
        .with_bit_flipped(3)
        .to_base64();
    let forged = Element::read_one(next_block(&other).as_bytes()).unwrap();
    let e = verify_chain_link(&block, &forged).unwrap_err();
    assert!(
        matches!(
            e,
            veritrail_verify::ChainError::PreviousBlockHash {
                sequence_no: 101,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn hashes_are_base64_of_32_bytes() {
    assert!(Hash32::from_base64("6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=").is_ok());
}
