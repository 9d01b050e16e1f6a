//! Ingesting a directory: idempotent replays, restarts, malformed and oversized events.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use crate::{
    clock, copy_into, crash_after_first_batch, ingest, ledger, run, shared, stored_ids, temp_dir,
    write_gz,
};

const LOG_A: &str =
    "invictus-aws-dataset/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json";
const LOG_B: &str =
    "invictus-aws-dataset/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json";

fn records_of(path: &std::path::Path) -> Vec<Json> {
    let v: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    match v {
        Json::Object(mut o) => match o.remove("Records") {
            Some(Json::Array(r)) => r,
            _ => panic!("no Records"),
        },
        Json::Array(r) => r,
        _ => panic!("not records"),
    }
}

/// Plain and gzipped log files; the distinct eventIDs in them.
fn input_dir(dir: &std::path::Path) -> BTreeSet<String> {
    let input = dir.join("in");
    std::fs::create_dir_all(input.join("nested")).unwrap();
    let a = copy_into(&input, &shared(LOG_A));
    let b = shared(LOG_B);
    write_gz(&input.join("nested/b.json.gz"), &std::fs::read(&b).unwrap());
    records_of(&a)
        .iter()
        .chain(records_of(&b).iter())
        .map(|r| r["eventID"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_replay_stores_every_record_once() {
    let dir = temp_dir("replay");
    let ids = input_dir(&dir);
    let db = ledger(&dir);
    let state = dir.join("state");

    let (first, heard) = ingest(&db, &dir.join("in"), &state);
    assert_eq!(first.rejected, 0, "{:?}", heard.rejected);
    assert_eq!(first.appended as usize, ids.len());
    assert_eq!(heard.batches.len(), 2);
    assert_eq!(stored_ids(&db), ids.iter().cloned().collect::<Vec<_>>());

    // The checkpoint has both files: a rerun reads nothing.
    let (again, heard) = ingest(&db, &dir.join("in"), &state);
    assert_eq!(
        (again.received, again.appended, heard.batches.len()),
        (0, 0, 0)
    );

    // Without the checkpoint, every record is read again and skipped as a duplicate.
    std::fs::remove_dir_all(&state).unwrap();
    let (replay, _) = ingest(&db, &dir.join("in"), &state);
    assert_eq!(replay.appended, 0);
    assert_eq!(replay.duplicates, first.received);
    assert_eq!(stored_ids(&db), ids.iter().cloned().collect::<Vec<_>>());
}

#[test]
fn a_crash_before_the_checkpoint_duplicates_nothing() {
    let dir = temp_dir("crash");
    let ids = input_dir(&dir);
    let db = ledger(&dir);
    let state = dir.join("state");
    // The first file's records are made durable, and the process "dies" before the
    // checkpoint is written (the batch is never acknowledged).
    crash_after_first_batch(&db, &dir.join("in"), &state);
    let durable = stored_ids(&db).len();
    assert!(durable > 0);

    let (rerun, _) = ingest(&db, &dir.join("in"), &state);
    assert_eq!(
        rerun.duplicates as usize, durable,
        "the unacknowledged file comes again"
    );
    assert_eq!(rerun.appended as usize, ids.len() - durable);
    assert_eq!(stored_ids(&db), ids.iter().cloned().collect::<Vec<_>>());
}

#[test]
fn bad_events_are_rejected_alone_and_the_rest_is_stored() {
    let dir = temp_dir("malformed");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let good = records_of(&shared(LOG_A));
    let mut no_id = good[2].clone();
    no_id.as_object_mut().unwrap().remove("eventID");
    let mut huge = good[3].clone();
    huge["requestParameters"] = json!({"padding": "x".repeat(200_000)});
    let lines = [
        good[0].to_string(),
        "{\"eventID\": \"cut short".to_owned(),
        no_id.to_string(),
        good[1].to_string(),
        huge.to_string(),
        "[1, 2]".to_owned(),
    ];
    std::fs::write(input.join("events.jsonl"), lines.join("\n")).unwrap();
    let db = ledger(&dir);
    let (summary, heard) = ingest(&db, &input, &dir.join("state"));

    assert_eq!(summary.received, 6);
    assert_eq!(summary.appended, 2);
    assert_eq!(summary.rejected, 4);
    let reasons: Vec<String> = heard.rejected.iter().map(ToString::to_string).collect();
    assert!(
        reasons[0].contains("line 2") && reasons[0].contains("not valid JSON"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("line 3") && reasons[1].contains("eventID"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("line 5") && reasons[2].contains("limit"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].contains("line 6") && reasons[3].contains("object"),
        "{reasons:?}"
    );
    let mut expected = vec![
        good[0]["eventID"].as_str().unwrap().to_owned(),
        good[1]["eventID"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(stored_ids(&db), expected);
}

#[test]
fn one_event_from_eventbridge_and_a_log_file_is_one_record() {
    let dir = temp_dir("two-sources");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let log = copy_into(&input, &shared(LOG_A));
    let records = records_of(&log);
    // The EventBridge events of the first three records, as an API destination or a queue
    // would carry them; one without `recipientAccountId` in its detail gets the envelope's.
    let events: Vec<String> = records[..3]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut detail = r.clone();
            if i == 0 {
                detail.as_object_mut().unwrap().remove("recipientAccountId");
            }
            json!({"version": "0", "id": format!("eb-{i}"), "detail-type": "AWS API Call via CloudTrail",
                   "source": "aws.s3", "account": r["recipientAccountId"], "time": r["eventTime"],
                   "region": r["awsRegion"], "resources": [], "detail": detail})
            .to_string()
        })
        .collect();
    std::fs::write(input.join("eventbridge.jsonl"), events.join("\n")).unwrap();
    let db = ledger(&dir);
    let (summary, heard) = ingest(&db, &input, &dir.join("state"));
    assert_eq!(summary.rejected, 0, "{:?}", heard.rejected);
    assert_eq!(summary.received as usize, records.len() + 3);
    assert_eq!(summary.duplicates, 3);
    assert_eq!(summary.appended as usize, records.len());

    // The stored record is the CloudTrail record, not the envelope.
    let id = records[0]["eventID"].as_str().unwrap();
    let stored = crate::rows(
        &db,
        &format!("SELECT * FROM AuditRecords AS r WHERE r.eventID = '{id}'"),
    );
    assert_eq!(stored.len(), 1);
    assert!(stored[0].get("detail").is_none());
    assert_eq!(
        stored[0]["recipientAccountId"],
        records[0]["recipientAccountId"]
    );
}

#[test]
fn the_counters_render_as_prometheus_text() {
    let dir = temp_dir("metrics");
    let ids = input_dir(&dir);
    let db = ledger(&dir);
    let (_, _, counters) = run(&db, &dir.join("in"), &dir.join("state"), 50, None);
    // The invictus records are of 2023-07-10; the manual clock is at 2026-01-01.
    let text = veritrail_processor::metrics::render(&counters, clock().as_ref(), None);
    assert!(!text.contains("checkpoint_age"), "no checkpoint, no gauge");
    let signed = veritrail_core::time::UtcMillis(1_767_225_600_000 - 90_000);
    let with_checkpoint =
        veritrail_processor::metrics::render(&counters, clock().as_ref(), Some(signed));
    assert!(
        with_checkpoint.contains("veritrail_processor_checkpoint_age_seconds 90\n"),
        "{with_checkpoint}"
    );
    let value = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("veritrail_processor_records_appended_total") as usize,
        ids.len()
    );
    assert_eq!(
        value("veritrail_processor_records_received_total") as usize,
        ids.len()
    );
    assert_eq!(value("veritrail_processor_records_rejected_total"), 0);
    assert_eq!(value("veritrail_processor_batches_total"), 2);
    assert!(value("veritrail_processor_lag_seconds") > 86_400 * 365);
    assert_eq!(
        value("veritrail_processor_ledger_tip") as u64,
        db.ledger().block_count() - 1
    );
    assert!(
        text.contains("# TYPE veritrail_processor_rule_matches counter"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}
