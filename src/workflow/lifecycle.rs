//! Lifecycle: time-boxed grants end, people revoke what they asked for or could approve, and
//! NCP's live share lists are compared with the grants (drift).
//!
//! Every revocation is a request of its own (action `unshare`, `lifecycle.revocation` set),
//! approved by the service and executed by the worker like any share: under the image lease,
//! after a fresh read of NCP, changing only what is still there, read back, and in the ledger.
//! So a revocation is durable (it survives a crash as a stored request), retried, idempotent
//! (the worker removes only what NCP still lists) and audited with no second code path to NCP.

use super::{NewRequest, Record, Workflow, WorkflowError};
use crate::audit::{AuditEntry, AuditEvent};
use crate::domain::ports::notify::Notice;
use crate::domain::{
    DriftFinding, DriftKind, Grant, ImageNo, Lifecycle, LoginId, Origin, RequestId, RequestState,
    Revocation, RevocationCause, ShareRequest,
};
use crate::policy::{Action, Identity, PersonName, Policy};
use crate::telemetry::metrics::{self, RunResult};
use crate::workflow::ports::store::{Change, Committed, DeliveryKey, Inserted, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use tracing::Instrument as _;

/// The actor of revocations the sweep makes.
pub const SCHEDULER: &str = "system:scheduler";
/// The actor of drift findings and of the clean-up `reconcile --revoke-unmanaged` makes.
pub const RECONCILER: &str = "system:reconciler";

/// How long a revocation the service made may stay pending (only a crash between its steps
/// leaves it so; the next sweep finishes it long before).
const REVOCATION_TTL_DAYS: i64 = 7;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending requests that already held enough approvals and are approved now: the process
    /// that recorded the last approval stopped (a crash, `kill -9`) before it moved the request
    /// (the approval and the state change are two writes).
    pub approved_late: Vec<RequestId>,
    /// Pending requests that expired.
    pub expired_requests: usize,
    /// Requests whose requester was told their share ends soon.
    pub reminded: Vec<RequestId>,
    /// Revocations made (or resumed after an interruption), approved and queued.
    pub revocations: Vec<RequestId>,
    /// Grants past their end whose revocation failed for good, with why.
    pub overdue: Vec<(Grant, String)>,
}

/// What one reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// Images the policy covers that were compared.
    pub images_checked: usize,
    /// Every difference found.
    pub findings: Vec<DriftFinding>,
    /// Revocations made to remove unmanaged shares (only with `--revoke-unmanaged`).
    pub removals: Vec<RequestId>,
    /// Things that could not be done, one sentence each.
    pub notes: Vec<String>,
}

/// The system identity behind an actor name like `system:scheduler`.
fn system_identity(actor: &str) -> Identity {
    Identity::parse(actor).unwrap_or_else(|_| Identity {
        system: "system".into(),
        id: "lifecycle".into(),
    })
}

fn join_targets<'a>(targets: impl IntoIterator<Item = &'a LoginId>) -> String {
    targets
        .into_iter()
        .map(LoginId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `actor` may end `original`'s grants without approval, if they may: they asked for it,
/// or they are among its approvers (as decided then, or under the rule as it is now).
fn authority(
    policy: &Policy,
    actor: &Identity,
    person: Option<&PersonName>,
    original: &ShareRequest,
) -> Option<String> {
    let same_person = match (person, &original.requester_person) {
        (Some(a), Some(b)) => a == b,
        _ => original.requester == *actor,
    };
    if same_person {
        return Some(format!("{actor} asked for {}", original.id));
    }
    let person = person?;
    let rule = original.rule.as_deref()?;
    let now_approver = policy
        .rules()
        .iter()
        .find(|r| r.name == rule)
        .is_some_and(|r| policy.includes(&r.approvers, person));
    (original.approvers.contains(person) || now_approver).then(|| {
        format!(
            "{person} is an approver under rule {rule:?} of {}",
            original.id
        )
    })
}

/// The parts of a revocation request that differ between its makers.
struct RevocationSpec {
    id: RequestId,
    requester: Identity,
    requester_person: Option<PersonName>,
    origin: Origin,
    image_no: ImageNo,
    image_name: String,
    hypervisor: Option<crate::domain::Hypervisor>,
    targets: Vec<LoginId>,
    rule: Option<String>,
    reason: String,
    revocation: Revocation,
}

impl Workflow {
    fn revocation_request(&self, spec: RevocationSpec) -> ShareRequest {
        let now = self.clock.now();
        let policy = self.policy.current();
        ShareRequest {
            id: spec.id,
            version: 1,
            state: RequestState::Pending,
            origin: spec.origin,
            requester: spec.requester,
            requester_person: spec.requester_person,
            fingerprint: crate::domain::request::fingerprint(
                &spec.image_no,
                &self.settings.region,
                Action::Unshare,
                &spec.targets,
                None,
            ),
            image_no: spec.image_no,
            image_name: spec.image_name,
            hypervisor: spec.hypervisor,
            region: self.settings.region.clone(),
            action: Action::Unshare,
            targets: spec.targets,
            duration: None,
            reason: Some(spec.reason),
            shared_with_when_asked: Vec::new(),
            policy_hash: policy.hash().to_string(),
            rule: spec.rule,
            approvers: Vec::new(),
            min_approvals: 0,
            allow_self_approval: false,
            approval_channel: None,
            works_channel: None,
            created_at: now,
            updated_at: now,
            expires_at: now + chrono::Duration::days(REVOCATION_TTL_DAYS),
            attempts: 0,
            outcome: None,
            lifecycle: Lifecycle {
                extends: Vec::new(),
                revocation: Some(spec.revocation),
            },
            // The sweep's, the reconcile's or the delivery's trace that opened it.
            trace_id: Some(super::trace::current_or_new()),
        }
    }

    /// Stores a revocation (or finds the one with its id from an interrupted earlier attempt),
    /// records it, approves it in the name of `approver` and queues it for the worker.
    ///
    /// Every step checks what is already there, so running it again after a crash anywhere in
    /// it finishes the same revocation: nothing is recorded or revoked twice.
    async fn open_revocation(
        &self,
        mut request: ShareRequest,
        approver: &str,
        decided: String,
    ) -> Result<ShareRequest, WorkflowError> {
        let derived = request.id.clone();
        loop {
            match self.store.insert_request(&request).await? {
                Inserted::New => break,
                Inserted::AlreadyThere => {
                    let existing = self.store.request(&request.id).await?;
                    match existing {
                        Some(e)
                            if e.lifecycle.revocation.is_some()
                                && e.image_no == request.image_no
                                && request.id == derived =>
                        {
                            request = e;
                            break;
                        }
                        // A random id that collided with another request: draw again.
                        _ => request.id = RequestId::random(),
                    }
                }
            }
        }
        if request.state != RequestState::Pending {
            if matches!(
                request.state,
                RequestState::Approved | RequestState::Executing
            ) {
                self.queue
                    .enqueue(&request.id, request.trace_id.as_ref())
                    .await;
            }
            return Ok(request);
        }
        let events: HashSet<AuditEvent> = self
            .store
            .audit_for_request(&request.id)
            .await?
            .into_iter()
            .map(|r| r.entry.event)
            .collect();
        if !events.contains(&AuditEvent::Requested) {
            let asked = format!(
                "{} unshare image {} from {}: {}",
                request.requester,
                request.image_no,
                join_targets(&request.targets),
                request.reason.as_deref().unwrap_or_default()
            );
            let actor = request.requester.to_string();
            self.audit(&request, AuditEvent::Requested, &actor, asked)
                .await?;
        }
        if !events.contains(&AuditEvent::Decided) {
            self.audit(&request, AuditEvent::Decided, "system:lifecycle", decided)
                .await?;
        }
        let Some(approved) = self
            .transition(
                request.clone(),
                RequestState::Approved,
                |_| {},
                Record::new(
                    AuditEvent::Approved,
                    approver,
                    "revocation: no approval needed",
                ),
                Some(Notice::Approved),
            )
            .await?
        else {
            // Moved on meanwhile (another sweep approved it); report it as it is now.
            return Ok(self.store.request(&request.id).await?.unwrap_or(request));
        };
        self.queue
            .enqueue(&approved.id, approved.trace_id.as_ref())
            .await;
        Ok(approved)
    }

    /// Grants that revocations not yet finished are about to end.
    async fn grants_being_revoked(&self) -> Result<Vec<Grant>, StoreError> {
        let mut out = Vec::new();
        for state in [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Executing,
        ] {
            for r in self.store.requests(Some(state), 10_000).await? {
                if let Some(rev) = r.lifecycle.revocation {
                    out.extend(rev.ends);
                }
            }
        }
        Ok(out)
    }

    /// Pending requests whose stored approvals already reach their count, approved and queued
    /// as a repeated click would: the approval is one write and the state change the next, so a
    /// process stopped between them (or a delivery refused as a repeat after it) would leave the
    /// request pending until it expired.
    async fn approve_held_back(&self) -> Result<Vec<RequestId>, WorkflowError> {
        let mut approved = Vec::new();
        for request in self
            .store
            .requests(Some(RequestState::Pending), 10_000)
            .await?
        {
            let count = self
                .store
                .approvals(&request.id)
                .await?
                .iter()
                .filter(|a| a.approve && request.approvers.contains(&a.person))
                .count() as u32;
            if count < request.min_approvals.max(1) {
                continue;
            }
            let detail = format!(
                "approved: {count} of {} approvals (completed by the sweep after an interruption)",
                request.min_approvals
            );
            if let Some(r) = self
                .transition(
                    request,
                    RequestState::Approved,
                    |_| {},
                    Record::new(AuditEvent::Decided, "system:workflow", detail),
                    Some(Notice::Approved),
                )
                .await?
            {
                tracing::warn!(request_id = %r.id, "a pending request held enough approvals (its approver's process stopped before moving it): approved now");
                self.queue.enqueue(&r.id, r.trace_id.as_ref()).await;
                approved.push(r.id);
            }
        }
        Ok(approved)
    }

    /// One pass of the scheduler: expires pending requests past their TTL, revokes grants past
    /// their end (queued for the worker), and tells requesters whose shares end soon.
    ///
    /// A sweep is one trace (a new one unless the caller works in one): its lines, and the
    /// revocations it opens, name it.
    pub async fn sweep(&self) -> Result<SweepReport, WorkflowError> {
        let trace = super::trace::current_or_new();
        let span = tracing::info_span!("sweep", trace_id = %trace);
        let report = super::trace::scope(trace, self.sweep_in_trace())
            .instrument(span)
            .await;
        metrics::sweep(match report {
            Ok(_) => RunResult::Ok,
            Err(_) => RunResult::Failed,
        });
        report
    }

    async fn sweep_in_trace(&self) -> Result<SweepReport, WorkflowError> {
        let now = self.clock.now();
        // First, so that a request approved in time is not expired for a crash's sake.
        let approved_late = self.approve_held_back().await?;
        let mut report = SweepReport {
            approved_late,
            expired_requests: self.expire_due().await?,
            ..SweepReport::default()
        };
        let remind = chrono::Duration::from_std(self.settings.lifecycle.remind_before)
            .unwrap_or(chrono::Duration::days(1));
        let due = self.store.grants_ending_by(now + remind).await?;
        if due.is_empty() {
            return Ok(report);
        }
        let in_flight = self.grants_being_revoked().await?;
        let mut expired: BTreeMap<(ImageNo, RequestId), Vec<Grant>> = BTreeMap::new();
        let mut soon: BTreeMap<(ImageNo, RequestId), Vec<Grant>> = BTreeMap::new();
        for g in due {
            let key = (g.image_no.clone(), g.request_id.clone());
            if g.ends_at.is_some_and(|end| end <= now) {
                if !in_flight.iter().any(|f| f.same_key(&g)) {
                    expired.entry(key).or_default().push(g);
                }
            } else {
                soon.entry(key).or_default().push(g);
            }
        }
        for ((image, original_id), grants) in expired {
            let Some(original) = self.store.request(&original_id).await? else {
                tracing::warn!(request_id = %original_id, image_no = %image, "a grant's request is not in the store; revoking it without one");
                continue;
            };
            let revocation = self.revoke_expired(&original, grants.clone()).await?;
            match revocation.state {
                RequestState::Failed | RequestState::Expired | RequestState::Denied => {
                    let why = revocation
                        .outcome
                        .map(|o| o.message)
                        .unwrap_or_else(|| "the revocation did not finish".into());
                    for g in grants {
                        report.overdue.push((
                            g,
                            format!("revocation {} {}: {why}", revocation.id, revocation.state),
                        ));
                    }
                }
                RequestState::Succeeded | RequestState::Cancelled => {}
                _ => report.revocations.push(revocation.id),
            }
        }
        for ((image, original_id), grants) in soon {
            if self
                .remind(&image, &original_id, &grants, remind, now)
                .await?
            {
                report.reminded.push(original_id);
            }
        }
        Ok(report)
    }

    /// Opens the revocation of `original`'s grants that are past their end on one image. Its id
    /// is derived from what it revokes, so a sweep run again after a crash finds it.
    async fn revoke_expired(
        &self,
        original: &ShareRequest,
        grants: Vec<Grant>,
    ) -> Result<ShareRequest, WorkflowError> {
        let image = grants[0].image_no.clone();
        let mut targets: Vec<LoginId> = grants.iter().map(|g| g.target.clone()).collect();
        targets.sort();
        targets.dedup();
        let seed = format!(
            "revoke-expired|{}|{}|{}",
            image,
            original.id,
            join_targets(&targets)
        );
        let ended = grants
            .iter()
            .filter_map(|g| g.ends_at)
            .max()
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let request = self.revocation_request(RevocationSpec {
            id: RequestId::derived(seed.as_bytes()),
            requester: system_identity(SCHEDULER),
            requester_person: None,
            origin: original.origin.clone(),
            image_no: image,
            image_name: original.image_name.clone(),
            hypervisor: original.hypervisor,
            targets,
            rule: original.rule.clone(),
            reason: format!("the share of {} ended at {ended}", original.id),
            revocation: Revocation {
                cause: RevocationCause::Expired,
                ends: grants,
            },
        });
        self.open_revocation(
            request,
            SCHEDULER,
            format!(
                "revocation without approval: the time of {}'s grants ran out",
                original.id
            ),
        )
        .await
    }

    /// Tells `original`'s requester, once, that its grants on `image` end soon; `true` if told.
    async fn remind(
        &self,
        image: &ImageNo,
        original_id: &RequestId,
        grants: &[Grant],
        remind: chrono::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, WorkflowError> {
        // A share shorter than the reminder lead time would be reminded at once: not useful.
        let worth_it: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.ends_at.is_some_and(|end| end - g.starts_at > remind))
            .collect();
        let Some(ends_at) = worth_it.iter().filter_map(|g| g.ends_at).min() else {
            return Ok(false);
        };
        // A target that a later (or open-ended) grant keeps does not lose access: leave it out.
        let active = self.store.active_grants(image).await?;
        let targets: Vec<LoginId> = worth_it
            .iter()
            .filter(|g| {
                !active.iter().any(|o| {
                    o.target == g.target
                        && o.request_id != g.request_id
                        && o.ends_at.is_none_or(|end| Some(end) > g.ends_at)
                })
            })
            .map(|g| g.target.clone())
            .collect();
        if targets.is_empty() {
            return Ok(false);
        }
        let Some(original) = self.store.request(original_id).await? else {
            return Ok(false);
        };
        let key = format!("lifecycle:ending-soon:{original_id}:{image}");
        let ttl = (remind + chrono::Duration::days(7))
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(8 * 86_400));
        // The reminder's key and the reminder itself are one write: told once, never lost.
        let told = vec![(original, Notice::ShareEndingSoon { ends_at, targets })];
        let outbox = self.outbox_for(&told).await?;
        match self
            .store
            .commit(Change {
                delivery: Some(DeliveryKey::new(key, now, ttl)),
                outbox: outbox.clone(),
                ..Default::default()
            })
            .await?
        {
            Committed::Done(_) => {
                self.told(&told, &outbox).await;
                Ok(true)
            }
            Committed::Conflict(_) => Ok(false),
        }
    }

    /// An `unshare` by someone who may end the grants without approval: the requester of the
    /// share, or one of its rule's approvers. `None` when the policy must decide: the person has
    /// no such grant for one of the targets (a stranger, or a share no grant covers).
    pub(super) async fn revoke_own_grants(
        &self,
        new: &NewRequest,
        targets: &[LoginId],
        reason: Option<String>,
    ) -> Result<Option<ShareRequest>, WorkflowError> {
        let policy = self.policy.current();
        let person = policy.person_for(&new.requester).cloned();
        let grants = self.store.active_grants(&new.image_no).await?;
        let mut originals: HashMap<RequestId, Option<ShareRequest>> = HashMap::new();
        let mut ends = Vec::new();
        let mut why: Vec<String> = Vec::new();
        for target in targets {
            let mut covered = false;
            for g in grants.iter().filter(|g| &g.target == target) {
                if !originals.contains_key(&g.request_id) {
                    let r = self.store.request(&g.request_id).await?;
                    originals.insert(g.request_id.clone(), r);
                }
                let Some(Some(original)) = originals.get(&g.request_id) else {
                    continue;
                };
                if let Some(reason) = authority(&policy, &new.requester, person.as_ref(), original)
                {
                    covered = true;
                    ends.push(g.clone());
                    if !why.contains(&reason) {
                        why.push(reason);
                    }
                }
            }
            if !covered {
                return Ok(None);
            }
        }
        let first = originals
            .values()
            .flatten()
            .find(|o| ends.iter().any(|g| g.request_id == o.id))
            .cloned();
        let request = self.revocation_request(RevocationSpec {
            id: RequestId::random(),
            requester: new.requester.clone(),
            requester_person: person,
            origin: new.origin.clone(),
            image_no: new.image_no.clone(),
            image_name: first
                .as_ref()
                .map(|o| o.image_name.clone())
                .unwrap_or_default(),
            hypervisor: first.as_ref().and_then(|o| o.hypervisor),
            targets: targets.to_vec(),
            rule: None,
            reason: reason.unwrap_or_else(|| "revoked".into()),
            revocation: Revocation {
                cause: RevocationCause::Revoked,
                ends,
            },
        });
        let decided = format!("revocation without approval: {}", why.join("; "));
        let actor = new.requester.to_string();
        super::name_request(&request.id);
        Ok(Some(self.open_revocation(request, &actor, decided).await?))
    }

    /// Compares NCP's live share list of every image the policy covers with the active grants.
    /// Each finding goes to the log, the ledger (`drift`) and the notifier; with
    /// `revoke_unmanaged` (allowed only by `[lifecycle] allow_revoke_unmanaged`), shares no
    /// grant covers are removed by revocations the worker executes.
    ///
    /// One trace, like a sweep.
    pub async fn reconcile(&self, revoke_unmanaged: bool) -> Result<DriftReport, WorkflowError> {
        let trace = super::trace::current_or_new();
        let span = tracing::info_span!("reconcile", trace_id = %trace);
        let report = super::trace::scope(trace, self.reconcile_in_trace(revoke_unmanaged))
            .instrument(span)
            .await;
        match &report {
            Ok(drift) => {
                metrics::reconcile(RunResult::Ok);
                let count = |kind: fn(&DriftKind) -> bool| {
                    drift.findings.iter().filter(|f| kind(&f.kind)).count() as u64
                };
                metrics::drift_found(
                    metrics::DriftKind::Unmanaged,
                    count(|k| matches!(k, DriftKind::Unmanaged)),
                );
                metrics::drift_found(
                    metrics::DriftKind::MissingOnNcp,
                    count(|k| matches!(k, DriftKind::MissingOnNcp { .. })),
                );
            }
            Err(_) => metrics::reconcile(RunResult::Failed),
        }
        report
    }

    async fn reconcile_in_trace(
        &self,
        revoke_unmanaged: bool,
    ) -> Result<DriftReport, WorkflowError> {
        if revoke_unmanaged && !self.settings.lifecycle.allow_revoke_unmanaged {
            return Err(WorkflowError::Invalid(
                "removing unmanaged shares is not allowed by the configuration: set [lifecycle] allow_revoke_unmanaged = true".into(),
            ));
        }
        let policy = self.policy.current();
        let mut images = self.cloud.images().await?;
        images.sort_by(|a, b| a.no.cmp(&b.no));
        // Targets that requests are changing right now are neither drift nor missing: the
        // worker holds their image and records the grant (or its end) before it finishes.
        let mut busy: HashSet<(ImageNo, String)> = HashSet::new();
        for state in [RequestState::Approved, RequestState::Executing] {
            for r in self.store.requests(Some(state), 10_000).await? {
                for t in &r.targets {
                    busy.insert((r.image_no.clone(), t.as_str().to_string()));
                }
                for t in r.set_diff().1 {
                    busy.insert((r.image_no.clone(), t));
                }
            }
        }
        let mut report = DriftReport::default();
        let mut unmanaged: Vec<(crate::domain::ports::cloud::ImageView, Vec<LoginId>)> = Vec::new();
        for image in &images {
            if !policy.covers_image(&image.no, Some(&image.name)) {
                continue;
            }
            report.images_checked += 1;
            let grants = self.store.active_grants(&image.no).await?;
            let live: HashSet<&str> = image.shared_with.iter().map(String::as_str).collect();
            let mut removable = Vec::new();
            for target in &image.shared_with {
                if busy.contains(&(image.no.clone(), target.clone()))
                    || grants.iter().any(|g| g.target.as_str() == target)
                {
                    continue;
                }
                report.findings.push(DriftFinding {
                    image_no: image.no.clone(),
                    image_name: image.name.clone(),
                    target: target.clone(),
                    kind: DriftKind::Unmanaged,
                });
                match LoginId::parse(target) {
                    Ok(t) => removable.push(t),
                    Err(e) => report.notes.push(format!(
                        "image {}: {target:?} cannot be removed by the service: {e}",
                        image.no
                    )),
                }
            }
            for g in &grants {
                if live.contains(g.target.as_str())
                    || busy.contains(&(image.no.clone(), g.target.as_str().to_string()))
                {
                    continue;
                }
                report.findings.push(DriftFinding {
                    image_no: image.no.clone(),
                    image_name: image.name.clone(),
                    target: g.target.as_str().to_string(),
                    kind: DriftKind::MissingOnNcp {
                        request_id: g.request_id.clone(),
                    },
                });
            }
            if !removable.is_empty() {
                unmanaged.push((image.clone(), removable));
            }
        }
        for f in &report.findings {
            tracing::warn!(image_no = %f.image_no, target = %f.target, "drift: {f}");
            let request_id = match &f.kind {
                DriftKind::MissingOnNcp { request_id } => Some(request_id.to_string()),
                DriftKind::Unmanaged => None,
            };
            self.store
                .append_audit(self.seal(AuditEntry {
                    at: self.clock.now(),
                    event: AuditEvent::Drift,
                    actor: RECONCILER.into(),
                    request_id,
                    fingerprint: None,
                    rule: None,
                    policy_hash: Some(policy.hash().to_string()),
                    detail: f.to_string(),
                    sig: None,
                }))
                .await?;
        }
        if !report.findings.is_empty() {
            self.notifier.drift(&report.findings).await;
            if let Some(channel) = &self.channels.slack_drift_channel
                && self.channels.slack
            {
                let entry = crate::workflow::outbox::OutboxEntry::new(
                    crate::workflow::outbox::Message::SlackDrift {
                        channel: channel.clone(),
                        findings: report.findings.clone(),
                    },
                    self.clock.now(),
                    0,
                    0,
                );
                let id = entry.id.clone();
                crate::workflow::ports::store::enqueue(self.store.as_ref(), vec![entry]).await?;
                self.queue.deliver(&[id]).await;
            }
        }
        if revoke_unmanaged {
            for (image, targets) in unmanaged {
                let request = self.revocation_request(RevocationSpec {
                    id: RequestId::random(),
                    requester: system_identity(RECONCILER),
                    requester_person: None,
                    origin: Origin::Cli,
                    image_no: image.no.clone(),
                    image_name: image.name.clone(),
                    hypervisor: Some(image.hypervisor),
                    targets,
                    rule: None,
                    reason: "shared on NCP without a grant (drift)".into(),
                    revocation: Revocation {
                        cause: RevocationCause::Unmanaged,
                        ends: Vec::new(),
                    },
                });
                let opened = self
                    .open_revocation(
                        request,
                        RECONCILER,
                        "revocation without approval: reconcile --revoke-unmanaged, allowed by [lifecycle] allow_revoke_unmanaged".into(),
                    )
                    .await?;
                report.removals.push(opened.id);
            }
        }
        Ok(report)
    }
}
