//! What the workflow tells the metrics (`telemetry::metrics`): its outcomes mapped onto the
//! catalogue's closed label sets, and the gauges read from the store.

use super::{ActOutcome, ExecOutcome, Workflow};
use crate::domain::{Origin, RequestState, ShareRequest};
use crate::telemetry::metrics::{self, DecisionOutcome, ExecResult, Submitted};
use crate::workflow::outbox::Peer;
use crate::workflow::ports::store::StoreError;
use chrono::{DateTime, Utc};

impl Workflow {
    /// Reads the outbox and the ledger into the gauges: the entries owed and the age of the
    /// oldest, the ledger's records and the age of its newest checkpoint. Four bounded reads
    /// (a count, an index range, the head, one checkpoint), for `serve`'s scrapes and the
    /// scheduler function.
    pub async fn refresh_gauges(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        let age = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
        let pending = self.store.outbox_pending_count().await?;
        let oldest = self.store.outbox_oldest_pending().await?;
        metrics::outbox(pending, oldest.map(age));
        let records = self.store.audit_head().await?.map_or(0, |(seq, _)| seq);
        let checkpoint = self.store.latest_checkpoint().await?;
        metrics::ledger(records, checkpoint.map(|c| age(c.at)));
        Ok(())
    }
}

/// Where a request came from, as the metrics say it.
pub(crate) fn origin(origin: &Origin) -> metrics::Origin {
    match origin {
        Origin::Cli => metrics::Origin::Cli,
        Origin::Slack { .. } => metrics::Origin::Slack,
        Origin::Jira { .. } => metrics::Origin::Jira,
        Origin::Works { .. } => metrics::Origin::Works,
        Origin::Webhook { .. } => metrics::Origin::Webhook,
    }
}

/// What a submission became.
pub(crate) fn submitted(request: &ShareRequest) -> Submitted {
    match request.state {
        RequestState::Pending => Submitted::Pending,
        RequestState::Denied | RequestState::Expired | RequestState::Cancelled => Submitted::Denied,
        // Approved at once, or already on its way (a revocation of one's own grants).
        _ => Submitted::Approved,
    }
}

/// What came of an approve, deny or cancel.
pub(crate) fn decided(outcome: &ActOutcome) -> DecisionOutcome {
    match outcome {
        ActOutcome::Counted { .. } => DecisionOutcome::Counted,
        ActOutcome::Approved(_) => DecisionOutcome::Approved,
        ActOutcome::AlreadyCounted(_) => DecisionOutcome::AlreadyCounted,
        ActOutcome::Denied(_) => DecisionOutcome::Denied,
        ActOutcome::Cancelled(_) => DecisionOutcome::Cancelled,
        ActOutcome::NotAllowed(_) => DecisionOutcome::NotAllowed,
        ActOutcome::NotPending(_) => DecisionOutcome::NotPending,
        ActOutcome::NotFound => DecisionOutcome::NotFound,
    }
}

/// How an execution attempt ended; `None` for an attempt that did nothing (skipped) or a
/// test's crash point.
pub(crate) fn executed<E>(result: &Result<ExecOutcome, E>) -> Option<ExecResult> {
    match result {
        Ok(ExecOutcome::Finished(RequestState::Succeeded)) => Some(ExecResult::Succeeded),
        Ok(ExecOutcome::Finished(_)) => Some(ExecResult::Failed),
        Ok(ExecOutcome::WillRetry) => Some(ExecResult::Retry),
        Ok(ExecOutcome::Busy) => Some(ExecResult::Busy),
        Ok(ExecOutcome::Skipped(_) | ExecOutcome::Crashed(_)) => None,
        Err(_) => Some(ExecResult::Error),
    }
}

/// The delivery channel of a peer.
pub(crate) fn channel(peer: Peer) -> metrics::Channel {
    match peer {
        Peer::Slack => metrics::Channel::Slack,
        Peer::SlackHome => metrics::Channel::SlackHome,
        Peer::Jira => metrics::Channel::Jira,
        Peer::Webhook => metrics::Channel::Webhook,
        Peer::Works => metrics::Channel::Works,
        Peer::Workflow => metrics::Channel::Workflow,
    }
}
