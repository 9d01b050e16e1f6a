//! KMS's keys and aliases as they are saved, and KMS's rules for their members.

use serde::{Deserialize, Serialize};

use super::error::KmsError;

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
        }
    }
}

/// A symmetric encryption key (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`); its material is in the
/// key store, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub id: String,
    pub region: String,
    pub created: i64,
    pub description: String,
    pub state: KeyState,
    /// When the key is deleted (milliseconds on the emulator's clock), while PendingDeletion.
    #[serde(with = "crate::services::saved::present")]
    pub deletion_date: Option<i64>,
    #[serde(with = "crate::services::saved::present")]
    pub pending_window_days: Option<i64>,
    pub rotation: bool,
    pub rotation_period_days: i64,
    pub tags: Vec<(String, String)>,
}

impl Key {
    pub fn arn(&self) -> String {
        key_arn(&self.region, &self.id)
    }

    pub fn check(&self) -> Result<(), String> {
        if !is_key_id(&self.id) {
            return Err("its id is not a UUID".into());
        }
        if (self.state == KeyState::PendingDeletion) != self.deletion_date.is_some() {
            return Err("its deletion date does not match its state".into());
        }
        Ok(())
    }
}

/// An alias (`alias/…`) of a key, in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    pub region: String,
    pub name: String,
    pub target: String,
    pub created: i64,
    pub updated: i64,
}

impl Alias {
    /// The row's key: region and name.
    pub fn row_key(&self) -> String {
        format!("{}/{}", self.region, self.name)
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:kms:{}:{}:{}",
            self.region,
            crate::ACCOUNT_ID,
            self.name
        )
    }

    pub fn check(&self) -> Result<(), String> {
        alias_name(&self.name).map_err(|e| e.message())?;
        if !is_key_id(&self.target) {
            return Err("its target is not a key id".into());
        }
        Ok(())
    }
}

pub fn key_arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{}:key/{id}", crate::ACCOUNT_ID)
}

/// A key id: a UUID in lower-case hex.
pub fn is_key_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// An alias name: `alias/` and letters, digits, `/_-`, at most 256 characters, not under
/// `alias/aws/` (AWS managed keys' names).
pub fn alias_name(name: &str) -> Result<(), KmsError> {
    if name.is_empty() || name.len() > 256 {
        return Err(KmsError::constraint(
            name,
            "aliasName",
            "Member must have length less than or equal to 256",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c))
    {
        return Err(KmsError::constraint(
            name,
            "aliasName",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::InvalidAliasName(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into(),
        ));
    };
    if rest.is_empty() || rest.contains(':') {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias {name} is not a valid alias name."
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias {name} must not begin with the reserved prefix alias/aws/."
        )));
    }
    Ok(())
}

/// Tags as KMS takes them (`[{"TagKey", "TagValue"}]`), checked.
pub fn tags(v: Option<&serde_json::Value>) -> Result<Vec<(String, String)>, KmsError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| KmsError::Validation("Tags must be a list of {TagKey, TagValue}.".into()))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for t in list {
        let key = t.get("TagKey").and_then(|k| k.as_str());
        let value = t.get("TagValue").and_then(|k| k.as_str());
        let (Some(key), Some(value)) = (key, value) else {
            return Err(KmsError::Validation(
                "Each tag must have a TagKey and a TagValue.".into(),
            ));
        };
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(KmsError::Tag(format!(
                "The tag {key} is too long or empty."
            )));
        }
        if key.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved.".into(),
            ));
        }
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(t) => t.1 = value.to_owned(),
            None => out.push((key.to_owned(), value.to_owned())),
        }
    }
    if out.len() > 50 {
        return Err(KmsError::Tag("A key can have at most 50 tags.".into()));
    }
    Ok(out)
}
