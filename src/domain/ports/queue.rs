//! The `Queue` port: approved work handed to the worker. A message is only a hint: the store
//! decides whether a request still needs work, so a lost, repeated or late message is harmless
//! (the worker also sweeps the store for approved work on start and on an interval).

use crate::domain::{RequestId, TraceId};

/// Hands approved requests to a worker.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// Asks for `id` to be executed soon; `trace` is the request's trace, which a queue that
    /// crosses processes carries on its message so the worker's lines name it.
    async fn enqueue(&self, id: &RequestId, trace: Option<&TraceId>);

    /// Asks for the outbox entries `outbox_ids` (just committed) to be delivered soon. The
    /// default does nothing: a dispatcher that polls the store finds them anyway.
    async fn deliver(&self, _outbox_ids: &[String]) {}
}
