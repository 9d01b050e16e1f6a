//! Trail operations: CreateTrail, UpdateTrail, DeleteTrail, GetTrail, DescribeTrails,
//! ListTrails, GetTrailStatus, StartLogging, StopLogging, Put/GetEventSelectors, ListPublicKeys,
//! AddTags, RemoveTags and ListTags. A trail's bucket must exist and its policy must let
//! CloudTrail write there, as on AWS.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;

use crate::ACCOUNT_ID;
use crate::policy::{self, Principal};
use crate::services::cloudtrail::delivery::{self, logs_root};
use crate::services::cloudtrail::error::CloudTrailError;
use crate::services::cloudtrail::model::{Delivery, Selectors, Trail, valid_trail_name};
use crate::services::cloudtrail::{Ctx, State};
use crate::services::s3::S3;
use crate::wire::json::{epoch_member, epoch_seconds, str_member};

/// A required string member.
fn required<'a>(body: &'a Value, member: &str) -> Result<&'a str, CloudTrailError> {
    str_member(body, member)
        .ok_or_else(|| CloudTrailError::InvalidParameter(format!("{member} is required")))
}

fn optional_bool(body: &Value, member: &str) -> Result<Option<bool>, CloudTrailError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(CloudTrailError::InvalidParameter(format!(
            "{member} must be a boolean"
        ))),
    }
}

/// The trail a name or ARN names.
fn trail_key(state: &State, name_or_arn: &str) -> Result<String, CloudTrailError> {
    if state.trails.contains_key(name_or_arn) {
        return Ok(name_or_arn.to_owned());
    }
    state
        .trails
        .values()
        .find(|t| t.arn() == name_or_arn)
        .map(|t| t.name.clone())
        .ok_or_else(|| CloudTrailError::TrailNotFound(name_or_arn.to_owned()))
}

/// Whether the trail's bucket exists and its policy lets CloudTrail check its ACL and write
/// under `[prefix/]AWSLogs/<account>/` for this trail (the policy AWS's guide gives, with its
/// `aws:SourceArn` and `s3:x-amz-acl` conditions, passes).
pub fn bucket_accepts(s3: &S3, trail: &Trail) -> Result<(), CloudTrailError> {
    let policy = s3
        .bucket_policy(&trail.bucket)
        .map_err(|_| CloudTrailError::S3BucketDoesNotExist(trail.bucket.clone()))?
        .ok_or_else(|| CloudTrailError::InsufficientS3BucketPolicy(trail.bucket.clone()))?;
    let context = BTreeMap::from([
        ("aws:SourceArn", trail.arn()),
        ("aws:SourceAccount", ACCOUNT_ID.to_owned()),
        ("s3:x-amz-acl", "bucket-owner-full-control".to_owned()),
    ]);
    let bucket_arn = format!("arn:aws:s3:::{}", trail.bucket);
    let object_arn = format!("{bucket_arn}/{}CloudTrail/", logs_root(trail));
    let ask = |action, resource| policy::Request {
        principal: Principal::Service("cloudtrail.amazonaws.com".into()),
        action,
        resource,
        context: context.clone(),
    };
    if policy::allows(&policy, &ask("s3:GetBucketAcl", &bucket_arn))
        && policy::allows(&policy, &ask("s3:PutObject", &object_arn))
    {
        Ok(())
    } else {
        Err(CloudTrailError::InsufficientS3BucketPolicy(
            trail.bucket.clone(),
        ))
    }
}

/// The bucket policy AWS's CloudTrail guide gives a trail bucket: CloudTrail may read its ACL
/// and write objects under `[prefix/]AWSLogs/<account>/` with the bucket owner in full control,
/// for trails of this account. What a provisioner or a test puts on a trail's bucket.
pub fn documented_bucket_policy(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": format!("arn:aws:s3:::{bucket}"),
             "Condition": {"StringLike": {"aws:SourceArn": format!("arn:aws:cloudtrail:*:{ACCOUNT_ID}:trail/*")}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*AWSLogs/{ACCOUNT_ID}/*"),
             "Condition": {
                 "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"},
                 "StringLike": {"aws:SourceArn": format!("arn:aws:cloudtrail:*:{ACCOUNT_ID}:trail/*")}}}
        ]
    })
    .to_string()
}

fn tags_list(body: &Value) -> Result<BTreeMap<String, String>, CloudTrailError> {
    let mut out = BTreeMap::new();
    for t in body
        .get("TagsList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = t
            .get("Key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty() && k.len() <= 128 && !k.starts_with("aws:"))
            .ok_or_else(|| {
                CloudTrailError::InvalidTagParameter(
                    "a tag Key is 1 to 128 characters and does not start with aws:".into(),
                )
            })?;
        let value = t.get("Value").and_then(Value::as_str).unwrap_or("");
        if value.len() > 256 {
            return Err(CloudTrailError::InvalidTagParameter(
                "a tag Value is at most 256 characters".into(),
            ));
        }
        out.insert(key.to_owned(), value.to_owned());
    }
    if out.len() > 50 {
        return Err(CloudTrailError::TagsLimitExceeded);
    }
    Ok(out)
}

fn prefix_arg(body: &Value) -> Result<Option<String>, CloudTrailError> {
    match str_member(body, "S3KeyPrefix") {
        None | Some("") => Ok(None),
        Some(p) if p.len() > 200 || p.starts_with('/') => {
            Err(CloudTrailError::InvalidS3Prefix(p.to_owned()))
        }
        Some(p) => Ok(Some(p.to_owned())),
    }
}

pub fn create_trail(ctx: &Ctx<'_>, state: &mut State, s3: &S3) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let name = required(body, "Name")?;
    if !valid_trail_name(name) {
        return Err(CloudTrailError::InvalidTrailName(name.to_owned()));
    }
    if state.trails.contains_key(name) {
        return Err(CloudTrailError::TrailAlreadyExists(name.to_owned()));
    }
    let trail = Trail {
        name: name.to_owned(),
        region: ctx.req.region.clone(),
        bucket: required(body, "S3BucketName")?.to_owned(),
        prefix: prefix_arg(body)?,
        sns_topic: str_member(body, "SnsTopicName").map(str::to_owned),
        validation: optional_bool(body, "EnableLogFileValidation")?.unwrap_or(false),
        global_events: optional_bool(body, "IncludeGlobalServiceEvents")?.unwrap_or(true),
        multi_region: optional_bool(body, "IsMultiRegionTrail")?.unwrap_or(false),
        kms_key_id: str_member(body, "KmsKeyId").map(str::to_owned),
        log_group_arn: str_member(body, "CloudWatchLogsLogGroupArn").map(str::to_owned),
        log_role_arn: str_member(body, "CloudWatchLogsRoleArn").map(str::to_owned),
        logging: false,
        start_logging: None,
        stop_logging: None,
        selectors: Selectors::default_basic(),
        custom_selectors: false,
        tags: tags_list(body)?,
        delivery: Delivery::default(),
    };
    if trail.multi_region && !trail.global_events {
        return Err(CloudTrailError::InvalidParameterCombination(
            "Multi-Region trail must include global service events.".into(),
        ));
    }
    bucket_accepts(s3, &trail)?;
    let mut out = trail.describe();
    if let Some(o) = out.as_object_mut() {
        for k in [
            "HomeRegion",
            "HasCustomEventSelectors",
            "HasInsightSelectors",
        ] {
            o.remove(k);
        }
    }
    state.trails.insert(trail.name.clone(), trail);
    Ok(out)
}

pub fn update_trail(ctx: &Ctx<'_>, state: &mut State, s3: &S3) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let key = trail_key(state, required(body, "Name")?)?;
    let mut t = state.trails[&key].clone();
    if let Some(b) = str_member(body, "S3BucketName") {
        t.bucket = b.to_owned();
    }
    if body.get("S3KeyPrefix").is_some() {
        t.prefix = prefix_arg(body)?;
    }
    if let Some(v) = optional_bool(body, "IsMultiRegionTrail")? {
        t.multi_region = v;
    }
    if let Some(v) = optional_bool(body, "IncludeGlobalServiceEvents")? {
        t.global_events = v;
    }
    if let Some(k) = body.get("KmsKeyId") {
        t.kms_key_id = k.as_str().filter(|k| !k.is_empty()).map(str::to_owned);
    }
    if let Some(s) = body.get("SnsTopicName") {
        t.sns_topic = s.as_str().filter(|k| !k.is_empty()).map(str::to_owned);
    }
    if t.multi_region && !t.global_events {
        return Err(CloudTrailError::InvalidParameterCombination(
            "Multi-Region trail must include global service events.".into(),
        ));
    }
    bucket_accepts(s3, &t)?;
    if let Some(v) = optional_bool(body, "EnableLogFileValidation")? {
        t.validation = v;
        if !v {
            t.delivery.chains.clear();
        } else if t.logging {
            delivery::start(&mut t, ctx.next_record, ctx.now);
        }
    }
    let out = t.describe();
    state.trails.insert(key, t);
    Ok(out)
}

pub fn delete_trail(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "Name")?)?;
    if let Some(mut t) = state.trails.remove(&key) {
        // The final files (up to and including this call) go out with this request.
        t.delivery.flush = t.logging;
        t.logging = false;
        state.retired.push(t);
    }
    Ok(json!({}))
}

pub fn get_trail(ctx: &Ctx<'_>, state: &State) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "Name")?)?;
    Ok(json!({"Trail": state.trails[&key].describe()}))
}

pub fn describe_trails(ctx: &Ctx<'_>, state: &State) -> Result<Value, CloudTrailError> {
    let wanted: Option<Vec<&str>> = ctx
        .req
        .json()
        .get("trailNameList")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .filter(|l: &Vec<&str>| !l.is_empty());
    let list: Vec<Value> = state
        .trails
        .values()
        .filter(|t| {
            wanted
                .as_ref()
                .is_none_or(|w| w.iter().any(|n| *n == t.name || *n == t.arn()))
        })
        .map(Trail::describe)
        .collect();
    Ok(json!({"trailList": list}))
}

pub fn list_trails(state: &State) -> Result<Value, CloudTrailError> {
    Ok(json!({"Trails": state
        .trails
        .values()
        .map(|t| json!({"TrailARN": t.arn(), "Name": t.name, "HomeRegion": t.region}))
        .collect::<Vec<_>>()}))
}

pub fn get_trail_status(ctx: &Ctx<'_>, state: &State) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "Name")?)?;
    Ok(state.trails[&key].status())
}

pub fn start_logging(ctx: &Ctx<'_>, state: &mut State, s3: &S3) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "Name")?)?;
    let t = state
        .trails
        .get_mut(&key)
        .ok_or_else(|| CloudTrailError::TrailNotFound(key.clone()))?;
    bucket_accepts(s3, t)?;
    if !t.logging {
        t.start_logging = Some(ctx.now);
        delivery::start(t, ctx.next_record, ctx.now);
    }
    t.logging = true;
    Ok(json!({}))
}

pub fn stop_logging(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "Name")?)?;
    let t = state
        .trails
        .get_mut(&key)
        .ok_or_else(|| CloudTrailError::TrailNotFound(key.clone()))?;
    if t.logging {
        // The final files (up to and including this call) go out with this request.
        t.logging = false;
        t.stop_logging = Some(ctx.now);
        t.delivery.flush = true;
    }
    Ok(json!({}))
}

pub fn put_event_selectors(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let key = trail_key(state, required(body, "TrailName")?)?;
    let selectors = match (
        body.get("EventSelectors"),
        body.get("AdvancedEventSelectors"),
    ) {
        (Some(b), None) if b.as_array().is_some_and(|a| !a.is_empty() && a.len() <= 5) => {
            Selectors::Basic(b.clone())
        }
        (None, Some(a))
            if a.as_array()
                .is_some_and(|a| !a.is_empty() && a.len() <= 500) =>
        {
            Selectors::Advanced(a.clone())
        }
        _ => {
            return Err(CloudTrailError::InvalidEventSelectors(
                "Give EventSelectors (1 to 5) or AdvancedEventSelectors, not both".into(),
            ));
        }
    };
    let t = state
        .trails
        .get_mut(&key)
        .ok_or_else(|| CloudTrailError::TrailNotFound(key.clone()))?;
    t.selectors = selectors;
    t.custom_selectors = true;
    Ok(event_selectors(t))
}

fn event_selectors(t: &Trail) -> Value {
    match &t.selectors {
        Selectors::Basic(s) => json!({"TrailARN": t.arn(), "EventSelectors": s}),
        Selectors::Advanced(s) => json!({"TrailARN": t.arn(), "AdvancedEventSelectors": s}),
    }
}

pub fn get_event_selectors(ctx: &Ctx<'_>, state: &State) -> Result<Value, CloudTrailError> {
    let key = trail_key(state, required(ctx.req.json(), "TrailName")?)?;
    Ok(event_selectors(&state.trails[&key]))
}

pub fn list_public_keys(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let bad_time = |m: String| CloudTrailError::InvalidParameter(m);
    let from = epoch_member(body, "StartTime")
        .map_err(bad_time)?
        .unwrap_or(ctx.now);
    let to = epoch_member(body, "EndTime")
        .map_err(bad_time)?
        .unwrap_or(ctx.now);
    if from > to {
        return Err(CloudTrailError::InvalidTimeRange);
    }
    // There is always a current key.
    state.keys.current(ctx.now).map_err(CloudTrailError::Keys)?;
    let list: Vec<Value> = state
        .keys
        .valid_between(from, to)
        .into_iter()
        .map(|k| {
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(&k.der),
                "ValidityStartTime": epoch_seconds(k.valid_from),
                "ValidityEndTime": epoch_seconds(k.valid_until()),
                "Fingerprint": k.fingerprint,
            })
        })
        .collect();
    Ok(json!({"PublicKeyList": list}))
}

/// The trail a tag operation's `ResourceId` (a trail ARN) names.
fn tagged<'a>(state: &'a mut State, arn: &str) -> Result<&'a mut Trail, CloudTrailError> {
    if !arn.starts_with("arn:aws:cloudtrail:") {
        return Err(CloudTrailError::CloudTrailArnInvalid(arn.to_owned()));
    }
    state
        .trails
        .values_mut()
        .find(|t| t.arn() == arn)
        .ok_or_else(|| CloudTrailError::ResourceNotFound(arn.to_owned()))
}

pub fn add_tags(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let tags = tags_list(body)?;
    let t = tagged(state, required(body, "ResourceId")?)?;
    let mut merged = t.tags.clone();
    merged.extend(tags);
    if merged.len() > 50 {
        return Err(CloudTrailError::TagsLimitExceeded);
    }
    t.tags = merged;
    Ok(json!({}))
}

pub fn remove_tags(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let body = ctx.req.json();
    let keys: BTreeSet<String> = tags_list(body)?.into_keys().collect();
    let t = tagged(state, required(body, "ResourceId")?)?;
    t.tags.retain(|k, _| !keys.contains(k));
    Ok(json!({}))
}

pub fn list_tags(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, CloudTrailError> {
    let ids: Vec<String> = ctx
        .req
        .json()
        .get("ResourceIdList")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 20 {
        return Err(CloudTrailError::InvalidParameter(
            "ResourceIdList names 1 to 20 trails".into(),
        ));
    }
    let mut out = Vec::new();
    for id in ids {
        let t = tagged(state, &id)?;
        out.push(json!({
            "ResourceId": id,
            "TagsList": t.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        }));
    }
    Ok(json!({"ResourceTagList": out}))
}

/// The 90 days LookupEvents looks back.
pub fn lookup_window_start(now: UtcMillis) -> UtcMillis {
    UtcMillis(now.0.saturating_sub(90 * 86_400_000))
}
