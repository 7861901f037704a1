//! The queues (adapters of `domain::ports::queue::Queue`): in-process, none, and SQS.

mod sqs;

pub use sqs::{SqsQueue, WorkMessage};

// The port lives in the core; re-exported for the old path.
pub use crate::domain::ports::queue::Queue;
use crate::domain::{RequestId, TraceId};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// The in-process queue of the local server: a channel to the worker task, and a wake-up for
/// the outbox dispatcher.
#[derive(Clone)]
pub struct LocalQueue(mpsc::UnboundedSender<RequestId>, Option<Arc<Notify>>);

impl LocalQueue {
    /// A queue and the receiving end the worker reads.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<RequestId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx, None), rx)
    }

    /// Wakes `dispatcher` whenever outbox entries are written.
    pub fn waking(mut self, dispatcher: Arc<Notify>) -> Self {
        self.1 = Some(dispatcher);
        self
    }
}

#[async_trait::async_trait]
impl Queue for LocalQueue {
    async fn enqueue(&self, id: &RequestId, _trace: Option<&TraceId>) {
        // The worker reads the request's trace from the store with the request.
        // A closed channel means the worker is gone; the start-up sweep picks the request up.
        let _ = self.0.send(id.clone());
    }

    async fn deliver(&self, _outbox_ids: &[String]) {
        if let Some(wake) = &self.1 {
            wake.notify_one();
        }
    }
}

/// A queue that drops every hint, for tools that only record (the worker's sweep still finds the work).
pub struct NoQueue;

#[async_trait::async_trait]
impl Queue for NoQueue {
    async fn enqueue(&self, _id: &RequestId, _trace: Option<&TraceId>) {}
}
