//! Jira: the REST client ([`JiraApi`]), comment rendering ([`render`]), and the
//! [`JiraNotifier`], which tells the issue a request came from every step of its life as a
//! comment and moves the issue to the configured done or failed status at the end.
//!
//! Like the Slack notifier it never makes the workflow wait: comments go onto a queue that one
//! background task works through in order (each call retried by [`JiraApi`]), so an issue's
//! comments appear in the order the states happened. The HTTP adapter queues its own answers
//! (a refused approval, fields that do not parse) on the same queue with [`JiraNotifier::say`].

mod api;
pub mod render;

pub use api::{JiraApi, JiraError, is_issue_key};

use super::{Notice, Notifier};
use crate::domain::{Origin, ShareRequest};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

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

enum Job {
    Notice(Box<ShareRequest>, Notice),
    Say(String, Vec<String>),
}

/// Posts comments on Jira issues for requests that came from Jira, in the background.
pub struct JiraNotifier {
    queue: mpsc::UnboundedSender<Job>,
    pushed: AtomicU64,
    handled: watch::Receiver<u64>,
}

impl JiraNotifier {
    /// Starts the background task (needs a Tokio runtime).
    pub fn new(api: JiraApi, outcomes: JiraOutcomes) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
        let (done, handled) = watch::channel(0u64);
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let api = api.clone();
                let outcomes = outcomes.clone();
                // A sub-task per job, awaited at once: order is kept, and a panic is logged.
                if let Err(e) =
                    tokio::spawn(async move { handle(&api, &outcomes, job).await }).await
                {
                    tracing::error!(error = %e, "jira notice handler panicked");
                }
                done.send_modify(|n| *n += 1);
            }
        });
        Self {
            queue,
            pushed: AtomicU64::new(0),
            handled,
        }
    }

    fn push(&self, job: Job) {
        self.pushed.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(job).is_err() {
            self.pushed.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("jira notifier is not running");
        }
    }

    /// Queues a comment (one paragraph per entry) on `issue_key`, after every earlier one.
    pub fn say(&self, issue_key: &str, paragraphs: Vec<String>) {
        self.push(Job::Say(issue_key.to_owned(), paragraphs));
    }

    /// Resolves once every job queued before the call has been handled (tests use it).
    pub async fn idle(&self) {
        let target = self.pushed.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

#[async_trait::async_trait]
impl Notifier for JiraNotifier {
    async fn idle(&self) {
        JiraNotifier::idle(self).await;
    }

    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        if matches!(request.origin, Origin::Jira { .. }) {
            self.push(Job::Notice(Box::new(request.clone()), notice.clone()));
        }
    }
}

async fn handle(api: &JiraApi, outcomes: &JiraOutcomes, job: Job) {
    match job {
        Job::Say(key, paragraphs) => {
            if let Err(e) = api.add_comment(&key, render::adf(&paragraphs)).await {
                tracing::warn!(issue = %key, error = %e, "cannot comment on the jira issue");
            }
        }
        Job::Notice(request, notice) => {
            let Origin::Jira { issue_key } = &request.origin else {
                return;
            };
            if let Some(p) = render::notice_comment(&request, &notice, &outcomes.approved_status)
                && let Err(e) = api.add_comment(issue_key, render::adf(&p)).await
            {
                tracing::warn!(request_id = %request.id, issue = %issue_key, notice = notice.name(), error = %e, "cannot comment on the jira issue");
            }
            let transition = match notice {
                Notice::Succeeded => outcomes.done_transition.as_deref(),
                Notice::Failed
                | Notice::Denied(_)
                | Notice::Refused
                | Notice::Expired
                | Notice::Cancelled => outcomes.failed_transition.as_deref(),
                _ => None,
            };
            if let Some(name) = transition
                && let Err(e) = api.transition(issue_key, name).await
            {
                tracing::warn!(request_id = %request.id, issue = %issue_key, error = %e, "cannot move the jira issue");
            }
        }
    }
}
