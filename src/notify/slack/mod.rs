//! Slack: the Web API client ([`SlackApi`]) and Block Kit rendering ([`render`]).

mod api;
pub mod render;

pub use api::{MessageRef, SlackApi, SlackError};
