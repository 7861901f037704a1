//! Slack: slash commands, buttons, the request form, the App Home, the notifier, the views
//! client against the fake, and what bad input gets.

mod bad_input;
mod commands;
mod forms;
mod home;
mod notify;
mod views;
