//! Logs belong to their delivery: 50 deliveries at once across every front door (Slack commands
//! and clicks, Jira issues and comments, webhook events, NAVER WORKS messages), with the
//! service's JSON logs captured as production writes them (`telemetry::json_subscriber`). Every
//! line that names a delivery names the request that delivery served, and only it: a front
//! door's `delivery_id` maps to the request the test made or acted on, an outbox entry's
//! (`ob_…`) to the entry's request in the store, the worker's (`queue:SR-…`) to its own. No
//! line names a request outside a delivery, and every delivery has its line. Every line about a
//! request names the request's trace (`trace_id`), each request's its own.

use crate::harness::fixtures::*;
use crate::harness::log_buffer::LogBuffer;
use crate::harness::{App, spawn_app};
use crate::spoofing::ALL_DOORS_POLICY;
use ncp_share_approver::domain::RequestId;
use ncp_share_approver::telemetry::{delivery_log_id, json_subscriber};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// What one delivery is, for the burst.
#[derive(Clone)]
enum Sent {
    SlackCommand(crate::harness::app::Delivery),
    SlackClick(crate::harness::app::Delivery),
    Jira(Value, String),
    Webhook(Value, String),
    Works(Vec<u8>),
}

/// The delivery's id as the service logs it.
fn log_id(send: &Sent) -> String {
    match send {
        Sent::SlackCommand(d) | Sent::SlackClick(d) => {
            delivery_log_id(&format!("slack:{}", d.signature))
        }
        Sent::Jira(_, id) => format!("jira:{id}"),
        Sent::Webhook(_, id) => format!("webhook:servicenow:{id}"),
        Sent::Works(body) => {
            use sha2::Digest as _;
            format!("works:{}", hex::encode(sha2::Sha256::digest(body)))
        }
    }
}

async fn deliver(t: &App, send: &Sent) -> u16 {
    match send {
        Sent::SlackCommand(d) | Sent::SlackClick(d) => t.send(d).await.status().as_u16(),
        Sent::Jira(event, id) => t.jira_send_as(event.to_string().as_bytes(), id).await.0,
        Sent::Webhook(body, id) => t.webhook_send_as(body.to_string().as_bytes(), id).await.0,
        Sent::Works(body) => t.works_send_raw(body, &[]).await,
    }
}

fn issue_fields(target: &str) -> Value {
    json!({
        "customfield_10050": "1234567",
        "customfield_10051": target,
        "customfield_10052": {"value": "7d"},
        "customfield_10053": "partner pilot",
    })
}

fn requested(target: &str) -> Value {
    json!({
        "type": "share.requested",
        "ticket": {"system": "servicenow", "id": format!("RITM-{target}")},
        "requester": "servicenow:sn-carol",
        "image_no": "1234567",
        "targets": [target],
        "duration": "7d",
        "reason": "partner pilot",
    })
}

/// The request whose only target is `target`.
async fn request_for(t: &App, target: &str) -> RequestId {
    t.store()
        .requests(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.targets.len() == 1 && r.targets[0].as_str() == target)
        .unwrap_or_else(|| panic!("no request for {target}"))
        .id
}

#[test]
fn fifty_concurrent_deliveries_log_only_their_own_delivery_and_request() {
    let buffer = LogBuffer::default();
    let dispatch = tracing::Dispatch::new(json_subscriber(
        EnvFilter::new("info,ncp_share_approver=debug"),
        buffer.clone(),
        true,
    ));
    // A second registered dispatcher, alive for the test. With exactly one registered,
    // tracing decides whether a callsite is enabled from the default dispatcher of whichever
    // thread first reaches it, and caches that for the process: another test's thread (no
    // subscriber) reaching the `http` span first would disable it here too. With two, every
    // callsite asks every registered dispatcher, ours included.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    // Every thread of this runtime (workers and the blocking pool, where the store runs) logs
    // to the capture; nothing else in the test binary does.
    // What the other tests of this binary do at any moment: an app on a thread with no
    // subscriber reaches the service's callsites first. Done here on purpose, so that the
    // capture is shown immune to it every run, not only when the tests happen to race.
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let other = spawn_app().start().await;
                let _ = other.command(CAROL, "help").await;
            })
    })
    .join()
    .unwrap();
    let on_start = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_start)))
        .build()
        .unwrap();
    let (expected, store_of_entries, t) = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            let t = spawn_app()
                .with_tickets()
                .with_works()
                .policy(ALL_DOORS_POLICY)
                .start()
                .await;
            // delivery_id -> the request it served.
            let mut expected: BTreeMap<String, RequestId> = BTreeMap::new();

            // Requests to act on in the burst, one door each.
            let mut slack_pending = Vec::new();
            let mut jira_pending = Vec::new();
            let mut webhook_pending = Vec::new();
            for i in 0..5 {
                let target = format!("setup-slack-{i}@partner.example");
                let d = t.command_delivery(
                    CAROL,
                    &format!("1234567 with {target} for 7d because setup"),
                );
                assert_eq!(deliver(&t, &Sent::SlackCommand(d.clone())).await, 200);
                let id = request_for(&t, &target).await;
                expected.insert(log_id(&Sent::SlackCommand(d)), id.clone());
                slack_pending.push(id);

                let key = format!("SHARE-10{i}");
                let target = format!("setup-jira-{i}@partner.example");
                let event = t.jira.create_issue(&key, J_CAROL, issue_fields(&target));
                let send = Sent::Jira(event, format!("setup-create-{i}"));
                assert_eq!(deliver(&t, &send).await, 200);
                let id = request_for(&t, &target).await;
                expected.insert(log_id(&send), id.clone());
                jira_pending.push((key, id));

                let target = format!("setup-hook-{i}@partner.example");
                let send = Sent::Webhook(requested(&target), format!("setup-msg-{i}"));
                assert_eq!(deliver(&t, &send).await, 200);
                let id = request_for(&t, &target).await;
                expected.insert(log_id(&send), id.clone());
                webhook_pending.push(id);
            }
            t.deliver_all().await;

            // The burst: 50 deliveries at once.
            let mut burst: Vec<(Sent, Option<RequestId>, Option<String>)> = Vec::new();
            for i in 0..10 {
                let target = format!("slack-{i}@partner.example");
                let d = t.command_delivery(
                    CAROL,
                    &format!("1234567 with {target} for 7d because load {i}"),
                );
                burst.push((Sent::SlackCommand(d), None, Some(target)));
            }
            for id in &slack_pending {
                let d = t.click_delivery(ALICE, "approve", id.as_str());
                burst.push((Sent::SlackClick(d), Some(id.clone()), None));
            }
            for i in 0..10 {
                let key = format!("SHARE-20{i}");
                let target = format!("jira-{i}@partner.example");
                let event = t.jira.create_issue(&key, J_CAROL, issue_fields(&target));
                burst.push((
                    Sent::Jira(event, format!("burst-create-{i}")),
                    None,
                    Some(target),
                ));
            }
            for (i, (key, id)) in jira_pending.iter().enumerate() {
                let event = t.jira.comment_by(key, J_ALICE, "/approve");
                burst.push((
                    Sent::Jira(event, format!("burst-approve-{i}")),
                    Some(id.clone()),
                    None,
                ));
            }
            for i in 0..10 {
                let target = format!("hook-{i}@partner.example");
                burst.push((
                    Sent::Webhook(requested(&target), format!("burst-msg-{i}")),
                    None,
                    Some(target),
                ));
            }
            for (i, id) in webhook_pending.iter().enumerate() {
                let fingerprint = t.store().request(id).await.unwrap().unwrap().fingerprint;
                let body = json!({
                    "type": "share.approved",
                    "request_id": id.as_str(),
                    "actor": "servicenow:sn-alice",
                    "fingerprint": fingerprint,
                });
                burst.push((
                    Sent::Webhook(body, format!("burst-approve-{i}")),
                    Some(id.clone()),
                    None,
                ));
            }
            for i in 0..5 {
                let target = format!("works-{i}@partner.example");
                let body = t
                    .works_text(
                        W_CAROL,
                        &format!("1234567 with {target} for 7d because load {i}"),
                    )
                    .to_string()
                    .into_bytes();
                burst.push((Sent::Works(body), None, Some(target)));
            }
            assert_eq!(burst.len(), 50);
            let t = Arc::new(t);
            let mut tasks = tokio::task::JoinSet::new();
            for (send, _, _) in &burst {
                let (t, send) = (t.clone(), send.clone());
                tasks.spawn(async move { deliver(&t, &send).await });
            }
            let statuses = tasks.join_all().await;
            assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
            t.deliver_all().await;
            for (send, known, target) in &burst {
                let id = match (known, target) {
                    (Some(id), _) => id.clone(),
                    (None, Some(target)) => request_for(&t, target).await,
                    _ => unreachable!(),
                };
                expected.insert(log_id(send), id);
            }
            // Every outbox entry the lines may name, with its request.
            let entries: BTreeMap<String, Option<String>> = t
                .store()
                .outbox(ncp_share_approver::store::OutboxQuery {
                    request: None,
                    status: None,
                    limit: 100_000,
                })
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.id, e.request_id.map(|r| r.to_string())))
                .collect();
            // Every request's trace, as stored.
            let traces: BTreeMap<String, String> = t
                .store()
                .requests(None, 100_000)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id.to_string(), r.trace_id.expect("a trace").to_string()))
                .collect();
            (expected, (entries, traces), t)
        })
    });
    let (store_of_entries, traces) = store_of_entries;
    // Each request was created by its own delivery, in a trace of its own.
    let distinct: BTreeSet<&String> = traces.values().collect();
    assert_eq!(distinct.len(), traces.len(), "{traces:?}");
    drop(t);
    drop(runtime);

    let text = buffer.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut outside: BTreeMap<String, usize> = BTreeMap::new();
    for line in &lines {
        let delivery = line.get("delivery_id").and_then(Value::as_str);
        let request = line.get("request_id").and_then(Value::as_str);
        // A line about a request names the request's trace: concurrent deliveries never lend
        // each other theirs.
        if let Some(r) = request {
            assert_eq!(
                line.get("trace_id").and_then(Value::as_str),
                Some(traces[r].as_str()),
                "the request's trace: {line}"
            );
        }
        match delivery {
            Some(d) if d.starts_with("ob_") => {
                let owner = store_of_entries
                    .get(d)
                    .unwrap_or_else(|| panic!("an outbox id the store does not have: {line}"));
                assert_eq!(request, owner.as_deref(), "the entry's request: {line}");
            }
            Some(d) if d.starts_with("queue:") => {
                assert_eq!(request, Some(&d["queue:".len()..]), "{line}");
            }
            Some(d) => {
                let id = expected
                    .get(d)
                    .unwrap_or_else(|| panic!("a delivery the test did not send: {line}"));
                assert_eq!(
                    request,
                    Some(id.as_str()),
                    "a front door's line names the request its delivery served: {line}"
                );
                // One span per request: never another delivery's stacked on it.
                assert_eq!(line["spans"], "http", "{line}");
                seen.insert(d.to_owned());
            }
            None => {
                if let Some(r) = request {
                    let same: Vec<String> = lines
                        .iter()
                        .filter(|l| l["request_id"] == r)
                        .map(|l| l.to_string())
                        .collect();
                    let ours: Vec<&String> = expected
                        .iter()
                        .filter(|(_, id)| id.as_str() == r)
                        .map(|(d, _)| d)
                        .collect();
                    let of_ours: Vec<String> = lines
                        .iter()
                        .filter(|l| ours.iter().any(|d| l["delivery_id"] == d.as_str()))
                        .map(|l| l.to_string())
                        .collect();
                    panic!(
                        "a request's line outside any delivery: {line}\nthe request's lines:\n{}\nits deliveries {ours:?}:\n{}",
                        same.join("\n"),
                        of_ours.join("\n")
                    );
                }
                *outside
                    .entry(format!(
                        "{} {}",
                        line["target"].as_str().unwrap_or_default(),
                        line["message"].as_str().unwrap_or_default()
                    ))
                    .or_default() += 1;
            }
        }
    }
    // Every delivery has its lines (at least the answer's).
    let missing: Vec<&String> = expected.keys().filter(|d| !seen.contains(*d)).collect();
    assert!(missing.is_empty(), "deliveries without a line: {missing:?}");
    // What logs outside a delivery is the process's own work (start, catalog), never a request's.
    for what in outside.keys() {
        assert!(
            !what.contains("SR-"),
            "a line about a request outside its delivery: {what}"
        );
    }
    eprintln!(
        "{} lines, {} deliveries, outside any delivery: {outside:?}",
        lines.len(),
        expected.len()
    );
}
