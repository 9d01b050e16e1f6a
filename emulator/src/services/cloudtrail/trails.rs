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

/// Whether `policy` lets CloudTrail, writing for `trail`, do `action` on `resource` (with the
/// condition keys its requests carry: the trail's ARN and account, and the bucket owner in full
/// control of what it writes).
fn cloudtrail_may(policy: &str, trail: &Trail, action: &str, resource: &str) -> bool {
    policy::allows(
        policy,
        &policy::Request {
            principal: Principal::Service("cloudtrail.amazonaws.com".into()),
            action,
            resource,
            context: BTreeMap::from([
                ("aws:SourceArn", trail.arn()),
                ("aws:SourceAccount", ACCOUNT_ID.to_owned()),
                ("s3:x-amz-acl", "bucket-owner-full-control".to_owned()),
            ]),
        },
    )
}

/// Whether the trail's bucket exists and its policy lets CloudTrail check its ACL and write
/// log files under `[prefix/]AWSLogs/<account>/CloudTrail/` for this trail (the policy AWS's
/// guide gives, with its `aws:SourceArn` and `s3:x-amz-acl` conditions, passes), as CreateTrail,
/// UpdateTrail and StartLogging check it.
pub fn bucket_accepts(s3: &S3, trail: &Trail) -> Result<(), CloudTrailError> {
    let policy = s3
        .bucket_policy(&trail.bucket)
        .map_err(|_| CloudTrailError::S3BucketDoesNotExist(trail.bucket.clone()))?
        .ok_or_else(|| CloudTrailError::InsufficientS3BucketPolicy(trail.bucket.clone()))?;
    let bucket_arn = format!("arn:aws:s3:::{}", trail.bucket);
    let logs = format!("{bucket_arn}/{}CloudTrail/", logs_root(trail));
    if cloudtrail_may(&policy, trail, "s3:GetBucketAcl", &bucket_arn)
        && cloudtrail_may(&policy, trail, "s3:PutObject", &logs)
    {
        Ok(())
    } else {
        Err(CloudTrailError::InsufficientS3BucketPolicy(
            trail.bucket.clone(),
        ))
    }
}

/// Why S3 would refuse CloudTrail's PutObject of `key` into the trail's bucket now, as the S3
/// error code GetTrailStatus reports (`NoSuchBucket`, `AccessDenied`); `None` if it may write.
/// Each file is judged by its own key, so a policy can admit log files and refuse digests.
pub fn delivery_refused(s3: &S3, trail: &Trail, key: &str) -> Option<&'static str> {
    match s3.bucket_policy(&trail.bucket) {
        Err(_) => Some("NoSuchBucket"),
        Ok(Some(policy))
            if cloudtrail_may(
                &policy,
                trail,
                "s3:PutObject",
                &format!("arn:aws:s3:::{}/{key}", trail.bucket),
            ) =>
        {
            None
        }
        Ok(_) => Some("AccessDenied"),
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

/// `KmsKeyId` as CloudTrail reports it, a full KMS ARN: a key id or alias name given alone is
/// qualified with the region and account (KMS is not emulated, so an alias stays an alias
/// rather than becoming its key's ARN). Empty or absent: none.
fn kms_key_arn(body: &Value, region: &str) -> Result<Option<String>, CloudTrailError> {
    let key = match body.get("KmsKeyId") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(k)) if k.is_empty() => return Ok(None),
        Some(Value::String(k)) => k.as_str(),
        Some(_) => {
            return Err(CloudTrailError::InvalidParameter(
                "KmsKeyId must be a string".into(),
            ));
        }
    };
    let valid = key.len() <= 2048
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/:.".contains(&b));
    if !valid {
        return Err(CloudTrailError::InvalidKmsKeyId(key.to_owned()));
    }
    Ok(Some(if key.starts_with("arn:") {
        key.to_owned()
    } else if key.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{ACCOUNT_ID}:{key}")
    } else {
        format!("arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key}")
    }))
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
        kms_key_id: kms_key_arn(body, &ctx.req.region)?,
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
    if body.get("KmsKeyId").is_some() {
        t.kms_key_id = kms_key_arn(body, &t.region)?;
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
    let given = |member: &str| body.get(member).filter(|v| !v.is_null());
    let selectors = match (given("EventSelectors"), given("AdvancedEventSelectors")) {
        (Some(b), None) => Selectors::Basic(basic_selectors(b)?),
        (None, Some(a)) => Selectors::Advanced(advanced_selectors(a)?),
        _ => {
            return Err(CloudTrailError::InvalidEventSelectors(
                "Give EventSelectors or AdvancedEventSelectors, not both".into(),
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

/// A list member of a selector: absent is empty; anything but a list of strings is refused.
fn strings_member(selector: &Value, member: &str) -> Result<Vec<Value>, CloudTrailError> {
    match selector.get(member) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a.clone()),
        Some(_) => Err(CloudTrailError::InvalidEventSelectors(format!(
            "{member} must be a list of strings"
        ))),
    }
}

/// The list of selectors `member` gives: 1 to `max` of them.
fn selector_list<'a>(
    given: &'a Value,
    member: &str,
    max: usize,
) -> Result<&'a Vec<Value>, CloudTrailError> {
    given
        .as_array()
        .filter(|l| (1..=max).contains(&l.len()))
        .ok_or_else(|| {
            CloudTrailError::InvalidEventSelectors(format!(
                "{member} is a list of 1 to {max} selectors"
            ))
        })
}

/// Basic event selectors (1 to 5, at most 250 data resources in all), with every member
/// filled in as CloudTrail returns them: `ReadWriteType` All, management events included, no
/// data resources and no excluded event sources unless given.
fn basic_selectors(given: &Value) -> Result<Value, CloudTrailError> {
    let bad = |m: &str| CloudTrailError::InvalidEventSelectors(m.to_owned());
    let list = selector_list(given, "EventSelectors", 5)?;
    let mut out = Vec::new();
    let mut resources = 0;
    for s in list {
        if !s.is_object() {
            return Err(bad("each event selector is an object"));
        }
        let read_write = match s.get("ReadWriteType") {
            None | Some(Value::Null) => "All",
            Some(v) => v
                .as_str()
                .filter(|v| ["ReadOnly", "WriteOnly", "All"].contains(v))
                .ok_or_else(|| bad("ReadWriteType must be ReadOnly, WriteOnly or All"))?,
        };
        let management = optional_bool(s, "IncludeManagementEvents")
            .map_err(|_| bad("IncludeManagementEvents must be a boolean"))?
            .unwrap_or(true);
        let mut data = Vec::new();
        for d in s
            .get("DataResources")
            .filter(|d| !d.is_null())
            .map(|d| {
                d.as_array()
                    .ok_or_else(|| bad("DataResources must be a list"))
            })
            .transpose()?
            .into_iter()
            .flatten()
        {
            let kind = d
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("each data resource has a Type"))?;
            data.push(json!({"Type": kind, "Values": strings_member(d, "Values")?}));
        }
        resources += data.len();
        if resources > 250 {
            return Err(bad("at most 250 data resources across all event selectors"));
        }
        out.push(json!({
            "ReadWriteType": read_write,
            "IncludeManagementEvents": management,
            "DataResources": data,
            "ExcludeManagementEventSources": strings_member(s, "ExcludeManagementEventSources")?,
        }));
    }
    Ok(Value::Array(out))
}

/// The operators an advanced field selector may use.
const FIELD_OPERATORS: [&str; 6] = [
    "Equals",
    "StartsWith",
    "EndsWith",
    "NotEquals",
    "NotStartsWith",
    "NotEndsWith",
];

/// Advanced event selectors (1 to 500), kept as given once their shape is checked: each has
/// field selectors, each naming a `Field` and giving lists of strings to its operators.
fn advanced_selectors(given: &Value) -> Result<Value, CloudTrailError> {
    let bad = |m: &str| CloudTrailError::InvalidEventSelectors(m.to_owned());
    let list = selector_list(given, "AdvancedEventSelectors", 500)?;
    for s in list {
        let fields = s
            .get("FieldSelectors")
            .and_then(Value::as_array)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| bad("each advanced event selector has FieldSelectors"))?;
        if s.get("Name").is_some_and(|n| !n.is_string()) {
            return Err(bad("an advanced event selector's Name is a string"));
        }
        for f in fields {
            if !f.get("Field").is_some_and(Value::is_string) {
                return Err(bad("each field selector names a Field"));
            }
            let mut operators = 0;
            for op in FIELD_OPERATORS {
                if f.get(op).is_some() {
                    operators += 1;
                    if strings_member(f, op)?.is_empty() {
                        return Err(bad("a field selector's operator lists at least one value"));
                    }
                }
            }
            if operators == 0 {
                return Err(bad(
                    "each field selector gives Equals, StartsWith, EndsWith, NotEquals, NotStartsWith or NotEndsWith",
                ));
            }
        }
    }
    Ok(given.clone())
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
