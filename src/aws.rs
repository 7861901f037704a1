//! The AWS side: one SDK configuration per process, loaded on first use and shared by the
//! DynamoDB store, the SQS queue, the Secrets Manager source and the policy source (S3, SSM).
//!
//! Loading it is async (the credential chain may ask the Lambda environment), while the ports are
//! built from the configuration synchronously; so every AWS adapter holds its client in a
//! [`tokio::sync::OnceCell`] and builds it from [`shared_config`] on its first call. Tests hand the
//! adapters a ready client instead ([`local_config`] points one at a local stand-in).
//!
//! Endpoints follow the SDK's own rules: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_DYNAMODB`, `_SQS`,
//! `_SECRETS_MANAGER`, `_S3`, `_SSM`) points the clients at `moto_server` for local runs.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static SHARED: OnceCell<SdkConfig> = OnceCell::const_new();

/// The process-wide SDK configuration (region, credentials, endpoints from the environment).
pub async fn shared_config() -> &'static SdkConfig {
    SHARED
        .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
        .await
}

/// A configuration for a local stand-in at `endpoint` with fixed test credentials, for tests and
/// local runs that must not depend on the environment (tests run in parallel in one process).
pub async fn local_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "local stand-in",
        ))
        .load()
        .await
}

/// A client built on first use from [`shared_config`], or handed in ready-made.
pub struct LazyClient<C> {
    cell: OnceCell<C>,
    make: fn(&SdkConfig) -> C,
}

impl<C> LazyClient<C> {
    /// A client that is built from the shared configuration on first use.
    pub fn from_env(make: fn(&SdkConfig) -> C) -> Self {
        Self {
            cell: OnceCell::new(),
            make,
        }
    }

    /// A client that is already built.
    pub fn ready(client: C, make: fn(&SdkConfig) -> C) -> Self {
        Self {
            cell: OnceCell::new_with(Some(client)),
            make,
        }
    }

    /// The client, building it if this is the first use.
    pub async fn get(&self) -> &C {
        self.cell
            .get_or_init(|| async { (self.make)(shared_config().await) })
            .await
    }
}

/// An SDK error with its whole cause chain, for logs and the store's errors.
pub fn describe_error(e: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}

/// An S3 client; path-style addressing when the endpoint is overridden (a local stand-in such as
/// moto has no per-bucket host names), virtual-hosted style on AWS.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let overridden = sdk.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(overridden)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
