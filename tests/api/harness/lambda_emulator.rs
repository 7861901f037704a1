//! A strict AWS Lambda stand-in: the Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `.../{id}/response`, `.../{id}/error`, `.../init/error`)
//! served on 127.0.0.1:0 for one real process, which runs in its own process group and is
//! FROZEN (SIGSTOP) whenever it asks for the next event and none is waiting, and thawed
//! (SIGCONT) only to be handed the next one: what Lambda does, and what `cargo lambda watch`
//! does not. Work a function leaves in background tasks after answering does not run while it
//! is frozen. Also: the SQS event source mapping between a queue and a function
//! ([`SqsEventSource`]), and TLS stand-ins with a handshake delay in front of the fakes
//! ([`TestCa`], [`TlsProxy`]).

#![allow(dead_code)] // Each test uses a different part.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// The runtime API's version prefix.
const API: &str = "/2018-06-01/runtime";

/// What a function answered to one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST .../response`: the payload.
    Response(Bytes),
    /// `POST .../error`: the error document.
    Error(Bytes),
}

struct Pending {
    id: String,
    body: Bytes,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Pending>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    in_flight: Option<String>,
    /// The function asked for the next event and none was there to hand it: Lambda's idle
    /// sandbox. Changed under this lock together with the freeze, so that a reader never sees
    /// the gap between the two (the gap between answering and asking again is the function's
    /// own time, as on Lambda, and is not idle).
    parked: bool,
}

struct Shared {
    name: String,
    /// Freeze the process group while it waits for an event (Lambda's behaviour).
    freeze: AtomicBool,
    pgid: Mutex<Option<i32>>,
    queue: Mutex<Queue>,
    event_ready: Notify,
    frozen: AtomicBool,
    freezes: AtomicUsize,
    thaws: AtomicUsize,
    init_error: Mutex<Option<String>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signal(&self, sig: i32) {
        if let Some(pgid) = *self.pgid.lock().unwrap() {
            // SAFETY: killpg only sends a signal to the process group we created.
            unsafe {
                libc::killpg(pgid, sig);
            }
        }
    }

    fn freeze_now(&self) {
        if !self.frozen.swap(true, Ordering::SeqCst) {
            self.signal(libc::SIGSTOP);
            self.freezes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn thaw_now(&self) {
        if self.frozen.swap(false, Ordering::SeqCst) {
            self.signal(libc::SIGCONT);
            self.thaws.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// How to start a function's process.
pub struct FunctionProcess {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// The program, normally `env!("CARGO_BIN_EXE_ncp-share-approver")`, started like
    /// Lambda starts `bootstrap`: with no arguments unless given here.
    pub program: PathBuf,
    /// Arguments (none for the real binary).
    pub args: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The function's environment on top of what Lambda sets (the process starts from an
    /// empty environment with `PATH` only).
    pub env: Vec<(String, String)>,
}

/// One function under the emulator: its runtime API server and its process.
pub struct LambdaEmulator {
    shared: Arc<Shared>,
    child: Mutex<Option<Child>>,
    log: PathBuf,
    server: tokio::task::JoinHandle<()>,
    /// `127.0.0.1:PORT`, as `AWS_LAMBDA_RUNTIME_API`.
    pub runtime_api: String,
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            // SIGKILL ends a stopped process too.
            unsafe {
                libc::killpg(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
        self.server.abort();
    }
}

fn trace_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    let secs = chrono::Utc::now().timestamp();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &u[..24],
        &u[16..32]
    )
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    loop {
        let ready = s.event_ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        let event = {
            let mut q = s.lock();
            let e = q.events.pop_front();
            if let Some(e) = &e {
                q.in_flight = Some(e.id.clone());
                q.parked = false;
            } else {
                q.parked = true;
                if s.freeze.load(Ordering::SeqCst) {
                    // The runtime asked for work and there is none: Lambda freezes the sandbox
                    // here (under the lock, so that `parked` and `frozen` change together).
                    s.freeze_now();
                }
            }
            e
        };
        if let Some(e) = event {
            // Thawed only to be handed the next event.
            s.thaw_now();
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut res = (StatusCode::OK, e.body).into_response();
            let h = res.headers_mut();
            let set = |h: &mut HeaderMap, k: &'static str, v: String| {
                h.insert(k, HeaderValue::from_str(&v).unwrap());
            };
            set(h, "content-type", "application/json".into());
            set(h, "lambda-runtime-aws-request-id", e.id.clone());
            set(h, "lambda-runtime-deadline-ms", deadline.to_string());
            set(
                h,
                "lambda-runtime-invoked-function-arn",
                format!("arn:aws:lambda:us-east-1:123456789012:function:{}", s.name),
            );
            set(h, "lambda-runtime-trace-id", trace_id());
            return res;
        }
        ready.await;
    }
}

fn finish(s: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    let mut q = s.lock();
    if q.in_flight.as_deref() == Some(id) {
        q.in_flight = None;
    }
    match q.waiting.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Response(body))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Error(body))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

impl LambdaEmulator {
    /// Serves the runtime API and starts the process (freezing on; see [`Self::set_freeze`]).
    pub async fn start(f: FunctionProcess) -> Self {
        let shared = Arc::new(Shared {
            name: f.name.clone(),
            freeze: AtomicBool::new(true),
            pgid: Mutex::new(None),
            queue: Mutex::new(Queue::default()),
            event_ready: Notify::new(),
            frozen: AtomicBool::new(false),
            freezes: AtomicUsize::new(0),
            thaws: AtomicUsize::new(0),
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(error))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let runtime_api = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let log = f.cwd.join(format!("{}.log", f.name));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(&f.program);
        cmd.args(&f.args)
            .current_dir(&f.cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // What Lambda sets for a custom runtime.
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("LAMBDA_TASK_ROOT", &f.cwd)
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .envs(f.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", f.program.display()));
        *shared.pgid.lock().unwrap() = Some(child.id() as i32);
        Self {
            shared,
            child: Mutex::new(Some(child)),
            log,
            server,
            runtime_api,
        }
    }

    /// Whether the process group is frozen now.
    pub fn is_frozen(&self) -> bool {
        self.shared.frozen.load(Ordering::SeqCst)
    }

    /// How many times it was frozen.
    pub fn freezes(&self) -> usize {
        self.shared.freezes.load(Ordering::SeqCst)
    }

    /// Whether the function is idle (asked for an event, none to hand it) and yet not frozen:
    /// what Lambda never allows. Read under the lock that changes both.
    pub fn idle_and_running(&self) -> bool {
        let q = self.shared.lock();
        q.parked && !self.is_frozen()
    }

    /// Whether the operating system reports the process stopped (state `T` in
    /// `/proc/PID/stat`), waiting at most `within` for the SIGSTOP to take effect: the freeze
    /// is real, not only our flag.
    pub async fn stopped_by_os(&self, within: Duration) -> bool {
        let Some(pid) = self.child.lock().unwrap().as_ref().map(|c| c.id()) else {
            return false;
        };
        let deadline = Instant::now() + within;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `PID (COMM) STATE ...`: the state follows the last `)`.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned));
            if matches!(state.as_deref(), Some("T" | "t")) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether an invocation is being handled (handed over and not yet answered).
    pub fn busy(&self) -> bool {
        self.shared.lock().in_flight.is_some()
    }

    /// Freeze while idle (Lambda) or not (`cargo lambda watch`). Turning it off thaws now.
    pub fn set_freeze(&self, on: bool) {
        self.shared.freeze.store(on, Ordering::SeqCst);
        if !on {
            self.shared.thaw_now();
        }
    }

    /// With freezing on, waits until the process has initialised and asked for its first event
    /// (so it is frozen); without, returns at once (the first invocation waits anyway).
    pub async fn ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.shared.freeze.load(Ordering::SeqCst) && !self.is_frozen() {
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "{} did not ask for an event within {timeout:?}\n{}",
                self.shared.name,
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn check_alive(&self) {
        if let Some(init) = self.shared.init_error.lock().unwrap().clone() {
            panic!(
                "{} reported an init error: {init}\n{}",
                self.shared.name,
                self.log_tail(40)
            );
        }
        let mut guard = self.child.lock().unwrap();
        if let Some(child) = guard.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "{} exited ({status})\n{}",
                self.shared.name,
                self.log_tail(60)
            );
        }
    }

    /// Invokes the function with `event` and waits for its answer (at most 30 s).
    pub async fn invoke_raw(&self, event: &Value) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, mut rx) = oneshot::channel();
        {
            let mut q = self.shared.lock();
            q.waiting.insert(id.clone(), tx);
            q.events.push_back(Pending {
                id: id.clone(),
                body: Bytes::from(event.to_string()),
            });
        }
        self.shared.event_ready.notify_waiters();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout(Duration::from_millis(100), &mut rx).await {
                Ok(Ok(outcome)) => {
                    self.settle().await;
                    return outcome;
                }
                Ok(Err(_)) => panic!("{}: the invocation was dropped", self.shared.name),
                Err(_) => {
                    self.check_alive();
                    assert!(
                        Instant::now() < deadline,
                        "{}: no answer to invocation {id} within 30 s\n{}",
                        self.shared.name,
                        self.log_tail(40)
                    );
                }
            }
        }
    }

    /// After an answer, with freezing on: waits (at most 5 s) until the function asks for the
    /// next event and is frozen, so that consecutive invocations never overlap with the
    /// previous one's leftovers without a freeze in between (traffic with idle gaps, where
    /// issue 11 shows). It returns early if another event is already waiting.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.freeze.load(Ordering::SeqCst)
            && !self.is_frozen()
            && self.shared.lock().events.is_empty()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Invokes the function; its JSON response (panics on a function error).
    pub async fn invoke(&self, event: &Value) -> Value {
        match self.invoke_raw(event).await {
            Outcome::Response(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                panic!("{}: response is not JSON ({e}): {b:?}", self.shared.name)
            }),
            Outcome::Error(b) => panic!(
                "{}: the function failed: {}\n{}",
                self.shared.name,
                String::from_utf8_lossy(&b),
                self.log_tail(40)
            ),
        }
    }

    /// The process's output so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its output.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- last {} lines of {} ---\n{}",
            lines.len() - from,
            self.log.display(),
            lines[from..].join("\n")
        )
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &FsPath {
        &self.log
    }
}

/// An API Gateway HTTP API (payload 2.0) event for a POST with a base64 body, as Lambda
/// hands it to the HTTP function.
pub fn http_api_event(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Value {
    use base64::Engine as _;
    let mut h = serde_json::Map::new();
    h.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), json!(v));
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": h,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": chrono::Utc::now().timestamp_millis()
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
}

/// The status and body text of an HTTP API (payload 2.0) response.
pub fn http_api_answer(v: &Value) -> (u16, String) {
    use base64::Engine as _;
    let status = v["statusCode"].as_u64().unwrap_or(0) as u16;
    let body = v["body"].as_str().unwrap_or_default();
    let text = if v["isBase64Encoded"] == true {
        String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default(),
        )
        .into_owned()
    } else {
        body.to_owned()
    };
    (status, text)
}

/// Lambda's SQS event source mapping: long-polls the queue, hands batches (up to 10) to the
/// function as `aws:sqs` events, deletes what the function did not list in
/// `batchItemFailures`, and leaves those for redelivery after the visibility timeout.
pub struct SqsEventSource {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// (batch size, failed) per invocation.
    pub batches: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl SqsEventSource {
    /// Starts polling `url` (whose ARN is `arn`) for `function`.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        url: String,
        arn: String,
        function: Arc<LambdaEmulator>,
    ) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let task = tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stopped.changed() => return,
                    r = sqs.receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                        .send() => r,
                };
                let messages = match received {
                    Ok(r) => r.messages.unwrap_or_default(),
                    Err(e) => {
                        eprintln!("sqs event source: receive failed: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                if messages.is_empty() {
                    continue;
                }
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        let attributes: serde_json::Map<String, Value> = m
                            .attributes
                            .clone()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                            .collect();
                        json!({
                            "messageId": m.message_id,
                            "receiptHandle": m.receipt_handle,
                            "body": m.body,
                            "attributes": attributes,
                            "messageAttributes": {},
                            "md5OfBody": m.md5_of_body,
                            "eventSource": "aws:sqs",
                            "eventSourceARN": arn,
                            "awsRegion": "us-east-1",
                        })
                    })
                    .collect();
                let answer = function.invoke_raw(&json!({ "Records": records })).await;
                let failed: Vec<String> = match &answer {
                    Outcome::Response(b) => serde_json::from_slice::<Value>(b)
                        .ok()
                        .and_then(|v| v["batchItemFailures"].as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect(),
                    // A function error returns the whole batch.
                    Outcome::Error(_) => messages
                        .iter()
                        .filter_map(|m| m.message_id.clone())
                        .collect(),
                };
                for m in &messages {
                    if !failed.contains(m.message_id.as_ref().unwrap()) {
                        let _ = sqs
                            .delete_message()
                            .queue_url(&url)
                            .receipt_handle(m.receipt_handle.clone().unwrap())
                            .send()
                            .await;
                    }
                }
                seen.lock().unwrap().push((messages.len(), failed.len()));
            }
        });
        Self {
            stop,
            task,
            batches,
        }
    }

    /// Stops polling (after the batch in hand).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A CA made at test time and a leaf certificate for 127.0.0.1 and localhost that it signed.
pub struct TestCa {
    /// The CA certificate, PEM (what `SSL_CERT_FILE` points at).
    pub ca_pem: String,
    server: Arc<tokio_rustls::rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA and leaf.
    pub fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        use tokio_rustls::rustls;
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "ncp-share-approver test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }

    /// Writes the CA certificate to `dir/test-ca.pem`; its path.
    pub fn write_pem(&self, dir: &FsPath) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

/// A TLS-terminating proxy on 127.0.0.1:0 in front of a plain HTTP server, which holds each
/// handshake for a while, as a peer across the internet would.
pub struct TlsProxy {
    /// `https://127.0.0.1:PORT`.
    pub base_url: String,
    /// Handshakes completed.
    pub handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:PORT...`; only the address is used), each
    /// handshake held for a random time in `delay`.
    pub async fn start(ca: &TestCa, upstream: &str, delay: std::ops::Range<u64>) -> Self {
        let upstream: SocketAddr = reqwest::Url::parse(upstream)
            .unwrap()
            .socket_addrs(|| None)
            .unwrap()[0];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("https://{}", listener.local_addr().unwrap());
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server.clone());
        let handshakes = Arc::new(AtomicUsize::new(0));
        let count = handshakes.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let count = count.clone();
                let delay = delay.clone();
                tokio::spawn(async move {
                    let ms = rand::random_range(delay);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
        Self {
            base_url,
            handshakes,
            task,
        }
    }
}
