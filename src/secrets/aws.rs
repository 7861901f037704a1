//! Secrets from one AWS Secrets Manager secret whose `SecretString` is a JSON object keyed by
//! [`SecretName::key`] (`secrets.source = "aws:SECRET_ID"`).
//!
//! On Lambda the secret is read through the AWS Parameters and Secrets Lambda extension
//! (`GET http://localhost:2773/secretsmanager/get?secretId=ID`, authenticated by the session
//! token) when the layer is there, and through the Secrets Manager API otherwise. Values are cached
//! for `SECRETS_MANAGER_TTL` seconds (the extension's own variable; 300 when unset).
//!
//! After [`SecretSource::refresh`] (the NCP client calls it once when NCP refuses our signature)
//! the next read goes to the API, not to the extension: the extension has a cache of its own, and
//! asking it again within its TTL would hand back the very key that was just refused.

use super::{SecretError, SecretName, SecretSource, SecretString};
use crate::aws::{LazyClient, describe_error};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The extension's default port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` changes it).
pub const EXTENSION_DEFAULT_PORT: u16 = 2773;
/// The header that carries the session token to the extension.
pub const EXTENSION_TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// How long values are kept when `SECRETS_MANAGER_TTL` is not set.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Where the Parameters and Secrets extension listens, and the token it wants.
#[derive(Clone)]
pub struct Extension {
    /// Scheme, host and port, like `http://localhost:2773`.
    pub base_url: String,
    /// The Lambda session token (`AWS_SESSION_TOKEN`).
    pub token: SecretString,
}

struct Cached {
    at: Instant,
    values: HashMap<String, SecretString>,
}

/// One Secrets Manager secret, cached with a TTL.
pub struct AwsSecrets {
    secret_id: String,
    client: LazyClient<aws_sdk_secretsmanager::Client>,
    extension: Option<Extension>,
    http: reqwest::Client,
    ttl: Duration,
    cache: tokio::sync::Mutex<Option<Cached>>,
    /// Set by `refresh`: the next read skips the extension's cache.
    skip_extension: AtomicBool,
}

impl AwsSecrets {
    /// The secret `secret_id`, read the way the environment allows: through the extension when
    /// running on Lambda (`AWS_LAMBDA_RUNTIME_API` and `AWS_SESSION_TOKEN` set), else the API.
    pub fn from_env(secret_id: &str) -> Self {
        let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
        let extension = match std::env::var("AWS_SESSION_TOKEN") {
            Ok(token) if on_lambda && !token.is_empty() => {
                let port = std::env::var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
                    .ok()
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or(EXTENSION_DEFAULT_PORT);
                Some(Extension {
                    base_url: format!("http://localhost:{port}"),
                    token: SecretString::from(token),
                })
            }
            _ => None,
        };
        let ttl = std::env::var("SECRETS_MANAGER_TTL")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TTL);
        Self::build(
            secret_id,
            LazyClient::from_env(aws_sdk_secretsmanager::Client::new),
            extension,
            ttl,
        )
    }

    /// The secret `secret_id` through a ready API client and, optionally, an extension (tests).
    pub fn new(
        secret_id: &str,
        client: aws_sdk_secretsmanager::Client,
        extension: Option<Extension>,
        ttl: Duration,
    ) -> Self {
        Self::build(
            secret_id,
            LazyClient::ready(client, aws_sdk_secretsmanager::Client::new),
            extension,
            ttl,
        )
    }

    fn build(
        secret_id: &str,
        client: LazyClient<aws_sdk_secretsmanager::Client>,
        extension: Option<Extension>,
        ttl: Duration,
    ) -> Self {
        Self {
            secret_id: secret_id.to_string(),
            client,
            extension,
            // The extension is on localhost: a short timeout, then the API.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
            ttl,
            cache: tokio::sync::Mutex::new(None),
            skip_extension: AtomicBool::new(false),
        }
    }

    fn unreadable(&self, detail: impl Into<String>) -> SecretError {
        SecretError::Unreadable {
            source_desc: self.describe(),
            detail: detail.into(),
        }
    }

    /// The secret's string through the extension; `None` when the extension is not there.
    async fn via_extension(&self, ext: &Extension) -> Result<Option<String>, SecretError> {
        use crate::secrets::ExposeSecret as _;
        let url = format!("{}/secretsmanager/get", ext.base_url);
        let response = match self
            .http
            .get(&url)
            .query(&[("secretId", self.secret_id.as_str())])
            .header(EXTENSION_TOKEN_HEADER, ext.token.expose_secret())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_timeout() => {
                tracing::debug!(error = %e, "the Parameters and Secrets extension is not there; using the API");
                return Ok(None);
            }
            Err(e) => return Err(self.unreadable(format!("extension: {e}"))),
        };
        let status = response.status();
        if !status.is_success() {
            // The body may quote the request; report only the status.
            return Err(self.unreadable(format!("the extension answered HTTP {status}")));
        }
        #[derive(serde::Deserialize)]
        struct GetSecretValue {
            #[serde(rename = "SecretString")]
            secret_string: Option<String>,
        }
        let body: GetSecretValue = response
            .json()
            .await
            .map_err(|_| self.unreadable("the extension's answer is not GetSecretValue JSON"))?;
        body.secret_string.map(Some).ok_or_else(|| {
            self.unreadable("the secret has no SecretString (binary secrets are not supported)")
        })
    }

    async fn via_api(&self) -> Result<String, SecretError> {
        let out = self
            .client
            .get()
            .await
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| self.unreadable(describe_error(&e)))?;
        out.secret_string.ok_or_else(|| {
            self.unreadable("the secret has no SecretString (binary secrets are not supported)")
        })
    }

    async fn load(&self) -> Result<HashMap<String, SecretString>, SecretError> {
        let skip = self.skip_extension.load(Ordering::Acquire);
        let from_extension = match (&self.extension, skip) {
            (Some(ext), false) => self.via_extension(ext).await?,
            _ => None,
        };
        let text = match from_extension {
            Some(text) => text,
            None => self.via_api().await?,
        };
        if skip {
            self.skip_extension.store(false, Ordering::Release);
        }
        // An empty secret (as the template creates it) holds nothing yet.
        if text.trim().is_empty() {
            return Ok(HashMap::new());
        }
        // Parse into strings only; serde_json's error names a position, never a value.
        let map: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            self.unreadable(format!(
                "expected a JSON object of string values (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect())
    }
}

#[async_trait::async_trait]
impl SecretSource for AwsSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        // One reader loads while the others wait for its result, instead of all asking AWS.
        let mut cache = self.cache.lock().await;
        let fresh = cache.as_ref().is_some_and(|c| c.at.elapsed() < self.ttl);
        if !fresh {
            *cache = Some(Cached {
                values: self.load().await?,
                at: Instant::now(),
            });
        }
        Ok(cache
            .as_ref()
            .and_then(|c| c.values.get(name.key()).cloned()))
    }

    async fn refresh(&self) {
        self.skip_extension.store(true, Ordering::Release);
        *self.cache.lock().await = None;
    }

    fn describe(&self) -> String {
        format!("AWS Secrets Manager secret {}", self.secret_id)
    }
}
