//! KMS (2014-11-01, awsJson1_1, `TrentService.<Op>`): symmetric encryption keys
//! (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`) with aliases, rotation settings, enabling and
//! disabling, and deletion scheduled 7 to 30 days ahead on the emulator's clock (the key is gone
//! once the date passes: [`Kms::sweep`]). Encrypt, Decrypt and GenerateDataKey are real:
//! AES-256-GCM ([`crypto`]) under 32 random bytes per key kept in the key store
//! (`<key-dir>/kms/<key-id>.key`), never in `aws.sqlite`.
//!
//! Keys' settings and aliases are rows of `kms_keys` and `kms_aliases` (JSON, read back strictly
//! at start-up). S3 reaches KMS only through [`Kms::data_key`], [`Kms::decrypt_data_key`] and
//! [`Kms::key_arn`].

pub mod crypto;
pub mod error;
pub mod model;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use serde_json::{Value, json};

pub use error::KmsError;
use model::{Alias, Key, KeyState, key_arn};

use crate::EmulatorError;
use crate::env::Env;
use crate::keys::KeyStore;
use crate::ops::KmsOp;
use crate::services::saved::JsonTable;
use crate::store::{Store, StoreError, Write};
use crate::wire::AwsRequest;
use crate::wire::json::epoch_seconds;
use veritrail_core::time::UtcMillis;

const KEYS: JsonTable = JsonTable {
    table: "kms_keys",
    what: "the KMS key",
};
const ALIASES: JsonTable = JsonTable {
    table: "kms_aliases",
    what: "the KMS alias",
};
const DAY_MS: i64 = 86_400_000;
/// The largest plaintext Encrypt takes.
const MAX_PLAINTEXT: usize = 4096;

#[derive(Debug, Default)]
struct State {
    /// Keys by id.
    keys: BTreeMap<String, Key>,
    /// Aliases by region and name.
    aliases: BTreeMap<(String, String), Alias>,
}

/// The KMS service of one emulator.
#[derive(Debug)]
pub struct Kms {
    state: Mutex<State>,
    keys: KeyStore,
    /// Key material read from the key store, by key id.
    material: Mutex<HashMap<String, [u8; 32]>>,
}

/// A data key KMS made for S3: its plaintext, the blob that holds it under the KMS key, and the
/// key's ARN.
#[derive(Debug, Clone)]
pub struct DataKey {
    pub key_arn: String,
    pub plaintext: [u8; 32],
    pub blob: Vec<u8>,
}

fn material_file(id: &str) -> String {
    format!("kms/{id}.key")
}

/// What a request names a key by: an id, a key ARN, an alias name or an alias ARN.
enum KeyRef<'a> {
    Id { region: &'a str, id: &'a str },
    Alias { region: &'a str, name: &'a str },
}

fn parse_ref<'a>(region: &'a str, s: &'a str) -> Result<KeyRef<'a>, KmsError> {
    let invalid = || KmsError::NotFound(format!("Invalid keyId '{s}'"));
    if let Some(rest) = s.strip_prefix("arn:aws:kms:") {
        let mut parts = rest.splitn(3, ':');
        let (Some(region), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if account != crate::ACCOUNT_ID {
            return Err(invalid());
        }
        if let Some(id) = resource.strip_prefix("key/") {
            return Ok(KeyRef::Id { region, id });
        }
        if resource.starts_with("alias/") {
            return Ok(KeyRef::Alias {
                region,
                name: resource,
            });
        }
        return Err(invalid());
    }
    if s.starts_with("alias/") {
        return Ok(KeyRef::Alias { region, name: s });
    }
    if s.is_empty() || s.len() > 2048 {
        return Err(KmsError::constraint(
            s,
            "keyId",
            "Member must have length between 1 and 2048",
        ));
    }
    Ok(KeyRef::Id { region, id: s })
}

fn context_of(input: &Value) -> Result<BTreeMap<String, String>, KmsError> {
    match input.get("EncryptionContext") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or_else(|| {
                        KmsError::Validation("EncryptionContext values must be strings.".into())
                    })
            })
            .collect(),
        Some(_) => Err(KmsError::Validation(
            "EncryptionContext must be a map of strings.".into(),
        )),
    }
}

fn blob_member(input: &Value, name: &str, member: &str) -> Result<Vec<u8>, KmsError> {
    let text = input.get(name).and_then(Value::as_str).ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| KmsError::Validation(format!("{name} is not valid base64.")))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn required<'a>(input: &'a Value, name: &str, member: &str) -> Result<&'a str, KmsError> {
    input.get(name).and_then(Value::as_str).ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn metadata(k: &Key) -> Value {
    let mut m = json!({
        "AWSAccountId": crate::ACCOUNT_ID,
        "KeyId": k.id,
        "Arn": k.arn(),
        "CreationDate": epoch_seconds(UtcMillis(k.created)),
        "Enabled": k.state == KeyState::Enabled,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": k.state.name(),
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let (Some(d), Some(w)) = (k.deletion_date, k.pending_window_days) {
        m["DeletionDate"] = json!(epoch_seconds(UtcMillis(d)));
        m["PendingDeletionWindowInDays"] = json!(w);
    }
    m
}

/// `Limit` (1 to 1000, 100 unless given) and `Marker` of the list operations.
fn paging(input: &Value) -> Result<(usize, Option<String>), KmsError> {
    let limit = match input.get("Limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=1000).contains(&n) => n as usize,
            _ => {
                return Err(KmsError::constraint(
                    &v.to_string(),
                    "limit",
                    "Member must have value between 1 and 1000",
                ));
            }
        },
    };
    let marker = match input.get("Marker") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| KmsError::Validation("Invalid marker.".into()))?,
        ),
        Some(_) => return Err(KmsError::Validation("Invalid marker.".into())),
    };
    Ok((limit, marker))
}

/// One page of `items` (sorted by key) after `after`: the page, whether more follow, and the
/// marker of the next page.
fn page<T>(
    items: impl Iterator<Item = (String, T)>,
    limit: usize,
    after: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let mut out = Vec::new();
    let mut last = None;
    for (key, item) in items.filter(|(k, _)| after.is_none_or(|a| k.as_str() > a)) {
        if out.len() == limit {
            return (
                out,
                last.map(|l: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l)),
            );
        }
        out.push(item);
        last = Some(key);
    }
    (out, None)
}

impl State {
    /// The key a request names, in `region`; a key whose deletion date has passed is gone.
    fn resolve(&self, region: &str, s: &str, now: i64) -> Result<&Key, KmsError> {
        let (region, id) = match parse_ref(region, s)? {
            KeyRef::Id { region, id } => (region, id),
            KeyRef::Alias { region, name } => {
                let a = self
                    .aliases
                    .get(&(region.to_owned(), name.to_owned()))
                    .ok_or_else(|| {
                        KmsError::NotFound(format!(
                            "Alias 'arn:aws:kms:{region}:{}:{name}' is not found.",
                            crate::ACCOUNT_ID
                        ))
                    })?;
                (region, a.target.as_str())
            }
        };
        let gone = || KmsError::NotFound(format!("Key '{}' does not exist", key_arn(region, id)));
        let key = self
            .keys
            .get(id)
            .filter(|k| k.region == region)
            .ok_or_else(gone)?;
        if key.deletion_date.is_some_and(|d| d <= now) {
            return Err(gone());
        }
        Ok(key)
    }
}

/// The key may encrypt and decrypt: enabled.
fn usable(k: &Key) -> Result<(), KmsError> {
    match k.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled(format!("{} is disabled.", k.arn()))),
        KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            k.arn()
        ))),
    }
}

/// The key is not pending deletion.
fn not_pending(k: &Key) -> Result<(), KmsError> {
    if k.state == KeyState::PendingDeletion {
        return Err(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            k.arn()
        )));
    }
    Ok(())
}

impl Kms {
    /// Loads keys and aliases from `aws.sqlite` (creating KMS's tables); material is read from
    /// `keys` when first used.
    pub fn open(store: &Store, keys: &KeyStore) -> Result<Self, EmulatorError> {
        let w = store.write()?;
        w.conn()
            .execute_batch(&format!("{}{}", KEYS.schema(), ALIASES.schema()))?;
        let loaded: Vec<Key> = KEYS.load(w.conn(), |k: &Key| k.id.clone(), Key::check)?;
        let aliases: Vec<Alias> = ALIASES.load(w.conn(), Alias::row_key, Alias::check)?;
        w.commit()?;
        let state = State {
            keys: loaded.into_iter().map(|k| (k.id.clone(), k)).collect(),
            aliases: aliases
                .into_iter()
                .map(|a| ((a.region.clone(), a.name.clone()), a))
                .collect(),
        };
        Ok(Self {
            state: Mutex::new(state),
            keys: keys.clone(),
            material: Mutex::new(HashMap::new()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The material of key `id`, from the cache or the key store.
    fn material(&self, id: &str) -> Result<[u8; 32], KmsError> {
        let mut cache = self.material.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = cache.get(id) {
            return Ok(*m);
        }
        let bytes = self.keys.read(&material_file(id))?.ok_or_else(|| {
            KmsError::Internal(format!(
                "the key material of {id} is missing from the key store"
            ))
        })?;
        let m: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KmsError::Internal(format!("the key material of {id} is not 32 bytes")))?;
        cache.insert(id.to_owned(), m);
        Ok(m)
    }

    fn seal(
        &self,
        env: &Env,
        key: &Key,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let mut nonce = [0u8; 12];
        env.fill_random(&mut nonce)?;
        crypto::seal(&self.material(&key.id)?, &key.id, nonce, context, plaintext)
    }

    /// Decrypts a blob in `region` (its key must be usable and, if `expected` names a key,
    /// be that one): the key's ARN and the plaintext.
    fn unseal(
        &self,
        state: &State,
        region: &str,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        expected: Option<&str>,
        now: i64,
    ) -> Result<(String, Vec<u8>), KmsError> {
        let id = crypto::key_id_of(blob).ok_or(KmsError::InvalidCiphertext)?;
        let key = state.resolve(region, id, now)?;
        if let Some(e) = expected {
            if state.resolve(region, e, now)?.id != key.id {
                return Err(KmsError::IncorrectKey);
            }
        }
        usable(key)?;
        let plain = crypto::open(&self.material(&key.id)?, blob, context)?;
        Ok((key.arn(), plain))
    }

    fn conn<'a>(write: Option<&'a Write<'_>>) -> Result<&'a rusqlite::Connection, KmsError> {
        write.map(Write::conn).ok_or_else(|| {
            KmsError::Internal("a KMS change was attempted outside a store write".into())
        })
    }

    /// Handles one KMS request (`write` is set for every operation that can change something).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: KmsOp,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Value, KmsError> {
        use KmsOp::*;
        let input = req.json();
        let region = req.region.as_str();
        let now = env.now().0;
        let mut guard = self.state();
        let state = &mut *guard;
        let key_id = || required(input, "KeyId", "keyId");
        // A changed copy of the key named by KeyId, saved and kept.
        let update = |state: &mut State,
                      f: &dyn Fn(&mut Key) -> Result<(), KmsError>|
         -> Result<Key, KmsError> {
            let mut k = state.resolve(region, key_id()?, now)?.clone();
            f(&mut k)?;
            KEYS.save(Self::conn(write)?, &k.id, &k)?;
            state.keys.insert(k.id.clone(), k.clone());
            Ok(k)
        };
        match op {
            CreateKey => self.create_key(input, region, env, write, state),
            DescribeKey => {
                let k = state.resolve(region, key_id()?, now)?;
                Ok(json!({ "KeyMetadata": metadata(k) }))
            }
            ListKeys => {
                let (limit, after) = paging(input)?;
                let keys = state
                    .keys
                    .values()
                    .filter(|k| k.region == region && k.deletion_date.is_none_or(|d| d > now))
                    .map(|k| (k.id.clone(), json!({"KeyId": k.id, "KeyArn": k.arn()})));
                let (page, next) = page(keys, limit, after.as_deref());
                let mut out = json!({ "Keys": page, "Truncated": next.is_some() });
                if let Some(n) = next {
                    out["NextMarker"] = json!(n);
                }
                Ok(out)
            }
            CreateAlias => {
                let name = required(input, "AliasName", "aliasName")?;
                model::alias_name(name)?;
                let target = required(input, "TargetKeyId", "targetKeyId")?;
                if target.starts_with("alias/") || target.contains(":alias/") {
                    return Err(KmsError::Validation(
                        "TargetKeyId must be a key id or key ARN, not an alias.".into(),
                    ));
                }
                let k = state.resolve(region, target, now)?;
                not_pending(k)?;
                let row = (region.to_owned(), name.to_owned());
                if state.aliases.contains_key(&row) {
                    return Err(KmsError::AlreadyExists(format!(
                        "An alias with the name arn:aws:kms:{region}:{}:{name} already exists",
                        crate::ACCOUNT_ID
                    )));
                }
                let alias = Alias {
                    region: region.to_owned(),
                    name: name.to_owned(),
                    target: k.id.clone(),
                    created: now,
                    updated: now,
                };
                ALIASES.save(Self::conn(write)?, &alias.row_key(), &alias)?;
                state.aliases.insert(row, alias);
                Ok(json!({}))
            }
            ListAliases => {
                let (limit, after) = paging(input)?;
                let only = match input.get("KeyId").and_then(Value::as_str) {
                    Some(k) => Some(state.resolve(region, k, now)?.id.clone()),
                    None => None,
                };
                let aliases = state
                    .aliases
                    .values()
                    .filter(|a| a.region == region)
                    .filter(|a| only.as_ref().is_none_or(|id| &a.target == id))
                    .map(|a| {
                        (
                            a.name.clone(),
                            json!({
                                "AliasName": a.name,
                                "AliasArn": a.arn(),
                                "TargetKeyId": a.target,
                                "CreationDate": epoch_seconds(UtcMillis(a.created)),
                                "LastUpdatedDate": epoch_seconds(UtcMillis(a.updated)),
                            }),
                        )
                    });
                let (page, next) = page(aliases, limit, after.as_deref());
                let mut out = json!({ "Aliases": page, "Truncated": next.is_some() });
                if let Some(n) = next {
                    out["NextMarker"] = json!(n);
                }
                Ok(out)
            }
            EnableKeyRotation => {
                let period = match input.get("RotationPeriodInDays") {
                    None | Some(Value::Null) => 365,
                    Some(v) => match v.as_i64() {
                        Some(n) if (90..=2560).contains(&n) => n,
                        _ => {
                            return Err(KmsError::constraint(
                                &v.to_string(),
                                "rotationPeriodInDays",
                                "Member must have value between 90 and 2560",
                            ));
                        }
                    },
                };
                update(state, &|k| {
                    usable(k)?;
                    k.rotation = true;
                    k.rotation_period_days = period;
                    Ok(())
                })?;
                Ok(json!({}))
            }
            GetKeyRotationStatus => {
                let k = state.resolve(region, key_id()?, now)?;
                not_pending(k)?;
                let mut out = json!({ "KeyRotationEnabled": k.rotation, "KeyId": k.arn() });
                if k.rotation {
                    out["RotationPeriodInDays"] = json!(k.rotation_period_days);
                    out["NextRotationDate"] = json!(epoch_seconds(UtcMillis(
                        now + k.rotation_period_days * DAY_MS
                    )));
                }
                Ok(out)
            }
            DisableKey => {
                update(state, &|k| {
                    not_pending(k)?;
                    k.state = KeyState::Disabled;
                    Ok(())
                })?;
                Ok(json!({}))
            }
            EnableKey => {
                update(state, &|k| {
                    not_pending(k)?;
                    k.state = KeyState::Enabled;
                    Ok(())
                })?;
                Ok(json!({}))
            }
            ScheduleKeyDeletion => {
                let days = match input.get("PendingWindowInDays") {
                    None | Some(Value::Null) => 30,
                    Some(v) => match v.as_i64() {
                        Some(n) if (7..=30).contains(&n) => n,
                        Some(n) if n < 7 => {
                            return Err(KmsError::constraint(
                                &n.to_string(),
                                "pendingWindowInDays",
                                "Member must have value greater than or equal to 7",
                            ));
                        }
                        _ => {
                            return Err(KmsError::constraint(
                                &v.to_string(),
                                "pendingWindowInDays",
                                "Member must have value less than or equal to 30",
                            ));
                        }
                    },
                };
                let deletion = now + days * DAY_MS;
                let k = update(state, &|k| {
                    not_pending(k)?;
                    k.state = KeyState::PendingDeletion;
                    k.deletion_date = Some(deletion);
                    k.pending_window_days = Some(days);
                    Ok(())
                })?;
                Ok(json!({
                    "KeyId": k.arn(),
                    "DeletionDate": epoch_seconds(UtcMillis(deletion)),
                    "KeyState": "PendingDeletion",
                    "PendingWindowInDays": days,
                }))
            }
            CancelKeyDeletion => {
                let k = update(state, &|k| {
                    if k.state != KeyState::PendingDeletion {
                        return Err(KmsError::InvalidState(format!(
                            "{} is not pending deletion.",
                            k.arn()
                        )));
                    }
                    // A key whose deletion is cancelled comes back disabled.
                    k.state = KeyState::Disabled;
                    k.deletion_date = None;
                    k.pending_window_days = None;
                    Ok(())
                })?;
                Ok(json!({ "KeyId": k.arn() }))
            }
            Encrypt => {
                let k = state.resolve(region, key_id()?, now)?;
                usable(k)?;
                let plaintext = blob_member(input, "Plaintext", "plaintext")?;
                if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
                    return Err(KmsError::Validation(format!(
                        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and {MAX_PLAINTEXT}"
                    )));
                }
                algorithm(input)?;
                let context = context_of(input)?;
                let blob = self.seal(env, k, &context, &plaintext)?;
                Ok(json!({
                    "CiphertextBlob": b64(&blob),
                    "KeyId": k.arn(),
                    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                }))
            }
            Decrypt => {
                let blob = blob_member(input, "CiphertextBlob", "ciphertextBlob")?;
                algorithm(input)?;
                let context = context_of(input)?;
                let expected = input.get("KeyId").and_then(Value::as_str);
                let (arn, plain) = self.unseal(state, region, &blob, &context, expected, now)?;
                Ok(json!({
                    "KeyId": arn,
                    "Plaintext": b64(&plain),
                    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                }))
            }
            GenerateDataKey => {
                let k = state.resolve(region, key_id()?, now)?;
                usable(k)?;
                let n = match (
                    input.get("KeySpec").and_then(Value::as_str),
                    input.get("NumberOfBytes"),
                ) {
                    (Some("AES_256"), None) => 32,
                    (Some("AES_128"), None) => 16,
                    (Some(other), None) => {
                        return Err(KmsError::constraint(
                            other,
                            "keySpec",
                            "Member must satisfy enum value set: [AES_256, AES_128]",
                        ));
                    }
                    (None, Some(v)) => match v.as_i64() {
                        Some(n) if (1..=1024).contains(&n) => n as usize,
                        _ => {
                            return Err(KmsError::constraint(
                                &v.to_string(),
                                "numberOfBytes",
                                "Member must have value between 1 and 1024",
                            ));
                        }
                    },
                    _ => {
                        return Err(KmsError::Validation(
                            "Please specify either number of bytes or key spec.".into(),
                        ));
                    }
                };
                let context = context_of(input)?;
                let mut plain = vec![0u8; n];
                env.fill_random(&mut plain)?;
                let blob = self.seal(env, k, &context, &plain)?;
                Ok(json!({
                    "CiphertextBlob": b64(&blob),
                    "Plaintext": b64(&plain),
                    "KeyId": k.arn(),
                }))
            }
            other => Err(KmsError::Unsupported(format!(
                "veritrail does not emulate the kms operation {other}"
            ))),
        }
    }

    fn create_key(
        &self,
        input: &Value,
        region: &str,
        env: &Env,
        write: Option<&Write<'_>>,
        state: &mut State,
    ) -> Result<Value, KmsError> {
        for (name, member, allowed) in [
            ("KeyUsage", "keyUsage", "ENCRYPT_DECRYPT"),
            ("KeySpec", "keySpec", "SYMMETRIC_DEFAULT"),
            (
                "CustomerMasterKeySpec",
                "customerMasterKeySpec",
                "SYMMETRIC_DEFAULT",
            ),
            ("Origin", "origin", "AWS_KMS"),
        ] {
            if let Some(v) = input.get(name).filter(|v| !v.is_null()) {
                if v.as_str() != Some(allowed) {
                    return Err(KmsError::Unsupported(format!(
                        "veritrail makes only {allowed} keys: {member} {v} is not supported"
                    )));
                }
            }
        }
        if input.get("MultiRegion").and_then(Value::as_bool) == Some(true) {
            return Err(KmsError::Unsupported(
                "veritrail does not make multi-Region keys".into(),
            ));
        }
        let description = match input.get("Description") {
            None | Some(Value::Null) => "",
            Some(Value::String(d)) if d.chars().count() <= 8192 => d.as_str(),
            Some(_) => {
                return Err(KmsError::Validation(
                    "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
                ));
            }
        };
        if let Some(p) = input.get("Policy").filter(|p| !p.is_null()) {
            let ok = p
                .as_str()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .is_some_and(|v| v.is_object());
            if !ok {
                return Err(KmsError::Validation(
                    "MalformedPolicyDocumentException: the key policy is not a JSON object".into(),
                ));
            }
        }
        let tags = model::tags(input.get("Tags"))?;
        let id = env.uuid()?;
        let mut material = [0u8; 32];
        env.fill_random(&mut material)?;
        self.keys.write_new(&material_file(&id), &material)?;
        let key = Key {
            id: id.clone(),
            region: region.to_owned(),
            created: env.now().0,
            description: description.to_owned(),
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            rotation: false,
            rotation_period_days: 365,
            tags,
        };
        KEYS.save(Self::conn(write)?, &id, &key)?;
        let out = json!({ "KeyMetadata": metadata(&key) });
        state.keys.insert(id.clone(), key);
        self.material
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, material);
        Ok(out)
    }

    /// Deletes the keys whose deletion date has passed (and their aliases) in `w`: their ids,
    /// whose material [`Kms::forget`] removes once `w` has committed.
    pub fn sweep(&self, w: &Write<'_>, now: UtcMillis) -> Result<Vec<String>, StoreError> {
        let mut state = self.state();
        let due: Vec<String> = state
            .keys
            .values()
            .filter(|k| k.deletion_date.is_some_and(|d| d <= now.0))
            .map(|k| k.id.clone())
            .collect();
        for id in &due {
            KEYS.delete(w.conn(), id)?;
            let aliases: Vec<(String, String)> = state
                .aliases
                .iter()
                .filter(|(_, a)| &a.target == id)
                .map(|(k, _)| k.clone())
                .collect();
            for a in aliases {
                if let Some(alias) = state.aliases.remove(&a) {
                    ALIASES.delete(w.conn(), &alias.row_key())?;
                }
            }
            state.keys.remove(id);
        }
        Ok(due)
    }

    /// Removes the material of deleted keys from the key store for good.
    pub fn forget(&self, ids: &[String]) -> Result<(), crate::keys::KeyError> {
        let mut cache = self.material.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            cache.remove(id);
            self.keys.remove(&material_file(id))?;
        }
        Ok(())
    }

    // The narrow API S3 uses for SSE-KMS.

    /// The ARN of the usable key `key_ref` (id, ARN or alias) names in `region`.
    pub fn key_arn(&self, region: &str, key_ref: &str, now: UtcMillis) -> Result<String, KmsError> {
        let state = self.state();
        let k = state.resolve(region, key_ref, now.0)?;
        usable(k)?;
        Ok(k.arn())
    }

    /// A fresh 256-bit data key under the key `key_ref` names, bound to `context`.
    pub fn data_key(
        &self,
        region: &str,
        key_ref: &str,
        context: &BTreeMap<String, String>,
        env: &Env,
    ) -> Result<DataKey, KmsError> {
        let state = self.state();
        let k = state.resolve(region, key_ref, env.now().0)?;
        usable(k)?;
        let mut plaintext = [0u8; 32];
        env.fill_random(&mut plaintext)?;
        let blob = self.seal(env, k, context, &plaintext)?;
        Ok(DataKey {
            key_arn: k.arn(),
            plaintext,
            blob,
        })
    }

    /// The plaintext of a data key made by [`Kms::data_key`] (its key must still be usable).
    pub fn decrypt_data_key(
        &self,
        region: &str,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        now: UtcMillis,
    ) -> Result<Vec<u8>, KmsError> {
        let state = self.state();
        self.unseal(&state, region, blob, context, None, now.0)
            .map(|(_, p)| p)
    }
}

/// `EncryptionAlgorithm`, when given, must be `SYMMETRIC_DEFAULT` for these keys.
fn algorithm(input: &Value) -> Result<(), KmsError> {
    match input.get("EncryptionAlgorithm").and_then(Value::as_str) {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(_) => Err(KmsError::InvalidKeyUsage),
    }
}
