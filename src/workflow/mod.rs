//! The use cases: submit, approve, deny, cancel, expire, execute. They depend on ports only
//! (`Store`, `CloudApi`, `Notifier`, `Queue`, `Clock`), never on HTTP or a concrete backend.
//!
//! Every state change is a compare-and-swap on the request's version, so a double click, a
//! retried webhook or two racing workers never apply a transition twice. Every step is in the
//! audit ledger before it has effects outside (the decision before the NCP call).

mod authority;
pub mod catalog;
mod checkpoints;
mod decide;
mod execute;
mod lifecycle;
mod metered;
pub mod outbox;
pub mod ports;
mod submit;
pub mod trace;

pub use checkpoints::{CheckpointError, Checkpointer, Trigger};
pub use decide::ActOutcome;
pub use execute::{CrashPoint, ExecOutcome, Worker};
pub use lifecycle::{DriftReport, RECONCILER, SCHEDULER, SweepReport};
// Moved to `domain` (the outbox carries it); re-exported for the old path.
pub use crate::domain::NewRequest;

use crate::audit::note::NoteSigner;
use crate::audit::{AuditEntry, AuditEvent};
use crate::clock::Clock;
use crate::domain::ports::cloud::{CloudApi, NcpError};
use crate::domain::ports::notify::{Notice, Notifier};
use crate::domain::ports::queue::Queue;
use crate::domain::{RequestState, ShareRequest};
use crate::policy::Policy;
use crate::workflow::outbox::{Channels, OutboxEntry};
use crate::workflow::ports::store::{Change, Committed, Store, StoreError};

/// Names the share request on the current span (a front door's request, an outbox delivery,
/// an execution) so that every later line of it carries `request_id`; a span without that
/// field ignores it.
pub(crate) fn name_request(id: &crate::domain::RequestId) {
    tracing::Span::current().record("request_id", tracing::field::display(id));
}
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The ledger record that goes with a state change.
#[derive(Debug, Clone)]
struct Record {
    event: AuditEvent,
    actor: String,
    detail: String,
}

impl Record {
    fn new(event: AuditEvent, actor: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            event,
            actor: actor.into(),
            detail: detail.into(),
        }
    }
}

/// A failure the caller must report as "try again later" (nothing was decided).
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// NCP could not be asked (only while submitting; execution failures end the request).
    #[error(transparent)]
    Ncp(#[from] NcpError),
    /// The request was malformed in a way the adapters should have caught.
    #[error("{0}")]
    Invalid(String),
    /// The delivery that asked was already processed (a retried webhook); nothing was done.
    #[error("this delivery was already processed")]
    Duplicate,
}

/// Limits the workflow works within.
#[derive(Debug, Clone)]
pub struct Settings {
    /// NCP region of every request.
    pub region: String,
    /// Most targets one request may name.
    pub max_targets: usize,
    /// How long a worker holds an image's lease; a crashed worker's lease frees after this.
    pub lease_ttl: Duration,
    /// How long a worker waits for a busy image before leaving the work to the next sweep.
    pub lease_wait: Duration,
    /// How often the worker looks in the store for approved work it was not told about.
    pub poll_interval: Duration,
    /// How many requests one worker executes at once (on different images).
    pub concurrency: usize,
    /// Time-boxed shares, revocation and drift.
    pub lifecycle: LifecycleSettings,
    /// How old the image catalog may grow before the sweep refreshes it (`[ncp] catalog_refresh_secs`).
    pub catalog_refresh: Duration,
}

/// How shares end: reminders, revocation retries, drift clean-up.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// How long before a time-boxed share ends its requester is told (default one day).
    pub remind_before: Duration,
    /// Whether `reconcile --revoke-unmanaged` may remove shares no grant covers (default no).
    pub allow_revoke_unmanaged: bool,
    /// How many worker attempts a revocation gets when NCP fails transiently before it is
    /// reported failed (each attempt already retries inside the NCP client).
    pub revoke_attempts: u32,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            remind_before: Duration::from_secs(24 * 3600),
            allow_revoke_unmanaged: false,
            revoke_attempts: 5,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "KR".into(),
            max_targets: 50,
            lease_ttl: Duration::from_secs(120),
            lease_wait: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            concurrency: 8,
            lifecycle: LifecycleSettings::default(),
            catalog_refresh: Duration::from_secs(300),
        }
    }
}

/// The policy in force; replaced whole when the file is reloaded.
#[derive(Clone)]
pub struct PolicyHandle(Arc<RwLock<Arc<Policy>>>);

impl PolicyHandle {
    /// Holds `policy`.
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(policy))))
    }

    /// The policy now.
    pub fn current(&self) -> Arc<Policy> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the policy (pending requests keep the approvers decided when they were made).
    pub fn replace(&self, policy: Policy) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }
}

/// The workflow and its ports.
#[derive(Clone)]
pub struct Workflow {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The policy in force.
    pub policy: PolicyHandle,
    /// NCP.
    pub cloud: Arc<dyn CloudApi>,
    /// Who is told of state changes as they are committed, in process (logs, tests). Messages
    /// to people go through the outbox, never through this.
    pub notifier: Arc<dyn Notifier>,
    /// Which peers get outbox entries (the front doors that are configured).
    pub channels: Channels,
    /// Where approved work goes.
    pub queue: Arc<dyn Queue>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Limits.
    pub settings: Settings,
    /// The ledger key: every record this workflow writes is signed with it, and the worker
    /// acts only on approvals that verify with its public half.
    pub signer: Arc<NoteSigner>,
}

impl Workflow {
    /// Appends to the ledger with the request's binding fields filled in.
    async fn audit(
        &self,
        request: &ShareRequest,
        event: AuditEvent,
        actor: &str,
        detail: impl Into<String>,
    ) -> Result<(), StoreError> {
        self.store
            .append_audit(self.entry(request, &Record::new(event, actor, detail)))
            .await?;
        Ok(())
    }

    /// Signs a ledger entry with the ledger key.
    fn seal(&self, entry: AuditEntry) -> AuditEntry {
        crate::audit::seal::seal(entry, &self.signer)
    }

    /// A ledger entry about `request`, with its binding fields filled in.
    fn entry(&self, request: &ShareRequest, record: &Record) -> AuditEntry {
        self.seal(AuditEntry {
            at: self.clock.now(),
            event: record.event,
            actor: record.actor.clone(),
            request_id: Some(request.id.to_string()),
            fingerprint: Some(request.fingerprint.clone()),
            rule: request.rule.clone(),
            policy_hash: Some(request.policy_hash.clone()),
            detail: record.detail.clone(),
            sig: None,
        })
    }

    /// Moves a request to `next` by compare-and-swap, with its ledger record and the outbox
    /// entries of `notice` in the same atomic store write; re-reads and re-checks on conflict.
    ///
    /// `change` edits the request on the way (outcome, attempts). Returns the stored request,
    /// or `None` when it is no longer in a state that may move to `next`.
    async fn transition(
        &self,
        request: ShareRequest,
        next: RequestState,
        change: impl Fn(&mut ShareRequest),
        record: Record,
        notice: Option<Notice>,
    ) -> Result<Option<ShareRequest>, StoreError> {
        self.transition_telling(request, next, change, record, notice, |_| Vec::new())
            .await
    }

    /// Like [`Workflow::transition`], also writing notices about other requests (made from the
    /// stored request by `others`) in the same store write.
    async fn transition_telling(
        &self,
        mut request: ShareRequest,
        next: RequestState,
        change: impl Fn(&mut ShareRequest),
        record: Record,
        notice: Option<Notice>,
        others: impl Fn(&ShareRequest) -> Vec<(ShareRequest, Notice)>,
    ) -> Result<Option<ShareRequest>, StoreError> {
        loop {
            if !request.state.can_move_to(next) {
                return Ok(None);
            }
            let mut updated = request.clone();
            updated.state = next;
            updated.updated_at = self.clock.now();
            change(&mut updated);
            let entry = self.entry(&updated, &record);
            // What the store will hold: the same request one version on.
            let mut stored = updated.clone();
            stored.version += 1;
            let mut told = Vec::new();
            if let Some(n) = &notice {
                told.push((stored.clone(), n.clone()));
            }
            told.extend(others(&stored));
            let outbox = self.outbox_for(&told).await?;
            let committed = self
                .store
                .commit(Change {
                    update: Some(updated),
                    audit: vec![entry],
                    outbox: outbox.clone(),
                    ..Default::default()
                })
                .await?;
            if let Committed::Done(_) = committed {
                self.told(&told, &outbox).await;
                return Ok(Some(stored));
            }
            // Someone else changed it first: look again.
            match self.store.request(&request.id).await? {
                Some(fresh) => request = fresh,
                None => return Ok(None),
            }
        }
    }

    /// Owes `messages` (not caused by a state change, like a front door's answer on a ticket):
    /// written to the outbox and handed to delivery.
    pub async fn owe(
        &self,
        messages: Vec<crate::workflow::outbox::Message>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let entries: Vec<OutboxEntry> = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| OutboxEntry::new(m, now, 0, i))
            .collect();
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        crate::workflow::ports::store::enqueue(self.store.as_ref(), entries).await?;
        self.queue.deliver(&ids).await;
        Ok(())
    }

    /// The outbox entries of `notices`, for the configured peers. A callback's body is fixed
    /// now, with the approvals so far (the notice's own included, which may not be stored yet).
    async fn outbox_for(
        &self,
        notices: &[(ShareRequest, Notice)],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        use crate::workflow::outbox::{entries_with, needs_approvals};
        let now = self.clock.now();
        let mut out: Vec<OutboxEntry> = Vec::new();
        for (r, n) in notices {
            let mut approvals = if needs_approvals(&self.channels, r) {
                self.store.approvals(&r.id).await?
            } else {
                Vec::new()
            };
            if let Notice::ApprovalAdded(a) | Notice::Denied(a) = n
                && !approvals.contains(a)
            {
                approvals.push(a.clone());
            }
            out.extend(entries_with(&self.channels, r, &approvals, n, now));
        }
        if self.channels.slack_home {
            // Everyone whose App Home shows these requests sees the new state: one home each.
            let policy = self.policy.current();
            let mut users = std::collections::BTreeSet::new();
            for (r, _) in notices {
                for user in crate::workflow::outbox::home_users(&policy, r) {
                    if users.insert(user.clone()) {
                        let position = 1000 + users.len();
                        out.push(
                            OutboxEntry::new(
                                crate::workflow::outbox::Message::SlackHome { user },
                                now,
                                r.version,
                                position,
                            )
                            .for_request(&r.id)
                            .in_trace(r.trace_id.as_ref()),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// After a commit: tells the in-process notifier, and has the outbox entries delivered.
    async fn told(&self, notices: &[(ShareRequest, Notice)], outbox: &[OutboxEntry]) {
        for (r, n) in notices {
            self.notifier.notify(r, n).await;
        }
        if !outbox.is_empty() {
            let ids: Vec<String> = outbox.iter().map(|e| e.id.clone()).collect();
            self.queue.deliver(&ids).await;
        }
    }

    /// Expires every pending request whose TTL has passed; returns how many.
    pub async fn expire_due(&self) -> Result<usize, WorkflowError> {
        let now = self.clock.now();
        let mut n = 0;
        // Earliest deadline first, a page at a time, straight from the store's index: a large
        // backlog neither holds the store for long nor hides the oldest requests.
        loop {
            let page = self.store.pending_due(now, 200).await?;
            if page.is_empty() {
                return Ok(n);
            }
            let mut moved = 0;
            for request in page {
                if self.expire(request).await?.is_some() {
                    n += 1;
                    moved += 1;
                }
            }
            if moved == 0 {
                // Everything on the page changed state under us; the next sweep looks again.
                return Ok(n);
            }
        }
    }

    async fn expire(&self, request: ShareRequest) -> Result<Option<ShareRequest>, WorkflowError> {
        let Some(stored) = self
            .transition(
                request,
                RequestState::Expired,
                |r| {
                    r.outcome = Some(crate::domain::Outcome {
                        message: format!(
                            "expired: not enough approvals before {}",
                            r.expires_at.format("%Y-%m-%d %H:%M UTC")
                        ),
                        ..Default::default()
                    });
                },
                Record::new(
                    AuditEvent::Expired,
                    "system:scheduler",
                    "request TTL passed",
                ),
                Some(Notice::Expired),
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(stored))
    }
}
