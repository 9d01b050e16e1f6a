//! plan, apply, apply again, the result read back, destroy with retained evidence, and applies
//! cut short then completed.

use aws_sdk_s3::primitives::ByteStream;
use veritrail_provisioner::policy::destructive_actions;
use veritrail_provisioner::{Kind, OWNER_TAG, ProvisionError, apply, destroy, plan};

use crate::{config, env, names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_is_idempotent_and_destroy_keeps_what_is_retained() {
    let env = env().await;
    let c = &env.clients;
    let mut config = config("it1");
    config
        .alerts
        .subscriptions
        .push(veritrail_provisioner::config::Subscription {
            protocol: "sqs".into(),
            endpoint: "arn:aws:sqs:us-east-1:000000000000:it1-audit-dlq".into(),
        });
    let n = names(&env, &config).await;

    let first = plan(c, &config, &n).await.unwrap();
    assert!(first.has_changes());
    assert!(
        first.pending().all(|ch| ch.kind == Kind::Create),
        "{}",
        first.render()
    );
    let rules: usize = n.packs.iter().map(|p| p.rules.len()).sum();
    assert!(rules > 20);
    assert_eq!(
        first
            .changes
            .iter()
            .filter(|ch| ch.resource.starts_with("events rule") && ch.setting == "pattern")
            .count(),
        rules
    );

    let mut seen = Vec::new();
    let applied = apply(c, &config, &n, |ch| seen.push(ch.resource.clone()))
        .await
        .unwrap();
    assert_eq!(applied.made, first.pending().count());
    assert_eq!(seen.len(), applied.made);
    // Dependency order: the key before the bucket, the bucket before the trail.
    let pos = |prefix: &str| seen.iter().position(|r| r.starts_with(prefix)).unwrap();
    assert!(pos("kms key") < pos("s3 bucket"));
    assert!(pos("sqs queue") < pos("events rule"));
    assert!(pos("s3 bucket") < pos("cloudtrail trail"));

    // A second plan and apply find nothing to change.
    let again = plan(c, &config, &n).await.unwrap();
    assert!(!again.has_changes(), "{}", again.render());
    let second = apply(c, &config, &n, |_| {}).await.unwrap();
    assert_eq!(second.made, 0);

    // What was made, read back through the SDK.
    let b = &n.bucket;
    let lock =
        c.s3.get_object_lock_configuration()
            .bucket(b)
            .send()
            .await
            .unwrap();
    let d = lock
        .object_lock_configuration()
        .unwrap()
        .rule()
        .unwrap()
        .default_retention()
        .unwrap();
    assert_eq!(d.mode().unwrap().as_str(), "COMPLIANCE");
    assert_eq!(d.days(), Some(365));
    let enc = c.s3.get_bucket_encryption().bucket(b).send().await.unwrap();
    let by_default = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap();
    assert_eq!(by_default.sse_algorithm().as_str(), "aws:kms");
    let key_arn = by_default.kms_master_key_id().unwrap().to_owned();
    let key = c.kms.describe_key().key_id(&key_arn).send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    assert!(
        c.kms
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled
    );
    let tags = c.s3.get_bucket_tagging().bucket(b).send().await.unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == OWNER_TAG && t.value() == "it1")
    );
    let trail = c
        .cloudtrail
        .get_trail()
        .name(&n.trail)
        .send()
        .await
        .unwrap()
        .trail
        .unwrap();
    assert_eq!(trail.is_multi_region_trail(), Some(true));
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert_eq!(trail.s3_bucket_name(), Some(b.as_str()));
    let status = c
        .cloudtrail
        .get_trail_status()
        .name(&n.trail)
        .send()
        .await
        .unwrap();
    assert_eq!(status.is_logging(), Some(true));
    // Management events, and the evidence bucket's object writes as data events.
    let selectors = c
        .cloudtrail
        .get_event_selectors()
        .trail_name(&n.trail)
        .send()
        .await
        .unwrap();
    let evidence = format!("arn:aws:s3:::{b}/");
    assert!(
        selectors.event_selectors().iter().any(|s| {
            s.read_write_type().map(|r| r.as_str()) == Some("WriteOnly")
                && s.data_resources().iter().any(|d| {
                    d.r#type() == Some("AWS::S3::Object") && d.values() == [evidence.clone()]
                })
        }),
        "{selectors:?}"
    );
    // The alerts inbox is subscribed to the topic beside the configured subscription.
    let subs = c
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(n.topic_arn())
        .send()
        .await
        .unwrap();
    let mut endpoints: Vec<&str> = subs
        .subscriptions()
        .iter()
        .filter_map(|s| s.endpoint())
        .collect();
    endpoints.sort_unstable();
    assert_eq!(
        endpoints,
        [
            "arn:aws:sqs:us-east-1:000000000000:it1-alerts-inbox",
            "arn:aws:sqs:us-east-1:000000000000:it1-audit-dlq"
        ]
    );

    // The processor's role can read and consume, and nothing it holds deletes evidence.
    let doc = c
        .iam
        .get_role_policy()
        .role_name(&n.role)
        .policy_name(&n.role_policy)
        .send()
        .await
        .unwrap()
        .policy_document;
    let doc = percent_decode(&doc);
    let policy: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(destructive_actions(&policy), Vec::<String>::new());
    let actions = policy.to_string();
    for needed in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "s3:GetObject",
        "sns:Publish",
    ] {
        assert!(actions.contains(needed), "{needed} missing from {actions}");
    }
    // The check itself finds what must not be there.
    let bad = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObjectVersion"], "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]});
    assert_eq!(
        destructive_actions(&bad),
        vec!["s3:DeleteObjectVersion", "kms:ScheduleKeyDeletion", "s3:*"]
    );

    // Evidence in the bucket is under the default COMPLIANCE retention: destroy leaves it,
    // with the bucket and the key, and says until when.
    c.s3.put_object()
        .bucket(b)
        .key("AWSLogs/000000000000/evidence.json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let gone = destroy(c, &n).await.unwrap();
    // Besides the object put here, deleting the trail delivered its last log file and final
    // digest into the bucket, under the same retention.
    let report = gone.render();
    assert!(
        gone.retained
            .iter()
            .any(|r| r.key == "AWSLogs/000000000000/evidence.json"),
        "{report}"
    );
    for r in &gone.retained {
        assert!(
            r.key == "AWSLogs/000000000000/evidence.json"
                || r.key.contains("/CloudTrail/")
                || r.key.contains("/CloudTrail-Digest/"),
            "{report}"
        );
        assert_eq!(r.mode.as_deref(), Some("COMPLIANCE"), "{report}");
        assert!(r.retain_until.is_some(), "{report}");
    }
    assert!(
        gone.kept.iter().any(|k| k.contains("s3 bucket")),
        "{:?}",
        gone.kept
    );
    assert!(
        gone.kept.iter().any(|k| k.contains("kms key")),
        "{:?}",
        gone.kept
    );
    assert!(gone.removed.iter().any(|k| k.contains("cloudtrail trail")));
    assert!(
        c.s3.head_bucket().bucket(b).send().await.is_ok(),
        "the bucket with retained evidence was removed"
    );
    // Safe to rerun: nothing else to remove, the same object reported.
    let again = destroy(c, &n).await.unwrap();
    assert_eq!(
        again.retained.len(),
        gone.retained.len(),
        "{}",
        again.render()
    );
    assert!(again.absent.iter().any(|a| a.contains("cloudtrail trail")));

    // Once the retention has passed, destroy removes the rest and schedules the key.
    env.emulator
        .emulator
        .clock()
        .advance(366 * 86_400_000)
        .unwrap();
    let last = destroy(c, &n).await.unwrap();
    assert!(last.retained.is_empty(), "{}", last.render());
    assert!(last.removed.iter().any(|r| r == &format!("s3 bucket {b}")));
    assert!(
        last.removed
            .iter()
            .any(|r| r.contains("deletion scheduled"))
    );
    assert!(c.s3.head_bucket().bucket(b).send().await.is_err());
    let state = c.kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        state.key_metadata().unwrap().key_state().unwrap().as_str(),
        "PendingDeletion"
    );
    let settled = destroy(c, &n).await.unwrap();
    assert!(settled.removed.is_empty(), "{}", settled.render());
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_is_not_the_prefixs_is_refused() {
    let env = env().await;
    let c = &env.clients;
    let ours = config("it2");
    let n = names(&env, &ours).await;
    // Made outside the provisioner, holding something.
    c.s3.create_bucket().bucket(&n.bucket).send().await.unwrap();
    c.s3.put_object()
        .bucket(&n.bucket)
        .key("theirs.txt")
        .body(ByteStream::from_static(b"not ours"))
        .send()
        .await
        .unwrap();
    for result in [
        plan(c, &ours, &n).await.map(|_| ()),
        apply(c, &ours, &n, |_| {}).await.map(|_| ()),
        destroy(c, &n).await.map(|_| ()),
    ] {
        let e = result.unwrap_err();
        assert!(matches!(e, ProvisionError::NotOurs { .. }), "{e}");
        assert!(e.to_string().contains("holds objects"), "{e}");
    }
    // Nothing of theirs was touched.
    let o =
        c.s3.get_object()
            .bucket(&n.bucket)
            .key("theirs.txt")
            .send()
            .await
            .unwrap();
    assert_eq!(
        o.body.collect().await.unwrap().into_bytes().as_ref(),
        b"not ours"
    );

    // Another prefix's bucket (by its tag) is refused too.
    let mut other = config("it3");
    other.bucket.name = Some(n.bucket.clone());
    let on = names(&env, &other).await;
    let tag = aws_sdk_s3::types::Tag::builder()
        .key(OWNER_TAG)
        .value("it2")
        .build()
        .unwrap();
    c.s3.put_bucket_tagging()
        .bucket(&n.bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let e = plan(c, &other, &on).await.unwrap_err();
    assert!(e.to_string().contains("tagged veritrail:prefix=it2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_cut_short_anywhere_is_completed_without_duplicates() {
    let env = env().await;
    let c = &env.clients;
    let config = config("it4");
    let n = names(&env, &config).await;
    let total = plan(c, &config, &n).await.unwrap().pending().count();
    // Cut after the first, second, a few and many calls: the future is dropped at its next
    // await, as a killed process would stop (a call in flight may or may not have landed).
    let mut cut = 1;
    while cut < total {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tx = Some(tx);
        let mut count = 0;
        let run = apply(c, &config, &n, |_| {
            count += 1;
            if count == cut {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        });
        tokio::select! {
            r = run => { r.unwrap(); }
            _ = rx => {}
        }
        cut = cut * 3 + 1;
    }
    apply(c, &config, &n, |_| {}).await.unwrap();
    let after = plan(c, &config, &n).await.unwrap();
    assert!(!after.has_changes(), "{}", after.render());
    // One key, one queue of each name (the audit queue, its dead-letter queue, the alerts
    // inbox), one trail.
    let keys = c.kms.list_keys().send().await.unwrap();
    let mut ours = 0;
    for k in keys.keys() {
        let d = c
            .kms
            .describe_key()
            .key_id(k.key_id().unwrap())
            .send()
            .await
            .unwrap();
        if d.key_metadata().unwrap().description()
            == Some(veritrail_provisioner::engine::key_description(&n).as_str())
        {
            ours += 1;
        }
    }
    assert_eq!(ours, 1);
    let queues = c
        .sqs
        .list_queues()
        .queue_name_prefix("it4")
        .send()
        .await
        .unwrap();
    assert_eq!(queues.queue_urls().len(), 3);
    let trails = c.cloudtrail.describe_trails().send().await.unwrap();
    assert_eq!(
        trails
            .trail_list()
            .iter()
            .filter(|t| t.name() == Some(n.trail.as_str()))
            .count(),
        1
    );
}
