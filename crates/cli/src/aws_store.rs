//! Reading a trail from S3 for `veritrail validate-logs`: the calls `aws cloudtrail
//! validate-logs` makes (DescribeTrails, GetBucketLocation, ListObjects V1, ListPublicKeys,
//! GetObject), through the AWS SDK for Rust with the standard credential chain, region and
//! `AWS_ENDPOINT_URL*` settings, so the same command reads real AWS or the emulator. Objects
//! are fetched concurrently ([`ObjectStore::get_many`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::error::DisplayErrorContext;
use veritrail_core::time::UtcMillis;
use veritrail_verify::validate_logs::{Object, ObjectStore};

use crate::input::TRAIL_OBJECT;

/// At most this many GetObject calls in flight.
const IN_FLIGHT: usize = 32;

/// The trail's `LatestDigestDeliveryTime` (GetTrailStatus), if it has delivered a digest.
pub async fn latest_digest_delivery(
    conf: &aws_config::SdkConfig,
    arn: &str,
) -> Result<Option<UtcMillis>, String> {
    let status = aws_sdk_cloudtrail::Client::new(conf)
        .get_trail_status()
        .name(arn)
        .send()
        .await
        .map_err(|e| format!("GetTrailStatus failed: {}", DisplayErrorContext(e)))?;
    Ok(status.latest_digest_delivery_time().map(|t| {
        UtcMillis(
            t.secs()
                .saturating_mul(1000)
                .saturating_add(i64::from(t.subsec_nanos() / 1_000_000)),
        )
    }))
}

/// Loads the SDK configuration for `region` (HTTPS with rustls and ring; plain HTTP for an
/// `http://` endpoint such as the emulator).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// Where a trail delivers: (bucket, prefix), from DescribeTrails.
pub async fn describe_trail(
    conf: &aws_config::SdkConfig,
    arn: &str,
) -> Result<(String, Option<String>), String> {
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    let trails = ct
        .describe_trails()
        .send()
        .await
        .map_err(|e| format!("DescribeTrails failed: {}", DisplayErrorContext(e)))?;
    trails
        .trail_list()
        .iter()
        .find(|t| t.trail_arn() == Some(arn))
        .and_then(|t| {
            Some((
                t.s3_bucket_name()?.to_owned(),
                t.s3_key_prefix().map(str::to_owned),
            ))
        })
        .ok_or_else(|| format!("A trail could not be found for {arn}"))
}

/// The public keys valid between `start` and `end` (epoch seconds), by fingerprint.
pub async fn public_keys(
    conf: &aws_config::SdkConfig,
    start: i64,
    end: i64,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    let mut keys = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = ct
            .list_public_keys()
            .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(start))
            .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(end))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListPublicKeys failed: {}", DisplayErrorContext(e)))?;
        for k in page.public_key_list() {
            if let (Some(fp), Some(v)) = (k.fingerprint(), k.value()) {
                keys.insert(fp.to_owned(), v.as_ref().to_vec());
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(keys)
}

/// An S3 client for `bucket`, in the bucket's own region (GetBucketLocation; empty is us-east-1).
pub async fn bucket_client(
    conf: &aws_config::SdkConfig,
    bucket: &str,
) -> Result<aws_sdk_s3::Client, String> {
    let probe = aws_sdk_s3::Client::new(conf);
    let location = probe
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetBucketLocation {bucket} failed: {}",
                DisplayErrorContext(e)
            )
        })?;
    let region = location
        .location_constraint()
        .map(|c| c.as_str().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let s3_conf = aws_sdk_s3::config::Builder::from(conf)
        .region(aws_config::Region::new(region))
        .build();
    Ok(aws_sdk_s3::Client::from_conf(s3_conf))
}

/// A bucket read through S3 (blocking calls over a Tokio runtime).
#[derive(Debug)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
    pub runtime: Arc<tokio::runtime::Runtime>,
}

async fn get(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Object>, String> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let metadata = out.metadata().cloned().unwrap_or_default();
            let too_large = || {
                format!(
                    "s3://{bucket}/{key}: larger than {} bytes, the limit for {}",
                    TRAIL_OBJECT.bytes, TRAIL_OBJECT.what
                )
            };
            if out
                .content_length()
                .is_some_and(|n| u64::try_from(n).map_or(true, |n| n > TRAIL_OBJECT.bytes))
            {
                return Err(too_large());
            }
            // Read in chunks and stop past the limit, whatever Content-Length said.
            let mut stream = out.body;
            let mut body = Vec::new();
            while let Some(chunk) = stream
                .try_next()
                .await
                .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?
            {
                if (body.len() + chunk.len()) as u64 > TRAIL_OBJECT.bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Some(Object {
                body,
                metadata: metadata.into_iter().collect(),
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(format!(
            "GetObject s3://{bucket}/{key} failed: {}",
            DisplayErrorContext(e)
        )),
    }
}

impl ObjectStore for S3Store {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        self.runtime.block_on(async {
            let mut keys = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_objects()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_marker(marker.take())
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "ListObjects s3://{bucket}/{prefix} failed: {}",
                            DisplayErrorContext(e)
                        )
                    })?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
                if !page.is_truncated().unwrap_or(false) {
                    break;
                }
                marker = page
                    .next_marker()
                    .map(str::to_owned)
                    .or_else(|| keys.last().cloned());
                if marker.is_none() {
                    break;
                }
            }
            Ok(keys)
        })
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, String> {
        self.runtime.block_on(get(&self.client, bucket, key))
    }

    fn get_many(&self, items: &[(String, String)]) -> Result<Vec<Option<Object>>, String> {
        self.runtime.block_on(async {
            let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
            let mut tasks = tokio::task::JoinSet::new();
            for (i, (bucket, key)) in items.iter().cloned().enumerate() {
                let (client, gate) = (self.client.clone(), Arc::clone(&gate));
                tasks.spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    (i, get(&client, &bucket, &key).await)
                });
            }
            let mut out: Vec<Option<Object>> = vec![None; items.len()];
            while let Some(done) = tasks.join_next().await {
                let (i, result) = done.map_err(|e| format!("a fetch failed: {e}"))?;
                out[i] = result?;
            }
            Ok(out)
        })
    }
}
