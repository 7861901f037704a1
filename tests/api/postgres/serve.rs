//! The real binary on PostgreSQL: the password never reaches a log, and SIGTERM stops it the way
//! an orchestrator expects (in-flight work finished, leases released, exit 0).

use crate::harness::fixtures::{
    ALICE, APP_POLICY, BOB, BOT_TOKEN, CAROL, SIGNING_SECRET, form, slack_signature,
};
use crate::harness::postgres::{postgres_url, store_config, unique_schema};
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Faults, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::store::{PostgresStore, Store};
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
async fn sigterm_finishes_the_execution_in_flight_releases_its_lease_and_exits_0() {
    let Some(url) = postgres_url("serve on PostgreSQL and SIGTERM") else {
        return;
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let password = parsed
        .password()
        .expect("the test URL has a password")
        .to_string();
    let mut bare = parsed.clone();
    bare.set_password(None).unwrap();
    let schema = unique_schema();
    // Every NCP call takes 1.5 s, so that SIGTERM lands while the share is being executed.
    let sim = Simulator::demo();
    let sim_running = sim.spawn("127.0.0.1:0").await.unwrap();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("policy.toml"), APP_POLICY).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\npolicy = \"{}\"\n[store]\nkind = \"postgres\"\nurl = \"{bare}\"\nschema = \"{schema}\"\n[ncp]\nendpoint = \"{}\"\n[slack]\napi_base_url = \"{}\"\nresponse_url_hosts = [\"127.0.0.1\"]\n[worker]\npoll_interval_secs = 1\n",
            dir.path().join("policy.toml").display(),
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
        // The password from the secret source, not the configuration.
        .env("POSTGRES_PASSWORD", &password)
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("serve.out")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ready,
        "serve did not get ready: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let send = |path: &'static str, body: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let (ts, sig) = slack_signature(SIGNING_SECRET, body.as_bytes());
            let res = http
                .post(format!("{base}{path}"))
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
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
                "1234567 with term@partner.example for 7d because sigterm",
            ),
            ("response_url", &slack.response_url("c")),
        ]),
    )
    .await;
    let at = reply.find("SR-").expect("a request id");
    let id = RequestId::parse(&reply[at..at + 11]).unwrap();
    sim.set_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    });
    for who in [ALICE, BOB] {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": who, "username": "x", "team_id": "T1"},
            "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0APPROVALS"},
            "channel": {"id": "C0APPROVALS", "name": "approvals"},
            "response_url": slack.response_url("click"),
            "actions": [{"type": "button", "action_id": "approve", "block_id": "b", "value": id.as_str()}]
        });
        send(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        )
        .await;
    }
    // The worker is inside NCP's slow answers now.
    let store = PostgresStore::connect(&store_config(&url, &schema), None)
        .await
        .unwrap();
    for _ in 0..100 {
        if store.request(&id).await.unwrap().unwrap().state == RequestState::Executing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.request(&id).await.unwrap().unwrap().state,
        RequestState::Executing
    );
    let sent = std::time::Instant::now();
    // SAFETY-free: kill(1) sends the signal; the child is ours.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // New requests are refused at once (the listener is closed), the execution goes on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        http.get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "the stopping process takes no more HTTP"
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logs = format!(
        "{}{}",
        std::fs::read_to_string(&log).unwrap(),
        std::fs::read_to_string(dir.path().join("serve.out")).unwrap()
    );
    assert_eq!(status.code(), Some(0), "{logs}");
    // It finished the share before it exited, and gave every lease back.
    let r = store.request(&id).await.unwrap().unwrap();
    assert_eq!(r.state, RequestState::Succeeded, "{logs}");
    assert_eq!(sim.shared_with("1234567"), ["term@partner.example"]);
    let db_leases = {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one(&format!("SELECT count(*) FROM {schema}.leases"), &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(db_leases, 0, "every lease released: {logs}");
    assert!(
        logs.contains("stopping: finishing in-flight work"),
        "{logs}"
    );
    // The password was never written, even at debug level.
    assert!(!logs.contains(&password), "the password is in the logs");
    assert!(
        logs.contains("PostgreSQL store ready; listening for the other replicas"),
        "{logs}"
    );
}
