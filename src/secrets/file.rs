//! Secrets from a JSON file: one object whose keys are [`SecretName::key`]s.

use super::{SecretError, SecretName, SecretSource, SecretString};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Reads a JSON object of secrets from a file, once, until [`SecretSource::refresh`].
pub struct FileSecrets {
    path: PathBuf,
    cache: Mutex<Option<HashMap<String, SecretString>>>,
}

impl FileSecrets {
    /// A source reading `path` on first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    fn load(&self) -> Result<HashMap<String, SecretString>, SecretError> {
        let unreadable = |detail: String| SecretError::Unreadable {
            source_desc: self.describe(),
            detail,
        };
        let bytes = std::fs::read(&self.path).map_err(|e| unreadable(e.to_string()))?;
        // Parse into strings only; serde_json's error names a line and column, never a value.
        let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|e| {
            unreadable(format!(
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
impl SecretSource for FileSecrets {
    async fn get(&self, name: SecretName) -> Result<Option<SecretString>, SecretError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.is_none() {
            *cache = Some(self.load()?);
        }
        Ok(cache.as_ref().and_then(|m| m.get(name.key()).cloned()))
    }

    async fn refresh(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::ExposeSecret;

    #[tokio::test]
    async fn reads_keys_and_rereads_after_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"NCP_ACCESS_KEY":"ak1","NCP_SECRET_KEY":"sk1"}"#).unwrap();
        let src = FileSecrets::new(&path);
        let got = src.get(SecretName::NcpSecretKey).await.unwrap().unwrap();
        assert_eq!(got.expose_secret(), "sk1");
        assert!(src.get(SecretName::SlackBotToken).await.unwrap().is_none());

        std::fs::write(&path, r#"{"NCP_SECRET_KEY":"sk2"}"#).unwrap();
        let cached = src.get(SecretName::NcpSecretKey).await.unwrap().unwrap();
        assert_eq!(cached.expose_secret(), "sk1", "cached until refresh");
        src.refresh().await;
        let fresh = src.get(SecretName::NcpSecretKey).await.unwrap().unwrap();
        assert_eq!(fresh.expose_secret(), "sk2");
    }

    #[tokio::test]
    async fn a_broken_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"NCP_SECRET_KEY": "hunter2-super-secret" "#).unwrap();
        let err = FileSecrets::new(&path)
            .get(SecretName::NcpSecretKey)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.json"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn secret_values_never_print() {
        let s = SecretString::from("hunter2".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
