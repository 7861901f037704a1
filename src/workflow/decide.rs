//! Approvals, denials and cancellations: counted per distinct person, by compare-and-swap.

use super::{Record, Workflow, WorkflowError};
use crate::audit::AuditEvent;
use crate::domain::ports::notify::Notice;
use crate::domain::{Approval, Outcome, RequestId, RequestState, ShareRequest};
use crate::policy::{Allowed, Identity, PersonName, may_approve};
use crate::workflow::ports::store::{Change, Committed, StoreError};

/// What an approve, deny or cancel did, for the adapter to tell the person who clicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActOutcome {
    /// The approval counted; `remaining` more are needed.
    Counted {
        /// The request after the approval.
        request: Box<ShareRequest>,
        /// Approvals still missing.
        remaining: u32,
    },
    /// This approval completed the request: it is approved and queued.
    Approved(Box<ShareRequest>),
    /// This person had already approved; nothing changed.
    AlreadyCounted(Box<ShareRequest>),
    /// The request is denied (by this action).
    Denied(Box<ShareRequest>),
    /// The request is cancelled (by this action).
    Cancelled(Box<ShareRequest>),
    /// This person may not do this; the text says why. Nothing changed.
    NotAllowed(String),
    /// The request is no longer pending; nothing changed.
    NotPending(Box<ShareRequest>),
    /// No request has this id.
    NotFound,
}

/// The policy's view of a stored request, so that `may_approve` judges it as decided.
fn allowed_of(request: &ShareRequest) -> Option<Allowed> {
    Some(Allowed {
        rule: request.rule.clone()?,
        approvers: request.approvers.clone(),
        min_approvals: request.min_approvals,
        auto_approve: false,
        allow_self_approval: request.allow_self_approval,
        request_ttl: crate::domain::ShareDuration::from_secs(
            (request.expires_at - request.created_at)
                .num_seconds()
                .max(1) as u64,
        )
        .ok()?,
        expires_at: request.expires_at,
        approval_channel: request.approval_channel.clone(),
        works_channel: request.works_channel.clone(),
        requester: request.requester_person.clone()?,
    })
}

impl Workflow {
    /// Loads a pending request, expiring it first if its time has passed.
    async fn pending(
        &self,
        id: &RequestId,
    ) -> Result<Result<ShareRequest, ActOutcome>, WorkflowError> {
        let Some(request) = self.store.request(id).await? else {
            return Ok(Err(ActOutcome::NotFound));
        };
        // From here on the delivery works in the request's trace.
        super::trace::follow(&request);
        if request.state == RequestState::Pending && request.expires_at <= self.clock.now() {
            let expired = self.expire(request.clone()).await?;
            let now = match expired {
                Some(r) => r,
                None => self.store.request(id).await?.unwrap_or(request),
            };
            return Ok(Err(ActOutcome::NotPending(Box::new(now))));
        }
        if request.state != RequestState::Pending {
            return Ok(Err(ActOutcome::NotPending(Box::new(request))));
        }
        Ok(Ok(request))
    }

    /// The answer when a transition lost its race: the request is no longer pending, and this
    /// says what it is now.
    async fn moved_on(&self, id: &RequestId) -> Result<ActOutcome, WorkflowError> {
        let now = self.store.request(id).await?.ok_or_else(|| {
            // Requests are never deleted: one that is gone is the store's failure, not the caller's.
            WorkflowError::Store(StoreError::Failed(format!(
                "request {id} vanished from the store"
            )))
        })?;
        Ok(ActOutcome::NotPending(Box::new(now)))
    }

    /// Checks that `actor` may approve or deny `request`, naming the person they count as.
    fn approver_of(&self, request: &ShareRequest, actor: &Identity) -> Result<PersonName, String> {
        let Some(allowed) = allowed_of(request) else {
            return Err("this request has no approvers".into());
        };
        may_approve(&self.policy.current(), &allowed, actor)
    }

    /// Records `actor`'s approval; approves the request when enough distinct people have.
    pub async fn approve(
        &self,
        id: &RequestId,
        actor: &Identity,
    ) -> Result<ActOutcome, WorkflowError> {
        let outcome = self.approve_unmetered(id, actor).await;
        if let Ok(o) = &outcome {
            crate::telemetry::metrics::decision(
                crate::telemetry::metrics::DecisionAction::Approve,
                super::metered::decided(o),
            );
        }
        outcome
    }

    async fn approve_unmetered(
        &self,
        id: &RequestId,
        actor: &Identity,
    ) -> Result<ActOutcome, WorkflowError> {
        super::name_request(id);
        let request = match self.pending(id).await? {
            Ok(r) => r,
            Err(outcome) => return Ok(outcome),
        };
        let person = match self.approver_of(&request, actor) {
            Ok(p) => p,
            Err(why) => return Ok(ActOutcome::NotAllowed(why)),
        };
        let approval = Approval {
            request_id: request.id.clone(),
            person: person.clone(),
            identity: actor.clone(),
            approve: true,
            at: self.clock.now(),
            comment: None,
        };
        // The approval, its ledger record and (when more are needed) the card update are one
        // write; whether more are needed is known only with this approval counted.
        let approvals = self.store.approvals(&request.id).await?;
        let already = approvals.iter().any(|a| a.person == approval.person);
        let count_with = |extra: Option<&Approval>| {
            approvals
                .iter()
                .chain(extra)
                .filter(|a| a.approve && request.approvers.contains(&a.person))
                .count() as u32
        };
        let first_click = if already {
            false
        } else {
            let count = count_with(Some(&approval));
            let told = if count < request.min_approvals {
                vec![(request.clone(), Notice::ApprovalAdded(approval.clone()))]
            } else {
                Vec::new()
            };
            let outbox = self.outbox_for(&told).await?;
            let committed = self
                .store
                .commit(Change {
                    approval: Some(approval.clone()),
                    audit: vec![self.entry(
                        &request,
                        &Record::new(
                            AuditEvent::Approved,
                            actor.to_string(),
                            format!("approved by {person}"),
                        ),
                    )],
                    outbox: outbox.clone(),
                    ..Default::default()
                })
                .await?;
            match committed {
                Committed::Done(_) => {
                    self.told(&told, &outbox).await;
                    true
                }
                Committed::Conflict(_) => false,
            }
        };

        let approvals = self.store.approvals(&request.id).await?;
        let count = approvals
            .iter()
            .filter(|a| a.approve && request.approvers.contains(&a.person))
            .count() as u32;
        if count < request.min_approvals {
            if !first_click {
                return Ok(ActOutcome::AlreadyCounted(Box::new(request)));
            }
            let remaining = request.min_approvals - count;
            return Ok(ActOutcome::Counted {
                request: Box::new(request),
                remaining,
            });
        }
        // Enough approvals (also when a repeated click finds a count that a process which died
        // before the transition had completed). The decision and the state change are one write.
        let detail = format!("approved: {count} of {} approvals", request.min_approvals);
        match self
            .transition(
                request,
                RequestState::Approved,
                |_| {},
                Record::new(AuditEvent::Decided, "system:workflow", detail),
                Some(Notice::Approved),
            )
            .await?
        {
            Some(approved) => {
                self.queue
                    .enqueue(&approved.id, approved.trace_id.as_ref())
                    .await;
                Ok(ActOutcome::Approved(Box::new(approved)))
            }
            // Another approval completed it at the same moment, or it was denied meanwhile.
            None => self.moved_on(id).await,
        }
    }

    /// Denies the request on behalf of an approver.
    pub async fn deny(
        &self,
        id: &RequestId,
        actor: &Identity,
        reason: Option<String>,
    ) -> Result<ActOutcome, WorkflowError> {
        let outcome = self.deny_unmetered(id, actor, reason).await;
        if let Ok(o) = &outcome {
            crate::telemetry::metrics::decision(
                crate::telemetry::metrics::DecisionAction::Deny,
                super::metered::decided(o),
            );
        }
        outcome
    }

    async fn deny_unmetered(
        &self,
        id: &RequestId,
        actor: &Identity,
        reason: Option<String>,
    ) -> Result<ActOutcome, WorkflowError> {
        super::name_request(id);
        let request = match self.pending(id).await? {
            Ok(r) => r,
            Err(outcome) => return Ok(outcome),
        };
        let person = match self.approver_of(&request, actor) {
            Ok(p) => p,
            Err(why) => return Ok(ActOutcome::NotAllowed(why)),
        };
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let approval = Approval {
            request_id: request.id.clone(),
            person: person.clone(),
            identity: actor.clone(),
            approve: false,
            at: self.clock.now(),
            comment: reason.clone(),
        };
        let message = match &reason {
            Some(r) => format!("denied by {person}: {r}"),
            None => format!("denied by {person}"),
        };
        // The outcome is shown on every front door: the approver's words in it are quoted and
        // inert (one line, no mention or link), like every word a person typed. The ledger keeps
        // them as given.
        let outcome_message = match &reason {
            Some(r) => format!(
                "denied by {person}: “{}”",
                crate::domain::inert(r, crate::domain::notice::MAX_QUOTED_CHARS)
            ),
            None => message.clone(),
        };
        let Some(denied) = self
            .transition(
                request,
                RequestState::Denied,
                move |r| {
                    r.outcome = Some(Outcome {
                        message: outcome_message.clone(),
                        ..Default::default()
                    });
                },
                Record::new(AuditEvent::Denied, actor.to_string(), message),
                Some(Notice::Denied(approval.clone())),
            )
            .await?
        else {
            return self.moved_on(id).await;
        };
        // An approval row by the same person (approve then deny) is kept; the denial is the ledger's.
        let _ = self.store.insert_approval(&approval).await?;
        Ok(ActOutcome::Denied(Box::new(denied)))
    }

    /// Withdraws a pending request; only the person who asked may.
    pub async fn cancel(
        &self,
        id: &RequestId,
        actor: &Identity,
    ) -> Result<ActOutcome, WorkflowError> {
        let outcome = self.cancel_unmetered(id, actor).await;
        if let Ok(o) = &outcome {
            crate::telemetry::metrics::decision(
                crate::telemetry::metrics::DecisionAction::Cancel,
                super::metered::decided(o),
            );
        }
        outcome
    }

    async fn cancel_unmetered(
        &self,
        id: &RequestId,
        actor: &Identity,
    ) -> Result<ActOutcome, WorkflowError> {
        super::name_request(id);
        let request = match self.pending(id).await? {
            Ok(r) => r,
            Err(outcome) => return Ok(outcome),
        };
        let policy = self.policy.current();
        let same_person = match (&request.requester_person, policy.person_for(actor)) {
            (Some(a), Some(b)) => a == b,
            _ => request.requester == *actor,
        };
        if !same_person {
            return Ok(ActOutcome::NotAllowed(
                "only the person who asked can cancel a request".into(),
            ));
        }
        let Some(cancelled) = self
            .transition(
                request,
                RequestState::Cancelled,
                |r| {
                    r.outcome = Some(Outcome {
                        message: "cancelled by the requester".into(),
                        ..Default::default()
                    });
                },
                Record::new(
                    AuditEvent::Cancelled,
                    actor.to_string(),
                    "cancelled by the requester",
                ),
                Some(Notice::Cancelled),
            )
            .await?
        else {
            return self.moved_on(id).await;
        };
        Ok(ActOutcome::Cancelled(Box::new(cancelled)))
    }
}
