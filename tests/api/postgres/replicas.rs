//! Two (or three) processes on one database, in this test process: each an `Application` with
//! its own pool, listener and worker, sharing the NCP simulator and the fake Slack.

use crate::harness::fixtures::*;
use crate::harness::postgres::{postgres_url, store_config, unique_schema};
use crate::harness::{App, spawn_app};
use ncp_share_approver::audit::AuditEvent;
use ncp_share_approver::clock::SystemClock;
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::startup::{Built, SWEEP_LEASE, build_state};
use ncp_share_approver::store::{Store, all_records, verify_ledger};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The app on a fresh schema of the test database, with `change` applied; `None` when skipped.
async fn app_on_postgres(
    what: &str,
    change: impl FnOnce(&mut ncp_share_approver::config::Config) + 'static,
) -> Option<App> {
    let url = postgres_url(what)?;
    let schema = unique_schema();
    Some(
        spawn_app()
            .configure(move |c| {
                c.store = store_config(&url, &schema);
                change(c);
            })
            .start()
            .await,
    )
}

/// Waits until every one of `ids` is in `state` (or `deadline` passes).
async fn wait_all(store: &dyn Store, ids: &[RequestId], state: RequestState, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let mut left = Vec::new();
        for id in ids {
            let r = store.request(id).await.unwrap().unwrap();
            if r.state != state {
                left.push(format!("{id} {}", r.state));
            }
        }
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not {state} after {deadline:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many successful NCP share changes named each target.
fn changes_per_target(t: &App) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for c in t.sim.calls() {
        if c.operation.starts_with("add") && c.status == 200 {
            for (_, v) in &c.params {
                if v.ends_with("@partner.example") {
                    *per.entry(v.clone()).or_default() += 1;
                }
            }
        }
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_the_work_and_execute_every_request_exactly_once() {
    let Some(t) = app_on_postgres("two replicas on one database", |c| {
        c.worker.poll_interval_secs = 1;
        c.outbox.slack_interval_ms = 10;
    })
    .await
    else {
        return;
    };
    let b = t.replica().await;
    let replicas = [t.app.addr(), b.addr()];
    // 16 requests on 3 images, each for a target of its own, submitted through both replicas.
    let images = ["1234567", "2345678", "4567890"];
    let mut ids = Vec::new();
    for i in 0..16 {
        let text = format!(
            "{} with p{i}@partner.example for 7d because replicas",
            images[i % 3]
        );
        let res = t
            .send_to(replicas[i % 2], &t.command_delivery(CAROL, &text))
            .await;
        assert_eq!(res.status(), 200);
        let reply: serde_json::Value = res.json().await.unwrap();
        ids.push(RequestId::parse(&request_id_in(&reply.to_string())).unwrap());
    }
    // Two approvals each, through different replicas, all at once: the last approval of a
    // request may land on either.
    let mut clicks = tokio::task::JoinSet::new();
    let t = Arc::new(t);
    for (i, id) in ids.iter().enumerate() {
        for (who, n) in [(ALICE, i), (BOB, i + 1)] {
            let (t, id, to) = (t.clone(), id.to_string(), replicas[n % 2]);
            clicks.spawn(async move {
                let res = t.send_to(to, &t.click_delivery(who, "approve", &id)).await;
                assert_eq!(res.status(), 200);
            });
        }
    }
    while let Some(done) = clicks.join_next().await {
        done.unwrap();
    }
    let store = t.store();
    wait_all(
        store.as_ref(),
        &ids,
        RequestState::Succeeded,
        Duration::from_secs(60),
    )
    .await;

    // Exactly once: one NCP change per target, one end record per request, and every target
    // shared.
    let per = changes_per_target(&t);
    assert_eq!(per.len(), 16, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    for (i, image) in images.iter().enumerate() {
        let mut expected: Vec<String> = (0..16)
            .filter(|n| n % 3 == i)
            .map(|n| format!("p{n}@partner.example"))
            .collect();
        let mut shared = t.sim.shared_with(image);
        expected.sort();
        shared.sort();
        assert_eq!(shared, expected, "image {image}");
    }
    let records = all_records(store.as_ref()).await.unwrap();
    for id in &ids {
        let ends = records
            .iter()
            .filter(|r| r.entry.request_id.as_deref() == Some(id.as_str()))
            .filter(|r| matches!(r.entry.event, AuditEvent::Succeeded | AuditEvent::Failed))
            .count();
        assert_eq!(ends, 1, "{id}");
    }
    assert_eq!(
        verify_ledger(store.as_ref()).await.unwrap(),
        Ok(records.len() as u64)
    );
    // Every message delivered, each card posted once (the two dispatchers share the lanes).
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.outbox_pending_count().await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < until, "messages still owed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = store
        .outbox(ncp_share_approver::store::OutboxQuery {
            status: Some(ncp_share_approver::workflow::outbox::OutboxStatus::Failed),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let posts = t.slack.calls_to("chat.postMessage");
    for id in &ids {
        let cards = posts
            .iter()
            .filter(|c| c.body["channel"] == APPROVALS && c.body["thread_ts"].is_null())
            .filter(|c| c.body.to_string().contains(id.as_str()))
            .count();
        assert_eq!(cards, 1, "the card of {id}");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_by_another_process_wakes_a_replica_without_waiting_for_its_polls() {
    // The replica polls once an hour: only the database's notifications can wake it.
    let Some(t) = app_on_postgres("notifications across processes", |c| {
        c.worker.poll_interval_secs = 3600;
        c.outbox.poll_ms = 3_600_000;
    })
    .await
    else {
        return;
    };
    // Another process on the same database that answers HTTP but runs neither a worker nor a
    // dispatcher (what it approves and owes is left to the replica).
    let Built { state, .. } =
        build_state(&t.config, Arc::new(slack_secrets()), Arc::new(SystemClock))
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, ncp_share_approver::http::app(state))
            .await
            .unwrap();
    });

    let res = t
        .send_to(
            front,
            &t.command_delivery(CAROL, "2345678 with n1@partner.example for 1d because wake"),
        )
        .await;
    let reply: serde_json::Value = res.json().await.unwrap();
    let id = request_id_in(&reply.to_string());
    // The card the other process owes is posted by the replica's dispatcher.
    assert!(
        t.slack
            .wait_for(
                |c| c.iter().any(|c| c.method == "chat.postMessage"
                    && c.body["channel"] == APPROVALS
                    && c.body.to_string().contains(&id)),
                Duration::from_secs(5),
            )
            .await,
        "the replica's dispatcher was not woken"
    );
    for who in [ALICE, BOB] {
        let res = t
            .send_to(front, &t.click_delivery(who, "approve", &id))
            .await;
        assert_eq!(res.status(), 200);
    }
    // Approved by the other process: the replica's worker executes it.
    let ids = [RequestId::parse(&id).unwrap()];
    wait_all(
        t.store().as_ref(),
        &ids,
        RequestState::Succeeded,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(t.sim.shared_with("2345678"), ["n1@partner.example"]);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_runs_only_under_its_lease() {
    let Some(t) = app_on_postgres("the sweep's lease", |c| {
        c.worker.expire_interval_secs = 1;
    })
    .await
    else {
        return;
    };
    let store = t.store();
    // Another replica is sweeping (it holds the lease for a minute).
    let now = chrono::Utc::now();
    assert!(
        store
            .acquire_lease(SWEEP_LEASE, "sweep-elsewhere", now, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let reply = t
        .command(
            CAROL,
            "1234567 with late@partner.example for 1d because sweep",
        )
        .await;
    let id = RequestId::parse(&request_id_in(&reply.to_string())).unwrap();
    let mut r = store.request(&id).await.unwrap().unwrap();
    r.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    store.update_request(&r).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        store.request(&id).await.unwrap().unwrap().state,
        RequestState::Pending,
        "this replica did not sweep while another held the lease"
    );
    store
        .release_lease(SWEEP_LEASE, "sweep-elsewhere")
        .await
        .unwrap();
    wait_all(
        store.as_ref(),
        &[id],
        RequestState::Expired,
        Duration::from_secs(5),
    )
    .await;
}
