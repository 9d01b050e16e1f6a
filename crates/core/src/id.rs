//! QLDB-style ids: 128 random bits written as 22 base62 characters (`[0-9A-Za-z]`), the shape
//! of strand, transaction, document and table ids. Randomness is injected through
//! [`IdSource`], so tests get the same ids every run.

use std::fmt;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of every id.
pub const ID_LEN: usize = 22;

/// Encodes 128 bits as exactly 22 base62 characters.
pub fn base62_128(mut v: u128) -> String {
    let mut out = [b'0'; ID_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    // 62^22 > 2^128, so nothing is left over.
    out.iter().map(|&b| char::from(b)).collect()
}

/// True for 22 characters of `[0-9A-Za-z]`.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A source of random 128-bit values for ids.
pub trait IdSource: Send + Sync + fmt::Debug {
    fn next_u128(&self) -> u128;

    /// A fresh 22-character id.
    fn new_id(&self) -> String {
        base62_128(self.next_u128())
    }
}

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsIds;

/// Bytes of OS randomness fetched at once for ids, so that an id does not cost a system call.
const POOL: usize = 512;

thread_local! {
    /// This thread's unused OS randomness, and how much of it is used.
    static RANDOM: std::cell::RefCell<([u8; POOL], usize)> =
        const { std::cell::RefCell::new(([0; POOL], POOL)) };
}

impl IdSource for OsIds {
    fn next_u128(&self) -> u128 {
        RANDOM.with(|pool| {
            let (bytes, used) = &mut *pool.borrow_mut();
            if *used + 16 > POOL {
                if getrandom::fill(bytes).is_err() {
                    // No OS randomness: fall back to time and address entropy hashed together.
                    // Ids need uniqueness, not secrecy.
                    let now = crate::time::Clock::now(&crate::time::SystemClock);
                    let seed = format!("{now:?}{:p}", bytes);
                    bytes[..16].copy_from_slice(&Sha256::digest(seed.as_bytes())[..16]);
                    return u128::from_be_bytes(bytes[..16].try_into().unwrap_or([0; 16]));
                }
                *used = 0;
            }
            let mut buf = [0u8; 16];
            buf.copy_from_slice(&bytes[*used..*used + 16]);
            *used += 16;
            u128::from_be_bytes(buf)
        })
    }
}

/// Time-ordered ids: 48 bits of Unix milliseconds from a [`Clock`](crate::time::Clock), then 80
/// random bits. They sort by creation time (base62 over `0-9A-Za-z` keeps numeric order), so
/// storage indexes keyed by document id grow at one end instead of touching a random page per
/// insert.
#[derive(Debug)]
pub struct TimeOrderedIds {
    clock: std::sync::Arc<dyn crate::time::Clock>,
    last: Mutex<u128>,
}

impl Default for TimeOrderedIds {
    /// Ids on the system clock.
    fn default() -> Self {
        Self::with_clock(std::sync::Arc::new(crate::time::SystemClock))
    }
}

impl TimeOrderedIds {
    /// Ids whose time part comes from `clock` (the emulator's steered clock, a test's manual one).
    pub fn with_clock(clock: std::sync::Arc<dyn crate::time::Clock>) -> Self {
        Self {
            clock,
            last: Mutex::new(0),
        }
    }
}

impl IdSource for TimeOrderedIds {
    fn next_u128(&self) -> u128 {
        let ms = u128::from(self.clock.now().0.max(0).unsigned_abs()) & ((1u128 << 48) - 1);
        let random = OsIds.next_u128() & ((1u128 << 80) - 1);
        let candidate = (ms << 80) | random;
        // Strictly increasing within the process, even within one millisecond.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let next = if candidate > *last {
            candidate
        } else {
            last.wrapping_add(1)
        };
        *last = next;
        next
    }
}

/// Deterministic ids for tests: SHA-256 of a seed and a counter.
#[derive(Debug)]
pub struct SeededIds {
    seed: u64,
    counter: Mutex<u64>,
}

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: Mutex::new(0),
        }
    }
}

impl IdSource for SeededIds {
    fn next_u128(&self) -> u128 {
        let mut c = self.counter.lock().unwrap_or_else(|p| p.into_inner());
        *c += 1;
        let mut h = Sha256::new();
        h.update(self.seed.to_be_bytes());
        h.update(c.to_be_bytes());
        let d = h.finalize();
        let mut buf = [0u8; 16];
        buf.copy_from_slice(&d[..16]);
        u128::from_be_bytes(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_base62_characters() {
        assert_eq!(base62_128(0), "0000000000000000000000");
        assert_eq!(base62_128(u128::MAX).len(), 22);
        let ids = SeededIds::new(7);
        let (a, b) = (ids.new_id(), ids.new_id());
        assert!(is_valid_id(&a) && is_valid_id(&b) && a != b);
        assert_eq!(SeededIds::new(7).new_id(), a);
        assert!(is_valid_id(&OsIds.new_id()));
        let ordered = TimeOrderedIds::default();
        let many: Vec<String> = (0..1000).map(|_| ordered.new_id()).collect();
        assert!(
            many.windows(2).all(|w| w[0] < w[1]),
            "time-ordered ids sort as created"
        );
        assert!(many.iter().all(|i| is_valid_id(i)));
        assert!(!is_valid_id("short") && !is_valid_id("KmA3ZZca7vAIiJAK9S5Iw!"));
    }
}
