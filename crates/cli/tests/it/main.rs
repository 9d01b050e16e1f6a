//! The `veritrail` binary as a user runs it: exit codes, messages and `--json`.
#![allow(clippy::unwrap_used)]

mod analytics;
mod audit_trail;
mod aws_env;
mod bundle;
mod crash;
mod dashboard;
mod ingest;
mod ledger;
mod postgres;
mod posture;
mod replicate;
mod rules;
mod serve;
mod serve_auth;
mod serve_postgres;
mod sources;
mod tamper;
mod trail;
mod validate_logs;
mod verify;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/qldb/vehicle-registration")
        .join(name)
}

/// A real CloudTrail log file from the shared dataset (`$VERITRAIL_SHARED` or `../shared`).
pub fn cloudtrail_file(name: &str) -> PathBuf {
    let p = shared_cloudtrail("invictus-aws-dataset").join(name);
    assert!(p.is_file(), "missing shared data {}", p.display());
    p
}

/// A file or directory of the shared CloudTrail data (`data/cloudtrail/<rel>`).
pub fn shared_cloudtrail(rel: &str) -> PathBuf {
    let shared = std::env::var_os("VERITRAIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = shared.join("data/cloudtrail").join(rel);
    assert!(p.exists(), "missing shared data {}", p.display());
    p
}

pub fn veritrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veritrail-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An answer from the emulator: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange with the emulator at `addr`, or `None` if the connection broke (the
/// server was killed mid-request: nothing was acknowledged).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Answer> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// S3 credentials for the emulator (signatures are not checked).
pub const S3_AUTH: (&str, &str) = (
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIACRASH/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
);

/// One S3 request: (status, body), or `None` if the connection broke.
pub fn s3(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    http(addr, method, path, &[S3_AUTH], body).map(|a| (a.status, a.body))
}

/// A `veritrail serve` a test started, killed when dropped if the test has not stopped it (so a
/// test that fails leaves no server running behind it).
#[derive(Debug)]
pub struct Started(pub Child);

impl std::ops::Deref for Started {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Started {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // Once the test has waited for it, the process is gone and both calls do nothing.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `veritrail serve --no-defaults` (the bare emulator) on a free port over `dir` (with
/// `extra` arguments); returns the child and its address.
pub fn serve(dir: &str, extra: &[&str]) -> (Started, String) {
    let (child, _, addr) = serve_with(&[&["--no-defaults"][..], extra].concat(), dir);
    (child, addr)
}

/// Starts `veritrail serve ARGS --addr 127.0.0.1:0 --data-dir DIR`; returns the child, the rest
/// of its standard output after the first line, and its address from that line.
pub fn serve_with(
    args: &[&str],
    dir: &str,
) -> (Started, BufReader<std::process::ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veritrail"))
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0", "--data-dir", dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (Started(child), out, addr)
}

/// Runs `veritrail ARGS` and asserts exit 0; its standard output.
pub fn veritrail_ok(args: &[&str]) -> String {
    let out = veritrail(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "veritrail {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// An emulator on a manual clock stopped at `t0` (milliseconds), with the runtime it runs on.
pub fn emulator_at(t0: i64) -> (tokio::runtime::Runtime, veritrail_emulator::Running) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = rt
        .block_on(veritrail_emulator::spawn_with(|c| {
            c.clock = std::sync::Arc::new(veritrail_core::time::ManualClock::new(
                veritrail_core::time::UtcMillis(t0),
                0,
            ));
        }))
        .unwrap();
    (rt, running)
}

/// A `veritrail` writer whose stdout lines (its acknowledgements) are collected as they come.
#[derive(Debug)]
pub struct Collecting {
    pub child: Child,
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Collecting {
    pub fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_veritrail"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            lines,
            reader,
        }
    }

    /// Waits (at most 30 s) until `n` lines have come.
    pub fn wait_for_lines(&self, n: usize) {
        for _ in 0..15_000 {
            if self.lines.lock().unwrap().len() >= n {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Kills the writer with SIGKILL; returns whether it was still running, and its lines.
    pub fn kill(mut self) -> (bool, Vec<String>) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (!status.success(), lines)
    }
}

/// Writes the records of CloudTrail logs `logs` (from `cloudtrail_file`), `copies` times over,
/// as JSON Lines to `path`, each eventID made unique with `tag` and the copy; returns the path.
pub fn unique_records(path: &Path, logs: &[&str], copies: usize, tag: &str) -> String {
    let mut lines = String::new();
    for log in logs {
        let text = std::fs::read_to_string(cloudtrail_file(log)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for copy in 0..copies {
            for mut record in json["Records"].as_array().unwrap().iter().cloned() {
                let id = format!("{}-{tag}-{copy}", record["eventID"].as_str().unwrap());
                record["eventID"] = serde_json::Value::String(id);
                lines.push_str(&record.to_string());
                lines.push('\n');
            }
        }
    }
    std::fs::write(path, lines).unwrap();
    s(path).to_owned()
}

/// Transaction id -> how many blocks of the ledger at `path` carry it.
pub fn transactions_in(
    path: &Path,
    options: veritrail_ledger::LedgerOptions,
) -> std::collections::HashMap<String, usize> {
    let ledger = veritrail_ledger::Ledger::open_read_only(path, options).unwrap();
    let mut seen = std::collections::HashMap::new();
    for seq in 0..ledger.block_count() {
        let block = ledger.block_element(seq).unwrap();
        let st = block.as_struct().unwrap();
        let tx = st.get("transactionId").unwrap().as_text().unwrap();
        *seen.entry(tx.to_owned()).or_insert(0) += 1;
    }
    seen
}
