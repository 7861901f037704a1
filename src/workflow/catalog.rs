//! The image catalog's upkeep: the scheduler refreshes it from NCP (one `images()` call) and
//! stores it; the HTTP side reads it through a [`CatalogCache`], so that a picker answering every
//! keystroke never calls NCP and reads the store at most once per TTL.

use super::{Workflow, WorkflowError};
use crate::domain::ImageCatalog;
use crate::domain::ports::cloud::CloudApi;
use crate::workflow::ports::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Reads the account's images from NCP (one `images()` call), keeps the shareable ones, stores
/// the catalog and returns it.
pub async fn refresh(
    cloud: &dyn CloudApi,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<ImageCatalog, WorkflowError> {
    let views = cloud.images().await?;
    let catalog = ImageCatalog::from_views(&views, now);
    store.save_image_catalog(&catalog).await?;
    Ok(catalog)
}

/// Whether a catalog refreshed `age` ago is due for a refresh every `every`.
///
/// A tenth of the interval early counts as due: the sweep that refreshes runs on its own
/// schedule (every 5 minutes on AWS, the default interval too), and a sweep that fires a moment
/// early must not skip a whole round.
pub fn is_due(age: chrono::Duration, every: Duration) -> bool {
    let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
    age + every / 10 >= every
}

/// Refreshes the catalog when the stored one is missing or older than `every` (see
/// [`is_due`]); `None` when it was fresh enough.
pub async fn refresh_when_due(
    cloud: &dyn CloudApi,
    store: &dyn Store,
    now: DateTime<Utc>,
    every: Duration,
) -> Result<Option<ImageCatalog>, WorkflowError> {
    let stored = store.image_catalog().await?;
    if stored.is_some_and(|c| !is_due(now - c.refreshed_at, every)) {
        return Ok(None);
    }
    refresh(cloud, store, now).await.map(Some)
}

/// The scheduler's refresh: when due (`[ncp] catalog_refresh_secs`), or now when `force` (at the
/// start of `serve`, so that the form works at once). A failure is logged and is nobody else's:
/// the sweep it runs beside goes on, and the next one tries again.
pub async fn scheduled_refresh(workflow: &Workflow, force: bool) -> Option<ImageCatalog> {
    let now = workflow.clock.now();
    let cloud = workflow.cloud.as_ref();
    let store = workflow.store.as_ref();
    let result = if force {
        refresh(cloud, store, now).await.map(Some)
    } else {
        refresh_when_due(cloud, store, now, workflow.settings.catalog_refresh).await
    };
    match result {
        Ok(Some(catalog)) => {
            tracing::info!(images = catalog.images.len(), "image catalog refreshed");
            Some(catalog)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the image catalog could not be refreshed; the stored one stays and the next sweep tries again");
            None
        }
    }
}

/// The catalog as the HTTP side reads it: the store at most once per `ttl` in this process,
/// one read shared by callers that come while it runs, errors never kept.
pub struct CatalogCache {
    store: Arc<dyn Store>,
    memo: Memo,
}

impl CatalogCache {
    /// A cache over `store` that keeps what it read for `ttl`.
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            memo: Memo::new(ttl),
        }
    }

    /// The stored catalog (`None` before the first refresh), read again once `ttl` has passed.
    pub async fn get(&self) -> Result<Option<Arc<ImageCatalog>>, StoreError> {
        self.memo.get_or_load(|| self.store.image_catalog()).await
    }
}

/// The cache's memory, apart from the store so that tests can count and slow the read.
struct Memo {
    ttl: Duration,
    /// When the store was last read and what it held. Held across the read, so that callers
    /// arriving meanwhile wait for that read instead of starting their own.
    last: tokio::sync::Mutex<Option<(Instant, Option<Arc<ImageCatalog>>)>>,
}

impl Memo {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            last: tokio::sync::Mutex::new(None),
        }
    }

    async fn get_or_load<F, Fut>(&self, load: F) -> Result<Option<Arc<ImageCatalog>>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<ImageCatalog>, StoreError>>,
    {
        let mut last = self.last.lock().await;
        if let Some((read_at, catalog)) = last.as_ref() {
            if read_at.elapsed() < self.ttl {
                return Ok(catalog.clone());
            }
        }
        // An error leaves the old entry as it was (stale, so the next caller reads again).
        let catalog = load().await?.map(Arc::new);
        *last = Some((Instant::now(), catalog.clone()));
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn catalog(n: usize) -> ImageCatalog {
        ImageCatalog {
            images: (1..=n)
                .map(|i| crate::domain::CatalogImage {
                    no: crate::domain::ImageNo::parse(&i.to_string()).unwrap(),
                    name: format!("image-{i}"),
                })
                .collect(),
            refreshed_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn cache(ttl: Duration) -> Memo {
        Memo::new(ttl)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_read_and_it_is_kept_for_the_ttl() {
        let cache = Arc::new(cache(Duration::from_millis(300)));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (cache, reads) = (cache.clone(), reads.clone());
            callers.spawn(async move {
                cache
                    .get_or_load(|| async {
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Some(catalog(2)))
                    })
                    .await
                    .unwrap()
                    .unwrap()
            });
        }
        let got = callers.join_all().await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one read for all");
        assert!(got.iter().all(|c| Arc::ptr_eq(c, &got[0])));
        assert_eq!(got[0].images.len(), 2);

        // Within the TTL nothing is read; after it, the store is read again.
        let again = cache
            .get_or_load(|| async { panic!("read within the TTL") })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&again.unwrap(), &got[0]));
        tokio::time::sleep(Duration::from_millis(350)).await;
        let fresh = cache
            .get_or_load(|| async { Ok(Some(catalog(3))) })
            .await
            .unwrap();
        assert_eq!(fresh.unwrap().images.len(), 3);
    }

    #[tokio::test]
    async fn an_error_is_not_kept_and_none_is() {
        let cache = cache(Duration::from_secs(3600));
        let failed = cache
            .get_or_load(|| async { Err(StoreError::Failed("down".into())) })
            .await;
        assert!(failed.is_err());
        // The next caller reads at once, and "no catalog yet" is an answer kept like any other.
        assert_eq!(
            cache.get_or_load(|| async { Ok(None) }).await.unwrap(),
            None
        );
        assert_eq!(
            cache
                .get_or_load(|| async { panic!("read within the TTL") })
                .await
                .unwrap(),
            None
        );
    }
}
