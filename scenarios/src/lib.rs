//! Helpers for the end-to-end scenarios: real AWS SDK clients (`aws-sdk-qldb`,
//! `aws-sdk-qldbsession`, `aws-sdk-s3`, `aws-sdk-sqs`, `aws-sdk-sns`, `aws-sdk-cloudtrail`,
//! `aws-sdk-eventbridge`) pointed at an emulator, and a small driver that runs QLDB sessions
//! and transactions the way the official drivers do (commit digest, paging, OCC retries).

use std::time::Duration;

use aws_sdk_qldbsession::primitives::Blob;
use aws_sdk_qldbsession::types::ValueHolder;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::qldb::CommitDigest;
use veritrail_ledger::StorageChoice;
use veritrail_ledger::storage::postgres::server::LocalServer;

/// Starts an emulator on port 0 with its own data directory, as [`veritrail_emulator::spawn`],
/// with its ledgers on this run's backend ([`storage`]).
pub async fn spawn() -> std::io::Result<veritrail_emulator::Running> {
    spawn_with(|_| {}).await
}

/// [`spawn`], with the configuration adjusted first.
pub async fn spawn_with(
    configure: impl FnOnce(&mut veritrail_emulator::Config),
) -> std::io::Result<veritrail_emulator::Running> {
    let storage = tokio::task::spawn_blocking(storage)
        .await
        .map_err(std::io::Error::other)??;
    veritrail_emulator::spawn_with(|c| {
        c.storage = storage;
        configure(c);
    })
    .await
}

/// Where the scenarios' ledgers are: files in the emulator's data directory, or with
/// `VERITRAIL_TEST_STORAGE=postgres` (`cargo xtask test` runs the scenarios both ways) a new
/// database, one per emulator, on a PostgreSQL server started as a local process for the test
/// binary (Debian's `postgresql` package, which `.ci/run` installs). Blocks: call it off the
/// async workers.
pub fn storage() -> std::io::Result<StorageChoice> {
    static SERVER: std::sync::OnceLock<Result<LocalServer, String>> = std::sync::OnceLock::new();
    if std::env::var("VERITRAIL_TEST_STORAGE").map_or(true, |v| v != "postgres") {
        return Ok(StorageChoice::Sqlite);
    }
    let server = SERVER
        .get_or_init(|| LocalServer::start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| std::io::Error::other(e.clone()))?;
    let target = server
        .new_database("scenario")
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(StorageChoice::Postgres(target))
}

/// What every client shares (tests build the clients of their dev-dependencies on it): the
/// emulator's endpoint, a fixed region and key, and plain HTTP to
/// loopback (no TLS stack needed).
pub fn sdk_config(url: &str) -> aws_types::SdkConfig {
    sdk_config_as(url, "AKIDVERITRAIL", "secret")
}

/// [`sdk_config`], signing with `access_key` and `secret` (an emulator that checks
/// signatures).
pub fn sdk_config_as(url: &str, access_key: &str, secret: &str) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_qldb::config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(access_key, secret, None, None, "scenarios"),
            ),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// A control-plane client for the emulator at `url`.
pub fn qldb_client(url: &str) -> aws_sdk_qldb::Client {
    aws_sdk_qldb::Client::new(&sdk_config(url))
}

/// An S3 client for the emulator at `url` (path-style, as for any IP endpoint).
pub fn s3_client(url: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config(url))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An SQS client for the emulator at `url` (the JSON protocol).
pub fn sqs_client(url: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(url))
}

/// An SNS client for the emulator at `url`.
pub fn sns_client(url: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk_config(url))
}

/// A CloudTrail client for the emulator at `url`.
pub fn cloudtrail_client(url: &str) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(&sdk_config(url))
}

/// An EventBridge client for the emulator at `url`.
pub fn events_client(url: &str) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk_config(url))
}

/// An STS client for the emulator at `url`.
pub fn sts_client(url: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(url))
}

/// An IAM client for the emulator at `url`.
pub fn iam_client(url: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(url))
}

/// A KMS client for the emulator at `url`.
pub fn kms_client(url: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(url))
}

/// A Secrets Manager client for the emulator at `url`.
pub fn secretsmanager_client(url: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(url))
}

/// A session-API client for the emulator at `url`.
pub fn session_client(url: &str) -> aws_sdk_qldbsession::Client {
    aws_sdk_qldbsession::Client::new(&sdk_config(url))
}

/// What a statement or commit can fail with, as the drivers classify it.
#[derive(Debug)]
pub enum DriverError {
    /// Retry the whole transaction (the drivers' rule for OccConflictException).
    Occ(String),
    /// The session is gone: start a new one (InvalidSessionException, unless expired).
    InvalidSession(String),
    /// Anything else: not retried.
    Other(String),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

type SendError = aws_sdk_qldbsession::error::SdkError<
    aws_sdk_qldbsession::operation::send_command::SendCommandError,
>;

fn classify(e: SendError) -> DriverError {
    use aws_sdk_qldbsession::operation::send_command::SendCommandError as E;
    match e.into_service_error() {
        E::OccConflictException(x) => DriverError::Occ(x.message().unwrap_or_default().to_owned()),
        E::InvalidSessionException(x) => {
            DriverError::InvalidSession(x.message().unwrap_or_default().to_owned())
        }
        other => DriverError::Other(format!("{other:?}")),
    }
}

/// An open QLDB session.
#[derive(Debug, Clone)]
pub struct Session {
    client: aws_sdk_qldbsession::Client,
    token: String,
}

/// An open transaction, with the commit digest the drivers compute.
#[derive(Debug)]
pub struct Txn<'s> {
    session: &'s Session,
    pub id: String,
    digest: CommitDigest,
}

impl Session {
    pub async fn start(
        client: &aws_sdk_qldbsession::Client,
        ledger: &str,
    ) -> Result<Self, DriverError> {
        let out = client
            .send_command()
            .start_session(
                aws_sdk_qldbsession::types::StartSessionRequest::builder()
                    .ledger_name(ledger)
                    .build()
                    .map_err(|e| DriverError::Other(e.to_string()))?,
            )
            .send()
            .await
            .map_err(classify)?;
        let token = out
            .start_session()
            .and_then(|s| s.session_token())
            .ok_or_else(|| DriverError::Other("StartSession returned no token".into()))?
            .to_owned();
        Ok(Self {
            client: client.clone(),
            token,
        })
    }

    pub async fn begin(&self) -> Result<Txn<'_>, DriverError> {
        let out = self
            .client
            .send_command()
            .session_token(&self.token)
            .start_transaction(
                aws_sdk_qldbsession::types::StartTransactionRequest::builder().build(),
            )
            .send()
            .await
            .map_err(classify)?;
        let id = out
            .start_transaction()
            .and_then(|s| s.transaction_id())
            .ok_or_else(|| DriverError::Other("StartTransaction returned no id".into()))?
            .to_owned();
        Ok(Txn {
            session: self,
            digest: CommitDigest::new(&id),
            id,
        })
    }

    pub async fn end(&self) -> Result<(), DriverError> {
        self.client
            .send_command()
            .session_token(&self.token)
            .end_session(aws_sdk_qldbsession::types::EndSessionRequest::builder().build())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Runs `work` in a transaction and commits it, retrying on OCC conflicts as the drivers
    /// do: up to 4 retries, exponential backoff with jitter (base 10 ms).
    pub async fn execute<F, T>(&self, mut work: F) -> Result<T, DriverError>
    where
        F: for<'t> FnMut(
            &'t mut Txn<'_>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, DriverError>> + Send + 't>,
        >,
    {
        let mut attempt = 0u32;
        loop {
            let mut txn = self.begin().await?;
            let result = match work(&mut txn).await {
                Ok(v) => txn.commit().await.map(|()| v),
                Err(e) => {
                    txn.abort().await;
                    Err(e)
                }
            };
            match result {
                Err(DriverError::Occ(_)) if attempt < 4 => {
                    let cap = (10u64 << attempt).min(5000);
                    let jitter =
                        u64::from(std::process::id() ^ attempt.wrapping_mul(7919)) % (cap / 2 + 1);
                    tokio::time::sleep(Duration::from_millis(cap / 2 + jitter)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Txn<'_> {
    /// Executes a statement (all pages of its result).
    pub async fn exec(
        &mut self,
        statement: &str,
        params: &[Element],
    ) -> Result<Vec<Element>, DriverError> {
        self.digest.add_statement(statement, params);
        let holders: Vec<ValueHolder> = params
            .iter()
            .map(|p| {
                let bytes = p
                    .encode_as(v1_0::Binary)
                    .map_err(|e| DriverError::Other(e.to_string()))?;
                Ok(ValueHolder::builder().ion_binary(Blob::new(bytes)).build())
            })
            .collect::<Result<_, DriverError>>()?;
        let request = aws_sdk_qldbsession::types::ExecuteStatementRequest::builder()
            .transaction_id(&self.id)
            .statement(statement)
            .set_parameters(Some(holders))
            .build()
            .map_err(|e| DriverError::Other(e.to_string()))?;
        let out = self
            .session
            .client
            .send_command()
            .session_token(&self.session.token)
            .execute_statement(request)
            .send()
            .await
            .map_err(classify)?;
        let mut page = out
            .execute_statement()
            .and_then(|e| e.first_page())
            .cloned();
        let mut values = Vec::new();
        while let Some(p) = page {
            for v in p.values() {
                let bytes = v
                    .ion_binary()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                values.push(
                    Element::read_one(bytes)
                        .map_err(|e| DriverError::Other(format!("a result is not Ion: {e}")))?,
                );
            }
            page = match p.next_page_token() {
                None => None,
                Some(token) => {
                    let req = aws_sdk_qldbsession::types::FetchPageRequest::builder()
                        .transaction_id(&self.id)
                        .next_page_token(token)
                        .build()
                        .map_err(|e| DriverError::Other(e.to_string()))?;
                    let out = self
                        .session
                        .client
                        .send_command()
                        .session_token(&self.session.token)
                        .fetch_page(req)
                        .send()
                        .await
                        .map_err(classify)?;
                    out.fetch_page().and_then(|f| f.page()).cloned()
                }
            };
        }
        Ok(values)
    }

    pub async fn commit(&self) -> Result<(), DriverError> {
        let digest = self.digest.digest();
        let req = aws_sdk_qldbsession::types::CommitTransactionRequest::builder()
            .transaction_id(&self.id)
            .commit_digest(Blob::new(digest.as_bytes().to_vec()))
            .build()
            .map_err(|e| DriverError::Other(e.to_string()))?;
        let out = self
            .session
            .client
            .send_command()
            .session_token(&self.session.token)
            .commit_transaction(req)
            .send()
            .await
            .map_err(classify)?;
        // The drivers compare the echoed digest and refuse a different one.
        let echoed = out
            .commit_transaction()
            .and_then(|c| c.commit_digest())
            .map(|b| b.as_ref().to_vec());
        if echoed.as_deref() != Some(&digest.as_bytes()[..]) {
            return Err(DriverError::Other(
                "the commit digest echoed back differs".into(),
            ));
        }
        Ok(())
    }

    pub async fn abort(&self) {
        let _ = self
            .session
            .client
            .send_command()
            .session_token(&self.session.token)
            .abort_transaction(
                aws_sdk_qldbsession::types::AbortTransactionRequest::builder().build(),
            )
            .send()
            .await;
    }
}
