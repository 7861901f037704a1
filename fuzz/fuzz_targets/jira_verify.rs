//! Jira `X-Hub-Signature` verification never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = common::headers_and_body(data, &["x-hub-signature"]);
    let secrets = common::secrets(&["It's a Secret to Everybody"]);
    let _ = ncp_share_approver::verify::jira::verify_at(&secrets, &headers, body, 1_700_000_000);
});
