//! Every record of the real invictus CloudTrail dataset parses, and its original JSON comes
//! back exactly from the stored (Ion) form, through both Ion text and Ion binary.

use serde_json::Value as Json;
use veritrail_core::AuditRecord;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::record::parse_log_file;

#[test]
fn every_record_parses_and_round_trips_losslessly() {
    let dir = crate::shared_dir().join("data/cloudtrail/invictus-aws-dataset");
    let mut total = 0;
    let mut with_errors = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let originals: Json = serde_json::from_str(&text).unwrap();
        let records = parse_log_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let originals = originals["Records"].as_array().unwrap();
        assert_eq!(records.len(), originals.len());
        for (record, original) in records.iter().zip(originals) {
            let stored = record.to_ion();
            let binary = stored.encode_as(v1_0::Binary).unwrap();
            let from_binary = Element::read_one(binary).unwrap();
            let text_form = stored.encode_as(v1_0::Text).unwrap();
            let from_text = Element::read_one(text_form).unwrap();
            for back in [&stored, &from_binary, &from_text] {
                let recovered = AuditRecord::from_ion(back).unwrap();
                assert_eq!(&Json::Object(recovered.original().clone()), original);
                assert_eq!(&recovered, record);
            }
            if !record.outcome.succeeded() {
                with_errors += 1;
            }
            total += 1;
        }
    }
    assert!(total >= 2900, "expected about 2,900 records, read {total}");
    assert!(with_errors > 0);
}
