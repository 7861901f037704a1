//! Ticket systems: Jira Cloud and the generic signed webhook, and what bad input gets.

mod bad_input;
mod jira;
mod webhook;
