//! STS, IAM, KMS and Secrets Manager through the AWS SDK for Rust (`aws-sdk-sts`,
//! `aws-sdk-iam`, `aws-sdk-kms`, `aws-sdk-secretsmanager`, with `aws-sdk-s3` for SSE-KMS),
//! unmodified: what the provisioner calls to set up the processor's role and the evidence
//! bucket's key, and the services' errors as the SDK's typed errors.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use veritrail_scenarios::{
    iam_client, kms_client, s3_client, secretsmanager_client, spawn, sts_client,
};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ReceiveMessage","s3:GetObject"],"Resource":"*"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sets_up_a_role_and_a_key_and_reads_sse_kms_objects() {
    let emulator = spawn().await.unwrap();
    let u = emulator.url.as_str();

    let me = sts_client(u).get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("000000000000"));
    assert_eq!(
        me.arn(),
        Some("arn:aws:iam::000000000000:user/AKIDVERITRAIL")
    );
    let sm = secretsmanager_client(u);
    let p = sm
        .get_random_password()
        .password_length(40)
        .exclude_characters("/@\"'\\")
        .send()
        .await
        .unwrap();
    let p = p.random_password().unwrap();
    assert_eq!(p.chars().count(), 40);
    assert!(!p.chars().any(|c| "/@\"'\\".contains(c)), "{p}");

    // The processor's role, least privilege: an inline policy and a managed one.
    let iam = iam_client(u);
    let role = iam
        .create_role()
        .role_name("processor")
        .path("/veritrail/")
        .assume_role_policy_document(TRUST)
        .max_session_duration(7200)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("app")
                .value("veritrail")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        role.role().unwrap().arn(),
        "arn:aws:iam::000000000000:role/veritrail/processor"
    );
    let e = iam
        .create_role()
        .role_name("processor")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_entity_already_exists_exception(), "{e:?}");
    iam.put_role_policy()
        .role_name("processor")
        .policy_name("read")
        .policy_document(READ)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_role_policy()
        .role_name("processor")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    // The Rust SDK leaves IAM's URL-encoding to the caller.
    assert_eq!(
        veritrail_emulator::wire::query::decode(got.policy_document()).unwrap(),
        READ
    );
    let policy = iam
        .create_policy()
        .policy_name("evidence-read")
        .policy_document(READ)
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    iam.attach_role_policy()
        .role_name("processor")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let e = iam
        .attach_role_policy()
        .role_name("processor")
        .policy_arn("arn:aws:iam::aws:policy/NotAPolicy")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_no_such_entity_exception(), "{e:?}");
    let attached = iam
        .list_attached_role_policies()
        .role_name("processor")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some(policy_arn.as_str())
    );
    let e = iam
        .delete_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_delete_conflict_exception(), "{e:?}");
    let version = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    assert!(version.policy_version().unwrap().is_default_version());

    // The evidence key: rotation on, an alias, real encryption.
    let kms = kms_client(u);
    let key = kms
        .create_key()
        .description("evidence")
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    let (id, arn) = (meta.key_id().to_owned(), meta.arn().unwrap().to_owned());
    kms.enable_key_rotation().key_id(&id).send().await.unwrap();
    assert!(
        kms.get_key_rotation_status()
            .key_id(&id)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled()
    );
    kms.create_alias()
        .alias_name("alias/evidence")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let sealed = kms
        .encrypt()
        .key_id("alias/evidence")
        .plaintext(Blob::new("sealed"))
        .encryption_context("purpose", "evidence")
        .send()
        .await
        .unwrap();
    let blob = sealed.ciphertext_blob().unwrap().clone();
    let opened = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "evidence")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"sealed");
    assert_eq!(opened.key_id(), Some(arn.as_str()));
    let e = kms
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_ciphertext_exception(), "{e:?}");
    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);

    // SSE-KMS: the bucket's default key; a disabled key fails GetObject with KMS's code.
    let s3 = s3_client(u);
    s3.create_bucket().bucket("evidence").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("evidence")
        .key("digest.json")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&id)
        .body(ByteStream::from_static(b"{\"digest\": 1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(put.ssekms_key_id(), Some(arn.as_str()));
    let got = s3
        .get_object()
        .bucket("evidence")
        .key("digest.json")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"{\"digest\": 1}");
    kms.disable_key().key_id(&id).send().await.unwrap();
    let e = s3
        .get_object()
        .bucket("evidence")
        .key("digest.json")
        .send()
        .await
        .unwrap_err();
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    assert_eq!(e.code(), Some("KMS.DisabledException"), "{e:?}");
    let e = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_disabled_exception(), "{e:?}");
    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scheduled.key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let e = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_kms_invalid_state_exception(), "{e:?}");
}
