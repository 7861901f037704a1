//! The fault suite's CI part: NCP misbehaving while many approved requests run. Every request
//! ends `Succeeded` or `Failed`, reported and in the ledger; none is lost, none runs twice.
//! (`bench/faults.sh` adds the kill -9 part against the real binary.)

use crate::harness::workflow_app::*;
use ncp_share_approver::audit::AuditEvent;
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::ncp::sim::Faults;
use std::collections::HashMap;
use std::time::Duration;

const IMAGES: [&str; 4] = ["1234567", "2345678", "3456789", "4567890"];

/// Drains the store with several workers until no approved or executing request is left.
async fn run_workers_until_done(app: &WorkflowApp, workers: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let pending = app.worker().pending_work().await.unwrap();
        if pending.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} requests still pending",
            pending.len()
        );
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let w = app.worker();
                tokio::spawn(async move { w.drain().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_requests_under_503s_429s_and_latency_spikes_all_end_once_and_none_is_lost() {
    let app = WorkflowApp::spawn().await;
    let mut ids: Vec<(RequestId, String, String)> = Vec::new();
    for i in 0..200 {
        let image = IMAGES[i % IMAGES.len()];
        let target = format!("f{i}@corp.example");
        let r = app.auto_share(image, &target).await;
        assert_eq!(r.state, RequestState::Approved);
        ids.push((r.id, image.to_string(), target));
    }
    // 30% 503, 10% 429, and latency that jumps between 1 ms and 60 ms while the workers run.
    app.sim.set_faults(Faults {
        latency: Duration::from_millis(1),
        rate_429: 0.10,
        rate_503: 0.30,
    });
    let sim = app.sim.clone();
    let spikes = tokio::spawn(async move {
        for n in 0u64.. {
            let latency = Duration::from_millis(if n % 5 == 4 { 60 } else { 1 });
            sim.set_faults(Faults {
                latency,
                rate_429: 0.10,
                rate_503: 0.30,
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    run_workers_until_done(&app, 4).await;
    spikes.abort();
    app.sim.set_faults(Faults::default());

    let mut outcomes: HashMap<RequestState, usize> = HashMap::new();
    for (id, image, target) in &ids {
        let r = app.stored(id).await;
        *outcomes.entry(r.state).or_default() += 1;
        let succeeded = app.count_events(id, AuditEvent::Succeeded).await;
        let failed = app.count_events(id, AuditEvent::Failed).await;
        match r.state {
            RequestState::Succeeded => {
                assert_eq!((succeeded, failed), (1, 0), "{id}: exactly one end");
                assert!(app.sim.shared_with(image).contains(target), "{id}: shared");
            }
            RequestState::Failed => {
                assert_eq!((succeeded, failed), (0, 1), "{id}: exactly one end");
                let o = r.outcome.expect("a failed request says why");
                assert!(o.message.contains("NCP"), "{id}: {}", o.message);
            }
            other => panic!("{id} was left {other}"),
        }
        let names = app.notifier.names_for(id);
        assert!(
            names.contains(&"succeeded") || names.contains(&"failed"),
            "{id}: the outcome was reported: {names:?}"
        );
    }
    let succeeded = outcomes.get(&RequestState::Succeeded).copied().unwrap_or(0);
    let failed = outcomes.get(&RequestState::Failed).copied().unwrap_or(0);
    eprintln!(
        "fault suite: 200 approved, {succeeded} succeeded, {failed} failed, 0 lost, 0 executed twice"
    );
    assert_eq!(succeeded + failed, 200, "none lost");
    assert!(
        succeeded > 100,
        "retries carry most requests through: {succeeded}"
    );
    assert!(app.verify().await.is_ok(), "the ledger verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_approved_requests_on_one_image_all_land() {
    let app = WorkflowApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            app.auto_share(GOLDEN_WEB, &format!("c{i}@corp.example"))
                .await
                .id,
        );
    }
    // Fifty executions at once, each from its own worker: the image lease serialises them.
    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let w = app.worker();
            tokio::spawn(async move { w.execute(&id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    run_workers_until_done(&app, 2).await;
    let shared = app.sim.shared_with(GOLDEN_WEB);
    assert_eq!(shared.len(), 50, "all 50 targets present");
    for id in &ids {
        assert_eq!(app.stored(id).await.state, RequestState::Succeeded);
    }
    assert_eq!(app.add_calls(), 50, "one change per request");
    assert!(app.verify().await.is_ok());
}
