//! The credentials file of authenticated serving (`veritrail serve --credentials FILE`): an INI
//! file in the shape of `~/.aws/credentials`, one section per credential, with two more keys:
//!
//! ```ini
//! # Alice reads and verifies; she changes nothing.
//! [alice]
//! aws_access_key_id = AKIAALICE0000000
//! aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//! principal = arn:aws:iam::123456789012:user/alice
//! role = auditor
//! ```
//!
//! A file that cannot be read, or has a line that does not belong (a duplicate access key or
//! section, an unknown key or role, a credential without its secret …) is refused whole, with
//! its line number and the reason: a server never starts with half of its credentials.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// What a credential may do ([`crate::ops::Access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads digests, proofs, objects, events, reports and the dashboard; changes nothing.
    Auditor,
    /// Reads, and appends data.
    Writer,
    /// Everything, management included.
    Admin,
}

impl Role {
    /// The role named `name` in the file.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "auditor" => Some(Self::Auditor),
            "writer" => Some(Self::Writer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auditor => "auditor",
            Self::Writer => "writer",
            Self::Admin => "admin",
        }
    }

    /// Whether the role may make a call that needs `access`.
    pub fn allows(self, access: crate::ops::Access) -> bool {
        use crate::ops::Access;
        match self {
            Self::Admin => true,
            Self::Writer => access != Access::Manage,
            Self::Auditor => access == Access::Read,
        }
    }
}

/// What kind of principal an ARN names (CloudTrail's `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    IamUser,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    AssumedRole,
    /// `arn:aws:iam::ACCOUNT:root`.
    Root,
}

impl PrincipalKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::IamUser => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::Root => "Root",
        }
    }
}

/// Who a credential belongs to, read from its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    pub kind: PrincipalKind,
    pub account_id: String,
    /// The user's name; for an assumed role, its session name; `None` for the root.
    pub user_name: Option<String>,
}

impl Principal {
    /// Parses a principal ARN: an IAM user, an assumed role's session, or an account's root.
    pub fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(format!(
                "principal {arn:?} is not an ARN (arn:aws:iam::ACCOUNT:user/NAME)"
            ));
        };
        if *prefix != "arn" || !partition.starts_with("aws") || !region.is_empty() {
            return Err(format!(
                "principal {arn:?} is not an IAM ARN (arn:aws:iam::ACCOUNT:user/NAME)"
            ));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "principal {arn:?}: the account id must be 12 digits"
            ));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        };
        let (kind, user_name) = match (*service, *resource) {
            ("iam", "root") => (PrincipalKind::Root, None),
            ("iam", r) if r.starts_with("user/") => {
                let name = r.rsplit('/').next().unwrap_or("");
                if !name_ok(name) {
                    return Err(format!("principal {arn:?}: the user name is not valid"));
                }
                (PrincipalKind::IamUser, Some(name.to_owned()))
            }
            ("sts", r) if r.starts_with("assumed-role/") => {
                let parts: Vec<&str> = r.split('/').collect();
                match parts.as_slice() {
                    [_, role, session] if name_ok(role) && name_ok(session) => {
                        (PrincipalKind::AssumedRole, Some((*session).to_owned()))
                    }
                    _ => {
                        return Err(format!(
                            "principal {arn:?}: an assumed role is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "principal {arn:?} names no caller: use an IAM user (arn:aws:iam::ACCOUNT:user/NAME), an assumed role (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or an account root (arn:aws:iam::ACCOUNT:root)"
                ));
            }
        };
        Ok(Self {
            arn: arn.to_owned(),
            kind,
            account_id: (*account).to_owned(),
            user_name,
        })
    }
}

/// One credential of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key: String,
    secret: String,
    pub principal: Principal,
    pub role: Role,
}

impl Credential {
    /// The secret access key (for signing and checking signatures only).
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key", &self.access_key)
            .field("principal", &self.principal.arn)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Why a credentials file was refused: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    pub origin: String,
    /// 1-based; 0 when the reason concerns the whole file.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "credentials file {}: {}", self.origin, self.reason)
        } else {
            write!(
                f,
                "credentials file {} line {}: {}",
                self.origin, self.line, self.reason
            )
        }
    }
}

impl std::error::Error for CredentialsError {}

/// The credentials a server accepts, by access key id.
#[derive(Debug, Clone)]
pub struct Credentials {
    by_key: HashMap<String, Credential>,
}

/// One section as it is read: each key with the line it was on.
#[derive(Default)]
struct Section {
    name: String,
    line: usize,
    access_key: Option<(String, usize)>,
    secret: Option<(String, usize)>,
    principal: Option<(Principal, usize)>,
    role: Option<(Role, usize)>,
}

impl Credentials {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CredentialsError {
            origin: origin.clone(),
            line: 0,
            reason: format!("cannot be read: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses a file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        let err = |line: usize, reason: String| CredentialsError {
            origin: origin.to_owned(),
            line,
            reason,
        };
        let mut sections: Vec<Section> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err(n, format!("{line:?} is not a section header ([name])")))?;
                if let Some(other) = sections.iter().find(|s| s.name == name) {
                    return Err(err(
                        n,
                        format!("section [{name}] is already on line {}", other.line),
                    ));
                }
                sections.push(Section {
                    name: name.to_owned(),
                    line: n,
                    ..Section::default()
                });
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| err(n, format!("expected `key = value`, found {line:?}")))?;
            let Some(section) = sections.last_mut() else {
                return Err(err(n, format!("{key} is outside any [section]")));
            };
            let seen = match key {
                "aws_access_key_id" => section.access_key.as_ref().map(|v| v.1),
                "aws_secret_access_key" => section.secret.as_ref().map(|v| v.1),
                "principal" => section.principal.as_ref().map(|v| v.1),
                "role" => section.role.as_ref().map(|v| v.1),
                other => {
                    return Err(err(
                        n,
                        format!(
                            "unknown key {other:?} (expected aws_access_key_id, aws_secret_access_key, principal, role)"
                        ),
                    ));
                }
            };
            if let Some(first) = seen {
                return Err(err(
                    n,
                    format!(
                        "{key} is given twice in [{}] (first on line {first})",
                        section.name
                    ),
                ));
            }
            if value.is_empty() {
                return Err(err(n, format!("{key} is empty")));
            }
            match key {
                "aws_access_key_id" => {
                    if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err(err(
                            n,
                            format!(
                                "access key id {value:?} must be letters and digits, at most 128"
                            ),
                        ));
                    }
                    section.access_key = Some((value.to_owned(), n));
                }
                "aws_secret_access_key" => {
                    if value.bytes().any(|b| !b.is_ascii_graphic()) {
                        return Err(err(
                            n,
                            "the secret access key must be printable ASCII without spaces".into(),
                        ));
                    }
                    section.secret = Some((value.to_owned(), n));
                }
                "principal" => {
                    section.principal = Some((Principal::parse(value).map_err(|e| err(n, e))?, n));
                }
                _ => {
                    let role = Role::from_name(value).ok_or_else(|| {
                        err(
                            n,
                            format!("unknown role {value:?} (expected auditor, writer or admin)"),
                        )
                    })?;
                    section.role = Some((role, n));
                }
            }
        }
        let mut by_key: HashMap<String, Credential> = HashMap::new();
        let mut key_lines: HashMap<String, usize> = HashMap::new();
        for s in sections {
            let missing = |what: &str| err(s.line, format!("[{}] has no {what}", s.name));
            let (access_key, key_line) =
                s.access_key.ok_or_else(|| missing("aws_access_key_id"))?;
            let (secret, _) = s.secret.ok_or_else(|| missing("aws_secret_access_key"))?;
            let (principal, _) = s.principal.ok_or_else(|| missing("principal"))?;
            let (role, _) = s
                .role
                .ok_or_else(|| missing("role (auditor, writer or admin)"))?;
            if let Some(first) = key_lines.get(&access_key) {
                return Err(err(
                    key_line,
                    format!("access key {access_key} is already given on line {first}"),
                ));
            }
            key_lines.insert(access_key.clone(), key_line);
            by_key.insert(
                access_key.clone(),
                Credential {
                    access_key,
                    secret,
                    principal,
                    role,
                },
            );
        }
        if by_key.is_empty() {
            return Err(err(0, "holds no credentials ([name] sections with aws_access_key_id, aws_secret_access_key, principal, role)".into()));
        }
        Ok(Self { by_key })
    }

    /// Adds an admin credential with a fresh random key and secret for `user` of `account`
    /// (the server's own clients sign with it: `veritrail serve`'s audit processor and
    /// dashboard); returns the key and the secret. It lives as long as the process.
    pub fn add_generated(&mut self, user: &str, account: &str) -> Result<(String, String), String> {
        let mut random = [0u8; 28];
        getrandom::fill(&mut random).map_err(|e| format!("no random source: {e}"))?;
        let access_key = format!(
            "VTSV{}",
            crate::wire::hex(&random[..8]).to_ascii_uppercase()
        );
        let secret = crate::wire::hex(&random[8..]);
        let principal = Principal::parse(&format!("arn:aws:iam::{account}:user/{user}"))?;
        self.by_key.insert(
            access_key.clone(),
            Credential {
                access_key: access_key.clone(),
                secret: secret.clone(),
                principal,
                role: Role::Admin,
            },
        );
        Ok((access_key, secret))
    }

    /// The credential of `access_key`, if the file has one.
    pub fn get(&self, access_key: &str) -> Option<&Credential> {
        self.by_key.get(access_key)
    }

    /// How many credentials there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# team
[alice]
aws_access_key_id = AKIAALICE
aws_secret_access_key = alice/secret+KEY
principal = arn:aws:iam::123456789012:user/alice
role = auditor

[ci]
aws_access_key_id=AKIACI
aws_secret_access_key=ci-secret
principal=arn:aws:sts::123456789012:assumed-role/Deployer/ci-run
role=writer
";

    #[test]
    fn a_good_file_names_each_principal_and_role() {
        let c = Credentials::parse(GOOD, "t").unwrap();
        assert_eq!(c.len(), 2);
        let alice = c.get("AKIAALICE").unwrap();
        assert_eq!(alice.secret(), "alice/secret+KEY");
        assert_eq!(alice.role, Role::Auditor);
        assert_eq!(alice.principal.kind, PrincipalKind::IamUser);
        assert_eq!(alice.principal.user_name.as_deref(), Some("alice"));
        assert_eq!(alice.principal.account_id, "123456789012");
        let ci = c.get("AKIACI").unwrap();
        assert_eq!(ci.principal.kind, PrincipalKind::AssumedRole);
        assert_eq!(ci.principal.user_name.as_deref(), Some("ci-run"));
        assert!(c.get("AKIABOB").is_none());
        assert!(
            !format!("{alice:?}").contains("secret+KEY"),
            "the secret never prints"
        );
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line_and_reason() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "holds no credentials"),
            ("aws_access_key_id = A\n", 1, "outside any [section]"),
            ("[a\n", 1, "not a section header"),
            ("[a]\nfoo = 1\n", 2, "unknown key \"foo\""),
            ("[a]\njust text\n", 2, "expected `key = value`"),
            (
                "[a]\naws_access_key_id = A\nprincipal = arn:aws:iam::123456789012:user/a\nrole = admin\n",
                1,
                "[a] has no aws_secret_access_key",
            ),
            (
                "[a]\naws_access_key_id = A\naws_secret_access_key = s\nprincipal = arn:aws:iam::123456789012:user/a\nrole = root\n",
                5,
                "unknown role \"root\"",
            ),
            (
                "[a]\naws_access_key_id = A\naws_secret_access_key = s\nprincipal = arn:aws:iam::123456789012:user/a\nrole = admin\n[b]\naws_access_key_id = A\naws_secret_access_key = t\nprincipal = arn:aws:iam::123456789012:user/b\nrole = admin\n",
                7,
                "access key A is already given on line 2",
            ),
            ("[a]\n[a]\n", 2, "section [a] is already on line 1"),
            ("[a]\nrole = admin\nrole = writer\n", 3, "given twice"),
            ("[a]\nprincipal = arn:aws:iam::12:user/a\n", 2, "12 digits"),
            (
                "[a]\nprincipal = arn:aws:iam::123456789012:role/R\n",
                2,
                "names no caller",
            ),
            ("[a]\nprincipal = alice\n", 2, "not an ARN"),
            ("[a]\naws_access_key_id = A B\n", 2, "letters and digits"),
            ("[a]\naws_secret_access_key =\n", 2, "is empty"),
        ];
        for (text, line, reason) in cases {
            let e = Credentials::parse(text, "creds.ini").unwrap_err();
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.to_string().contains(reason), "{text:?}: {e}");
            assert!(
                e.to_string().starts_with("credentials file creds.ini"),
                "{e}"
            );
        }
        let e = Credentials::load(Path::new("/nonexistent/veritrail-credentials")).unwrap_err();
        assert!(e.to_string().contains("cannot be read"), "{e}");
    }

    #[test]
    fn roles_allow_what_they_name() {
        use crate::ops::Access::{Manage, Read, Write};
        assert!(Role::Auditor.allows(Read) && !Role::Auditor.allows(Write));
        assert!(!Role::Auditor.allows(Manage));
        assert!(Role::Writer.allows(Write) && !Role::Writer.allows(Manage));
        assert!(Role::Admin.allows(Manage));
    }
}
