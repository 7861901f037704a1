//! Slack: the Web API client ([`SlackApi`]), Block Kit rendering ([`render`]), the
//! [`SlackNotifier`] that keeps the approval card and the requester up to date, and
//! [`FakeSlack`], a recording stand-in for tests and the local demo.
//!
//! `notify` never waits for Slack: notices go onto a queue that one background task works
//! through in order, so the card of a request is never overwritten by an older state.

mod api;
mod fake;
pub mod render;

pub use api::{MessageRef, SlackApi, SlackError};
pub use fake::{FakeSlack, SlackCall};

use super::{Notice, Notifier};
use crate::domain::{Approval, DriftFinding, ShareRequest};
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

/// The `kind` under which the approval card's `"<channel> <ts>"` is kept in the store.
pub const CARD_REF_KIND: &str = "slack_card";

/// Posts and updates approval cards and tells requesters the outcome, in the background.
pub struct SlackNotifier {
    queue: mpsc::UnboundedSender<(ShareRequest, Notice)>,
    pushed: AtomicU64,
    handled: watch::Receiver<u64>,
    api: SlackApi,
    drift_channel: Option<String>,
}

impl SlackNotifier {
    /// Starts the background task (needs a Tokio runtime); it ends when the notifier is dropped
    /// and every queued notice is handled.
    pub fn new(api: SlackApi, store: Arc<dyn Store>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<(ShareRequest, Notice)>();
        let (done, handled) = watch::channel(0u64);
        let worker = Worker {
            api: api.clone(),
            store,
        };
        tokio::spawn(async move {
            while let Some((request, notice)) = rx.recv().await {
                let id = request.id.clone();
                let name = notice.name();
                let w = worker.clone();
                // A sub-task per notice, awaited at once: order is kept, and a panic in one
                // notice is logged instead of ending the loop.
                if let Err(e) = tokio::spawn(async move { w.handle(&request, &notice).await }).await
                {
                    tracing::error!(request_id = %id, notice = name, error = %e, "slack notice handler panicked");
                }
                done.send_modify(|n| *n += 1);
            }
        });
        Self {
            queue,
            pushed: AtomicU64::new(0),
            handled,
            api,
            drift_channel: None,
        }
    }

    /// Posts drift reports to `channel` (none: drift reports are not posted to Slack).
    pub fn with_drift_channel(mut self, channel: Option<String>) -> Self {
        self.drift_channel = channel;
        self
    }

    /// Resolves once every notice pushed before the call has been handled (tests use it).
    pub async fn idle(&self) {
        let target = self.pushed.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        // An error means the task is gone, so nothing more will be handled.
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

#[async_trait::async_trait]
impl Notifier for SlackNotifier {
    async fn idle(&self) {
        SlackNotifier::idle(self).await;
    }

    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        self.pushed.fetch_add(1, Ordering::SeqCst);
        if self.queue.send((request.clone(), notice.clone())).is_err() {
            // Only possible if the task panicked outside a notice; undo the count so `idle` returns.
            self.pushed.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(request_id = %request.id, notice = notice.name(), "slack notifier is not running");
        }
    }

    /// Drift comes from reconciliation, a batch job, not from a person waiting for an answer,
    /// so the report is posted right away rather than queued behind request notices.
    async fn drift(&self, findings: &[DriftFinding]) {
        let Some(channel) = &self.drift_channel else {
            return;
        };
        let (text, blocks) = render::drift_message(findings);
        if let Err(e) = self
            .api
            .post_message(channel, &text, Some(blocks), None)
            .await
        {
            tracing::warn!(method = "chat.postMessage (drift report)", error = %e, "slack call failed");
        }
    }
}

/// The background task's state.
#[derive(Clone)]
struct Worker {
    api: SlackApi,
    store: Arc<dyn Store>,
}

impl Worker {
    async fn handle(&self, request: &ShareRequest, notice: &Notice) {
        let id = &request.id;
        match notice {
            Notice::Submitted => self.post_card(request).await,
            Notice::ApprovalAdded(_) | Notice::Approved | Notice::Executing => {
                if let Some(card) = self.card_ref(request).await {
                    let approvals = self.approvals(request, None).await;
                    self.update_card(request, &card, &approvals).await;
                }
            }
            Notice::Succeeded
            | Notice::Failed
            | Notice::Denied(_)
            | Notice::Expired
            | Notice::Cancelled => {
                let denial = match notice {
                    Notice::Denied(a) => Some(a),
                    _ => None,
                };
                let card = self.card_ref(request).await;
                if let Some(card) = &card {
                    let approvals = self.approvals(request, denial).await;
                    self.update_card(request, card, &approvals).await;
                }
                let (text, blocks) = render::outcome_message(request);
                if request.requester.system == "slack" {
                    // Posting to a user id lands in the bot's DM with that user.
                    let sent = self
                        .api
                        .post_message(&request.requester.id, &text, Some(blocks.clone()), None)
                        .await;
                    log_failure(id, "chat.postMessage (requester DM)", sent);
                }
                if let Some(card) = &card {
                    let sent = self
                        .api
                        .post_message(&card.channel, &text, Some(blocks), Some(&card.ts))
                        .await;
                    log_failure(id, "chat.postMessage (card thread)", sent);
                }
            }
            // The HTTP reply to the slash command already said why.
            Notice::Refused => {}
            Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => {
                let (text, blocks) = render::lifecycle_message(request, notice);
                if request.requester.system == "slack" {
                    let sent = self
                        .api
                        .post_message(&request.requester.id, &text, Some(blocks.clone()), None)
                        .await;
                    log_failure(id, "chat.postMessage (requester DM)", sent);
                }
                if let Some(card) = self.card_ref(request).await {
                    let sent = self
                        .api
                        .post_message(&card.channel, &text, Some(blocks), Some(&card.ts))
                        .await;
                    log_failure(id, "chat.postMessage (card thread)", sent);
                }
            }
        }
    }

    async fn post_card(&self, request: &ShareRequest) {
        let Some(channel) = &request.approval_channel else {
            return;
        };
        let approvals = self.approvals(request, None).await;
        let (text, blocks) = render::card(request, &approvals);
        match self
            .api
            .post_message(channel, &text, Some(blocks), None)
            .await
        {
            Ok(posted) => {
                if let Err(e) = self
                    .store
                    .save_message_ref(&request.id, CARD_REF_KIND, &posted.to_stored())
                    .await
                {
                    tracing::error!(request_id = %request.id, error = %e, "cannot save the slack card reference; later updates of the card are lost");
                }
            }
            Err(e) => {
                tracing::warn!(request_id = %request.id, method = "chat.postMessage", error = %e, "cannot post the slack approval card")
            }
        }
    }

    async fn update_card(&self, request: &ShareRequest, card: &MessageRef, approvals: &[Approval]) {
        let (text, blocks) = render::card(request, approvals);
        let sent = self
            .api
            .update(&card.channel, &card.ts, &text, Some(blocks))
            .await;
        log_failure(&request.id, "chat.update", sent);
    }

    async fn card_ref(&self, request: &ShareRequest) -> Option<MessageRef> {
        match self.store.message_ref(&request.id, CARD_REF_KIND).await {
            Ok(Some(s)) => {
                let parsed = MessageRef::from_stored(&s);
                if parsed.is_none() {
                    tracing::warn!(request_id = %request.id, "stored slack card reference is malformed");
                }
                parsed
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(request_id = %request.id, error = %e, "cannot read the slack card reference");
                None
            }
        }
    }

    /// The stored approvals, plus the denial of a `Denied` notice when the store kept an
    /// earlier approval by the same person instead (approve, then deny).
    async fn approvals(&self, request: &ShareRequest, denial: Option<&Approval>) -> Vec<Approval> {
        let mut approvals = match self.store.approvals(&request.id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(request_id = %request.id, error = %e, "cannot read approvals for the slack card");
                Vec::new()
            }
        };
        if let Some(d) = denial
            && !approvals.iter().any(|a| !a.approve && a.person == d.person)
        {
            approvals.push(d.clone());
        }
        approvals
    }
}

fn log_failure<T>(id: &crate::domain::RequestId, method: &str, result: Result<T, SlackError>) {
    if let Err(e) = result {
        tracing::warn!(request_id = %id, method, error = %e, "slack call failed");
    }
}
