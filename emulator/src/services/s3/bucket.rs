//! Bucket operations: CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation, versioning,
//! Object Lock configuration, policy, lifecycle, encryption, public access block and tags. Bodies are
//! read as typed XML (or, for policies, JSON) and refused with S3's errors when they do not
//! validate; configurations are kept as validated XML.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::services::s3::error::S3Error;
use crate::services::s3::model::{
    Bucket, DefaultRetention, Period, RetentionMode, Settings, Versioning, valid_bucket_name,
};
use crate::services::s3::{Ctx, NS, empty, set_header, xml_ok};
use crate::wire::xml::{self, element, escape};

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, S3Error> {
    xml::from_body(body).map_err(|e| S3Error::MalformedXml(e.0))
}

/// Runs `f` on the bucket (read-only).
fn with_bucket<T>(
    ctx: &Ctx<'_>,
    name: &str,
    f: impl FnOnce(&Bucket) -> Result<T, S3Error>,
) -> Result<T, S3Error> {
    let state = ctx.s3.state();
    let b = state
        .buckets
        .get(name)
        .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?;
    f(b)
}

/// Changes the bucket's settings with `f` and saves them.
fn update_settings(
    ctx: &Ctx<'_>,
    name: &str,
    f: impl FnOnce(&mut Bucket) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let w = ctx.write()?;
    let mut state = ctx.s3.state();
    let b = state
        .buckets
        .get_mut(name)
        .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?;
    let before = b.settings.clone();
    f(b)?;
    if let Err(e) = ctx.s3.save_settings(w, name, b) {
        b.settings = before;
        return Err(e);
    }
    Ok(())
}

pub fn list_buckets(ctx: &Ctx<'_>) -> Result<Response, S3Error> {
    let state = ctx.s3.state();
    let items: String = state
        .buckets
        .iter()
        .map(|(n, b)| {
            format!(
                "<Bucket>{}{}<BucketRegion>{}</BucketRegion></Bucket>",
                element("Name", n),
                element("CreationDate", &b.settings.created.to_string()),
                escape(&b.settings.region)
            )
        })
        .collect();
    Ok(xml_ok(format!(
        "<ListAllMyBucketsResult {NS}><Owner><ID>{}</ID><DisplayName>veritrail</DisplayName></Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>",
        crate::ACCOUNT_ID
    )))
}

#[derive(Deserialize, Default)]
struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint")]
    location: Option<String>,
}

pub fn create_bucket(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    if !valid_bucket_name(name) {
        return Err(S3Error::InvalidBucketName(name.to_owned()));
    }
    let config: CreateBucketConfiguration = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        CreateBucketConfiguration::default()
    } else {
        parse(&ctx.body)?
    };
    let region = config
        .location
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| ctx.req.region.clone());
    let lock = match ctx
        .header("x-amz-bucket-object-lock-enabled")
        .map(str::trim)
    {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(S3Error::InvalidArgument(format!(
                "x-amz-bucket-object-lock-enabled must be true or false, not {v}"
            )));
        }
    };
    let w = ctx.write()?;
    let mut state = ctx.s3.state();
    if state.buckets.contains_key(name) {
        return Err(S3Error::BucketAlreadyOwnedByYou(name.to_owned()));
    }
    let bucket = Bucket {
        settings: Settings {
            created: ctx.now,
            region,
            versioning: if lock {
                Versioning::Enabled
            } else {
                Versioning::Unversioned
            },
            object_lock: lock,
            default_retention: None,
            policy: None,
            lifecycle: None,
            encryption: None,
            public_access_block: None,
            tags: None,
        },
        objects: Default::default(),
    };
    ctx.s3.save_settings(w, name, &bucket)?;
    state.buckets.insert(name.to_owned(), bucket);
    let mut r = empty(StatusCode::OK);
    set_header(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

pub fn delete_bucket(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let w = ctx.write()?;
    let mut state = ctx.s3.state();
    let b = state
        .buckets
        .get(name)
        .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))?;
    if b.objects.values().any(|v| !v.is_empty()) {
        return Err(S3Error::BucketNotEmpty(name.to_owned()));
    }
    ctx.s3.forget_bucket(w, name)?;
    state.buckets.remove(name);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn head_bucket(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| {
        let mut r = empty(StatusCode::OK);
        set_header(&mut r, "x-amz-bucket-region", &b.settings.region);
        Ok(r)
    })
}

pub fn get_bucket_location(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| {
        // us-east-1 is reported as an empty constraint, as S3 does.
        let loc = if b.settings.region == "us-east-1" {
            String::new()
        } else {
            escape(&b.settings.region).into_owned()
        };
        Ok(xml_ok(format!(
            "<LocationConstraint {NS}>{loc}</LocationConstraint>"
        )))
    })
}

pub fn get_bucket_versioning(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| {
        Ok(xml_ok(match b.settings.versioning {
            Versioning::Unversioned => format!("<VersioningConfiguration {NS}/>"),
            v => format!(
                "<VersioningConfiguration {NS}><Status>{v:?}</Status></VersioningConfiguration>"
            ),
        }))
    })
}

#[derive(Deserialize)]
struct VersioningConfiguration {
    #[serde(rename = "Status")]
    status: Option<String>,
}

pub fn put_bucket_versioning(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let config: VersioningConfiguration = parse(&ctx.body)?;
    let status = config
        .status
        .as_deref()
        .and_then(Versioning::parse_status)
        .ok_or_else(|| S3Error::MalformedXml("Status must be Enabled or Suspended".into()))?;
    update_settings(ctx, name, |b| {
        if b.settings.object_lock && status != Versioning::Enabled {
            return Err(S3Error::InvalidBucketState(
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                    .into(),
            ));
        }
        b.settings.versioning = status;
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

pub fn get_object_lock_configuration(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| {
        if !b.settings.object_lock {
            return Err(S3Error::ObjectLockConfigurationNotFound);
        }
        let rule = b.settings.default_retention.map_or(String::new(), |d| {
            format!(
                "<Rule><DefaultRetention><Mode>{}</Mode>{}</DefaultRetention></Rule>",
                d.mode.as_str(),
                d.period_xml()
            )
        });
        Ok(xml_ok(format!(
            "<ObjectLockConfiguration {NS}><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
        )))
    })
}

#[derive(Deserialize)]
struct ObjectLockConfiguration {
    #[serde(rename = "ObjectLockEnabled")]
    enabled: Option<String>,
    #[serde(rename = "Rule")]
    rule: Option<LockRule>,
}

#[derive(Deserialize)]
struct LockRule {
    #[serde(rename = "DefaultRetention")]
    default_retention: Option<LockDefault>,
}

#[derive(Deserialize)]
struct LockDefault {
    #[serde(rename = "Mode")]
    mode: Option<String>,
    #[serde(rename = "Days")]
    days: Option<String>,
    #[serde(rename = "Years")]
    years: Option<String>,
}

/// A whole number of days or years, refused (never wrapped) beyond S3's limits.
fn period_number(text: &str, unit: &str) -> Result<u32, S3Error> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(S3Error::InvalidArgument(format!(
            "Default retention period must be a positive integer value for '{unit}'"
        )));
    }
    Ok(t.parse::<u32>().unwrap_or(u32::MAX))
}

pub fn put_object_lock_configuration(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let config: ObjectLockConfiguration = parse(&ctx.body)?;
    if config.enabled.as_deref() != Some("Enabled") {
        return Err(S3Error::MalformedXml(
            "ObjectLockEnabled must be Enabled".into(),
        ));
    }
    let default_retention = match config.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let mode = d
                .mode
                .as_deref()
                .map(|m| {
                    RetentionMode::parse(m).ok_or_else(|| {
                        S3Error::MalformedXml("Mode must be GOVERNANCE or COMPLIANCE".into())
                    })
                })
                .transpose()?
                .ok_or_else(|| S3Error::MalformedXml("DefaultRetention needs a Mode".into()))?;
            let period = match (d.days, d.years) {
                (Some(days), None) => Period::Days(period_number(&days, "Days")?),
                (None, Some(years)) => Period::Years(period_number(&years, "Years")?),
                _ => {
                    return Err(S3Error::MalformedXml(
                        "DefaultRetention needs Days or Years, not both".into(),
                    ));
                }
            };
            Some(DefaultRetention::new(mode, period)?)
        }
    };
    update_settings(ctx, name, |b| {
        if !b.settings.object_lock && b.settings.versioning != Versioning::Enabled {
            return Err(S3Error::InvalidBucketState(
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                    .into(),
            ));
        }
        b.settings.object_lock = true;
        b.settings.versioning = Versioning::Enabled;
        b.settings.default_retention = default_retention;
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

/// S3's largest bucket policy.
const MAX_POLICY: usize = 20 * 1024;

pub fn get_bucket_policy(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| match &b.settings.policy {
        Some(p) => Ok((
            StatusCode::OK,
            [("content-type", "application/json")],
            p.clone(),
        )
            .into_response()),
        None => Err(S3Error::NoSuchBucketPolicy(name.to_owned())),
    })
}

pub fn put_bucket_policy(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let text = std::str::from_utf8(&ctx.body)
        .map_err(|_| S3Error::MalformedPolicy("Policies must be valid UTF-8 JSON".into()))?;
    if text.len() > MAX_POLICY {
        return Err(S3Error::MalformedPolicy(format!(
            "Policies must be at most {MAX_POLICY} bytes"
        )));
    }
    let policy: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        S3Error::MalformedPolicy(
            "Policies must be valid JSON and the first byte must be '{'".into(),
        )
    })?;
    let statements = policy.get("Statement");
    if !policy.is_object() || !statements.is_some_and(|s| s.is_array() || s.is_object()) {
        return Err(S3Error::MalformedPolicy(
            "Missing required field Statement".into(),
        ));
    }
    let text = text.to_owned();
    update_settings(ctx, name, |b| {
        b.settings.policy = Some(text);
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn delete_bucket_policy(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    update_settings(ctx, name, |b| {
        b.settings.policy = None;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct LifecycleConfiguration {
    #[serde(rename = "Rule", default)]
    rules: Vec<LifecycleRule>,
}

#[derive(Deserialize)]
struct LifecycleRule {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "Filter")]
    filter: Option<serde::de::IgnoredAny>,
    #[serde(rename = "Prefix")]
    prefix: Option<serde::de::IgnoredAny>,
    #[serde(rename = "Expiration")]
    expiration: Option<LifecycleExpiration>,
    #[serde(rename = "Transition", default)]
    transitions: Vec<LifecycleTransition>,
    #[serde(rename = "NoncurrentVersionTransition", default)]
    noncurrent_transitions: Vec<NoncurrentTransition>,
    #[serde(rename = "NoncurrentVersionExpiration")]
    noncurrent_expiration: Option<serde::de::IgnoredAny>,
    #[serde(rename = "AbortIncompleteMultipartUpload")]
    abort_uploads: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct LifecycleExpiration {
    #[serde(rename = "Days")]
    days: Option<i64>,
}

#[derive(Deserialize)]
struct LifecycleTransition {
    #[serde(rename = "Days")]
    days: Option<i64>,
    #[serde(rename = "Date")]
    date: Option<String>,
    #[serde(rename = "StorageClass")]
    storage_class: String,
}

#[derive(Deserialize)]
struct NoncurrentTransition {
    #[serde(rename = "NoncurrentDays")]
    days: Option<i64>,
    #[serde(rename = "StorageClass")]
    storage_class: String,
}

/// The storage classes an object can move to.
const TRANSITION_CLASSES: [&str; 6] = [
    "GLACIER",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

/// The answer carries the minimum object size transitions apply to (S3's default since 2024).
fn with_minimum_object_size(mut r: Response) -> Response {
    set_header(
        &mut r,
        "x-amz-transition-default-minimum-object-size",
        "all_storage_classes_128K",
    );
    r
}

pub fn get_bucket_lifecycle_configuration(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| match &b.settings.lifecycle {
        Some(c) => Ok(with_minimum_object_size(xml_ok(c.clone()))),
        None => Err(S3Error::NoSuchLifecycleConfiguration(name.to_owned())),
    })
}

/// Strips the XML declaration a stored configuration was sent with.
fn without_declaration(text: &str) -> String {
    let t = text.trim_start();
    match t.strip_prefix("<?xml").and_then(|r| r.split_once("?>")) {
        Some((_, rest)) => rest.trim().to_owned(),
        None => t.trim().to_owned(),
    }
}

/// A transition's storage class, and its days where S3 sets a minimum (30 days in Standard
/// before an infrequent-access class).
fn check_transition(class: &str, days: Option<i64>, what: &str) -> Result<(), S3Error> {
    if !TRANSITION_CLASSES.contains(&class) {
        return Err(S3Error::InvalidArgument(format!(
            "The storage class {class} is not valid for a transition"
        )));
    }
    match days {
        Some(d) if d < 0 => Err(S3Error::InvalidArgument(format!(
            "'{what}' in Transition action must be nonnegative"
        ))),
        Some(d) if d < 30 && matches!(class, "STANDARD_IA" | "ONEZONE_IA") => {
            Err(S3Error::InvalidArgument(format!(
                "'{what}' in Transition action must be greater than or equal to 30 for storageClass '{class}'"
            )))
        }
        _ => Ok(()),
    }
}

/// Checks one rule as S3 does: a status, a filter (or the legacy prefix), at least one action,
/// and transitions S3 can make.
fn check_rule(rule: &LifecycleRule) -> Result<(), S3Error> {
    if rule.status != "Enabled" && rule.status != "Disabled" {
        return Err(S3Error::MalformedXml(
            "a rule's Status must be Enabled or Disabled".into(),
        ));
    }
    if rule.id.as_ref().is_some_and(|id| id.len() > 255) {
        return Err(S3Error::InvalidArgument(
            "ID length should not exceed allowed limit of 255".into(),
        ));
    }
    if rule.filter.is_none() && rule.prefix.is_none() {
        return Err(S3Error::MalformedXml("a rule needs a Filter".into()));
    }
    let acts = rule.expiration.is_some()
        || !rule.transitions.is_empty()
        || !rule.noncurrent_transitions.is_empty()
        || rule.noncurrent_expiration.is_some()
        || rule.abort_uploads.is_some();
    if !acts {
        return Err(S3Error::InvalidRequest(
            "At least one action needs to be specified in a rule".into(),
        ));
    }
    if rule
        .expiration
        .as_ref()
        .and_then(|e| e.days)
        .is_some_and(|d| d <= 0)
    {
        return Err(S3Error::InvalidArgument(
            "'Days' for Expiration action must be a positive integer".into(),
        ));
    }
    for t in &rule.transitions {
        if t.days.is_some() == t.date.is_some() {
            return Err(S3Error::MalformedXml(
                "a Transition gives Days or Date".into(),
            ));
        }
        check_transition(&t.storage_class, t.days, "Days")?;
    }
    for t in &rule.noncurrent_transitions {
        if t.days.is_none() {
            return Err(S3Error::MalformedXml(
                "a NoncurrentVersionTransition gives NoncurrentDays".into(),
            ));
        }
        check_transition(&t.storage_class, t.days, "NoncurrentDays")?;
    }
    Ok(())
}

pub fn put_bucket_lifecycle_configuration(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let config: LifecycleConfiguration = parse(&ctx.body)?;
    if config.rules.is_empty() || config.rules.len() > 1000 {
        return Err(S3Error::MalformedXml(
            "a lifecycle configuration has 1 to 1,000 rules".into(),
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for rule in &config.rules {
        check_rule(rule)?;
        if let Some(id) = &rule.id {
            if !ids.insert(id.as_str()) {
                return Err(S3Error::InvalidArgument(
                    "Rule ID must be unique. Found same ID for more than one rule".into(),
                ));
            }
        }
    }
    let text = without_declaration(std::str::from_utf8(&ctx.body).unwrap_or_default());
    update_settings(ctx, name, |b| {
        b.settings.lifecycle = Some(text);
        Ok(())
    })?;
    Ok(with_minimum_object_size(empty(StatusCode::OK)))
}

pub fn delete_bucket_lifecycle(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    update_settings(ctx, name, |b| {
        b.settings.lifecycle = None;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct ServerSideEncryptionConfiguration {
    #[serde(rename = "Rule", default)]
    rules: Vec<EncryptionRule>,
}

#[derive(Deserialize)]
struct EncryptionRule {
    #[serde(rename = "ApplyServerSideEncryptionByDefault")]
    default: Option<EncryptionDefault>,
    #[serde(rename = "BucketKeyEnabled")]
    bucket_key: Option<bool>,
}

#[derive(Deserialize)]
struct EncryptionDefault {
    #[serde(rename = "SSEAlgorithm")]
    algorithm: String,
    #[serde(rename = "KMSMasterKeyID")]
    kms_key: Option<String>,
}

/// A bucket's default encryption: its `SSEAlgorithm` and `KMSMasterKeyID` (`None`: S3's own
/// keys, SSE-S3).
pub fn default_encryption(settings: &Settings) -> Option<(String, Option<String>)> {
    let rules = settings.encryption.as_ref()?;
    let config: ServerSideEncryptionConfiguration = crate::wire::xml::from_body(
        format!("<ServerSideEncryptionConfiguration>{rules}</ServerSideEncryptionConfiguration>")
            .as_bytes(),
    )
    .ok()?;
    let d = config.rules.into_iter().next()?.default?;
    Some((d.algorithm, d.kms_key))
}

pub fn get_bucket_encryption(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| {
        // Every bucket encrypts with SSE-S3 unless told otherwise, as S3 does since 2023.
        let rules = b.settings.encryption.clone().unwrap_or_else(|| {
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>".into()
        });
        Ok(xml_ok(format!(
            "<ServerSideEncryptionConfiguration {NS}>{rules}</ServerSideEncryptionConfiguration>"
        )))
    })
}

pub fn put_bucket_encryption(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let config: ServerSideEncryptionConfiguration = parse(&ctx.body)?;
    if config.rules.len() != 1 {
        return Err(S3Error::MalformedXml("exactly one Rule is expected".into()));
    }
    let mut rules = String::new();
    for rule in &config.rules {
        let d = rule.default.as_ref().ok_or_else(|| {
            S3Error::MalformedXml("a Rule needs ApplyServerSideEncryptionByDefault".into())
        })?;
        if !["AES256", "aws:kms", "aws:kms:dsse"].contains(&d.algorithm.as_str()) {
            return Err(S3Error::MalformedXml(format!(
                "SSEAlgorithm must be AES256, aws:kms or aws:kms:dsse, not {}",
                d.algorithm
            )));
        }
        if d.kms_key.is_some() && d.algorithm == "AES256" {
            return Err(S3Error::InvalidArgument(
                "a KMS key can only be given with aws:kms or aws:kms:dsse".into(),
            ));
        }
        rules.push_str(&format!(
            "<Rule><ApplyServerSideEncryptionByDefault>{}{}</ApplyServerSideEncryptionByDefault>{}</Rule>",
            element("SSEAlgorithm", &d.algorithm),
            d.kms_key
                .as_deref()
                .map_or(String::new(), |k| element("KMSMasterKeyID", k)),
            element("BucketKeyEnabled", &rule.bucket_key.unwrap_or(false).to_string())
        ));
    }
    update_settings(ctx, name, |b| {
        b.settings.encryption = Some(rules);
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

pub fn delete_bucket_encryption(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    update_settings(ctx, name, |b| {
        b.settings.encryption = None;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct PublicAccessBlockConfiguration {
    #[serde(rename = "BlockPublicAcls")]
    block_public_acls: Option<bool>,
    #[serde(rename = "IgnorePublicAcls")]
    ignore_public_acls: Option<bool>,
    #[serde(rename = "BlockPublicPolicy")]
    block_public_policy: Option<bool>,
    #[serde(rename = "RestrictPublicBuckets")]
    restrict_public_buckets: Option<bool>,
}

pub fn get_public_access_block(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| match &b.settings.public_access_block {
        Some(c) => Ok(xml_ok(format!(
            "<PublicAccessBlockConfiguration {NS}>{c}</PublicAccessBlockConfiguration>"
        ))),
        None => Err(S3Error::NoSuchPublicAccessBlockConfiguration(
            name.to_owned(),
        )),
    })
}

pub fn put_public_access_block(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let c: PublicAccessBlockConfiguration = parse(&ctx.body)?;
    let flags = [
        ("BlockPublicAcls", c.block_public_acls),
        ("IgnorePublicAcls", c.ignore_public_acls),
        ("BlockPublicPolicy", c.block_public_policy),
        ("RestrictPublicBuckets", c.restrict_public_buckets),
    ];
    let text: String = flags
        .iter()
        .map(|(k, v)| element(k, &v.unwrap_or(false).to_string()))
        .collect();
    update_settings(ctx, name, |b| {
        b.settings.public_access_block = Some(text);
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

pub fn delete_public_access_block(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    update_settings(ctx, name, |b| {
        b.settings.public_access_block = None;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct Tagging {
    #[serde(rename = "TagSet")]
    tag_set: TagSet,
}

#[derive(Deserialize)]
struct TagSet {
    #[serde(rename = "Tag", default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

pub fn get_bucket_tagging(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    with_bucket(ctx, name, |b| match &b.settings.tags {
        Some(t) => Ok(xml_ok(format!(
            "<Tagging {NS}><TagSet>{t}</TagSet></Tagging>"
        ))),
        None => Err(S3Error::NoSuchTagSet(name.to_owned())),
    })
}

/// PutBucketTagging with S3's rules: at most 50 tags, keys of 1 to 128 characters, values of
/// at most 256, no key twice, no key starting `aws:`.
pub fn put_bucket_tagging(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    let t: Tagging = parse(&ctx.body)?;
    if t.tag_set.tags.len() > 50 {
        return Err(S3Error::InvalidTag(
            "Object tags cannot be greater than 50".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut text = String::new();
    for tag in &t.tag_set.tags {
        let key_len = tag.key.chars().count();
        if key_len == 0 || key_len > 128 {
            return Err(S3Error::InvalidTag(
                "The TagKey you have provided is invalid".into(),
            ));
        }
        if tag.value.chars().count() > 256 {
            return Err(S3Error::InvalidTag(
                "The TagValue you have provided is invalid".into(),
            ));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(S3Error::InvalidTag(
                "System tags cannot be added/updated by requester".into(),
            ));
        }
        if !seen.insert(tag.key.as_str()) {
            return Err(S3Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
        text.push_str(&format!(
            "<Tag>{}{}</Tag>",
            element("Key", &tag.key),
            element("Value", &tag.value)
        ));
    }
    update_settings(ctx, name, |b| {
        b.settings.tags = Some(text);
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn delete_bucket_tagging(ctx: &Ctx<'_>, name: &str) -> Result<Response, S3Error> {
    update_settings(ctx, name, |b| {
        b.settings.tags = None;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}
