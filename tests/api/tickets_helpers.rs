//! `TicketsApp`: the whole service on 127.0.0.1:0 with the NCP simulator, a fake Slack, a
//! stateful fake Jira and a fake callback receiver; clients that sign as Jira and as a
//! Standard Webhooks sender do.

use crate::jira_fake::FakeJira;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use ncp_share_approver::clock::SystemClock;
use ncp_share_approver::config::Config;
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, RunningSimulator, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::secrets::{SecretName, SecretString, StaticSecrets};
use ncp_share_approver::startup::Application;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::slack_helpers::{ALICE, BOT_TOKEN, SIGNING_SECRET};

/// The Jira webhook secret (V5's).
pub const JIRA_SECRET: &str = "It's a Secret to Everybody";
/// The Jira account and token of the service.
pub const JIRA_EMAIL: &str = "share-bot@corp.example";
/// The Jira API token of the tests.
pub const JIRA_TOKEN: &str = "jira-test-api-token-0000000000";
/// The Standard Webhooks secret (V6's) of the ticket system `servicenow`, which `POST /webhook`
/// speaks for (`[webhook] system`).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Where the secret of `servicenow` is kept.
pub const SERVICENOW_SECRET_NAME: &str = "WEBHOOK_SECRET_SERVICENOW";
/// The Standard Webhooks secret of the other configured ticket system, `zendesk`.
pub const ZENDESK_SECRET: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";

/// Jira account ids of the tests' people.
pub const J_CAROL: &str = "acc-carol";
/// Approver.
pub const J_ALICE: &str = "acc-alice";
/// Approver.
pub const J_BOB: &str = "acc-bob";
/// An engineer, not an approver.
pub const J_ERIN: &str = "acc-erin";

/// The policy: the Slack tests' people with Jira and ServiceNow accounts too.
pub const POLICY: &str = r#"
[defaults]
request_ttl = "24h"

[people]
alice = { slack = "U012ALICE", jira = "acc-alice", servicenow = "sn-alice" }
bob   = { slack = "U034BOB", jira = "acc-bob", servicenow = "sn-bob" }
dave  = { slack = "U078DAVE", servicenow = "sn-dave" }
carol = { slack = "U056CAROL", jira = "acc-carol", servicenow = "sn-carol" }
erin  = { slack = "U090ERIN", jira = "acc-erin", servicenow = "sn-erin" }

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

/// A fake receiver of callbacks; answers 503 to the first `fail_first` calls.
#[derive(Clone, Default)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts it.
    pub async fn start() -> Self {
        let mut r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.base = format!("http://{}", listener.local_addr().unwrap());
        let state = r.clone();
        let router = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let fail = state
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if fail { 503 } else { 200 };
                    state.received.lock().unwrap().push((headers, body, status));
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        r
    }

    /// Answers the next `n` calls with 503.
    pub fn fail_next(&self, n: usize) {
        self.fail_first.store(n, Ordering::SeqCst);
    }

    /// Every call: headers, body and the status answered.
    pub fn calls(&self) -> Vec<(HeaderMap, Bytes, u16)> {
        self.received.lock().unwrap().clone()
    }

    /// The bodies of the calls answered 200, as JSON.
    pub fn delivered(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.2 == 200)
            .map(|c| serde_json::from_slice(&c.1).unwrap())
            .collect()
    }

    /// Waits until a delivered callback satisfies `f`.
    pub async fn wait_for(&self, f: impl Fn(&Value) -> bool) -> bool {
        for _ in 0..600 {
            if self.delivered().iter().any(&f) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }
}

/// The running service and its peers.
pub struct TicketsApp {
    /// The service.
    pub app: Application,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The NCP simulator.
    pub sim: Simulator,
    _sim_running: RunningSimulator,
    /// Fake Slack.
    pub slack: FakeSlack,
    /// Fake Jira.
    pub jira: FakeJira,
    /// Fake callback receiver.
    pub receiver: Receiver,
    http: reqwest::Client,
    seq: AtomicUsize,
    _dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, sim: &str, slack: &str, jira: &str) -> Config {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let text = format!(
        r#"
policy = "{policy}"
[store]
path = "{db}"
[ncp]
endpoint = "{sim}"
max_attempts = 3
backoff_base_ms = 5
backoff_max_ms = 20
[slack]
api_base_url = "{slack}"
response_url_hosts = ["127.0.0.1"]
[worker]
poll_interval_secs = 1
lease_ttl_secs = 10
[outbox]
slack_interval_ms = 0
backoff_base_ms = 20
max_attempts = 5
[jira]
base_url = "{jira}"
email = "{JIRA_EMAIL}"
project = "SHARE"
issue_type = "Image share"
approved_status = "Approved"
done_transition = "Done"
failed_transition = "Reject"
backoff_base_ms = 5
[jira.fields]
image = "customfield_10050"
targets = "customfield_10051"
duration = "customfield_10052"
reason = "customfield_10053"
[webhook]
callback_hosts = ["127.0.0.1"]
backoff_base_ms = 50
system = "servicenow"
[webhook.systems.servicenow]
secret = "WEBHOOK_SECRET_SERVICENOW"
[webhook.systems.zendesk]
secret = "WEBHOOK_SECRET_ZENDESK"
"#,
        policy = dir.join("policy.toml").display(),
        db = dir.join("store.db").display(),
    );
    Config::from_toml(&text, "tickets.toml", Vec::new()).unwrap()
}

impl TicketsApp {
    /// Starts everything.
    pub async fn spawn() -> Self {
        let sim = Simulator::demo();
        let sim_running = sim.spawn("127.0.0.1:0").await.unwrap();
        let slack = FakeSlack::start(BOT_TOKEN).await;
        let jira = FakeJira::start(JIRA_EMAIL, JIRA_TOKEN).await;
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &sim_running.base_url,
            &slack.api_base_url(),
            &jira.base_url,
        );
        let secrets = Arc::new(
            StaticSecrets::default()
                .with(SecretName::NcpAccessKey, DEMO_ACCESS_KEY)
                .with(SecretName::NcpSecretKey, DEMO_SECRET_KEY)
                .with(SecretName::SlackSigningSecret, SIGNING_SECRET)
                .with(SecretName::SlackBotToken, BOT_TOKEN)
                .with(SecretName::JiraWebhookSecret, JIRA_SECRET)
                .with(SecretName::JiraApiToken, JIRA_TOKEN)
                .with(SecretName::named(SERVICENOW_SECRET_NAME), WEBHOOK_SECRET)
                .with(SecretName::named("WEBHOOK_SECRET_ZENDESK"), ZENDESK_SECRET)
                .with(
                    SecretName::LedgerSigningKey,
                    crate::helpers::TEST_LEDGER_KEY,
                ),
        );
        let app = Application::start(&cfg, "127.0.0.1:0", secrets, Arc::new(SystemClock))
            .await
            .unwrap();
        let base = format!("http://{}", app.addr());
        Self {
            base,
            app,
            sim,
            _sim_running: sim_running,
            slack,
            jira,
            receiver,
            http: reqwest::Client::new(),
            seq: AtomicUsize::new(0),
            _dir: dir,
        }
    }

    /// The store behind the service.
    pub fn store(&self) -> Arc<dyn ncp_share_approver::store::Store> {
        self.app.state.workflow.store.clone()
    }

    /// Sends a Jira webhook body with a fresh delivery id; returns the status and the text.
    pub async fn jira_send(&self, event: &Value) -> (u16, String) {
        let id = format!("delivery-{}", self.seq.fetch_add(1, Ordering::SeqCst));
        self.jira_send_as(event.to_string().as_bytes(), &id).await
    }

    /// Sends raw bytes as Jira does, with `id` as `X-Atlassian-Webhook-Identifier`.
    pub async fn jira_send_as(&self, body: &[u8], id: &str) -> (u16, String) {
        let sig = ncp_share_approver::verify::jira::sign(&SecretString::from(JIRA_SECRET), body);
        let res = self
            .http
            .post(format!("{}/jira/webhook", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature", sig)
            .header("x-atlassian-webhook-identifier", id)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap())
    }

    /// Waits until the Jira notifier has posted everything queued so far.
    pub async fn jira_idle(&self) {
        let (_, all_out) = self
            .app
            .state
            .dispatcher
            .drain(std::time::Duration::from_secs(20))
            .await;
        assert!(all_out, "every message owed was delivered or given up");
    }

    /// Sends a generic webhook event signed now with a fresh `webhook-id`.
    pub async fn webhook_send(&self, body: &Value) -> (u16, Value) {
        let id = format!("msg_{}", self.seq.fetch_add(1, Ordering::SeqCst));
        self.webhook_send_as(body.to_string().as_bytes(), &id).await
    }

    /// Sends raw bytes signed now with `id` as `webhook-id`.
    pub async fn webhook_send_as(&self, body: &[u8], id: &str) -> (u16, Value) {
        self.webhook_post("/webhook", WEBHOOK_SECRET, body, id)
            .await
    }

    /// Sends an event to `path` (like `/webhook/zendesk`) signed now with `secret` and a fresh
    /// `webhook-id`.
    pub async fn webhook_send_to(&self, path: &str, secret: &str, body: &Value) -> (u16, Value) {
        let id = format!("msg_{}", self.seq.fetch_add(1, Ordering::SeqCst));
        self.webhook_post(path, secret, body.to_string().as_bytes(), &id)
            .await
    }

    async fn webhook_post(&self, path: &str, secret: &str, body: &[u8], id: &str) -> (u16, Value) {
        let ts = chrono::Utc::now().timestamp();
        let sig = ncp_share_approver::verify::standard_webhooks::sign(
            &SecretString::from(secret),
            id,
            ts,
            body,
        )
        .unwrap();
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Clicks a Slack button as `user`; returns the HTTP status.
    pub async fn slack_click(&self, user: &str, action: &str, request_id: &str) -> u16 {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0APPROVALS"},
            "channel": {"id": "C0APPROVALS", "name": "approvals"},
            "response_url": self.slack.response_url("click"),
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": request_id}]
        });
        let body = crate::slack_helpers::form(&[("payload", &payload.to_string())]);
        let ts = chrono::Utc::now().timestamp();
        let sig = ncp_share_approver::verify::slack::sign(
            &SecretString::from(SIGNING_SECRET),
            ts,
            body.as_bytes(),
        );
        self.http
            .post(format!("{}/slack/interactions", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until the store holds `id` in `state`.
    pub async fn wait_state(&self, id: &str, state: RequestState) -> bool {
        let id = RequestId::parse(id).unwrap();
        for _ in 0..400 {
            if self.store().request(&id).await.unwrap().map(|r| r.state) == Some(state) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// The one request the store holds for a Jira issue.
    pub async fn request_of_issue(
        &self,
        key: &str,
    ) -> Option<ncp_share_approver::domain::ShareRequest> {
        self.store()
            .requests(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .find(|r| matches!(&r.origin, ncp_share_approver::domain::Origin::Jira { issue_key } if issue_key == key))
    }
}
