//! Where signed checkpoints go, out of a database insider's reach.

/// Why a checkpoint could not be published (never carries a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

/// A place checkpoints are published.
#[async_trait::async_trait]
pub trait Publish: Send + Sync {
    /// Publishes the signed checkpoint note of a tree of `size` records; publishing the same
    /// size twice is not an error.
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError>;
    /// Where, for messages.
    fn describe(&self) -> String;
}
