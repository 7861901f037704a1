//! Slack v0 verification never panics, whatever the headers and body.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let (headers, body) =
        common::headers_and_body(data, &["x-slack-request-timestamp", "x-slack-signature"]);
    let secrets = common::secrets(&["8f742231b10e8888abcd99yyyzzz85a5", "second-secret"]);
    let _ = ncp_share_approver::verify::slack::verify_at(&secrets, &headers, body, 1_531_420_618);
});
