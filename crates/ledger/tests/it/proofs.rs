//! Digests, block proofs, revision proofs and consistency proofs made by the ledger verify
//! with `veritrail-verify`, through the same JSON the AWS CLI prints; tampering fails.

use veritrail_core::Hash32;
use veritrail_ledger::journal::Prepared;
use veritrail_ledger::{Ledger, LedgerError, Storage as _};
use veritrail_verify::{
    BlockError, RevisionError, parse_block, parse_digest, parse_revision, verify_block,
    verify_consistency, verify_inclusion, verify_revision,
};

use crate::sample_ledger;

fn document_ids(ledger: &Ledger, seq: u64) -> Vec<String> {
    let block = ledger.block_element(seq).unwrap();
    block
        .as_struct()
        .unwrap()
        .get("revisions")
        .unwrap()
        .as_list()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_struct()
                .unwrap()
                .get("metadata")
                .unwrap()
                .as_struct()
                .unwrap()
                .get("id")
                .unwrap()
                .as_text()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn every_block_and_revision_verifies_under_every_later_tip() {
    let (ledger, _) = sample_ledger("every", 20);
    assert_eq!(ledger.block_count(), 21);
    for tip in 0..ledger.block_count() {
        let digest_json = ledger.digest_at(Some(tip)).unwrap().to_get_digest_json();
        let digest = parse_digest(&digest_json).unwrap();
        for seq in 0..=tip {
            let block =
                parse_block(&ledger.block(seq, Some(tip)).unwrap().to_json("Block")).unwrap();
            let report = verify_block(&block.value, block.proof.as_deref(), &digest)
                .unwrap_or_else(|e| panic!("block {seq} tip {tip}: {e}"));
            assert_eq!(report.block.sequence_no, seq);
            veritrail_verify::check_block_strict(&block.value).unwrap();
            let leaf = ledger.stored_block_hash(seq).unwrap();
            verify_inclusion(
                &leaf,
                seq,
                tip + 1,
                block.proof.as_ref().unwrap(),
                &digest.digest,
            )
            .unwrap();
            for id in document_ids(&ledger, seq) {
                let rev = parse_revision(
                    &ledger
                        .revision(seq, &id, Some(tip))
                        .unwrap()
                        .to_json("Revision"),
                )
                .unwrap();
                verify_revision(&rev.value, rev.proof.as_deref(), &digest)
                    .unwrap_or_else(|e| panic!("revision {id} in block {seq}, tip {tip}: {e}"));
            }
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_any_flip_fails() {
    let (ledger, _) = sample_ledger("consistency", 24);
    let n = ledger.block_count();
    for new_tip in 0..n {
        let new = ledger.digest_at(Some(new_tip)).unwrap().digest;
        for old_tip in 0..=new_tip {
            let old = ledger.digest_at(Some(old_tip)).unwrap().digest;
            let proof = ledger.consistency(old_tip, new_tip).unwrap();
            verify_consistency(old_tip + 1, new_tip + 1, &old, &new, &proof)
                .unwrap_or_else(|e| panic!("{old_tip} -> {new_tip}: {e}"));
            for i in 0..proof.len() {
                for bit in [0, 77, 255] {
                    let mut bad = proof.clone();
                    bad[i] = bad[i].with_bit_flipped(bit);
                    assert!(
                        verify_consistency(old_tip + 1, new_tip + 1, &old, &new, &bad).is_err()
                    );
                }
            }
            if old_tip < new_tip {
                assert!(
                    verify_consistency(
                        old_tip + 1,
                        new_tip + 1,
                        &old.with_bit_flipped(1),
                        &new,
                        &proof
                    )
                    .is_err()
                );
                assert!(
                    verify_consistency(
                        old_tip + 1,
                        new_tip + 1,
                        &old,
                        &new.with_bit_flipped(1),
                        &proof
                    )
                    .is_err()
                );
            }
        }
    }
}

#[test]
fn tampered_proofs_and_digests_fail() {
    let (ledger, _) = sample_ledger("tamper-proof", 9);
    let digest = parse_digest(&ledger.digest().unwrap().to_get_digest_json()).unwrap();
    let id = document_ids(&ledger, 5).remove(0);
    let rev = ledger.revision(5, &id, None).unwrap();
    for i in 0..rev.proof.len() {
        let mut p = rev.proof.clone();
        p[i] = p[i].with_bit_flipped(200);
        let e = verify_revision(&rev.value, Some(&p), &digest).unwrap_err();
        assert!(matches!(e, RevisionError::ProofFold(_)));
    }
    let block = ledger.block(5, None).unwrap();
    let mut bad = digest.clone();
    bad.digest = bad.digest.with_bit_flipped(0);
    let e = verify_block(&block.value, Some(&block.proof), &bad).unwrap_err();
    assert!(matches!(e, BlockError::ProofFold(_)));
}

#[test]
fn bad_requests_get_clear_errors() {
    let (ledger, _) = sample_ledger("bad-requests", 3);
    assert_eq!(
        ledger.block(9, None).unwrap_err(),
        LedgerError::SequencePastTip { seq: 9, last: 3 }
    );
    assert_eq!(
        ledger.block(3, Some(2)).unwrap_err(),
        LedgerError::TipBeforeBlock { tip: 2, block: 3 }
    );
    assert_eq!(
        ledger.digest_at(Some(4)).unwrap_err(),
        LedgerError::TipPastEnd { tip: 4, last: 3 }
    );
    let e = ledger
        .revision(1, "AAAAAAAAAAAAAAAAAAAAAA", None)
        .unwrap_err();
    assert!(e.to_string().contains("has no revision in block 1"), "{e}");
    assert!(ledger.consistency(3, 1).is_err());
}

#[test]
fn the_journal_reopens_with_the_same_digest_and_keeps_growing() {
    let (ledger, path) = sample_ledger("reopen", 6);
    let before = ledger.digest().unwrap();
    drop(ledger);
    let mut reopened = crate::backend::open(&path, crate::deterministic(2)).unwrap();
    assert_eq!(reopened.digest().unwrap(), before);
    let ids = veritrail_core::id::SeededIds::new(5);
    let c = reopened.commit(crate::insert(&ids, 2, 77)).unwrap();
    assert_eq!(c.sequence_no, 7);
    let after = reopened.digest().unwrap();
    let proof = reopened.consistency(6, 7).unwrap();
    verify_consistency(7, 8, &before.digest, &after.digest, &proof).unwrap();
}

#[test]
fn the_same_inputs_give_the_same_journal() {
    let (a, _) = sample_ledger("det-a", 4);
    let (b, _) = sample_ledger("det-b", 4);
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    let d: Hash32 = a.digest().unwrap().digest;
    assert_ne!(d, Hash32([0; 32]));
}

#[test]
fn missing_and_foreign_files_are_named() {
    let dir = crate::temp_dir("foreign");
    let e = Ledger::open(&dir.join("nope.ledger"), Default::default()).unwrap_err();
    assert!(e.to_string().starts_with("no ledger at"), "{e}");
    let junk = dir.join("junk.ledger");
    std::fs::write(&junk, b"this is not sqlite at all, just some bytes of text").unwrap();
    let e = Ledger::open(&junk, Default::default()).unwrap_err();
    assert!(e.to_string().contains("is not a veritrail ledger"), "{e}");
    let e = Ledger::create(&dir.join("x.ledger"), "bad--name", Default::default()).unwrap_err();
    assert!(matches!(e, LedgerError::InvalidName(_)));
}

#[test]
fn group_commit_writes_all_blocks_or_none() {
    let (mut ledger, _) = sample_ledger("group", 2);
    let ids = veritrail_core::id::SeededIds::new(31);
    let before = ledger.block_count();
    let txs: Vec<_> = (0..5).map(|i| crate::insert(&ids, 3, 100 + i)).collect();
    let committed = ledger.commit_all(txs).unwrap();
    assert_eq!(
        committed.iter().map(|c| c.sequence_no).collect::<Vec<_>>(),
        (before..before + 5).collect::<Vec<_>>()
    );
    let digest = parse_digest(&ledger.digest().unwrap().to_get_digest_json()).unwrap();
    for c in &committed {
        let block = ledger.block(c.sequence_no, None).unwrap();
        verify_block(&block.value, Some(&block.proof), &digest).unwrap();
    }
    // One invalid transaction in the group: nothing of the group is written.
    let mut bad = vec![crate::insert(&ids, 1, 200), crate::insert(&ids, 1, 201)];
    bad[1].writes[0].statements = vec![9];
    assert!(matches!(
        ledger.commit_all(bad),
        Err(LedgerError::InvalidTransaction(_))
    ));
    assert_eq!(ledger.block_count(), before + 5);
    assert_eq!(ledger.digest().unwrap().digest, digest.digest);
}

#[test]
fn deferred_commits_share_one_sync_and_digests_wait_for_it() {
    let (mut ledger, path) = sample_ledger("deferred", 1);
    // PostgreSQL's commits are durable when they return: there is nothing to wait for.
    let grouped = ledger.storage().barrier().is_some();
    assert_eq!(grouped, !crate::backend::postgres());
    let ids = veritrail_core::id::SeededIds::new(37);
    let before = ledger.block_count();
    let digest_before = ledger.digest().unwrap();
    let syncs_before = ledger.syncs();
    let pending: Vec<_> = (0..4)
        .map(|i| {
            let tx = Prepared::new(crate::insert(&ids, 2, 500 + i)).unwrap();
            ledger.commit_deferred(tx).unwrap()
        })
        .collect();
    assert_eq!(ledger.block_count(), before + 4);
    if grouped {
        // Written, but not yet durable: neither digests nor proofs reach the new blocks.
        assert_eq!(ledger.durable_size(), before);
        assert_eq!(ledger.digest().unwrap().tip, digest_before.tip);
        assert!(matches!(
            ledger.block(before, None),
            Err(LedgerError::SequencePastTip { .. })
        ));
    }
    // Waiting for the last makes all four durable with one sync; the others then wait for nothing.
    pending[3].1.wait().unwrap();
    let one = u64::from(grouped);
    assert_eq!(ledger.syncs(), syncs_before + one);
    for (_, durable) in &pending {
        durable.wait().unwrap();
    }
    assert_eq!(ledger.syncs(), syncs_before + one);
    assert_eq!(ledger.durable_size(), before + 4);
    let digest = parse_digest(&ledger.digest().unwrap().to_get_digest_json()).unwrap();
    assert_eq!(ledger.digest().unwrap().tip, before + 3);
    for (c, _) in &pending {
        let block = ledger.block(c.sequence_no, None).unwrap();
        verify_block(&block.value, Some(&block.proof), &digest).unwrap();
    }
    drop(ledger);
    let reopened = crate::backend::open(&path, crate::deterministic(2)).unwrap();
    assert_eq!(reopened.digest().unwrap().digest, digest.digest);
}

#[test]
fn a_commit_stream_acknowledges_in_order_and_stops_at_the_first_bad_transaction() {
    let (mut ledger, path) = sample_ledger("stream", 1);
    let ids = veritrail_core::id::SeededIds::new(41);
    let before = ledger.block_count();
    let mut txs: Vec<_> = (0..10).map(|i| crate::insert(&ids, 40, 300 + i)).collect();
    txs[6].writes[0].statements = vec![9]; // invalid: the stream stops there
    let mut acked = Vec::new();
    let e = ledger
        .commit_stream(txs, |c| acked.push(c.sequence_no))
        .unwrap_err();
    assert!(matches!(e, LedgerError::InvalidTransaction(_)), "{e}");
    assert_eq!(acked, (before..before + 6).collect::<Vec<_>>());
    assert_eq!(ledger.block_count(), before + 6);
    // The in-memory tip matches storage, and the ledger goes on.
    let more = ledger.commit(crate::insert(&ids, 2, 999)).unwrap();
    assert_eq!(more.sequence_no, before + 6);
    let digest = ledger.digest().unwrap();
    drop(ledger);
    let reopened = crate::backend::open(&path, crate::deterministic(3)).unwrap();
    assert_eq!(reopened.digest().unwrap(), digest);
    let d = parse_digest(&digest.to_get_digest_json()).unwrap();
    for seq in before..=before + 6 {
        let b = reopened.block(seq, None).unwrap();
        verify_block(&b.value, Some(&b.proof), &d).unwrap();
    }
}

#[test]
fn a_ledger_of_another_schema_version_is_refused() {
    let (ledger, path) = sample_ledger("schema", 1);
    let bump = if crate::backend::postgres() {
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
    } else {
        "PRAGMA user_version = 99"
    };
    ledger.storage().danger_execute(bump).unwrap();
    drop(ledger);
    let e = crate::backend::open(&path, crate::deterministic(1)).unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
}
