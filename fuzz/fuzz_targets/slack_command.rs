//! The `/share-image` grammar never panics, and what it accepts is within its limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncp_share_approver::http::slack::command::{self, SlackCommand};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(
        SlackCommand::Share { targets, .. }
        | SlackCommand::Revoke { targets, .. }
        | SlackCommand::Set { targets, .. },
    ) = command::parse(&text)
    {
        assert!(!targets.is_empty() && targets.len() <= command::MAX_TARGETS);
    }
});
