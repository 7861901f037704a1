//! The trace the current task works in ([`crate::domain::trace`]): set by whoever starts work
//! (the HTTP front for a delivery, the scheduler for a sweep) with [`scope`], read where work
//! is handed on (a new request, an outbox entry, a queue message) with [`current`], and switched
//! with [`follow`] once a delivery knows which share request it is about, so that everything it
//! does from then on is in that request's trace.
//!
//! A task-local, not a span field, because `tracing` spans cannot be read back; the spans carry
//! the same id as their `trace_id` field for the log lines.

use crate::domain::{ShareRequest, TraceId};
use std::cell::RefCell;

tokio::task_local! {
    static CURRENT: RefCell<TraceId>;
}

/// Runs `work` in `trace` (the current trace inside it, until [`follow`] switches it).
pub async fn scope<F: std::future::Future>(trace: TraceId, work: F) -> F::Output {
    CURRENT.scope(RefCell::new(trace), work).await
}

/// The current task's trace, if work was started in one.
pub fn current() -> Option<TraceId> {
    CURRENT.try_with(|t| t.borrow().clone()).ok()
}

/// The current trace, or a new one for work started outside any (a command-line tool's).
pub fn current_or_new() -> TraceId {
    current().unwrap_or_else(TraceId::random)
}

/// Joins `request`'s trace: names the request on the current span (`request_id`) and, when the
/// request has a trace, makes it the current span's `trace_id` and the task's current trace.
/// A later delivery about a request (a click, a comment) thus logs, queues and owes in the trace
/// the request was created in.
pub fn follow(request: &ShareRequest) {
    super::name_request(&request.id);
    if let Some(trace) = &request.trace_id {
        tracing::Span::current().record("trace_id", tracing::field::display(trace));
        let _ = CURRENT.try_with(|t| *t.borrow_mut() = trace.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scope_sets_follow_switches_and_outside_there_is_none() {
        assert_eq!(current(), None);
        let a = TraceId::random();
        let b = TraceId::random();
        let seen = scope(a.clone(), async {
            let first = current();
            tokio::task::yield_now().await;
            let _ = CURRENT.try_with(|t| *t.borrow_mut() = b.clone());
            (first, current())
        })
        .await;
        assert_eq!(seen, (Some(a), Some(b)));
        assert_eq!(current(), None);
        assert_ne!(current_or_new(), current_or_new());
    }
}
