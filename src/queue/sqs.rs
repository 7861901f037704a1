//! The SQS queue of the AWS deployment: one small JSON message per approved request, consumed by
//! the worker function (`crate::functions::worker`). A message that cannot be sent is logged and
//! left to the scheduled sweep, which queues every approved request again.

use super::Queue;
use crate::aws::{LazyClient, describe_error};
use crate::domain::RequestId;
use serde::{Deserialize, Serialize};

/// The body of a work message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkMessage {
    /// The request to execute (if the store says it still needs it).
    pub request_id: String,
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
    pub async fn send(&self, id: &RequestId) -> Result<(), String> {
        let body = serde_json::to_string(&WorkMessage {
            request_id: id.to_string(),
        })
        .map_err(|e| e.to_string())?;
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
    async fn enqueue(&self, id: &RequestId) {
        if let Err(e) = self.send(id).await {
            tracing::warn!(request_id = %id, error = %e, "cannot queue the request on SQS; the next sweep queues it again");
        }
    }
}
