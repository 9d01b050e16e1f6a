//! [`LocalServer`]: a throwaway PostgreSQL server for tests and benchmarks, started as a local
//! process from Debian's binaries (`/usr/lib/postgresql/<version>/bin`, or `initdb` on `PATH`,
//! or `VERITRAIL_PG_BIN`) in a temporary directory, on a free loopback port, with
//! `fsync=on`.
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the
//! package creates, in a directory that user owns. The server is started under a small shell
//! that holds a pipe from this process: when this process exits, however it dies, the pipe
//! closes, and the shell stops the server and removes its directory.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::PostgresTarget;
use crate::storage::StorageError;

/// Why a local server could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError(pub String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start a local PostgreSQL server: {}", self.0)
    }
}

impl std::error::Error for ServerError {}

/// A running local server; stopped (and its directory removed) when dropped or when this
/// process exits.
#[derive(Debug)]
pub struct LocalServer {
    port: u16,
    keeper: Child,
    databases: AtomicU64,
}

/// Where PostgreSQL's programs are.
fn bin_dir() -> Result<PathBuf, ServerError> {
    if let Some(dir) = std::env::var_os("VERITRAIL_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| d.join("initdb").is_file()) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or_else(|| {
        ServerError(
            "no initdb on PATH or under /usr/lib/postgresql/*/bin; install Debian's `postgresql` package (or set VERITRAIL_PG_BIN)".into(),
        )
    })
}

/// The `postgres` user's uid and gid, from `/etc/passwd`.
fn postgres_user() -> Result<(u32, u32), ServerError> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| ServerError(format!("cannot read /etc/passwd: {e}")))?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres") && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| {
            ServerError(
                "running as root, and there is no `postgres` user to run the server as (Debian's package creates it)".into(),
            )
        })
}

/// A command run as the `postgres` user when this process is root, else as itself.
fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, ServerError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ServerError(format!("cannot find a free port: {e}")))
}

static STARTED: AtomicU64 = AtomicU64::new(0);

impl LocalServer {
    /// Initialises a cluster in a new temporary directory and starts a server on it.
    pub fn start() -> Result<Self, ServerError> {
        let bin = bin_dir()?;
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let mut last = String::new();
        // Another process may take the port between finding it and binding it: try again.
        for _ in 0..5 {
            let dir = Self::init(root, &bin)?;
            match Self::run(root, &bin, &dir, free_port()?) {
                Ok(server) => return Ok(server),
                Err(e) => last = e.0,
            }
        }
        Err(ServerError(last))
    }

    /// A new cluster in a new temporary directory.
    fn init(root: bool, bin: &Path) -> Result<PathBuf, ServerError> {
        let dir = std::env::temp_dir().join(format!(
            "veritrail-pg-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ServerError(format!("cannot create {}: {e}", dir.display())))?;
        if root {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| {
                ServerError(format!("cannot hand {} to postgres: {e}", dir.display()))
            })?;
        }
        let out = command(root, &bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ServerError(format!("cannot run initdb: {e}")))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ServerError(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(dir)
    }

    fn run(root: bool, bin: &Path, dir: &Path, port: u16) -> Result<Self, ServerError> {
        let log = dir.join("server.log");
        // The keeper shell: starts the server, waits for this process's pipe to close, then
        // stops the server (fast shutdown) and removes the directory.
        let script = r#"
"$1" -D "$2/data" -p "$3" -k "$2" -h 127.0.0.1 -c fsync=on -c synchronous_commit=on \
  -c max_connections=300 -c shared_buffers=32MB >"$2/server.log" 2>&1 &
server=$!
read _ignored
kill -INT "$server" 2>/dev/null
wait "$server"
rm -rf "$2"
"#;
        let keeper = command(root, Path::new("sh"))
            .arg("-c")
            .arg(script)
            .arg("keeper")
            .arg(bin.join("postgres"))
            .arg(dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ServerError(format!("cannot start postgres: {e}")))?;
        // From here on, dropping `server` stops the keeper and removes the directory.
        let server = Self {
            port,
            keeper,
            databases: AtomicU64::new(0),
        };
        for _ in 0..300 {
            if server.admin().is_ok() {
                return Ok(server);
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            // (Connections tried while it starts are logged as FATAL too; those are not failures.)
            let failed = log_text.lines().any(|l| {
                l.contains("could not bind")
                    || (l.contains("FATAL") && !l.contains("starting up"))
                    || l.contains("database system is shut down")
            });
            if failed {
                return Err(ServerError(format!(
                    "postgres on port {port}: {}",
                    log_text.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ServerError(format!(
            "postgres on port {port} did not accept connections within 15 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default().trim()
        )))
    }

    fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5));
        config.connect(postgres::NoTls)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database on this server, named from `hint`.
    pub fn new_database(&self, hint: &str) -> Result<PostgresTarget, StorageError> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let clean: String = hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("t{n}_{clean}");
        let mut admin = self
            .admin()
            .map_err(|e| StorageError::Unreachable(format!("the local server: {e}")))?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| StorageError::Backend(format!("CREATE DATABASE {name}: {e}")))?;
        PostgresTarget::parse(&self.url(&name))
    }

    /// Stops the server and waits for it (fast shutdown: open sessions end, commits made so far
    /// stay).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(mut pipe) = self.keeper.stdin.take() {
            let _ = pipe.write_all(b"stop\n");
        }
        let _ = self.keeper.wait();
    }
}
