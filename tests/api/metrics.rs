//! `serve`'s metrics: `GET /metrics` answers on `[metrics] listen` only, in the Prometheus text
//! format, with the catalogue's names; a bad signature and a share are counted there. (The
//! apps of this test binary share one recorder, so counts are compared before and after.)

use crate::harness::fixtures::request_id_in;
use crate::harness::spawn_app;
use ncp_share_approver::domain::RequestState;
use ncp_share_approver::telemetry::metrics::{METRICS, def};

/// The value of the series `series` (name and labels as rendered) in `text`, 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_on_their_own_listener_and_count_what_happens() {
    let app = spawn_app().start().await;
    let metrics = app
        .app
        .metrics_addr()
        .expect("the harness turns metrics on");
    assert_ne!(metrics, app.app.addr());
    // Not on the public listener.
    let public = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(public.status(), 404);

    let before = scrape(metrics).await;
    // Every metric is described, and every sample is the catalogue's.
    for m in METRICS.iter().filter(|m| before.contains(m.name)) {
        assert!(
            before.contains(&format!("# HELP {} ", m.name)),
            "{}",
            m.name
        );
    }
    for line in before.lines().filter(|l| l.starts_with("nsa_")) {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| def(b).is_some()))
            .unwrap_or(name);
        assert!(def(base).is_some(), "{name} is not in METRICS");
    }
    // The gauges were read from the store for this scrape.
    assert!(before.contains("\nnsa_outbox_pending "), "{before}");
    assert!(before.contains("\nnsa_ledger_records "), "{before}");

    // A forged Slack command, and one share through to success.
    let forged = reqwest::Client::new()
        .post(format!("{}/slack/commands", app.base))
        .header(
            "x-slack-request-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("x-slack-signature", format!("v0={}", "0".repeat(64)))
        .body("command=/share-image&text=help")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let reply = app
        .command(
            "U056CAROL",
            "1234567 with a@partner.example for 7d because metrics",
        )
        .await;
    let id = request_id_in(&reply.to_string());
    app.click("U012ALICE", "approve", &id).await;
    app.click("U034BOB", "approve", &id).await;
    assert!(app.wait_state(&id, RequestState::Succeeded).await);

    // The worker counts an execution once it has released the image and signed the
    // checkpoint, a moment after the store says succeeded: scrape until every count is in.
    let series = [
        r#"nsa_signature_rejections_total{front="slack",reason="bad_signature"}"#,
        r#"nsa_requests_received_total{front="slack",result="unauthorized"}"#,
        r#"nsa_share_requests_total{origin="slack",outcome="pending"}"#,
        r#"nsa_decisions_total{action="approve",outcome="approved"}"#,
        r#"nsa_executions_total{result="succeeded"}"#,
        r#"nsa_ncp_calls_total{operation="add_sharing",result="ok"}"#,
        r#"nsa_ncp_call_duration_seconds_count{operation="add_sharing"}"#,
    ];
    let mut missing = Vec::new();
    for _ in 0..50 {
        let after = scrape(metrics).await;
        missing = series
            .iter()
            .filter(|s| value(&after, s) < value(&before, s) + 1.0)
            .collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(missing.is_empty(), "did not grow: {missing:?}");
    app.app.stop().await;
}
