//! Journal export in QLDB's layout, and import of it, checked with `veritrail-verify`.

use veritrail_core::time::UtcMillis;
use veritrail_ledger::export::{ExportFormat, ExportRequest, read_export};
use veritrail_ledger::{Ledger, LedgerOptions};
use veritrail_verify::{JournalVerifier, parse_digest, verify_block, verify_revision};

use crate::{sample_ledger, temp_dir};

fn request(format: ExportFormat) -> ExportRequest {
    ExportRequest {
        start: None,
        end: None,
        format,
        prefix: "exports/".into(),
        bucket: "audit-bucket".into(),
        blocks_per_object: 4,
    }
}

#[test]
fn an_export_reimports_into_a_ledger_with_the_same_digest_and_proofs() {
    let (ledger, _) = sample_ledger("export-src", 9);
    let original = ledger.digest().unwrap();
    for format in [ExportFormat::IonText, ExportFormat::IonBinary] {
        let dir = temp_dir(&format!("export-{}", format.name()));
        let summary = ledger.export_journal(&dir, &request(format)).unwrap();
        assert_eq!(summary.blocks, 10);
        assert_eq!(summary.keys.len(), 3, "{:?}", summary.keys);
        for key in &summary.keys {
            assert!(key.starts_with("exports/2019/09/16/19/"), "{key}");
            let name = key.rsplit('/').next().unwrap();
            assert!(name.starts_with(ledger.strand_id()), "{name}");
        }
        assert!(dir.join(&summary.started_manifest).is_file());
        let blocks = read_export(&dir).unwrap();
        assert_eq!(blocks.len(), 10);
        let mut v = JournalVerifier::veritrail();
        for b in &blocks {
            v.push(b).unwrap();
        }
        assert_eq!(v.root(), Some(original.digest));

        let imported = Ledger::import(
            &dir.join("copy.ledger"),
            "copy",
            &blocks,
            LedgerOptions::default(),
        )
        .unwrap();
        assert_eq!(imported.digest().unwrap(), original);
        assert_eq!(imported.imported_blocks().unwrap(), 10);
        let digest = parse_digest(&imported.digest().unwrap().to_get_digest_json()).unwrap();
        for seq in 0..10 {
            let b = imported.block(seq, None).unwrap();
            assert_eq!(
                b.value,
                ledger.block_element(seq).unwrap(),
                "block {seq} changed on the way"
            );
            verify_block(&b.value, Some(&b.proof), &digest).unwrap();
        }
        let block = imported.block_element(5).unwrap();
        let id = block
            .as_struct()
            .unwrap()
            .get("revisions")
            .unwrap()
            .as_list()
            .unwrap()
            .get(0)
            .unwrap()
            .as_struct()
            .unwrap()
            .get("metadata")
            .unwrap()
            .as_struct()
            .unwrap()
            .get("id")
            .unwrap()
            .as_text()
            .unwrap()
            .to_owned();
        let rev = imported.revision(5, &id, None).unwrap();
        verify_revision(&rev.value, Some(&rev.proof), &digest).unwrap();
    }
}

#[test]
fn time_windows_and_json_exports() {
    let (ledger, _) = sample_ledger("export-window", 6);
    let dir = temp_dir("export-window-out");
    // The sample clock steps 7 ms per reading; a window excludes the first blocks.
    let start = UtcMillis(1_568_662_625_344 + 30);
    let summary = ledger
        .export_journal(
            &dir,
            &ExportRequest {
                start: Some(start),
                ..request(ExportFormat::IonText)
            },
        )
        .unwrap();
    assert!(
        summary.blocks > 0 && summary.blocks < 7,
        "{}",
        summary.blocks
    );
    let e = ledger
        .export_journal(
            &dir,
            &ExportRequest {
                start: Some(UtcMillis(i64::MAX / 2)),
                ..request(ExportFormat::IonText)
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");

    let json_dir = temp_dir("export-json");
    let s = ledger
        .export_journal(&json_dir, &request(ExportFormat::Json))
        .unwrap();
    let first = std::fs::read_to_string(json_dir.join(&s.keys[0])).unwrap();
    let line = first.lines().next().unwrap();
    assert!(
        line.starts_with('{') && line.contains("\"blockHash\":\""),
        "{line}"
    );
    let e = read_export(&json_dir).unwrap_err();
    assert!(e.to_string().contains("JSON"), "{e}");
}
