//! CloudTrail: trails and their logging state, public keys, and LookupEvents over the records
//! of every call the emulator serves (each a valid CloudTrail record for `AuditRecord`).

use serde_json::{Value, json};

use crate::{Reply, runtime};

const CT: &str = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00";
const S3: &str = "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

fn call(url: &str, op: &str, body: Value) -> Reply {
    crate::cloudtrail_call(url, CT, op, &body)
}

#[test]
fn trails_keys_and_lookup_events() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();

    let no_bucket = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs"}),
    );
    assert_eq!(no_bucket.error_type(), "S3BucketDoesNotExistException");
    // S3 answers with XML, which the JSON helper does not read; only the status matters here.
    let (status, _, reply) =
        crate::exchange(&u, "PUT", "/trail-logs", &[("Authorization", S3)], "");
    assert_eq!(status, 200, "{reply}");
    // A bucket whose policy does not let CloudTrail write is refused, as on AWS.
    let no_policy = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs"}),
    );
    assert_eq!(
        no_policy.error_type(),
        "InsufficientS3BucketPolicyException"
    );
    assert_eq!(
        no_policy.json["message"],
        "Incorrect S3 bucket policy is detected for bucket: trail-logs"
    );
    crate::allow_cloudtrail(&u, S3, "trail-logs");

    let created = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs", "EnableLogFileValidation": true}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(
        created.json["TrailARN"],
        "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit"
    );
    assert_eq!(created.json["LogFileValidationEnabled"], true);
    assert_eq!(
        call(
            &u,
            "CreateTrail",
            json!({"Name": "audit", "S3BucketName": "trail-logs"})
        )
        .error_type(),
        "TrailAlreadyExistsException"
    );
    assert_eq!(
        call(
            &u,
            "CreateTrail",
            json!({"Name": "a", "S3BucketName": "trail-logs"})
        )
        .error_type(),
        "InvalidTrailNameException"
    );

    assert_eq!(
        call(&u, "GetTrailStatus", json!({"Name": "audit"})).json["IsLogging"],
        false
    );
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );
    let status = call(
        &u,
        "GetTrailStatus",
        json!({"Name": "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit"}),
    );
    assert_eq!(status.json["IsLogging"], true);
    assert!(status.json["StartLoggingTime"].is_f64());
    assert_eq!(
        call(&u, "DescribeTrails", json!({})).json["trailList"][0]["HomeRegion"],
        "us-east-1"
    );
    assert_eq!(
        call(&u, "ListTrails", json!({})).json["Trails"][0]["Name"],
        "audit"
    );
    let selectors = call(&u, "GetEventSelectors", json!({"TrailName": "audit"}));
    assert_eq!(selectors.json["EventSelectors"][0]["ReadWriteType"], "All");
    let missing = call(&u, "StopLogging", json!({"Name": "nope"}));
    assert_eq!(missing.error_type(), "TrailNotFoundException");
    assert_eq!(
        missing.json["message"],
        "Unknown trail: nope for the user: 000000000000"
    );

    // One signing key, PKCS #1, with its MD5 fingerprint.
    let keys = call(&u, "ListPublicKeys", json!({}));
    let key = &keys.json["PublicKeyList"][0];
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        key["Value"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        key["Fingerprint"],
        veritrail_verify::cloudtrail::public_key_fingerprint(&der)
    );
    assert!(key["ValidityEndTime"].as_f64().unwrap() > key["ValidityStartTime"].as_f64().unwrap());

    // Every call was recorded; LookupEvents finds management events, newest first.
    let found = call(
        &u,
        "LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "StartLogging"}]}),
    );
    let events = found.json["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", found.json);
    assert_eq!(events[0]["ReadOnly"], "false");
    assert_eq!(events[0]["Username"], "AKIDALICE");
    let record =
        veritrail_core::AuditRecord::from_json_str(events[0]["CloudTrailEvent"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        record.what.event_source.as_deref(),
        Some("cloudtrail.amazonaws.com")
    );
    assert_eq!(
        record.request_parameters().unwrap(),
        &json!({"name": "audit"})
    );
    assert_eq!(record.who.access_key_id.as_deref(), Some("AKIDALICE"));
    // The failed call is recorded with its error.
    let failed = call(
        &u,
        "LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}]}),
    );
    let failed = veritrail_core::AuditRecord::from_json_str(
        failed.json["Events"][0]["CloudTrailEvent"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        failed.outcome.error_code.as_deref(),
        Some("TrailNotFoundException")
    );
    // Pagination, newest first, and the bounds of MaxResults.
    let page = call(&u, "LookupEvents", json!({"MaxResults": 2}));
    assert_eq!(page.json["Events"].as_array().unwrap().len(), 2);
    assert!(page.json["NextToken"].is_string());
    assert_eq!(page.json["Events"][0]["EventName"], "LookupEvents");
    assert_eq!(
        call(&u, "LookupEvents", json!({"MaxResults": 0})).error_type(),
        "InvalidMaxResultsException"
    );
    assert_eq!(
        call(
            &u,
            "LookupEvents",
            json!({"StartTime": 2000, "EndTime": 1000})
        )
        .error_type(),
        "InvalidTimeRangeException"
    );
    assert_eq!(
        call(&u, "DeleteTrail", json!({"Name": "audit"})).status,
        200
    );
    assert_eq!(
        call(&u, "GetTrail", json!({"Name": "audit"})).error_type(),
        "TrailNotFoundException"
    );
}
