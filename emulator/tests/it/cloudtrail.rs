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

/// An emulator in a directory of its own, called through its router without a socket (the
/// axum habit: `tower::ServiceExt::oneshot`).
struct Routed {
    app: axum::Router,
    dir: std::path::PathBuf,
}

impl Routed {
    fn open(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("veritrail-emulator-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let emulator =
            veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap();
        Self {
            app: veritrail_emulator::server::app(std::sync::Arc::new(emulator)),
            dir,
        }
    }

    /// One request: status, headers and body text.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, axum::http::HeaderMap, String) {
        use tower::ServiceExt as _;
        let mut request = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A POST to `/` signed for `service` (SigV4 scope only: signatures are not checked).
    async fn signed(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, axum::http::HeaderMap, String) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.send("POST", "/", &all, body).await
    }

    /// A CloudTrail call: status, `x-amzn-ErrorType` (empty on success) and the JSON answer.
    async fn ct(&self, op: &str, body: Value) -> (u16, String, Value) {
        let target = format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
        let (status, headers, text) = self
            .signed(
                "cloudtrail",
                &[
                    ("x-amz-target", target.as_str()),
                    ("content-type", "application/x-amz-json-1.1"),
                ],
                &body.to_string(),
            )
            .await;
        let kind = headers
            .get("x-amzn-errortype")
            .map_or("", |v| v.to_str().unwrap())
            .to_owned();
        (status, kind, serde_json::from_str(&text).unwrap())
    }

    /// An S3 call: status and body text.
    async fn s3(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let (status, _, text) = self
            .send(method, path, &[("authorization", S3)], body)
            .await;
        (status, text)
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TRAIL_ARN: &str = "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit";

/// The code of an error answer that must carry one.
fn refused((status, kind, body): (u16, String, Value)) -> String {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], kind.as_str());
    kind
}

#[tokio::test]
async fn trail_settings_tags_and_selectors_answer_as_aws_does() {
    let emu = Routed::open("ct-settings");
    assert_eq!(emu.s3("PUT", "/trail-logs", "").await.0, 200);
    let policy =
        veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("trail-logs");
    assert_eq!(emu.s3("PUT", "/trail-logs?policy", &policy).await.0, 204);

    // KmsKeyId and TagsList are kept; KmsKeyId is reported as a full ARN, as AWS reports it.
    let (status, _, created) = emu
        .ct(
            "CreateTrail",
            json!({"Name": "audit", "S3BucketName": "trail-logs", "KmsKeyId": "alias/trail",
                   "TagsList": [{"Key": "team", "Value": "audit"}, {"Key": "env", "Value": "prod"}]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let kms = "arn:aws:kms:us-east-1:000000000000:alias/trail";
    assert_eq!(created["KmsKeyId"], kms);
    assert!(
        created.get("HasCustomEventSelectors").is_none(),
        "{created}"
    );
    let (_, _, described) = emu.ct("DescribeTrails", json!({})).await;
    assert_eq!(described["trailList"][0]["KmsKeyId"], kms);
    assert_eq!(described["trailList"][0]["HasCustomEventSelectors"], false);
    let tags = || emu.ct("ListTags", json!({"ResourceIdList": [TRAIL_ARN]}));
    assert_eq!(
        tags().await.2["ResourceTagList"],
        json!([{"ResourceId": TRAIL_ARN, "TagsList": [
            {"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "audit"}]}])
    );
    let add = json!({"ResourceId": TRAIL_ARN, "TagsList": [{"Key": "owner", "Value": "sec"}]});
    assert_eq!(emu.ct("AddTags", add).await.0, 200);
    let remove = json!({"ResourceId": TRAIL_ARN, "TagsList": [{"Key": "env"}]});
    assert_eq!(emu.ct("RemoveTags", remove).await.0, 200);
    assert_eq!(
        tags().await.2["ResourceTagList"][0]["TagsList"],
        json!([{"Key": "owner", "Value": "sec"}, {"Key": "team", "Value": "audit"}])
    );
    let other = "arn:aws:cloudtrail:us-east-1:000000000000:trail/other";
    assert_eq!(
        refused(emu.ct("ListTags", json!({"ResourceIdList": [other]})).await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        refused(
            emu.ct("ListTags", json!({"ResourceIdList": ["audit"]}))
                .await
        ),
        "CloudTrailARNInvalidException"
    );
    let reserved = json!({"ResourceId": TRAIL_ARN, "TagsList": [{"Key": "aws:x", "Value": "1"}]});
    assert_eq!(
        refused(emu.ct("AddTags", reserved).await),
        "InvalidTagParameterException"
    );

    // Custom selectors: advanced ones come back under AdvancedEventSelectors, and GetTrail says
    // the trail has custom selectors.
    let trail = || emu.ct("GetTrail", json!({"Name": "audit"}));
    assert_eq!(trail().await.2["Trail"]["HasCustomEventSelectors"], false);
    let advanced = json!([{"Name": "writes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]},
        {"Field": "readOnly", "Equals": ["false"]}]}]);
    let (status, _, put) = emu
        .ct(
            "PutEventSelectors",
            json!({"TrailName": "audit", "AdvancedEventSelectors": advanced}),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["AdvancedEventSelectors"], advanced);
    assert_eq!(trail().await.2["Trail"]["HasCustomEventSelectors"], true);
    let selectors = || emu.ct("GetEventSelectors", json!({"TrailName": "audit"}));
    let got = selectors().await.2;
    assert_eq!(got["TrailARN"], TRAIL_ARN);
    assert_eq!(got["AdvancedEventSelectors"], advanced);
    assert!(got.get("EventSelectors").is_none(), "{got}");
    // Basic selectors come back under EventSelectors, every member filled in.
    let basic = json!({"TrailName": TRAIL_ARN, "EventSelectors": [{"ReadWriteType": "WriteOnly"}]});
    assert_eq!(emu.ct("PutEventSelectors", basic).await.0, 200);
    let got = selectors().await.2;
    assert_eq!(
        got["EventSelectors"],
        json!([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
                "DataResources": [], "ExcludeManagementEventSources": []}])
    );
    assert!(got.get("AdvancedEventSelectors").is_none(), "{got}");
    for bad in [
        json!({"TrailName": "audit", "EventSelectors": [{}], "AdvancedEventSelectors": advanced}),
        json!({"TrailName": "audit", "EventSelectors": [{"ReadWriteType": "Sometimes"}]}),
        json!({"TrailName": "audit", "EventSelectors": [{}, {}, {}, {}, {}, {}]}),
        json!({"TrailName": "audit", "AdvancedEventSelectors": [{"Name": "no fields"}]}),
        json!({"TrailName": "audit", "AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventName"}]}]}),
        json!({"TrailName": "audit"}),
    ] {
        assert_eq!(
            refused(emu.ct("PutEventSelectors", bad).await),
            "InvalidEventSelectorsException"
        );
    }
    assert_eq!(trail().await.2["Trail"]["HasCustomEventSelectors"], true);

    // UpdateTrail checks the new bucket as CreateTrail does, and a refused update changes
    // nothing.
    let (status, kind, missing) = emu
        .ct(
            "UpdateTrail",
            json!({"Name": "audit", "S3BucketName": "missing-bucket"}),
        )
        .await;
    assert_eq!(
        (status, kind.as_str()),
        (400, "S3BucketDoesNotExistException")
    );
    assert_eq!(
        missing["message"],
        "S3 bucket missing-bucket does not exist."
    );
    assert_eq!(emu.s3("PUT", "/other-logs", "").await.0, 200);
    let (_, kind, unwritable) = emu
        .ct(
            "UpdateTrail",
            json!({"Name": "audit", "S3BucketName": "other-logs"}),
        )
        .await;
    assert_eq!(kind, "InsufficientS3BucketPolicyException");
    assert_eq!(
        unwritable["message"],
        "Incorrect S3 bucket policy is detected for bucket: other-logs"
    );
    assert_eq!(trail().await.2["Trail"]["S3BucketName"], "trail-logs");
    // A key id becomes a key ARN; an empty one removes the key.
    let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let (_, _, updated) = emu
        .ct("UpdateTrail", json!({"Name": "audit", "KmsKeyId": key}))
        .await;
    assert_eq!(
        updated["KmsKeyId"],
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );
    let (_, _, updated) = emu
        .ct("UpdateTrail", json!({"Name": "audit", "KmsKeyId": ""}))
        .await;
    assert!(updated.get("KmsKeyId").is_none(), "{updated}");
    assert_eq!(
        refused(
            emu.ct(
                "UpdateTrail",
                json!({"Name": "audit", "KmsKeyId": "not a key!"})
            )
            .await
        ),
        "InvalidKmsKeyIdException"
    );
}

/// The `<Code>` and `<Message>` of a query-protocol error answer.
fn query_error(text: &str) -> (String, String) {
    let inner = |tag: &str| {
        text.split(&format!("<{tag}>"))
            .nth(1)
            .and_then(|r| r.split(&format!("</{tag}>")).next())
            .unwrap_or_else(|| panic!("no <{tag}> in {text}"))
            .to_owned()
    };
    assert!(
        text.contains("<ErrorResponse><Error><Type>Sender</Type>"),
        "{text}"
    );
    (inner("Code"), inner("Message"))
}

#[tokio::test]
async fn unserved_services_answer_in_their_own_protocols_shape() {
    let emu = Routed::open("ct-unserved");
    // Query protocol (IAM, CloudWatch, SNS): an XML ErrorResponse naming the operation, which the AWS
    // CLI prints (a JSON body would make it say "Unable to parse response").
    for (service, form, op) in [
        ("iam", "Action=ListUsers&Version=2010-05-08", "ListUsers"),
        (
            "monitoring",
            "Action=ListMetrics&Version=2010-08-01",
            "ListMetrics",
        ),
        (
            "sns",
            "Action=ListPlatformApplications&Version=2010-03-31",
            "ListPlatformApplications",
        ),
    ] {
        let form_type = "application/x-www-form-urlencoded; charset=utf-8";
        let (status, headers, text) = emu
            .signed(service, &[("content-type", form_type)], form)
            .await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(headers["content-type"], "text/xml");
        let (code, message) = query_error(&text);
        assert_eq!(code, "InvalidAction");
        assert!(
            message.contains(&format!("the {service} operation {op}")),
            "{message}"
        );
    }
    // JSON protocols (EventBridge, Kinesis, and CloudTrail's own unserved operations): the
    // error type in the header and `__type`.
    for (target, service, op) in [
        ("AWSEvents.ListArchives", "events", "ListArchives"),
        ("Kinesis_20131202.SplitShard", "kinesis", "SplitShard"),
        (
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListChannels",
            "cloudtrail",
            "ListChannels",
        ),
    ] {
        let json_type = "application/x-amz-json-1.1";
        let (status, headers, text) = emu
            .signed(
                service,
                &[("x-amz-target", target), ("content-type", json_type)],
                "{}",
            )
            .await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(headers["x-amzn-errortype"], "UnknownOperationException");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["__type"], "UnknownOperationException");
        assert_eq!(
            body["message"],
            format!(
                "veritrail does not emulate the {service} operation {op} (see the emulator's COVERAGE.md)"
            )
        );
    }
    // An unserved operation of S3: S3's own XML error.
    let (status, text) = emu.s3("GET", "/trail-logs?replication", "").await;
    assert_eq!(status, 501, "{text}");
    assert!(text.contains("<Code>NotImplemented</Code>"), "{text}");
    assert!(
        text.contains("the s3 operation GetBucketReplication"),
        "{text}"
    );

    // Each refused call is recorded with its error, like any other.
    let (_, _, found) = emu
        .ct(
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ListUsers"}]}),
        )
        .await;
    let record: Value =
        serde_json::from_str(found["Events"][0]["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(record["eventSource"], "iam.amazonaws.com");
    assert_eq!(record["errorCode"], "InvalidAction");
}

/// Headers of a signed call: an S3 one, or a CloudTrail one naming `op`.
fn headers(auth: &str, op: Option<&str>) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    h.insert("authorization", auth.parse().unwrap());
    if let Some(op) = op {
        let target = format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{op}");
        h.insert("x-amz-target", target.parse().unwrap());
        h.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
    }
    h
}

/// A data directory with a bucket and a logging trail, made through `Emulator::handle`.
fn directory_with_a_trail(name: &str) -> std::path::PathBuf {
    use axum::http::Method;
    let dir =
        std::env::temp_dir().join(format!("veritrail-emulator-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let emu = veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap();
    let s3 = headers(S3, None);
    assert_eq!(
        emu.handle(&Method::PUT, "/trail-logs", &s3, b"").status(),
        200
    );
    let policy =
        veritrail_emulator::services::cloudtrail::trails::documented_bucket_policy("trail-logs");
    let put = emu.handle(&Method::PUT, "/trail-logs?policy", &s3, policy.as_bytes());
    assert_eq!(put.status(), 204);
    let trail = json!({"Name": "audit", "S3BucketName": "trail-logs", "S3KeyPrefix": "org",
                       "EnableLogFileValidation": true});
    for (op, body) in [
        ("CreateTrail", trail),
        ("StartLogging", json!({"Name": "audit"})),
    ] {
        let r = emu.handle(
            &Method::POST,
            "/",
            &headers(CT, Some(op)),
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status(), 200, "{op}");
    }
    dir
}

fn sqlite(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("aws.sqlite")).unwrap()
}

#[test]
fn a_damaged_cloudtrail_state_row_stops_start_up_and_is_kept() {
    let dir = directory_with_a_trail("ct-damaged");
    let original: String = sqlite(&dir)
        .query_row("SELECT json FROM ct_state WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    let state: Value = serde_json::from_str(&original).unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut v = state.clone();
        edit(&mut v);
        v.to_string()
    };
    let trail = |v: &mut Value| v["trails"][0].as_object_mut().unwrap().clone();
    let cases: Vec<(String, &str)> = vec![
        ("{\"trails\": [".to_owned(), "EOF while parsing"),
        (
            edited(&|v| {
                v["trails"][0].as_object_mut().unwrap().remove("bucket");
            }),
            "missing field `bucket`",
        ),
        // Options too: a removed prefix would silently deliver to the bucket's root.
        (
            edited(&|v| {
                v["trails"][0].as_object_mut().unwrap().remove("prefix");
            }),
            "missing field `prefix`",
        ),
        (
            edited(&|v| {
                v["trails"][0]["delivery"]
                    .as_object_mut()
                    .unwrap()
                    .remove("latest_digest");
            }),
            "missing field `latest_digest`",
        ),
        (
            edited(&|v| {
                v["trails"][0]["delivery"]["chains"]["us-east-1"]["start"] = json!("soon");
            }),
            "invalid type: string \"soon\"",
        ),
        (
            edited(&|v| v["trails"][0]["name"] = json!("")),
            "trail \"\": its name is not a valid trail name",
        ),
        (
            edited(&|v| v["trails"][0]["region"] = json!("")),
            "trail \"audit\": it has no home region",
        ),
        (
            edited(&|v| {
                let copy = trail(v);
                v["trails"]
                    .as_array_mut()
                    .unwrap()
                    .push(Value::Object(copy));
            }),
            "trail \"audit\" is there twice",
        ),
    ];
    for (text, why) in cases {
        sqlite(&dir)
            .execute("UPDATE ct_state SET json = ?1 WHERE id = 1", [&text])
            .unwrap();
        let e =
            veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap_err();
        assert!(
            matches!(
                e,
                veritrail_emulator::EmulatorError::Store(
                    veritrail_emulator::store::StoreError::Corrupt(_)
                )
            ),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.starts_with("aws.sqlite is damaged: the CloudTrail state (ct_state row 1): ")
                && e.contains(why),
            "{why}: {e}"
        );
        // The refused start changed nothing: the row is as it was left.
        let kept: String = sqlite(&dir)
            .query_row("SELECT json FROM ct_state WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, text);
    }

    // `veritrail serve` and the emulator binary share one front end: it exits 2 with the
    // message (the last case, a trail listed twice, is still in place).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veritrail-emulator"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "error: aws.sqlite is damaged: the CloudTrail state (ct_state row 1): trail \"audit\" is there twice"
        ),
        "{stderr}"
    );

    // Put back, the row serves again: the trail is there, still logging.
    sqlite(&dir)
        .execute("UPDATE ct_state SET json = ?1 WHERE id = 1", [&original])
        .unwrap();
    let emu = veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap();
    let status = emu.handle(
        &axum::http::Method::POST,
        "/",
        &headers(CT, Some("GetTrailStatus")),
        br#"{"Name": "audit"}"#,
    );
    assert_eq!(status.status(), 200);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trail as the format before service folders (format 0) saved it.
fn format_0_trail() -> Value {
    json!({
        "name": "audit", "region": "us-east-1", "bucket": "trail-logs", "prefix": "org",
        "validation": true, "globalEvents": true, "multiRegion": false, "logging": true,
        "startLogging": 1_704_067_200_000_i64, "stopLogging": null,
        "eventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": true,
                            "DataResources": [], "ExcludeManagementEventSources": []}],
        "delivery": {
            "cursor": 0, "nextLog": 1_704_067_500_000_i64, "flush": false,
            "latestDelivery": null, "latestDigest": null, "latestError": "NoSuchBucket",
            "files": 0,
            "chains": {"us-east-1": {"start": 1_704_067_200_000_i64, "previous": null, "logs": []}},
        },
    })
}

#[test]
fn a_format_0_cloudtrail_state_migrates_or_names_the_member_it_lacks() {
    let dir = std::env::temp_dir().join(format!(
        "veritrail-emulator-ct-format0-{}",
        std::process::id()
    ));
    let write_format_0 = |trail: Value| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = json!({"trails": [trail], "retired": [], "keys": []});
        let db = sqlite(&dir);
        db.execute_batch("CREATE TABLE cloudtrail (name TEXT PRIMARY KEY, json TEXT NOT NULL);")
            .unwrap();
        db.execute(
            "INSERT INTO cloudtrail (name, json) VALUES ('state', ?1)",
            [state.to_string()],
        )
        .unwrap();
    };
    let open = || {
        // A minute after the trail started logging: nothing is due yet.
        let mut config = veritrail_emulator::Config::new(&dir);
        config.clock = std::sync::Arc::new(veritrail_core::time::ManualClock::new(
            veritrail_core::time::UtcMillis(1_704_067_260_000),
            0,
        ));
        veritrail_emulator::Emulator::open(config)
    };

    let mut no_bucket = format_0_trail();
    no_bucket.as_object_mut().unwrap().remove("bucket");
    let mut bad_start = format_0_trail();
    bad_start["delivery"]["chains"]["us-east-1"]["start"] = json!(null);
    let mut no_cursor = format_0_trail();
    no_cursor["delivery"]
        .as_object_mut()
        .unwrap()
        .remove("cursor");
    for (trail, why) in [
        (no_bucket, "trails[0].bucket is missing"),
        (
            bad_start,
            "trails[0].delivery.chains.us-east-1.start has the wrong type",
        ),
        (no_cursor, "trails[0].delivery.cursor is missing"),
    ] {
        write_format_0(trail);
        let e = open().unwrap_err().to_string();
        assert!(
            e.contains("the CloudTrail state of format 0 (cloudtrail row 'state')")
                && e.ends_with(why),
            "{why}: {e}"
        );
    }

    // A whole row migrates: the trail is back with its prefix, its logging state and its
    // delivery error (now the log delivery error only).
    write_format_0(format_0_trail());
    let emu = open().unwrap();
    let rt = runtime();
    let running = rt
        .block_on(veritrail_emulator::serve(
            std::sync::Arc::new(emu),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let trail = crate::cloudtrail_call(&running.url, CT, "GetTrail", &json!({"Name": "audit"}));
    assert_eq!(trail.json["Trail"]["S3KeyPrefix"], "org", "{}", trail.json);
    let status = crate::cloudtrail_call(
        &running.url,
        CT,
        "GetTrailStatus",
        &json!({"Name": "audit"}),
    );
    assert_eq!(status.json["IsLogging"], true);
    assert_eq!(status.json["LatestDeliveryError"], "NoSuchBucket");
    assert!(status.json.get("LatestDigestDeliveryError").is_none());
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
