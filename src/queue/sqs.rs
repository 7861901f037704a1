//! The SQS queue of the AWS deployment: one small JSON message per approved request, consumed by
//! the worker function (`crate::functions::worker`). A message that cannot be sent is logged and
//! left to the scheduled sweep, which queues every approved request again.

use super::Queue;
use crate::aws::{LazyClient, describe_error};
use crate::domain::{RequestId, TraceId};
use serde::{Deserialize, Serialize};

/// The body of a work message: a request to execute, outbox entries to deliver, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkMessage {
    /// The request to execute (if the store says it still needs it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Outbox entries just written (the worker delivers them, and whatever else is due).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliver: Vec<String>,
    /// The trace the work belongs to (the request's, or the delivery's that wrote the entries):
    /// the worker's lines about it name it. Absent from messages sent before traces existed,
    /// and a malformed one is ignored, never a reason to refuse the message.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::domain::trace::lenient"
    )]
    pub trace_id: Option<TraceId>,
}

/// Sends work messages to one SQS queue.
pub struct SqsQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, with a client built from the process's AWS configuration on first use.
    pub fn from_env(url: &str) -> Self {
        Self {
            client: LazyClient::from_env(aws_sdk_sqs::Client::new),
            url: url.to_string(),
        }
    }

    /// The queue at `url` through a ready client (tests).
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        Self {
            client: LazyClient::ready(client, aws_sdk_sqs::Client::new),
            url: url.to_string(),
        }
    }

    /// Sends one message; the error says why (without the message, which is only an id anyway).
    pub async fn send(&self, id: &RequestId, trace: Option<&TraceId>) -> Result<(), String> {
        self.send_message(&WorkMessage {
            request_id: id.to_string(),
            trace_id: trace.cloned(),
            ..Default::default()
        })
        .await
    }

    /// Sends a work message.
    pub async fn send_message(&self, message: &WorkMessage) -> Result<(), String> {
        let body = serde_json::to_string(message).map_err(|e| e.to_string())?;
        self.client
            .get()
            .await
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| describe_error(&e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, id: &RequestId, trace: Option<&TraceId>) {
        if let Err(e) = self.send(id, trace).await {
            tracing::warn!(request_id = %id, error = %e, "cannot queue the request on SQS; the next sweep queues it again");
        }
    }

    /// Sent before the HTTP function answers: the worker function delivers the entries (nothing
    /// may run after a Lambda function's answer). If the send fails, the scheduler's outbox
    /// task queues them again within a minute.
    async fn deliver(&self, outbox_ids: &[String]) {
        let message = WorkMessage {
            deliver: outbox_ids.to_vec(),
            trace_id: crate::workflow::trace::current(),
            ..Default::default()
        };
        if let Err(e) = self.send_message(&message).await {
            tracing::warn!(entries = outbox_ids.len(), error = %e, "cannot queue outbox delivery on SQS; the scheduler queues it again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_messages_carry_the_trace_and_older_or_odd_ones_still_read() {
        let trace = TraceId::parse("0af7651916cd43dd8448eb211c80319c").unwrap();
        let sent = WorkMessage {
            request_id: "SR-7K3M9Q2X".into(),
            trace_id: Some(trace.clone()),
            ..Default::default()
        };
        let body = serde_json::to_string(&sent).unwrap();
        assert_eq!(
            body,
            r#"{"request_id":"SR-7K3M9Q2X","trace_id":"0af7651916cd43dd8448eb211c80319c"}"#
        );
        assert_eq!(serde_json::from_str::<WorkMessage>(&body).unwrap(), sent);
        // Sent before traces existed: no trace, the rest as it was.
        let old: WorkMessage = serde_json::from_str(r#"{"request_id":"SR-7K3M9Q2X"}"#).unwrap();
        assert_eq!(
            (old.request_id.as_str(), old.trace_id),
            ("SR-7K3M9Q2X", None)
        );
        // A malformed trace never costs the message.
        let odd: WorkMessage =
            serde_json::from_str(r#"{"deliver":["ob_1"],"trace_id":"not-a-trace"}"#).unwrap();
        assert_eq!(
            (odd.deliver, odd.trace_id),
            (vec!["ob_1".to_string()], None)
        );
    }
}
