//! No secret ever appears in a log line, the store (requests, ledger) or a chat message:
//! the real binary runs a full flow at debug log level, and everything it wrote is searched.

use crate::harness::fixtures::{
    ALICE, APP_POLICY as POLICY, BOB, BOT_TOKEN, CAROL, SIGNING_SECRET, form, slack_signature,
};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_debug_level_never_writes_a_secret_anywhere() {
    let sim = Simulator::demo();
    let sim_running = sim.spawn("127.0.0.1:0").await.unwrap();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let db = dir.path().join("store.db");
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\npolicy = \"{}\"\n[store]\npath = \"{}\"\n[ncp]\nendpoint = \"{}\"\n[slack]\napi_base_url = \"{}\"\nresponse_url_hosts = [\"127.0.0.1\"]\n[worker]\npoll_interval_secs = 1\n",
            dir.path().join("policy.toml").display(),
            db.display(),
            sim_running.base_url,
            slack.api_base_url()
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ncp-share-approver"))
        .args([
            "--config",
            dir.path().join("config.toml").to_str().unwrap(),
            "serve",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Tests run side by side: a metrics port of its own.
        .env("NSA_METRICS__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .env("NCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        .env("NCP_SECRET_KEY", DEMO_SECRET_KEY)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env(
            "LEDGER_SIGNING_KEY",
            crate::harness::fixtures::TEST_LEDGER_KEY,
        )
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("serve.out")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "serve did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let send = |path: &'static str, body: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let (ts, sig) = slack_signature(SIGNING_SECRET, body.as_bytes());
            http.post(format!("{base}{path}"))
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let reply = send(
        "/slack/commands",
        form(&[
            ("team_id", "T1"),
            ("channel_id", "C1"),
            ("user_id", CAROL),
            (
                "text",
                "1234567 with a@partner.example for 7d because audit",
            ),
            ("response_url", &slack.response_url("c")),
        ]),
    )
    .await;
    let at = reply.find("SR-").expect("a request id");
    let id = reply[at..at + 11].to_string();
    for (i, user) in [ALICE, BOB].into_iter().enumerate() {
        let payload = serde_json::json!({"type": "block_actions", "user": {"id": user}, "actions": [{"action_id": "approve", "value": id}], "response_url": slack.response_url(&format!("k{i}"))});
        send(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        )
        .await;
    }
    // A forged request and a wrong NCP key also go through the logs.
    http.post(format!("{base}/slack/commands"))
        .header(
            "x-slack-request-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("x-slack-signature", "v0=0000")
        .body("user_id=U1")
        .send()
        .await
        .unwrap();
    let shared = async {
        for _ in 0..200 {
            if !sim.shared_with("1234567").is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(shared.await, "the flow completed");
    assert!(
        slack
            .wait_for(
                |c| c.iter().any(|c| c.body["channel"] == CAROL),
                Duration::from_secs(10)
            )
            .await
    );
    let _ = child.kill();
    let _ = child.wait();

    let mut haystacks = vec![
        ("logs", std::fs::read_to_string(&log).unwrap()),
        (
            "stdout",
            std::fs::read_to_string(dir.path().join("serve.out")).unwrap(),
        ),
        (
            "chat messages",
            slack
                .calls()
                .iter()
                .map(|c| c.body.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    // The database file, WAL included: requests, approvals, the ledger.
    for f in ["store.db", "store.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
            haystacks.push(("store", String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    assert!(
        haystacks[0].1.lines().count() > 20,
        "debug logs were written"
    );
    for (what, text) in &haystacks {
        for secret in [
            DEMO_SECRET_KEY,
            SIGNING_SECRET,
            BOT_TOKEN,
            crate::harness::fixtures::TEST_LEDGER_KEY,
            &crate::harness::fixtures::TEST_LEDGER_KEY[30..],
        ] {
            assert!(!text.contains(secret), "a secret appears in the {what}");
        }
    }
}
