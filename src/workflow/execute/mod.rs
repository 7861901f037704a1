//! Execution: the only code that changes NCP. It runs approved requests under a per-image
//! lease, re-reads NCP before changing anything (so a run interrupted by a crash never applies
//! twice), reads the result back, and ends every request `Succeeded` or `Failed`.
//!
//! This module is the orchestration (lease, re-read, apply, read back, compare-and-swap);
//! what to change is decided by the pure [`plan`], and what the ending says by the pure
//! [`outcome`] builders.

#[cfg(test)]
mod fixtures;
mod outcome;
pub mod plan;

use super::checkpoints::{Checkpointer, Trigger};
use super::{Record, Workflow, WorkflowError};
use crate::audit::AuditEvent;
use crate::domain::ports::cloud::{ImageView, NcpError};
use crate::domain::ports::notify::Notice;
use crate::domain::{Grant, RequestId, RequestState, ShareRequest};
use crate::policy::Action;
use outcome::{EndedOf, Ending};
use plan::Plan;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument as _;

/// Steps after which a test can make the worker stop dead, as a `kill -9` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Holding the image lease, before marking the request executing.
    AfterLease,
    /// Marked executing, before NCP is touched.
    AfterMarkExecuting,
    /// NCP changed, before the read-back.
    AfterNcpChange,
    /// Read back, before the request is marked succeeded.
    AfterReadBack,
}

impl CrashPoint {
    /// Every crash point, in execution order.
    pub const ALL: [CrashPoint; 4] = [
        Self::AfterLease,
        Self::AfterMarkExecuting,
        Self::AfterNcpChange,
        Self::AfterReadBack,
    ];
}

/// What one execution attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The request ended in this state now.
    Finished(RequestState),
    /// The request did not need this worker (already final, or not yet approved).
    Skipped(RequestState),
    /// Another worker holds the image; the request stays for a later attempt.
    Busy,
    /// NCP failed transiently during a revocation; it stays executing for the next attempt.
    WillRetry,
    /// The worker stopped at a crash point (tests only).
    Crashed(CrashPoint),
}

/// Executes approved requests.
#[derive(Clone)]
pub struct Worker {
    workflow: Workflow,
    holder: String,
    crash_at: Option<CrashPoint>,
    checkpoints: Option<Arc<Checkpointer>>,
    /// Requests an attempt of this worker (or a clone) is on now: a second hint for one of them
    /// is dropped, since the attempt running decides it (and waiting behind it for the image's
    /// lease would only hold a slot).
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
}

/// How long an attempt waits for a busy image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaseWait {
    /// Up to `lease_wait`: this process was told of the request (it approved it), so it is its
    /// to execute, after the image's current work.
    Patiently,
    /// Not at all: found by the poll or woken by another replica; a busy image means someone
    /// is on it, and the poll looks again.
    Once,
}

fn lease_key(request: &ShareRequest) -> String {
    format!("image:{}:{}", request.region, request.image_no)
}

impl Worker {
    /// A worker with a unique lease-holder name.
    pub fn new(workflow: Workflow) -> Self {
        Self {
            workflow,
            holder: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            crash_at: None,
            checkpoints: None,
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Signs (and publishes) a ledger checkpoint after every execution.
    pub fn with_checkpoints(mut self, checkpoints: Arc<Checkpointer>) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// Makes this worker stop dead at `point` (for crash tests).
    pub fn crash_at(mut self, point: CrashPoint) -> Self {
        self.crash_at = Some(point);
        self
    }

    fn crashes_at(&self, point: CrashPoint) -> bool {
        self.crash_at == Some(point)
    }

    /// Runs until `shutdown` fires: executes queued ids, and sweeps the store for approved or
    /// interrupted work at start and every poll interval; then waits for the executions in
    /// flight to finish (each gives its image's lease back).
    pub async fn run(
        self,
        hints: mpsc::UnboundedReceiver<RequestId>,
        shutdown: watch::Receiver<bool>,
    ) {
        self.run_with_nudges(hints, None, shutdown).await
    }

    /// Like [`Worker::run`], also trying the ids of `nudges` (approved elsewhere: another
    /// replica's notification) once each, without waiting for a busy image.
    pub async fn run_with_nudges(
        self,
        mut hints: mpsc::UnboundedReceiver<RequestId>,
        mut nudges: Option<mpsc::UnboundedReceiver<RequestId>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let slots = self.workflow.settings.concurrency.max(1);
        let limit = Arc::new(Semaphore::new(slots));
        let mut tick = tokio::time::interval(self.workflow.settings.poll_interval);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(id) = hints.recv() => {
                    self.spawn(id, LeaseWait::Patiently, &limit, &shutdown).await
                }
                Some(id) = async {
                    match nudges.as_mut() {
                        Some(n) => n.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.spawn(id, LeaseWait::Once, &limit, &shutdown).await,
                _ = tick.tick() => {
                    match self.pending_work().await {
                        Ok(ids) => for id in ids {
                            if *shutdown.borrow() {
                                break;
                            }
                            self.spawn(id, LeaseWait::Once, &limit, &shutdown).await
                        },
                        Err(e) => tracing::warn!(error = %e, "worker could not read pending work"),
                    }
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        // Stopping: nothing new starts; what runs is finished (an execution cut here would hold
        // its image's lease until the lease expires). Past the lease's lifetime it is no longer
        // exclusive anyway, so that bounds the wait.
        let running = slots - limit.available_permits();
        if running > 0 {
            tracing::info!(running, "stopping: waiting for the executions in flight");
        }
        let all = u32::try_from(slots).unwrap_or(u32::MAX);
        if tokio::time::timeout(self.workflow.settings.lease_ttl, limit.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("stopping with executions still in flight after the lease's lifetime");
        }
    }

    async fn spawn(
        &self,
        id: RequestId,
        wait: LeaseWait,
        limit: &Arc<Semaphore>,
        shutdown: &watch::Receiver<bool>,
    ) {
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone())
        {
            return;
        }
        let mut stopping = shutdown.clone();
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p.ok(),
            _ = stopping.wait_for(|stop| *stop) => None,
        };
        let Some(permit) = permit else {
            self.done(&id);
            return;
        };
        let worker = self.clone();
        tokio::spawn(async move {
            // Every line of the attempt names its request, the queue's hint it came from and the
            // request's trace, read before the span is made so that the span (exported, too)
            // starts in it. A failed read leaves it to the attempt's own read.
            let trace = match worker.workflow.store.request(&id).await {
                Ok(Some(r)) => r.trace_id,
                _ => None,
            };
            let span = tracing::info_span!(
                "execute",
                delivery_id = %format!("queue:{id}"),
                request_id = %id,
                trace_id = tracing::field::Empty,
            );
            if let Some(trace) = &trace {
                span.record("trace_id", tracing::field::display(trace));
            }
            let attempt = async move {
                let _permit = permit;
                let wait = match wait {
                    LeaseWait::Patiently => worker.workflow.settings.lease_wait,
                    LeaseWait::Once => Duration::ZERO,
                };
                match worker.execute_waiting(&id, wait).await {
                    Ok(outcome) => tracing::debug!(?outcome, "execution attempt done"),
                    Err(e) => {
                        tracing::warn!(error = %e, "execution attempt failed; it will be retried")
                    }
                }
                worker.done(&id);
            }
            .instrument(span);
            // What the attempt owes and queues is in the request's trace too.
            match trace {
                Some(trace) => super::trace::scope(trace, attempt).await,
                None => attempt.await,
            }
        });
    }

    fn done(&self, id: &RequestId) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Requests that are approved or were interrupted while executing, oldest first.
    pub async fn pending_work(&self) -> Result<Vec<RequestId>, WorkflowError> {
        Ok(self
            .pending_traced()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// [`Worker::pending_work`] with each request's trace (for a queue message that carries it).
    pub async fn pending_traced(
        &self,
    ) -> Result<Vec<(RequestId, Option<crate::domain::TraceId>)>, WorkflowError> {
        let store = &self.workflow.store;
        let mut work = store
            .requests(Some(RequestState::Executing), 10_000)
            .await?;
        work.extend(store.requests(Some(RequestState::Approved), 10_000).await?);
        work.sort_by_key(|r| r.created_at);
        Ok(work.into_iter().map(|r| (r.id, r.trace_id)).collect())
    }

    /// Executes everything pending once, waiting for busy images (the `sweep`-style run).
    pub async fn drain(&self) -> Result<Vec<(RequestId, ExecOutcome)>, WorkflowError> {
        let mut out = Vec::new();
        for id in self.pending_work().await? {
            let outcome = self.execute(&id).await?;
            out.push((id, outcome));
        }
        Ok(out)
    }

    /// Executes one request if it still needs it: takes the image lease (waiting up to
    /// `lease_wait`), runs, and gives the lease back.
    pub async fn execute(&self, id: &RequestId) -> Result<ExecOutcome, WorkflowError> {
        self.execute_waiting(id, self.workflow.settings.lease_wait)
            .await
    }

    /// [`Worker::execute`], waiting at most `wait` for a busy image (`Busy` after that).
    pub async fn execute_waiting(
        &self,
        id: &RequestId,
        wait: Duration,
    ) -> Result<ExecOutcome, WorkflowError> {
        let result = self.execute_unmetered(id, wait).await;
        if let Some(r) = crate::workflow::metered::executed(&result) {
            crate::telemetry::metrics::execution(r);
        }
        result
    }

    async fn execute_unmetered(
        &self,
        id: &RequestId,
        wait: Duration,
    ) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        let Some(request) = wf.store.request(id).await? else {
            return Err(WorkflowError::Invalid(format!(
                "request {id} is not in the store"
            )));
        };
        // The attempt works in the request's trace (its span may have started from a message
        // that did not carry it).
        super::trace::follow(&request);
        if !matches!(
            request.state,
            RequestState::Approved | RequestState::Executing
        ) {
            return Ok(ExecOutcome::Skipped(request.state));
        }
        let key = lease_key(&request);
        // Each attempt holds the lease in its own name: clones of a worker (what `run` spawns)
        // share `self.holder`, and a lease re-acquired under the same name counts as renewed,
        // so a shared name would let two attempts change one image at the same time.
        let holder = format!("{}/{}", self.holder, uuid::Uuid::new_v4().simple());
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        while !wf
            .store
            .acquire_lease(&key, &holder, wf.clock.now(), wf.settings.lease_ttl)
            .await?
        {
            if tokio::time::Instant::now() >= deadline {
                return Ok(ExecOutcome::Busy);
            }
            // Jittered, growing pauses keep many waiting workers from hammering the store.
            let jitter = Duration::from_micros(rand::random_range(0..=pause.as_micros() as u64));
            tokio::time::sleep(pause / 2 + jitter).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
        if self.crashes_at(CrashPoint::AfterLease) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterLease));
        }
        let result = self.execute_leased(id).await;
        if !matches!(result, Ok(ExecOutcome::Crashed(_))) {
            wf.store.release_lease(&key, &holder).await?;
        }
        if let (Ok(ExecOutcome::Finished(_)), Some(checkpoints)) = (&result, &self.checkpoints) {
            // The execution is done whatever happens here; a checkpoint that cannot be signed
            // now is signed by the next execution or the schedule.
            if let Err(e) = checkpoints.run(Trigger::Execution).await {
                tracing::error!(error = %e, "no ledger checkpoint after the execution");
            }
        }
        result
    }

    async fn execute_leased(&self, id: &RequestId) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        // Re-read under the lease: another worker may have finished it meanwhile.
        let Some(request) = wf.store.request(id).await? else {
            return Err(WorkflowError::Invalid(format!(
                "request {id} vanished from the store"
            )));
        };
        let request = match request.state {
            RequestState::Approved => {
                let detail = format!("attempt {}", request.attempts + 1);
                let Some(r) = wf
                    .transition(
                        request,
                        RequestState::Executing,
                        |r| r.attempts += 1,
                        Record::new(AuditEvent::Executing, "system:worker", detail),
                        Some(Notice::Executing),
                    )
                    .await?
                else {
                    let state = wf
                        .store
                        .request(id)
                        .await?
                        .map(|r| r.state)
                        .unwrap_or(RequestState::Failed);
                    return Ok(ExecOutcome::Skipped(state));
                };
                r
            }
            RequestState::Executing => {
                // Interrupted before: NCP is re-read below before anything is changed.
                let mut r = request;
                r.attempts += 1;
                r.updated_at = wf.clock.now();
                let record = Record::new(
                    AuditEvent::Executing,
                    "system:worker",
                    format!("attempt {} (resumed after an interruption)", r.attempts),
                );
                let entry = wf.entry(&r, &record);
                let Some((r, _)) = wf.store.update_request_audited(&r, entry).await? else {
                    return Ok(ExecOutcome::Busy);
                };
                r
            }
            other => return Ok(ExecOutcome::Skipped(other)),
        };
        if self.crashes_at(CrashPoint::AfterMarkExecuting) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterMarkExecuting));
        }

        if request.computed_fingerprint() != request.fingerprint {
            return self
                .fail(request, "the request changed after it was approved (fingerprint mismatch); nothing was shared".into(), None)
                .await;
        }
        // A revocation removes a target only when no other grant in force covers it: decided
        // here, under the image lease, so a share executed meanwhile is seen.
        let keep = match &request.lifecycle.revocation {
            Some(_) => plan::kept_by_other_grants(
                &request,
                wf.store.active_grants(&request.image_no).await?,
                wf.clock.now(),
            ),
            None => Vec::new(),
        };
        let effective = plan::without_kept(&request, &keep);

        // Pre-flight: what NCP says now decides what (if anything) to change.
        let image = match wf.cloud.image(&request.image_no).await {
            Ok(view) => view,
            Err(e) => return self.fail_ncp(request, "pre-flight lookup", e).await,
        };
        // Nothing is shared unless signed ledger records approve exactly this request (a row
        // edited into `approved` in the store, or records copied from another request, do not).
        let records = wf.store.audit_for_request(&request.id).await?;
        let policy = wf.policy.current();
        let authority = match super::authority::check(
            &records,
            &request,
            Some(image.name.as_str()),
            &policy,
            &wf.signer.verifier(),
        ) {
            Ok(a) => a,
            Err(why) => {
                tracing::error!(request_id = %request.id, %why, "execution refused: the signed ledger does not approve it");
                return self
                    .fail(request, format!("refused: {why}; nothing was shared"), None)
                    .await;
            }
        };
        tracing::info!(request_id = %request.id, authority = %authority.summary, "signed approval verified");
        if !image.is_created() {
            return self
                .fail(
                    request,
                    format!(
                        "image {} is in status {}, not CREAT; only created images can be shared",
                        image.no, image.status
                    ),
                    None,
                )
                .await;
        }
        let plan = plan::plan(&effective, &image.shared_with);
        let already = plan == Plan::AlreadyInPlace;
        if let Err(e) = self.apply(&image, plan).await {
            return self.fail_ncp(request, "change", e).await;
        }
        if self.crashes_at(CrashPoint::AfterNcpChange) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterNcpChange));
        }

        // Read back: the answer to the change is not proof; a fresh read is. With nothing
        // changed, the pre-flight read is the read-back.
        let readback = if already {
            image
        } else {
            match wf.cloud.image(&request.image_no).await {
                Ok(v) => v,
                Err(e) => return self.fail_ncp(request, "read-back", e).await,
            }
        };
        if self.crashes_at(CrashPoint::AfterReadBack) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterReadBack));
        }
        if let Some(problem) = plan::confirms(&effective, &readback.shared_with) {
            return self
                .fail(
                    request,
                    format!("read-back did not confirm the change: {problem}"),
                    None,
                )
                .await;
        }
        self.succeed(request, readback, already, keep).await
    }

    /// Makes the change `plan` says NCP still needs.
    async fn apply(&self, image: &ImageView, plan: Plan) -> Result<(), NcpError> {
        let cloud = &self.workflow.cloud;
        match plan {
            Plan::AlreadyInPlace => {}
            Plan::Replace(targets) => {
                cloud.set_sharing(image, &targets).await?;
            }
            Plan::Change { add, remove } => {
                let mut view = image.clone();
                if !add.is_empty() {
                    view = cloud.add_sharing(&view, &add).await?;
                }
                if !remove.is_empty() {
                    cloud.remove_sharing(&view, &remove).await?;
                }
            }
        }
        Ok(())
    }

    /// Ends a request whose change NCP confirmed. Grants are written first, each idempotent or
    /// conditional, so a run interrupted after them finds the change in place, records nothing
    /// twice, and finishes; then the state change with its ledger record (`succeeded` for a
    /// share or set, `revoked` for an unshare) and the notices in one write.
    async fn succeed(
        &self,
        request: ShareRequest,
        readback: ImageView,
        already: bool,
        keep: Vec<Grant>,
    ) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        let now = wf.clock.now();
        let revocation = request.action == Action::Unshare || !keep.is_empty();
        if !revocation {
            for grant in outcome::grants(&request, now) {
                wf.store.insert_grant(&grant).await?;
            }
        }
        // A revocation ends the grants it lists; a `set` that took targets off (or an `unshare`
        // approved through the policy) ends every grant of a removed target, since the share it
        // stands for is gone.
        let ended = match &request.lifecycle.revocation {
            Some(r) if revocation => {
                for g in &r.ends {
                    wf.store.end_grant(g, now).await?;
                }
                r.ends.clone()
            }
            _ => self.end_grants_of_removed(&request, now).await?,
        };
        let ending = if revocation {
            outcome::revoked(&request, &readback.shared_with, already, &keep, &ended)
        } else {
            outcome::shared(&request, &readback.shared_with, already, &ended, now)
        };
        let ended_of = self.ended_of(&ended, &keep).await;
        self.finish(
            request,
            RequestState::Succeeded,
            ending,
            Notice::Succeeded,
            &ended_of,
        )
        .await
    }

    /// Ends every active grant of a target the request takes off.
    async fn end_grants_of_removed(
        &self,
        request: &ShareRequest,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Grant>, WorkflowError> {
        let removed = plan::removed_targets(request);
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let store = &self.workflow.store;
        let mut ended = Vec::new();
        for g in store.active_grants(&request.image_no).await? {
            if removed.iter().any(|r| r == g.target.as_str()) {
                store.end_grant(&g, now).await?;
                ended.push(g);
            }
        }
        Ok(ended)
    }

    /// The requests whose grants were ended, each with the targets taken off and the ones kept
    /// (because another grant covers them), for the notices written with the success.
    async fn ended_of(&self, ended: &[Grant], keep: &[Grant]) -> Vec<EndedOf> {
        let wf = &self.workflow;
        let mut originals: Vec<&RequestId> = ended.iter().map(|g| &g.request_id).collect();
        originals.sort();
        originals.dedup();
        let mut out = Vec::new();
        for id in originals {
            match wf.store.request(id).await {
                Ok(Some(original)) => out.push(EndedOf::new(original, ended, keep)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(request_id = %id, error = %e, "cannot read a request to tell it its share ended");
                }
            }
        }
        out
    }

    async fn fail_ncp(
        &self,
        request: ShareRequest,
        step: &str,
        e: NcpError,
    ) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        // A revocation must not be lost to a passing outage: it stays executing and the next
        // attempt (the worker's poll, or the next `sweep`) tries again, up to a limit.
        if request.lifecycle.revocation.is_some()
            && e.is_transient()
            && request.attempts < wf.settings.lifecycle.revoke_attempts
        {
            let mut r = request;
            r.updated_at = wf.clock.now();
            let record = Record::new(
                AuditEvent::Executing,
                "system:worker",
                format!(
                    "attempt {} of {}: NCP {step} failed transiently ({e}); the revocation will be tried again",
                    r.attempts, wf.settings.lifecycle.revoke_attempts
                ),
            );
            let entry = wf.entry(&r, &record);
            return Ok(match wf.store.update_request_audited(&r, entry).await? {
                Some(_) => ExecOutcome::WillRetry,
                None => ExecOutcome::Busy,
            });
        }
        let code = e.code().map(str::to_string);
        self.fail(request, format!("NCP {step} failed: {e}"), code)
            .await
    }

    async fn fail(
        &self,
        request: ShareRequest,
        message: String,
        ncp_code: Option<String>,
    ) -> Result<ExecOutcome, WorkflowError> {
        self.finish(
            request,
            RequestState::Failed,
            outcome::failed(message, ncp_code),
            Notice::Failed,
            &[],
        )
        .await
    }

    /// The one ending of every execution: the final state with its outcome, its ledger record,
    /// its notice and those of the requests whose grants it ended, in one compare-and-swap
    /// write. `Busy` when another worker moved the request first.
    async fn finish(
        &self,
        request: ShareRequest,
        state: RequestState,
        ending: Ending,
        notice: Notice,
        ended_of: &[EndedOf],
    ) -> Result<ExecOutcome, WorkflowError> {
        let Ending {
            outcome,
            event,
            detail,
        } = ending;
        let finished = self
            .workflow
            .transition_telling(
                request,
                state,
                move |r| r.outcome = Some(outcome.clone()),
                Record::new(event, "system:worker", detail),
                Some(notice),
                |by| outcome::ended_notices(by, ended_of),
            )
            .await?;
        Ok(match finished {
            Some(_) => ExecOutcome::Finished(state),
            None => ExecOutcome::Busy,
        })
    }
}
