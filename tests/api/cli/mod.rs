//! The binary as a person runs it.

mod commands;
mod dev;
mod secrets_in_logs;
