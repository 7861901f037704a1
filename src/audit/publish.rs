//! Publishing signed checkpoints where a database insider cannot rewrite them.
//!
//! A checkpoint of size N is published under one name per size, `<N zero-padded to 20
//! digits>.checkpoint`, and never replaced by a different one: publishing the same note again is
//! fine (a retry, two processes at once), publishing a different note for a size already
//! published is an error naming the place, because it means two different ledgers of that size
//! were signed.
//!
//! This is the port ([`Publish`]) and the fan-out ([`Publishers`]: every configured publisher,
//! each tried, the failures collected); the places themselves (a directory, S3 with Object Lock,
//! Slack) are adapters in `crate::publish`.

use std::sync::Arc;

/// The name a checkpoint of `size` records is published under.
pub fn checkpoint_name(size: u64) -> String {
    format!("{size:020}.checkpoint")
}

/// Why a checkpoint was not published. Names places (paths, buckets, keys), never credentials.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A different checkpoint of this size is already published there.
    #[error(
        "{location} already holds a different checkpoint of size {size}: two different ledgers of that size were signed, or the published one was tampered with"
    )]
    Conflict {
        /// The file or object.
        location: String,
        /// The tree size.
        size: u64,
    },
    /// The note is not a checkpoint of `size` records.
    #[error("not published: the note is not a checkpoint of size {size}: {why}")]
    Invalid {
        /// The size it was published as.
        size: u64,
        /// What is wrong with it.
        why: String,
    },
    /// The place could not be written or read.
    #[error("cannot publish to {location}: {detail}")]
    Failed {
        /// The file or object.
        location: String,
        /// What went wrong.
        detail: String,
    },
    /// Several publishers failed ([`Publishers`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<PublishError>),
}

/// A place signed checkpoints are published to.
#[async_trait::async_trait]
pub trait Publish: Send + Sync {
    /// Publishes the signed checkpoint note of a tree of `size` records; publishing the same size twice is not an error.
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError>;
    /// Where it publishes, for logs (`s3://bucket/checkpoints/`, `directory data/checkpoints`).
    fn describe(&self) -> String;
}

/// The tree size a checkpoint note states: its second line (C2SP `tlog-checkpoint`).
pub fn note_size(note: &str) -> Option<u64> {
    let line = note.lines().nth(1)?;
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) || line.len() > 20 {
        return None;
    }
    line.parse().ok()
}

/// Refuses a note whose stated size is not `size`, so that a name never lies about its content.
pub fn check_note(size: u64, note: &str) -> Result<(), PublishError> {
    match note_size(note) {
        Some(n) if n == size => Ok(()),
        Some(n) => Err(PublishError::Invalid {
            size,
            why: format!("it states size {n}"),
        }),
        None => Err(PublishError::Invalid {
            size,
            why: "its second line is not a tree size".into(),
        }),
    }
}

/// Every configured publisher; a checkpoint goes to each, and the failures are reported together.
#[derive(Clone, Default)]
pub struct Publishers(pub Vec<Arc<dyn Publish>>);

impl Publishers {
    /// Adds one.
    pub fn with(mut self, publisher: Arc<dyn Publish>) -> Self {
        self.0.push(publisher);
        self
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[async_trait::async_trait]
impl Publish for Publishers {
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError> {
        let mut errors = Vec::new();
        for p in &self.0 {
            if let Err(e) = p.publish(size, note).await {
                tracing::warn!(publisher = %p.describe(), size, error = %e, "a checkpoint was not published");
                errors.push(e);
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(PublishError::Several(errors)),
        }
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            return "nowhere".into();
        }
        self.0
            .iter()
            .map(|p| p.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
