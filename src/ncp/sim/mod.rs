//! The NCP simulator: a local stand-in for the vserver v2 image-sharing API, used by every test,
//! the local demo and the benchmarks (`ncp-share-approver ncp-sim`).
//!
//! What it does like the real gateway and vserver (see `reference/ncp-api.md`):
//! - `GET` and `POST` on `/vserver/v2/{operation}`, parameters merged from the query string and
//!   an `application/x-www-form-urlencoded` body; list parameters `name.N` sorted by `N`;
//! - signature v2 checked over the raw path and query as received, under the header
//!   `x-ncp-apigw-signature-v2` or `-v1`, with a 5-minute skew window both ways;
//! - the XEN member-image operations and the KVM server-image operations, each account seeing
//!   only its own images;
//! - NCP's envelopes and error shapes, pretty-printed so the official Go SDK can parse them.
//!
//! Simulator choices where NCP's behaviour is undocumented:
//! - bodies are always JSON, even for `responseFormatType=xml` or none (NCP defaults to XML);
//! - `regionCode` and `platformTypeCodeList.N` are accepted and ignored;
//! - only the sharing-related operations exist; any other operation is the gateway's 404;
//! - the service error codes of [`SERVICE_ERROR_CODES`]; only `1104037` is a real NCP code.

mod handlers;
mod params;
mod render;
mod seed;
mod state;

pub use seed::{
    DEMO_ACCESS_KEY, DEMO_LOGIN_ID, DEMO_OTHER_ACCESS_KEY, DEMO_OTHER_LOGIN_ID,
    DEMO_OTHER_SECRET_KEY, DEMO_SECRET_KEY, IMAGE_STATUSES, Seed, SeedAccount, SeedError,
    SeedImage,
};

use crate::ncp::Hypervisor;
use anyhow::Context as _;
use axum::Router;
use axum::routing::any;
use state::State;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Real NCP code: the image does not exist, or belongs to another account.
pub const ERR_IMAGE_NOT_FOUND: &str = "1104037";
/// Simulator code: a member-image call on a KVM image (use the server-image APIs).
pub const ERR_KVM_NOT_SUPPORTED: &str = "1104041";
/// Simulator code: granting access to an image whose status is not `CREAT`.
pub const ERR_NOT_CREATED: &str = "1104042";
/// Simulator code: the same login ID twice in one call's `targetLoginIdList`.
pub const ERR_DUPLICATE_LOGIN_ID: &str = "1104043";
/// Simulator code: `add`/`removeServerImageSharingPermission` on a XEN image (use the member-image APIs).
pub const ERR_XEN_USE_MEMBER_API: &str = "1104044";
/// Simulator code: a required parameter is missing or a parameter value is invalid.
pub const ERR_INVALID_PARAMETER: &str = "1100001";

/// Every service error code the simulator returns (HTTP 400, `responseError`), with its meaning.
///
/// NCP does not publish the codes for these cases, so apart from `1104037` (seen in the wild
/// as "The server image could not be found") they are the simulator's own: clients must not
/// depend on them beyond tests.
pub const SERVICE_ERROR_CODES: [(&str, &str); 6] = [
    (
        ERR_IMAGE_NOT_FOUND,
        "The server image could not be found (unknown, or another account's)",
    ),
    (
        ERR_KVM_NOT_SUPPORTED,
        "KVM image given to a member-server-image API",
    ),
    (
        ERR_NOT_CREATED,
        "image cannot be shared unless its status is CREAT",
    ),
    (
        ERR_DUPLICATE_LOGIN_ID,
        "a login ID appears twice in targetLoginIdList",
    ),
    (
        ERR_XEN_USE_MEMBER_API,
        "XEN image given to add/removeServerImageSharingPermission",
    ),
    (
        ERR_INVALID_PARAMETER,
        "missing required parameter or invalid parameter value",
    ),
];

/// Injected trouble, applied to authenticated calls before the operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Added to every authenticated call before it is answered.
    pub latency: Duration,
    /// Probability (0.0 to 1.0) of answering 429 with gateway code `420` "Rate Limited".
    pub rate_429: f64,
    /// Probability (0.0 to 1.0) of answering 503 with gateway code `500` "Endpoint Error".
    pub rate_503: f64,
}

/// One image as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimImage {
    /// The image number (digits).
    pub no: String,
    /// The image name.
    pub name: String,
    /// The image description; empty unless a test sets it.
    pub description: String,
    /// The owning account's login ID; only that account can see the image.
    pub owner: String,
    /// XEN (member-image APIs) or KVM (server-image APIs).
    pub hypervisor: Hypervisor,
    /// `INIT`, `CREAT` or `CREFL`; only `CREAT` can be shared.
    pub status: String,
    /// Login IDs the image is shared with, in the order they were added, without duplicates.
    pub shared_with: Vec<String>,
    /// `createDate` as NCP formats it, e.g. `2020-08-24T10:34:27+0900`.
    pub create_date: String,
}

impl SimImage {
    /// A `CREAT` image shared with nobody, created now (Korea time, like NCP's `createDate`).
    pub fn new(no: &str, name: &str, owner: &str, hypervisor: Hypervisor) -> Self {
        let kst = chrono::FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset");
        Self {
            no: no.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            owner: owner.to_owned(),
            hypervisor,
            status: "CREAT".to_owned(),
            shared_with: Vec::new(),
            create_date: chrono::Utc::now()
                .with_timezone(&kst)
                .format("%Y-%m-%dT%H:%M:%S%z")
                .to_string(),
        }
    }
}

/// `GET /_sim/calls`: every call received, as JSON (operation, status, decoded parameters).
async fn calls_json(
    axum::extract::State(sim): axum::extract::State<Simulator>,
) -> axum::Json<serde_json::Value> {
    let calls: Vec<serde_json::Value> = sim
        .calls()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "method": c.method,
                "operation": c.operation,
                "status": c.status,
                "params": c.params,
            })
        })
        .collect();
    axum::Json(serde_json::Value::Array(calls))
}

/// One call as the simulator received it, for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path after `/vserver/v2/` (the whole path if it is not under that prefix).
    pub operation: String,
    /// The raw path and query exactly as received (what the signature covers).
    pub path_and_query: String,
    /// The decoded parameters from query and form body, in arrival order.
    pub params: Vec<(String, String)>,
    /// Which signature header was sent: `Some("v2")`, `Some("v1")` or `None`.
    pub signature_header: Option<&'static str>,
    /// The access key ID sent, if any.
    pub access_key: Option<String>,
    /// The HTTP status the call was answered with.
    pub status: u16,
}

impl RecordedCall {
    /// The first decoded value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A simulated NCP vserver endpoint; cheap to clone, all clones share one state.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
}

/// The system clock in milliseconds since the Unix epoch, as the gateway compares timestamps.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Simulator {
    /// A simulator starting from a validated seed.
    pub fn new(seed: Seed) -> Result<Self, SeedError> {
        seed.validate()?;
        let images = seed
            .sim_images()
            .into_iter()
            .map(|i| (i.no.clone(), i))
            .collect();
        let state = State {
            accounts: seed.accounts,
            images,
            faults: seed.faults,
            ..State::default()
        };
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// A simulator with [`Seed::demo`]: `owner@corp.example` and its golden images.
    pub fn demo() -> Self {
        Self::new(Seed::demo()).expect("the demo seed is valid")
    }

    /// The axum router serving `/vserver/v2/{operation}`; every other path gets the gateway's 404.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/vserver/v2/{operation}", any(handlers::handle))
            // Simulator only (real NCP has nothing like it): the call log, for scripts that run
            // the simulator as a separate process (the kill -9 fault suite).
            .route("/_sim/calls", axum::routing::get(calls_json))
            .fallback(handlers::handle)
            .with_state(self.clone())
    }

    /// Binds `addr` (use `127.0.0.1:0` in tests), serves in a tokio task and returns the bound
    /// address with a handle that stops the server on drop or [`RunningSimulator::shutdown`].
    pub async fn spawn(&self, addr: &str) -> std::io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "NCP simulator stopped with an error");
            }
        });
        Ok(RunningSimulator {
            addr,
            base_url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Replaces the injected faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Makes the next `n` authenticated calls fail with HTTP `status` and the gateway's body for
    /// it (429 → `420` "Rate Limited", 503 → `500` "Endpoint Error", 504 → `510`, ...).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock()
            .fail_queue
            .extend(std::iter::repeat_n(status, n));
    }

    /// Every call received so far, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Forgets the calls received so far.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// An image by number, whoever owns it.
    pub fn image(&self, no: &str) -> Option<SimImage> {
        self.lock().images.get(no).cloned()
    }

    /// The login IDs an image is shared with, in order; empty for an unknown image.
    pub fn shared_with(&self, no: &str) -> Vec<String> {
        self.image(no).map(|i| i.shared_with).unwrap_or_default()
    }

    /// Adds an image, or replaces the one with the same number; its owner should be a seeded
    /// account's login ID, or no caller will ever see it.
    pub fn add_image(&self, image: SimImage) {
        self.lock().images.insert(image.no.clone(), image);
    }

    /// Sets an image's status (`INIT`, `CREAT`, `CREFL`); returns false if there is no such image.
    pub fn set_status(&self, no: &str, status: &str) -> bool {
        match self.lock().images.get_mut(no) {
            Some(image) => {
                image.status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// The accounts' login IDs and access keys (never the secret keys), for start-up logs.
    pub fn access_keys(&self) -> Vec<(String, String)> {
        self.lock()
            .accounts
            .iter()
            .map(|a| (a.login_id.clone(), a.access_key.clone()))
            .collect()
    }

    /// Every image, in number order.
    pub fn images(&self) -> Vec<SimImage> {
        let mut images: Vec<SimImage> = self.lock().images.values().cloned().collect();
        images.sort_by(|a, b| (a.no.len(), &a.no).cmp(&(b.no.len(), &b.no)));
        images
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (every change is a
        // single assignment), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, call: RecordedCall) {
        self.lock().calls.push(call);
    }

    /// Picks the fault for one call: the latency, and a status from the queue or the dice.
    fn draw_fault(&self) -> (Duration, Option<u16>) {
        let mut state = self.lock();
        let faults = state.faults;
        if let Some(status) = state.fail_queue.pop_front() {
            return (faults.latency, Some(status));
        }
        let injected = if faults.rate_429 > 0.0 || faults.rate_503 > 0.0 {
            let roll: f64 = rand::random();
            if roll < faults.rate_429 {
                Some(429)
            } else if roll < faults.rate_429 + faults.rate_503 {
                Some(503)
            } else {
                None
            }
        } else {
            None
        };
        (faults.latency, injected)
    }
}

/// A simulator serving on a local port; dropping it stops the server.
#[derive(Debug)]
pub struct RunningSimulator {
    /// The address it is bound to.
    pub addr: SocketAddr,
    /// `http://ADDR`, the value for the client's endpoint override.
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// Stops accepting connections and waits up to 5 s for open calls to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                // Idle keep-alive connections can hold a graceful shutdown open; cut them.
                abort.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves a simulator on `listen` until Ctrl-C; what `ncp-share-approver ncp-sim` runs.
pub async fn run(listen: &str, seed: Seed) -> anyhow::Result<()> {
    let is_demo = seed
        .accounts
        .iter()
        .any(|a| a.access_key == DEMO_ACCESS_KEY);
    let sim = Simulator::new(seed)?;
    let running = sim
        .spawn(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(base_url = %running.base_url, "NCP simulator listening");
    for (login_id, access_key) in sim.access_keys() {
        tracing::info!(%login_id, %access_key, "NCP simulator account");
    }
    for image in sim.images() {
        tracing::info!(
            no = %image.no,
            name = %image.name,
            owner = %image.owner,
            hypervisor = %image.hypervisor,
            status = %image.status,
            shared_with = ?image.shared_with,
            "NCP simulator image"
        );
    }
    if is_demo {
        // The demo keys are published in the README, so printing them helps and leaks nothing.
        println!(
            "\nNCP simulator on {url} (demo seed). Try it from another terminal:\n\n  export NCP_API_ENDPOINT={url}\n  export NCP_ACCESS_KEY={DEMO_ACCESS_KEY}\n  export NCP_SECRET_KEY={DEMO_SECRET_KEY}\n  cargo run -q -- shares 1234567\n  cargo run -q -- shares 3456789 --json\n\nCtrl-C stops it.",
            url = running.base_url
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    tracing::info!("NCP simulator stopping");
    running.shutdown().await;
    Ok(())
}
