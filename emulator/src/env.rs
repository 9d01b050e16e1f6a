//! What every service reads time and randomness from: the emulator's one clock (steered:
//! scaled or moved forward for tests and demos), time-ordered ids for request ids, version ids
//! and event ids, and unguessable tokens from the operating system's random source for
//! anything that grants access (session tokens).

use std::sync::Arc;

use veritrail_core::id::{IdSource as _, TimeOrderedIds};
use veritrail_core::time::{Clock as _, SteeredClock, UtcMillis};

/// The clock and id sources of one emulator.
#[derive(Debug)]
pub struct Env {
    pub clock: Arc<SteeredClock>,
    ids: TimeOrderedIds,
}

/// The operating system has no randomness to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRandomness(pub String);

impl Env {
    pub fn new(clock: Arc<SteeredClock>) -> Self {
        Self {
            ids: TimeOrderedIds::with_clock(clock.clone()),
            clock,
        }
    }

    /// Now, on the emulator's clock.
    pub fn now(&self) -> UtcMillis {
        self.clock.now()
    }

    /// A 22-character base62 id: 48 bits of the emulator's clock, then 80 random bits; ids made
    /// later sort after ids made earlier. Ids are names, not secrets: use [`Env::token`] for
    /// anything that grants access.
    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }

    /// `bytes` bytes from the operating system's random source, as standard base64 (the
    /// alphabet QLDB allows in session tokens).
    pub fn token(&self, bytes: usize) -> Result<String, NoRandomness> {
        use base64::Engine as _;
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf).map_err(|e| NoRandomness(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Fills `buf` from the operating system's random source (key material, nonces, random
    /// passwords).
    pub fn fill_random(&self, buf: &mut [u8]) -> Result<(), NoRandomness> {
        getrandom::fill(buf).map_err(|e| NoRandomness(e.to_string()))
    }

    /// A uniformly random index below `n` (`n > 0`), without modulo bias.
    pub fn random_below(&self, n: u32) -> Result<u32, NoRandomness> {
        let n = n.max(1);
        // The largest multiple of n that fits: values at or above it are drawn again.
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let mut b = [0u8; 4];
            self.fill_random(&mut b)?;
            let v = u32::from_le_bytes(b);
            if v < zone {
                return Ok(v % n);
            }
        }
    }

    /// A random (version 4) UUID, as SQS and SNS give message ids.
    pub fn uuid(&self) -> Result<String, NoRandomness> {
        let mut b = [0u8; 16];
        self.fill_random(&mut b)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = crate::wire::hex(&b);
        Ok(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::time::ManualClock;

    #[test]
    fn ids_follow_the_clock_and_tokens_do_not_repeat() {
        let inner = Arc::new(ManualClock::new(UtcMillis(1_000), 0));
        let env = Env::new(Arc::new(SteeredClock::new(inner)));
        let ids: Vec<String> = (0..100).map(|_| env.new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        env.clock.advance(1).unwrap();
        assert!(env.new_id() > ids[99]);
        let (a, b) = (env.token(32).unwrap(), env.token(32).unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 44);
        let u = env.uuid().unwrap();
        assert_eq!((u.len(), &u[14..15]), (36, "4"));
        assert_ne!(u, env.uuid().unwrap());
    }
}
