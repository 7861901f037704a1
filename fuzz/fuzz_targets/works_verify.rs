//! NAVER WORKS `X-WORKS-Signature` / `X-WORKS-BotId` verification never panics, and neither does
//! the `issuedTime` check on whatever the body holds.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = common::headers_and_body(data, &["x-works-signature", "x-works-botid"]);
    let secrets = common::secrets(&["example-bot-secret"]);
    let _ = ncp_share_approver::verify::works::verify_at(
        &secrets,
        "2000001",
        &headers,
        body,
        1_641_273_365,
    );
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = ncp_share_approver::verify::works::check_issued(text, 1_641_273_365);
    }
});
