//! `veritrail serve` as an operator and a client meet it: SIGTERM stops it gracefully (exit 0)
//! with the records of the reads it answered just before committed, and the AWS CLI lists keys
//! that hold control characters.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::aws_env::{aws, aws_env};
use crate::{S3_AUTH, http, s, s3, scratch, serve, text};

/// Sends SIGTERM to `child` and waits (at most a minute) for it to exit; its exit code.
pub fn terminate(child: &mut Child) -> Option<i32> {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("the emulator did not stop within a minute of SIGTERM");
}

const CT_AUTH: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIACRASH/20240101/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00",
);

/// The request ids of the GetBucketLocation records LookupEvents finds.
fn recorded_request_ids(addr: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "GetBucketLocation"}],
            "MaxResults": 50,
        });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let a = http(
            addr,
            "POST",
            "/",
            &[
                CT_AUTH,
                (
                    "X-Amz-Target",
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                ),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            &body.to_string(),
        )
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        let page: Value = serde_json::from_str(&a.body).unwrap();
        for e in page["Events"].as_array().unwrap() {
            let record: Value =
                serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            ids.push(record["requestID"].as_str().unwrap().to_owned());
        }
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return ids,
        }
    }
}

#[test]
fn sigterm_stops_gracefully_and_keeps_the_records_of_reads() {
    let dir = scratch("serve-sigterm");
    let d = s(&dir).to_owned();
    let (mut child, addr) = serve(&d, &["--allow-clock-control"]);
    assert_eq!(s3(&addr, "PUT", "/probe", "").map(|r| r.0), Some(200));
    let moved = http(
        &addr,
        "POST",
        "/_veritrail/clock",
        &[],
        r#"{"advanceSeconds": 86400}"#,
    )
    .unwrap();
    assert_eq!(moved.status, 200, "{}", moved.body);
    // Reads change nothing, so their records wait in memory for the next write, the tick, or
    // the shutdown; SIGTERM follows at once.
    let mut asked = Vec::new();
    for _ in 0..100 {
        let a = http(&addr, "GET", "/probe?location", &[S3_AUTH], "").unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        asked.push(a.header("x-amz-request-id").unwrap().to_owned());
    }
    assert_eq!(terminate(&mut child), Some(0));

    let (mut child, addr) = serve(&d, &[]);
    let found = recorded_request_ids(&addr);
    for id in &asked {
        assert!(found.contains(id), "the record of request {id} was lost");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Keys XML 1.0 cannot carry literally, and ones URL encoding must not confuse.
const AWKWARD: &[&str] = &[
    "ctl\u{1}key",
    "tab\tkey",
    "esc\u{1b}key",
    "del\u{7f}key",
    "sp ace",
    "plus+key",
    "pct%41key",
    "amp&key",
    "uni✓",
    "dir/\u{2}/x",
];

fn encoded(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn run_aws(url: &str, home: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(aws());
    cmd.args(args);
    aws_env(&mut cmd, url, home);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn the_aws_cli_lists_keys_with_control_characters() {
    let dir = scratch("serve-awscli");
    let home = scratch("serve-awscli-home");
    let (mut child, addr) = serve(s(&dir), &[]);
    let url = format!("http://{addr}");
    assert_eq!(s3(&addr, "PUT", "/ctl", "").map(|r| r.0), Some(200));
    for key in AWKWARD {
        let put = s3(&addr, "PUT", &format!("/ctl/{}", encoded(key)), key);
        assert_eq!(put.map(|r| r.0), Some(200), "{key:?}");
    }
    let mut want: Vec<String> = AWKWARD.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    for (args, list) in [
        (
            &["s3api", "list-objects", "--bucket", "ctl"][..],
            "Contents",
        ),
        (
            &["s3api", "list-objects-v2", "--bucket", "ctl"][..],
            "Contents",
        ),
        (
            &["s3api", "list-object-versions", "--bucket", "ctl"][..],
            "Versions",
        ),
        (
            &[
                "s3api",
                "list-objects",
                "--bucket",
                "ctl",
                "--max-items",
                "3",
                "--page-size",
                "2",
            ][..],
            "Contents",
        ),
    ] {
        let (code, out, err) = run_aws(&url, &home, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<String> = v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap().to_owned())
            .collect();
        if args.contains(&"--max-items") {
            assert_eq!(keys, want[..3], "{args:?}");
            assert!(v["NextToken"].is_string(), "{out}");
        } else {
            assert_eq!(keys, want, "{args:?}");
        }
    }
    let (code, out, err) = run_aws(&url, &home, &["s3", "ls", "--recursive", "s3://ctl/"]);
    assert_eq!(code, 0, "{err}");
    for key in AWKWARD {
        assert!(out.contains(key), "aws s3 ls does not show {key:?}: {out}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_address_beyond_loopback_is_refused_while_requests_are_not_authenticated() {
    let dir = scratch("serve-not-loopback");
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = crate::veritrail(&[
            "serve",
            "--no-defaults",
            "--addr",
            addr,
            "--data-dir",
            s(&dir),
        ]);
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("refusing to listen on {addr}"))
                && err.contains("not authenticated"),
            "{err}"
        );
    }
}
