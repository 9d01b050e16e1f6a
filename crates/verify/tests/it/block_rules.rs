//! Which rules a block is held to: a block laid out as veritrail writes blocks must also cover
//! its unhashed header fields, recognised from its hashed parts only; real QLDB blocks keep
//! QLDB's rules.

use veritrail_core::ion_rs::Element;
use veritrail_core::qldb::{block_hash, revision_hash};
use veritrail_core::{Hash32, ion_hash, merkle_root};
use veritrail_verify::{
    BlockAddress, BlockError, BlockRules, Digest, parse_block, parse_digest, verify_block,
    verify_block_with, verify_chain_link,
};

fn blob(h: &Hash32) -> Element {
    Element::blob(h.as_bytes())
}

fn ion(text: &str) -> Element {
    Element::read_one(text.as_bytes()).unwrap()
}

/// A block in veritrail's layout, `[revisionsRoot, H(transactionInfo), H(blockInfo)]`, built by
/// hand from the published rules (this crate never runs the ledger's code).
fn veritrail_block(seq: u64, timestamp: &str, previous: Option<Hash32>) -> Element {
    let address = ion(&format!(
        "{{strandId:\"Strand0000000000000000\",sequenceNo:{seq}}}"
    ));
    let tx = "Tx000000000000000000aa";
    let metadata = ion(&format!(
        "{{id:\"Doc0000000000000000000\",version:{seq},txTime:{timestamp},txId:\"{tx}\"}}"
    ));
    let data = ion(&format!("{{n:{seq}}}"));
    let revision = revision_hash(&metadata, Some(&ion_hash(&data)));
    let info = ion(
        r#"{statements:[{statement:"INSERT INTO T ?",startTime:2024-01-01T00:00:00Z}],documents:{}}"#,
    );
    let block_info = ion(&format!(
        "{{blockAddress:{address},transactionId:\"{tx}\",blockTimestamp:{timestamp}}}"
    ));
    let entries = [revision, ion_hash(&info), ion_hash(&block_info)];
    let entries_hash = merkle_root(&entries).unwrap();
    let hash = block_hash(&entries_hash, previous.as_ref());
    let mut st = Element::struct_builder()
        .with_field("blockAddress", address.clone())
        .with_field("transactionId", Element::string(tx))
        .with_field("blockTimestamp", ion(timestamp))
        .with_field("blockHash", blob(&hash))
        .with_field("entriesHash", blob(&entries_hash));
    if let Some(p) = &previous {
        st = st.with_field("previousBlockHash", blob(p));
    }
    let revision = Element::struct_builder()
        .with_field("blockAddress", address)
        .with_field("hash", blob(&revision))
        .with_field("data", data)
        .with_field("metadata", metadata)
        .build();
    Element::from(
        st.with_field(
            "entriesHashList",
            Element::from(
                Element::sequence_builder()
                    .push_all(entries.iter().map(blob))
                    .build_list(),
            ),
        )
        .with_field("transactionInfo", info)
        .with_field(
            "revisions",
            Element::from(
                Element::sequence_builder()
                    .push(Element::from(revision))
                    .build_list(),
            ),
        )
        .build(),
    )
}

fn with_field(block: &Element, name: &str, value: Element) -> Element {
    let st = block.as_struct().unwrap();
    let mut b = Element::struct_builder();
    for (n, v) in st.iter() {
        let n = n.text().unwrap();
        b = b.with_field(n, if n == name { value.clone() } else { v.clone() });
    }
    Element::from(b.build())
}

/// A one-block journal: its digest is the block's hash, with an empty proof.
fn digest_of(block: &Element) -> Digest {
    let st = block.as_struct().unwrap();
    Digest {
        digest: Hash32::from_slice(st.get("blockHash").unwrap().as_blob().unwrap()).unwrap(),
        tip: BlockAddress {
            strand_id: "Strand0000000000000000".into(),
            sequence_no: 0,
        },
    }
}

#[test]
fn a_veritrail_block_is_held_to_veritrail_rules() {
    let block = veritrail_block(0, "2024-01-01T00:00:00.000Z", None);
    let digest = digest_of(&block);
    let report = verify_block(&block, Some(&[]), &digest).unwrap();
    assert_eq!(report.rules, BlockRules::Veritrail);

    // The timestamp, which no other hash covers, is now covered: a changed one fails, though
    // the proof still holds. (transactionId and blockAddress are also in each revision.)
    let tampered = with_field(&block, "blockTimestamp", ion("2024-01-01T00:00:01.000Z"));
    let e = verify_block(&tampered, Some(&[]), &digest).unwrap_err();
    assert!(matches!(e, BlockError::BlockInfoNotListed { .. }), "{e}");
    assert!(e.to_string().contains("one of them was changed"), "{e}");
    // QLDB's rules alone cannot see it, which is the gap this closes.
    verify_block_with(&tampered, Some(&[]), &digest, BlockRules::Qldb).unwrap();
    let moved = with_field(
        &block,
        "transactionId",
        Element::string("Tx000000000000000000bb"),
    );
    assert!(verify_block(&moved, Some(&[]), &digest).is_err());
}

#[test]
fn the_layout_is_recognised_from_hashed_parts_only() {
    // Changing the hashed parts to look like another layout breaks the hashes instead.
    let block = veritrail_block(0, "2024-01-01T00:00:00.000Z", None);
    let digest = digest_of(&block);
    let st = block.as_struct().unwrap();
    let mut entries: Vec<Element> = st
        .get("entriesHashList")
        .unwrap()
        .as_sequence()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    entries.reverse();
    let reordered = with_field(
        &with_field(&block, "blockTimestamp", ion("2030-01-01T00:00:00Z")),
        "entriesHashList",
        Element::from(Element::sequence_builder().push_all(entries).build_list()),
    );
    let e = verify_block(&reordered, Some(&[]), &digest).unwrap_err();
    assert!(matches!(e, BlockError::EntriesHash { .. }), "{e}");
}

#[test]
fn real_qldb_blocks_keep_qldb_rules_and_chains_check_both() {
    let read = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/../../testdata/qldb/vehicle-registration/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let block = parse_block(&read("get-block.json")).unwrap();
    let digest = parse_digest(&read("get-digest.json")).unwrap();
    let report = verify_block(&block.value, block.proof.as_deref(), &digest).unwrap();
    assert_eq!(report.rules, BlockRules::Qldb);
    assert_eq!(report.rules.name(), "qldb");
    let e = verify_block_with(
        &block.value,
        block.proof.as_deref(),
        &digest,
        BlockRules::Veritrail,
    )
    .unwrap_err();
    assert_eq!(e.check(), "block info hash");

    // Chain links apply the same recognition to both blocks.
    let b0 = veritrail_block(0, "2024-01-01T00:00:00.000Z", None);
    let h0 = digest_of(&b0).digest;
    let b1 = veritrail_block(1, "2024-01-01T00:00:01.000Z", Some(h0));
    verify_chain_link(&b0, &b1).unwrap();
    let moved = with_field(&b1, "blockTimestamp", ion("2023-01-01T00:00:00Z"));
    assert!(verify_chain_link(&b0, &moved).is_err());
}
