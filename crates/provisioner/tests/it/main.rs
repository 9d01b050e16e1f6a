//! The provisioner against an emulator started on port 0: plan, apply (twice), the bucket's
//! settings and the role's permissions read back through the SDK, destroy with an object under
//! retention, bad configurations, a bucket that is someone else's, and applies cut short at
//! random points then completed.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod lifecycle;

use veritrail_emulator::Running;
use veritrail_provisioner::{Clients, Config, Names};

pub fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
            ),
        )
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

#[allow(missing_debug_implementations)] // the running emulator is not Debug
pub struct Env {
    pub emulator: Running,
    pub clients: Clients,
}

pub async fn env() -> Env {
    let emulator = veritrail_emulator::spawn().await.unwrap();
    let clients = Clients::new(&sdk_config(&emulator.url), None);
    Env { emulator, clients }
}

pub async fn names(env: &Env, config: &Config) -> Names {
    let account = env.clients.account().await.unwrap();
    config.resolve(&account, "us-east-1").unwrap()
}

pub fn config(prefix: &str) -> Config {
    Config {
        prefix: prefix.into(),
        ..Config::default()
    }
}
