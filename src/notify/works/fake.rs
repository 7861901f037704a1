//! `FakeWorks`: a small stateful stand-in for NAVER WORKS, served on `127.0.0.1:0`: the token
//! endpoint checks the JWT-bearer form and verifies the assertion's RS256 signature with the
//! app's public key (and `iss`, `sub`, `iat`, `exp` within an hour), counts token requests and
//! issues tokens; the two message endpoints check the bearer token, record every message, and
//! answer 429 (with `rateLimit-reset`) or 401 on demand. It can print each message as text for
//! the local demo's terminal. `GET /_fake/messages` shows what it received.

use super::api::{Claims, GRANT_TYPE};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, oneshot};

/// Where a recorded message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorksTarget {
    /// 1:1 to a user id (or login email).
    User(String),
    /// To a room, by channel id.
    Channel(String),
}

/// One message the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct WorksMessage {
    /// The bot id in the path.
    pub bot_id: String,
    /// Where it went.
    pub to: WorksTarget,
    /// The `content` object as sent.
    pub content: Value,
}

impl WorksMessage {
    /// The message's visible text: `text` of a text message, `contentText` of a button template.
    pub fn text(&self) -> &str {
        self.content["text"]
            .as_str()
            .or_else(|| self.content["contentText"].as_str())
            .unwrap_or_default()
    }

    /// The `postback` strings of the message's actions (a button template's Approve and Deny).
    pub fn postbacks(&self) -> Vec<String> {
        self.content["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["postback"].as_str().map(str::to_owned))
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    messages: Vec<WorksMessage>,
    tokens_issued: Vec<String>,
    revoked: Vec<String>,
    token_requests: u64,
    refused_token_requests: u64,
    rate_limit_next: u32,
    unauthorised_next: u32,
    fail_next: Vec<u16>,
}

struct Shared {
    public_key: DecodingKey,
    client_id: String,
    client_secret: String,
    service_account: String,
    expires_in: u64,
    inner: Mutex<Inner>,
    changed: Notify,
    printer: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the fake accepts: the app's public key and the ids the token request must carry.
#[derive(Debug, Clone)]
pub struct FakeWorksApp {
    /// The public half of `WORKS_PRIVATE_KEY`, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// `WORKS_CLIENT_ID`.
    pub client_id: String,
    /// `WORKS_CLIENT_SECRET`.
    pub client_secret: String,
    /// `WORKS_SERVICE_ACCOUNT`.
    pub service_account: String,
}

/// The demo's key pair (`testdata/`): only for the fake, the local demo and tests. Never use it
/// with a real tenant.
pub const DEMO_PRIVATE_KEY_PEM: &str = include_str!("testdata/demo-key.pem");
/// The public half of [`DEMO_PRIVATE_KEY_PEM`].
pub const DEMO_PUBLIC_KEY_PEM: &str = include_str!("testdata/demo-key.pub.pem");

impl FakeWorksApp {
    /// The demo app: the demo key pair and fixed ids.
    pub fn demo() -> Self {
        Self {
            public_key_pem: DEMO_PUBLIC_KEY_PEM.into(),
            client_id: "demo-client-id".into(),
            client_secret: "demo-client-secret".into(),
            service_account: "demo.serviceaccount@example.com".into(),
        }
    }
}

/// A running fake NAVER WORKS; dropping it stops the server.
pub struct FakeWorks {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for FakeWorks {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeWorks {
    /// Starts a fake for `app` on `127.0.0.1:0`, issuing tokens that last a day.
    ///
    /// Panics if no port can be bound or the public key is not an RSA key in PEM.
    pub async fn start(app: FakeWorksApp) -> FakeWorks {
        Self::try_start(app, "127.0.0.1:0", 86_400)
            .await
            .expect("start the fake NAVER WORKS")
    }

    /// Starts a fake on `addr`, issuing tokens that last `expires_in` seconds.
    pub async fn try_start(
        app: FakeWorksApp,
        addr: &str,
        expires_in: u64,
    ) -> std::io::Result<FakeWorks> {
        let public_key = DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            public_key,
            client_id: app.client_id,
            client_secret: app.client_secret,
            service_account: app.service_account,
            expires_in,
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            printer: AtomicBool::new(false),
        });
        let router = Router::new()
            .route("/oauth2/v2.0/token", post(token))
            .route("/v1.0/bots/{bot}/users/{user}/messages", post(to_user))
            .route(
                "/v1.0/bots/{bot}/channels/{channel}/messages",
                post(to_channel),
            )
            .route("/_fake/messages", get(messages_json))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "fake NAVER WORKS stopped with an error");
            }
        });
        Ok(FakeWorks {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Prints every message as text on stdout (for the demo terminal).
    pub fn with_printer(self, on: bool) -> Self {
        self.shared.printer.store(on, Ordering::SeqCst);
        self
    }

    /// `http://127.0.0.1:PORT/v1.0`, for `[works] api_base_url`.
    pub fn api_base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// `http://127.0.0.1:PORT/oauth2/v2.0/token`, for `[works] auth_url`.
    pub fn auth_url(&self) -> String {
        format!("http://{}/oauth2/v2.0/token", self.addr)
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<WorksMessage> {
        self.shared.lock().messages.clone()
    }

    /// The messages sent to one room.
    pub fn channel_messages(&self, channel: &str) -> Vec<WorksMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.to == WorksTarget::Channel(channel.into()))
            .collect()
    }

    /// The messages sent 1:1 to one user.
    pub fn user_messages(&self, user: &str) -> Vec<WorksMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.to == WorksTarget::User(user.into()))
            .collect()
    }

    /// Token requests answered with a token.
    pub fn token_requests(&self) -> u64 {
        self.shared.lock().token_requests
    }

    /// Token requests refused (bad form, bad assertion).
    pub fn refused_token_requests(&self) -> u64 {
        self.shared.lock().refused_token_requests
    }

    /// Every token issued so far stops working (the next call with one answers 401).
    pub fn revoke_tokens(&self) {
        let mut inner = self.shared.lock();
        let issued = inner.tokens_issued.clone();
        inner.revoked.extend(issued);
    }

    /// The next `n` message calls answer 429 with `rateLimit-reset: 0`.
    pub fn rate_limit_next(&self, n: u32) {
        self.shared.lock().rate_limit_next = n;
    }

    /// The next `n` message calls answer 403 `UNAUTHORIZED`, as for an expired token.
    pub fn unauthorised_next(&self, n: u32) {
        self.shared.lock().unauthorised_next = n;
    }

    /// The next message calls answer these statuses, one each.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.shared.lock().fail_next.extend_from_slice(statuses);
    }

    /// Waits until at least `n` messages were accepted, or `timeout` passes; returns them.
    pub async fn wait_for_messages(
        &self,
        n: usize,
        timeout: std::time::Duration,
    ) -> Vec<WorksMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let now = self.messages();
            if now.len() >= n || tokio::time::Instant::now() >= deadline {
                return now;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "description": code.to_lowercase()})),
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let refuse = |code: &str| {
        shared.lock().refused_token_requests += 1;
        error(StatusCode::BAD_REQUEST, code)
    };
    if field("grant_type") != GRANT_TYPE {
        return refuse("unsupported_grant_type");
    }
    if field("client_id") != shared.client_id || field("client_secret") != shared.client_secret {
        return refuse("invalid_client");
    }
    if field("scope").is_empty() {
        return refuse("invalid_scope");
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[shared.client_id.as_str()]);
    validation.sub = Some(shared.service_account.clone());
    validation.set_required_spec_claims(&["iss", "sub", "exp"]);
    validation.leeway = 5;
    let claims =
        match jsonwebtoken::decode::<Claims>(field("assertion"), &shared.public_key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return refuse("invalid_grant"),
        };
    let now = chrono::Utc::now().timestamp();
    if claims.exp - claims.iat > 3600 || claims.iat > now + 5 {
        return refuse("invalid_grant");
    }
    let mut inner = shared.lock();
    inner.token_requests += 1;
    let value = format!("fake-works-token-{}", inner.token_requests);
    inner.tokens_issued.push(value.clone());
    // NAVER WORKS has sent `expires_in` as a string; the client accepts both.
    axum::Json(json!({
        "access_token": value,
        "refresh_token": "fake-refresh",
        "scope": field("scope"),
        "token_type": "Bearer",
        "expires_in": shared.expires_in.to_string(),
    }))
    .into_response()
}

async fn to_user(
    State(shared): State<Arc<Shared>>,
    Path((bot, user)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    message(&shared, bot, WorksTarget::User(user), &headers, &body)
}

async fn to_channel(
    State(shared): State<Arc<Shared>>,
    Path((bot, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    message(&shared, bot, WorksTarget::Channel(channel), &headers, &body)
}

fn message(
    shared: &Shared,
    bot_id: String,
    to: WorksTarget,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut inner = shared.lock();
    if !inner.tokens_issued.contains(&bearer) || inner.revoked.contains(&bearer) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    if inner.unauthorised_next > 0 {
        inner.unauthorised_next -= 1;
        return error(StatusCode::FORBIDDEN, "UNAUTHORIZED");
    }
    if inner.rate_limit_next > 0 {
        inner.rate_limit_next -= 1;
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS");
        r.headers_mut()
            .insert("rateLimit-reset", header::HeaderValue::from_static("0"));
        return r;
    }
    if !inner.fail_next.is_empty() {
        let status = inner.fail_next.remove(0);
        return error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "FAKE_FAILURE",
        );
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(content) = parsed
        .as_ref()
        .map(|b| b["content"].clone())
        .filter(Value::is_object)
    else {
        return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER");
    };
    if let Err(problem) = super::render::check_content(&content) {
        tracing::warn!(%problem, "fake NAVER WORKS refused a message");
        return error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER");
    }
    let m = WorksMessage {
        bot_id,
        to,
        content,
    };
    if shared.printer.load(Ordering::SeqCst) {
        let whom = match &m.to {
            WorksTarget::User(u) => format!("to {u}"),
            WorksTarget::Channel(c) => format!("in room {c}"),
        };
        let buttons = m.postbacks();
        let buttons = if buttons.is_empty() {
            String::new()
        } else {
            format!("\n[buttons: {}]", buttons.join("  "))
        };
        // The demo terminal; a closed stdout (`dev | head`) must not take the server down.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout().lock(),
            "--- naver works {whom} ---\n{}{buttons}\n",
            m.text()
        );
    }
    inner.messages.push(m);
    drop(inner);
    shared.changed.notify_waiters();
    StatusCode::CREATED.into_response()
}

async fn messages_json(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared
        .lock()
        .messages
        .iter()
        .map(|m| {
            let (kind, id) = match &m.to {
                WorksTarget::User(u) => ("user", u),
                WorksTarget::Channel(c) => ("channel", c),
            };
            json!({"bot_id": m.bot_id, kind: id, "content": m.content})
        })
        .collect();
    axum::Json(list).into_response()
}
