//! `App`: the whole service started on 127.0.0.1:0 by [`spawn_app`] with the NCP simulator, a
//! fake Slack, a stateful fake Jira and a fake callback receiver; clients that sign requests
//! exactly as Slack, Jira and a Standard Webhooks sender do.

#![allow(dead_code)] // Each test module uses a different part.

use super::fake_jira::FakeJira;
use super::fixtures::{
    APP_POLICY, APPROVALS, BOT_TOKEN, JIRA_EMAIL, JIRA_SECRET, JIRA_TOKEN, Peers, SIGNING_SECRET,
    WEBHOOK_SECRET, app_config, form, slack_secrets, slack_signature, ticket_secrets,
};
use super::receiver::Receiver;
use ncp_share_approver::clock::SystemClock;
use ncp_share_approver::config::Config;
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::ncp::sim::{RunningSimulator, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::notify::works::{FakeWorks, FakeWorksApp, WorksConfig};
use ncp_share_approver::secrets::{SecretString, StaticSecrets};
use ncp_share_approver::startup::Application;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A change to the configuration before the start.
type ConfigChange = Box<dyn FnOnce(&mut Config)>;

/// What to start: [`spawn_app`] gives the Slack-only service; each method adds to it.
#[must_use]
pub struct AppSpec {
    tickets: bool,
    works: bool,
    policy: &'static str,
    secrets: Option<Arc<StaticSecrets>>,
    change: Option<ConfigChange>,
}

/// The service with the NCP simulator and the fake Slack, the app policy, a SQLite store in a
/// temp dir and the Slack secrets; `.start().await` starts it.
pub fn spawn_app() -> AppSpec {
    AppSpec {
        tickets: false,
        works: false,
        policy: APP_POLICY,
        secrets: None,
        change: None,
    }
}

impl AppSpec {
    /// Also speaks to the fake Jira and the webhook systems (`[jira]`, `[webhook]` and their
    /// secrets).
    pub fn with_tickets(mut self) -> Self {
        self.tickets = true;
        self
    }

    /// Also speaks to the fake NAVER WORKS (`[works]`, its secrets, and the NAVER WORKS policy
    /// unless another is given).
    pub fn with_works(mut self) -> Self {
        self.works = true;
        if self.policy == APP_POLICY {
            self.policy = super::fixtures::WORKS_POLICY;
        }
        self
    }

    /// Another policy text.
    pub fn policy(mut self, text: &'static str) -> Self {
        self.policy = text;
        self
    }

    /// These secrets instead of the default ones.
    pub fn secrets(mut self, secrets: StaticSecrets) -> Self {
        self.secrets = Some(Arc::new(secrets));
        self
    }

    /// Changes the configuration (the store kind, a section's knobs) before the start.
    pub fn configure(mut self, change: impl FnOnce(&mut Config) + 'static) -> Self {
        self.change = Some(Box::new(change));
        self
    }

    /// Starts the peers and the service.
    pub async fn start(self) -> App {
        let sim = Simulator::demo();
        let sim_running = sim.spawn("127.0.0.1:0").await.unwrap();
        let slack = FakeSlack::start(BOT_TOKEN).await;
        let jira = FakeJira::start(JIRA_EMAIL, JIRA_TOKEN).await;
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        let slack_api = slack.api_base_url();
        let peers = Peers {
            sim: &sim_running.base_url,
            slack_api: &slack_api,
            jira: self.tickets.then_some(jira.base_url.as_str()),
        };
        let mut cfg = app_config(dir.path(), self.policy, &peers);
        // Every app of the test binary at once: each its own metrics port (one recorder).
        cfg.metrics.listen = "127.0.0.1:0".into();
        let works = FakeWorks::start(FakeWorksApp::demo()).await;
        if self.works {
            cfg.works = Some(WorksConfig {
                bot_id: super::fixtures::WORKS_BOT.into(),
                api_base_url: works.api_base_url(),
                auth_url: works.auth_url(),
                scope: "bot".into(),
            });
        }
        // `TEST_STORE=postgres`: the same end-to-end tests on PostgreSQL (a schema per app);
        // `.ci/run` runs the end-to-end folders once more that way.
        if let Some(store) = store_override() {
            cfg.store = store;
        }
        if let Some(change) = self.change {
            change(&mut cfg);
        }
        let secrets = self.secrets.unwrap_or_else(|| {
            Arc::new(if self.works && self.tickets {
                super::fixtures::all_secrets()
            } else if self.works {
                super::fixtures::works_secrets()
            } else if self.tickets {
                ticket_secrets()
            } else {
                slack_secrets()
            })
        });
        let app = Application::start(&cfg, "127.0.0.1:0", secrets.clone(), Arc::new(SystemClock))
            .await
            .unwrap();
        App {
            config: cfg,
            secrets,
            base: format!("http://{}", app.addr()),
            app,
            sim,
            _sim_running: sim_running,
            slack,
            jira,
            works,
            receiver,
            http: reqwest::Client::new(),
            seq: AtomicUsize::new(0),
            replies: Default::default(),
            _dir: dir,
        }
    }
}

/// The variable that runs every [`spawn_app`] on another store (`postgres`; unset: SQLite).
pub const STORE_VAR: &str = "TEST_STORE";

/// `[store]` as `TEST_STORE` asks: `None` for the default SQLite file.
fn store_override() -> Option<ncp_share_approver::store::StoreConfig> {
    match std::env::var(STORE_VAR).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => None,
        Ok("postgres") => {
            let url = std::env::var(super::postgres::URL_VAR).unwrap_or_else(|_| {
                panic!(
                    "{STORE_VAR}=postgres needs {} (.ci/postgres.sh starts a database)",
                    super::postgres::URL_VAR
                )
            });
            Some(super::postgres::store_config(
                &url,
                &super::postgres::unique_schema(),
            ))
        }
        Ok(other) => panic!("{STORE_VAR}={other:?}: expected sqlite or postgres"),
    }
}

/// The running service and its peers.
pub struct App {
    /// The service.
    pub app: Application,
    /// Its configuration (a replica starts with the same).
    pub config: Config,
    secrets: Arc<StaticSecrets>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The NCP simulator.
    pub sim: Simulator,
    _sim_running: RunningSimulator,
    /// The fake Slack Web API.
    pub slack: FakeSlack,
    /// The fake Jira (configured only [`AppSpec::with_tickets`]).
    pub jira: FakeJira,
    /// The fake NAVER WORKS (configured only [`AppSpec::with_works`]).
    pub works: FakeWorks,
    /// The fake callback receiver.
    pub receiver: Receiver,
    http: reqwest::Client,
    seq: AtomicUsize,
    /// Every reply to a slash command so far, for `payloads::check_slack_calls`.
    replies: std::sync::Mutex<Vec<Value>>,
    /// Keeps the database and policy files.
    _dir: tempfile::TempDir,
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

impl Delivery {
    /// The headers Slack sends with it.
    pub fn headers(&self) -> [(&'static str, &str); 3] {
        [
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-slack-request-timestamp", &self.timestamp),
            ("x-slack-signature", &self.signature),
        ]
    }
}

impl App {
    /// Another `serve` replica with the same configuration, secrets and peers (on a PostgreSQL
    /// store: the same schema), on another port.
    pub async fn replica(&self) -> Application {
        Application::start(
            &self.config,
            "127.0.0.1:0",
            self.secrets.clone(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap()
    }

    /// Sends a delivery as Slack would, to the service at `addr` (a replica).
    pub async fn send_to(&self, addr: std::net::SocketAddr, d: &Delivery) -> reqwest::Response {
        let mut req = self.http.post(format!("http://{addr}{}", d.path));
        for (name, value) in d.headers() {
            req = req.header(name, value);
        }
        req.body(d.body.clone()).send().await.unwrap()
    }

    /// The store behind the service.
    pub fn store(&self) -> Arc<dyn ncp_share_approver::store::Store> {
        self.app.state.workflow.store.clone()
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

    /// Signs a body for `path` now.
    pub fn sign(&self, path: &'static str, body: String) -> Delivery {
        let (timestamp, signature) = slack_signature(SIGNING_SECRET, body.as_bytes());
        Delivery {
            path,
            body,
            timestamp,
            signature,
        }
    }

    /// Sends a delivery as Slack would.
    pub async fn send(&self, d: &Delivery) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{}", self.base, d.path));
        for (name, value) in d.headers() {
            req = req.header(name, value);
        }
        req.body(d.body.clone()).send().await.unwrap()
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

    /// Clicks a Slack button as `user` (a bare payload); returns the HTTP status.
    pub async fn slack_click(&self, user: &str, action: &str, request_id: &str) -> u16 {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0APPROVALS"},
            "channel": {"id": "C0APPROVALS", "name": "approvals"},
            "response_url": self.slack.response_url("click"),
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": request_id}]
        });
        let d = self.sign(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        );
        self.send(&d).await.status().as_u16()
    }

    /// Sends a signed interaction payload (`payload=<json>`) to `/slack/interactions`.
    pub async fn interact(&self, payload: &Value) -> reqwest::Response {
        let d = self.sign(
            "/slack/interactions",
            form(&[("payload", &payload.to_string())]),
        );
        self.send(&d).await
    }

    /// `/share-image <text>` as `user` with a fresh `trigger_id` from the fake Slack; the raw response.
    pub async fn command_with_trigger(&self, user: &str, text: &str) -> reqwest::Response {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let body = form(&[
            ("team_id", "T0TEST"),
            ("channel_id", "C0REQUESTS"),
            ("user_id", user),
            ("command", "/share-image"),
            ("text", text),
            (
                "response_url",
                &self.slack.response_url(&format!("cmd-{n}")),
            ),
            ("trigger_id", &self.slack.issue_trigger()),
        ]);
        self.send(&self.sign("/slack/commands", body)).await
    }

    /// The global shortcut "Share an image" used by `user`.
    pub async fn shortcut(&self, user: &str) -> reqwest::Response {
        self.interact(&serde_json::json!({
            "type": "shortcut",
            "token": "legacy-ignored",
            "action_ts": "1.1",
            "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "callback_id": "share_image",
            "trigger_id": self.slack.issue_trigger(),
        }))
        .await
    }

    /// The options load request of the form's image picker: `user` typed `typed`.
    pub async fn options(&self, user: &str, typed: &str) -> Value {
        let payload = serde_json::json!({
            "type": "block_suggestion",
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "team": {"id": "T0TEST", "domain": "test"},
            "action_id": "image",
            "block_id": "image",
            "value": typed,
            "view": {"id": "V0ANY", "type": "modal", "callback_id": "share_request"},
        });
        let d = self.sign("/slack/options", form(&[("payload", &payload.to_string())]));
        let res = self.send(&d).await;
        assert_eq!(res.status(), 200, "options answered {}", res.status());
        res.json().await.unwrap()
    }

    /// A form's submission as Slack sends it: `view` is the modal the fake opened (its id, hash,
    /// callback and metadata are used), `values` maps block ids to typed text or option values.
    pub async fn submit_view(
        &self,
        user: &str,
        view: &Value,
        values: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut state = serde_json::Map::new();
        for (block, value) in values {
            let input = match *block {
                "image" => {
                    serde_json::json!({"type": "external_select", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}})
                }
                "duration" => {
                    serde_json::json!({"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}})
                }
                _ => serde_json::json!({"type": "plain_text_input", "value": value}),
            };
            state.insert(block.to_string(), serde_json::json!({ *block: input }));
        }
        let mut submitted = view.clone();
        submitted["state"] = serde_json::json!({ "values": state });
        self.interact(&serde_json::json!({
            "type": "view_submission",
            "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "api_app_id": "A0TEST",
            "trigger_id": "1.2.submit",
            "view": submitted,
        }))
        .await
    }

    /// A button on `user`'s App Home (as published to the fake), by action id and value.
    pub async fn home_click(&self, user: &str, action: &str, value: &str) -> reqwest::Response {
        let home = self.slack.home(user).expect("a published home");
        self.interact(&serde_json::json!({
            "type": "block_actions",
            "team": {"id": "T0TEST", "domain": "test"},
            "user": {"id": user, "username": "someone", "team_id": "T0TEST"},
            "api_app_id": "A0TEST",
            "trigger_id": self.slack.issue_trigger(),
            "container": {"type": "view", "view_id": home["id"]},
            "view": home,
            "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value, "action_ts": "1.1"}],
        }))
        .await
    }

    /// A signed Events API delivery (JSON) to `/slack/events`.
    pub async fn event(&self, body: &Value) -> reqwest::Response {
        let d = self.sign("/slack/events", body.to_string());
        let mut req = self.http.post(format!("{}{}", self.base, d.path));
        for (name, value) in d.headers() {
            req = req.header(name, value);
        }
        req.header("content-type", "application/json")
            .body(d.body)
            .send()
            .await
            .unwrap()
    }

    /// `app_home_opened` for `user`, with a fresh event id.
    pub async fn open_home(&self, user: &str) -> reqwest::Response {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        self.event(&serde_json::json!({
            "token": "legacy-ignored",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": format!("Ev{n:08}"),
            "event_time": 1_700_000_000,
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.1"},
        }))
        .await
    }

    /// Waits until the fake holds a home for `user` that satisfies `done`; returns it.
    pub async fn wait_home(&self, user: &str, done: impl Fn(&str) -> bool) -> Value {
        for _ in 0..400 {
            if let Some(home) = self.slack.home(user)
                && done(&home.to_string())
            {
                return home;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no home for {user} as expected; last: {}",
            self.slack
                .home(user)
                .map(|h| h.to_string())
                .unwrap_or_default()
        )
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

    /// Sends a NAVER WORKS callback body signed with the test bot's secret; returns the status.
    pub async fn works_send(&self, body: &Value) -> u16 {
        self.works_send_raw(body.to_string().as_bytes(), &[]).await
    }

    /// Sends raw bytes to `/works/callback`, signed with the test bot's secret and id unless
    /// `headers` replaces them.
    pub async fn works_send_raw(&self, body: &[u8], headers: &[(&str, &str)]) -> u16 {
        let sig = ncp_share_approver::verify::works::sign(
            &SecretString::from(super::fixtures::WORKS_BOT_SECRET),
            body,
        );
        let mut req = self
            .http
            .post(format!("{}/works/callback", self.base))
            .header("content-type", "application/json; charset=UTF-8");
        let mut sig_set = false;
        let mut bot_set = false;
        for (name, value) in headers {
            sig_set |= name.eq_ignore_ascii_case("x-works-signature");
            bot_set |= name.eq_ignore_ascii_case("x-works-botid");
            req = req.header(*name, *value);
        }
        if !sig_set {
            req = req.header("X-WORKS-Signature", sig);
        }
        if !bot_set {
            req = req.header("X-WORKS-BotId", super::fixtures::WORKS_BOT);
        }
        req.body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A NAVER WORKS text message 1:1 from `user`, as the callback body.
    pub fn works_text(&self, user: &str, text: &str) -> Value {
        serde_json::json!({
            "type": "message",
            "source": {"userId": user, "domainId": 10000001},
            "issuedTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "content": {"type": "text", "text": text},
        })
    }

    /// A press of a button of an approval message in `room` by `user`, as NAVER WORKS sends it
    /// (a `message` event with the button's label as text and its postback).
    pub fn works_press(&self, user: &str, room: &str, label: &str, postback: &str) -> Value {
        serde_json::json!({
            "type": "message",
            "source": {"userId": user, "channelId": room, "domainId": 10000001},
            "issuedTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "content": {"type": "text", "text": label, "postback": postback},
        })
    }

    /// Delivers everything owed so far (the outbox), so the fakes have it.
    pub async fn deliver_all(&self) {
        let (_, all_out) = self
            .app
            .state
            .dispatcher
            .drain(std::time::Duration::from_secs(20))
            .await;
        assert!(all_out, "every message owed was delivered or given up");
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
