//! Standard Webhooks verification never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = common::headers_and_body(
        data,
        &["webhook-id", "webhook-timestamp", "webhook-signature"],
    );
    let secrets = common::secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
    let _ = ncp_share_approver::verify::standard_webhooks::verify_at(
        &secrets,
        &headers,
        body,
        1_614_265_330,
    );
});
