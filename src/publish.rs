//! Where signed checkpoints are published (the adapters of `audit::publish::Publish`):
//!
//! - [`DirPublisher`]: a directory (a mounted volume, a synced folder); also keeps `latest`.
//! - [`S3Publisher`]: an S3 bucket, on AWS the template's `CheckpointBucket` with Object Lock in
//!   compliance mode, so that no one (root included) can delete or shorten a published version.
//! - [`SlackPublisher`]: a Slack channel, through the outbox.

pub use crate::audit::publish::{
    Publish, PublishError, Publishers, check_note, checkpoint_name, note_size,
};
use crate::aws::{LazyClient, describe_error};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Checkpoints as files in a directory: `<size>.checkpoint`, and `latest` (the largest size
/// published through this directory).
#[derive(Debug, Clone)]
pub struct DirPublisher {
    dir: PathBuf,
}

impl DirPublisher {
    /// Publishes into `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file a checkpoint of `size` is written to.
    pub fn path_of(&self, size: u64) -> PathBuf {
        self.dir.join(checkpoint_name(size))
    }

    /// The `latest` file.
    pub fn latest_path(&self) -> PathBuf {
        self.dir.join("latest")
    }

    fn failed(path: &Path, e: impl fmt::Display) -> PublishError {
        PublishError::Failed {
            location: path.display().to_string(),
            detail: e.to_string(),
        }
    }

    /// A temporary file next to `path` holding `bytes`, flushed to disk.
    fn temp_with(&self, bytes: &[u8]) -> Result<PathBuf, PublishError> {
        let tmp = self
            .dir
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Self::failed(&tmp, e)
        })?;
        Ok(tmp)
    }

    /// Is `path` already there with exactly `bytes`? `Conflict` when with others.
    fn same_as(path: &Path, size: u64, bytes: &[u8]) -> Result<bool, PublishError> {
        match std::fs::read(path) {
            Ok(existing) if existing == bytes => Ok(true),
            Ok(_) => Err(PublishError::Conflict {
                location: path.display().to_string(),
                size,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::failed(path, e)),
        }
    }

    fn publish_blocking(&self, size: u64, note: &str) -> Result<(), PublishError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::failed(&self.dir, e))?;
        let path = self.path_of(size);
        let bytes = note.as_bytes();
        if !Self::same_as(&path, size, bytes)? {
            let tmp = self.temp_with(bytes)?;
            // A hard link never replaces a file: of two writers at once, one wins and the other
            // compares. Where links are not supported, a rename after the check above.
            let placed = match std::fs::hard_link(&tmp, &path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Self::same_as(&path, size, bytes).map(|_| ())
                }
                Err(_) => std::fs::rename(&tmp, &path).map_err(|e| Self::failed(&path, e)),
            };
            let _ = std::fs::remove_file(&tmp);
            placed?;
        }
        // `latest` moves forward only: re-publishing an older size leaves it alone.
        let latest = self.latest_path();
        let current = match std::fs::read_to_string(&latest) {
            Ok(text) => note_size(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Self::failed(&latest, e)),
        };
        if current.is_none_or(|c| c <= size) {
            let tmp = self.temp_with(bytes)?;
            std::fs::rename(&tmp, &latest).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Self::failed(&latest, e)
            })?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Publish for DirPublisher {
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError> {
        check_note(size, note)?;
        let this = self.clone();
        let note = note.to_owned();
        tokio::task::spawn_blocking(move || this.publish_blocking(size, &note))
            .await
            .map_err(|e| Self::failed(&self.dir, e))?
    }

    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }
}

/// Checkpoints as objects `<prefix><size>.checkpoint` in an S3 bucket.
///
/// An object already there is read first: the same bytes are success, others a
/// [`PublishError::Conflict`]. The write is conditional (`If-None-Match: *`), so of two
/// processes publishing at once one writes and the other compares; on a versioned bucket an
/// unconditional write would add a second version instead. Every write carries a SHA-256
/// checksum, which S3 requires of uploads to a bucket with Object Lock retention.
///
/// The role needs `s3:GetObject` and `s3:PutObject` on the objects and `s3:ListBucket` on the
/// bucket (without it S3 answers a missing object with 403, not 404); never `s3:DeleteObject`.
pub struct S3Publisher {
    client: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
    prefix: String,
}

impl S3Publisher {
    /// Publishes to `bucket` under `prefix`, with a client built from the environment on first use.
    pub fn from_env(bucket: &str, prefix: &str) -> Self {
        Self {
            client: LazyClient::from_env(crate::aws::s3_client),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// Publishes with a ready client (tests point one at a local stand-in).
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        Self {
            client: LazyClient::ready(client, crate::aws::s3_client),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// The object key of a checkpoint of `size`.
    pub fn key_of(&self, size: u64) -> String {
        format!("{}{}", self.prefix, checkpoint_name(size))
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn failed<E>(&self, key: &str, what: &str, e: &aws_sdk_s3::error::SdkError<E>) -> PublishError
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    {
        let detail = match e.as_service_error() {
            Some(se) => format!(
                "{what}: {}: {}",
                se.code().unwrap_or("error"),
                se.message().unwrap_or("no message")
            ),
            None => format!("{what}: {}", describe_error(e)),
        };
        PublishError::Failed {
            location: self.location(key),
            detail,
        }
    }

    /// The object's bytes, or `None` when there is none.
    async fn existing(&self, key: &str) -> Result<Option<Vec<u8>>, PublishError> {
        use aws_sdk_s3::operation::get_object::GetObjectError;
        let client = self.client.get().await;
        match client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| PublishError::Failed {
                    location: self.location(key),
                    detail: format!("GetObject: {}", describe_error(&e)),
                })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                Ok(None)
            }
            Err(e) => Err(self.failed(key, "GetObject", &e)),
        }
    }

    fn compare(
        &self,
        key: &str,
        size: u64,
        existing: &[u8],
        note: &str,
    ) -> Result<(), PublishError> {
        if existing == note.as_bytes() {
            Ok(())
        } else {
            Err(PublishError::Conflict {
                location: self.location(key),
                size,
            })
        }
    }
}

#[async_trait::async_trait]
impl Publish for S3Publisher {
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError> {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        check_note(size, note)?;
        let key = self.key_of(size);
        if let Some(existing) = self.existing(&key).await? {
            return self.compare(&key, size, &existing, note);
        }
        let client = self.client.get().await;
        let put = client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/plain; charset=utf-8")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .if_none_match("*")
            .body(note.as_bytes().to_vec().into())
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            // Someone published this size between our read and our write: compare with theirs.
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    matches!(
                        se.code(),
                        Some("PreconditionFailed" | "ConditionalRequestConflict")
                    )
                }) || e.raw_response().is_some_and(|r| r.status().as_u16() == 412) =>
            {
                match self.existing(&key).await? {
                    Some(existing) => self.compare(&key, size, &existing, note),
                    None => Err(self.failed(&key, "PutObject", &e)),
                }
            }
            Err(e) => Err(self.failed(&key, "PutObject", &e)),
        }
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Posts checkpoints to a Slack channel, through the outbox (so they are paced and retried like
/// every other message, and delivered by whichever process delivers next).
pub struct SlackPublisher {
    store: Arc<dyn crate::workflow::ports::store::Store>,
    channel: String,
}

impl SlackPublisher {
    /// Posts to `channel`.
    pub fn new(store: Arc<dyn crate::workflow::ports::store::Store>, channel: &str) -> Self {
        Self {
            store,
            channel: channel.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Publish for SlackPublisher {
    async fn publish(&self, size: u64, note: &str) -> Result<(), PublishError> {
        let entry = crate::workflow::outbox::OutboxEntry::new(
            crate::workflow::outbox::Message::SlackCheckpoint {
                channel: self.channel.clone(),
                size,
                note: note.to_string(),
            },
            chrono::Utc::now(),
            size,
            0,
        );
        crate::workflow::ports::store::enqueue(self.store.as_ref(), vec![entry])
            .await
            .map_err(|e| PublishError::Failed {
                location: format!("Slack channel {}", self.channel),
                detail: format!("cannot queue the post: {e}"),
            })
    }

    fn describe(&self) -> String {
        format!("Slack channel {}", self.channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(size: u64, root: &str) -> String {
        format!("ncp-share-approver\n{size}\n{root}\n\n— ncp-share-approver AAAA{root}\n")
    }

    #[test]
    fn names_are_zero_padded_so_they_sort_by_size() {
        assert_eq!(checkpoint_name(7), "00000000000000000007.checkpoint");
        assert_eq!(checkpoint_name(u64::MAX).len(), 20 + ".checkpoint".len());
        assert!(checkpoint_name(9) < checkpoint_name(10));
    }

    #[tokio::test]
    async fn a_directory_gets_one_file_per_size_and_a_latest_that_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let p = DirPublisher::new(dir.path().join("checkpoints"));
        p.publish(5, &note(5, "r5")).await.unwrap();
        p.publish(9, &note(9, "r9")).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(p.path_of(5)).unwrap(),
            note(5, "r5")
        );
        assert_eq!(
            std::fs::read_to_string(p.path_of(9)).unwrap(),
            note(9, "r9")
        );
        assert_eq!(
            std::fs::read_to_string(p.latest_path()).unwrap(),
            note(9, "r9")
        );
        // The same again is fine, and an older one does not move `latest` back.
        p.publish(5, &note(5, "r5")).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(p.latest_path()).unwrap(),
            note(9, "r9")
        );
        // Nothing but the checkpoints and `latest`: no temporary files left behind.
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [checkpoint_name(5), checkpoint_name(9), "latest".into()]
        );
    }

    #[tokio::test]
    async fn a_different_checkpoint_of_a_published_size_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = DirPublisher::new(dir.path());
        p.publish(5, &note(5, "r5")).await.unwrap();
        let e = p.publish(5, &note(5, "forged")).await.unwrap_err();
        assert!(matches!(e, PublishError::Conflict { size: 5, .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&checkpoint_name(5)), "{text}");
        assert_eq!(
            std::fs::read_to_string(p.path_of(5)).unwrap(),
            note(5, "r5")
        );
        assert_eq!(
            std::fs::read_to_string(p.latest_path()).unwrap(),
            note(5, "r5")
        );
    }

    #[tokio::test]
    async fn a_note_that_is_not_a_checkpoint_of_that_size_is_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let p = DirPublisher::new(dir.path());
        for bad in [note(6, "r"), "just text".to_string(), "o\n-1\nr\n".into()] {
            let e = p.publish(5, &bad).await.unwrap_err();
            assert!(matches!(e, PublishError::Invalid { size: 5, .. }), "{e:?}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn two_writers_of_one_size_at_once_agree_or_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirPublisher::new(dir.path());
        let b = a.clone();
        let (x3, x4, y4) = (note(3, "x"), note(4, "x"), note(4, "y"));
        let (ra, rb) = tokio::join!(a.publish(3, &x3), b.publish(3, &x3));
        ra.unwrap();
        rb.unwrap();
        let (ra, rb) = tokio::join!(a.publish(4, &x4), b.publish(4, &y4));
        assert!(ra.is_ok() != rb.is_ok(), "{ra:?} {rb:?}");
        let kept = std::fs::read_to_string(a.path_of(4)).unwrap();
        assert!(kept == note(4, "x") || kept == note(4, "y"));
    }

    #[tokio::test]
    async fn fan_out_tries_every_publisher_and_reports_each_failure() {
        let dir = tempfile::tempdir().unwrap();
        let good = Arc::new(DirPublisher::new(dir.path().join("good")));
        // A file where the directory should be: every publish there fails.
        std::fs::write(dir.path().join("blocked"), b"x").unwrap();
        let bad = Arc::new(DirPublisher::new(dir.path().join("blocked")));
        let all = Publishers::default()
            .with(bad.clone())
            .with(good.clone())
            .with(bad);
        assert!(all.describe().contains("good"));
        let e = all.publish(2, &note(2, "r")).await.unwrap_err();
        assert!(
            matches!(&e, PublishError::Several(v) if v.len() == 2),
            "{e:?}"
        );
        assert!(e.to_string().contains("blocked"), "{e}");
        assert_eq!(
            std::fs::read_to_string(good.path_of(2)).unwrap(),
            note(2, "r")
        );
        assert!(
            Publishers::default()
                .publish(2, &note(2, "r"))
                .await
                .is_ok()
        );
    }
}
