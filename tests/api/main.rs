//! The one integration-test binary: the app and its peers, spawned on 127.0.0.1:0.

mod cli;
mod helpers;
mod ncp_client;
mod ncp_sim;
mod slack_notify;
mod store;
mod workflow;
mod workflow_helpers;
mod slack;
mod slack_helpers;
mod lambda;
mod slack_bad_input;
