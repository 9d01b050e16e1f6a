//! The processor's AWS sources and alert topic, through the AWS SDK for Rust: an SQS queue
//! ([`sqs::QueueSource`]), CloudTrail log files in S3 ([`s3::BucketSource`]), CloudTrail's
//! LookupEvents ([`lookup::LookupSource`]), and alerts to an SNS topic ([`sns::Topic`]).
//!
//! Each uses the standard credential chain and region settings, and `AWS_ENDPOINT_URL` (or an
//! explicit endpoint), so the same code reads real AWS (HTTPS through rustls with ring) and
//! the emulator (plain HTTP). The pipeline is synchronous; an [`Aws`] owns a small tokio
//! runtime and blocks on each call from the pipeline's threads (never from inside the
//! runtime). SDK errors never leave this module: they become [`ProcessorError::Aws`] with the
//! SDK's whole message.

pub mod lookup;
pub mod s3;
pub mod sns;
pub mod sqs;

use std::future::Future;
use std::sync::Arc;

use aws_config::SdkConfig;

use crate::error::ProcessorError;

/// The SDK's configuration and the runtime its calls run on; cheap to clone.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Aws {
    /// Loads the configuration as the AWS CLI does (credentials, region, `AWS_ENDPOINT_URL`);
    /// `endpoint` overrides the endpoint, `region` the region.
    pub fn load(endpoint: Option<&str>, region: Option<&str>) -> Result<Self, ProcessorError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aws-sdk")
            .enable_all()
            .build()
            .map_err(|e| ProcessorError::Config(format!("cannot start the AWS runtime: {e}")))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let config = runtime.block_on(loader.load());
        if config.region().is_none() {
            return Err(ProcessorError::Config(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
                    .into(),
            ));
        }
        Ok(Self {
            config,
            runtime: Arc::new(runtime),
        })
    }

    /// The emulator at `url` (plain HTTP) in `region`, with fixed credentials: the emulator
    /// checks no signature, and a machine without AWS credentials must still reach it.
    pub fn local(url: &str, region: &str) -> Result<Self, ProcessorError> {
        Self::local_as(url, region, "veritrail", "veritrail")
    }

    /// [`Aws::local`], signing with `access_key` and `secret` (an emulator that authenticates
    /// requests, `veritrail serve --credentials`).
    pub fn local_as(
        url: &str,
        region: &str,
        access_key: &str,
        secret: &str,
    ) -> Result<Self, ProcessorError> {
        let mut aws = Self::load(Some(url), Some(region))?;
        let credentials =
            aws_sdk_sqs::config::Credentials::new(access_key, secret, None, None, "veritrail");
        let config = aws
            .config
            .to_builder()
            .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .build();
        aws.config = config;
        Ok(aws)
    }

    /// The SDK configuration, for clients.
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The configured region.
    pub fn region(&self) -> String {
        self.config
            .region()
            .map_or_else(String::new, |r| r.as_ref().to_owned())
    }

    /// Runs `future` to completion on the runtime. Called from the pipeline's threads, never
    /// from a task of the runtime itself.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// An SDK error as the processor's, with the SDK's whole message (`DisplayErrorContext`).
pub(crate) fn failed<E: std::error::Error>(call: impl Into<String>, error: E) -> ProcessorError {
    ProcessorError::Aws {
        call: call.into(),
        message: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
    }
}
