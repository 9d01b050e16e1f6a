//! CloudTrail delivery on the emulator's clock: log files every 5 minutes, signed hourly digests
//! chained through `previousDigest*`, a final digest on StopLogging, a new chain on restart, and
//! key rotation, all checked by veritrail-verify (which shares no code with the emulator).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use veritrail_core::time::{ManualClock, UtcMillis};
use veritrail_emulator::Emulator;
use veritrail_verify::validate_logs::{Event, Object, ObjectStore, Request, validate};

use crate::{Reply, request, runtime};

const CT: &str = "AWS4-HMAC-SHA256 Credential=AKIDAUDITOR/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00";
const S3: &str = "AWS4-HMAC-SHA256 Credential=AKIDAUDITOR/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn call(url: &str, op: &str, body: Value) -> Reply {
    crate::cloudtrail_call(url, CT, op, &body)
}

fn advance(url: &str, seconds: i64) -> Reply {
    request(
        url,
        "POST",
        "/_veritrail/clock",
        &[],
        &json!({"advanceSeconds": seconds}).to_string(),
    )
}

/// Reads objects straight from the emulator's S3.
struct Store<'a>(&'a Emulator);

impl ObjectStore for Store<'_> {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self.0.s3_keys(bucket, prefix))
    }
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, String> {
        Ok(self
            .0
            .s3_object(bucket, key)
            .map(|(body, metadata)| Object { body, metadata }))
    }
}

fn keys_by_fingerprint(url: &str) -> BTreeMap<String, Vec<u8>> {
    let listed = call(
        url,
        "ListPublicKeys",
        json!({"StartTime": T0 / 1000 - 86_400, "EndTime": T0 / 1000 + 90 * 86_400}),
    );
    assert_eq!(listed.status, 200, "{}", listed.json);
    listed.json["PublicKeyList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["Fingerprint"].as_str().unwrap().to_owned(),
                base64::engine::general_purpose::STANDARD
                    .decode(k["Value"].as_str().unwrap())
                    .unwrap(),
            )
        })
        .collect()
}

/// Validation of the `audit` trail over its first three hours.
fn trail_request(prefix: Option<&str>) -> Request {
    Request {
        trail_arn: "arn:aws:cloudtrail:us-east-1:000000000000:trail/audit".into(),
        bucket: "trail-logs".into(),
        prefix: prefix.map(str::to_owned),
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
        home_region: "us-east-1".into(),
        start: UtcMillis(T0),
        end: UtcMillis(T0 + 3 * HOUR),
    }
}

fn digest_json(emu: &Emulator, key: &str) -> Value {
    let (gz, _) = emu.s3_object("trail-logs", key).unwrap();
    serde_json::from_slice(&veritrail_verify::cloudtrail::gunzip(&gz).unwrap()).unwrap()
}

/// An emulator whose clock starts at [`T0`] and may be moved over HTTP.
fn at_t0(rt: &tokio::runtime::Runtime) -> veritrail_emulator::Running {
    rt.block_on(veritrail_emulator::spawn_with(|c| {
        c.clock = Arc::new(ManualClock::new(UtcMillis(T0), 0));
        c.clock_control = true;
    }))
    .unwrap()
}

#[test]
fn logs_and_signed_digests_follow_the_clock() {
    let rt = runtime();
    let running = at_t0(&rt);
    let emu = running.emulator.clone();
    let u = running.url.clone();

    let (status, _, body) = crate::exchange(
        &u,
        "PUT",
        "/trail-logs",
        &[
            ("Authorization", S3),
            ("x-amz-bucket-object-lock-enabled", "true"),
        ],
        "",
    );
    assert_eq!(status, 200, "{body}");
    crate::allow_cloudtrail(&u, S3, "trail-logs");
    let created = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs", "S3KeyPrefix": "org", "EnableLogFileValidation": true}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );

    // Three hours of activity, one call every ten minutes.
    for _ in 0..18 {
        assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
        assert_eq!(advance(&u, 600).status, 200);
    }
    let status = call(&u, "GetTrailStatus", json!({"Name": "audit"}));
    assert_eq!(status.json["IsLogging"], true);
    assert_eq!(
        status.json["LatestDigestDeliveryTime"].as_f64(),
        Some(((T0 + 3 * HOUR) / 1000) as f64)
    );

    let digest_prefix = "org/AWSLogs/000000000000/CloudTrail-Digest/us-east-1/";
    let digests = emu.s3_keys("trail-logs", digest_prefix);
    assert_eq!(
        digests,
        [
            "org/AWSLogs/000000000000/CloudTrail-Digest/us-east-1/2024/01/01/000000000000_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T010000Z.json.gz",
            "org/AWSLogs/000000000000/CloudTrail-Digest/us-east-1/2024/01/01/000000000000_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T020000Z.json.gz",
            "org/AWSLogs/000000000000/CloudTrail-Digest/us-east-1/2024/01/01/000000000000_CloudTrail-Digest_us-east-1_audit_us-east-1_20240101T030000Z.json.gz",
        ]
    );
    let first = digest_json(&emu, &digests[0]);
    assert_eq!(first["digestStartTime"], "2024-01-01T00:00:00Z");
    assert_eq!(first["digestEndTime"], "2024-01-01T01:00:00Z");
    assert_eq!(first["digestS3Object"], digests[0].as_str());
    assert_eq!(first["previousDigestSignature"], Value::Null);
    assert_eq!(first["digestSignatureAlgorithm"], "SHA256withRSA");
    let second = digest_json(&emu, &digests[1]);
    assert_eq!(second["previousDigestS3Object"], digests[0].as_str());
    assert_eq!(second["digestStartTime"], "2024-01-01T01:00:00Z");
    let (first_gz, first_meta) = emu.s3_object("trail-logs", &digests[0]).unwrap();
    assert_eq!(
        second["previousDigestSignature"],
        first_meta["signature"].as_str()
    );
    assert_eq!(
        second["previousDigestHashValue"],
        veritrail_verify::cloudtrail::sha256_hex(
            &veritrail_verify::cloudtrail::gunzip(&first_gz).unwrap()
        )
        .as_str()
    );
    // Log files every 5 minutes with activity: the keys carry the delivery minute.
    let logs = emu.s3_keys(
        "trail-logs",
        "org/AWSLogs/000000000000/CloudTrail/us-east-1/2024/01/01/",
    );
    assert!(logs.len() >= 18, "{logs:?}");
    assert!(
        logs.iter()
            .all(|k| k.contains("_CloudTrail_us-east-1_20240101T0") && k.ends_with(".json.gz")),
        "{logs:?}"
    );
    let listed: usize = digests
        .iter()
        .map(|d| digest_json(&emu, d)["logFiles"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, logs.len());

    let keys = keys_by_fingerprint(&u);
    let lookup = |fp: &str| keys.get(fp).cloned();
    let mut req = trail_request(Some("org"));
    let report = validate(&Store(&emu), &lookup, &req).unwrap();
    assert_eq!(
        (report.digests_valid, report.digests_invalid),
        (3, 0),
        "{report:?}"
    );
    assert_eq!((report.logs_valid, report.logs_invalid), (logs.len(), 0));
    assert_eq!(report.exit_code(), 0);

    // StopLogging writes a final digest at once, which lists the StopLogging call itself.
    assert_eq!(advance(&u, 20 * 60).status, 200);
    assert_eq!(
        call(&u, "StopLogging", json!({"Name": "audit"})).status,
        200
    );
    let digests = emu.s3_keys("trail-logs", digest_prefix);
    assert_eq!(digests.len(), 4);
    let last = digest_json(&emu, &digests[3]);
    assert_eq!(last["digestEndTime"], "2024-01-01T03:20:00Z");
    let final_log = last["logFiles"].as_array().unwrap().last().unwrap()["s3Object"]
        .as_str()
        .unwrap()
        .to_owned();
    let (gz, _) = emu.s3_object("trail-logs", &final_log).unwrap();
    let records: Value =
        serde_json::from_slice(&veritrail_verify::cloudtrail::gunzip(&gz).unwrap()).unwrap();
    assert_eq!(
        records["Records"].as_array().unwrap().last().unwrap()["eventName"],
        "StopLogging"
    );
    // Nothing is delivered while logging is off.
    assert_eq!(advance(&u, 2 * 3600).status, 200);
    assert_eq!(emu.s3_keys("trail-logs", digest_prefix).len(), 4);

    // A restart begins a new chain: its first digest has no predecessor, and the validator
    // reports the hours in between as a gap, not as tampering.
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );
    assert_eq!(advance(&u, 3600).status, 200);
    let digests = emu.s3_keys("trail-logs", digest_prefix);
    assert_eq!(digests.len(), 5);
    let restarted = digest_json(&emu, &digests[4]);
    assert_eq!(restarted["previousDigestS3Object"], Value::Null);
    assert_eq!(restarted["digestStartTime"], "2024-01-01T05:20:00Z");
    req.end = UtcMillis(T0 + 6 * HOUR + 20 * MINUTE);
    let report = validate(&Store(&emu), &lookup, &req).unwrap();
    assert_eq!((report.digests_valid, report.digests_invalid), (5, 0));
    assert!(
        report.events.contains(&Event::Gap {
            from: "2024-01-01T03:20:00Z".into(),
            to: "2024-01-01T05:20:00Z".into()
        }),
        "{:?}",
        report.events
    );

    // Four weeks later the key has rotated; both keys are listed with overlapping validity,
    // and every digest still verifies against the key named by its fingerprint.
    assert_eq!(advance(&u, 28 * 86_400).status, 200);
    let listed = call(
        &u,
        "ListPublicKeys",
        json!({"StartTime": T0 / 1000, "EndTime": T0 / 1000 + 28 * 86_400}),
    );
    let list = listed.json["PublicKeyList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", listed.json);
    assert!(list[1]["ValidityStartTime"].as_f64() < list[0]["ValidityEndTime"].as_f64());
    let digests = emu.s3_keys("trail-logs", digest_prefix);
    let newest = digest_json(&emu, digests.last().unwrap());
    assert_ne!(
        newest["digestPublicKeyFingerprint"],
        digest_json(&emu, &digests[0])["digestPublicKeyFingerprint"]
    );
    let keys = keys_by_fingerprint(&u);
    let lookup = |fp: &str| keys.get(fp).cloned();
    req.end = UtcMillis(T0 + 29 * 86_400_000);
    let report = validate(&Store(&emu), &lookup, &req).unwrap();
    assert_eq!(report.digests_invalid + report.logs_invalid, 0);
    assert_eq!(report.digests_valid, digests.len());

    // A stop in the second an hourly digest is written still gets a final digest of its own.
    let before = emu.s3_keys("trail-logs", digest_prefix).len();
    let now = request(&u, "GET", "/_veritrail/clock", &[], "").json["epochMillis"]
        .as_i64()
        .unwrap();
    let to_boundary = (HOUR - (now - (T0 + 5 * HOUR + 20 * MINUTE)).rem_euclid(HOUR)) / 1000;
    assert_eq!(advance(&u, to_boundary).status, 200);
    assert_eq!(emu.s3_keys("trail-logs", digest_prefix).len(), before + 1);
    assert_eq!(
        call(&u, "StopLogging", json!({"Name": "audit"})).status,
        200
    );
    let digests = emu.s3_keys("trail-logs", digest_prefix);
    assert_eq!(
        digests.len(),
        before + 2,
        "the final digest replaced the hourly one"
    );
    let keys = keys_by_fingerprint(&u);
    let lookup = |fp: &str| keys.get(fp).cloned();
    req.end = UtcMillis(T0 + 30 * 86_400_000);
    let report = validate(&Store(&emu), &lookup, &req).unwrap();
    assert_eq!(
        (
            report.digests_invalid,
            report.chain_breaks,
            report.logs_invalid
        ),
        (0, 0, 0),
        "{:?}",
        report
            .events
            .iter()
            .filter(|e| !matches!(
                e,
                Event::DigestValid { .. } | Event::LogValid { .. } | Event::NoLogs { .. }
            ))
            .collect::<Vec<_>>()
    );

    // The clock endpoint refuses to go backwards and explains itself.
    let back = advance(&u, -10);
    assert_eq!(back.status, 400);
    assert!(
        back.json["message"]
            .as_str()
            .unwrap()
            .contains("only moves forward")
    );
}

#[test]
fn buckets_versions_trails_and_the_digest_chain_survive_a_restart() {
    let rt = runtime();
    let dir =
        std::env::temp_dir().join(format!("veritrail-emulator-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = |start: i64| {
        let mut config = veritrail_emulator::Config::new(&dir);
        config.clock = Arc::new(ManualClock::new(UtcMillis(start), 0));
        config.clock_control = true;
        let emu = Arc::new(Emulator::open(config).unwrap());
        let running = rt
            .block_on(veritrail_emulator::serve(
                emu.clone(),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        (emu, running)
    };
    let (emu, running) = open(T0);
    let u = running.url.clone();
    let s3 = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        let mut all = headers.to_vec();
        all.push(("Authorization", S3));
        crate::exchange(&u, method, path, &all, body)
    };
    assert_eq!(
        s3(
            "PUT",
            "/trail-logs",
            &[("x-amz-bucket-object-lock-enabled", "true")],
            ""
        )
        .0,
        200
    );
    let lock = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>365</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    assert_eq!(s3("PUT", "/trail-logs?object-lock", &[], lock).0, 200);
    assert_eq!(
        s3(
            "PUT",
            "/trail-logs/notes.txt",
            &[("x-amz-meta-owner", "audit")],
            "v1"
        )
        .0,
        200
    );
    assert_eq!(s3("PUT", "/trail-logs/notes.txt", &[], "v2").0, 200);
    crate::allow_cloudtrail(&u, S3, "trail-logs");
    let created = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs", "EnableLogFileValidation": true}),
    );
    assert_eq!(created.status, 200);
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );
    for _ in 0..9 {
        assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
        assert_eq!(advance(&u, 600).status, 200);
    }
    let fingerprints = keys_by_fingerprint(&u);
    let before = emu.s3_keys("trail-logs", "");
    let events_before = emu_events(&u);
    drop(running);
    drop(emu);

    // The same directory, later: everything is back, and delivery carries on the same chain.
    let (emu, running) = open(T0 + 90 * MINUTE);
    let u = running.url.clone();
    assert_eq!(emu.s3_keys("trail-logs", ""), before);
    assert_eq!(emu.s3_object("trail-logs", "notes.txt").unwrap().0, b"v2");
    let (status, _, versions) = crate::exchange(
        &u,
        "GET",
        "/trail-logs?versions&prefix=notes.txt",
        &[("Authorization", S3)],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(versions.matches("<Version>").count(), 2, "{versions}");
    // The COMPLIANCE retention came back with the versions.
    let v1 = versions
        .split("<VersionId>")
        .nth(2)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, body) = crate::exchange(
        &u,
        "DELETE",
        &format!("/trail-logs/notes.txt?versionId={v1}"),
        &[("Authorization", S3)],
        "",
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(keys_by_fingerprint(&u), fingerprints);
    assert!(emu_events(&u) >= events_before);
    let status = call(&u, "GetTrailStatus", json!({"Name": "audit"}));
    assert_eq!(status.json["IsLogging"], true);
    assert_eq!(advance(&u, 3600).status, 200);
    let digests = emu.s3_keys(
        "trail-logs",
        "AWSLogs/000000000000/CloudTrail-Digest/us-east-1/",
    );
    assert_eq!(digests.len(), 2, "{digests:?}");
    let second = digest_json(&emu, &digests[1]);
    assert_eq!(second["previousDigestS3Object"], digests[0].as_str());
    let keys = keys_by_fingerprint(&u);
    let lookup = |fp: &str| keys.get(fp).cloned();
    let req = trail_request(None);
    let report = validate(&Store(&emu), &lookup, &req).unwrap();
    assert_eq!(
        (
            report.digests_valid,
            report.digests_invalid,
            report.chain_breaks
        ),
        (2, 0, 0)
    );
    assert_eq!(report.logs_invalid, 0);
    assert!(report.logs_valid >= 10);
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many events LookupEvents returns (one page is plenty here).
fn emu_events(url: &str) -> usize {
    let r = call(url, "LookupEvents", json!({"MaxResults": 50}));
    r.json["Events"].as_array().unwrap().len()
}

/// A bucket policy that lets CloudTrail write only under `[org/]AWSLogs/<acct>/<folder>/`.
fn policy_for_one_folder(folder: &str) -> String {
    json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::trail-logs"},
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject",
         "Resource": format!("arn:aws:s3:::trail-logs/AWSLogs/000000000000/{folder}/*")}]})
    .to_string()
}

#[test]
fn log_and_digest_delivery_errors_are_reported_apart() {
    let rt = runtime();
    let running = at_t0(&rt);
    let (emu, u) = (running.emulator.clone(), running.url.clone());
    let put_policy = |policy: String| {
        let (status, _, body) = crate::exchange(
            &u,
            "PUT",
            "/trail-logs?policy",
            &[("Authorization", S3)],
            &policy,
        );
        assert_eq!(status, 204, "{body}");
    };
    let (status, _, body) = crate::exchange(&u, "PUT", "/trail-logs", &[("Authorization", S3)], "");
    assert_eq!(status, 200, "{body}");
    // Log files may be written, digests may not. CreateTrail checks the log folder only.
    put_policy(policy_for_one_folder("CloudTrail"));
    let created = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs", "EnableLogFileValidation": true}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );
    for _ in 0..7 {
        assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
        assert_eq!(advance(&u, 600).status, 200);
    }
    let status = call(&u, "GetTrailStatus", json!({"Name": "audit"})).json;
    assert!(status["LatestDeliveryTime"].is_f64(), "{status}");
    assert!(status.get("LatestDeliveryError").is_none(), "{status}");
    assert_eq!(
        status["LatestDigestDeliveryError"], "AccessDenied",
        "{status}"
    );
    assert!(status.get("LatestDigestDeliveryTime").is_none(), "{status}");
    assert!(
        !emu.s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail/")
            .is_empty()
    );
    assert!(
        emu.s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail-Digest/")
            .is_empty()
    );

    // The other way round: digests may be written, log files may not.
    put_policy(policy_for_one_folder("CloudTrail-Digest"));
    let logs_before = emu
        .s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail/")
        .len();
    for _ in 0..7 {
        assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
        assert_eq!(advance(&u, 600).status, 200);
    }
    let later = call(&u, "GetTrailStatus", json!({"Name": "audit"})).json;
    assert_eq!(later["LatestDeliveryError"], "AccessDenied", "{later}");
    assert_eq!(
        later["LatestDeliveryTime"], status["LatestDeliveryTime"],
        "the last successful delivery stays reported"
    );
    assert!(later.get("LatestDigestDeliveryError").is_none(), "{later}");
    assert!(later["LatestDigestDeliveryTime"].is_f64(), "{later}");
    assert_eq!(
        emu.s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail/")
            .len(),
        logs_before
    );
    assert!(
        !emu.s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail-Digest/")
            .is_empty()
    );

    // A bucket that is gone: S3's NoSuchBucket for both.
    let remove = |prefix: &str| {
        for key in emu.s3_keys("trail-logs", prefix) {
            let (status, _, body) = crate::exchange(
                &u,
                "DELETE",
                &format!("/trail-logs/{key}"),
                &[("Authorization", S3)],
                "",
            );
            assert_eq!(status, 204, "{body}");
        }
    };
    remove("");
    let (status, _, body) =
        crate::exchange(&u, "DELETE", "/trail-logs", &[("Authorization", S3)], "");
    assert_eq!(status, 204, "{body}");
    assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
    assert_eq!(advance(&u, 3600).status, 200);
    let gone = call(&u, "GetTrailStatus", json!({"Name": "audit"})).json;
    assert_eq!(gone["LatestDeliveryError"], "NoSuchBucket", "{gone}");
    assert_eq!(gone["LatestDigestDeliveryError"], "NoSuchBucket", "{gone}");
}

#[test]
fn public_keys_are_listed_for_any_range() {
    let rt = runtime();
    let running = at_t0(&rt);
    let u = running.url.clone();
    let day = 86_400;
    let listed = |from: i64, to: i64| -> Vec<(f64, String)> {
        let r = call(
            &u,
            "ListPublicKeys",
            json!({"StartTime": from, "EndTime": to}),
        );
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["PublicKeyList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["ValidityStartTime"].as_f64().unwrap(),
                    k["Fingerprint"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let t0 = T0 / 1000;
    // The first key is made now; a range that ends before it still gets it, so `validate-logs`
    // goes on to find no digests rather than stopping at "No public keys found".
    let first = listed(t0, t0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, t0 as f64);
    assert_eq!(listed(t0 - 400 * day, t0 - 399 * day), first);

    // Forty days later (the emulator was idle, so no key was made in between), a second key;
    // a range in the gap between the first key's end and the second's start gets the first.
    assert_eq!(advance(&u, 40 * day).status, 200);
    let second = listed(t0 + 40 * day, t0 + 40 * day);
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].1, first[0].1);
    assert_eq!(listed(t0 + 32 * day, t0 + 33 * day), first);
    // A range covering both lists both, oldest first.
    let both = listed(t0 - day, t0 + 41 * day);
    assert_eq!(both, [first[0].clone(), second[0].clone()]);
    assert_eq!(
        call(
            &u,
            "ListPublicKeys",
            json!({"StartTime": t0 + 1, "EndTime": t0})
        )
        .error_type(),
        "InvalidTimeRangeException"
    );
}

#[test]
fn a_year_of_quiet_writes_no_empty_log_files_and_loses_no_record() {
    let rt = runtime();
    let running = at_t0(&rt);
    let emu = running.emulator.clone();
    let u = running.url.clone();
    let (status, _, body) = crate::exchange(&u, "PUT", "/trail-logs", &[("Authorization", S3)], "");
    assert_eq!(status, 200, "{body}");
    crate::allow_cloudtrail(&u, S3, "trail-logs");
    let created = call(
        &u,
        "CreateTrail",
        json!({"Name": "audit", "S3BucketName": "trail-logs"}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(
        call(&u, "StartLogging", json!({"Name": "audit"})).status,
        200
    );
    assert_eq!(call(&u, "ListTrails", json!({})).status, 200);
    // A year ahead in one move (105,120 five-minute intervals), then one more call.
    assert_eq!(advance(&u, 365 * 86_400).status, 200);
    assert_eq!(call(&u, "DescribeTrails", json!({})).status, 200);
    assert_eq!(advance(&u, 600).status, 200);
    assert_eq!(
        call(&u, "GetTrailStatus", json!({"Name": "audit"})).status,
        200
    );

    let logs = emu.s3_keys("trail-logs", "AWSLogs/000000000000/CloudTrail/us-east-1/");
    // The records of the first minutes in a file of 2024, the rest in files of 2025: every
    // file holds records, none is empty.
    let mut ids = std::collections::BTreeSet::new();
    for key in &logs {
        let (gz, _) = emu.s3_object("trail-logs", key).unwrap();
        let file: Value =
            serde_json::from_slice(&veritrail_verify::cloudtrail::gunzip(&gz).unwrap()).unwrap();
        let records = file["Records"].as_array().unwrap();
        assert!(!records.is_empty(), "{key} is empty");
        for r in records {
            assert!(
                ids.insert(r["eventID"].as_str().unwrap().to_owned()),
                "{key}: twice: {r}"
            );
        }
    }
    assert!(logs.iter().any(|k| k.contains("/2024/01/01/")), "{logs:?}");
    assert!(logs.iter().any(|k| k.contains("/2024/12/31/")), "{logs:?}");
    // Every record made before the last delivery is in exactly one file.
    let names: Vec<String> = logs
        .iter()
        .flat_map(|key| {
            let (gz, _) = emu.s3_object("trail-logs", key).unwrap();
            let file: Value =
                serde_json::from_slice(&veritrail_verify::cloudtrail::gunzip(&gz).unwrap())
                    .unwrap();
            file["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["eventName"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    // (Delivery starts with StartLogging: CreateTrail, made before it, is not delivered.)
    for name in ["StartLogging", "ListTrails", "DescribeTrails"] {
        assert_eq!(
            names.iter().filter(|n| *n == name).count(),
            1,
            "{name}: {names:?}"
        );
    }
}
