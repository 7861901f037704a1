//! `FakeSlack`: a small stateful stand-in for the Slack Web API and for `response_url`s, served
//! on `127.0.0.1:0`. It checks the bot token, keeps the messages so `chat.update` can only edit
//! one that exists, records every call, injects `ok:false` errors and 429s, and can print each
//! message as text for the local demo's terminal. Run alone (`slack-fake`, for the fault
//! suite), `GET /_fake/calls` and `GET /_fake/messages` show what it received.
//!
//! Views are as strict as Slack: `views.open` needs a trigger id the fake issued
//! ([`FakeSlack::issue_trigger`], or `POST /_fake/trigger` for another process), used once
//! within 3 seconds; `views.update` needs a known view id and, when given, its current hash;
//! a modal needs a title of at most 24 characters, at most 100 blocks, a submit button when it
//! has inputs; a home tab at most 100 blocks. `GET /_fake/views` shows the modals and homes.

use super::render::blocks_as_text;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// One call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackCall {
    /// `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `views.open`, `views.update`,
    /// `views.publish`, or `response/<name>`.
    pub method: String,
    /// The body as JSON (form bodies become an object of strings; `blocks` is parsed).
    pub body: Value,
    /// Whether the fake answered it with success.
    pub ok: bool,
}

#[derive(Default)]
struct Faults {
    fail: Vec<String>,
    rate_limit: Vec<u64>,
    /// Slack's own limit, when enforced: at most one `chat.postMessage` or `chat.update` per
    /// channel in this interval; a faster one answers 429 with `Retry-After`.
    per_channel: Option<std::time::Duration>,
    last_in_channel: HashMap<String, std::time::Instant>,
    /// 429s answered so far.
    limited: usize,
}

/// A trigger id as issued: when, and whether a `views.open` used it.
struct Trigger {
    issued: std::time::Instant,
    used: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<SlackCall>,
    /// (channel, ts) → the message's latest body.
    messages: HashMap<(String, String), Value>,
    next_ts: u64,
    faults: Faults,
    triggers: HashMap<String, Trigger>,
    /// View id → the modal as it stands now (with its `id` and `hash`).
    open_views: HashMap<String, Value>,
    /// Every modal opened or updated, in order.
    view_log: Vec<Value>,
    /// User id → the latest home tab published.
    homes: HashMap<String, Value>,
    /// Counter behind trigger ids, view ids and hashes.
    next_id: u64,
}

impl Inner {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// How long a trigger id is good for, as Slack's.
const TRIGGER_TTL: Duration = Duration::from_secs(3);
/// Slack's limits for views.
const MAX_VIEW_TITLE: usize = 24;
const MAX_VIEW_BLOCKS: usize = 100;
const MAX_CALLBACK_ID: usize = 255;
const MAX_PRIVATE_METADATA: usize = 3000;

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    changed: Notify,
    printer: AtomicBool,
    /// Milliseconds every Web API answer waits (after the call is recorded), so that a
    /// process killed mid-delivery has sent the call but not read the answer.
    latency_ms: AtomicU64,
    /// How long a trigger id is valid, in milliseconds (Slack's 3 s unless a test shortens it).
    trigger_ttl_ms: AtomicU64,
    started_secs: i64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, method: &str, body: Value, ok: bool) {
        self.lock().calls.push(SlackCall {
            method: method.to_owned(),
            body,
            ok,
        });
        self.changed.notify_waiters();
    }
}

/// A running fake Slack; dropping it stops the server.
pub struct FakeSlack {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeSlack {
    /// Starts a fake that accepts `Authorization: Bearer <token>`, on `127.0.0.1:0`.
    ///
    /// Panics if no local port can be bound; [`FakeSlack::try_start`] returns the error instead.
    pub async fn start(token: &str) -> FakeSlack {
        Self::try_start(token, "127.0.0.1:0")
            .await
            .expect("bind a local port for the fake Slack")
    }

    /// Starts a fake on `addr` (like `127.0.0.1:0`).
    pub async fn try_start(token: &str, addr: &str) -> std::io::Result<FakeSlack> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            printer: AtomicBool::new(false),
            latency_ms: AtomicU64::new(0),
            trigger_ttl_ms: AtomicU64::new(TRIGGER_TTL.as_millis() as u64),
            started_secs: chrono::Utc::now().timestamp(),
        });
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/response/{name}", post(response))
            .route("/_fake/calls", axum::routing::get(calls_json))
            .route("/_fake/messages", axum::routing::get(messages_json))
            .route("/_fake/trigger", post(trigger_json))
            .route("/_fake/views", axum::routing::get(views_json))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "fake Slack stopped with an error");
            }
        });
        Ok(FakeSlack {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Prints every posted or updated message as text on stdout (for the demo terminal).
    pub fn with_printer(self, on: bool) -> Self {
        self.shared.printer.store(on, Ordering::SeqCst);
        self
    }

    /// Every Web API answer waits `latency` first (the call is recorded before the wait, as
    /// Slack has acted on a call before its answer reaches the caller).
    pub fn with_latency(self, latency: Duration) -> Self {
        self.shared
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
        self
    }

    /// Trigger ids stay valid for `ttl` instead of Slack's 3 seconds (tests of expiry).
    pub fn with_trigger_ttl(self, ttl: Duration) -> Self {
        self.shared
            .trigger_ttl_ms
            .store(ttl.as_millis() as u64, Ordering::SeqCst);
        self
    }

    /// A fresh trigger id, as Slack puts in a slash command, a shortcut or a click: valid for
    /// 3 seconds, for one `views.open`.
    pub fn issue_trigger(&self) -> String {
        issue_trigger(&self.shared)
    }

    /// The latest home tab published for `user`, with its `id` and `hash`.
    pub fn home(&self, user: &str) -> Option<Value> {
        self.shared.lock().homes.get(user).cloned()
    }

    /// Every modal opened or updated, in order, each as it was then (with `id` and `hash`).
    pub fn views(&self) -> Vec<Value> {
        self.shared.lock().view_log.clone()
    }

    /// The modal `view_id` as it stands now.
    pub fn open_view(&self, view_id: &str) -> Option<Value> {
        self.shared.lock().open_views.get(view_id).cloned()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/api`, the base URL for [`super::SlackApi::new`].
    pub fn api_base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// `http://127.0.0.1:PORT/response/<name>`, a `response_url` whose calls are recorded.
    pub fn response_url(&self, name: &str) -> String {
        format!("http://{}/response/{name}", self.addr)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.shared.lock().calls.clone()
    }

    /// The calls to one method (`chat.update`, `response/<name>`), in order.
    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The latest body of a message (after every `chat.update`), if it exists.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.shared
            .lock()
            .messages
            .get(&(channel.to_owned(), ts.to_owned()))
            .cloned()
    }

    /// Waits until `done(calls)` holds, at most `timeout`; whether it held.
    pub async fn wait_for(&self, done: impl Fn(&[SlackCall]) -> bool, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(&self.calls()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&self.calls());
            }
        }
    }

    /// The next `n` Web API calls answer `{"ok":false,"error":<error>}`.
    pub fn fail_next(&self, n: usize, error: &str) {
        let mut inner = self.shared.lock();
        inner
            .faults
            .fail
            .extend(std::iter::repeat_n(error.to_owned(), n));
    }

    /// Enforces Slack's limit of about one message per channel per `interval` (Slack's is one
    /// second): a `chat.postMessage` or `chat.update` into a channel sooner than that after the
    /// last one that went through answers HTTP 429 with `Retry-After`, as Slack does.
    pub fn enforce_channel_rate(&self, interval: std::time::Duration) {
        self.shared.lock().faults.per_channel = Some(interval);
    }

    /// How many calls were refused with 429 so far.
    pub fn rate_limited(&self) -> usize {
        self.shared.lock().faults.limited
    }

    /// The next `n` Web API calls answer HTTP 429 with `Retry-After: <retry_after_secs>`.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        let mut inner = self.shared.lock();
        inner
            .faults
            .rate_limit
            .extend(std::iter::repeat_n(retry_after_secs, n));
    }
}

/// `GET /_fake/calls`: every call so far, as JSON (`method`, `body`, `ok`), for scripts that
/// run the fake as a process of its own (`slack-fake`).
async fn calls_json(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let calls: Vec<Value> = shared
        .lock()
        .calls
        .iter()
        .map(|c| json!({ "method": c.method, "body": c.body, "ok": c.ok }))
        .collect();
    axum::Json(Value::Array(calls))
}

/// `GET /_fake/messages`: every message as it stands now (`channel`, `ts`, latest `body`).
async fn messages_json(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let mut messages: Vec<Value> = shared
        .lock()
        .messages
        .iter()
        .map(|((channel, ts), body)| json!({ "channel": channel, "ts": ts, "body": body }))
        .collect();
    messages.sort_by(|a, b| a["ts"].as_str().cmp(&b["ts"].as_str()));
    axum::Json(Value::Array(messages))
}

/// `POST /_fake/trigger`: a fresh trigger id, for a process that plays Slack's client
/// (`send`) against a fake it does not hold.
async fn trigger_json(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    axum::Json(json!({ "trigger_id": issue_trigger(&shared) }))
}

/// `GET /_fake/views`: every modal opened or updated, in order, and each user's home tab.
async fn views_json(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let inner = shared.lock();
    let homes: Map<String, Value> = inner
        .homes
        .iter()
        .map(|(u, v)| (u.clone(), v.clone()))
        .collect();
    axum::Json(json!({ "views": inner.view_log, "homes": homes }))
}

fn issue_trigger(shared: &Shared) -> String {
    let mut inner = shared.lock();
    let n = inner.next();
    // Slack's look: `<digits>.<digits>.<hex>`.
    let id = format!(
        "{}.{n:06}.{:016x}",
        shared.started_secs,
        rand::random::<u64>()
    );
    inner.triggers.insert(
        id.clone(),
        Trigger {
            issued: std::time::Instant::now(),
            used: false,
        },
    );
    id
}

/// Parses a JSON or form body into JSON; a form's `blocks` and `view` (JSON strings) are parsed too.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(body) {
            let value = match k.as_ref() {
                "blocks" | "view" => {
                    serde_json::from_str(&v).unwrap_or(Value::String(v.into_owned()))
                }
                _ => Value::String(v.into_owned()),
            };
            map.insert(k.into_owned(), value);
        }
        Some(Value::Object(map))
    } else {
        serde_json::from_slice(body).ok().filter(Value::is_object)
    }
}

fn slack_error(error: &str) -> Response {
    axum::Json(json!({ "ok": false, "error": error })).into_response()
}

fn text_of(body: &Value, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = parse_body(&headers, &body);
    let recorded = parsed.clone().unwrap_or(Value::Null);

    // Faults come first, as a real rate limit or outage would.
    let fault = {
        let mut inner = shared.lock();
        let channel = parsed
            .as_ref()
            .and_then(|b| text_of(b, "channel"))
            .filter(|_| matches!(method.as_str(), "chat.postMessage" | "chat.update"));
        if !inner.faults.rate_limit.is_empty() {
            Some(Err(inner.faults.rate_limit.remove(0)))
        } else if !inner.faults.fail.is_empty() {
            Some(Ok(inner.faults.fail.remove(0)))
        } else if let (Some(interval), Some(channel)) = (inner.faults.per_channel, channel) {
            let now = std::time::Instant::now();
            match inner.faults.last_in_channel.get(&channel) {
                Some(last) if now.duration_since(*last) < interval => {
                    let wait = interval - now.duration_since(*last);
                    Some(Err(wait.as_secs_f64().ceil().max(1.0) as u64))
                }
                _ => {
                    inner.faults.last_in_channel.insert(channel, now);
                    None
                }
            }
        } else {
            None
        }
    };
    match fault {
        Some(Err(retry_after)) => {
            shared.lock().faults.limited += 1;
            shared.record(&method, recorded, false);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.to_string())],
                axum::Json(json!({ "ok": false, "error": "ratelimited" })),
            )
                .into_response();
        }
        Some(Ok(error)) => {
            shared.record(&method, recorded, false);
            return slack_error(&error);
        }
        None => {}
    }

    let expected = format!("Bearer {}", shared.token);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        shared.record(&method, recorded, false);
        return slack_error("invalid_auth");
    }
    let Some(body) = parsed else {
        shared.record(&method, recorded, false);
        return slack_error("invalid_arguments");
    };

    let answer = match method.as_str() {
        "chat.postMessage" => post_message(&shared, &body),
        "chat.update" => update(&shared, &body),
        "chat.postEphemeral" => post_ephemeral(&shared, &body),
        "views.open" => views_open(&shared, &body),
        "views.update" => views_update(&shared, &body),
        "views.publish" => views_publish(&shared, &body),
        _ => Err("unknown_method"),
    };
    shared.record(&method, body, answer.is_ok());
    let latency = shared.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match answer {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => slack_error(e),
    }
}

fn has_content(body: &Value) -> bool {
    text_of(body, "text").is_some() || body.get("blocks").is_some_and(|b| !b.is_null())
}

fn post_message(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let channel = text_of(body, "channel").ok_or("channel_not_found")?;
    if !has_content(body) {
        return Err("no_text");
    }
    let ts = {
        let mut inner = shared.lock();
        inner.next_ts += 1;
        let ts = format!("{}.{:06}", shared.started_secs, inner.next_ts);
        inner
            .messages
            .insert((channel.clone(), ts.clone()), body.clone());
        ts
    };
    print(shared, "message", &channel, body);
    Ok(json!({ "ok": true, "channel": channel, "ts": ts, "message": body }))
}

fn update(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let channel = text_of(body, "channel").ok_or("channel_not_found")?;
    let ts = text_of(body, "ts").ok_or("message_not_found")?;
    {
        let mut inner = shared.lock();
        let message = inner
            .messages
            .get_mut(&(channel.clone(), ts.clone()))
            .ok_or("message_not_found")?;
        for key in ["text", "blocks"] {
            if let Some(v) = body.get(key) {
                message[key] = v.clone();
            }
        }
    }
    print(shared, "update", &channel, body);
    Ok(json!({ "ok": true, "channel": channel, "ts": ts, "text": body.get("text") }))
}

fn post_ephemeral(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let channel = text_of(body, "channel").ok_or("channel_not_found")?;
    text_of(body, "user").ok_or("user_not_in_channel")?;
    if !has_content(body) {
        return Err("no_text");
    }
    let ts = {
        let mut inner = shared.lock();
        inner.next_ts += 1;
        format!("{}.{:06}", shared.started_secs, inner.next_ts)
    };
    print(shared, "ephemeral", &channel, body);
    Ok(json!({ "ok": true, "message_ts": ts }))
}

/// A plain_text object of at most `max` characters, not empty.
fn plain_text_ok(v: &Value, max: usize) -> bool {
    v["type"] == "plain_text"
        && v["text"]
            .as_str()
            .is_some_and(|t| !t.trim().is_empty() && t.chars().count() <= max)
}

fn string_within(v: Option<&Value>, max: usize) -> bool {
    match v {
        None => true,
        Some(Value::String(s)) => s.chars().count() <= max,
        Some(_) => false,
    }
}

/// Checks a view as Slack does before it shows it; `invalid_arguments` otherwise.
fn check_view(view: &Value, kind: &str) -> Result<(), &'static str> {
    let bad = Err("invalid_arguments");
    if view["type"] != kind {
        return bad;
    }
    let Some(blocks) = view["blocks"].as_array() else {
        return bad;
    };
    if blocks.len() > MAX_VIEW_BLOCKS
        || !string_within(view.get("callback_id"), MAX_CALLBACK_ID)
        || !string_within(view.get("private_metadata"), MAX_PRIVATE_METADATA)
    {
        return bad;
    }
    if kind == "modal" {
        let has_inputs = blocks.iter().any(|b| b["type"] == "input");
        if !plain_text_ok(&view["title"], MAX_VIEW_TITLE)
            || (has_inputs && view.get("submit").is_none())
            || ["submit", "close"].iter().any(|k| {
                view.get(*k)
                    .is_some_and(|v| !plain_text_ok(v, MAX_VIEW_TITLE))
            })
        {
            return bad;
        }
    }
    Ok(())
}

fn view_of(body: &Value) -> Result<Value, &'static str> {
    match body.get("view") {
        Some(v) if v.is_object() => Ok(v.clone()),
        _ => Err("invalid_arguments"),
    }
}

fn new_hash(shared: &Shared, inner: &mut Inner) -> String {
    format!("{}.{:08x}", shared.started_secs, inner.next())
}

fn views_open(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let view = view_of(body)?;
    check_view(&view, "modal")?;
    let trigger = text_of(body, "trigger_id").ok_or("invalid_trigger_id")?;
    let ttl = Duration::from_millis(shared.trigger_ttl_ms.load(Ordering::SeqCst));
    let view = {
        let mut inner = shared.lock();
        match inner.triggers.get_mut(&trigger) {
            None => return Err("invalid_trigger_id"),
            Some(t) if t.used || t.issued.elapsed() > ttl => return Err("expired_trigger_id"),
            Some(t) => t.used = true,
        }
        let n = inner.next();
        let id = format!("V{n:010}");
        let mut view = view;
        view["id"] = json!(id);
        view["hash"] = json!(new_hash(shared, &mut inner));
        inner.open_views.insert(id, view.clone());
        inner.view_log.push(view.clone());
        view
    };
    print_line(shared, &format!("modal opened: {}", view_summary(&view)));
    Ok(json!({ "ok": true, "view": view }))
}

fn views_update(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let id = text_of(body, "view_id").ok_or("not_found")?;
    let view = view_of(body)?;
    check_view(&view, "modal")?;
    let view = {
        let mut inner = shared.lock();
        let current = inner.open_views.get(&id).ok_or("not_found")?;
        if let Some(hash) = text_of(body, "hash")
            && current["hash"].as_str() != Some(hash.as_str())
        {
            return Err("hash_conflict");
        }
        let mut view = view;
        view["id"] = json!(id);
        view["hash"] = json!(new_hash(shared, &mut inner));
        inner.open_views.insert(id, view.clone());
        inner.view_log.push(view.clone());
        view
    };
    print_line(shared, &format!("modal updated: {}", view_summary(&view)));
    Ok(json!({ "ok": true, "view": view }))
}

fn views_publish(shared: &Shared, body: &Value) -> Result<Value, &'static str> {
    let user = text_of(body, "user_id").ok_or("invalid_arguments")?;
    let view = view_of(body)?;
    check_view(&view, "home")?;
    let blocks = view["blocks"].as_array().map_or(0, Vec::len);
    let view = {
        let mut inner = shared.lock();
        let current = inner.homes.get(&user);
        if let Some(hash) = text_of(body, "hash")
            && current.and_then(|c| c["hash"].as_str()) != Some(hash.as_str())
        {
            return Err("hash_conflict");
        }
        let id = match current.and_then(|c| c["id"].as_str()) {
            Some(id) => id.to_owned(),
            None => format!("V{:010}", inner.next()),
        };
        let mut view = view;
        view["id"] = json!(id);
        view["hash"] = json!(new_hash(shared, &mut inner));
        inner.homes.insert(user.clone(), view.clone());
        view
    };
    // The demo terminal shows the home's text, as it shows messages.
    print(shared, &format!("App Home ({blocks} blocks)"), &user, &view);
    Ok(json!({ "ok": true, "view": view }))
}

/// `"Share an image" (V0000000003, 5 blocks)`.
fn view_summary(view: &Value) -> String {
    format!(
        "{:?} ({}, {} blocks)",
        view["title"]["text"].as_str().unwrap_or_default(),
        view["id"].as_str().unwrap_or_default(),
        view["blocks"].as_array().map_or(0, Vec::len)
    )
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = parse_body(&headers, &body);
    let ok = parsed.is_some();
    let recorded = parsed.unwrap_or(Value::Null);
    if ok {
        print(shared.as_ref(), "response", &name, &recorded);
    }
    shared.record(&format!("response/{name}"), recorded, ok);
    if ok {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "invalid_payload").into_response()
    }
}

/// Prints one line about a view when the printer is on: the demo shows that a form opened or
/// a home tab changed, not the whole form.
fn print_line(shared: &Shared, line: &str) {
    if !shared.printer.load(Ordering::SeqCst) {
        return;
    }
    // As in `print`: a closed stdout must not take the server down.
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "--- slack {line} ---\n");
}

/// Prints a message as text when the printer is on (the demo's "Slack window").
fn print(shared: &Shared, what: &str, target: &str, body: &Value) {
    if !shared.printer.load(Ordering::SeqCst) {
        return;
    }
    let content = match body.get("blocks") {
        Some(b) if b.is_array() => blocks_as_text(b),
        _ => body
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let thread = body
        .get("thread_ts")
        .and_then(Value::as_str)
        .map(|t| format!(" (thread {t})"))
        .unwrap_or_default();
    // The demo terminal is the fake's whole point; this is its only output.
    // A closed stdout (`dev | head`) must not take the server down: ignore write errors.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stdout().lock(),
        "--- slack {what} to {target}{thread} ---\n{content}\n"
    );
}
