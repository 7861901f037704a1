//! Execution: the only code that changes NCP. It runs approved requests under a per-image
//! lease, re-reads NCP before changing anything (so a run interrupted by a crash never applies
//! twice), reads the result back, and ends every request `Succeeded` or `Failed`.

use super::checkpoints::{Checkpointer, Trigger};
use super::{Record, Workflow, WorkflowError};
use crate::audit::AuditEvent;
use crate::domain::{Grant, LoginId, Outcome, RequestId, RequestState, ShareRequest};
use crate::ncp::{ImageView, NcpError};
use crate::notify::{GrantsEnded, Notice};
use crate::policy::Action;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

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
    /// interrupted work at start and every poll interval.
    pub async fn run(
        self,
        mut hints: mpsc::UnboundedReceiver<RequestId>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let limit = Arc::new(Semaphore::new(self.workflow.settings.concurrency.max(1)));
        let mut tick = tokio::time::interval(self.workflow.settings.poll_interval);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(id) = hints.recv() => self.spawn(id, limit.clone()).await,
                _ = tick.tick() => {
                    match self.pending_work().await {
                        Ok(ids) => for id in ids { self.spawn(id, limit.clone()).await },
                        Err(e) => tracing::warn!(error = %e, "worker could not read pending work"),
                    }
                }
            }
        }
    }

    async fn spawn(&self, id: RequestId, limit: Arc<Semaphore>) {
        let Ok(permit) = limit.acquire_owned().await else {
            return;
        };
        let worker = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match worker.execute(&id).await {
                Ok(outcome) => {
                    tracing::debug!(request_id = %id, ?outcome, "execution attempt done")
                }
                Err(e) => {
                    tracing::warn!(request_id = %id, error = %e, "execution attempt failed; it will be retried")
                }
            }
        });
    }

    /// Requests that are approved or were interrupted while executing, oldest first.
    pub async fn pending_work(&self) -> Result<Vec<RequestId>, WorkflowError> {
        let store = &self.workflow.store;
        let mut work = store
            .requests(Some(RequestState::Executing), 10_000)
            .await?;
        work.extend(store.requests(Some(RequestState::Approved), 10_000).await?);
        work.sort_by_key(|r| r.created_at);
        Ok(work.into_iter().map(|r| r.id).collect())
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
        let wf = &self.workflow;
        let Some(request) = wf.store.request(id).await? else {
            return Err(WorkflowError::Invalid(format!(
                "request {id} is not in the store"
            )));
        };
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
        let deadline = tokio::time::Instant::now() + wf.settings.lease_wait;
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
        let keep = self.kept_by_other_grants(&request).await?;
        let mut effective = request.clone();
        effective
            .targets
            .retain(|t| !keep.iter().any(|g| &g.target == t));

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
        let (changed, already) = match self.apply(&effective, &image).await {
            Ok(v) => (v, false),
            Err(Some(e)) => return self.fail_ncp(request, "change", e).await,
            Err(None) => (image.clone(), true),
        };
        if self.crashes_at(CrashPoint::AfterNcpChange) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterNcpChange));
        }

        // Read back: the answer to the change is not proof; a fresh read is.
        let readback = if already {
            changed
        } else {
            match wf.cloud.image(&request.image_no).await {
                Ok(v) => v,
                Err(e) => return self.fail_ncp(request, "read-back", e).await,
            }
        };
        if self.crashes_at(CrashPoint::AfterReadBack) {
            return Ok(ExecOutcome::Crashed(CrashPoint::AfterReadBack));
        }
        if let Some(problem) = confirms(&effective, &readback) {
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

    /// For a revocation: the grants in force (not ended, not past their end) that it does not
    /// end, one per target they keep shared.
    async fn kept_by_other_grants(
        &self,
        request: &ShareRequest,
    ) -> Result<Vec<Grant>, WorkflowError> {
        let Some(revocation) = &request.lifecycle.revocation else {
            return Ok(Vec::new());
        };
        let now = self.workflow.clock.now();
        let mut keep: Vec<Grant> = Vec::new();
        for g in self.workflow.store.active_grants(&request.image_no).await? {
            if request.targets.contains(&g.target)
                && g.in_force_at(now)
                && !revocation.ends.iter().any(|e| e.same_key(&g))
                && !keep.iter().any(|k| k.target == g.target)
            {
                keep.push(g);
            }
        }
        Ok(keep)
    }

    /// Makes the change NCP still needs; `Err(None)` when none is needed (already in place).
    async fn apply(
        &self,
        request: &ShareRequest,
        image: &ImageView,
    ) -> Result<ImageView, Option<NcpError>> {
        let cloud = &self.workflow.cloud;
        let current: HashSet<&str> = image.shared_with.iter().map(String::as_str).collect();
        match request.action {
            Action::Share => {
                let missing: Vec<LoginId> = request
                    .targets
                    .iter()
                    .filter(|t| !current.contains(t.as_str()))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    return Err(None);
                }
                cloud.add_sharing(image, &missing).await.map_err(Some)
            }
            Action::Unshare => {
                let present: Vec<LoginId> = request
                    .targets
                    .iter()
                    .filter(|t| current.contains(t.as_str()))
                    .cloned()
                    .collect();
                if present.is_empty() {
                    return Err(None);
                }
                cloud.remove_sharing(image, &present).await.map_err(Some)
            }
            Action::Set => {
                // Approvers approved a diff against the list they saw. If the list is unchanged
                // since, one `set` makes it exact; if another request changed it meanwhile, only
                // the approved diff is applied, so that nobody else's approved share is lost.
                let (added, removed) = request.set_diff();
                let when_asked: HashSet<&str> = request
                    .shared_with_when_asked
                    .iter()
                    .map(String::as_str)
                    .collect();
                let to_add: Vec<LoginId> = request
                    .targets
                    .iter()
                    .filter(|t| {
                        added.iter().any(|a| a == t.as_str()) && !current.contains(t.as_str())
                    })
                    .cloned()
                    .collect();
                let to_remove: Vec<LoginId> = removed
                    .iter()
                    .filter(|r| current.contains(r.as_str()))
                    .filter_map(|r| LoginId::parse(r).ok())
                    .collect();
                if to_add.is_empty() && to_remove.is_empty() {
                    return Err(None);
                }
                if when_asked == current {
                    return cloud
                        .set_sharing(image, &request.targets)
                        .await
                        .map_err(Some);
                }
                let mut view = image.clone();
                if !to_add.is_empty() {
                    view = cloud.add_sharing(&view, &to_add).await.map_err(Some)?;
                }
                if !to_remove.is_empty() {
                    view = cloud
                        .remove_sharing(&view, &to_remove)
                        .await
                        .map_err(Some)?;
                }
                Ok(view)
            }
        }
    }

    async fn succeed(
        &self,
        request: ShareRequest,
        readback: ImageView,
        already: bool,
        keep: Vec<Grant>,
    ) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        let now = wf.clock.now();
        if request.action == Action::Unshare || !keep.is_empty() {
            return self
                .succeed_revocation(request, readback, already, keep)
                .await;
        }
        let verb = match request.action {
            Action::Share => "shared with",
            Action::Unshare => "unshared from",
            Action::Set => "share list set to",
        };
        let targets = request
            .targets
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "image {} {verb} {targets}{}{}",
            request.image_no,
            request
                .duration
                .map(|d| format!(
                    " until {}",
                    (now + d.to_chrono()).format("%Y-%m-%d %H:%M UTC")
                ))
                .unwrap_or_default(),
            if already {
                " (already in place on NCP)"
            } else {
                ""
            }
        );
        let outcome = Outcome {
            message: message.clone(),
            ncp_code: None,
            shared_with_after: Some(readback.shared_with.clone()),
            already_in_place: already,
        };
        // Grants first (idempotent): if the process dies before the state change, the next run
        // finds the change in place, records nothing twice, and finishes.
        if matches!(request.action, Action::Share | Action::Set) {
            for target in &request.targets {
                wf.store
                    .insert_grant(&Grant {
                        image_no: request.image_no.clone(),
                        target: target.clone(),
                        request_id: request.id.clone(),
                        starts_at: now,
                        ends_at: request.duration.map(|d| now + d.to_chrono()),
                        ended_at: None,
                    })
                    .await?;
            }
        }
        let mut detail = format!(
            "{message}; share list now: [{}]",
            readback.shared_with.join(", ")
        );
        if matches!(request.action, Action::Share | Action::Set) {
            let until = request
                .duration
                .map(|d| {
                    format!(
                        "until {}",
                        (now + d.to_chrono()).format("%Y-%m-%d %H:%M UTC")
                    )
                })
                .unwrap_or_else(|| "until revoked".into());
            let grants: Vec<String> = request
                .targets
                .iter()
                .map(|t| {
                    let extends: Vec<String> = request
                        .lifecycle
                        .extends
                        .iter()
                        .filter(|g| &g.target == t)
                        .map(|g| format!("extends {}'s", g.request_id))
                        .collect();
                    if extends.is_empty() {
                        format!("{t} {until}")
                    } else {
                        format!("{t} {until} ({})", extends.join(", "))
                    }
                })
                .collect();
            detail.push_str(&format!("; grants: {}", grants.join("; ")));
        }
        let ended = self.end_grants_of_removed(&request).await?;
        if !ended.is_empty() {
            detail.push_str(&format!("; grants ended: {}", describe_grants(&ended)));
        }
        let ended_of = self.ended_of(&ended, &[]).await;
        let Some(_) = wf
            .transition_telling(
                request,
                RequestState::Succeeded,
                move |r| r.outcome = Some(outcome.clone()),
                Record::new(AuditEvent::Succeeded, "system:worker", detail),
                Some(Notice::Succeeded),
                |by| ended_notices(by, &ended_of),
            )
            .await?
        else {
            return Ok(ExecOutcome::Busy);
        };
        Ok(ExecOutcome::Finished(RequestState::Succeeded))
    }

    /// For a `set` that took targets off (and an `unshare` approved through the policy): every
    /// grant of a removed target ends, since the share it stands for is gone.
    async fn end_grants_of_removed(
        &self,
        request: &ShareRequest,
    ) -> Result<Vec<Grant>, WorkflowError> {
        let removed: Vec<String> = match request.action {
            Action::Share => return Ok(Vec::new()),
            Action::Unshare => request
                .targets
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            Action::Set => request.set_diff().1,
        };
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let wf = &self.workflow;
        let mut ended = Vec::new();
        for g in wf.store.active_grants(&request.image_no).await? {
            if removed.iter().any(|r| r == g.target.as_str()) {
                wf.store.end_grant(&g, wf.clock.now()).await?;
                ended.push(g);
            }
        }
        Ok(ended)
    }

    /// Ends an unshare: the grants it ends (the listed ones for a revocation, every one of the
    /// removed targets for an unshare approved through the policy), then the state change with
    /// its `revoked` ledger record in one write, then the notices.
    async fn succeed_revocation(
        &self,
        request: ShareRequest,
        readback: ImageView,
        already: bool,
        keep: Vec<Grant>,
    ) -> Result<ExecOutcome, WorkflowError> {
        let wf = &self.workflow;
        let now = wf.clock.now();
        // Grants first, each a conditional write: a run interrupted after them finds them ended
        // and the target gone, and only records the end.
        let ended = match &request.lifecycle.revocation {
            Some(revocation) => {
                for g in &revocation.ends {
                    wf.store.end_grant(g, now).await?;
                }
                revocation.ends.clone()
            }
            None => self.end_grants_of_removed(&request).await?,
        };
        let removed: Vec<&LoginId> = request
            .targets
            .iter()
            .filter(|t| !keep.iter().any(|k| &k.target == *t))
            .collect();
        let mut message = if removed.is_empty() {
            format!("nothing removed from image {}", request.image_no)
        } else {
            format!(
                "image {} unshared from {}",
                request.image_no,
                removed
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for k in &keep {
            message.push_str(&format!(
                "; {} stays shared: the grant of {} {} still covers it",
                k.target,
                k.request_id,
                k.ends_at
                    .map(|e| format!("until {}", e.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_else(|| "with no end".into())
            ));
        }
        if already && !removed.is_empty() {
            message.push_str(" (already removed on NCP)");
        }
        let outcome = Outcome {
            message: message.clone(),
            ncp_code: None,
            shared_with_after: Some(readback.shared_with.clone()),
            already_in_place: already,
        };
        let cause = request
            .lifecycle
            .revocation
            .as_ref()
            .map(|r| r.cause.as_str())
            .unwrap_or("unshare approved through the policy");
        let detail = format!(
            "{message}; cause: {cause}; grants ended: {}; share list now: [{}]",
            if ended.is_empty() {
                "none".to_string()
            } else {
                describe_grants(&ended)
            },
            readback.shared_with.join(", ")
        );
        let ended_of = self.ended_of(&ended, &keep).await;
        let Some(_) = wf
            .transition_telling(
                request,
                RequestState::Succeeded,
                move |r| r.outcome = Some(outcome.clone()),
                Record::new(AuditEvent::Revoked, "system:worker", detail),
                Some(Notice::Succeeded),
                |by| ended_notices(by, &ended_of),
            )
            .await?
        else {
            return Ok(ExecOutcome::Busy);
        };
        Ok(ExecOutcome::Finished(RequestState::Succeeded))
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
            let original = match wf.store.request(id).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(request_id = %id, error = %e, "cannot read a request to tell it its share ended");
                    continue;
                }
            };
            let (mut removed, mut kept) = (Vec::new(), Vec::new());
            for g in ended.iter().filter(|g| &g.request_id == id) {
                if keep.iter().any(|k| k.target == g.target) {
                    kept.push(g.target.clone());
                } else {
                    removed.push(g.target.clone());
                }
            }
            out.push(EndedOf {
                original,
                removed,
                kept,
            });
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
        let wf = &self.workflow;
        let outcome = Outcome {
            message: message.clone(),
            ncp_code,
            shared_with_after: None,
            already_in_place: false,
        };
        let Some(_) = wf
            .transition(
                request,
                RequestState::Failed,
                move |r| r.outcome = Some(outcome.clone()),
                Record::new(AuditEvent::Failed, "system:worker", message),
                Some(Notice::Failed),
            )
            .await?
        else {
            return Ok(ExecOutcome::Busy);
        };
        Ok(ExecOutcome::Finished(RequestState::Failed))
    }
}

/// A request whose grants a revocation ended.
struct EndedOf {
    original: ShareRequest,
    removed: Vec<crate::domain::LoginId>,
    kept: Vec<crate::domain::LoginId>,
}

/// The `ShareEnded` notices of the requests whose grants `by` ended.
fn ended_notices(by: &ShareRequest, ended: &[EndedOf]) -> Vec<(ShareRequest, Notice)> {
    ended
        .iter()
        .map(|e| {
            (
                e.original.clone(),
                Notice::ShareEnded(GrantsEnded {
                    by_request: by.id.clone(),
                    actor: by.requester.to_string(),
                    cause: by.lifecycle.revocation.as_ref().map(|r| r.cause),
                    removed: e.removed.clone(),
                    kept: e.kept.clone(),
                }),
            )
        })
        .collect()
}

/// "a@x.example (SR-…), ..." for ledger details.
fn describe_grants(grants: &[Grant]) -> String {
    grants
        .iter()
        .map(|g| format!("{} ({})", g.target, g.request_id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the share list read back is what the request intended; the problem if not.
fn confirms(request: &ShareRequest, readback: &ImageView) -> Option<String> {
    let now: HashSet<&str> = readback.shared_with.iter().map(String::as_str).collect();
    let targets: Vec<&str> = request.targets.iter().map(LoginId::as_str).collect();
    match request.action {
        Action::Share => {
            let missing: Vec<&str> = targets
                .iter()
                .copied()
                .filter(|t| !now.contains(t))
                .collect();
            (!missing.is_empty()).then(|| format!("not shared with {}", missing.join(", ")))
        }
        Action::Unshare => {
            let left: Vec<&str> = targets
                .iter()
                .copied()
                .filter(|t| now.contains(t))
                .collect();
            (!left.is_empty()).then(|| format!("still shared with {}", left.join(", ")))
        }
        Action::Set => {
            let (added, removed) = request.set_diff();
            let missing: Vec<&str> = added
                .iter()
                .map(String::as_str)
                .filter(|t| !now.contains(t))
                .collect();
            let left: Vec<&str> = removed
                .iter()
                .map(String::as_str)
                .filter(|t| now.contains(t))
                .collect();
            match (missing.is_empty(), left.is_empty()) {
                (true, true) => None,
                _ => Some(format!(
                    "share list is [{}] (missing: [{}], still present: [{}])",
                    readback.shared_with.join(", "),
                    missing.join(", "),
                    left.join(", ")
                )),
            }
        }
    }
}
