//! Issue 14 item 5: the compliance dashboard of `veritrail serve`, opened in headless Chromium
//! (Debian's `chromium`, which `.ci/run` installs) as a person would open it: the ledger's tip
//! and signed checkpoint, the trail logging with its last validation, the alerts with a review,
//! posture per framework, and the records-per-hour chart; then the trail stopped, and the same
//! page, refreshed, shows logging off and the frameworks failing. Also the evidence bundle
//! with the posture checks run in it (`--check`) and the trail's logs validated from S3
//! (`--trail-arn`), verified offline.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::posture::{advance, clock, run, start, stop};
use crate::{http, s, scratch, text};

/// The headless browser: `VERITRAIL_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("VERITRAIL_CHROMIUM") {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for name in ["chromium", "chromium-browser"] {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "the dashboard scenario needs headless Chromium: `apt-get install chromium` (.ci/run does), or set VERITRAIL_CHROMIUM"
    );
}

/// Opens `url` in headless Chromium: the DOM it rendered, and a screenshot at `png`.
fn open(url: &str, profile: &Path, png: &Path) -> String {
    let common = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", s(profile)))
        .env("HOME", profile);
    };
    let mut dump = Command::new(chromium());
    common(&mut dump);
    let out = dump.args(["--dump-dom", url]).output().unwrap();
    let dom = text(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {url}: {}\n{dom}",
        text(&out.stderr)
    );
    let mut shot = Command::new(chromium());
    common(&mut shot);
    let out = shot
        .arg(format!("--screenshot={}", s(png)))
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 2000));
    dom
}

/// What a person reads: the DOM's text with the tags taken out and spaces folded.
fn visible(dom: &str) -> String {
    let body = dom.split("<body>").nth(1).unwrap_or(dom);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row of a table whose first cell starts with `first`, as visible text.
fn row<'d>(dom: &'d str, class: &str, first: &str) -> &'d str {
    dom.split(&format!("<tr class=\"{class}\">"))
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap())
        .find(|r| visible(r).starts_with(first))
        .unwrap_or_else(|| panic!("no {class} row for {first} in {dom}"))
}

fn alert_ids(url: &str, home: &Path, ledgers: &Path) -> Vec<Value> {
    let (code, out, err) = run(
        url,
        home,
        &[
            "alerts",
            "list",
            "--json",
            "--ledger",
            "audit",
            "--data-dir",
            s(ledgers),
        ],
    );
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_dashboard_shows_what_the_cli_knows_in_a_browser() {
    let dir = scratch("dashboard");
    let (data, home, profile) = (dir.join("data"), dir.join("home"), dir.join("chromium"));
    std::fs::create_dir_all(&home).unwrap();
    let ledgers = data.join("ledgers");

    // The defaults set up, then stopped: an alert is reviewed offline, as `alerts ack` does.
    // The set-up's events reach the processor through the queue after the banner, so the
    // server runs until the bucket policy's alert is in the ledger.
    let (child, _, url, _) = start(&data, &[]);
    let mut alerts = Vec::new();
    for attempt in 0..60 {
        alerts = alert_ids(&url, &home, &ledgers);
        if alerts.iter().any(|a| a["eventName"] == "PutBucketPolicy") {
            break;
        }
        assert!(
            attempt < 59,
            "the bucket policy raised no alert: {alerts:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    stop(child);
    let reviewed = alerts
        .iter()
        .find(|a| a["eventName"] == "PutBucketPolicy")
        .expect("the bucket policy raised an alert");
    let id = reviewed["alertId"].as_str().unwrap();
    let (code, _, err) = run(
        &url,
        &home,
        &[
            "alerts",
            "ack",
            id,
            "--by",
            "alice",
            "--note",
            "set by veritrail serve",
            "--ledger",
            "audit",
            "--data-dir",
            s(&ledgers),
        ],
    );
    assert_eq!(code, 0, "{err}");

    // Restarted on the same data: an hour on the clock, so the trail delivers logs and digests.
    let (child, addr, url, _) = start(&data, &[]);
    advance(&addr, 3700);
    let page = format!("{url}/dashboard?refresh=1");
    // Deliveries land on the tick after the clock moves; the processor picks them up after.
    let mut dom = String::new();
    for attempt in 0..40 {
        dom = open(&page, &profile, &dir.join("healthy.png"));
        if visible(&dom).contains("17 checks passed, 0 failed, 0 could not run") {
            break;
        }
        assert!(
            attempt < 39,
            "the checks never all passed: {}",
            visible(&dom)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let seen = visible(&dom);
    assert!(!dom.contains("<script"), "no script on the page");
    assert!(!dom.contains("src=\""), "nothing fetched from elsewhere");

    // A span the chart cannot draw is refused.
    let refused = http(&addr, "GET", "/dashboard?hours=0", &[], "").unwrap();
    assert_eq!(refused.status, 400, "{}", refused.body);

    // The tip and digest shown are the ledger's (as `veritrail ledger digest --tip` prints it).
    let tip = seen
        .split("Tip block ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no tip in {seen}"));
    let (code, out, err) = run(
        &url,
        &home,
        &[
            "ledger",
            "digest",
            "audit",
            "--tip",
            tip,
            "--data-dir",
            s(&ledgers),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let digest: Value = serde_json::from_str(&out).unwrap();
    let shown = dom
        .split("<code id=\"digest\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap();
    assert_eq!(digest["Digest"].as_str().unwrap(), shown);
    let checkpoint = seen
        .split("Latest checkpoint ")
        .nth(1)
        .unwrap_or_else(|| panic!("no checkpoint in {seen}"));
    assert!(checkpoint.contains(" blocks, signed 2026-"), "{checkpoint}");

    // The trail: logging, multi-region, validated, its log and digest files valid.
    let trail = visible(row(&dom, "trail", "veritrail"));
    assert!(
        trail.starts_with("veritrail (us-east-1) yes yes yes logs "),
        "{trail}"
    );
    let validation = trail.split(": ").last().unwrap();
    let numbers: Vec<u64> = validation
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        validation.contains("digest files valid") && numbers.len() == 4,
        "{trail}"
    );
    assert!(
        numbers[0] >= 1 && numbers[1] == 0 && numbers[2] >= 1 && numbers[3] == 0,
        "{trail}"
    );

    // The alerts, one reviewed by alice; the others still open.
    assert!(
        seen.contains(&format!(
            "{} open, 1 acknowledged, 0 resolved",
            alerts.len() - 1
        )),
        "{seen}"
    );
    assert!(
        seen.contains("ACKNOWLEDGED by alice at ") && seen.contains(": set by veritrail serve"),
        "{seen}"
    );

    // Posture per framework, every one passing.
    for f in ["PCI DSS v4.0.1", "SOC 2", "ISO/IEC 27001:2022", "HIPAA"] {
        let r = visible(row(&dom, "framework", f));
        assert!(r.starts_with(&format!("{f} PASS")), "{r}");
    }
    // Records per hour: bars, and the numbers behind them add up to the count above them.
    assert!(dom.contains("<svg id=\"records-chart\""), "{dom}");
    assert!(dom.contains("<rect class=\"bar\""), "{dom}");
    let counted: u64 = dom
        .split("<table id=\"records-per-hour\">")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap()
        .split("<tr><td>")
        .skip(1)
        .map(|r| {
            visible(r)
                .split(' ')
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(counted > 0);
    assert!(
        seen.contains(&format!("{counted} records in the 24 hours")),
        "{seen}"
    );

    // An evidence bundle with the posture checks run in it, verified offline.
    let bundle = dir.join("period.bundle");
    let now = clock(&addr);
    let (code, out, err) = run(
        &url,
        &home,
        &[
            "evidence",
            "bundle",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            &now,
            "--out",
            s(&bundle),
            "--check",
            "--trail-arn",
            "arn:aws:cloudtrail:us-east-1:000000000000:trail/veritrail",
            "--ledger",
            "audit",
            "--data-dir",
            s(&ledgers),
            "--key-dir",
            s(&data.join("keys")),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let key = data.join("keys/audit.pub");
    let (code, out, err) = run(
        &url,
        &home,
        &["verify", "bundle", s(&bundle), "--key", s(&key), "--json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let verified: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verified["posture"]["PASS"], 17, "{verified}");
    assert_eq!(verified["posture"]["FAIL"], 0, "{verified}");
    // The trail's logs of the period validated from the emulator's S3 by `--trail-arn`.
    assert_eq!(verified["logsValid"], true, "{verified}");

    // The trail stopped: the refreshed page shows it, and the frameworks fail.
    let (code, _, err) = crate::serve::run_aws(
        &url,
        &home,
        &["cloudtrail", "stop-logging", "--name", "veritrail"],
    );
    assert_eq!(code, 0, "{err}");
    let dom = open(&page, &profile, &dir.join("stopped.png"));
    let trail = visible(row(&dom, "trail", "veritrail"));
    assert!(
        trail.starts_with("veritrail (us-east-1) no yes yes"),
        "{trail}"
    );
    let check = visible(row(&dom, "check", "trail.logging"));
    assert!(check.starts_with("trail.logging FAIL"), "{check}");
    let pci = visible(row(&dom, "framework", "PCI DSS v4.0.1"));
    assert!(pci.starts_with("PCI DSS v4.0.1 FAIL"), "{pci}");
    stop(child);
}
