//! WORM that holds (issue 10, item 3): every path that could remove or shorten a
//! COMPLIANCE-locked version is tried over TCP, and each fails: deletes by version id (with and
//! without the governance bypass), DeleteObjects naming it, weaker or malformed retention,
//! default retention periods past S3's limits (one that would wrap the date into the past),
//! lower-case or unknown lock modes and legal hold values, suspending versioning, deleting the
//! bucket, overwriting the key, the clock endpoint (off by default; bounded and forward-only
//! when on), and restarts with a clock that is behind. After all of it the version and its body
//! are still there, with the retention they started with.

use crate::Instance;

/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200_000;
const DAY: i64 = 86_400_000;
const UNTIL: &str = "2030-01-01T00:00:00Z";
/// `UNTIL` as S3 writes it back.
const UNTIL_SHOWN: &str = "2030-01-01T00:00:00.000Z";
const BODY: &str = "evidence that must outlive every attempt";

impl Instance {
    /// Asserts the request is refused with `status` and S3 error `code`.
    fn refused(
        &self,
        what: &str,
        (method, path, headers, body): (&str, &str, &[(&str, &str)], &str),
        status: u16,
        code: &str,
    ) {
        let (s, text) = self.s3(method, path, headers, body);
        assert_eq!(s, status, "{what}: {text}");
        assert!(
            text.contains(&format!("<Code>{code}</Code>")),
            "{what}: {text}"
        );
    }

    fn clock(&self, body: &str) -> (u16, serde_json::Value) {
        let (status, _, text) = crate::exchange(
            self.url(),
            if body.is_empty() { "GET" } else { "POST" },
            "/_veritrail/clock",
            &[("Content-Type", "application/json")],
            body,
        );
        (status, serde_json::from_str(&text).unwrap())
    }

    fn now(&self) -> i64 {
        let (status, v) = self.clock("");
        assert_eq!(status, 200);
        v["epochMillis"].as_i64().unwrap()
    }

    /// The locked version is there, readable, with its body and its retention.
    fn intact(&self, version: &str) {
        let (status, text) = self.s3("GET", &format!("/vault/log?versionId={version}"), &[], "");
        assert_eq!(status, 200, "{text}");
        assert!(text.ends_with(BODY), "{text}");
        assert!(
            text.contains("x-amz-object-lock-mode: COMPLIANCE"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "x-amz-object-lock-retain-until-date: {UNTIL_SHOWN}"
            )),
            "{text}"
        );
        let (_, listing) = self.s3("GET", "/vault?versions&prefix=log", &[], "");
        assert!(
            listing.contains(&format!("<VersionId>{version}</VersionId>")),
            "{listing}"
        );
        let (status, text) = self.s3(
            "GET",
            &format!("/vault/log?retention&versionId={version}"),
            &[],
            "",
        );
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains(&format!(
                "<Mode>COMPLIANCE</Mode><RetainUntilDate>{UNTIL_SHOWN}</RetainUntilDate>"
            )),
            "{text}"
        );
    }
}

fn md5(body: &str) -> String {
    veritrail_emulator::services::s3::content_md5(body.as_bytes())
}

fn lock_config(rule: &str) -> String {
    format!(
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
    )
}

fn default_rule(mode: &str, period: &str) -> String {
    lock_config(&format!(
        "<Rule><DefaultRetention><Mode>{mode}</Mode>{period}</DefaultRetention></Rule>"
    ))
}

fn retention(mode: &str, until: &str) -> String {
    format!("<Retention><Mode>{mode}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>")
}

#[test]
fn no_path_removes_or_shortens_a_compliance_locked_version() {
    let mut w = Instance::new("worm");
    w.start(START, false);
    w.lock_bucket("vault");
    let body_md5 = md5(BODY);
    let (status, text) = w.s3(
        "PUT",
        "/vault/log",
        &[
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            ("x-amz-object-lock-retain-until-date", UNTIL),
            ("Content-MD5", &body_md5),
        ],
        BODY,
    );
    assert_eq!(status, 200, "{text}");
    let v1 = text
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-version-id: "))
        .unwrap()
        .to_owned();
    w.intact(&v1);
    let version = format!("/vault/log?versionId={v1}");
    let bypass = ("x-amz-bypass-governance-retention", "true");

    // Deleting the version, with and without the bypass header.
    for headers in [
        &[][..],
        &[bypass][..],
        &[("x-amz-bypass-governance-retention", "TRUE")][..],
    ] {
        w.refused(
            "delete by version id",
            ("DELETE", &version, headers, ""),
            403,
            "AccessDenied",
        );
    }
    // DeleteObjects naming it (quiet or not, with and without the bypass).
    let delete =
        format!("<Delete><Object><Key>log</Key><VersionId>{v1}</VersionId></Object></Delete>");
    let quiet = delete.replace("<Delete>", "<Delete><Quiet>true</Quiet>");
    for body in [&delete, &quiet] {
        for headers in [&[][..], &[bypass][..]] {
            let mut h = headers.to_vec();
            let sum = md5(body);
            h.push(("Content-MD5", &sum));
            let (status, text) = w.s3("POST", "/vault?delete", &h, body);
            assert_eq!(status, 200, "{text}");
            assert!(
                text.contains("<Error><Key>log</Key>")
                    && text.contains("<Code>AccessDenied</Code>")
                    && !text.contains("<Deleted>"),
                "DeleteObjects: {text}"
            );
        }
    }

    // Shorter, weaker or malformed retention.
    let retention_path = format!("/vault/log?retention&versionId={v1}");
    for (until, mode, headers, status, code) in [
        (
            "2029-12-31T23:59:59.999Z",
            "COMPLIANCE",
            &[][..],
            403,
            "AccessDenied",
        ),
        (
            "2025-01-01T00:00:00Z",
            "COMPLIANCE",
            &[bypass][..],
            403,
            "AccessDenied",
        ),
        (UNTIL, "GOVERNANCE", &[][..], 403, "AccessDenied"),
        (
            "2040-01-01T00:00:00Z",
            "GOVERNANCE",
            &[bypass][..],
            403,
            "AccessDenied",
        ),
        (UNTIL, "compliance", &[][..], 400, "MalformedXML"),
        (UNTIL, "Compliance", &[bypass][..], 400, "MalformedXML"),
        (UNTIL, "FOREVER", &[][..], 400, "MalformedXML"),
        (UNTIL, "", &[][..], 400, "MalformedXML"),
        (
            "2023-01-01T00:00:00Z",
            "COMPLIANCE",
            &[bypass][..],
            400,
            "InvalidArgument",
        ),
        ("yesterday", "COMPLIANCE", &[][..], 400, "InvalidArgument"),
        (
            "+275760-09-13T00:00:00Z",
            "COMPLIANCE",
            &[][..],
            400,
            "InvalidArgument",
        ),
    ] {
        let body = retention(mode, until);
        let mut h = headers.to_vec();
        let sum = md5(&body);
        h.push(("Content-MD5", &sum));
        w.refused(
            &format!("retention {mode} {until}"),
            ("PUT", &retention_path, &h, &body),
            status,
            code,
        );
    }
    // The same instant in another zone is an hour earlier.
    let body = retention("COMPLIANCE", "2030-01-01T00:00:00+01:00");
    w.refused(
        "retention an hour earlier",
        ("PUT", &retention_path, &[], &body),
        403,
        "AccessDenied",
    );
    for body in [
        "<Retention/>",
        "<Retention><Mode>COMPLIANCE</Mode></Retention>",
        "",
    ] {
        let (status, text) = w.s3("PUT", &retention_path, &[bypass], body);
        assert_eq!(status, 400, "removing retention with {body:?}: {text}");
    }
    w.intact(&v1);

    // Default retention past S3's limits is refused, never wrapped; the valid one stays.
    assert_eq!(
        w.s3(
            "PUT",
            "/vault?object-lock",
            &[],
            &default_rule("COMPLIANCE", "<Days>30</Days>")
        )
        .0,
        200
    );
    for (period, code) in [
        ("<Days>106751991168</Days>", "InvalidArgument"),
        ("<Days>36501</Days>", "InvalidArgument"),
        ("<Years>101</Years>", "InvalidArgument"),
        ("<Years>4294967297</Years>", "InvalidArgument"),
        ("<Days>0</Days>", "InvalidArgument"),
        ("<Days>-1</Days>", "InvalidArgument"),
        ("<Days>1e3</Days>", "InvalidArgument"),
        ("<Days>30</Days><Years>1</Years>", "MalformedXML"),
        ("", "MalformedXML"),
    ] {
        let body = default_rule("COMPLIANCE", period);
        w.refused(
            &format!("default retention {period}"),
            ("PUT", "/vault?object-lock", &[], &body),
            400,
            code,
        );
    }
    for mode in ["compliance", "GOVERNANCEX"] {
        let body = default_rule(mode, "<Days>1</Days>");
        w.refused(
            &format!("default mode {mode}"),
            ("PUT", "/vault?object-lock", &[], &body),
            400,
            "MalformedXML",
        );
    }
    let (_, config) = w.s3("GET", "/vault?object-lock", &[], "");
    assert!(
        config.contains("<Mode>COMPLIANCE</Mode><Days>30</Days>"),
        "{config}"
    );
    // A version stored now gets the 30 days, and is locked for them.
    let (status, text) = w.s3("PUT", "/vault/later", &[], "later");
    assert_eq!(status, 200, "{text}");
    let later = text
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-version-id: "))
        .unwrap()
        .to_owned();
    let (_, head) = w.s3("HEAD", &format!("/vault/later?versionId={later}"), &[], "");
    assert!(
        head.contains("x-amz-object-lock-retain-until-date: 2024-01-31T00:00:00.000Z"),
        "{head}"
    );
    w.refused(
        "delete the defaulted version",
        (
            "DELETE",
            &format!("/vault/later?versionId={later}"),
            &[bypass],
            "",
        ),
        403,
        "AccessDenied",
    );

    // Lock headers on a PUT only as S3 spells them.
    for (name, value) in [
        ("x-amz-object-lock-mode", "compliance"),
        ("x-amz-object-lock-mode", "Governance"),
        ("x-amz-object-lock-mode", "NONE"),
        ("x-amz-object-lock-legal-hold", "on"),
        ("x-amz-object-lock-legal-hold", "TRUE"),
    ] {
        let mut headers = vec![(name, value), ("Content-MD5", body_md5.as_str())];
        if name == "x-amz-object-lock-mode" {
            headers.push(("x-amz-object-lock-retain-until-date", UNTIL));
        }
        w.refused(
            &format!("PUT with {name}: {value}"),
            ("PUT", "/vault/log", &headers, BODY),
            400,
            "InvalidArgument",
        );
    }
    // Legal hold only ON or OFF; turning it OFF leaves the retention in force.
    let hold_path = format!("/vault/log?legal-hold&versionId={v1}");
    for status in ["on", "Off", "MAYBE", ""] {
        let body = format!("<LegalHold><Status>{status}</Status></LegalHold>");
        w.refused(
            &format!("legal hold {status:?}"),
            ("PUT", &hold_path, &[], &body),
            400,
            "MalformedXML",
        );
    }
    for status in ["ON", "OFF"] {
        let body = format!("<LegalHold><Status>{status}</Status></LegalHold>");
        assert_eq!(w.s3("PUT", &hold_path, &[], &body).0, 200);
    }
    w.refused(
        "delete after hold OFF",
        ("DELETE", &version, &[bypass], ""),
        403,
        "AccessDenied",
    );

    // The bucket: versioning cannot be suspended, the bucket cannot be deleted, and removing
    // the default rule changes nothing for versions already stored.
    let suspend = "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
    w.refused(
        "suspend versioning",
        ("PUT", "/vault?versioning", &[], suspend),
        409,
        "InvalidBucketState",
    );
    w.refused(
        "delete the bucket",
        ("DELETE", "/vault", &[], ""),
        409,
        "BucketNotEmpty",
    );
    assert_eq!(
        w.s3("PUT", "/vault?object-lock", &[], &lock_config("")).0,
        200
    );

    // Overwriting the key makes a new version; a delete marker hides the key; neither touches
    // the locked version.
    let (status, text) = w.s3("PUT", "/vault/log", &[], "overwritten");
    assert_eq!(status, 200, "{text}");
    let (status, text) = w.s3("GET", "/vault/log", &[], "");
    assert_eq!(status, 200);
    assert!(text.ends_with("overwritten"), "{text}");
    let (status, text) = w.s3("DELETE", "/vault/log", &[], "");
    assert_eq!(status, 204, "{text}");
    assert_eq!(w.s3("GET", "/vault/log", &[], "").0, 404);
    w.intact(&v1);

    // The clock endpoint is off unless asked for: it cannot move time.
    let before = w.now();
    let (status, v) = w.clock(r#"{"advanceSeconds": 315360000}"#);
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("--allow-clock-control"),
        "{v}"
    );
    assert_eq!(w.now(), before);

    // Restarted with clock control on: a move is bounded and only forward.
    w.start(START, true);
    // (A restart begins a little ahead of where the clock was, never behind.)
    let restarted = w.now();
    assert!(restarted >= before, "the clock went back to {restarted}");
    for body in [
        r#"{"advanceSeconds": 1e12}"#,
        r#"{"advanceSeconds": 31708801}"#,
        r#"{"advanceSeconds": -1}"#,
        r#"{"advanceSeconds": -315360000}"#,
        r#"{"advanceSeconds": "315360000"}"#,
        r#"{"advanceSeconds": null}"#,
        r#"{"scale": 1e9}"#,
        r#"{"scale": -1}"#,
        r#"[1]"#,
    ] {
        let (status, v) = w.clock(body);
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(w.now(), restarted, "{body} moved the clock");
    }
    for _ in 0..2 {
        let (status, v) = w.clock(r#"{"advanceSeconds": 31622400}"#);
        assert_eq!(status, 200, "{v}");
    }
    let moved = w.now();
    assert_eq!(moved, restarted + 2 * 366 * DAY);
    w.refused(
        "delete after two years",
        ("DELETE", &version, &[bypass], ""),
        403,
        "AccessDenied",
    );

    // Killed and restarted with a clock that is behind: the emulator's clock does not go back,
    // and the version is as it was.
    w.start(START, false);
    assert!(w.now() >= moved, "the clock went back to {}", w.now());
    w.refused(
        "delete after a restart",
        ("DELETE", &version, &[bypass], ""),
        403,
        "AccessDenied",
    );
    w.intact(&v1);
    // Only the version that was the current one is hidden; the locked one is listed.
    let (_, listing) = w.s3("GET", "/vault?versions", &[], "");
    assert_eq!(listing.matches("<Version>").count(), 3, "{listing}");
    // The same holds after a clean stop.
    w.stop();
    w.start(START - 365 * DAY, false);
    assert!(w.now() >= moved);
    w.intact(&v1);
}
