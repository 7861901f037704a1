//! `WorksCourier`: delivers the outbox's NAVER WORKS messages (`Message::WorksNotice`,
//! `Message::WorksSay`) through [`WorksApi`], one new message each (nothing can be edited).

use super::api::{WorksApi, WorksError};
use super::render;
use crate::domain::ports::notify::Notice;
use crate::domain::{Approval, NoticeFacts, ShareRequest};
use crate::workflow::outbox::{Courier, Delivery, Message, OutboxEntry, WorksTo};
use crate::workflow::ports::store::Store;
use serde_json::Value;
use std::sync::Arc;

/// Delivers NAVER WORKS messages: the approval message and the room's news, the requester's
/// 1:1 messages, the front door's replies.
#[derive(Clone)]
pub struct WorksCourier {
    api: WorksApi,
    store: Arc<dyn Store>,
}

impl WorksCourier {
    /// A courier sending through `api`, reading a request's approvals from `store`.
    pub fn new(api: WorksApi, store: Arc<dyn Store>) -> Self {
        Self { api, store }
    }

    /// The approvals stored up to `until` (the press the message is about), or all of them.
    async fn approvals(
        &self,
        r: &ShareRequest,
        until: Option<&Approval>,
    ) -> Result<Vec<Approval>, Delivery> {
        match self.store.approvals(&r.id).await {
            Ok(all) => Ok(all
                .into_iter()
                .filter(|a| until.is_none_or(|u| a.at <= u.at))
                .collect()),
            Err(e) => Err(Delivery::Retry {
                after: None,
                error: format!("store: {e}"),
            }),
        }
    }

    async fn content(
        &self,
        to: &WorksTo,
        r: &ShareRequest,
        notice: &Notice,
    ) -> Result<Value, Delivery> {
        // A press's message counts the approvals up to that press; the rest count all.
        let until = match notice {
            Notice::ApprovalAdded(a) => Some(a),
            _ => None,
        };
        let approvals = self.approvals(r, until).await?;
        let facts = NoticeFacts::new(r, &approvals, notice);
        Ok(render::notice_content(
            &facts,
            matches!(to, WorksTo::Channel(_)),
        ))
    }
}

/// What a NAVER WORKS error means for the outbox.
fn delivery(result: Result<(), WorksError>) -> Delivery {
    match result {
        Ok(()) => Delivery::Done,
        Err(e) if e.is_transient() => Delivery::Retry {
            after: None,
            error: e.to_string(),
        },
        Err(e) => Delivery::Failed(e.to_string()),
    }
}

#[async_trait::async_trait]
impl Courier for WorksCourier {
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery {
        let (to, content) = match &entry.message {
            Message::WorksNotice {
                to,
                request,
                notice,
            } => match self.content(to, request, notice).await {
                Ok(c) => (to, c),
                Err(d) => return d,
            },
            Message::WorksSay { to, text } => (to, render::text(text)),
            other => {
                return Delivery::Failed(format!("{} is not a NAVER WORKS message", other.name()));
            }
        };
        let sent = match to {
            WorksTo::User(u) => self.api.send_to_user(u, &content).await,
            WorksTo::Channel(c) => self.api.send_to_channel(c, &content).await,
        };
        delivery(sent)
    }
}
