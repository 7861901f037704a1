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
use std::sync::Arc;

/// Builds the source named by the configuration: `env`, `file:PATH` or `aws:SECRET_ID` (a Secrets
/// Manager secret name or ARN; ARNs contain colons, so only the first one separates).
pub fn from_spec(spec: &str) -> Result<Arc<dyn SecretSource>, String> {
    match spec.split_once(':') {
        None if spec == "env" => Ok(Arc::new(EnvSecrets)),
        Some(("file", path)) if !path.is_empty() => Ok(Arc::new(FileSecrets::new(path))),
        Some(("aws", id)) if !id.is_empty() => Ok(Arc::new(AwsSecrets::from_env(id))),
        _ => Err(format!(
            "secrets.source = {spec:?} is not supported; use \"env\", \"file:PATH\" or \"aws:SECRET_ID\""
        )),
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
