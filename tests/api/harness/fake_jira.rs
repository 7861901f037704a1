//! `FakeJira`: a small stateful Jira Cloud for tests. It keeps issues (fields, status,
//! changelog), comments and transitions, checks basic auth on every REST call, records every
//! call, and builds the webhook bodies Jira would send for what a person does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The bot's account id (comments and transitions the service makes are by it).
pub const BOT_ACCOUNT: &str = "acc-bot";

/// One REST call the fake received.
#[derive(Debug, Clone)]
pub struct JiraCall {
    /// `GET`, `POST`.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The JSON body (null for GET).
    pub body: Value,
    /// Whether the basic auth was right.
    pub authorized: bool,
}

#[derive(Default)]
struct Inner {
    issues: HashMap<String, Value>,
    comments: HashMap<String, Vec<Value>>,
    calls: Vec<JiraCall>,
    next_id: u64,
    clock: u64,
}

/// The transitions every issue offers: (id, name, to status).
const TRANSITIONS: &[(&str, &str, &str)] = &[
    ("21", "Approve", "Approved"),
    ("31", "Done", "Done"),
    ("41", "Reject", "Rejected"),
];

#[derive(Clone)]
struct Shared {
    auth: String,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Jira.
pub struct FakeJira {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl Inner {
    fn tick(&mut self) -> String {
        self.clock += 1;
        format!(
            "2024-01-01T10:{:02}:{:02}.000+0000",
            self.clock / 60,
            self.clock % 60
        )
    }

    fn set_status(&mut self, key: &str, status: &str, by: &str) {
        let created = self.tick();
        self.next_id += 1;
        let id = self.next_id;
        let issue = self.issues.get_mut(key).expect("issue exists");
        let from = issue["fields"]["status"]["name"].clone();
        issue["fields"]["status"] = json!({"name": status, "id": format!("{id}")});
        issue["changelog"]["histories"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": format!("{id}"), "created": created, "author": {"accountId": by},
                "items": [{"field": "status", "fieldtype": "jira", "fromString": from, "toString": status}]}));
    }

    fn add_comment(&mut self, key: &str, by: &str, body: Value) -> Value {
        self.next_id += 1;
        let c = json!({"id": format!("{}", 10_000 + self.next_id), "author": {"accountId": by}, "body": body, "created": self.tick()});
        self.comments
            .entry(key.to_string())
            .or_default()
            .push(c.clone());
        c
    }
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

impl FakeJira {
    /// Starts the fake; REST calls must carry `Basic base64(email:token)`.
    pub async fn start(email: &str, token: &str) -> Self {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
        );
        let shared = Shared {
            auth,
            inner: Arc::default(),
        };
        let router = Router::new()
            .route("/rest/api/3/issue/{key}", get(get_issue))
            .route(
                "/rest/api/3/issue/{key}/comment",
                axum::routing::post(post_comment).get(list_comments),
            )
            .route("/rest/api/3/issue/{key}/comment/{id}", get(get_comment))
            .route(
                "/rest/api/3/issue/{key}/transitions",
                get(get_transitions).post(post_transition),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base_url: format!("http://{addr}"),
            shared,
            _server: server,
        }
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<JiraCall> {
        self.shared.lock().calls.clone()
    }

    /// Creates an issue as `reporter` (its creator and reporter; `fields` may set another
    /// `reporter`) and returns the `jira:issue_created` event body.
    pub fn create_issue(&self, key: &str, reporter: &str, fields: Value) -> Value {
        let mut f = json!({
            "summary": "Share an image",
            "issuetype": {"name": "Image share"},
            "project": {"key": key.split('-').next().unwrap()},
            "status": {"name": "Open", "id": "1"},
            "reporter": {"accountId": reporter},
            "creator": {"accountId": reporter},
        });
        for (k, v) in fields.as_object().unwrap() {
            f[k] = v.clone();
        }
        let issue = json!({"id": "10001", "key": key, "fields": f, "changelog": {"histories": []}});
        self.shared
            .lock()
            .issues
            .insert(key.to_string(), issue.clone());
        json!({"timestamp": event_time(), "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
               "user": {"accountId": reporter}, "issue": {"id": "10001", "key": key, "fields": f}})
    }

    /// Changes fields of an issue (as someone editing it).
    pub fn edit_fields(&self, key: &str, fields: Value) {
        let mut inner = self.shared.lock();
        let issue = inner.issues.get_mut(key).unwrap();
        for (k, v) in fields.as_object().unwrap() {
            issue["fields"][k] = v.clone();
        }
    }

    /// Moves an issue to `status` as `by` and returns the `jira:issue_updated` event body.
    pub fn transition_by(&self, key: &str, by: &str, status: &str) -> Value {
        let mut inner = self.shared.lock();
        inner.set_status(key, status, by);
        let issue = inner.issues[key].clone();
        status_event(&issue, by, status)
    }

    /// The `jira:issue_updated` event Jira would send for a move to `status` by `by`, without
    /// the move happening (a forged or stale hint).
    pub fn status_event_without_move(&self, key: &str, by: &str, status: &str) -> Value {
        let issue = self.shared.lock().issues[key].clone();
        status_event(&issue, by, status)
    }

    /// Comments `text` as `by` and returns the `comment_created` event body.
    pub fn comment_by(&self, key: &str, by: &str, text: &str) -> Value {
        let mut inner = self.shared.lock();
        let c = inner.add_comment(key, by, adf(text));
        let issue = inner.issues[key].clone();
        comment_event(&issue, &c, text)
    }

    /// A `comment_created` event claiming `by` wrote `text`, for a comment really written by
    /// `real_author` with `real_text`.
    pub fn forged_comment(
        &self,
        key: &str,
        by: &str,
        text: &str,
        real_author: &str,
        real_text: &str,
    ) -> Value {
        let mut inner = self.shared.lock();
        let mut c = inner.add_comment(key, real_author, adf(real_text));
        let issue = inner.issues[key].clone();
        c["author"]["accountId"] = json!(by);
        comment_event(&issue, &c, text)
    }

    /// The plain texts of an issue's comments by the bot, in order.
    pub fn bot_comments(&self, key: &str) -> Vec<String> {
        self.shared
            .lock()
            .comments
            .get(key)
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["author"]["accountId"] == BOT_ACCOUNT)
                    .map(|c| ncp_share_approver::notify::jira::render::plain_text(&c["body"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The issue's status name now.
    pub fn status(&self, key: &str) -> String {
        self.shared.lock().issues[key]["fields"]["status"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until a bot comment on `key` contains `needle`.
    pub async fn wait_comment(&self, key: &str, needle: &str) -> bool {
        for _ in 0..400 {
            if self.bot_comments(key).iter().any(|c| c.contains(needle)) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    }
}

/// An event's `timestamp` as Jira sets it (epoch ms), distinct per event as Jira's bodies are.
fn event_time() -> i64 {
    static SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    chrono::Utc::now().timestamp_millis() + SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

fn status_event(issue: &Value, by: &str, status: &str) -> Value {
    json!({"timestamp": event_time(), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
           "user": {"accountId": by}, "issue": {"id": issue["id"], "key": issue["key"], "fields": issue["fields"]},
           "changelog": {"id": "1", "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status", "toString": status}]}})
}

fn comment_event(issue: &Value, c: &Value, text: &str) -> Value {
    // Webhooks carry a comment's body as text, not ADF.
    json!({"timestamp": event_time(), "webhookEvent": "comment_created",
           "comment": {"id": c["id"], "author": c["author"], "body": text},
           "issue": {"id": issue["id"], "key": issue["key"], "fields": issue["fields"]}})
}

/// Records a call to `/rest/api/3/issue/{key}{rest}`; the 401 to answer when its credentials
/// are wrong.
fn refuse(
    s: &Shared,
    method: &str,
    key: &str,
    rest: &str,
    body: Value,
    headers: &HeaderMap,
) -> Option<Response> {
    let path = format!("/rest/api/3/issue/{key}{rest}");
    (!record(s, method, path, body, headers)).then(|| StatusCode::UNAUTHORIZED.into_response())
}

fn record(s: &Shared, method: &str, path: String, body: Value, headers: &HeaderMap) -> bool {
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(s.auth.as_str());
    s.lock().calls.push(JiraCall {
        method: method.into(),
        path,
        body,
        authorized,
    });
    authorized
}

async fn get_issue(
    State(s): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse(&s, "GET", &key, "", Value::Null, &headers) {
        return r;
    }
    match s.lock().issues.get(&key) {
        Some(i) => axum::Json(i.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn get_comment(
    State(s): State<Shared>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse(
        &s,
        "GET",
        &key,
        &format!("/comment/{id}"),
        Value::Null,
        &headers,
    ) {
        return r;
    }
    let inner = s.lock();
    match inner
        .comments
        .get(&key)
        .and_then(|cs| cs.iter().find(|c| c["id"] == id.as_str()))
    {
        Some(c) => axum::Json(c.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /rest/api/3/issue/{key}/comment` (newest first with `orderBy=-created`; comment
/// properties only with `expand=properties`, as Jira does).
async fn list_comments(
    State(s): State<Shared>,
    Path(key): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse(&s, "GET", &key, "/comment", Value::Null, &headers) {
        return r;
    }
    let query = query.unwrap_or_default();
    let inner = s.lock();
    if !inner.issues.contains_key(&key) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut comments: Vec<Value> = inner.comments.get(&key).cloned().unwrap_or_default();
    if query.contains("orderBy=-created") {
        comments.reverse();
    }
    if !query.contains("expand=properties") {
        for c in &mut comments {
            if let Some(o) = c.as_object_mut() {
                o.remove("properties");
            }
        }
    }
    let total = comments.len();
    axum::Json(json!({"startAt": 0, "maxResults": 100, "total": total, "comments": comments}))
        .into_response()
}

async fn post_comment(
    State(s): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(r) = refuse(&s, "POST", &key, "/comment", v.clone(), &headers) {
        return r;
    }
    let mut inner = s.lock();
    if !inner.issues.contains_key(&key) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if v["body"]["type"] != "doc" {
        return (StatusCode::BAD_REQUEST, "body must be ADF").into_response();
    }
    let mut c = inner.add_comment(&key, BOT_ACCOUNT, v["body"].clone());
    if let Some(props) = v.get("properties").filter(|p| p.is_array()) {
        // Kept on the stored comment too, so a later listing with `expand=properties` shows them.
        c["properties"] = props.clone();
        if let Some(stored) = inner.comments.get_mut(&key).and_then(|cs| cs.last_mut()) {
            stored["properties"] = props.clone();
        }
    }
    (StatusCode::CREATED, axum::Json(c)).into_response()
}

async fn get_transitions(
    State(s): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refuse(&s, "GET", &key, "/transitions", Value::Null, &headers) {
        return r;
    }
    let list: Vec<Value> = TRANSITIONS
        .iter()
        .map(|(id, name, to)| json!({"id": id, "name": name, "to": {"name": to}}))
        .collect();
    axum::Json(json!({"transitions": list})).into_response()
}

async fn post_transition(
    State(s): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(r) = refuse(&s, "POST", &key, "/transitions", v.clone(), &headers) {
        return r;
    }
    let Some((_, _, to)) = TRANSITIONS
        .iter()
        .find(|(id, _, _)| v["transition"]["id"] == *id)
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut inner = s.lock();
    if !inner.issues.contains_key(&key) {
        return StatusCode::NOT_FOUND.into_response();
    }
    inner.set_status(&key, to, BOT_ACCOUNT);
    StatusCode::NO_CONTENT.into_response()
}
