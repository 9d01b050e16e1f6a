//! Every file the `veritrail` command reads from outside goes through [`read_bytes`] or
//! [`read_text`], with a [`Limit`] that fits what the file is: a file larger than its limit (or a
//! device that never ends, like `/dev/zero`) is refused after reading at most one byte past the
//! limit, never read to the end.

use std::io::Read as _;
use std::path::Path;

/// How much of one kind of file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The most bytes accepted.
    pub bytes: u64,
    /// What the file is, for the message (`a get-digest file`).
    pub what: &'static str,
}

/// `aws qldb get-digest` output: a hash and an address, well under a kilobyte.
pub const DIGEST: Limit = Limit {
    bytes: 1 << 20,
    what: "a get-digest file",
};

/// `aws qldb get-block` / `get-revision` output, a proof, or a consistency proof: what
/// `veritrail-verify` parses at most.
pub const QLDB_OUTPUT: Limit = Limit {
    bytes: veritrail_verify::input::MAX_INPUT_BYTES as u64,
    what: "QLDB output",
};

/// A stored CloudTrail object (a gzipped log or digest file) in a local mirror or S3.
pub const TRAIL_OBJECT: Limit = Limit {
    bytes: 256 << 20,
    what: "a CloudTrail log or digest file",
};

/// A local mirror's `public-keys.json` (a ListPublicKeys response).
pub const PUBLIC_KEYS: Limit = Limit {
    bytes: 1 << 20,
    what: "a public key list",
};

/// A local mirror's `<key>.metadata.json` or `trail-status.json`.
pub const SMALL_JSON: Limit = Limit {
    bytes: 64 << 10,
    what: "an object's metadata or a trail status",
};

/// An evidence bundle (`verify bundle`, `evidence bundle --previous`) or a query answer.
pub const BUNDLE: Limit = Limit {
    bytes: veritrail_verify::bundle::MAX_BUNDLE_BYTES as u64,
    what: "an evidence bundle",
};

/// A report put into a bundle: `validate-logs --json`, `check --json`.
pub const REPORT: Limit = Limit {
    bytes: 256 << 20,
    what: "a report",
};

/// A ledger's verifier key file (`<key-dir>/<name>.pub`).
pub const VERIFIER_KEY: Limit = Limit {
    bytes: 4096,
    what: "a verifier key",
};

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The file is not there.
    NotFound,
    /// It is larger than its limit.
    TooLarge(Limit),
    /// Any other I/O error, or text that is not UTF-8.
    Other(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("No such file or directory"),
            Self::TooLarge(limit) => write!(
                f,
                "larger than {} bytes, the limit for {}",
                limit.bytes, limit.what
            ),
            Self::Other(e) => f.write_str(e),
        }
    }
}

/// Reads at most `limit` bytes of `path`.
pub fn read_bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Other(e.to_string()),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Other(e.to_string()))?;
    if meta.is_dir() {
        return Err(ReadError::Other("is a directory".into()));
    }
    // A regular file's size is known; a device or pipe is read one byte past the limit at most.
    if meta.is_file() && meta.len() > limit.bytes {
        return Err(ReadError::TooLarge(limit));
    }
    let mut out = Vec::new();
    file.take(limit.bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ReadError::Other(e.to_string()))?;
    if out.len() as u64 > limit.bytes {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(out)
}

/// [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, limit)?)
        .map_err(|e| ReadError::Other(format!("not UTF-8 text: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_large_files_are_refused() {
        let small = Limit {
            bytes: 16,
            what: "a test file",
        };
        let e = read_bytes(Path::new("/dev/zero"), small).unwrap_err();
        assert_eq!(
            e.to_string(),
            "larger than 16 bytes, the limit for a test file"
        );
        let dir = std::env::temp_dir().join(format!("veritrail-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, [b'x'; 16]).unwrap();
        assert_eq!(read_text(&file, small).unwrap().len(), 16);
        std::fs::write(&file, [b'x'; 17]).unwrap();
        assert!(matches!(
            read_bytes(&file, small),
            Err(ReadError::TooLarge(_))
        ));
        std::fs::write(&file, [0xFF]).unwrap();
        assert!(
            read_text(&file, small)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        assert!(matches!(
            read_bytes(&dir.join("missing"), small),
            Err(ReadError::NotFound)
        ));
        assert!(
            read_bytes(&dir, small)
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
