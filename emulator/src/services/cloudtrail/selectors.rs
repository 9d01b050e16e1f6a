//! Event selectors: which recorded calls a trail delivers. Basic selectors (read/write type,
//! management events, data resources by ARN prefix) and advanced field selectors (`Equals`,
//! `NotEquals`, `StartsWith`, `NotStartsWith`, `EndsWith`, `NotEndsWith` over the fields
//! CloudTrail lets them name), and the trail's regions.

use serde_json::Value;

use crate::services::cloudtrail::model::{Recorded, Selectors, Trail};

/// Whether the trail's event selectors take this record.
pub fn selected(trail: &Trail, r: &Recorded) -> bool {
    if !trail.multi_region && r.region != trail.region {
        return false;
    }
    let v = &r.value;
    let management = v["managementEvent"] == Value::Bool(true);
    let read_only = v["readOnly"] == Value::Bool(true);
    match &trail.selectors {
        Selectors::Advanced(list) => list.as_array().is_some_and(|selectors| {
            selectors.iter().any(|s| {
                s.get("FieldSelectors")
                    .and_then(Value::as_array)
                    .is_some_and(|fields| fields.iter().all(|f| advanced_field_matches(f, v)))
            })
        }),
        Selectors::Basic(list) => list.as_array().is_some_and(|selectors| {
            selectors.iter().any(|s| {
                let rw = match s.get("ReadWriteType").and_then(Value::as_str) {
                    Some("ReadOnly") => read_only,
                    Some("WriteOnly") => !read_only,
                    _ => true,
                };
                let wanted = if management {
                    s.get("IncludeManagementEvents").and_then(Value::as_bool) != Some(false)
                } else {
                    s.get("DataResources")
                        .and_then(Value::as_array)
                        .is_some_and(|d| d.iter().any(|d| data_resource_matches(d, v)))
                };
                rw && wanted
            })
        }),
    }
}

/// A basic selector's data resource (`AWS::S3::Object` with ARN prefixes, or QLDB ledgers).
fn data_resource_matches(d: &Value, record: &Value) -> bool {
    let kind = d.get("Type").and_then(Value::as_str).unwrap_or("");
    let arn = match (kind, record["eventSource"].as_str()) {
        ("AWS::S3::Object", Some("s3.amazonaws.com")) => format!(
            "arn:aws:s3:::{}/{}",
            record["requestParameters"]["bucketName"]
                .as_str()
                .unwrap_or(""),
            record["requestParameters"]["key"].as_str().unwrap_or("")
        ),
        ("AWS::QLDB::Ledger", Some("qldb.amazonaws.com")) => "arn:aws:qldb".to_owned(),
        _ => return false,
    };
    d.get("Values").and_then(Value::as_array).is_some_and(|vs| {
        vs.iter()
            .filter_map(Value::as_str)
            .any(|p| arn.starts_with(p.trim_end_matches('*')))
    })
}

/// One advanced field selector over the fields CloudTrail lets them name.
fn advanced_field_matches(f: &Value, record: &Value) -> bool {
    let actual = match f.get("Field").and_then(Value::as_str) {
        Some("eventCategory") => record["eventCategory"].as_str().map(str::to_owned),
        Some("readOnly") => record["readOnly"].as_bool().map(|b| b.to_string()),
        Some("eventSource") => record["eventSource"].as_str().map(str::to_owned),
        Some("eventName") => record["eventName"].as_str().map(str::to_owned),
        Some("resources.type") => record["resources"][0]["type"].as_str().map(str::to_owned),
        Some("resources.ARN") => record["resources"][0]["ARN"].as_str().map(str::to_owned),
        // Fields veritrail does not model select everything.
        _ => return true,
    };
    let actual = actual.unwrap_or_default();
    let list = |k: &str| -> Vec<&str> {
        f.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let (eq, ne, sw, nsw, ew, new) = (
        list("Equals"),
        list("NotEquals"),
        list("StartsWith"),
        list("NotStartsWith"),
        list("EndsWith"),
        list("NotEndsWith"),
    );
    (eq.is_empty() || eq.contains(&actual.as_str()))
        && !ne.contains(&actual.as_str())
        && (sw.is_empty() || sw.iter().any(|p| actual.starts_with(p)))
        && !nsw.iter().any(|p| actual.starts_with(p))
        && (ew.is_empty() || ew.iter().any(|p| actual.ends_with(p)))
        && !new.iter().any(|p| actual.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::cloudtrail::model::Delivery;
    use serde_json::json;
    use veritrail_core::time::UtcMillis;

    fn trail(selectors: Selectors) -> Trail {
        Trail {
            name: "t".into(),
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: None,
            sns_topic: None,
            validation: true,
            global_events: true,
            multi_region: false,
            kms_key_id: None,
            log_group_arn: None,
            log_role_arn: None,
            logging: true,
            start_logging: None,
            stop_logging: None,
            selectors,
            custom_selectors: true,
            tags: Default::default(),
            delivery: Delivery::default(),
        }
    }

    fn record(
        region: &str,
        source: &str,
        name: &str,
        management: bool,
        read_only: bool,
    ) -> Recorded {
        Recorded {
            seq: 0,
            at: UtcMillis(0),
            region: region.into(),
            value: json!({
                "eventSource": source, "eventName": name, "readOnly": read_only,
                "managementEvent": management,
                "eventCategory": if management { "Management" } else { "Data" },
                "requestParameters": {"bucketName": "evidence", "key": "a/b.txt"},
            }),
        }
    }

    #[test]
    fn event_selectors_choose_what_a_trail_delivers() {
        let put = record("us-east-1", "s3.amazonaws.com", "PutObject", false, false);
        let get = record("us-east-1", "s3.amazonaws.com", "GetObject", false, true);
        let create = record("us-east-1", "s3.amazonaws.com", "CreateBucket", true, false);
        let list = record(
            "us-east-1",
            "cloudtrail.amazonaws.com",
            "ListTrails",
            true,
            true,
        );
        let elsewhere = record(
            "eu-west-1",
            "cloudtrail.amazonaws.com",
            "ListTrails",
            true,
            true,
        );
        let picked = |t: &Trail| [&put, &get, &create, &list, &elsewhere].map(|r| selected(t, r));

        // The default: management events, read and write, home region only.
        let default = trail(Selectors::default_basic());
        assert_eq!(picked(&default), [false, false, true, true, false]);
        let mut everywhere = trail(Selectors::default_basic());
        everywhere.multi_region = true;
        assert_eq!(picked(&everywhere), [false, false, true, true, true]);

        // Write-only, with S3 object data events for one bucket prefix.
        let writes = trail(Selectors::Basic(
            json!([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::evidence/a/"]}]}]),
        ));
        assert_eq!(picked(&writes), [true, false, true, false, false]);
        let other_bucket = trail(Selectors::Basic(
            json!([{"ReadWriteType": "All", "IncludeManagementEvents": false,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::other/"]}]}]),
        ));
        assert_eq!(picked(&other_bucket), [false, false, false, false, false]);

        // Advanced selectors: data events only, but not reads.
        let advanced = trail(Selectors::Advanced(
            json!([{"Name": "s3 writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "readOnly", "Equals": ["false"]}]}]),
        ));
        assert_eq!(picked(&advanced), [true, false, false, false, false]);
        let by_name = trail(Selectors::Advanced(json!([{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "NotStartsWith": ["List"]}]}])));
        assert_eq!(picked(&by_name), [false, false, true, false, false]);
        let by_suffix = trail(Selectors::Advanced(json!([{"FieldSelectors": [
            {"Field": "eventName", "EndsWith": ["Object", "Bucket"]},
            {"Field": "eventName", "NotEndsWith": ["GetObject"]}]}])));
        assert_eq!(picked(&by_suffix), [true, false, true, false, false]);
    }
}
