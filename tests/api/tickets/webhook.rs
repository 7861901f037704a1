//! The generic signed webhook end to end: Standard Webhooks in, signed callbacks out, against
//! the running service, the NCP simulator and a fake callback receiver.

use crate::harness::fixtures::*;
use crate::harness::{App, spawn_app};
use axum::http::HeaderMap;
use ncp_share_approver::domain::RequestState;
use ncp_share_approver::secrets::SecretString;
use serde_json::{Value, json};

fn requested(targets: &[&str], callback: Option<String>) -> Value {
    let mut v = json!({
        "type": "share.requested",
        "ticket": {"system": "servicenow", "id": "RITM0012345"},
        "requester": "servicenow:sn-carol",
        "image_no": "1234567",
        "targets": targets,
        "duration": "7d",
        "reason": "partner pilot",
    });
    if let Some(url) = callback {
        v["callback_url"] = json!(url);
    }
    v
}

fn acted(kind: &str, id: &str, actor: &str) -> Value {
    json!({"type": kind, "request_id": id, "actor": actor})
}

/// The request's fingerprint as the store has it (what the approver was shown), or a
/// well-formed one for an id the store does not know.
async fn fingerprint(t: &App, id: &str) -> String {
    let rid = ncp_share_approver::domain::RequestId::parse(id).unwrap();
    match t.store().request(&rid).await.unwrap() {
        Some(r) => r.fingerprint,
        None => "0".repeat(64),
    }
}

/// Sends `kind` by `actor` on `id` with the request's fingerprint, through `/webhook`.
async fn act(t: &App, kind: &str, id: &str, actor: &str) -> (u16, Value) {
    let mut event = acted(kind, id, actor);
    if kind != "share.cancelled" {
        event["fingerprint"] = json!(fingerprint(t, id).await);
    }
    t.webhook_send(&event).await
}

/// Checks a callback's Standard Webhooks signature with our own verifier.
fn verify_callback(headers: &HeaderMap, body: &[u8]) {
    ncp_share_approver::verify::standard_webhooks::verify_at(
        &[SecretString::from(WEBHOOK_SECRET)],
        headers,
        body,
        chrono::Utc::now().timestamp(),
    )
    .expect("the callback is signed with WEBHOOK_SECRET");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_generic_request_is_approved_two_of_m_and_every_step_is_called_back_signed() {
    let t = spawn_app().with_tickets().start().await;
    let cb = format!("{}/servicenow/cb", t.receiver.base);
    let (status, body) = t
        .webhook_send(&requested(&["a@partner.example"], Some(cb)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "pending");
    assert_eq!(body["min_approvals"], 2);
    let id = body["request_id"].as_str().unwrap().to_string();
    let r = t
        .store()
        .request(&ncp_share_approver::domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.requester.to_string(), "servicenow:sn-carol");
    assert_eq!(r.requester_person.unwrap().as_str(), "carol");

    let (s, b) = act(&t, "share.approved", &id, "servicenow:sn-alice").await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("counted")), "{b}");
    let (_, b) = act(&t, "share.approved", &id, "servicenow:sn-alice").await;
    assert_eq!(b["outcome"], "already_counted");
    // The requester cannot approve her own request.
    let (_, b) = act(&t, "share.approved", &id, "servicenow:sn-carol").await;
    assert_eq!(b["outcome"], "not_allowed");
    let (_, b) = act(&t, "share.approved", &id, "servicenow:sn-dave").await;
    assert_eq!(b["outcome"], "approved");

    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(t.sim.shared_with("1234567"), vec!["a@partner.example"]);
    assert!(t.receiver.wait_for(|v| v["notice"] == "succeeded").await);
    let notices: Vec<String> = t
        .receiver
        .delivered()
        .iter()
        .map(|v| v["notice"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        notices,
        ["submitted", "approval_added", "approved", "succeeded"]
    );
    let last = t.receiver.delivered().pop().unwrap();
    assert_eq!(last["request_id"], id.as_str());
    assert_eq!(
        last["ticket"],
        json!({"system": "servicenow", "id": "RITM0012345"})
    );
    assert_eq!(last["state"], "succeeded");
    assert_eq!(last["shared_with_after"], json!(["a@partner.example"]));
    // Every callback is in the request's trace (W3C `traceparent`), each with a span of its own.
    let trace = r.trace_id.expect("the request's trace").to_string();
    let mut spans = std::collections::BTreeSet::new();
    for (headers, body, _) in t.receiver.calls() {
        verify_callback(&headers, &body);
        let parent = headers["traceparent"].to_str().unwrap();
        let parsed = ncp_share_approver::domain::TraceParent::parse(parent)
            .unwrap_or_else(|| panic!("a valid traceparent: {parent}"));
        assert_eq!(parsed.trace_id.as_str(), trace, "{parent}");
        assert!(
            parent.starts_with("00-") && parent.ends_with("-01"),
            "{parent}"
        );
        assert!(
            spans.insert(parsed.parent_id.as_str().to_string()),
            "{parent}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_to_a_host_that_is_not_allowed_is_refused_at_submission() {
    let t = spawn_app().with_tickets().start().await;
    for url in [
        "https://evil.example/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://tickets.corp.example/hook",
    ] {
        let (status, body) = t
            .webhook_send(&requested(&["a@partner.example"], Some(url.into())))
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(body.as_str().unwrap().contains("callback_url"), "{body}");
    }
    let (_, body) = t
        .webhook_send(&requested(
            &["a@partner.example"],
            Some("https://evil.example/x".into()),
        ))
        .await;
    assert!(body.as_str().unwrap().contains("callback_hosts"), "{body}");
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());
    assert!(t.receiver.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_receiver_that_fails_twice_then_succeeds_gets_every_callback_with_a_stable_id() {
    let t = spawn_app().with_tickets().start().await;
    t.receiver.fail_next(2);
    let cb = format!("{}/cb", t.receiver.base);
    // Inside the company: approved at once by the policy.
    let (status, body) = t
        .webhook_send(&requested(&["dev@corp.example"], Some(cb)))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["request_id"].as_str().unwrap().to_string();
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert!(t.receiver.wait_for(|v| v["notice"] == "succeeded").await);

    let calls = t.receiver.calls();
    let statuses: Vec<u16> = calls.iter().map(|c| c.2).collect();
    assert_eq!(statuses, [503, 503, 200, 200], "{statuses:?}");
    let ids: Vec<&str> = calls
        .iter()
        .map(|c| c.0["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2], "retries carry the same webhook-id");
    assert_ne!(ids[2], ids[3], "each state change has its own");
    for (headers, body, _) in &calls {
        verify_callback(headers, body);
    }
    let notices: Vec<Value> = t
        .receiver
        .delivered()
        .iter()
        .map(|v| v["notice"].clone())
        .collect();
    assert_eq!(notices, [json!("approved"), json!("succeeded")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_webhook_id_is_processed_once() {
    let t = spawn_app().with_tickets().start().await;
    let body = requested(&["a@partner.example"], None).to_string();
    let (a, b) = tokio::join!(
        t.webhook_send_as(body.as_bytes(), "msg_dup"),
        t.webhook_send_as(body.as_bytes(), "msg_dup")
    );
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(
        [&a.1, &b.1]
            .iter()
            .filter(|v| v["duplicate"] == true)
            .count(),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(t.store().requests(None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_denial_and_a_cancellation_end_requests_and_unknown_ids_are_404() {
    let t = spawn_app().with_tickets().start().await;
    let cb = format!("{}/cb", t.receiver.base);
    let (_, body) = t
        .webhook_send(&requested(&["a@partner.example"], Some(cb)))
        .await;
    let id = body["request_id"].as_str().unwrap().to_string();
    let mut deny = acted("share.denied", &id, "servicenow:sn-bob");
    deny["reason"] = json!("not this quarter");
    deny["fingerprint"] = json!(fingerprint(&t, &id).await);
    let (_, b) = t.webhook_send(&deny).await;
    assert_eq!(b["outcome"], "denied");
    assert!(
        t.receiver
            .wait_for(|v| v["notice"] == "denied" && v["reason"] == "not this quarter")
            .await
    );

    let (_, body) = t
        .webhook_send(&requested(&["a@partner.example"], None))
        .await;
    let id2 = body["request_id"].as_str().unwrap().to_string();
    let (_, b) = act(&t, "share.cancelled", &id2, "servicenow:sn-bob").await;
    assert_eq!(b["outcome"], "not_allowed", "only the requester cancels");
    let (_, b) = act(&t, "share.cancelled", &id2, "servicenow:sn-carol").await;
    assert_eq!(b["outcome"], "cancelled");

    let (s, b) = act(&t, "share.approved", "SR-00000000", "servicenow:sn-bob").await;
    assert_eq!((s, b["outcome"].as_str()), (404, Some("not_found")));
}

/// Runs the Python peer; fails with a clear message when Python or the package is missing.
fn python(args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/standardwebhooks_peer.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Python standardwebhooks peer failed ({}): {} \
         (install the package with `python3 -m pip install standardwebhooks`, as .ci/run does)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `python3` can import `standardwebhooks`. Under CI (`.ci/run` installs it) a missing
/// package fails the test; elsewhere the test says why it did not run.
fn python_peer_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `python3` cannot import standardwebhooks (`.ci/run` installs it into its virtualenv)"
        );
        eprintln!(
            "skipped: `python3 -m pip install standardwebhooks` to run the Python interop test (bash .ci/run does)"
        );
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_standardwebhooks_package_signs_requests_we_accept_and_verifies_our_callbacks() {
    if !python_peer_available() {
        return;
    }
    let t = spawn_app().with_tickets().start().await;
    let url = format!("{}/webhook", t.base);
    let cb = format!("{}/cb", t.receiver.base);
    let body = requested(&["dev@corp.example"], Some(cb)).to_string();
    let out = {
        let (url, body) = (url.clone(), body.clone());
        tokio::task::spawn_blocking(move || python(&["send", &url, WEBHOOK_SECRET], &body))
            .await
            .unwrap()
    };
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["status"], 200, "{answer}");
    let reply: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let id = reply["request_id"].as_str().unwrap().to_string();
    assert!(t.wait_state(&id, RequestState::Succeeded).await);

    // A body the package signed, with one byte changed, is refused.
    let tampered = body.replace("dev@corp.example", "dew@corp.example");
    let out = tokio::task::spawn_blocking(move || {
        python(
            &["send", &url, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
            &tampered,
        )
    })
    .await
    .unwrap();
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["status"], 401, "another secret is refused: {answer}");

    // Our callbacks pass the package's own verification.
    assert!(t.receiver.wait_for(|v| v["notice"] == "succeeded").await);
    for (headers, body, _) in t.receiver.calls() {
        let msg = json!({
            "headers": {
                "webhook-id": headers["webhook-id"].to_str().unwrap(),
                "webhook-timestamp": headers["webhook-timestamp"].to_str().unwrap(),
                "webhook-signature": headers["webhook-signature"].to_str().unwrap(),
            },
            "body": String::from_utf8(body.to_vec()).unwrap(),
        })
        .to_string();
        let out = tokio::task::spawn_blocking(move || python(&["verify", WEBHOOK_SECRET], &msg))
            .await
            .unwrap();
        assert_eq!(out.trim(), "verified");
    }
}

/// The webhook-id is recorded only by the transaction that does the event's work: a delivery
/// answered 503 (NCP was down, nothing was requested) and retried with the same id is
/// processed, not answered as a duplicate; a repeat after that success is the duplicate.
#[tokio::test]
async fn a_webhook_id_answered_503_is_processed_when_retried_with_the_same_id() {
    let t = spawn_app().with_tickets().start().await;
    let body = requested(&["a@partner.example"], None).to_string();
    // Every attempt of the image lookup fails (the client retries 3 times).
    t.sim.fail_next(3, 503);
    let (status, answer) = t.webhook_send_as(body.as_bytes(), "msg_retry").await;
    assert_eq!(status, 503, "{answer}");
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());

    let (status, answer) = t.webhook_send_as(body.as_bytes(), "msg_retry").await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(answer["duplicate"], true, "{answer}");
    assert_eq!(answer["state"], "pending", "{answer}");
    assert_eq!(t.store().requests(None, 10).await.unwrap().len(), 1);

    let (status, answer) = t.webhook_send_as(body.as_bytes(), "msg_retry").await;
    assert_eq!(status, 200);
    assert_eq!(answer["duplicate"], true, "{answer}");
    assert_eq!(t.store().requests(None, 10).await.unwrap().len(), 1);
}

/// The number of approvals and ledger records, to show a refused event stored nothing.
async fn stored(t: &App, id: &str) -> (usize, usize) {
    let rid = ncp_share_approver::domain::RequestId::parse(id).unwrap();
    (
        t.store().approvals(&rid).await.unwrap().len(),
        t.store().audit_records(0, 1_000).await.unwrap().len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_servicenow_secret_speaks_for_servicenow_accounts_only() {
    let t = spawn_app().with_tickets().start().await;
    let sn = "/webhook/servicenow";
    let (status, body) = t
        .webhook_send_to(sn, WEBHOOK_SECRET, &requested(&["a@partner.example"], None))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["request_id"].as_str().unwrap().to_string();
    let fp = fingerprint(&t, &id).await;
    let before = stored(&t, &id).await;

    let approve_as = |actor: &str| json!({"type": "share.approved", "request_id": id, "actor": actor, "fingerprint": fp});
    // Not as a Jira account, nor as another configured ticket system's.
    for actor in ["jira:acc-alice", "zendesk:sn-alice", "slack:U012ALICE"] {
        let (status, body) = t
            .webhook_send_to(sn, WEBHOOK_SECRET, &approve_as(actor))
            .await;
        assert_eq!(status, 403, "{actor}: {body}");
        assert!(
            body.as_str()
                .unwrap()
                .contains("speaks for \"servicenow\" accounts only"),
            "{body}"
        );
    }
    // Nor a request on another system's ticket.
    let mut zendesk = requested(&["dev@corp.example"], None);
    zendesk["ticket"]["system"] = json!("zendesk");
    zendesk["requester"] = json!("zendesk:zd-carol");
    let (status, body) = t.webhook_send_to(sn, WEBHOOK_SECRET, &zendesk).await;
    assert_eq!(status, 403, "{body}");
    // The servicenow secret does not verify at zendesk's path.
    let (status, _) = t
        .webhook_send_to("/webhook/zendesk", WEBHOOK_SECRET, &zendesk)
        .await;
    assert_eq!(status, 401);
    // A system that is not configured has no door.
    let (status, _) = t
        .webhook_send_to("/webhook/github", WEBHOOK_SECRET, &zendesk)
        .await;
    assert_eq!(status, 404);
    assert_eq!(stored(&t, &id).await, before, "nothing was stored");
    assert_eq!(t.store().requests(None, 10).await.unwrap().len(), 1);

    // Zendesk's own secret at its own path asks for its own people, and its callbacks are
    // signed with its secret, not servicenow's.
    zendesk["callback_url"] = json!(format!("{}/zendesk/cb", t.receiver.base));
    let (status, body) = t
        .webhook_send_to("/webhook/zendesk", ZENDESK_SECRET, &zendesk)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        t.receiver
            .wait_for(|v| v["ticket"]["system"] == "zendesk")
            .await
    );
    let (headers, body, _) = t.receiver.calls().remove(0);
    let now = chrono::Utc::now().timestamp();
    let verify = |secret: &str| {
        ncp_share_approver::verify::standard_webhooks::verify_at(
            &[SecretString::from(secret.to_string())],
            &headers,
            &body,
            now,
        )
    };
    assert!(verify(ZENDESK_SECRET).is_ok());
    assert!(verify(WEBHOOK_SECRET).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_with_a_stale_fingerprint_is_refused_and_stores_nothing() {
    let t = spawn_app().with_tickets().start().await;
    let (_, body) = t
        .webhook_send(&requested(&["a@partner.example"], None))
        .await;
    let id = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(body["fingerprint"], json!(fingerprint(&t, &id).await));
    let before = stored(&t, &id).await;

    let mut stale = acted("share.approved", &id, "servicenow:sn-alice");
    stale["fingerprint"] = json!("f".repeat(64));
    let (status, answer) = t.webhook_send(&stale).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("the approver saw a different request"),
        "{answer}"
    );
    // Without one, the approval is malformed.
    let (status, answer) = t
        .webhook_send(&acted("share.denied", &id, "servicenow:sn-alice"))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("`fingerprint` is missing")
    );
    assert_eq!(stored(&t, &id).await, before, "nothing was stored");
    assert!(t.wait_state(&id, RequestState::Pending).await);

    // The fingerprint the approver was shown counts.
    let (status, answer) = act(&t, "share.approved", &id, "servicenow:sn-alice").await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("counted")));
}
