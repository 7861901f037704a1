//! The local AWS stand-in: `.ci/run` starts `moto_server` on a loopback port and sets
//! `TEST_AWS_ENDPOINT`; each test makes its own tables, queues and secrets, named uniquely,
//! so that tests run in parallel against one server.

#![allow(dead_code)] // Each test uses a different part.

use ncp_share_approver::store::{DynamoStore, Tables};

/// The variable naming the stand-in's endpoint (not `NSA_*`: those are configuration overrides,
/// and an unknown key is a configuration error).
pub const ENDPOINT_VAR: &str = "TEST_AWS_ENDPOINT";

/// The stand-in's endpoint, or `None` after printing why `what` is skipped. Under CI (`CI` set)
/// a missing endpoint fails the test instead: CI must run these.
pub fn aws_endpoint(what: &str) -> Option<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{ENDPOINT_VAR} is not set under CI: {what} must run against moto_server (.ci/run starts it)"
        ),
        _ => {
            eprintln!(
                "SKIPPED {what}: {ENDPOINT_VAR} is not set (run .ci/run, or start `moto_server -H 127.0.0.1 -p 5000` and set {ENDPOINT_VAR}=http://127.0.0.1:5000)"
            );
            None
        }
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The SDK configuration for the stand-in.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    ncp_share_approver::aws::local_config(endpoint).await
}

/// A DynamoDB store on fresh tables of its own.
pub async fn dynamo_store(endpoint: &str) -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await);
    let store = DynamoStore::new(
        client,
        Tables {
            state: unique("state"),
            ledger: unique("ledger"),
        },
    );
    store.create_tables().await.expect("create the tables");
    store
}

/// The ARN of the SQS queue at `url` (what a redrive policy or an event source names).
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&A::QueueArn]
        .clone()
}
