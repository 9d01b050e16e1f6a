//! IAM (2010-05-08, query protocol; a global service): roles with trust policies, inline
//! policies and attached managed policies; customer managed policies (one version, `v1`) and the
//! few AWS managed policies of [`model::AWS_MANAGED`]; tags on roles. Documents are answered
//! URL-encoded, as IAM answers them (botocore decodes them; the Rust SDK leaves that to the
//! caller).
//!
//! Roles and policies are rows of `iam_roles` and `iam_policies` (JSON, read back strictly at
//! start-up) and a map in memory; a change is saved in the call's store write. IAM is global:
//! the region a request was signed for does not matter.

pub mod error;
pub mod model;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::response::Response;
use base64::Engine as _;
use serde_json::Value;

pub use error::IamError;
use model::{Policy, PolicyKind, Role};

use crate::EmulatorError;
use crate::env::Env;
use crate::ops::IamOp;
use crate::services::saved::JsonTable;
use crate::store::{Store, Write};
use crate::wire::time::iso8601_seconds;
use crate::wire::xml::{element, query_ok};
use crate::wire::{AwsRequest, ErrorBody, query};
use veritrail_core::time::UtcMillis;

/// The `xmlns` of IAM's answers.
pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

const ROLES: JsonTable = JsonTable {
    table: "iam_roles",
    what: "the IAM role",
};
const POLICIES: JsonTable = JsonTable {
    table: "iam_policies",
    what: "the IAM policy",
};

#[derive(Debug, Default)]
struct State {
    /// Roles by name.
    roles: BTreeMap<String, Role>,
    /// Customer managed policies by ARN.
    policies: BTreeMap<String, Policy>,
}

/// The IAM service of one emulator.
#[derive(Debug)]
pub struct Iam {
    state: Mutex<State>,
}

/// What a handler works with.
struct Ctx<'a> {
    env: &'a Env,
    input: Value,
    write: Option<&'a Write<'a>>,
}

impl Ctx<'_> {
    fn conn(&self) -> Result<&rusqlite::Connection, IamError> {
        self.write.map(Write::conn).ok_or_else(|| {
            IamError::Internal("an IAM change was attempted outside a store write".into())
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.input.get(name).and_then(Value::as_str)
    }

    /// A required member; `member` is its name in validation messages (`roleName`).
    fn required(&self, name: &str) -> Result<&str, IamError> {
        let mut c = name.chars();
        let member = c
            .next()
            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
            .unwrap_or_default();
        self.param(name).ok_or_else(|| IamError::missing(&member))
    }

    fn role_name(&self) -> Result<&str, IamError> {
        let name = self.required("RoleName")?;
        model::role_name(name)?;
        Ok(name)
    }

    fn policy_arn(&self) -> Result<&str, IamError> {
        let arn = self.required("PolicyArn")?;
        if arn.len() < 20 || !arn.starts_with("arn:") || arn.len() > 2048 {
            return Err(IamError::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        Ok(arn)
    }

    /// `MaxItems` (1 to 1000, 100 unless given) and where the page starts (`Marker`).
    fn paging(&self) -> Result<(usize, Option<String>), IamError> {
        let max = match self.param("MaxItems") {
            None => 100,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => n as usize,
                Ok(_) => {
                    return Err(IamError::constraint(
                        v,
                        "maxItems",
                        "Member must have value between 1 and 1000",
                    ));
                }
                Err(_) => return Err(IamError::InvalidInput(format!("Invalid MaxItems: {v}"))),
            },
        };
        let after = match self.param("Marker") {
            None => None,
            Some(m) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(m)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| IamError::Validation("Invalid Marker.".into()))?,
            ),
        };
        Ok((max, after))
    }
}

/// One page of `items` (sorted by key) after `after`: the page's XML members, and the
/// `<IsTruncated>`/`<Marker>` that follow the list.
fn page<T>(
    items: impl Iterator<Item = (String, T)>,
    max: usize,
    after: Option<&str>,
    render: impl Fn(&T) -> String,
) -> (String, String) {
    let mut members = String::new();
    let mut last = None;
    let mut truncated = false;
    for (n, (key, item)) in items
        .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
        .enumerate()
    {
        if n == max {
            truncated = true;
            break;
        }
        members.push_str(&format!("<member>{}</member>", render(&item)));
        last = Some(key);
    }
    let tail = match (truncated, last) {
        (true, Some(last)) => format!(
            "<IsTruncated>true</IsTruncated>{}",
            element(
                "Marker",
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
            )
        ),
        _ => "<IsTruncated>false</IsTruncated>".to_owned(),
    };
    (members, tail)
}

fn tags_xml(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    crate::wire::xml::tags(tags.iter().map(|(k, v)| (k, v)))
}

fn date(ms: i64) -> String {
    iso8601_seconds(UtcMillis(ms))
}

fn role_xml(r: &Role, with_tags: bool) -> String {
    format!(
        "{}{}{}{}{}{}{}{}{}",
        element("Path", &r.path),
        element("RoleName", &r.name),
        element("RoleId", &r.id),
        element("Arn", &r.arn()),
        element("CreateDate", &date(r.created)),
        element(
            "AssumeRolePolicyDocument",
            &query::encode(&r.assume_role_policy)
        ),
        r.description
            .as_deref()
            .map(|d| element("Description", d))
            .unwrap_or_default(),
        element("MaxSessionDuration", &r.max_session_duration.to_string()),
        if with_tags {
            tags_xml(&r.tags)
        } else {
            String::new()
        },
    )
}

/// A policy as GetPolicy and CreatePolicy answer it.
struct PolicyView<'a> {
    name: &'a str,
    id: &'a str,
    arn: String,
    path: &'a str,
    created: i64,
    description: Option<&'a str>,
    tags: &'a [(String, String)],
    attachments: usize,
}

fn policy_xml(p: &PolicyView<'_>) -> String {
    format!(
        "<Policy>{}{}{}{}{}{}<PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable>{}{}{}{}</Policy>",
        element("PolicyName", p.name),
        element("DefaultVersionId", "v1"),
        element("PolicyId", p.id),
        element("Path", p.path),
        element("Arn", &p.arn),
        element("AttachmentCount", &p.attachments.to_string()),
        p.description
            .map(|d| element("Description", d))
            .unwrap_or_default(),
        element("CreateDate", &date(p.created)),
        element("UpdateDate", &date(p.created)),
        tags_xml(p.tags),
    )
}

/// An id as IAM makes them: a four-letter prefix and 17 random capitals and digits.
fn new_id(env: &Env, prefix: &str) -> Result<String, IamError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = String::from(prefix);
    for _ in 0..17 {
        id.push(char::from(
            ALPHABET[env.random_below(ALPHABET.len() as u32)? as usize],
        ));
    }
    Ok(id)
}

impl State {
    fn role(&self, name: &str) -> Result<&Role, IamError> {
        self.roles.get(name).ok_or_else(|| {
            IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
        })
    }

    fn attachments(&self, arn: &str) -> usize {
        self.roles
            .values()
            .filter(|r| r.attached.iter().any(|a| a == arn))
            .count()
    }

    /// A managed policy by ARN (customer or AWS): name, document and its view.
    fn policy(&self, arn: &str) -> Option<PolicyView<'_>> {
        if let Some(p) = self.policies.get(arn) {
            return Some(PolicyView {
                name: &p.name,
                id: &p.id,
                arn: p.arn(),
                path: &p.path,
                created: p.created,
                description: p.description.as_deref(),
                tags: &p.tags,
                attachments: self.attachments(arn),
            });
        }
        let (name, _) = model::aws_managed(arn)?;
        Some(PolicyView {
            name,
            id: "ANPAVERITRAILMANAGED",
            arn: arn.to_owned(),
            path: "/",
            created: 0,
            description: None,
            tags: &[],
            attachments: self.attachments(arn),
        })
    }

    fn document(&self, arn: &str) -> Option<&str> {
        self.policies
            .get(arn)
            .map(|p| p.document.as_str())
            .or_else(|| model::aws_managed(arn).map(|(_, d)| d))
    }
}

impl Iam {
    /// Loads roles and policies from `aws.sqlite` (creating IAM's tables).
    pub fn open(store: &Store) -> Result<Self, EmulatorError> {
        let w = store.write()?;
        w.conn()
            .execute_batch(&format!("{}{}", ROLES.schema(), POLICIES.schema()))?;
        let roles: Vec<Role> = ROLES.load(w.conn(), |r: &Role| r.name.clone(), Role::check)?;
        let policies: Vec<Policy> = POLICIES.load(w.conn(), Policy::arn, Policy::check)?;
        w.commit()?;
        let state = State {
            roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect(),
            policies: policies.into_iter().map(|p| (p.arn(), p)).collect(),
        };
        Ok(Self {
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `arn` names a role that exists (the narrow API QLDB's exports check their
    /// `RoleArn` with).
    pub fn role_exists(&self, arn: &str) -> bool {
        let name = arn.rsplit('/').next().unwrap_or("");
        self.state().roles.get(name).is_some_and(|r| r.arn() == arn)
    }

    /// Handles one IAM request (`write` is set for every operation that can change something).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: IamOp,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Response, ErrorBody> {
        let input = query::form_input(&req.query, &req.body)
            .map_err(|e| ErrorBody::from(IamError::InvalidInput(e.0)))?;
        let ctx = Ctx { env, input, write };
        let result = self.run(&ctx, op)?;
        Ok(query_ok(
            op.name(),
            XMLNS,
            result.as_deref(),
            &req.request_id,
        ))
    }

    fn run(&self, ctx: &Ctx<'_>, op: IamOp) -> Result<Option<String>, IamError> {
        use IamOp::*;
        let mut guard = self.state();
        let state = &mut *guard;
        match op {
            CreateRole => self.create_role(ctx, state).map(Some),
            GetRole => {
                let r = state.role(ctx.role_name()?)?;
                Ok(Some(format!(
                    "<Role>{}<RoleLastUsed/></Role>",
                    role_xml(r, true)
                )))
            }
            ListRoles => {
                let (max, after) = ctx.paging()?;
                let prefix = ctx.param("PathPrefix").unwrap_or("/");
                let roles = state
                    .roles
                    .values()
                    .filter(|r| r.path.starts_with(prefix))
                    .map(|r| (r.name.clone(), r));
                let (members, tail) = page(roles, max, after.as_deref(), |r| role_xml(r, false));
                Ok(Some(format!("<Roles>{members}</Roles>{tail}")))
            }
            DeleteRole => {
                let r = state.role(ctx.role_name()?)?;
                if !r.attached.is_empty() {
                    return Err(IamError::DeleteConflict(
                        "Cannot delete entity, must detach all policies first.".into(),
                    ));
                }
                if !r.inline.is_empty() {
                    return Err(IamError::DeleteConflict(
                        "Cannot delete entity, must delete policies first.".into(),
                    ));
                }
                let name = r.name.clone();
                ROLES.delete(ctx.conn()?, &name)?;
                state.roles.remove(&name);
                Ok(None)
            }
            TagRole => {
                let mut r = state.role(ctx.role_name()?)?.clone();
                let new = model::tags(&ctx.input)?;
                if new.is_empty() {
                    return Err(IamError::missing("tags"));
                }
                for (k, v) in new {
                    match r
                        .tags
                        .iter_mut()
                        .find(|(key, _)| key.eq_ignore_ascii_case(&k))
                    {
                        Some(t) => *t = (k, v),
                        None => r.tags.push((k, v)),
                    }
                }
                if r.tags.len() > model::MAX_TAGS {
                    return Err(IamError::LimitExceeded(format!(
                        "The number of tags has reached the maximum limit of {}.",
                        model::MAX_TAGS
                    )));
                }
                ROLES.save(ctx.conn()?, &r.name, &r)?;
                state.roles.insert(r.name.clone(), r);
                Ok(None)
            }
            PutRolePolicy => {
                let mut r = state.role(ctx.role_name()?)?.clone();
                let name = ctx.required("PolicyName")?;
                model::policy_name(name)?;
                let doc = ctx.required("PolicyDocument")?;
                model::policy_document(doc, PolicyKind::Permissions)?;
                r.inline.insert(name.to_owned(), doc.to_owned());
                let total: usize = r
                    .inline
                    .values()
                    .map(|d| d.chars().filter(|c| !c.is_whitespace()).count())
                    .sum();
                if total > model::MAX_INLINE_TOTAL {
                    return Err(IamError::LimitExceeded(format!(
                        "Maximum policy size of {} bytes exceeded for role {}",
                        model::MAX_INLINE_TOTAL,
                        r.name
                    )));
                }
                ROLES.save(ctx.conn()?, &r.name, &r)?;
                state.roles.insert(r.name.clone(), r);
                Ok(None)
            }
            GetRolePolicy => {
                let r = state.role(ctx.role_name()?)?;
                let name = ctx.required("PolicyName")?;
                model::policy_name(name)?;
                let doc = r.inline.get(name).ok_or_else(|| {
                    IamError::NoSuchEntity(format!(
                        "The role policy with name {name} cannot be found."
                    ))
                })?;
                Ok(Some(format!(
                    "{}{}{}",
                    element("RoleName", &r.name),
                    element("PolicyName", name),
                    element("PolicyDocument", &query::encode(doc)),
                )))
            }
            DeleteRolePolicy => {
                let mut r = state.role(ctx.role_name()?)?.clone();
                let name = ctx.required("PolicyName")?;
                model::policy_name(name)?;
                if r.inline.remove(name).is_none() {
                    return Err(IamError::NoSuchEntity(format!(
                        "The role policy with name {name} cannot be found."
                    )));
                }
                ROLES.save(ctx.conn()?, &r.name, &r)?;
                state.roles.insert(r.name.clone(), r);
                Ok(None)
            }
            ListRolePolicies => {
                let r = state.role(ctx.role_name()?)?;
                let (max, after) = ctx.paging()?;
                let names = r.inline.keys().map(|n| (n.clone(), n.clone()));
                let (members, tail) = page(names, max, after.as_deref(), |n| {
                    crate::wire::xml::escape(n).into_owned()
                });
                Ok(Some(format!("<PolicyNames>{members}</PolicyNames>{tail}")))
            }
            AttachRolePolicy => {
                let mut r = state.role(ctx.role_name()?)?.clone();
                let arn = ctx.policy_arn()?;
                if state.policy(arn).is_none() {
                    return Err(IamError::NoSuchEntity(format!(
                        "Policy {arn} does not exist or is not attachable."
                    )));
                }
                if r.attached.iter().any(|a| a == arn) {
                    return Ok(None);
                }
                if r.attached.len() >= model::MAX_ATTACHED {
                    return Err(IamError::LimitExceeded(format!(
                        "Cannot exceed quota for PoliciesPerRole: {}",
                        model::MAX_ATTACHED
                    )));
                }
                r.attached.push(arn.to_owned());
                ROLES.save(ctx.conn()?, &r.name, &r)?;
                state.roles.insert(r.name.clone(), r);
                Ok(None)
            }
            DetachRolePolicy => {
                let mut r = state.role(ctx.role_name()?)?.clone();
                let arn = ctx.policy_arn()?;
                let before = r.attached.len();
                r.attached.retain(|a| a != arn);
                if r.attached.len() == before {
                    return Err(IamError::NoSuchEntity(format!(
                        "Policy {arn} was not found."
                    )));
                }
                ROLES.save(ctx.conn()?, &r.name, &r)?;
                state.roles.insert(r.name.clone(), r);
                Ok(None)
            }
            ListAttachedRolePolicies => {
                let r = state.role(ctx.role_name()?)?;
                let (max, after) = ctx.paging()?;
                let prefix = ctx.param("PathPrefix").unwrap_or("/");
                let attached = r
                    .attached
                    .iter()
                    .filter_map(|arn| state.policy(arn))
                    .filter(|p| p.path.starts_with(prefix))
                    .map(|p| (p.arn.clone(), (p.name.to_owned(), p.arn.clone())))
                    .collect::<BTreeMap<_, _>>();
                let (members, tail) =
                    page(attached.into_iter(), max, after.as_deref(), |(n, a)| {
                        format!("{}{}", element("PolicyName", n), element("PolicyArn", a))
                    });
                Ok(Some(format!(
                    "<AttachedPolicies>{members}</AttachedPolicies>{tail}"
                )))
            }
            CreatePolicy => {
                let name = ctx.required("PolicyName")?;
                model::policy_name(name)?;
                let path = ctx.param("Path").unwrap_or("/");
                model::path(path)?;
                let doc = ctx.required("PolicyDocument")?;
                if doc.chars().filter(|c| !c.is_whitespace()).count() > model::MAX_MANAGED_POLICY {
                    return Err(IamError::LimitExceeded(format!(
                        "Cannot exceed quota for PolicySize: {}",
                        model::MAX_MANAGED_POLICY
                    )));
                }
                model::policy_document(doc, PolicyKind::Permissions)?;
                let description = ctx.param("Description");
                if let Some(d) = description {
                    model::description(d)?;
                }
                let tags = model::tags(&ctx.input)?;
                if state.policies.values().any(|p| p.name == name) {
                    return Err(IamError::EntityAlreadyExists(format!(
                        "A policy called {name} already exists. Duplicate names are not allowed."
                    )));
                }
                let p = Policy {
                    name: name.to_owned(),
                    id: new_id(ctx.env, "ANPA")?,
                    path: path.to_owned(),
                    created: ctx.env.now().0,
                    document: doc.to_owned(),
                    description: description.map(str::to_owned),
                    tags,
                };
                let arn = p.arn();
                POLICIES.save(ctx.conn()?, &arn, &p)?;
                state.policies.insert(arn.clone(), p);
                let view = state
                    .policy(&arn)
                    .ok_or_else(|| IamError::Internal("the policy just made is gone".into()))?;
                Ok(Some(policy_xml(&view)))
            }
            GetPolicy => {
                let arn = ctx.policy_arn()?;
                let view = state.policy(arn).ok_or_else(|| {
                    IamError::NoSuchEntity(format!("Policy {arn} was not found."))
                })?;
                Ok(Some(policy_xml(&view)))
            }
            GetPolicyVersion => {
                let arn = ctx.policy_arn()?;
                let version = ctx.required("VersionId")?;
                let (created, doc) = match (state.policies.get(arn), state.document(arn)) {
                    (Some(p), _) => (p.created, p.document.as_str()),
                    (None, Some(d)) => (0, d),
                    (None, None) => {
                        return Err(IamError::NoSuchEntity(format!(
                            "Policy {arn} was not found."
                        )));
                    }
                };
                if version != "v1" {
                    return Err(IamError::NoSuchEntity(format!(
                        "Policy {arn} version {version} does not exist or is not attachable."
                    )));
                }
                Ok(Some(format!(
                    "<PolicyVersion>{}{}<IsDefaultVersion>true</IsDefaultVersion>{}</PolicyVersion>",
                    element("Document", &query::encode(doc)),
                    element("VersionId", "v1"),
                    element("CreateDate", &date(created)),
                )))
            }
            DeletePolicy => {
                let arn = ctx.policy_arn()?;
                if model::aws_managed(arn).is_some() {
                    return Err(IamError::Unmodifiable(format!(
                        "Cannot delete policy {arn}: it is an AWS managed policy."
                    )));
                }
                if !state.policies.contains_key(arn) {
                    return Err(IamError::NoSuchEntity(format!(
                        "Policy {arn} was not found."
                    )));
                }
                if state.attachments(arn) > 0 {
                    return Err(IamError::DeleteConflict(
                        "Cannot delete a policy attached to entities.".into(),
                    ));
                }
                POLICIES.delete(ctx.conn()?, arn)?;
                state.policies.remove(arn);
                Ok(None)
            }
            other => Err(IamError::InvalidInput(format!(
                "veritrail does not emulate the iam operation {other}"
            ))),
        }
    }

    fn create_role(&self, ctx: &Ctx<'_>, state: &mut State) -> Result<String, IamError> {
        let name = ctx.role_name()?;
        let path = ctx.param("Path").unwrap_or("/");
        model::path(path)?;
        let trust = ctx.required("AssumeRolePolicyDocument")?;
        if trust.chars().filter(|c| !c.is_whitespace()).count() > model::MAX_TRUST_POLICY {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for ACLSizePerRole: {}",
                model::MAX_TRUST_POLICY
            )));
        }
        model::policy_document(trust, PolicyKind::Trust)?;
        let description = ctx.param("Description");
        if let Some(d) = description {
            model::description(d)?;
        }
        let max_session_duration = match ctx.param("MaxSessionDuration") {
            None => model::MIN_SESSION,
            Some(v) => {
                let n: i64 = v.parse().map_err(|_| {
                    IamError::InvalidInput(format!("Invalid MaxSessionDuration: {v}"))
                })?;
                if n < model::MIN_SESSION {
                    return Err(IamError::constraint(
                        v,
                        "maxSessionDuration",
                        &format!(
                            "Member must have value greater than or equal to {}",
                            model::MIN_SESSION
                        ),
                    ));
                }
                if n > model::MAX_SESSION {
                    return Err(IamError::constraint(
                        v,
                        "maxSessionDuration",
                        &format!(
                            "Member must have value less than or equal to {}",
                            model::MAX_SESSION
                        ),
                    ));
                }
                n
            }
        };
        let tags = model::tags(&ctx.input)?;
        if state.roles.keys().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(IamError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            )));
        }
        let role = Role {
            name: name.to_owned(),
            id: new_id(ctx.env, "AROA")?,
            path: path.to_owned(),
            created: ctx.env.now().0,
            assume_role_policy: trust.to_owned(),
            description: description.map(str::to_owned),
            max_session_duration,
            tags,
            inline: BTreeMap::new(),
            attached: Vec::new(),
        };
        ROLES.save(ctx.conn()?, &role.name, &role)?;
        let xml = format!("<Role>{}</Role>", role_xml(&role, true));
        state.roles.insert(role.name.clone(), role);
        Ok(xml)
    }
}
