//! A replica brought up to date (`verification::update_replica`): from its tip on, overlapping
//! or not, with the source's digest at every tip; and what it refuses (another ledger, a fork,
//! a gap, a block changed in transit, a ledger that has blocks of its own), leaving the replica
//! as it was.

use veritrail_core::ion_rs::Element;
use veritrail_ledger::export::{ExportFormat, ExportRequest, read_export};
use veritrail_ledger::files::LedgerFiles;
use veritrail_ledger::verification::{
    Broken, VerifyError, import_blocks, update_replica, verify_ledger,
};
use veritrail_ledger::{Ledger, LedgerOptions};

use veritrail_core::id::SeededIds;

use crate::{deterministic, insert, sample_ledger, temp_dir};

/// Every block of `ledger`, as its export holds them.
fn blocks_of(ledger: &Ledger, name: &str) -> Vec<Element> {
    let dir = temp_dir(name);
    ledger
        .export_journal(
            &dir,
            &ExportRequest {
                start: None,
                end: None,
                format: ExportFormat::IonBinary,
                prefix: String::new(),
                bucket: "b".into(),
                blocks_per_object: 8,
            },
        )
        .unwrap();
    let blocks = read_export(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    blocks
}

fn digest_of(files: &LedgerFiles) -> veritrail_ledger::journal::LedgerDigest {
    Ledger::open_read_only(&files.journal(), LedgerOptions::default())
        .unwrap()
        .digest()
        .unwrap()
}

fn broken(e: VerifyError) -> String {
    match e {
        VerifyError::Broken(Broken::Block(m)) => m,
        other => panic!("expected a broken block, got {other:?}"),
    }
}

#[test]
fn a_replica_follows_its_source_block_for_block_and_refuses_anything_else() {
    let (source, _) = sample_ledger("replica-source", 19);
    let blocks = blocks_of(&source, "replica-export");
    assert_eq!(blocks.len(), 20);
    let dir = temp_dir("replica");
    let files = LedgerFiles::new("copy", &dir, None);
    import_blocks(&files, blocks[..7].to_vec(), None, LedgerOptions::default()).unwrap();

    // Overlapping the tip: blocks 5 and 6 are compared, 7 to 12 appended.
    let r = update_replica(&files, blocks[5..13].to_vec(), LedgerOptions::default()).unwrap();
    assert_eq!(r.blocks_before, 7);
    assert_eq!(r.appended, (7..13).collect::<Vec<u64>>());
    assert_eq!(r.tip(), 12);
    let at_12 = source.digest_at(Some(12)).unwrap();
    assert_eq!(r.digest, at_12.digest);
    assert_eq!(digest_of(&files), at_12);

    // Nothing new: nothing appended.
    let r = update_replica(&files, blocks[..13].to_vec(), LedgerOptions::default()).unwrap();
    assert!(r.appended.is_empty());
    assert_eq!(r.digest, at_12.digest);

    // A gap: blocks 13 and 14 are not in the source.
    let e = update_replica(&files, blocks[15..].to_vec(), LedgerOptions::default()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::Input(m) if m.contains("blocks 13 to 14")),
        "{e:?}"
    );

    // A block changed in transit after the tip: refused, the replica unchanged.
    let mut changed = blocks[13..].to_vec();
    changed[2] = Element::read_one(changed[2].to_string().replace("doc 14-", "doc 99-")).unwrap();
    let e = update_replica(&files, changed, LedgerOptions::default()).unwrap_err();
    let m = broken(e);
    assert!(
        m.contains("block 15") && m.contains("nothing was written"),
        "{m}"
    );
    assert_eq!(digest_of(&files), at_12);

    // Another ledger (its block 0 differs), and a fork at the replica's tip.
    let other_dir = temp_dir("replica-other");
    let mut other =
        Ledger::create(&other_dir.join("o.ledger"), "sample", deterministic(2)).unwrap();
    let ids = SeededIds::new(98);
    for b in 0..19 {
        other.commit(insert(&ids, 2, b)).unwrap();
    }
    let mut other_blocks = blocks_of(&other, "replica-other-export");
    let m =
        broken(update_replica(&files, other_blocks.clone(), LedgerOptions::default()).unwrap_err());
    assert!(m.contains("block 0") && m.contains("another ledger"), "{m}");
    other_blocks.drain(..12);
    let m = broken(update_replica(&files, other_blocks, LedgerOptions::default()).unwrap_err());
    assert!(m.contains("block 12") && m.contains("forked"), "{m}");
    assert_eq!(digest_of(&files), at_12);

    // Starting right after the tip: the chain link from block 12 is what ties it on.
    let r = update_replica(&files, blocks[13..].to_vec(), LedgerOptions::default()).unwrap();
    assert_eq!(r.appended, (13..20).collect::<Vec<u64>>());
    assert_eq!(digest_of(&files), source.digest().unwrap());
    assert_eq!(r.digest, source.digest().unwrap().digest);
    let verified = verify_ledger(&files, None, None, |_, _| {}).unwrap();
    assert_eq!(verified.blocks, 20);

    // A ledger with blocks of its own is no longer a replica.
    let own = LedgerFiles::new("own", &dir, None);
    Ledger::create(&own.journal(), "own", LedgerOptions::default()).unwrap();
    let e = update_replica(&own, blocks.clone(), LedgerOptions::default()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::Input(m) if m.contains("not a replica")),
        "{e:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other_dir);
}
