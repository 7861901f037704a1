//! The `Queue` port: approved work handed to the worker. A message is only a hint: the store
//! decides whether a request still needs work, so a lost, repeated or late message is harmless
//! (the worker also sweeps the store for approved work on start and on an interval).

mod sqs;

pub use sqs::{SqsQueue, WorkMessage};

use crate::domain::RequestId;
use tokio::sync::mpsc;

/// Hands approved requests to a worker.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Asks for `id` to be executed soon.
    async fn enqueue(&self, id: &RequestId);
}

/// The in-process queue of the local server: a channel to the worker task.
#[derive(Clone)]
pub struct LocalQueue(mpsc::UnboundedSender<RequestId>);

impl LocalQueue {
    /// A queue and the receiving end the worker reads.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<RequestId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

#[async_trait::async_trait]
impl Queue for LocalQueue {
    async fn enqueue(&self, id: &RequestId) {
        // A closed channel means the worker is gone; the start-up sweep picks the request up.
        let _ = self.0.send(id.clone());
    }
}

/// A queue that drops every hint, for tools that only record (the worker's sweep still finds the work).
pub struct NoQueue;

#[async_trait::async_trait]
impl Queue for NoQueue {
    async fn enqueue(&self, _id: &RequestId) {}
}
