//! Secrets from environment variables named after [`SecretName::key`].

use super::{SecretError, SecretName, SecretSource, SecretString};

/// Reads each secret from the environment variable of the same name.
pub struct EnvSecrets;

#[async_trait::async_trait]
impl SecretSource for EnvSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        Ok(std::env::var(name.key()).ok().map(SecretString::from))
    }

    fn describe(&self) -> String {
        "the environment".into()
    }
}
