//! The `SecretSource` port: the secrets the service knows by name, and how they are asked for.
//! Values are [`SecretString`]s: they never print, and are exposed only where a header or an HMAC
//! key is built. The sources (environment, file, AWS) are adapters in `crate::secrets`.

pub use secrecy::{ExposeSecret, SecretString};
use std::fmt;

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
    /// NAVER WORKS app Client ID (the service-account JWT's `iss`, and the token request's).
    WorksClientId,
    /// NAVER WORKS app Client Secret (the token request).
    WorksClientSecret,
    /// NAVER WORKS service account id (`...serviceaccount@...`, the JWT's `sub`).
    WorksServiceAccount,
    /// NAVER WORKS app private key (PKCS#8 PEM; literal `\n` in the value are read as line breaks).
    WorksPrivateKey,
    /// NAVER WORKS Bot Secret, the `X-WORKS-Signature` HMAC key (a second one may follow after a
    /// comma, for rotation).
    WorksBotSecret,
    /// The PostgreSQL store's password (`[store] kind = "postgres"`).
    PostgresPassword,
    /// A secret named by the configuration (a ticket system's `[webhook.systems.<name>] secret`);
    /// made with [`SecretName::named`], so it stays `Copy`.
    Named(&'static str),
}

impl SecretName {
    /// Every secret name, in the order the documentation lists them.
    pub const ALL: [SecretName; 14] = [
        SecretName::NcpAccessKey,
        SecretName::NcpSecretKey,
        SecretName::SlackSigningSecret,
        SecretName::SlackBotToken,
        SecretName::JiraWebhookSecret,
        SecretName::JiraApiToken,
        SecretName::WebhookSecret,
        SecretName::LedgerSigningKey,
        SecretName::WorksClientId,
        SecretName::WorksClientSecret,
        SecretName::WorksServiceAccount,
        SecretName::WorksPrivateKey,
        SecretName::WorksBotSecret,
        SecretName::PostgresPassword,
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
            SecretName::WorksClientId => "WORKS_CLIENT_ID",
            SecretName::WorksClientSecret => "WORKS_CLIENT_SECRET",
            SecretName::WorksServiceAccount => "WORKS_SERVICE_ACCOUNT",
            SecretName::WorksPrivateKey => "WORKS_PRIVATE_KEY",
            SecretName::WorksBotSecret => "WORKS_BOT_SECRET",
            SecretName::PostgresPassword => "POSTGRES_PASSWORD",
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
