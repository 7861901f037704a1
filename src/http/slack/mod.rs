//! The Slack adapter: slash commands and interactions.

pub mod command;
