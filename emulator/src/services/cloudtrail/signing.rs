//! Digest-signing keys: RSA-2048, one made every 25 days and valid for 30 (so their windows
//! overlap), kept in the key store (`cloudtrail-signing/<valid-from-ms>.der`, PKCS #1 DER),
//! never in `aws.sqlite`. ListPublicKeys serves their public halves.

use md5::Digest as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
use sha2::Sha256;
use veritrail_core::time::UtcMillis;

use crate::keys::KeyStore;

const DAY: i64 = 86_400_000;
/// A signing key is replaced after this long ...
pub const KEY_ROTATION: i64 = 25 * DAY;
/// ... and verifies signatures for this long.
pub const KEY_VALIDITY: i64 = 30 * DAY;
const DIR: &str = "cloudtrail-signing";

/// A digest-signing key.
#[derive(Debug)]
pub struct SigningKey {
    private: rsa::RsaPrivateKey,
    /// DER PKCS#1 RSAPublicKey, as ListPublicKeys serves it.
    pub der: Vec<u8>,
    /// Hex MD5 of `der`.
    pub fingerprint: String,
    pub valid_from: UtcMillis,
}

impl SigningKey {
    fn new(private: rsa::RsaPrivateKey, valid_from: UtcMillis) -> Result<Self, String> {
        let der = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec();
        Ok(Self {
            fingerprint: crate::wire::hex(&md5::Md5::digest(&der)),
            der,
            private,
            valid_from,
        })
    }

    pub fn valid_until(&self) -> UtcMillis {
        UtcMillis(self.valid_from.0.saturating_add(KEY_VALIDITY))
    }

    /// SHA256withRSA (PKCS #1 v1.5) over `message`, as hex.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        use sha2::Digest as _;
        // The DigestInfo prefix of SHA-256 (RFC 8017 §9.2): rsa 0.9 takes it as bytes, since
        // sha2 0.11 and rsa 0.9 use different `digest` crates.
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: Box::new([
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ]),
        };
        self.private
            .sign(scheme, &Sha256::digest(message))
            .map(|s| crate::wire::hex(&s))
            .map_err(|e| format!("signing a digest: {e}"))
    }
}

/// The keys, oldest first.
#[derive(Debug)]
pub struct SigningKeys {
    store: KeyStore,
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    /// Reads every key in the key store.
    pub fn open(store: &KeyStore) -> Result<Self, String> {
        let mut keys = Vec::new();
        for name in store.list(DIR).map_err(|e| e.0)? {
            let Some(from) = name
                .strip_suffix(".der")
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let der = store
                .read(&format!("{DIR}/{name}"))
                .map_err(|e| e.0)?
                .unwrap_or_default();
            let private = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("the key store: {DIR}/{name} is not an RSA key: {e}"))?;
            keys.push(SigningKey::new(private, UtcMillis(from))?);
        }
        keys.sort_by_key(|k| k.valid_from);
        Ok(Self {
            store: store.clone(),
            keys,
        })
    }

    /// Adds an existing key (migrated from an older data directory), unless it is there.
    pub fn import(&mut self, der: &[u8], valid_from: UtcMillis) -> Result<(), String> {
        if self.keys.iter().any(|k| k.valid_from == valid_from) {
            return Ok(());
        }
        let private = rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| e.to_string())?;
        self.store
            .write_new(&format!("{DIR}/{}.der", valid_from.0), der)
            .map_err(|e| e.0)?;
        self.keys.push(SigningKey::new(private, valid_from)?);
        self.keys.sort_by_key(|k| k.valid_from);
        Ok(())
    }

    /// The signing key for time `t`, made (and saved) when none is current.
    pub fn current(&mut self, t: UtcMillis) -> Result<&SigningKey, String> {
        let due = self
            .keys
            .last()
            .is_none_or(|k| t.0 >= k.valid_from.0.saturating_add(KEY_ROTATION));
        if due {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_seed(seed);
            let private = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
            let der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
            self.store
                .write_new(&format!("{DIR}/{}.der", t.0), der.as_bytes())
                .map_err(|e| e.0)?;
            self.keys.push(SigningKey::new(private, t)?);
        }
        self.keys.last().ok_or_else(|| "no signing key".to_owned())
    }

    /// The keys valid at some instant of `[from, to]`. A range no key covers (before the first
    /// key, or while the emulator was not running) gets the nearest key: the last one made
    /// before the range ends, else the first. AWS has keys for every period, so clients go on
    /// to look for digests (and find none) instead of stopping at "No public keys found".
    pub fn valid_between(&self, from: UtcMillis, to: UtcMillis) -> Vec<&SigningKey> {
        let found: Vec<&SigningKey> = self
            .keys
            .iter()
            .filter(|k| k.valid_from <= to && k.valid_until() >= from)
            .collect();
        if !found.is_empty() {
            return found;
        }
        let nearest = self
            .keys
            .iter()
            .rev()
            .find(|k| k.valid_from <= to)
            .or_else(|| self.keys.first());
        nearest.into_iter().collect()
    }
}
