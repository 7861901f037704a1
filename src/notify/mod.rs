//! The `Notifier` port: every state change of a request goes here, and the adapters (Slack,
//! Jira, webhook) render it where the request came from. This module ships the logging
//! notifier, a recording one for tests, [`Fanout`] to run several, and the Slack adapter.

pub mod jira;
pub mod slack;
pub mod webhook;

use crate::domain::{Approval, DriftFinding, LoginId, RequestId, RevocationCause, ShareRequest};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// What just happened to a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A request was made and is waiting for approvals (the approval card goes out).
    Submitted,
    /// The policy refused the request.
    Refused,
    /// One more approval came in; the request still waits for more.
    ApprovalAdded(Approval),
    /// Enough approvals: it is queued for the worker.
    Approved,
    /// An approver said no.
    Denied(Approval),
    /// Nobody approved in time.
    Expired,
    /// The requester withdrew it.
    Cancelled,
    /// The worker is changing NCP.
    Executing,
    /// Shared (or unshared) and read back.
    Succeeded,
    /// The change could not be made.
    Failed,
    /// A time-boxed share of this request ends soon (told once, `[lifecycle] remind_before`
    /// ahead); `targets` are the ones no later grant keeps.
    ShareEndingSoon {
        /// When the grants end.
        ends_at: DateTime<Utc>,
        /// The accounts that lose access then.
        targets: Vec<LoginId>,
    },
    /// Grants of this request ended (its time ran out, or someone revoked it).
    ShareEnded(GrantsEnded),
}

/// What ending a request's grants did, for [`Notice::ShareEnded`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantsEnded {
    /// The revocation (or unshare) request that ended them.
    pub by_request: RequestId,
    /// Who ended them (`system:scheduler`, or the person who revoked).
    pub actor: String,
    /// Why; `None` for an unshare approved through the policy.
    pub cause: Option<RevocationCause>,
    /// Targets taken off the image.
    pub removed: Vec<LoginId>,
    /// Targets that stay shared because another active grant covers them.
    pub kept: Vec<LoginId>,
}

impl Notice {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Notice::Submitted => "submitted",
            Notice::Refused => "refused",
            Notice::ApprovalAdded(_) => "approval_added",
            Notice::Approved => "approved",
            Notice::Denied(_) => "denied",
            Notice::Expired => "expired",
            Notice::Cancelled => "cancelled",
            Notice::Executing => "executing",
            Notice::Succeeded => "succeeded",
            Notice::Failed => "failed",
            Notice::ShareEndingSoon { .. } => "share_ending_soon",
            Notice::ShareEnded(_) => "share_ended",
        }
    }
}

/// Receives every state change. Failures to deliver are the notifier's to retry and log: the
/// workflow never fails, or waits, because a chat message could not be posted.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Tells the people concerned that `notice` happened to `request` (as stored after it).
    async fn notify(&self, request: &ShareRequest, notice: &Notice);

    /// Tells the people who watch for drift what reconciliation found (not called when it found
    /// nothing). The default ignores it, so a notifier that has no place for it needs no code.
    async fn drift(&self, _findings: &[DriftFinding]) {}

    /// Resolves when everything told so far has been delivered (or given up on); notifiers that
    /// post in the background override it so that a short-lived command can wait before it exits.
    async fn idle(&self) {}
}

/// Writes each state change as one log line.
pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        tracing::info!(
            request_id = %request.id,
            image_no = %request.image_no,
            state = %request.state,
            notice = notice.name(),
            outcome = request.outcome.as_ref().map(|o| o.message.as_str()).unwrap_or(""),
            "request {}",
            notice.name()
        );
    }

    async fn drift(&self, findings: &[DriftFinding]) {
        for f in findings {
            tracing::warn!(image_no = %f.image_no, target = %f.target, "drift: {f}");
        }
    }
}

/// Tells every notifier in turn (like `LogNotifier` and `SlackNotifier`); each returns at once
/// by the trait's contract, so one slow peer never holds up the others.
pub struct Fanout(pub Vec<Arc<dyn Notifier>>);

#[async_trait::async_trait]
impl Notifier for Fanout {
    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        for notifier in &self.0 {
            notifier.notify(request, notice).await;
        }
    }

    async fn drift(&self, findings: &[DriftFinding]) {
        for notifier in &self.0 {
            notifier.drift(findings).await;
        }
    }

    async fn idle(&self) {
        for notifier in &self.0 {
            notifier.idle().await;
        }
    }
}

/// Keeps every notice, for tests.
#[derive(Default)]
pub struct RecordingNotifier(
    Mutex<Vec<(ShareRequest, Notice)>>,
    Mutex<Vec<Vec<DriftFinding>>>,
);

impl RecordingNotifier {
    /// Every notice so far, in order.
    pub fn notices(&self) -> Vec<(ShareRequest, Notice)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The names of the notices of one request, in order.
    pub fn names_for(&self, id: &crate::domain::RequestId) -> Vec<&'static str> {
        self.notices()
            .iter()
            .filter(|(r, _)| &r.id == id)
            .map(|(_, n)| n.name())
            .collect()
    }

    /// Every drift report so far, in order.
    pub fn drift_reports(&self) -> Vec<Vec<DriftFinding>> {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait::async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((request.clone(), notice.clone()));
    }

    async fn drift(&self, findings: &[DriftFinding]) {
        self.1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(findings.to_vec());
    }
}
