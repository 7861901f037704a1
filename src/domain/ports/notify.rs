//! The `Notifier` port: every state change of a request goes here, and the adapters (Slack,
//! Jira, webhook, in `crate::notify`) render it where the request came from.

use crate::domain::{Approval, DriftFinding, LoginId, RequestId, RevocationCause, ShareRequest};
use chrono::{DateTime, Utc};

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
