//! `FakeSlack`: a small stateful stand-in for the Slack Web API and for `response_url`s, served
//! on `127.0.0.1:0`. It checks the bot token, keeps the messages so `chat.update` can only edit
//! one that exists, records every call, injects `ok:false` errors and 429s, and can print each
//! message as text for the local demo's terminal. Run alone (`slack-fake`, for the fault
//! suite), `GET /_fake/calls` and `GET /_fake/messages` show what it received.

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
    /// `chat.postMessage`, `chat.update`, `chat.postEphemeral`, or `response/<name>`.
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

#[derive(Default)]
struct Inner {
    calls: Vec<SlackCall>,
    /// (channel, ts) → the message's latest body.
    messages: HashMap<(String, String), Value>,
    next_ts: u64,
    faults: Faults,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    changed: Notify,
    printer: AtomicBool,
    /// Milliseconds every Web API answer waits (after the call is recorded), so that a
    /// process killed mid-delivery has sent the call but not read the answer.
    latency_ms: AtomicU64,
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
            started_secs: chrono::Utc::now().timestamp(),
        });
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/response/{name}", post(response))
            .route("/_fake/calls", axum::routing::get(calls_json))
            .route("/_fake/messages", axum::routing::get(messages_json))
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

/// Parses a JSON or form body into JSON; a form's `blocks` (a JSON string) is parsed too.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(body) {
            let value = match k.as_ref() {
                "blocks" => serde_json::from_str(&v).unwrap_or(Value::String(v.into_owned())),
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
