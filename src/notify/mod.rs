//! The notifiers (adapters of `domain::ports::notify::Notifier`, re-exported here): every state
//! change of a request goes here, and the adapters (Slack, Jira, webhook) render it where the
//! request came from. This module ships the logging notifier, a recording one for tests,
//! [`Fanout`] to run several, and the Slack adapter.

pub mod jira;
pub mod slack;
pub mod webhook;
pub mod works;

// The port lives in the core; re-exported for the old paths.
pub use crate::domain::ports::notify::{GrantsEnded, Notice, Notifier};
use crate::domain::{DriftFinding, ShareRequest};
use std::sync::{Arc, Mutex};

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
