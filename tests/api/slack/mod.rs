//! Slack: slash commands, buttons, the notifier, views, and what bad input gets.

mod bad_input;
mod commands;
mod notify;
mod views;
