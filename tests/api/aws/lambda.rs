//! Real API Gateway HTTP API and Function URL events through `lambda_http`'s conversion into the
//! router: signatures verify on the decoded bytes, with or without a stage in the path.

use crate::harness::fixtures::*;
use base64::Engine as _;
use ncp_share_approver::ncp::sim::Simulator;
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::secrets::SecretString;
use tower::ServiceExt as _;

fn event(raw_path: &str, stage: &str, body: &str, base64: bool, ts: i64, sig: &str) -> String {
    let body_field = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_string()
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": "abc123.execute-api.ap-northeast-2.amazonaws.com",
            "x-slack-request-timestamp": ts.to_string(),
            "x-slack-signature": sig,
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-northeast-2.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "Slackbot"},
            "requestId": "id", "routeKey": "$default", "stage": stage,
            "time": "27/Nov/2026:23:00:00 +0000", "timeEpoch": 1_795_000_000_000u64
        },
        "body": body_field,
        "isBase64Encoded": base64
    })
    .to_string()
}

#[tokio::test]
async fn api_gateway_and_function_url_events_verify_on_the_decoded_bytes() {
    let sim = Simulator::demo();
    let running = sim.spawn("127.0.0.1:0").await.unwrap();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let slack_api = slack.api_base_url();
    let peers = Peers {
        sim: &running.base_url,
        slack_api: &slack_api,
        jira: None,
    };
    let cfg = app_config(dir.path(), APP_POLICY, &peers);
    let built = ncp_share_approver::startup::build_state(
        &cfg,
        std::sync::Arc::new(slack_secrets()),
        std::sync::Arc::new(ncp_share_approver::clock::SystemClock),
    )
    .await
    .unwrap();
    let service = ncp_share_approver::http::lambda_service(built.state);

    let body = form(&[
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", CAROL),
        ("text", "help"),
    ]);
    let now = chrono::Utc::now().timestamp();
    let sign = |ts: i64| {
        ncp_share_approver::verify::slack::sign(
            &SecretString::from(SIGNING_SECRET.to_string()),
            ts,
            body.as_bytes(),
        )
    };
    for (i, (name, raw_path, stage, base64)) in [
        (
            "HTTP API, named stage, base64 body",
            "/Prod/slack/commands",
            "Prod",
            true,
        ),
        (
            "HTTP API, default stage, plain body",
            "/slack/commands",
            "$default",
            false,
        ),
        (
            "Function URL, base64 body",
            "/slack/commands",
            "$default",
            true,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // Each delivery is signed at its own second, as Slack would (a repeat would be de-duplicated).
        let ts = now - i as i64;
        let sig = sign(ts);
        let req = lambda_http::request::from_str(&event(raw_path, stage, &body, base64, ts, &sig))
            .unwrap();
        let req = req.map(|b| axum::body::Body::from(b.to_vec()));
        let res = service.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("ephemeral") && text.contains("revoke"),
            "{name}: {text}"
        );
    }

    // A body altered in transit fails verification on Lambda exactly as it does locally.
    let req = lambda_http::request::from_str(&event(
        "/Prod/slack/commands",
        "Prod",
        &body.replace("help", "hel"),
        true,
        now - 5,
        &sign(now - 5),
    ))
    .unwrap();
    let res = service
        .clone()
        .oneshot(req.map(|b| axum::body::Body::from(b.to_vec())))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
