//! Secrets Manager (2017-10-17, awsJson1_1, `secretsmanager.<Op>`): GetRandomPassword, which
//! the seed recipes name every resource with. Randomness comes from the emulator's
//! [`Env`]; every character is drawn uniformly from the allowed set, and with
//! `RequireEachIncludedType` (the default) one character of each included type is placed at a
//! random position.

pub mod error;

use serde_json::{Value, json};

pub use error::SecretsManagerError;

use crate::env::Env;
use crate::ops::SecretsManagerOp;
use crate::wire::AwsRequest;

/// The punctuation Secrets Manager draws from (ASCII's printable symbols).
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// PasswordLength's default and range.
const DEFAULT_LENGTH: i64 = 32;
const MAX_LENGTH: i64 = 4096;
/// ExcludeCharacters' longest value.
const MAX_EXCLUDE: usize = 4096;

/// Handles one Secrets Manager request.
pub fn handle(
    req: &AwsRequest,
    op: SecretsManagerOp,
    env: &Env,
) -> Result<Value, SecretsManagerError> {
    match op {
        SecretsManagerOp::GetRandomPassword => {
            let password = random_password(req.json(), env)?;
            Ok(json!({ "RandomPassword": password }))
        }
        other => Err(SecretsManagerError::InvalidParameter(format!(
            "veritrail does not emulate the secretsmanager operation {other}"
        ))),
    }
}

fn bool_member(input: &Value, name: &str, default: bool) -> Result<bool, SecretsManagerError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(SecretsManagerError::Validation(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be a boolean",
            lower_first(name)
        ))),
    }
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A password as GetRandomPassword's members ask for it.
pub fn random_password(input: &Value, env: &Env) -> Result<String, SecretsManagerError> {
    let length = match input.get("PasswordLength") {
        None | Some(Value::Null) => DEFAULT_LENGTH,
        Some(v) => v.as_i64().ok_or_else(|| {
            SecretsManagerError::Validation(
                "1 validation error detected: Value at 'passwordLength' failed to satisfy constraint: Member must be a whole number".into(),
            )
        })?,
    };
    if length < 1 {
        return Err(SecretsManagerError::Validation(format!(
            "1 validation error detected: Value '{length}' at 'passwordLength' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )));
    }
    if length > MAX_LENGTH {
        return Err(SecretsManagerError::Validation(format!(
            "1 validation error detected: Value '{length}' at 'passwordLength' failed to satisfy constraint: Member must have value less than or equal to {MAX_LENGTH}"
        )));
    }
    let exclude = match input.get("ExcludeCharacters") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) if s.chars().count() <= MAX_EXCLUDE => s.as_str(),
        Some(Value::String(_)) => {
            return Err(SecretsManagerError::Validation(format!(
                "1 validation error detected: Value at 'excludeCharacters' failed to satisfy constraint: Member must have length less than or equal to {MAX_EXCLUDE}"
            )));
        }
        Some(_) => {
            return Err(SecretsManagerError::Validation(
                "1 validation error detected: Value at 'excludeCharacters' failed to satisfy constraint: Member must be a string".into(),
            ));
        }
    };
    let classes: [(&str, bool); 5] = [
        (
            "abcdefghijklmnopqrstuvwxyz",
            !bool_member(input, "ExcludeLowercase", false)?,
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            !bool_member(input, "ExcludeUppercase", false)?,
        ),
        ("0123456789", !bool_member(input, "ExcludeNumbers", false)?),
        (
            PUNCTUATION,
            !bool_member(input, "ExcludePunctuation", false)?,
        ),
        (" ", bool_member(input, "IncludeSpace", false)?),
    ];
    let require_each = bool_member(input, "RequireEachIncludedType", true)?;
    // Each included type, less the excluded characters.
    let included: Vec<Vec<char>> = classes
        .iter()
        .filter(|(_, on)| *on)
        .map(|(set, _)| set.chars().filter(|c| !exclude.contains(*c)).collect())
        .collect();
    let all: Vec<char> = included.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(SecretsManagerError::InvalidParameter(
            "The password cannot be generated: every character type is excluded.".into(),
        ));
    }
    let length = length as usize;
    let required: Vec<&Vec<char>> = if require_each {
        included.iter().collect()
    } else {
        Vec::new()
    };
    if required.iter().any(|set| set.is_empty()) {
        return Err(SecretsManagerError::InvalidParameter(
            "The password cannot include each type of character: ExcludeCharacters removes every character of an included type.".into(),
        ));
    }
    if required.len() > length {
        return Err(SecretsManagerError::InvalidParameter(format!(
            "The password length {length} is too short to include each of the {} required types of characters.",
            required.len()
        )));
    }
    let pick = |set: &[char]| -> Result<char, SecretsManagerError> {
        let i = env.random_below(set.len() as u32)? as usize;
        Ok(set[i])
    };
    let mut out: Vec<char> = Vec::with_capacity(length);
    for set in &required {
        out.push(pick(set)?);
    }
    while out.len() < length {
        out.push(pick(&all)?);
    }
    // Fisher-Yates, so the required characters are anywhere.
    for i in (1..out.len()).rev() {
        let j = env.random_below(i as u32 + 1)? as usize;
        out.swap(i, j);
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use veritrail_core::time::{ManualClock, SteeredClock, UtcMillis};

    fn env() -> Env {
        Env::new(Arc::new(SteeredClock::new(Arc::new(ManualClock::new(
            UtcMillis(0),
            0,
        )))))
    }

    #[test]
    fn passwords_follow_the_options() {
        let env = env();
        let p = random_password(&json!({}), &env).unwrap();
        assert_eq!(p.chars().count(), 32);
        for _ in 0..50 {
            let p = random_password(
                &json!({"PasswordLength": 4, "ExcludeCharacters": "aeiou0"}),
                &env,
            )
            .unwrap();
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(p.chars().any(|c| PUNCTUATION.contains(c)), "{p}");
            assert!(!p.chars().any(|c| "aeiou0".contains(c)), "{p}");
        }
        let p = random_password(
            &json!({"PasswordLength": 64, "ExcludePunctuation": true, "ExcludeUppercase": true,
                    "ExcludeNumbers": true}),
            &env,
        )
        .unwrap();
        assert!(p.chars().all(|c| c.is_ascii_lowercase()), "{p}");
        let e = random_password(&json!({"PasswordLength": 0}), &env).unwrap_err();
        assert!(
            matches!(e, SecretsManagerError::Validation(m) if m.contains("greater than or equal to 1"))
        );
        let e = random_password(&json!({"PasswordLength": 4097}), &env).unwrap_err();
        assert!(matches!(e, SecretsManagerError::Validation(_)));
        let e = random_password(&json!({"PasswordLength": 3}), &env).unwrap_err();
        assert!(matches!(e, SecretsManagerError::InvalidParameter(_)));
        let e = random_password(
            &json!({"ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludeNumbers": true,
                    "ExcludePunctuation": true}),
            &env,
        )
        .unwrap_err();
        assert!(matches!(e, SecretsManagerError::InvalidParameter(_)));
        let e = random_password(&json!({"ExcludeNumbers": "yes"}), &env).unwrap_err();
        assert!(matches!(e, SecretsManagerError::Validation(_)));
    }
}
