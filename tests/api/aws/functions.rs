//! The AWS adapters against `moto_server`: the SQS worker function with partial batch failures
//! and a dead-letter queue, the scheduled sweep, and the Secrets Manager source (API and the
//! Parameters and Secrets extension), including a rotated key picked up after NCP refuses the old.

use crate::harness::aws::{aws_endpoint, dynamo_store, queue_arn, sdk_config, unique};
use crate::harness::ncp::test_ncp_config;
use crate::harness::workflow_app::*;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use ncp_share_approver::audit::{AuditEntry, AuditEvent};
use ncp_share_approver::clock::Clock as _;
use ncp_share_approver::domain::RequestState;
use ncp_share_approver::functions::{handle_batch, handle_schedule};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use ncp_share_approver::ncp::{CloudApi, NcpClient};
use ncp_share_approver::policy::Action;
use ncp_share_approver::queue::SqsQueue;
use ncp_share_approver::secrets::aws::{EXTENSION_TOKEN_HEADER, Extension};
use ncp_share_approver::secrets::{
    AwsSecrets, ExposeSecret, SecretName, SecretSource, SecretString,
};
use ncp_share_approver::store::{DynamoStore, Store, verify_ledger};
use ncp_share_approver::workflow::Worker;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A work queue with a dead-letter queue after `max_receives`, and a one-second visibility timeout.
async fn queues(sqs: &aws_sdk_sqs::Client, max_receives: u32) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq = sqs
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = queue_arn(sqs, &dlq).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let url = sqs
        .create_queue()
        .queue_name(unique("work"))
        .attributes(A::VisibilityTimeout, "1")
        .attributes(A::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, dlq)
}

/// What Lambda's event source mapping does: receive a batch, invoke the function, delete the
/// messages it did not report as failed. Returns the batch and the failed message ids.
async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    worker: &Worker,
) -> (Vec<SqsMessage>, Vec<String>) {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let records: Vec<SqsMessage> = received
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id.clone();
            r.receipt_handle = m.receipt_handle.clone();
            r.body = m.body.clone();
            r
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records.clone();
    let response = handle_batch(worker, event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    for m in &received {
        if !failed.contains(m.message_id.as_ref().unwrap()) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    (records, failed)
}

async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqs_worker_executes_once_and_returns_only_the_bad_message_which_ends_in_the_dead_letter_queue()
 {
    let Some(endpoint) = aws_endpoint("the SQS worker test") else {
        return;
    };
    let config = sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, dlq) = queues(&sqs, 2).await;
    let mut app = WorkflowApp::spawn().await;
    app.wf.store = Arc::new(dynamo_store(&endpoint).await);
    app.wf.queue = Arc::new(SqsQueue::new(sqs.clone(), &url));

    // Auto-approved, so the workflow queues it on SQS; the same hint again, and a bad message.
    let request = app.auto_share(GOLDEN_WEB, "dev@corp.example").await;
    assert_eq!(request.state, RequestState::Approved);
    SqsQueue::new(sqs.clone(), &url)
        .send(&request.id, request.trace_id.as_ref())
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("{\"not\": \"a work message\"}")
        .send()
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut failed = Vec::new();
    // Standard queues may hand the three out over more than one receive.
    for _ in 0..5 {
        let (batch, f) = deliver(&sqs, &url, &app.worker()).await;
        seen.extend(batch);
        failed.extend(f);
        if seen.len() >= 3 {
            break;
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let bad: Vec<&SqsMessage> = seen
        .iter()
        .filter(|m| m.body.as_deref().unwrap().contains("not"))
        .collect();
    assert_eq!(
        failed,
        vec![bad[0].message_id.clone().unwrap()],
        "only the bad message goes back"
    );

    let stored = app.wf.store.request(&request.id).await.unwrap().unwrap();
    assert_eq!(stored.state, RequestState::Succeeded);
    assert_eq!(app.add_calls(), 1, "two hints, one change on NCP");
    assert!(
        app.sim
            .shared_with(GOLDEN_WEB)
            .contains(&"dev@corp.example".to_string())
    );
    assert!(app.verify().await.is_ok());

    // The bad message comes back after the visibility timeout, fails again, then moves to the
    // dead-letter queue; the good ones never come back.
    let mut dead = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (batch, _) = deliver(&sqs, &url, &app.worker()).await;
        assert!(
            batch.iter().all(|m| m.message_id == bad[0].message_id),
            "{batch:?}"
        );
        dead = bodies(&sqs, &dlq).await;
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead, vec!["{\"not\": \"a work message\"}".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduled_sweep_expires_pending_requests_and_queues_approved_work_again() {
    let Some(endpoint) = aws_endpoint("the scheduled sweep test") else {
        return;
    };
    let config = sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, _) = queues(&sqs, 5).await;
    let mut app = WorkflowApp::spawn().await;
    app.wf.store = Arc::new(dynamo_store(&endpoint).await);

    // Approved while the queue was not there (the hint is lost) ...
    let approved = app.auto_share(GOLDEN_WEB, "dev@corp.example").await;
    // ... and one waiting for approvers past its TTL.
    let pending = app.partner_share().await;
    assert_eq!(pending.state, RequestState::Pending);
    app.advance(Duration::from_secs(5 * 3600));
    app.wf.queue = Arc::new(SqsQueue::new(sqs.clone(), &url));

    assert_eq!(app.wf.store.image_catalog().await.unwrap(), None);
    let summary = handle_schedule(&app.wf, json!({"task": "sweep"}))
        .await
        .unwrap();
    assert_eq!(
        summary,
        json!({"task": "sweep", "expired": 1, "reminded": 0, "revocations": 0, "overdue": 0, "queued": 1})
    );
    // The sweep refreshed the request form's image catalog from the simulator, into DynamoDB.
    let catalog = app
        .wf
        .store
        .image_catalog()
        .await
        .unwrap()
        .expect("refreshed");
    assert_eq!(catalog.refreshed_at, app.clock.now());
    let listed = app.wf.cloud.images().await.unwrap();
    assert!(listed.iter().any(|v| v.is_created()));
    assert_eq!(
        catalog,
        ncp_share_approver::domain::ImageCatalog::from_views(&listed, app.clock.now())
    );
    assert_eq!(
        app.wf
            .store
            .request(&pending.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        RequestState::Expired
    );
    // Queued again in its own trace, which the message carries to the worker.
    let trace = approved.trace_id.clone().expect("the request's trace");
    assert_eq!(
        bodies(&sqs, &url).await,
        vec![
            json!({"request_id": approved.id.to_string(), "trace_id": trace.to_string()})
                .to_string()
        ]
    );

    let reconcile = handle_schedule(&app.wf, json!({"task": "reconcile"}))
        .await
        .unwrap();
    assert_eq!(reconcile["task"], "reconcile");
    assert!(reconcile["ledger_records"].as_u64().unwrap() >= 3);
    assert!(
        handle_schedule(&app.wf, json!({"task": "defrag"}))
            .await
            .is_err()
    );
}

async fn secret(sm: &aws_sdk_secretsmanager::Client, value: serde_json::Value) -> String {
    let name = unique("nsa");
    sm.create_secret()
        .name(&name)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn a_rotated_ncp_key_is_read_again_after_ncp_refuses_the_cached_one() {
    let Some(endpoint) = aws_endpoint("the Secrets Manager rotation test") else {
        return;
    };
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&endpoint).await);
    let id = secret(
        &sm,
        json!({"NCP_ACCESS_KEY": DEMO_ACCESS_KEY, "NCP_SECRET_KEY": "the-old-key"}),
    )
    .await;
    let source = Arc::new(AwsSecrets::new(
        &id,
        sm.clone(),
        None,
        Duration::from_secs(300),
    ));
    let cached = source.get(SecretName::NcpSecretKey).await.unwrap().unwrap();
    assert_eq!(cached.expose_secret(), "the-old-key");

    // The key is rotated in Secrets Manager; the source still holds the old one (TTL 300 s).
    sm.put_secret_value()
        .secret_id(&id)
        .secret_string(
            json!({"NCP_ACCESS_KEY": DEMO_ACCESS_KEY, "NCP_SECRET_KEY": DEMO_SECRET_KEY})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let sim = ncp_share_approver::ncp::sim::Simulator::demo();
    let running = sim.spawn("127.0.0.1:0").await.unwrap();
    let client = NcpClient::new(&test_ncp_config(&running.base_url), source.clone()).unwrap();
    let image = client
        .image(&ncp_share_approver::domain::ImageNo::parse(GOLDEN_WEB).unwrap())
        .await
        .expect("NCP refuses the old key once, the new key is read, the call succeeds");
    assert_eq!(image.no.as_str(), GOLDEN_WEB);
    let now = source.get(SecretName::NcpSecretKey).await.unwrap().unwrap();
    assert_eq!(now.expose_secret(), DEMO_SECRET_KEY);
}

#[derive(Clone)]
struct FakeExtension {
    token: &'static str,
    value: String,
    hits: Arc<AtomicUsize>,
}

async fn extension_get(
    State(fake): State<FakeExtension>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<String, StatusCode> {
    if headers
        .get(EXTENSION_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        != Some(fake.token)
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    fake.hits.fetch_add(1, Ordering::SeqCst);
    Ok(json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        "Name": q.get("secretId").cloned().unwrap_or_default(),
        "SecretString": fake.value,
        "VersionId": "v1",
    })
    .to_string())
}

/// A stand-in for the Parameters and Secrets extension that serves a fixed (cached) value.
async fn fake_extension(
    token: &'static str,
    value: serde_json::Value,
) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let fake = FakeExtension {
        token,
        value: value.to_string(),
        hits: hits.clone(),
    };
    let app = axum::Router::new()
        .route("/secretsmanager/get", axum::routing::get(extension_get))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn the_extension_is_asked_first_and_a_refresh_goes_past_its_cache_to_the_api() {
    let Some(endpoint) = aws_endpoint("the Secrets extension test") else {
        return;
    };
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&endpoint).await);
    let id = secret(&sm, json!({"SLACK_BOT_TOKEN": "xoxb-new"})).await;
    let (base_url, hits) =
        fake_extension("session-token", json!({"SLACK_BOT_TOKEN": "xoxb-old"})).await;
    let source = AwsSecrets::new(
        &id,
        sm.clone(),
        Some(Extension {
            base_url,
            token: SecretString::from("session-token".to_string()),
        }),
        Duration::from_secs(300),
    );
    let token = |s: Option<SecretString>| s.unwrap().expose_secret().to_string();
    assert_eq!(
        token(source.get(SecretName::SlackBotToken).await.unwrap()),
        "xoxb-old"
    );
    assert_eq!(
        token(source.get(SecretName::SlackBotToken).await.unwrap()),
        "xoxb-old"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "cached for the TTL");

    source.refresh().await;
    assert_eq!(
        token(source.get(SecretName::SlackBotToken).await.unwrap()),
        "xoxb-new"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the refresh read went to the API"
    );
    assert!(
        source
            .get(SecretName::JiraApiToken)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn without_the_extension_or_with_a_wrong_token_the_errors_hold_no_secret() {
    let Some(endpoint) = aws_endpoint("the Secrets extension fallback test") else {
        return;
    };
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&endpoint).await);
    let id = secret(&sm, json!({"WEBHOOK_SECRET": "whsec_from_api"})).await;

    // No extension listening: the API answers.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let absent = AwsSecrets::new(
        &id,
        sm.clone(),
        Some(Extension {
            base_url,
            token: SecretString::from("t".to_string()),
        }),
        Duration::from_secs(300),
    );
    let got = absent
        .get(SecretName::WebhookSecret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expose_secret(), "whsec_from_api");

    // The extension refuses the token: an error naming the secret, not a value or the token.
    let (base_url, _) = fake_extension("right-token", json!({"WEBHOOK_SECRET": "x"})).await;
    let refused = AwsSecrets::new(
        &id,
        sm.clone(),
        Some(Extension {
            base_url,
            token: SecretString::from("wrong-token-value".to_string()),
        }),
        Duration::from_secs(300),
    );
    let err = refused
        .get(SecretName::WebhookSecret)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&id) && err.contains("401"), "{err}");
    assert!(!err.contains("wrong-token-value"), "{err}");

    // A secret that does not exist.
    let missing = AwsSecrets::new("nsa-no-such-secret", sm, None, Duration::from_secs(300));
    let err = missing
        .get(SecretName::WebhookSecret)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nsa-no-such-secret"), "{err}");
}

fn entry(actor: &str, request_id: Option<String>) -> AuditEntry {
    AuditEntry {
        at: chrono::Utc::now(),
        event: AuditEvent::Decided,
        actor: actor.into(),
        request_id,
        fingerprint: None,
        rule: None,
        policy_hash: None,
        detail: "race".into(),
        sig: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_ledger_make_one_chain_and_win_each_version_once() {
    let Some(endpoint) = aws_endpoint("the two-process DynamoDB ledger test") else {
        return;
    };
    // Two store instances stand for two Lambda instances: each serialises only its own appends,
    // so the head item's condition is what keeps their chains one.
    let a = dynamo_store(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
    let b = DynamoStore::new(client, a.tables().clone());
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];

    let mut request = app_request();
    request.version = 1;
    stores[0].insert_request(&request).await.unwrap();
    const TASKS: usize = 4;
    const EACH: usize = 6;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = stores[t % 2].clone();
            let id = request.id.clone();
            tokio::spawn(async move {
                let mut won = Vec::new();
                for i in 0..EACH {
                    // Plain appends and audited updates, interleaved.
                    store
                        .append_audit(entry(&format!("p{t}:{i}"), None))
                        .await
                        .unwrap();
                    loop {
                        let mut cur = store.request(&id).await.unwrap().unwrap();
                        cur.attempts += 1;
                        let e = entry(&format!("u{t}:{i}"), Some(id.to_string()));
                        if let Some((stored, _)) =
                            store.update_request_audited(&cur, e).await.unwrap()
                        {
                            won.push(stored.version);
                            break;
                        }
                    }
                }
                won
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.extend(t.await.unwrap());
    }
    versions.sort_unstable();
    let total = (TASKS * EACH) as u64;
    assert_eq!(versions, (2..2 + total).collect::<Vec<_>>());
    assert_eq!(
        verify_ledger(stores[1].as_ref()).await.unwrap(),
        Ok(2 * total),
        "one gap-free chain"
    );
    assert_eq!(
        stores[0]
            .audit_for_request(&request.id)
            .await
            .unwrap()
            .len() as u64,
        total,
        "every audited update has exactly one record"
    );
}

/// A request to race on (the details do not matter to the store).
fn app_request() -> ncp_share_approver::domain::ShareRequest {
    let now = chrono::Utc::now();
    ncp_share_approver::domain::ShareRequest {
        id: ncp_share_approver::domain::RequestId::random(),
        version: 1,
        state: RequestState::Approved,
        origin: ncp_share_approver::domain::Origin::Cli,
        requester: who(CAROL),
        requester_person: None,
        image_no: ncp_share_approver::domain::ImageNo::parse(GOLDEN_WEB).unwrap(),
        image_name: "golden-web".into(),
        hypervisor: None,
        region: "KR".into(),
        action: Action::Share,
        targets: ids(&["a@partner.example"]),
        duration: None,
        reason: None,
        shared_with_when_asked: Vec::new(),
        fingerprint: "f".repeat(64),
        policy_hash: "p".repeat(64),
        rule: None,
        approvers: Vec::new(),
        min_approvals: 1,
        allow_self_approval: false,
        approval_channel: None,
        works_channel: None,
        created_at: now,
        updated_at: now,
        expires_at: now,
        attempts: 0,
        outcome: None,
        lifecycle: Default::default(),
        trace_id: None,
    }
}
