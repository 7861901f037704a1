//! `WorkflowApp`: the simulator, a signed client, a file-backed SQLite store, a test policy,
//! a manual clock and a recording notifier, wired into one `Workflow` that tests drive directly.

#![allow(dead_code)] // Each test uses a different part of the harness.

use super::ncp::{ncp_secrets, test_ncp_config};
use chrono::{DateTime, TimeZone, Utc};
use ncp_share_approver::audit::{AuditEvent, AuditRecord, LedgerBroken};
use ncp_share_approver::clock::ManualClock;
use ncp_share_approver::domain::{
    ImageNo, LoginId, Origin, RequestId, RequestState, ShareDuration, ShareRequest,
};
use ncp_share_approver::ncp::sim::{DEMO_SECRET_KEY, RunningSimulator, Simulator};
use ncp_share_approver::ncp::{CloudApi, ImageView, NcpClient, NcpError};
use ncp_share_approver::notify::RecordingNotifier;
use ncp_share_approver::policy::{Action, Identity, Policy};
use ncp_share_approver::queue::NoQueue;
use ncp_share_approver::store::{SqliteStore, verify_ledger};
use ncp_share_approver::workflow::{
    ExecOutcome, NewRequest, PolicyHandle, Settings, Worker, Workflow,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The test policy: people with Slack ids (alice also with a Jira id), and one rule per case.
pub use super::fixtures::WORKFLOW_POLICY as TEST_POLICY;

/// The requester in most tests (an engineer).
pub const CAROL: &str = "slack:U056CAROL";
/// An admin, by Slack.
pub const ALICE: &str = "slack:U012ALICE";
/// The same admin, by Jira.
pub const ALICE_JIRA: &str = "jira:5b10ac8d82e05b22cc7d4ef5";
/// Another admin.
pub const BOB: &str = "slack:U034BOB";
/// A third admin.
pub const DAVE: &str = "slack:U078DAVE";
/// Another engineer (not an approver).
pub const ERIN: &str = "slack:U090ERIN";

/// The golden-web XEN image of the demo seed.
pub const GOLDEN_WEB: &str = "1234567";

/// How long a lease lasts on the manual clock.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// The time every test starts at (with nanoseconds, so that the ledger proves it keeps them).
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap() + chrono::Duration::nanoseconds(589_793)
}

/// An identity from `SYSTEM:ID`.
pub fn who(s: &str) -> Identity {
    Identity::parse(s).unwrap()
}

/// Login IDs from strings.
pub fn ids(v: &[&str]) -> Vec<LoginId> {
    v.iter().map(|s| LoginId::parse(s).unwrap()).collect()
}

/// The workflow and everything around it.
pub struct WorkflowApp {
    /// The simulator, for state inspection and faults.
    pub sim: Simulator,
    /// Keeps the simulator serving.
    pub running: RunningSimulator,
    /// The workflow under test.
    pub wf: Workflow,
    /// The store, as its concrete type (for `execute_raw`).
    pub store: Arc<SqliteStore>,
    /// The clock the workflow reads.
    pub clock: Arc<ManualClock>,
    /// Every notice sent.
    pub notifier: Arc<RecordingNotifier>,
    /// The database file (a second store can open it).
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Limits for tests: a short lease on the manual clock and a few seconds of real waiting.
pub fn test_settings() -> Settings {
    Settings {
        lease_ttl: LEASE_TTL,
        lease_wait: Duration::from_secs(15),
        poll_interval: Duration::from_millis(50),
        ..Settings::default()
    }
}

impl WorkflowApp {
    /// Spawns the demo simulator and builds the workflow on a fresh database file.
    pub async fn spawn() -> Self {
        let sim = Simulator::demo();
        let running = sim.spawn("127.0.0.1:0").await.expect("bind a local port");
        let client = NcpClient::new(
            &test_ncp_config(&running.base_url),
            ncp_secrets(DEMO_SECRET_KEY),
        )
        .expect("build the client");
        let dir = tempfile::tempdir().expect("a temp dir");
        let db_path = dir.path().join("state").join("approver.db");
        let store = Arc::new(SqliteStore::open(&db_path).expect("open the store"));
        let clock = Arc::new(ManualClock::new(start_time()));
        let notifier = Arc::new(RecordingNotifier::default());
        let policy = Policy::from_toml_str(TEST_POLICY, "test-policy.toml").expect("valid policy");
        let wf = Workflow {
            signer: super::fixtures::test_signer(),
            channels: Default::default(),
            store: store.clone(),
            policy: PolicyHandle::new(policy),
            cloud: Arc::new(client),
            notifier: notifier.clone(),
            queue: Arc::new(NoQueue),
            clock: clock.clone(),
            settings: test_settings(),
        };
        Self {
            sim,
            running,
            wf,
            store,
            clock,
            notifier,
            db_path,
            _dir: dir,
        }
    }

    /// The same workflow on a new store instance opened on the same file (a restarted process).
    pub fn restarted(&self) -> Workflow {
        let mut wf = self.wf.clone();
        wf.store = Arc::new(SqliteStore::open(&self.db_path).expect("reopen the store"));
        wf
    }

    /// The same workflow talking to NCP through `cloud` instead.
    pub fn with_cloud(&self, cloud: Arc<dyn CloudApi>) -> Workflow {
        let mut wf = self.wf.clone();
        wf.cloud = cloud;
        wf
    }

    /// A fresh worker (its own lease holder).
    pub fn worker(&self) -> Worker {
        Worker::new(self.wf.clone())
    }

    /// Submits a request as `requester`.
    pub async fn submit(
        &self,
        requester: &str,
        action: Action,
        image: &str,
        targets: &[&str],
        reason: Option<&str>,
    ) -> ShareRequest {
        self.wf
            .submit(new_request(requester, action, image, targets, None, reason))
            .await
            .expect("submit")
    }

    /// Carol asks for `action` on golden-web with `targets`, giving no reason.
    pub async fn carol_asks(&self, action: Action, targets: &[&str]) -> ShareRequest {
        self.submit(CAROL, action, GOLDEN_WEB, targets, None).await
    }

    /// Carol asks to share golden-web with `a@partner.example` (2 admins must approve).
    pub async fn partner_share(&self) -> ShareRequest {
        self.carol_asks(Action::Share, &["a@partner.example"]).await
    }

    /// A database insider sets `state` to `approved` in the row of `id` (and in its body, with
    /// `more_json_set` after, like `, '$.min_approvals', 1`); then a worker executes it, which
    /// must end `Failed`. Returns the outcome's message.
    pub async fn forced_approved_fails(&self, id: &RequestId, more_json_set: &str) -> String {
        let sql = format!(
            "UPDATE requests SET state = 'approved', body = json_set(body, '$.state', 'approved'{more_json_set}) WHERE id = '{id}'"
        );
        assert_eq!(self.store.execute_raw(&sql).await.unwrap(), 1);
        assert_eq!(
            self.worker().execute(id).await.unwrap(),
            ExecOutcome::Finished(RequestState::Failed)
        );
        self.stored(id).await.outcome.unwrap().message
    }

    /// Submits a share that the "inside the company" rule approves at once.
    pub async fn auto_share(&self, image: &str, target: &str) -> ShareRequest {
        self.submit(CAROL, Action::Share, image, &[target], None)
            .await
    }

    /// The stored request.
    pub async fn stored(&self, id: &RequestId) -> ShareRequest {
        self.wf.store.request(id).await.unwrap().expect("stored")
    }

    /// The ledger events of one request, in order.
    pub async fn events(&self, id: &RequestId) -> Vec<&'static str> {
        self.records(id)
            .await
            .iter()
            .map(|r| r.entry.event.as_str())
            .collect()
    }

    /// The ledger records of one request, in order.
    pub async fn records(&self, id: &RequestId) -> Vec<AuditRecord> {
        self.wf.store.audit_for_request(id).await.unwrap()
    }

    /// How many records of `event` the request has.
    pub async fn count_events(&self, id: &RequestId, event: AuditEvent) -> usize {
        self.records(id)
            .await
            .iter()
            .filter(|r| r.entry.event == event)
            .count()
    }

    /// The whole ledger verified against its head.
    pub async fn verify(&self) -> Result<u64, LedgerBroken> {
        verify_ledger(self.wf.store.as_ref()).await.unwrap()
    }

    /// NCP calls that add to a share list (XEN or KVM).
    pub fn add_calls(&self) -> usize {
        self.calls_matching(|op| op.starts_with("add") && op.ends_with("SharingPermission"))
    }

    /// NCP calls whose operation matches.
    pub fn calls_matching(&self, f: impl Fn(&str) -> bool) -> usize {
        self.sim
            .calls()
            .iter()
            .filter(|c| f(c.operation.as_str()))
            .count()
    }

    /// Moves the manual clock.
    pub fn advance(&self, by: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(by).expect("a small duration"));
    }
}

/// A request as an adapter would build it from a verified payload.
pub fn new_request(
    requester: &str,
    action: Action,
    image: &str,
    targets: &[&str],
    duration: Option<&str>,
    reason: Option<&str>,
) -> NewRequest {
    NewRequest {
        requester: who(requester),
        origin: Origin::Cli,
        image_no: ImageNo::parse(image).unwrap(),
        action,
        targets: ids(targets),
        duration: duration.map(|d| ShareDuration::parse(d).unwrap()),
        reason: reason.map(String::from),
    }
}

/// A `CloudApi` in front of the real client that measures how many calls overlap, and can run a
/// hook just before a change (to make the world move between the pre-flight and the change).
pub struct Watched {
    inner: Arc<dyn CloudApi>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    before_add: Option<Box<dyn Fn() + Send + Sync>>,
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Watched {
    /// Watches `inner`.
    pub fn new(inner: Arc<dyn CloudApi>) -> Self {
        Self {
            inner,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            before_add: None,
        }
    }

    /// Runs `hook` before every `add_sharing` reaches NCP.
    pub fn before_add(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_add = Some(Box::new(hook));
        self
    }

    /// The most calls that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }
}

#[async_trait::async_trait]
impl CloudApi for Watched {
    async fn image(&self, no: &ImageNo) -> Result<ImageView, NcpError> {
        let _g = self.enter();
        self.inner.image(no).await
    }

    async fn images(&self) -> Result<Vec<ImageView>, NcpError> {
        let _g = self.enter();
        self.inner.images().await
    }

    async fn add_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        let _g = self.enter();
        if let Some(hook) = &self.before_add {
            hook();
        }
        self.inner.add_sharing(image, targets).await
    }

    async fn remove_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        let _g = self.enter();
        self.inner.remove_sharing(image, targets).await
    }

    async fn set_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        let _g = self.enter();
        self.inner.set_sharing(image, targets).await
    }
}
