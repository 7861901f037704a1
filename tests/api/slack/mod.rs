//! Slack: slash commands, buttons, the notifier, and what bad input gets.

mod bad_input;
mod commands;
mod notify;
