//! The slash-command form and the interactivity payload parsers never panic; anything they
//! accept has the shape the handlers rely on.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncp_share_approver::http::slack::form::{ButtonClick, SlashCommand};

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = SlashCommand::parse(data) {
        assert!(!cmd.user_id.is_empty() && cmd.user_id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    if let Ok(click) = ButtonClick::parse(data) {
        assert!(click.action_id == "approve" || click.action_id == "deny");
    }
});
