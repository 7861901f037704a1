//! The one integration-test binary: the app and its peers, spawned on 127.0.0.1:0.

mod aws;
mod aws_helpers;
mod cli;
mod dev;
mod faults;
mod helpers;
mod jira;
mod jira_fake;
mod lambda;
mod lifecycle;
mod ncp_client;
mod ncp_sim;
mod payloads;
mod policy_source;
mod props;
mod secrets_in_logs;
mod slack;
mod slack_bad_input;
mod slack_helpers;
mod slack_notify;
mod store;
mod tickets_bad_input;
mod tickets_helpers;
mod webhook;
mod workflow;
mod workflow_helpers;
