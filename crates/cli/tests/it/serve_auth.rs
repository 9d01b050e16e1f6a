//! `veritrail serve --credentials`: the defaults (ledger, bucket, trail, rules, processor) are
//! set up by the server's own generated credential, the AWS CLI signs as the file's principals
//! and gets what their roles allow, strangers and unsigned requests are refused, the dashboard
//! is refused unless `--dashboard-public`; a bad credentials file, or an address beyond loopback
//! without credentials, stops the server at start with the reason (exit 2).

use std::io::BufRead as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::aws_env::{aws, aws_env};
use crate::posture::stop;
use crate::{S3_AUTH, http, s, scratch, serve_with, text, veritrail};

const CREDENTIALS: &str = "\
[alice]
aws_access_key_id = AKIAALICEAUDITOR
aws_secret_access_key = alice-secret
principal = arn:aws:iam::123456789012:user/alice
role = auditor
";

/// `aws ARGS` as alice against `url`: exit code and output.
fn alice(url: &str, home: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(aws());
    aws_env(&mut cmd, url, home);
    let out = cmd
        .env("AWS_ACCESS_KEY_ID", "AKIAALICEAUDITOR")
        .env("AWS_SECRET_ACCESS_KEY", "alice-secret")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn serve_with_credentials_sets_up_as_itself_and_serves_only_who_proves_it() {
    let dir = scratch("serve-auth");
    let creds = dir.join("credentials.ini");
    std::fs::write(&creds, CREDENTIALS).unwrap();
    let data = dir.join("data");
    let (child, mut out, addr) = serve_with(&["--credentials", s(&creds)], s(&data));
    let mut set_up = String::new();
    out.read_line(&mut set_up).unwrap();
    assert!(set_up.starts_with("audit trail: ledger audit"), "{set_up}");
    let url = format!("http://{addr}");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();

    // Unsigned, signed by a key the file does not have, and the dashboard: refused.
    let a = http(&addr, "GET", "/", &[], "").unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("<Code>AccessDenied</Code>"), "{}", a.body);
    let a = http(&addr, "GET", "/", &[S3_AUTH], "").unwrap();
    assert!(
        a.body.contains("<Code>IncompleteSignature</Code>"),
        "{}",
        a.body
    );
    let a = http(
        &addr,
        "GET",
        "/",
        &[S3_AUTH, ("X-Amz-Date", "20240101T000000Z")],
        "",
    )
    .unwrap();
    assert!(
        a.body.contains("<Code>InvalidAccessKeyId</Code>"),
        "{}",
        a.body
    );
    let a = http(&addr, "GET", "/dashboard", &[], "").unwrap();
    assert_eq!(a.status, 403);
    assert!(a.body.contains("--dashboard-public"), "{}", a.body);

    // The auditor reads the ledger's digest and the trail's bucket, and changes nothing.
    let (ok, digest) = alice(&url, &home, &["qldb", "get-digest", "--name", "audit"]);
    assert!(ok, "{digest}");
    let (ok, buckets) = alice(&url, &home, &["s3", "ls"]);
    assert!(ok && buckets.contains("veritrail-trail-"), "{buckets}");
    let (ok, refused) = alice(
        &url,
        &home,
        &["cloudtrail", "stop-logging", "--name", "veritrail"],
    );
    assert!(
        !ok && refused.contains("AccessDeniedException"),
        "{refused}"
    );
    // The set-up calls are the server's own user's; the refusal is alice's.
    let newest = |event_name: &str| -> Value {
        let attribute = format!("AttributeKey=EventName,AttributeValue={event_name}");
        let (ok, found) = alice(
            &url,
            &home,
            &[
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                &attribute,
            ],
        );
        assert!(ok, "{found}");
        let events: Value = serde_json::from_str(&found).unwrap();
        serde_json::from_str(events["Events"][0]["CloudTrailEvent"].as_str().unwrap()).unwrap()
    };
    let record = newest("CreateTrail");
    assert_eq!(
        record["userIdentity"]["userName"], "veritrail-serve",
        "{record}"
    );
    let record = newest("StopLogging");
    assert_eq!(record["errorCode"], "AccessDeniedException", "{record}");
    assert_eq!(
        record["userIdentity"]["arn"],
        "arn:aws:iam::123456789012:user/alice"
    );
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_credentials_file_or_an_unauthenticated_exposed_address_stops_the_start() {
    let dir = scratch("serve-auth-refused");
    let data = dir.join("data");
    let bad = dir.join("bad.ini");
    std::fs::write(
        &bad,
        "[a]\naws_access_key_id = AKIAA\naws_secret_access_key = s\nprincipal = arn:aws:iam::123456789012:user/a\nrole = owner\n",
    )
    .unwrap();
    let start = |args: &[&str], env: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veritrail"));
        cmd.arg("serve")
            .args(["--no-defaults", "--data-dir", s(&data)])
            .args(args)
            .env_remove("VERITRAIL_CREDENTIALS");
        if let Some(file) = env {
            cmd.env("VERITRAIL_CREDENTIALS", file);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = start(&["--credentials", s(&bad), "--addr", "127.0.0.1:0"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 5") && err.contains("unknown role \"owner\""),
        "{err}"
    );
    let (code, err) = start(&["--addr", "127.0.0.1:0"], Some(&bad));
    assert_eq!(code, Some(2), "VERITRAIL_CREDENTIALS is read too: {err}");
    assert!(err.contains("line 5"), "{err}");
    let missing = dir.join("missing.ini");
    let (code, err) = start(
        &["--credentials", s(&missing), "--addr", "127.0.0.1:0"],
        None,
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be read"), "{err}");
    let (code, err) = start(&["--addr", "0.0.0.0:0"], None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("refusing to listen") && err.contains("--credentials"),
        "{err}"
    );
    let (code, err) = start(&["--addr", "127.0.0.1:0", "--dashboard-public"], None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--dashboard-public needs --credentials"),
        "{err}"
    );
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let (code, err) = start(
        &[
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&cert),
        ],
        None,
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--tls-cert") && err.contains("no CERTIFICATE"),
        "{err}"
    );
    let out = veritrail(&["serve", "--tls-cert", s(&cert)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap: --tls-cert needs --tls-key"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
