//! The image catalog's upkeep: refreshed from NCP by the sweep when due, read through the cache,
//! a failed refresh only logged.

use crate::harness::app::spawn_app;
use crate::harness::ncp::TEST_ATTEMPTS;
use crate::harness::workflow_app::*;
use ncp_share_approver::clock::Clock as _;
use ncp_share_approver::domain::ImageCatalog;
use ncp_share_approver::workflow::catalog::{
    CatalogCache, refresh, refresh_when_due, scheduled_refresh,
};
use std::sync::Arc;
use std::time::Duration;

/// The catalog NCP's image list makes at `now`.
async fn expected(app: &WorkflowApp) -> ImageCatalog {
    let views = app.wf.cloud.images().await.unwrap();
    ImageCatalog::from_views(&views, app.clock.now())
}

/// The NCP operations called since the last `clear_calls`.
fn operations(app: &WorkflowApp) -> Vec<String> {
    app.sim.calls().into_iter().map(|c| c.operation).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_is_one_image_list_stored_and_returned() {
    let app = WorkflowApp::spawn().await;
    app.sim.clear_calls();
    let want = expected(&app).await;
    assert!(
        !want.images.is_empty(),
        "the demo account has shareable images"
    );
    let listing = operations(&app);
    app.sim.clear_calls();

    let got = refresh(
        app.wf.cloud.as_ref(),
        app.wf.store.as_ref(),
        app.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(operations(&app), listing, "the same calls as one images()");
    assert!(
        operations(&app).iter().all(|o| o.contains("List")),
        "{:?}",
        operations(&app)
    );
    assert_eq!(app.wf.store.image_catalog().await.unwrap(), Some(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_refreshes_only_when_due_and_a_failure_keeps_the_stored_catalog() {
    let app = WorkflowApp::spawn().await;
    let every = app.wf.settings.catalog_refresh;
    assert_eq!(every, Duration::from_secs(300), "the default");

    // Nothing stored: due at once.
    let first = scheduled_refresh(&app.wf, false).await.expect("refreshed");
    assert_eq!(first.refreshed_at, app.clock.now());

    // Fresh: the store is read, NCP is not.
    app.sim.clear_calls();
    app.advance(Duration::from_secs(200));
    assert_eq!(scheduled_refresh(&app.wf, false).await, None);
    assert!(operations(&app).is_empty(), "{:?}", operations(&app));
    // Forced (the start of `serve`): read whatever its age.
    let forced = scheduled_refresh(&app.wf, true).await.expect("forced");
    assert_eq!(forced.refreshed_at, app.clock.now());

    // Due again after the interval (a sweep a moment early counts).
    app.advance(Duration::from_secs(290));
    let due = refresh_when_due(
        app.wf.cloud.as_ref(),
        app.wf.store.as_ref(),
        app.clock.now(),
        every,
    )
    .await
    .unwrap()
    .expect("due");
    assert_eq!(due.refreshed_at, app.clock.now());

    // NCP failing: the sweep's refresh answers None, the stored catalog stays, nothing panics.
    app.advance(Duration::from_secs(600));
    app.sim.fail_next(TEST_ATTEMPTS as usize, 503);
    assert_eq!(scheduled_refresh(&app.wf, false).await, None);
    assert_eq!(app.wf.store.image_catalog().await.unwrap(), Some(due));
    // The next sweep tries again and succeeds.
    let again = scheduled_refresh(&app.wf, false).await.expect("retried");
    assert_eq!(again, expected(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_reads_the_store_once_per_ttl() {
    let app = WorkflowApp::spawn().await;
    let cache = CatalogCache::new(app.wf.store.clone(), Duration::from_millis(300));
    assert_eq!(cache.get().await.unwrap(), None);
    // Stored meanwhile, but "none yet" is kept for the TTL ...
    let stored = scheduled_refresh(&app.wf, true).await.unwrap();
    assert_eq!(cache.get().await.unwrap(), None);
    // ... and then read again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let got = cache.get().await.unwrap().expect("read again");
    assert_eq!(*got, stored);
    let same = cache.get().await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&got, &same));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_reads_the_catalog_before_it_serves() {
    let app = spawn_app().start().await;
    let catalog = app
        .store()
        .image_catalog()
        .await
        .unwrap()
        .expect("read at start");
    let created: Vec<String> = app
        .sim
        .images()
        .into_iter()
        .filter(|i| i.status == "CREAT")
        .map(|i| i.no)
        .collect();
    assert!(!catalog.images.is_empty());
    assert!(
        catalog
            .images
            .iter()
            .all(|i| created.contains(&i.no.to_string())),
        "only shareable images: {catalog:?}"
    );
}
