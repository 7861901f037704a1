//! Slack: the Web API client ([`SlackApi`]), Block Kit rendering ([`render`]), the
//! [`SlackCourier`] that delivers the outbox's Slack messages (the approval card, kept up to
//! date in place, the requester's direct message, thread replies), and [`FakeSlack`], a
//! recording stand-in for tests and the local demo. [`views`] renders the request and extend
//! forms, the App Home tab and the answers to the form's options and submissions.
//!
//! Nothing here runs in the background: the workflow writes outbox entries with each state
//! change, and the dispatcher hands them to the courier, a lane per channel, in order.

mod api;
mod fake;
pub mod render;
pub mod views;

pub use api::{MessageRef, SlackApi, SlackError};
pub use fake::{FakeSlack, SlackCall};

use super::Notice;
use crate::domain::{Approval, NoticeFacts, ShareRequest};
use crate::workflow::outbox::{Courier, Delivery, Message, OutboxEntry};
use crate::workflow::ports::store::Store;
use std::sync::Arc;

/// The `kind` under which the approval card's `"<channel> <ts>"` is kept in the store.
pub const CARD_REF_KIND: &str = "slack_card";
/// The `kind` under which the outbox order of the card's latest state is kept, so that a late,
/// older update never overwrites a newer card.
pub const CARD_ORDER_KIND: &str = "slack_card_order";

/// Delivers the Slack messages of the outbox: approval cards (posted once, then updated in
/// place), direct messages, thread replies under the card, drift reports, `response_url` replies.
#[derive(Clone)]
pub struct SlackCourier {
    api: SlackApi,
    store: Arc<dyn Store>,
    response_url_hosts: Vec<String>,
}

impl SlackCourier {
    /// A courier posting through `api`, keeping card references in `store`.
    pub fn new(api: SlackApi, store: Arc<dyn Store>) -> Self {
        Self {
            api,
            store,
            response_url_hosts: vec!["hooks.slack.com".into()],
        }
    }

    /// Hosts a `response_url` may point at (checked again before every reply).
    pub fn with_response_url_hosts(mut self, hosts: Vec<String>) -> Self {
        self.response_url_hosts = hosts;
        self
    }
}

/// What a Slack error means for the outbox.
pub fn delivery(result: Result<(), SlackError>) -> Delivery {
    match result {
        Ok(()) => Delivery::Done,
        Err(e @ SlackError::RateLimited { .. }) => Delivery::Retry {
            after: None,
            error: e.to_string(),
        },
        Err(e) if e.is_transient() => Delivery::Retry {
            after: None,
            error: e.to_string(),
        },
        Err(e) => Delivery::Failed(e.to_string()),
    }
}

fn store_retry(e: impl std::fmt::Display) -> Delivery {
    Delivery::Retry {
        after: None,
        error: format!("store: {e}"),
    }
}

#[async_trait::async_trait]
impl Courier for SlackCourier {
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery {
        match &entry.message {
            Message::SlackCard {
                request,
                post,
                denial,
            } => self.card(entry, request, *post, denial.as_ref()).await,
            Message::SlackNotice {
                to,
                in_card_thread,
                request,
                notice,
            } => {
                let approvals = match self.store.approvals(&request.id).await {
                    Ok(a) => a,
                    Err(e) => return store_retry(e),
                };
                let facts = NoticeFacts::new(request, &approvals, notice);
                let (text, blocks) = match notice {
                    Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => {
                        render::lifecycle_message(&facts)
                    }
                    _ => render::outcome_message(&facts),
                };
                let thread = if *in_card_thread {
                    match self.card_ref(&request.id).await {
                        Ok(Some(card)) => Some(card),
                        // No card was ever posted (it failed for good): no thread to reply in.
                        Ok(None) => return Delivery::Done,
                        Err(e) => return store_retry(e),
                    }
                } else {
                    None
                };
                let (channel, ts) = match &thread {
                    Some(card) => (card.channel.as_str(), Some(card.ts.as_str())),
                    None => (to.as_str(), None),
                };
                delivery(
                    self.api
                        .post_message(channel, &text, Some(blocks), ts)
                        .await
                        .map(drop),
                )
            }
            Message::SlackDrift { channel, findings } => {
                let (text, blocks) = render::drift_message(findings);
                delivery(
                    self.api
                        .post_message(channel, &text, Some(blocks), None)
                        .await
                        .map(drop),
                )
            }
            Message::SlackCheckpoint {
                channel,
                size,
                note,
            } => {
                // The note verbatim: anyone can copy it from the channel and check it with
                // `audit verify --checkpoint`.
                let text = format!(
                    "Audit ledger checkpoint: {size} records. Keep it; `audit verify --checkpoint` checks the ledger against it.\n```\n{note}```"
                );
                delivery(
                    self.api
                        .post_message(channel, &text, None, None)
                        .await
                        .map(drop),
                )
            }
            Message::SlackResponse { url, body } => {
                if !allowed_url(url, &self.response_url_hosts) {
                    return Delivery::Failed("response_url on a host that is not allowed".into());
                }
                delivery(self.api.respond(url, body).await)
            }
            Message::SlackDm { user, text, blocks } => delivery(
                self.api
                    .post_message(
                        user,
                        text,
                        (!blocks.is_null()).then(|| blocks.clone()),
                        None,
                    )
                    .await
                    .map(drop),
            ),
            other => Delivery::Failed(format!("{} is not a Slack message", other.name())),
        }
    }
}

/// Whether a `response_url` is https on an allowed host (http only to loopback, for tests).
pub fn allowed_url(url: &str, hosts: &[String]) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let local = matches!(host, "127.0.0.1" | "localhost");
    (u.scheme() == "https" || (u.scheme() == "http" && local))
        && hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
}

impl SlackCourier {
    /// Posts the card (when allowed and none exists) or updates it, unless a newer state of it
    /// was already sent.
    async fn card(
        &self,
        entry: &OutboxEntry,
        request: &ShareRequest,
        post: bool,
        denial: Option<&Approval>,
    ) -> Delivery {
        let Some(channel) = &request.approval_channel else {
            return Delivery::Done;
        };
        let card = match self.card_ref(&request.id).await {
            Ok(card) => card,
            Err(e) => return store_retry(e),
        };
        let approvals = match self.approvals(request, denial).await {
            Ok(a) => a,
            Err(e) => return store_retry(e),
        };
        let (text, blocks) = render::card(&NoticeFacts::of_state(request, &approvals));
        match card {
            None if post => {
                match self
                    .api
                    .post_message(channel, &text, Some(blocks), None)
                    .await
                {
                    Ok(posted) => {
                        // Slack has no idempotency key for a post: if the reference is lost
                        // here, a retry would post a second card. So the post counts as done,
                        // and the failure is logged (later updates of this card are then lost).
                        if let Err(e) = self.remember(request, &posted, entry).await {
                            tracing::error!(request_id = %request.id, error = %e, "cannot save the slack card reference; later updates of the card are lost");
                        }
                        Delivery::Done
                    }
                    Err(e) => delivery(Err(e)),
                }
            }
            // Nothing to update: the card was never posted (it failed for good).
            None => Delivery::Done,
            Some(card) => {
                match self.store.message_ref(&request.id, CARD_ORDER_KIND).await {
                    Ok(Some(sent)) if sent.as_str() > entry.order.as_str() => {
                        // A newer state is on the card already: an older one never overwrites it.
                        return Delivery::Done;
                    }
                    Ok(_) => {}
                    Err(e) => return store_retry(e),
                }
                let sent = self
                    .api
                    .update(&card.channel, &card.ts, &text, Some(blocks))
                    .await
                    .map(drop);
                if sent.is_ok()
                    && let Err(e) = self
                        .store
                        .save_message_ref(&request.id, CARD_ORDER_KIND, &entry.order)
                        .await
                {
                    tracing::warn!(request_id = %request.id, error = %e, "cannot save the slack card's order");
                }
                delivery(sent)
            }
        }
    }

    async fn remember(
        &self,
        request: &ShareRequest,
        posted: &MessageRef,
        entry: &OutboxEntry,
    ) -> Result<(), crate::workflow::ports::store::StoreError> {
        self.store
            .save_message_ref(&request.id, CARD_REF_KIND, &posted.to_stored())
            .await?;
        self.store
            .save_message_ref(&request.id, CARD_ORDER_KIND, &entry.order)
            .await
    }

    async fn card_ref(
        &self,
        id: &crate::domain::RequestId,
    ) -> Result<Option<MessageRef>, crate::workflow::ports::store::StoreError> {
        Ok(match self.store.message_ref(id, CARD_REF_KIND).await? {
            Some(s) => {
                let parsed = MessageRef::from_stored(&s);
                if parsed.is_none() {
                    tracing::warn!(request_id = %id, "stored slack card reference is malformed");
                }
                parsed
            }
            None => None,
        })
    }

    /// The stored approvals, plus the denial of a `Denied` notice when the store kept an
    /// earlier approval by the same person instead (approve, then deny).
    async fn approvals(
        &self,
        request: &ShareRequest,
        denial: Option<&Approval>,
    ) -> Result<Vec<Approval>, crate::workflow::ports::store::StoreError> {
        let mut approvals = self.store.approvals(&request.id).await?;
        if let Some(d) = denial
            && !approvals.iter().any(|a| !a.approve && a.person == d.person)
        {
            approvals.push(d.clone());
        }
        Ok(approvals)
    }
}
