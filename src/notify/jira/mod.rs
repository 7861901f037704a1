//! Jira: the REST client ([`JiraApi`]), comment rendering ([`render`]), and the
//! [`JiraCourier`], which tells the issue a request came from every step of its life as a
//! comment and moves the issue to the configured done or failed status at the end.
//!
//! The comments are outbox entries (a lane per issue, so they appear in the order the states
//! happened); the HTTP adapter writes its own answers (a refused approval, fields that do not
//! parse) as outbox entries too.

mod api;
pub mod render;

pub use api::{COMMENT_PROPERTY, JiraApi, JiraError, is_issue_key};

use super::Notice;
use crate::domain::{NoticeFacts, Origin};
use crate::workflow::outbox::{Courier, Delivery, Message, OutboxEntry};
use crate::workflow::ports::store::Store;
use std::sync::Arc;

/// Where results go and which transitions to take.
#[derive(Debug, Clone, Default)]
pub struct JiraOutcomes {
    /// The status whose transition approves (named in the instructions comment).
    pub approved_status: String,
    /// Transition after a success.
    pub done_transition: Option<String>,
    /// Transition after a failure, denial, refusal, expiry or cancellation.
    pub failed_transition: Option<String>,
}

/// Delivers the outbox's Jira messages: a comment per state change of a Jira request (and the
/// done or failed transition at the end), and the front door's own answers.
///
/// Every comment carries its outbox id as a comment property, and every attempt looks for it
/// first (one `GET` of the issue's latest comments), so a retry after a lost answer or a crash
/// never comments twice.
#[derive(Clone)]
pub struct JiraCourier {
    api: JiraApi,
    outcomes: JiraOutcomes,
    store: Arc<dyn Store>,
}

impl JiraCourier {
    /// A courier commenting through `api`, reading a request's approvals from `store` (a
    /// comment states the approvals so far by the policy's names, as every front door does).
    pub fn new(api: JiraApi, outcomes: JiraOutcomes, store: Arc<dyn Store>) -> Self {
        Self {
            api,
            outcomes,
            store,
        }
    }

    async fn comment(
        &self,
        entry: &OutboxEntry,
        key: &str,
        body: serde_json::Value,
    ) -> Result<(), JiraError> {
        // Always looked for, not only on a retry: a process killed after Jira took the comment
        // but before the delivery was recorded retries with no attempt on record.
        if self.api.has_marked_comment(key, &entry.id).await? {
            return Ok(());
        }
        self.api.add_marked_comment(key, body, &entry.id).await
    }
}

fn delivery(result: Result<(), JiraError>) -> Delivery {
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
impl Courier for JiraCourier {
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery {
        match &entry.message {
            Message::JiraSay {
                issue_key,
                paragraphs,
            } => delivery(
                self.comment(entry, issue_key, render::adf(paragraphs))
                    .await,
            ),
            Message::JiraNotice { request, notice } => {
                let Origin::Jira { issue_key } = &request.origin else {
                    return Delivery::Failed("the request did not come from Jira".into());
                };
                // The approvals up to this notice's (a later one must not show in an earlier
                // comment: the lane delivers them in order, each with its own count).
                let until = match notice {
                    Notice::ApprovalAdded(a) => Some(a.at),
                    _ => None,
                };
                let approvals = match self.store.approvals(&request.id).await {
                    Ok(all) => all
                        .into_iter()
                        .filter(|a| until.is_none_or(|u| a.at <= u))
                        .collect::<Vec<_>>(),
                    Err(e) => {
                        return Delivery::Retry {
                            after: None,
                            error: format!("store: {e}"),
                        };
                    }
                };
                let facts = NoticeFacts::new(request, &approvals, notice);
                if let Some(blocks) = render::notice_comment(&facts, &self.outcomes.approved_status)
                    && let Err(e) = self
                        .comment(entry, issue_key, render::adf_blocks(&blocks))
                        .await
                {
                    return delivery(Err(e));
                }
                let transition = match notice {
                    Notice::Succeeded => self.outcomes.done_transition.as_deref(),
                    Notice::Failed
                    | Notice::Denied(_)
                    | Notice::Refused
                    | Notice::Expired
                    | Notice::Cancelled => self.outcomes.failed_transition.as_deref(),
                    _ => None,
                };
                match transition {
                    Some(name) => match self.api.transition(issue_key, name).await {
                        Ok(()) => Delivery::Done,
                        // The comment is there either way; a transition that cannot be made is
                        // logged, and a transient failure retried (the comment is not repeated).
                        Err(e) if e.is_transient() => delivery(Err(e)),
                        Err(e) => {
                            tracing::warn!(request_id = %request.id, issue = %issue_key, error = %e, "cannot move the jira issue");
                            Delivery::Done
                        }
                    },
                    None => Delivery::Done,
                }
            }
            other => Delivery::Failed(format!("{} is not a Jira message", other.name())),
        }
    }
}
