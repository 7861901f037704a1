//! `SlackApp`: the whole service started on 127.0.0.1:0 with the NCP simulator and a fake Slack,
//! and a client that signs requests exactly as Slack does.

use ncp_share_approver::clock::SystemClock;
use ncp_share_approver::config::Config;
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, RunningSimulator, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::secrets::{SecretName, SecretString, StaticSecrets};
use ncp_share_approver::startup::Application;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The Slack signing secret of the tests.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The bot token of the tests.
pub const BOT_TOKEN: &str = "xoxb-test-bot-token-0000000000";
/// Where the approval cards go.
pub const APPROVALS: &str = "C0APPROVALS";

/// The requester.
pub const CAROL: &str = "U056CAROL";
/// Approvers.
pub const ALICE: &str = "U012ALICE";
/// Approvers.
pub const BOB: &str = "U034BOB";
/// Not in the policy's approvers.
pub const ERIN: &str = "U090ERIN";

/// The policy of the Slack tests: 2 of 3 admins approve partner shares; corp shares are automatic.
pub const POLICY: &str = r#"
[defaults]
request_ttl = "24h"

[people]
alice = { slack = "U012ALICE" }
bob   = { slack = "U034BOB" }
dave  = { slack = "U078DAVE" }
carol = { slack = "U056CAROL" }
erin  = { slack = "U090ERIN" }

[groups]
platform-admins = ["alice", "bob", "dave"]
engineers = ["carol", "erin"]

[[rules]]
name = "golden images to partners"
images = ["name:golden-*"]
targets = ["*@partner.example"]
requesters = ["group:engineers", "group:platform-admins"]
approvers = ["group:platform-admins"]
min_approvals = 2
max_duration = "30d"
approval_channel = "C0APPROVALS"

[[rules]]
name = "inside the company"
images = ["name:golden-*", "name:sandbox-*"]
targets = ["*@corp.example"]
requesters = ["*"]
auto_approve = true
"#;

/// The running service and its peers.
pub struct SlackApp {
    /// The service.
    pub app: Option<Application>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The NCP simulator.
    pub sim: Simulator,
    _sim_running: RunningSimulator,
    /// The fake Slack Web API.
    pub slack: FakeSlack,
    http: reqwest::Client,
    seq: AtomicUsize,
    /// Every reply to a slash command so far, for `payloads::check_slack_calls`.
    replies: std::sync::Mutex<Vec<serde_json::Value>>,
    /// Keeps the database and policy files.
    pub _dir: tempfile::TempDir,
}

/// A signed delivery, kept so that a test can send the very same bytes again.
#[derive(Clone)]
pub struct Delivery {
    /// The route.
    pub path: &'static str,
    /// The form body.
    pub body: String,
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: String,
    /// `X-Slack-Signature`.
    pub signature: String,
}

/// Configuration pointing at the simulator and the fake Slack.
pub fn config(dir: &std::path::Path, sim_url: &str, slack_api: &str) -> Config {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let text = format!(
        r#"
policy = "{policy}"
[store]
path = "{db}"
[ncp]
endpoint = "{sim_url}"
max_attempts = 3
backoff_base_ms = 5
backoff_max_ms = 20
[slack]
api_base_url = "{slack_api}"
response_url_hosts = ["127.0.0.1"]
[worker]
poll_interval_secs = 1
lease_ttl_secs = 10
[outbox]
slack_interval_ms = 0
backoff_base_ms = 20
max_attempts = 5
"#,
        policy = dir.join("policy.toml").display(),
        db = dir.join("store.db").display(),
    );
    Config::from_toml(&text, "test.toml", Vec::new()).unwrap()
}

/// The secrets of the tests.
pub fn secrets() -> Arc<StaticSecrets> {
    Arc::new(
        StaticSecrets::default()
            .with(SecretName::NcpAccessKey, DEMO_ACCESS_KEY)
            .with(SecretName::NcpSecretKey, DEMO_SECRET_KEY)
            .with(SecretName::SlackSigningSecret, SIGNING_SECRET)
            .with(SecretName::SlackBotToken, BOT_TOKEN)
            .with(
                SecretName::LedgerSigningKey,
                crate::helpers::TEST_LEDGER_KEY,
            ),
    )
}

impl SlackApp {
    /// Starts the simulator, the fake Slack and the service.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`SlackApp::spawn`], with the configuration changed by `change` first.
    pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_custom(change, secrets()).await
    }

    /// Like [`SlackApp::spawn_with`], with these secrets.
    pub async fn spawn_custom(
        change: impl FnOnce(&mut Config),
        secrets: Arc<StaticSecrets>,
    ) -> Self {
        let sim = Simulator::demo();
        let sim_running = sim.spawn("127.0.0.1:0").await.unwrap();
        let slack = FakeSlack::start(BOT_TOKEN).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), &sim_running.base_url, &slack.api_base_url());
        change(&mut cfg);
        let app = Application::start(&cfg, "127.0.0.1:0", secrets, Arc::new(SystemClock))
            .await
            .unwrap();
        Self {
            base: format!("http://{}", app.addr()),
            app: Some(app),
            sim,
            _sim_running: sim_running,
            slack,
            http: reqwest::Client::new(),
            seq: AtomicUsize::new(0),
            replies: Default::default(),
            _dir: dir,
        }
    }

    /// The store behind the service.
    pub fn store(&self) -> Arc<dyn ncp_share_approver::store::Store> {
        self.app.as_ref().unwrap().state.workflow.store.clone()
    }

    /// Signs a body for `path` now.
    pub fn sign(&self, path: &'static str, body: String) -> Delivery {
        let ts = chrono::Utc::now().timestamp();
        let signature = ncp_share_approver::verify::slack::sign(
            &SecretString::from(SIGNING_SECRET.to_string()),
            ts,
            body.as_bytes(),
        );
        Delivery {
            path,
            body,
            timestamp: ts.to_string(),
            signature,
        }
    }

    /// Sends a delivery as Slack would.
    pub async fn send(&self, d: &Delivery) -> reqwest::Response {
        self.http
            .post(format!("{}{}", self.base, d.path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &d.timestamp)
            .header("x-slack-signature", &d.signature)
            .body(d.body.clone())
            .send()
            .await
            .unwrap()
    }

    /// A signed slash command from `user`.
    pub fn command_delivery(&self, user: &str, text: &str) -> Delivery {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let body = form(&[
            ("token", "legacy-ignored"),
            ("team_id", "T0TEST"),
            ("channel_id", "C0REQUESTS"),
            ("user_id", user),
            ("user_name", "ignored"),
            ("command", "/share-image"),
            ("text", text),
            (
                "response_url",
                &self.slack.response_url(&format!("cmd-{n}")),
            ),
            ("trigger_id", "1.2.3"),
        ]);
        self.sign("/slack/commands", body)
    }

    /// Sends `/share-image <text>` as `user` and returns the ephemeral reply's JSON.
    pub async fn command(&self, user: &str, text: &str) -> serde_json::Value {
        let res = self.send(&self.command_delivery(user, text)).await;
        assert_eq!(res.status(), 200, "slash command answered {}", res.status());
        let reply: serde_json::Value = res.json().await.unwrap();
        self.replies.lock().unwrap().push(reply.clone());
        reply
    }

    /// Checks every Slack payload of this test so far (the fake's calls and the slash command
    /// replies) with Slack's own SDK (`payloads::check_slack_calls`).
    pub fn check_payloads(&self) {
        let replies = self.replies.lock().unwrap().clone();
        crate::payloads::check_slack_calls(&self.slack.calls(), &replies);
    }

    /// A signed button click.
    pub fn click_delivery(&self, user: &str, action: &str, request_id: &str) -> Delivery {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "api_app_id": "A0TEST",
            "container": {"type": "message", "message_ts": "1.0", "channel_id": APPROVALS, "is_ephemeral": false},
            "channel": {"id": APPROVALS, "name": "approvals"},
            "response_url": self.slack.response_url(&format!("click-{n}")),
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": request_id,
                         "text": {"type": "plain_text", "text": "x"}, "action_ts": "1.1"}]
        });
        self.sign(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        )
    }

    /// Clicks a button and returns the private answer posted to the click's response_url.
    pub async fn click(&self, user: &str, action: &str, request_id: &str) -> String {
        let d = self.click_delivery(user, action, request_id);
        let name = response_name(&d);
        let res = self.send(&d).await;
        assert_eq!(res.status(), 200);
        assert!(
            self.slack
                .wait_for(
                    |calls| calls.iter().any(|c| c.method == format!("response/{name}")),
                    Duration::from_secs(5)
                )
                .await,
            "no answer to the click"
        );
        self.slack.calls_to(&format!("response/{name}"))[0].body["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until the store holds `id` in `state`.
    pub async fn wait_state(
        &self,
        id: &str,
        state: ncp_share_approver::domain::RequestState,
    ) -> bool {
        let id = ncp_share_approver::domain::RequestId::parse(id).unwrap();
        for _ in 0..200 {
            if self.store().request(&id).await.unwrap().map(|r| r.state) == Some(state) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }
}

fn response_name(d: &Delivery) -> String {
    let payload = form_urlencoded::parse(d.body.as_bytes())
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    v["response_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// A form body, encoded as Slack encodes it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The request id in a reply text (`SR-XXXXXXXX`).
pub fn request_id_in(text: &str) -> String {
    let at = text.find("SR-").expect("a request id in the reply");
    text[at..at + 11].to_string()
}
