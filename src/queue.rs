//! The `Queue` port: approved work handed to the worker. A message is only a hint: the store
//! decides whether a request still needs work, so a lost, repeated or late message is harmless
//! (the worker also sweeps the store for approved work on start and on an interval).

mod sqs;

pub use sqs::{SqsQueue, WorkMessage};

use crate::domain::RequestId;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// Hands approved requests to a worker.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Asks for `id` to be executed soon.
    async fn enqueue(&self, id: &RequestId);

    /// Asks for the outbox entries `outbox_ids` (just committed) to be delivered soon. The
    /// default does nothing: a dispatcher that polls the store finds them anyway.
    async fn deliver(&self, _outbox_ids: &[String]) {}
}

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
    async fn enqueue(&self, id: &RequestId) {
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
    async fn enqueue(&self, _id: &RequestId) {}
}
