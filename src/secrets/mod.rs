//! Where credentials come from. Values are [`SecretString`]s: they never print, and are exposed
//! only where a header or an HMAC key is built.

pub mod aws;
mod env;
mod file;

pub use aws::AwsSecrets;
pub use env::EnvSecrets;
pub use file::FileSecrets;

pub use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;

/// The secrets the service knows by name (environment variables, or JSON keys in a file or AWS secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// NCP API access key ID.
    NcpAccessKey,
    /// NCP API secret key.
    NcpSecretKey,
    /// Slack signing secret (a second one may follow after a comma, for rotation).
    SlackSigningSecret,
    /// Slack bot token (`xoxb-...`).
    SlackBotToken,
    /// Secret of the Jira webhook (`X-Hub-Signature`).
    JiraWebhookSecret,
    /// Jira API token for the REST API.
    JiraApiToken,
    /// Standard Webhooks secret (`whsec_...`) of the generic webhook's `[webhook] system`.
    WebhookSecret,
    /// The audit ledger's Ed25519 signing key, a C2SP signed-note key (`PRIVATE+KEY+...`).
    LedgerSigningKey,
    /// A secret named by the configuration (a ticket system's `[webhook.systems.<name>] secret`);
    /// made with [`SecretName::named`], so it stays `Copy`.
    Named(&'static str),
}

impl SecretName {
    /// Every secret name, in the order the documentation lists them.
    pub const ALL: [SecretName; 8] = [
        SecretName::NcpAccessKey,
        SecretName::NcpSecretKey,
        SecretName::SlackSigningSecret,
        SecretName::SlackBotToken,
        SecretName::JiraWebhookSecret,
        SecretName::JiraApiToken,
        SecretName::WebhookSecret,
        SecretName::LedgerSigningKey,
    ];

    /// The environment variable or JSON key that holds it.
    pub fn key(self) -> &'static str {
        match self {
            SecretName::NcpAccessKey => "NCP_ACCESS_KEY",
            SecretName::NcpSecretKey => "NCP_SECRET_KEY",
            SecretName::SlackSigningSecret => "SLACK_SIGNING_SECRET",
            SecretName::SlackBotToken => "SLACK_BOT_TOKEN",
            SecretName::JiraWebhookSecret => "JIRA_WEBHOOK_SECRET",
            SecretName::JiraApiToken => "JIRA_API_TOKEN",
            SecretName::WebhookSecret => "WEBHOOK_SECRET",
            SecretName::LedgerSigningKey => "LEDGER_SIGNING_KEY",
            SecretName::Named(key) => key,
        }
    }

    /// The secret held under `key`, a name from the configuration. The name is leaked once, when
    /// the configuration is turned into ports at start, so the enum stays small and `Copy`.
    pub fn named(key: &str) -> Self {
        match SecretName::ALL.into_iter().find(|n| n.key() == key) {
            Some(known) => known,
            None => SecretName::Named(Box::leak(key.to_owned().into_boxed_str())),
        }
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Why a secret could not be read; never contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The source does not hold this secret.
    #[error("secret {name} is not set in {source_desc}")]
    Missing {
        /// Which secret.
        name: SecretName,
        /// Where we looked (for example "the environment" or a file path).
        source_desc: String,
    },
    /// The source itself could not be read or parsed.
    #[error("cannot read secrets from {source_desc}: {detail}")]
    Unreadable {
        /// Where we looked.
        source_desc: String,
        /// What went wrong (no values).
        detail: String,
    },
}

/// A place secrets are read from.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    /// Returns the secret, or `None` when the source does not hold it.
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError>;

    /// Drops any cached values, so that the next `get` reads the source again (after a rotation).
    async fn refresh(&self) {}

    /// Where the secrets come from, for messages ("the environment", "file secrets.json").
    fn describe(&self) -> String;
}

/// Reads a secret that must be present, with an error that names it and where it was looked for.
pub async fn require(
    source: &dyn SecretSource,
    name: SecretName,
) -> Result<SecretString, SecretError> {
    match source.get(name).await? {
        Some(v) if !v.expose_secret().is_empty() => Ok(v),
        _ => Err(SecretError::Missing {
            name,
            source_desc: source.describe(),
        }),
    }
}

/// `[secrets] source`: where secrets are read from, written `env`, `file:PATH` or `aws:SECRET_ID`
/// (a Secrets Manager secret name or ARN; ARNs contain colons, so only the first one separates).
/// Parsed once, when the configuration is read.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum SourceSpec {
    /// `env`: the process environment (the default).
    #[default]
    Env,
    /// `file:PATH`: a JSON file of keys and values.
    File(std::path::PathBuf),
    /// `aws:SECRET_ID`: an AWS Secrets Manager secret.
    Aws(String),
}

impl SourceSpec {
    /// The configuration key this is read from.
    pub const KEY: &'static str = "secrets.source";
    /// The accepted spellings.
    pub const CHOICES: &'static [&'static str] = &["env", "file:PATH", "aws:SECRET_ID"];

    /// Builds the source.
    pub fn open(&self) -> Arc<dyn SecretSource> {
        match self {
            SourceSpec::Env => Arc::new(EnvSecrets),
            SourceSpec::File(path) => Arc::new(FileSecrets::new(path.clone())),
            SourceSpec::Aws(id) => Arc::new(AwsSecrets::from_env(id)),
        }
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        match spec.split_once(':') {
            None if spec == "env" => Ok(SourceSpec::Env),
            Some(("file", path)) if !path.is_empty() => Ok(SourceSpec::File(path.into())),
            Some(("aws", id)) if !id.is_empty() => Ok(SourceSpec::Aws(id.into())),
            _ => Err(crate::choice::unknown(Self::KEY, spec, Self::CHOICES)),
        }
    }
}

impl TryFrom<String> for SourceSpec {
    type Error = String;
    fn try_from(spec: String) -> Result<Self, String> {
        spec.parse()
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Env => f.write_str("env"),
            SourceSpec::File(path) => write!(f, "file:{}", path.display()),
            SourceSpec::Aws(id) => write!(f, "aws:{id}"),
        }
    }
}

/// A fixed in-memory source, for tests and the local `dev` mode.
#[derive(Default)]
pub struct StaticSecrets(std::collections::HashMap<&'static str, SecretString>);

impl StaticSecrets {
    /// Adds one secret.
    pub fn with(mut self, name: SecretName, value: impl Into<String>) -> Self {
        self.0.insert(name.key(), SecretString::from(value.into()));
        self
    }
}

#[async_trait::async_trait]
impl SecretSource for StaticSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        Ok(self.0.get(name.key()).cloned())
    }
    fn describe(&self) -> String {
        "the built-in secrets".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_spec_reads_back_as_written_and_a_bad_one_names_the_key_and_choices() {
        for spec in [
            "env",
            "file:data/secrets.json",
            "aws:arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:nsa-AbCdEf",
        ] {
            assert_eq!(spec.parse::<SourceSpec>().unwrap().to_string(), spec);
        }
        assert_eq!(
            "aws:a:b".parse::<SourceSpec>(),
            Ok(SourceSpec::Aws("a:b".into()))
        );
        for bad in ["vault:x", "file:", "aws:", "", "ENV"] {
            let e = bad.parse::<SourceSpec>().unwrap_err();
            assert!(
                e.starts_with("secrets.source: ") && e.contains("env, file:PATH, aws:SECRET_ID"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_configured_name_is_looked_up_under_its_own_key() {
        assert_eq!(
            SecretName::named("WEBHOOK_SECRET"),
            SecretName::WebhookSecret
        );
        let named = SecretName::named("WEBHOOK_SECRET_SERVICENOW");
        assert_eq!(named.key(), "WEBHOOK_SECRET_SERVICENOW");
        assert_eq!(named.to_string(), "WEBHOOK_SECRET_SERVICENOW");
    }
}
