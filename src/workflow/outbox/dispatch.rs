//! Delivering the outbox: lane by lane, in order within a lane, lanes in parallel.
//!
//! - A lane (one Slack channel or user, one Jira issue, one callback host) is worked by one
//!   delivery loop at a time across every process: the loop holds the store lease
//!   `outbox:<lane>`, so two Lambda workers never post into the same channel at once. The lease
//!   is short (`Pacing::lane_lease`) and renewed while the loop works, so a process killed
//!   mid-lane holds the lane up only that long.
//! - Slack lanes are paced to `Pacing::slack_interval` (Slack allows `chat.postMessage` about
//!   once a second per channel); a 429's `Retry-After` is honoured. A slow or limited lane never
//!   holds up another: each lane is its own task.
//! - Pending updates of one approval card are coalesced: only the latest state is sent.
//! - A failed attempt is retried with full-jitter backoff (at least `Retry-After`); the rest of
//!   the lane waits behind it, so a lane's order holds. After `max_attempts`, or on a permanent
//!   error, the entry is marked failed (visible in `outbox list --failed` and `requests show`).
//!
//! [`Dispatcher::run_once`] is one pass (the Lambda worker calls it before it answers);
//! [`Dispatcher::run`] loops for `serve`, woken on every commit that wrote entries.

use super::{Message, OutboxEntry, OutboxStatus, Peer};
use crate::clock::Clock;
use crate::domain::RetryPolicy;
use crate::telemetry::metrics::DeliveryResult;
use crate::workflow::ports::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver has it.
    Done,
    /// Try again later (at least `after`, when the receiver said so).
    Retry {
        /// The receiver's `Retry-After`, if any.
        after: Option<Duration>,
        /// What went wrong (no secret, no URL).
        error: String,
    },
    /// It will never work (a permanent error from the receiver, or nobody to deliver it).
    Failed(String),
}

impl Delivery {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Delivery::Done => "done",
            Delivery::Retry { .. } => "retry",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// Sends one kind of message to its peer.
#[async_trait::async_trait]
pub trait Courier: Send + Sync {
    /// One attempt at delivering `entry`. Must be idempotent where the receiver allows it.
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery;
}

/// How fast and how often.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// The least time between two messages in one Slack lane.
    pub slack_interval: Duration,
    /// The least time between two messages in one NAVER WORKS lane (a room or a user).
    pub works_interval: Duration,
    /// Attempts before an entry is marked failed.
    pub max_attempts: u32,
    /// Backoff between attempts (`max_attempts` and `budget` of this policy are not used).
    pub backoff: RetryPolicy,
    /// How many due entries one pass reads.
    pub batch: usize,
    /// How often `run` looks for due entries it was not woken for (its own retries wake it
    /// when they come due, whatever this is).
    pub poll: Duration,
    /// How long a lane's lease `outbox:<lane>` lasts unless renewed; it is renewed every third
    /// of that while the lane is worked, so this is how long a crashed process holds a lane up.
    pub lane_lease: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            slack_interval: Duration::from_secs(1),
            works_interval: Duration::from_millis(250),
            max_attempts: 10,
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                budget: Duration::MAX,
            },
            batch: 500,
            poll: Duration::from_millis(500),
            lane_lease: Duration::from_secs(30),
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Entries delivered.
    pub delivered: usize,
    /// Entries made unnecessary by a later update of the same card.
    pub superseded: usize,
    /// Entries rescheduled after a failed attempt.
    pub retrying: usize,
    /// Entries given up.
    pub failed: usize,
    /// Lanes skipped because another process held them.
    pub lanes_busy: usize,
}

impl DispatchReport {
    fn add(&mut self, other: &DispatchReport) {
        self.delivered += other.delivered;
        self.superseded += other.superseded;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.lanes_busy += other.lanes_busy;
    }

    /// Whether the pass changed anything.
    pub fn moved(&self) -> bool {
        self.delivered + self.superseded + self.retrying + self.failed > 0
    }
}

fn set_post(message: &mut Message, to: bool) {
    if let Message::SlackCard { post, .. } = message {
        *post = to;
    }
}

/// Delivers outbox entries through the couriers of the configured peers.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    couriers: HashMap<PeerKey, Arc<dyn Courier>>,
    pacing: Pacing,
    holder: String,
    /// Lanes a task of this process is working now.
    working: Mutex<HashSet<String>>,
    /// When each lane last sent (for pacing across passes) and until when it waits for a retry
    /// (so that later entries of the lane do not overtake the one being retried).
    lanes: Mutex<HashMap<String, LaneState>>,
    /// Wakes `run` (and `idle` waiters) when entries are written.
    wake: Arc<Notify>,
}

#[derive(Debug, Clone, Copy, Default)]
struct LaneState {
    last_sent: Option<Instant>,
    blocked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PeerKey(u8);

impl From<Peer> for PeerKey {
    fn from(p: Peer) -> Self {
        PeerKey(match p {
            Peer::Slack => 0,
            Peer::Jira => 1,
            Peer::Webhook => 2,
            Peer::Workflow => 3,
            Peer::Works => 4,
            Peer::SlackHome => 5,
        })
    }
}

impl Dispatcher {
    /// A dispatcher over `store` with no couriers yet.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, pacing: Pacing) -> Self {
        Self {
            store,
            clock,
            couriers: HashMap::new(),
            pacing,
            holder: format!("dispatcher-{}", uuid::Uuid::new_v4().simple()),
            working: Mutex::new(HashSet::new()),
            lanes: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Adds the courier for `peer`.
    pub fn with_courier(mut self, peer: Peer, courier: Arc<dyn Courier>) -> Self {
        self.add_courier(peer, courier);
        self
    }

    /// Sets the courier for `peer`.
    pub fn add_courier(&mut self, peer: Peer, courier: Arc<dyn Courier>) {
        self.couriers.insert(peer.into(), courier);
    }

    /// The handle that wakes [`Dispatcher::run`].
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The pacing in force.
    pub fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// One pass: reads the due entries and delivers them lane by lane (lanes in parallel),
    /// reading again while anything moved, until nothing is due or `budget` has passed.
    pub async fn run_once(self: &Arc<Self>, budget: Duration) -> DispatchReport {
        self.run_once_with(budget, &[]).await
    }

    /// Like [`Dispatcher::run_once`], also delivering the entries `hints` names (just written,
    /// and read by id, so an index that lags the write cannot hide them).
    pub async fn run_once_with(
        self: &Arc<Self>,
        budget: Duration,
        hints: &[String],
    ) -> DispatchReport {
        let started = Instant::now();
        let mut total = DispatchReport::default();
        let mut hints = hints.to_vec();
        loop {
            let report = self.pass_with(std::mem::take(&mut hints)).await;
            total.add(&report);
            if !report.moved() || started.elapsed() >= budget {
                return total;
            }
        }
    }

    /// Delivers until nothing is due, waiting out retries, for at most `budget` (short-lived
    /// commands and the Lambda worker call it before they end). Returns what it did and
    /// whether everything owed is out.
    pub async fn drain(self: &Arc<Self>, budget: Duration) -> (DispatchReport, bool) {
        let started = Instant::now();
        let mut total = DispatchReport::default();
        loop {
            let report = self.pass().await;
            total.add(&report);
            let pending = match self.store.outbox_pending_count().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count the outbox");
                    return (total, false);
                }
            };
            if pending == 0 {
                return (total, true);
            }
            if started.elapsed() >= budget {
                return (total, false);
            }
            if !report.moved() {
                tokio::time::sleep(
                    self.pacing
                        .poll
                        .min(budget.saturating_sub(started.elapsed())),
                )
                .await;
            }
        }
    }

    /// Runs passes until `stop` turns true: on every wake-up, and every `poll` for retries.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let report = self.pass().await;
            if report.moved() {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.idle_for()) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// How long `run` sleeps when nothing moved: the poll interval, or less when one of this
    /// process's lanes waits for a retry that comes due sooner (a slow poll must not delay it).
    fn idle_for(&self) -> Duration {
        let now = self.clock.now();
        let next_retry = self
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|l| l.blocked_until)
            .filter(|until| *until > now)
            .min();
        match next_retry.and_then(|until| (until - now).to_std().ok()) {
            // A little after it, so that the entry is due when the pass reads it.
            Some(wait) => (wait + Duration::from_millis(5)).min(self.pacing.poll),
            None => self.pacing.poll,
        }
    }

    /// One read of the due entries, every lane worked to its end.
    async fn pass(self: &Arc<Self>) -> DispatchReport {
        self.pass_with(Vec::new()).await
    }

    async fn pass_with(self: &Arc<Self>, hints: Vec<String>) -> DispatchReport {
        let now = self.clock.now();
        let mut due = match self.store.outbox_due(now, self.pacing.batch).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox; will try again");
                return DispatchReport::default();
            }
        };
        for id in hints {
            if due.iter().any(|e| e.id == id) {
                continue;
            }
            match self.store.outbox_entry(&id).await {
                Ok(Some(e)) if e.status == OutboxStatus::Pending && e.next_at <= now => due.push(e),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(outbox_id = %id, error = %e, "cannot read a hinted outbox entry")
                }
            }
        }
        let mut by_lane: BTreeMap<String, Vec<OutboxEntry>> = BTreeMap::new();
        for e in due {
            by_lane.entry(e.lane.clone()).or_default().push(e);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (lane, mut entries) in by_lane {
            {
                let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
                if lanes
                    .get(&lane)
                    .and_then(|l| l.blocked_until)
                    .is_some_and(|until| until > now)
                {
                    continue;
                }
            }
            if !self
                .working
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(lane.clone())
            {
                continue;
            }
            entries.sort_by(|a, b| a.order.cmp(&b.order));
            let me = self.clone();
            tasks.spawn(async move {
                let report = me.work_lane(&lane, entries).await;
                me.working
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&lane);
                report
            });
        }
        let mut total = DispatchReport::default();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(r) => total.add(&r),
                Err(e) => tracing::error!(error = %e, "an outbox lane task panicked"),
            }
        }
        total
    }

    async fn work_lane(&self, lane: &str, entries: Vec<OutboxEntry>) -> DispatchReport {
        let mut report = DispatchReport::default();
        let key = format!("outbox:{lane}");
        let ttl = self.pacing.lane_lease;
        match self
            .store
            .acquire_lease(&key, &self.holder, self.clock.now(), ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                report.lanes_busy += 1;
                return report;
            }
            Err(e) => {
                tracing::warn!(lane, error = %e, "cannot take the outbox lane");
                return report;
            }
        }
        // The entries were read before the lease: another process (a replica, a Lambda worker)
        // may have delivered some of them meanwhile and released the lane. Read again under the
        // lease, so that each entry is delivered once across processes; a failed read ends the
        // lane here (the rest waits for the next pass, in order).
        let now = self.clock.now();
        let mut fresh = Vec::with_capacity(entries.len());
        for e in entries {
            match self.store.outbox_entry(&e.id).await {
                Ok(Some(e)) if e.status == OutboxStatus::Pending && e.next_at <= now => {
                    fresh.push(e)
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(outbox_id = %e.id, lane, error = %err, "cannot re-read an outbox entry; the lane waits for the next pass");
                    break;
                }
            }
        }
        let mut entries = fresh;
        // Renewed while the lane is worked (a delivery can take long: Slack's own retries), so
        // that the lease itself can be short and a crashed process frees the lane soon.
        let lost = Arc::new(AtomicBool::new(false));
        let (stop_renewing, renewing) = self.renew_lease(&key, ttl, lost.clone());
        let paced = lane.starts_with("slack:") || lane.starts_with("works:");
        let mut i = 0;
        while i < entries.len() {
            if lost.load(Ordering::SeqCst) {
                // Another process has the lane now: it delivers the rest, in order.
                break;
            }
            let entry = entries[i].clone();
            i += 1;
            let channel = crate::workflow::metered::channel(entry.message.peer());
            let counted = |result| crate::telemetry::metrics::delivery(channel, result);
            // Only the latest state of a card is sent: an earlier pending update is superseded
            // by a later one in this lane (which inherits the right to post the card).
            if let Message::SlackCard { request, post, .. } = &entry.message
                && let Some(later) = entries[i..].iter_mut().find(|e| {
                    matches!(&e.message, Message::SlackCard { request: r, .. } if r.id == request.id)
                })
            {
                // The right to post is stored with the later entry before this one is marked
                // superseded: were it only in memory, a crash in between would leave no entry
                // allowed to post, and the card (and its thread replies) would never appear.
                let mut superseded = true;
                if *post && matches!(&later.message, Message::SlackCard { post: false, .. }) {
                    set_post(&mut later.message, true);
                    if let Err(e) = self.store.save_outbox(later).await {
                        tracing::warn!(outbox_id = %later.id, error = %e, "cannot hand the card's post on; sending this state of the card instead");
                        set_post(&mut later.message, false);
                        superseded = false;
                    }
                }
                if superseded {
                    self.finish(entry, OutboxStatus::Superseded, None).await;
                    report.superseded += 1;
                    counted(DeliveryResult::Superseded);
                    continue;
                }
            }
            // A home is rendered from the store when sent: a later entry in the lane sends it
            // as fresh as this one would, so this one is superseded.
            if matches!(entry.message, Message::SlackHome { .. })
                && entries[i..]
                    .iter()
                    .any(|e| matches!(e.message, Message::SlackHome { .. }))
            {
                self.finish(entry, OutboxStatus::Superseded, None).await;
                report.superseded += 1;
                counted(DeliveryResult::Superseded);
                continue;
            }
            if paced {
                self.pace(lane).await;
            }
            // Every line of this delivery (the courier's, the retries') names the entry and its
            // request; attached with `instrument`, never a guard held across an await.
            let span = tracing::info_span!(
                "outbox",
                delivery_id = %entry.id,
                request_id = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                lane,
                message = entry.message.name(),
            );
            if let Some(id) = &entry.request_id {
                span.record("request_id", tracing::field::display(id));
            }
            if let Some(trace) = &entry.trace_id {
                span.record("trace_id", tracing::field::display(trace));
            }
            let outcome = match self.couriers.get(&entry.message.peer().into()) {
                // In the entry's trace: what the delivery writes or queues (a submission finished
                // from the outbox, say) stays in it.
                Some(courier) => {
                    let delivery = courier.deliver(&entry).instrument(span.clone());
                    match entry.trace_id.clone() {
                        Some(trace) => crate::workflow::trace::scope(trace, delivery).await,
                        None => delivery.await,
                    }
                }
                None => Delivery::Failed(format!(
                    "{} cannot be delivered: that peer is not configured",
                    entry.message.name()
                )),
            };
            span.in_scope(|| {
                tracing::debug!(
                    attempts = entry.attempts + 1,
                    outcome = outcome.name(),
                    "outbox delivery attempt"
                );
            });
            if paced {
                self.lanes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(lane.to_string())
                    .or_default()
                    .last_sent = Some(Instant::now());
            }
            match outcome {
                Delivery::Done => {
                    self.finish(entry, OutboxStatus::Delivered, None).await;
                    report.delivered += 1;
                    counted(DeliveryResult::Delivered);
                }
                Delivery::Failed(why) => {
                    span.in_scope(
                        || tracing::warn!(error = %why, "message not delivered: failed for good"),
                    );
                    self.finish(entry, OutboxStatus::Failed, Some(why)).await;
                    report.failed += 1;
                    counted(DeliveryResult::Failed);
                }
                Delivery::Retry { after, error } => {
                    let attempts = entry.attempts + 1;
                    if attempts >= self.pacing.max_attempts {
                        span.in_scope(|| {
                            tracing::warn!(attempts, error = %error, "message not delivered: giving up")
                        });
                        self.finish(
                            entry,
                            OutboxStatus::Failed,
                            Some(format!("{error} (gave up after {attempts} attempts)")),
                        )
                        .await;
                        report.failed += 1;
                        counted(DeliveryResult::Failed);
                        continue;
                    }
                    let delay = self
                        .pacing
                        .backoff
                        .backoff(attempts, after, &mut rand::rng());
                    let until = self.clock.now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    span.in_scope(|| {
                        tracing::info!(attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "message not delivered yet; will retry")
                    });
                    let mut next = entry;
                    next.attempts = attempts;
                    next.next_at = until;
                    next.last_error = Some(error);
                    self.save(&next).await;
                    report.retrying += 1;
                    counted(DeliveryResult::Retry);
                    // The rest of the lane waits behind it, so the lane's order holds.
                    self.lanes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(lane.to_string())
                        .or_default()
                        .blocked_until = Some(until);
                    for rest in &mut entries[i..] {
                        if rest.next_at < until {
                            rest.next_at = until;
                            self.save(rest).await;
                        }
                    }
                    break;
                }
            }
        }
        let _ = stop_renewing.send(());
        let _ = renewing.await;
        if let Err(e) = self.store.release_lease(&key, &self.holder).await {
            tracing::warn!(lane, error = %e, "cannot release the outbox lane");
        }
        report
    }

    /// Renews the lane's lease every third of `ttl` until told to stop; sets `lost` if another
    /// process took the lane meanwhile (this one was stalled for longer than `ttl`).
    fn renew_lease(
        &self,
        key: &str,
        ttl: Duration,
        lost: Arc<AtomicBool>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (store, clock, holder, key) = (
            self.store.clone(),
            self.clock.clone(),
            self.holder.clone(),
            key.to_owned(),
        );
        let every = (ttl / 3).max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match store.acquire_lease(&key, &holder, clock.now(), ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %key, "the outbox lane was taken over; stopping it here");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(lease = %key, error = %e, "cannot renew the outbox lane; will try again")
                    }
                }
            }
        });
        (stop, task)
    }

    /// Waits until the lane may send again.
    async fn pace(&self, lane: &str) {
        let last = self
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(lane)
            .and_then(|l| l.last_sent);
        if let Some(last) = last {
            let interval = if lane.starts_with("works:") {
                self.pacing.works_interval
            } else {
                self.pacing.slack_interval
            };
            let ready = last + interval;
            let now = Instant::now();
            if ready > now {
                tokio::time::sleep(ready - now).await;
            }
        }
    }

    async fn finish(&self, mut entry: OutboxEntry, status: OutboxStatus, error: Option<String>) {
        entry.status = status;
        entry.done_at = Some(self.clock.now());
        if status != OutboxStatus::Superseded {
            entry.attempts += 1;
        }
        if error.is_some() {
            entry.last_error = error;
        }
        self.save(&entry).await;
    }

    async fn save(&self, entry: &OutboxEntry) {
        // A lost save means the entry is tried again: at least once, never lost.
        if let Err(e) = self.store.save_outbox(entry).await {
            tracing::warn!(outbox_id = %entry.id, error = %e, "cannot record the delivery; it may be sent again");
        }
    }
}
