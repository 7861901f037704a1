//! Submitting a request: look the image up, ask the policy, store, record, tell.

use super::{Record, Workflow, WorkflowError};
use crate::audit::AuditEvent;
use crate::domain::ports::cloud::NcpError;
use crate::domain::ports::notify::Notice;
use crate::domain::request::fingerprint;
use crate::domain::{NewRequest, Outcome, RequestId, RequestState, ShareRequest};
use crate::policy::{Action, Decision, RequestFacts, evaluate};
use crate::workflow::ports::store::{Change, Committed, Conflict, DeliveryKey};

impl Workflow {
    /// Records a new request and the policy's decision on it.
    ///
    /// The result is the stored request: `Pending` (approvals needed), `Approved` (auto-approved,
    /// queued), or `Denied` (its outcome says why). An error means nothing was decided.
    pub async fn submit(&self, new: NewRequest) -> Result<ShareRequest, WorkflowError> {
        self.submit_once(new, None).await
    }

    /// Like [`Workflow::submit`], with the delivery id of the webhook or command that asked
    /// written in the same store transaction as the request: a retried delivery after a
    /// failure (a 503) is processed again, one after a success is [`WorkflowError::Duplicate`].
    pub async fn submit_once(
        &self,
        new: NewRequest,
        delivery: Option<DeliveryKey>,
    ) -> Result<ShareRequest, WorkflowError> {
        let origin = super::metered::origin(&new.origin);
        let submitted = self.submit_unmetered(new, delivery).await;
        if let Ok(request) = &submitted {
            crate::telemetry::metrics::request_submitted(
                origin,
                super::metered::submitted(request),
            );
        }
        submitted
    }

    async fn submit_unmetered(
        &self,
        new: NewRequest,
        delivery: Option<DeliveryKey>,
    ) -> Result<ShareRequest, WorkflowError> {
        let mut targets = new.targets.clone();
        // Keep the order people wrote, drop repeats.
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        if targets.is_empty() {
            return Err(WorkflowError::Invalid("name at least one login ID".into()));
        }
        if targets.len() > self.settings.max_targets {
            return Err(WorkflowError::Invalid(format!(
                "at most {} login IDs per request (got {})",
                self.settings.max_targets,
                targets.len()
            )));
        }
        let reason = new
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from);
        // Whoever asked for a share, or could approve it, may end its grants without approval;
        // everyone else's unshare goes through the policy below.
        if new.action == Action::Unshare
            && let Some(revocation) = self
                .revoke_own_grants(&new, &targets, reason.clone())
                .await?
        {
            return Ok(revocation);
        }
        // A delivery's request has an id derived from the delivery, so that a submission cut
        // off before its answer (and finished later from the outbox) is found again. Named on
        // the delivery's span now: every line of the submission carries it.
        let id = delivery
            .as_ref()
            .map(|d| RequestId::derived(d.key.as_bytes()))
            .unwrap_or_else(RequestId::random);
        super::name_request(&id);
        let now = self.clock.now();
        let policy = self.policy.current();

        // The image's name decides `name:` patterns, and `set` shows the diff against today's list.
        let (image, lookup_refusal) = match self.cloud.image(&new.image_no).await {
            Ok(view) => (Some(view), None),
            Err(NcpError::ImageNotFound(no)) => (
                None,
                Some(format!(
                    "image {no} was not found in the NCP account this service manages"
                )),
            ),
            Err(e) => return Err(e.into()),
        };

        let facts = RequestFacts {
            requester: &new.requester,
            image_no: &new.image_no,
            image_name: image.as_ref().map(|i| i.name.as_str()),
            action: new.action,
            targets: &targets,
            duration: new.duration,
            reason: reason.as_deref(),
        };
        let decision = evaluate(&policy, &facts, now);

        let mut request = ShareRequest {
            id,
            version: 1,
            state: RequestState::Pending,
            origin: new.origin,
            requester: new.requester.clone(),
            requester_person: policy.person_for(&new.requester).cloned(),
            image_no: new.image_no.clone(),
            image_name: image.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
            hypervisor: image.as_ref().map(|i| i.hypervisor),
            region: self.settings.region.clone(),
            action: new.action,
            fingerprint: fingerprint(
                &new.image_no,
                &self.settings.region,
                new.action,
                &targets,
                new.duration,
            ),
            targets,
            duration: new.duration,
            reason,
            shared_with_when_asked: image
                .as_ref()
                .map(|i| i.shared_with.clone())
                .unwrap_or_default(),
            policy_hash: policy.hash().to_string(),
            rule: None,
            approvers: Vec::new(),
            min_approvals: 0,
            allow_self_approval: false,
            approval_channel: None,
            works_channel: None,
            created_at: now,
            updated_at: now,
            expires_at: now,
            attempts: 0,
            outcome: None,
            lifecycle: Default::default(),
            // The delivery's trace: the request's whole life is found by it.
            trace_id: Some(super::trace::current_or_new()),
        };
        // A share of a target that already has an active grant extends it: the approvers see
        // that it is an extension and until when, and the worker adds a grant next to the old one.
        if matches!(request.action, Action::Share | Action::Set) {
            request.lifecycle.extends = self
                .store
                .active_grants(&request.image_no)
                .await?
                .into_iter()
                .filter(|g| g.in_force_at(now) && request.targets.contains(&g.target))
                .collect();
        }
        let mut auto_approve = false;
        let decided_detail = match (&decision, lookup_refusal) {
            (_, Some(why)) => {
                request.state = RequestState::Denied;
                request.outcome = Some(Outcome {
                    message: why.clone(),
                    ..Default::default()
                });
                format!("denied: {why}")
            }
            (Decision::Denied(denied), None) => {
                request.state = RequestState::Denied;
                let mut message = denied.reasons.join(" ");
                if let Some(c) = &denied.closest
                    && !c.failed.is_empty()
                {
                    message.push_str(&format!(
                        " Closest rule {:?}: {}.",
                        c.rule,
                        c.failed.join("; ")
                    ));
                }
                request.outcome = Some(Outcome {
                    message: message.clone(),
                    ..Default::default()
                });
                format!("denied: {message}")
            }
            (Decision::Allowed(allowed), None) => {
                request.rule = Some(allowed.rule.clone());
                request.approvers = allowed.approvers.clone();
                request.min_approvals = allowed.min_approvals;
                request.allow_self_approval = allowed.allow_self_approval;
                request.approval_channel = allowed.approval_channel.clone();
                request.works_channel = allowed.works_channel.clone();
                request.expires_at = allowed.expires_at;
                if allowed.auto_approve {
                    // Stored as pending first: it becomes approved only after the ledger says so.
                    auto_approve = true;
                    format!("allowed by rule {:?}: approved automatically", allowed.rule)
                } else {
                    format!(
                        "allowed by rule {:?}: needs {} of {} approvers ({})",
                        allowed.rule,
                        allowed.min_approvals,
                        allowed.approvers.len(),
                        allowed
                            .approvers
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
        };

        let actor = new.requester.to_string();
        let asked = format!(
            "{} {} image {} ({}) {} {}{}",
            actor,
            request.action,
            request.image_no,
            if request.image_name.is_empty() {
                "?"
            } else {
                &request.image_name
            },
            if request.action == Action::Unshare {
                "from"
            } else {
                "with"
            },
            request
                .targets
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            request
                .duration
                .map(|d| format!(" for {d}"))
                .unwrap_or_default(),
        );
        // The delivery id, the request, its two ledger records and its messages are one write.
        // Ids are random; a collision simply draws another.
        let notice = match request.state {
            RequestState::Denied => Some(Notice::Refused),
            _ if auto_approve => None,
            _ => Some(Notice::Submitted),
        };
        loop {
            let told: Vec<_> = notice
                .iter()
                .map(|n| (request.clone(), n.clone()))
                .collect();
            let outbox = self.outbox_for(&told).await?;
            let change = Change {
                delivery: delivery.clone(),
                insert: Some(request.clone()),
                audit: vec![
                    self.entry(
                        &request,
                        &Record::new(AuditEvent::Requested, &actor, &asked),
                    ),
                    self.entry(
                        &request,
                        &Record::new(AuditEvent::Decided, "system:policy", &decided_detail),
                    ),
                ],
                outbox: outbox.clone(),
                ..Default::default()
            };
            match self.store.commit(change).await? {
                Committed::Done(_) => {
                    self.told(&told, &outbox).await;
                    break;
                }
                Committed::Conflict(Conflict::Delivery) => return Err(WorkflowError::Duplicate),
                Committed::Conflict(_) => {
                    request.id = RequestId::random();
                    super::name_request(&request.id);
                }
            }
        }
        match request.state {
            RequestState::Denied => {}
            _ if auto_approve => {
                // Ledger first, then the transition: an approved request always has its approval
                // on record, even if the process dies in between (it then stays pending).
                // The approval and the state change are one write; if the process dies before
                // it, the request stays pending and expires.
                if let Some(approved) = self
                    .transition(
                        request.clone(),
                        RequestState::Approved,
                        |_| {},
                        Record::new(
                            AuditEvent::Approved,
                            "system:policy",
                            "auto-approved by rule",
                        ),
                        Some(Notice::Approved),
                    )
                    .await?
                {
                    request = approved;
                    self.queue
                        .enqueue(&request.id, request.trace_id.as_ref())
                        .await;
                }
            }
            _ => {}
        }
        Ok(request)
    }
}
