//! Where credentials come from. Values are [`SecretString`]s: they never print, and are exposed
//! only where a header or an HMAC key is built.

pub mod aws;
mod env;
mod file;

pub use aws::AwsSecrets;
pub use env::EnvSecrets;
pub use file::FileSecrets;

// The port lives in the core; re-exported for the old paths.
pub use crate::domain::ports::secrets::{
    ExposeSecret, SecretError, SecretName, SecretSource, SecretString, require,
};
use std::fmt;
use std::sync::Arc;

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
