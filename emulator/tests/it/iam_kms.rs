//! STS, Secrets Manager, IAM and KMS over real TCP: the answers and errors clients read, the
//! CloudTrail records they leave (so the shipped rule packs see DisableKey), KMS's real
//! encryption and key states on the emulator's clock, and roles, policies and keys surviving a
//! kill.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Instance, Reply, exchange, request};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400;

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    )
}

/// One query-protocol call (IAM or STS): status and XML text.
pub fn query(url: &str, service: &str, params: &[(&str, &str)]) -> (u16, String) {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let a = auth(service);
    let (status, _, text) = exchange(
        url,
        "POST",
        "/",
        &[
            ("Authorization", a.as_str()),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
        &form,
    );
    (status, text)
}

fn iam(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    query(url, "iam", params)
}

/// The text of the first `<tag>` in `text`.
pub fn inner(text: &str, tag: &str) -> String {
    text.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|r| r.split(&format!("</{tag}>")).next())
        .unwrap_or_else(|| panic!("no <{tag}> in {text}"))
        .to_owned()
}

fn iam_error(url: &str, params: &[(&str, &str)], status: u16, code: &str, message: &str) {
    let (s, text) = iam(url, params);
    assert_eq!(s, status, "{text}");
    assert_eq!(inner(&text, "Code"), code, "{text}");
    let said = quick_xml::escape::unescape(&inner(&text, "Message"))
        .unwrap()
        .into_owned();
    assert_eq!(said, message, "{text}");
}

/// One awsJson1_1 call with target `target`, signed for `service`.
pub fn json_call(url: &str, service: &str, target: &str, body: &Value) -> Reply {
    let a = auth(service);
    request(
        url,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", a.as_str()),
        ],
        &body.to_string(),
    )
}

pub fn kms(url: &str, op: &str, body: Value) -> Reply {
    json_call(url, "kms", &format!("TrentService.{op}"), &body)
}

pub fn kms_ok(url: &str, op: &str, body: Value) -> Value {
    let r = kms(url, op, body);
    assert_eq!(r.status, 200, "{op}: {}", r.json);
    r.json
}

fn kms_refused(url: &str, op: &str, body: Value, code: &str) -> String {
    let r = kms(url, op, body);
    assert_eq!((r.status, r.error_type()), (400, code), "{op}: {}", r.json);
    r.json["message"].as_str().unwrap_or("").to_owned()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// The CloudTrail records named `name`, newest first (LookupEvents).
fn records(url: &str, name: &str) -> Vec<Value> {
    let a = auth("cloudtrail");
    let r = crate::cloudtrail_call(
        url,
        &a,
        "LookupEvents",
        &json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}]}),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn sts_names_the_caller_and_secrets_manager_makes_passwords() {
    let mut emu = Instance::new("sts-secrets");
    emu.start(START, false);
    let u = emu.url().to_owned();
    let (status, text) = query(
        &u,
        "sts",
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(inner(&text, "Account"), "000000000000");
    assert_eq!(
        inner(&text, "Arn"),
        "arn:aws:iam::000000000000:user/AKIDALICE"
    );
    assert_eq!(inner(&text, "UserId"), "AIDAAKIDALICE");
    // The trail names the same caller, as a read-only management event of sts.amazonaws.com.
    let r = &records(&u, "GetCallerIdentity")[0];
    assert_eq!(r["eventSource"], "sts.amazonaws.com");
    assert_eq!(r["readOnly"], true);
    assert_eq!(r["userIdentity"]["arn"], inner(&text, "Arn"));
    assert_eq!(r["userIdentity"]["principalId"], inner(&text, "UserId"));

    let sm = |body: Value| {
        json_call(
            &u,
            "secretsmanager",
            "secretsmanager.GetRandomPassword",
            &body,
        )
    };
    let r = sm(json!({"PasswordLength": 20, "ExcludePunctuation": true}));
    assert_eq!(r.status, 200, "{}", r.json);
    let p = r.json["RandomPassword"].as_str().unwrap();
    assert_eq!(p.len(), 20);
    assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
    assert_ne!(
        sm(json!({})).json["RandomPassword"],
        sm(json!({})).json["RandomPassword"]
    );
    let r = sm(json!({"PasswordLength": 5000}));
    assert_eq!((r.status, r.error_type()), (400, "ValidationException"));
    assert_eq!(
        r.json["message"],
        "1 validation error detected: Value '5000' at 'passwordLength' failed to satisfy constraint: Member must have value less than or equal to 4096"
    );
    let r = sm(
        json!({"ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludeNumbers": true, "ExcludePunctuation": true}),
    );
    assert_eq!(
        (r.status, r.error_type()),
        (400, "InvalidParameterException")
    );
    let r = &records(&u, "GetRandomPassword")[0];
    assert_eq!(r["eventSource"], "secretsmanager.amazonaws.com");
    assert_eq!(r["readOnly"], true);
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ_QUEUE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ReceiveMessage","sqs:DeleteMessage"],"Resource":"arn:aws:sqs:us-east-1:000000000000:evidence"}]}"#;

#[test]
fn iam_roles_and_policies_answer_and_refuse_as_iam_does_and_survive_a_kill() {
    let mut emu = Instance::new("iam-roles");
    emu.start(START, false);
    let u = emu.url().to_owned();
    let (status, text) = iam(
        &u,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "processor"),
            ("Path", "/veritrail/"),
            ("Description", "reads the evidence queue"),
            ("MaxSessionDuration", "7200"),
            ("AssumeRolePolicyDocument", TRUST),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "audit"),
        ],
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        inner(&text, "Arn"),
        "arn:aws:iam::000000000000:role/veritrail/processor"
    );
    assert!(inner(&text, "RoleId").starts_with("AROA"));
    assert_eq!(inner(&text, "CreateDate"), "2026-01-01T00:00:00Z");
    assert_eq!(inner(&text, "MaxSessionDuration"), "7200");
    iam_error(
        &u,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "processor"),
            ("AssumeRolePolicyDocument", TRUST),
        ],
        409,
        "EntityAlreadyExists",
        "Role with name processor already exists.",
    );
    iam_error(
        &u,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "bad"),
            ("AssumeRolePolicyDocument", "{nope"),
        ],
        400,
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
    );
    iam_error(
        &u,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "bad role"),
            ("AssumeRolePolicyDocument", TRUST),
        ],
        400,
        "ValidationError",
        "1 validation error detected: Value 'bad role' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );
    iam_error(
        &u,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "short"),
            ("AssumeRolePolicyDocument", TRUST),
            ("MaxSessionDuration", "60"),
        ],
        400,
        "ValidationError",
        "1 validation error detected: Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600",
    );
    iam_error(
        &u,
        &[("Action", "GetRole"), ("RoleName", "nobody")],
        404,
        "NoSuchEntity",
        "The role with name nobody cannot be found.",
    );

    // The trust policy and inline policies come back URL-encoded, as IAM answers them.
    let (_, text) = iam(&u, &[("Action", "GetRole"), ("RoleName", "processor")]);
    let decoded = |s: String| veritrail_emulator::wire::query::decode(&s).unwrap();
    assert_eq!(decoded(inner(&text, "AssumeRolePolicyDocument")), TRUST);
    assert!(text.contains("<Tags><member><Key>team</Key><Value>audit</Value></member></Tags>"));
    iam_error(
        &u,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyName", "read"),
            ("PolicyDocument", TRUST),
        ],
        400,
        "MalformedPolicyDocument",
        "Policy document should not specify a principal.",
    );
    let (status, text) = iam(
        &u,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyName", "read"),
            ("PolicyDocument", READ_QUEUE),
        ],
    );
    assert_eq!(status, 200, "{text}");
    let (_, text) = iam(
        &u,
        &[
            ("Action", "GetRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyName", "read"),
        ],
    );
    assert_eq!(decoded(inner(&text, "PolicyDocument")), READ_QUEUE);
    assert!(!inner(&text, "PolicyDocument").contains('{'));
    let (_, text) = iam(
        &u,
        &[("Action", "ListRolePolicies"), ("RoleName", "processor")],
    );
    assert!(
        text.contains(
            "<PolicyNames><member>read</member></PolicyNames><IsTruncated>false</IsTruncated>"
        ),
        "{text}"
    );

    // Managed policies: the built-in AWS ones and customer ones; an unknown ARN is refused.
    let (status, text) = iam(
        &u,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyArn", "arn:aws:iam::aws:policy/AmazonSQSFullAccess"),
        ],
    );
    assert_eq!(status, 200, "{text}");
    iam_error(
        &u,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyArn", "arn:aws:iam::aws:policy/NoSuchPolicy"),
        ],
        404,
        "NoSuchEntity",
        "Policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist or is not attachable.",
    );
    let (status, text) = iam(
        &u,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "evidence-read"),
            ("PolicyDocument", READ_QUEUE),
            ("Description", "read only"),
        ],
    );
    assert_eq!(status, 200, "{text}");
    let policy = inner(&text, "Arn");
    assert_eq!(policy, "arn:aws:iam::000000000000:policy/evidence-read");
    assert_eq!(inner(&text, "DefaultVersionId"), "v1");
    iam_error(
        &u,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "evidence-read"),
            ("PolicyDocument", READ_QUEUE),
        ],
        409,
        "EntityAlreadyExists",
        "A policy called evidence-read already exists. Duplicate names are not allowed.",
    );
    let (status, text) = iam(
        &u,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyArn", &policy),
        ],
    );
    assert_eq!(status, 200, "{text}");
    let (_, text) = iam(&u, &[("Action", "GetPolicy"), ("PolicyArn", &policy)]);
    assert_eq!(inner(&text, "AttachmentCount"), "1");
    let (_, text) = iam(
        &u,
        &[
            ("Action", "GetPolicyVersion"),
            ("PolicyArn", &policy),
            ("VersionId", "v1"),
        ],
    );
    assert_eq!(decoded(inner(&text, "Document")), READ_QUEUE);
    iam_error(
        &u,
        &[
            ("Action", "GetPolicyVersion"),
            ("PolicyArn", &policy),
            ("VersionId", "v2"),
        ],
        404,
        "NoSuchEntity",
        &format!("Policy {policy} version v2 does not exist or is not attachable."),
    );
    let (_, text) = iam(
        &u,
        &[
            ("Action", "ListAttachedRolePolicies"),
            ("RoleName", "processor"),
        ],
    );
    assert!(
        text.contains("<PolicyName>AmazonSQSFullAccess</PolicyName>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<PolicyArn>{policy}</PolicyArn>")),
        "{text}"
    );
    iam_error(
        &u,
        &[("Action", "DeletePolicy"), ("PolicyArn", &policy)],
        409,
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
    );
    iam_error(
        &u,
        &[("Action", "DeleteRole"), ("RoleName", "processor")],
        409,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    );

    // Pages of roles.
    for i in 0..3 {
        let name = format!("role-{i}");
        assert_eq!(
            iam(
                &u,
                &[
                    ("Action", "CreateRole"),
                    ("RoleName", &name),
                    ("AssumeRolePolicyDocument", TRUST)
                ]
            )
            .0,
            200
        );
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut params = vec![("Action", "ListRoles"), ("MaxItems", "2")];
        if let Some(m) = &marker {
            params.push(("Marker", m));
        }
        let (status, text) = iam(&u, &params);
        assert_eq!(status, 200, "{text}");
        names.extend(
            text.split("<RoleName>")
                .skip(1)
                .map(|r| r.split('<').next().unwrap().to_owned()),
        );
        if inner(&text, "IsTruncated") == "false" {
            break;
        }
        marker = Some(inner(&text, "Marker"));
    }
    assert_eq!(names, ["processor", "role-0", "role-1", "role-2"]);

    // A kill: roles, inline and attached policies and customer policies are all there after.
    emu.kill();
    emu.start(START, false);
    let u = emu.url().to_owned();
    let (status, text) = iam(
        &u,
        &[
            ("Action", "GetRolePolicy"),
            ("RoleName", "processor"),
            ("PolicyName", "read"),
        ],
    );
    assert_eq!(status, 200, "{text}");
    let (_, text) = iam(&u, &[("Action", "GetPolicy"), ("PolicyArn", &policy)]);
    assert_eq!(inner(&text, "AttachmentCount"), "1");
    for arn in [
        "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
        policy.as_str(),
    ] {
        assert_eq!(
            iam(
                &u,
                &[
                    ("Action", "DetachRolePolicy"),
                    ("RoleName", "processor"),
                    ("PolicyArn", arn)
                ]
            )
            .0,
            200
        );
    }
    iam_error(
        &u,
        &[("Action", "DeleteRole"), ("RoleName", "processor")],
        409,
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    );
    assert_eq!(
        iam(
            &u,
            &[
                ("Action", "DeleteRolePolicy"),
                ("RoleName", "processor"),
                ("PolicyName", "read")
            ]
        )
        .0,
        200
    );
    assert_eq!(
        iam(&u, &[("Action", "DeleteRole"), ("RoleName", "processor")]).0,
        200
    );
    assert_eq!(
        iam(&u, &[("Action", "DeletePolicy"), ("PolicyArn", &policy)]).0,
        200
    );
    let r = &records(&u, "DeleteRole")[0];
    assert_eq!(r["eventSource"], "iam.amazonaws.com");
    assert_eq!(r["readOnly"], false);
    assert_eq!(r["requestParameters"]["roleName"], "processor");
    let r = records(&u, "DeleteRole");
    assert!(
        r.iter().any(|r| r["errorCode"] == "DeleteConflict"),
        "{r:#?}"
    ); // IAM is global: a call signed for another region is recorded in us-east-1.
    let (status, _, _) = exchange(
        &u,
        "POST",
        "/",
        &[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240101/eu-west-1/iam/aws4_request, SignedHeaders=host, Signature=00",
            ),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "Action=ListRoles&Version=2010-05-08",
    );
    assert_eq!(status, 200);
    let r = &records(&u, "ListRoles")[0];
    assert_eq!(r["awsRegion"], "us-east-1", "{r}");
}

#[test]
fn kms_encrypts_for_real_and_keys_follow_their_states_on_the_clock() {
    let mut emu = Instance::new("kms-keys");
    emu.start(START, true);
    let u = emu.url().to_owned();
    let created = kms_ok(
        &u,
        "CreateKey",
        json!({"Description": "evidence", "Tags": [{"TagKey": "team", "TagValue": "audit"}]}),
    );
    let meta = &created["KeyMetadata"];
    let id = meta["KeyId"].as_str().unwrap().to_owned();
    let arn = meta["Arn"].as_str().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    assert_eq!(
        (meta["KeyState"].as_str(), meta["Enabled"].as_bool()),
        (Some("Enabled"), Some(true))
    );
    assert_eq!(meta["KeySpec"], "SYMMETRIC_DEFAULT");
    // The material is in the key store, private; aws.sqlite holds none of it.
    let material = std::fs::read(emu.dir.join(format!("keys/kms/{id}.key"))).unwrap();
    assert_eq!(material.len(), 32);
    let db = std::fs::read(emu.dir.join("aws.sqlite")).unwrap();
    assert!(!db.windows(32).any(|w| w == material.as_slice()));

    kms_ok(
        &u,
        "CreateAlias",
        json!({"AliasName": "alias/evidence", "TargetKeyId": id}),
    );
    assert!(
        kms_refused(
            &u,
            "CreateAlias",
            json!({"AliasName": "alias/evidence", "TargetKeyId": id}),
            "AlreadyExistsException"
        )
        .contains("alias/evidence already exists")
    );
    kms_refused(
        &u,
        "CreateAlias",
        json!({"AliasName": "evidence", "TargetKeyId": id}),
        "InvalidAliasNameException",
    );
    for by in [
        id.as_str(),
        arn.as_str(),
        "alias/evidence",
        "arn:aws:kms:us-east-1:000000000000:alias/evidence",
    ] {
        assert_eq!(
            kms_ok(&u, "DescribeKey", json!({"KeyId": by}))["KeyMetadata"]["KeyId"],
            id.as_str(),
            "{by}"
        );
    }
    assert_eq!(
        kms_refused(
            &u,
            "DescribeKey",
            json!({"KeyId": "alias/none"}),
            "NotFoundException"
        ),
        "Alias 'arn:aws:kms:us-east-1:000000000000:alias/none' is not found."
    );
    let aliases = kms_ok(&u, "ListAliases", json!({"KeyId": id}));
    assert_eq!(
        aliases["Aliases"][0]["AliasArn"],
        "arn:aws:kms:us-east-1:000000000000:alias/evidence"
    );
    assert_eq!(
        kms_ok(&u, "ListKeys", json!({}))["Keys"][0]["KeyArn"],
        arn.as_str()
    );

    // Encrypt and Decrypt: the blob names its key; the context is bound; a changed byte fails.
    let context = json!({"bucket": "evidence"});
    let sealed = kms_ok(
        &u,
        "Encrypt",
        json!({"KeyId": "alias/evidence", "Plaintext": b64(b"top secret"), "EncryptionContext": context}),
    );
    assert_eq!(sealed["KeyId"], arn.as_str());
    let blob = unb64(&sealed["CiphertextBlob"]);
    assert!(!blob.windows(10).any(|w| w == b"top secret"));
    let opened = kms_ok(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&blob), "EncryptionContext": context}),
    );
    assert_eq!(unb64(&opened["Plaintext"]), b"top secret");
    assert_eq!(opened["KeyId"], arn.as_str());
    kms_refused(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&blob)}),
        "InvalidCiphertextException",
    );
    kms_refused(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&blob), "EncryptionContext": {"bucket": "other"}}),
        "InvalidCiphertextException",
    );
    let mut changed = blob.clone();
    *changed.last_mut().unwrap() ^= 1;
    kms_refused(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&changed), "EncryptionContext": context}),
        "InvalidCiphertextException",
    );
    let data = kms_ok(
        &u,
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_256"}),
    );
    let plain = unb64(&data["Plaintext"]);
    assert_eq!(plain.len(), 32);
    assert_eq!(
        unb64(
            &kms_ok(
                &u,
                "Decrypt",
                json!({"CiphertextBlob": data["CiphertextBlob"]})
            )["Plaintext"]
        ),
        plain
    );
    assert_eq!(
        unb64(
            &kms_ok(
                &u,
                "GenerateDataKey",
                json!({"KeyId": id, "NumberOfBytes": 7})
            )["Plaintext"]
        )
        .len(),
        7
    );
    assert_eq!(
        kms_refused(
            &u,
            "GenerateDataKey",
            json!({"KeyId": id}),
            "ValidationException"
        ),
        "Please specify either number of bytes or key spec."
    );

    // Rotation, disabling, deletion.
    assert_eq!(
        kms_ok(&u, "GetKeyRotationStatus", json!({"KeyId": id}))["KeyRotationEnabled"],
        false
    );
    kms_ok(&u, "EnableKeyRotation", json!({"KeyId": id}));
    assert_eq!(
        kms_ok(&u, "GetKeyRotationStatus", json!({"KeyId": id}))["KeyRotationEnabled"],
        true
    );
    kms_ok(&u, "DisableKey", json!({"KeyId": id}));
    assert_eq!(
        kms_refused(
            &u,
            "Decrypt",
            json!({"CiphertextBlob": b64(&blob), "EncryptionContext": context}),
            "DisabledException"
        ),
        format!("{arn} is disabled.")
    );
    kms_refused(
        &u,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x")}),
        "DisabledException",
    );
    kms_ok(&u, "EnableKey", json!({"KeyId": id}));
    kms_ok(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&blob), "EncryptionContext": context}),
    );
    assert_eq!(
        kms_refused(
            &u,
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 6}),
            "ValidationException"
        ),
        "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7"
    );
    let scheduled = kms_ok(
        &u,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    assert_eq!(
        scheduled["DeletionDate"].as_f64(),
        Some((START / 1000 + 7 * DAY) as f64)
    );
    assert_eq!(
        kms_refused(
            &u,
            "Decrypt",
            json!({"CiphertextBlob": b64(&blob), "EncryptionContext": context}),
            "KMSInvalidStateException"
        ),
        format!("{arn} is pending deletion.")
    );
    kms_ok(&u, "CancelKeyDeletion", json!({"KeyId": id}));
    assert_eq!(
        kms_ok(&u, "DescribeKey", json!({"KeyId": id}))["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    kms_ok(&u, "EnableKey", json!({"KeyId": id}));
    kms_ok(
        &u,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );

    // A kill: the key, its alias, its state and its material come back.
    emu.kill();
    emu.start(START, true);
    let u = emu.url().to_owned();
    assert_eq!(
        kms_ok(&u, "DescribeKey", json!({"KeyId": "alias/evidence"}))["KeyMetadata"]["KeyState"],
        "PendingDeletion"
    );
    kms_ok(&u, "CancelKeyDeletion", json!({"KeyId": id}));
    kms_ok(&u, "EnableKey", json!({"KeyId": id}));
    kms_ok(
        &u,
        "Decrypt",
        json!({"CiphertextBlob": b64(&blob), "EncryptionContext": context}),
    );
    kms_ok(
        &u,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    );

    // Seven days later on the emulator's clock the key is gone, and so is its material.
    let moved = request(
        &u,
        "POST",
        "/_veritrail/clock",
        &[],
        &json!({"advanceSeconds": 7 * DAY + 1}).to_string(),
    );
    assert_eq!(moved.status, 200, "{}", moved.json);
    assert_eq!(
        kms_refused(&u, "DescribeKey", json!({"KeyId": id}), "NotFoundException"),
        format!("Key '{arn}' does not exist")
    );
    crate::events::wait("the key's material to be removed", || {
        !emu.dir.join(format!("keys/kms/{id}.key")).exists()
    });
    assert_eq!(kms_ok(&u, "ListAliases", json!({}))["Aliases"], json!([]));

    // Each call is a kms.amazonaws.com record: key changes are writes, crypto is read-only.
    let r = &records(&u, "DisableKey")[0];
    assert_eq!(
        (r["eventSource"].as_str(), r["readOnly"].as_bool()),
        (Some("kms.amazonaws.com"), Some(false))
    );
    assert_eq!(r["requestParameters"]["keyId"], id.as_str());
    let r = &records(&u, "Encrypt")[0];
    assert_eq!(
        (r["readOnly"].as_bool(), r["managementEvent"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(r["requestParameters"].get("plaintext").is_none(), "{r}");
    assert_eq!(records(&u, "ScheduleKeyDeletion")[0]["readOnly"], false);
}

#[test]
fn the_kms_key_disabled_rule_of_the_audit_trail_pack_delivers_disable_key_to_a_queue() {
    let mut emu = Instance::new("kms-rule");
    emu.start(START, false);
    let u = emu.url().to_owned();
    let pack: Value = serde_json::from_str(include_str!(
        "../../../crates/rules/packs/audit-trail-protection.json"
    ))
    .unwrap();
    let rule = pack["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "kms-key-disabled")
        .unwrap();
    let queue = crate::sqs::create(&u, "kms-alerts", json!({}));
    let events = |op: &str, body: Value| {
        let r = crate::events::events(&u, op, body);
        assert_eq!(r.status, 200, "{op}: {}", r.json);
    };
    events(
        "PutRule",
        json!({"Name": "kms-key-disabled", "EventPattern": rule["pattern"].to_string()}),
    );
    events(
        "PutTargets",
        json!({"Rule": "kms-key-disabled", "Targets": [{"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:kms-alerts"}]}),
    );
    let id = kms_ok(&u, "CreateKey", json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    kms_ok(&u, "EnableKeyRotation", json!({"KeyId": id}));
    kms_ok(&u, "DisableKey", json!({"KeyId": id}));
    let mut got = vec![];
    crate::events::wait("DisableKey on the queue", || {
        got = crate::sqs::receive(&u, &queue, json!({"MaxNumberOfMessages": 10}));
        !got.is_empty()
    });
    assert_eq!(got.len(), 1, "{got:#?}");
    let event: Value = serde_json::from_str(got[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(event["source"], "aws.kms");
    assert_eq!(event["detail"]["eventName"], "DisableKey");
    assert_eq!(event["detail"]["requestParameters"]["keyId"], id.as_str());
}

#[test]
fn s3_sse_kms_stores_ciphertext_and_a_disabled_key_makes_objects_unreadable() {
    let mut emu = Instance::new("s3-sse-kms");
    emu.start(START, false);
    let u = emu.url().to_owned();
    let key = kms_ok(&u, "CreateKey", json!({}))["KeyMetadata"].clone();
    let (id, arn) = (
        key["KeyId"].as_str().unwrap().to_owned(),
        key["Arn"].as_str().unwrap().to_owned(),
    );
    kms_ok(
        &u,
        "CreateAlias",
        json!({"AliasName": "alias/evidence", "TargetKeyId": id}),
    );
    let (status, text) = emu.s3("PUT", "/evidence", &[], "");
    assert_eq!(status, 200, "{text}");
    let config = format!(
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{id}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    );
    let (status, text) = emu.s3("PUT", "/evidence?encryption", &[], &config);
    assert_eq!(status, 200, "{text}");

    // The bucket's default key encrypts; the answer names it; MD5 and checksums are of the
    // plaintext the client sent.
    let body = "a digest the auditors need, kept secret";
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5_of(body.as_bytes()));
    let (status, text) = emu.s3(
        "PUT",
        "/evidence/digest.json",
        &[("content-md5", md5.as_str())],
        body,
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("x-amz-server-side-encryption: aws:kms\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "x-amz-server-side-encryption-aws-kms-key-id: {arn}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "etag: \"{}\"",
            veritrail_emulator::wire::hex(&md5_of(body.as_bytes()))
        )),
        "{text}"
    );
    // Headers naming a key by alias; an unknown key is refused as S3 does.
    let (status, text) = emu.s3(
        "PUT",
        "/evidence/other",
        &[
            ("x-amz-server-side-encryption", "aws:kms"),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                "alias/evidence",
            ),
        ],
        "other secret",
    );
    assert_eq!(status, 200, "{text}");
    let (status, text) = emu.s3(
        "PUT",
        "/evidence/nope",
        &[
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "alias/none"),
        ],
        "x",
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("<Code>KMS.NotFoundException</Code>"),
        "{text}"
    );
    let db = std::fs::read(emu.dir.join("aws.sqlite")).unwrap();
    let wal = std::fs::read(emu.dir.join("aws.sqlite-wal")).unwrap_or_default();
    for file in [&db, &wal] {
        assert!(
            !file.windows(body.len()).any(|w| w == body.as_bytes()),
            "the plaintext is on disk"
        );
    }

    let (status, text) = emu.s3("GET", "/evidence/digest.json", &[], "");
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(body), "{text}");
    assert!(
        text.contains(&format!(
            "x-amz-server-side-encryption-aws-kms-key-id: {arn}\n"
        )),
        "{text}"
    );
    let (status, text) = emu.s3(
        "GET",
        "/evidence/digest.json",
        &[("range", "bytes=2-7")],
        "",
    );
    assert_eq!(status, 206, "{text}");
    assert!(text.ends_with("digest"), "{text}");

    // Disabled: GetObject fails as S3 answers it; HeadObject reads no body and still answers.
    kms_ok(&u, "DisableKey", json!({"KeyId": id}));
    let (status, text) = emu.s3("GET", "/evidence/digest.json", &[], "");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("<Code>KMS.DisabledException</Code>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<Message>{arn} is disabled.</Message>")),
        "{text}"
    );
    assert_eq!(emu.s3("HEAD", "/evidence/digest.json", &[], "").0, 200);
    let (status, text) = emu.s3("PUT", "/evidence/later", &[], "x");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("<Code>KMS.DisabledException</Code>"),
        "{text}"
    );

    // Enabled again, and after a kill, the objects read back.
    kms_ok(&u, "EnableKey", json!({"KeyId": id}));
    emu.kill();
    emu.start(START, false);
    let (status, text) = emu.s3("GET", "/evidence/other", &[], "");
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("other secret"), "{text}");
}

fn md5_of(b: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(b).to_vec()
}
