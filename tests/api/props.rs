//! Properties of the signature checks: a correctly signed request verifies, and no mutation of
//! it (body, timestamp, id, signature or secret) does.

use axum::http::{HeaderMap, HeaderValue};
use ncp_share_approver::ncp::signature as ncp;
use ncp_share_approver::secrets::SecretString;
use ncp_share_approver::verify::{jira, slack, standard_webhooks};
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// One change to a byte string: flip a bit, drop a byte, or add one.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Drop { at: usize },
    Insert { at: usize, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Drop { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
    ]
}

/// Applies a mutation; every result differs from the input.
fn mutate(input: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = input.to_vec();
    match *m {
        Mutation::Flip { at, bit } if !out.is_empty() => {
            let i = at % out.len();
            out[i] ^= 1 << bit;
        }
        Mutation::Drop { at } if !out.is_empty() => {
            out.remove(at % out.len());
        }
        Mutation::Insert { at, byte } => {
            let i = at % (out.len() + 1);
            out.insert(i, byte);
        }
        // An empty input can only grow.
        Mutation::Flip { .. } | Mutation::Drop { .. } => out.push(b'x'),
    }
    out
}

fn slack_headers(ts: i64, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "x-slack-request-timestamp",
        HeaderValue::from_str(&ts.to_string()).unwrap(),
    );
    if let Ok(v) = HeaderValue::from_str(sig) {
        h.insert("x-slack-signature", v);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_mutation_of_a_signed_slack_request_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        key in "[ -~]{1,64}",
        other_key in "[ -~]{1,64}",
        m in mutation(),
        skew in 1i64..200,
    ) {
        let secrets = [secret(&key)];
        let sig = slack::sign(&secrets[0], NOW, &body);
        prop_assert!(slack::verify_at(&secrets, &slack_headers(NOW, &sig), &body, NOW).is_ok());
        // The body changed after signing.
        prop_assert!(slack::verify_at(&secrets, &slack_headers(NOW, &sig), &mutate(&body, &m), NOW).is_err());
        // The timestamp changed (still inside the window, so only the signature can catch it).
        prop_assert!(slack::verify_at(&secrets, &slack_headers(NOW - skew, &sig), &body, NOW).is_err());
        // The signature changed (white space around a header value is not a change: HTTP
        // ignores it, and so does the verifier).
        let bad_sig = String::from_utf8_lossy(&mutate(sig.as_bytes(), &m)).into_owned();
        if bad_sig.trim() != sig {
            prop_assert!(slack::verify_at(&secrets, &slack_headers(NOW, &bad_sig), &body, NOW).is_err());
        }
        // Another secret.
        if other_key != key {
            prop_assert!(slack::verify_at(&[secret(&other_key)], &slack_headers(NOW, &sig), &body, NOW).is_err());
        }
    }

    #[test]
    fn no_mutation_of_a_signed_jira_delivery_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        key in "[ -~]{1,64}",
        m in mutation(),
    ) {
        let secrets = [secret(&key)];
        let sig = jira::sign(&secrets[0], &body);
        let headers = |s: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(s) {
                h.insert("x-hub-signature", v);
            }
            h
        };
        prop_assert!(jira::verify_at(&secrets, &headers(&sig), &body, NOW).is_ok());
        prop_assert!(jira::verify_at(&secrets, &headers(&sig), &mutate(&body, &m), NOW).is_err());
        let bad_sig = String::from_utf8_lossy(&mutate(sig.as_bytes(), &m)).into_owned();
        // Jira's hex is case-insensitive, so a mutation that only changes case may still verify.
        if !bad_sig.trim().eq_ignore_ascii_case(&sig) {
            prop_assert!(jira::verify_at(&secrets, &headers(&bad_sig), &body, NOW).is_err());
        }
    }

    #[test]
    fn no_mutation_of_a_standard_webhook_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        key in proptest::collection::vec(any::<u8>(), 16..48),
        id in "msg_[A-Za-z0-9]{8,24}",
        m in mutation(),
        skew in 1i64..200,
    ) {
        use base64::Engine as _;
        let s = secret(&format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key)));
        let secrets = [s];
        let sig = standard_webhooks::sign(&secrets[0], &id, NOW, &body).unwrap();
        let headers = |id: &str, ts: i64, sig: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(id) { h.insert("webhook-id", v); }
            h.insert("webhook-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
            if let Ok(v) = HeaderValue::from_str(sig) { h.insert("webhook-signature", v); }
            h
        };
        prop_assert!(standard_webhooks::verify_at(&secrets, &headers(&id, NOW, &sig), &body, NOW).is_ok());
        prop_assert!(standard_webhooks::verify_at(&secrets, &headers(&id, NOW, &sig), &mutate(&body, &m), NOW).is_err());
        prop_assert!(standard_webhooks::verify_at(&secrets, &headers(&id, NOW - skew, &sig), &body, NOW).is_err());
        let other_id = String::from_utf8_lossy(&mutate(id.as_bytes(), &m)).into_owned();
        if other_id.trim() != id {
            prop_assert!(standard_webhooks::verify_at(&secrets, &headers(&other_id, NOW, &sig), &body, NOW).is_err());
        }
    }

    #[test]
    fn no_mutation_of_a_signed_ncp_request_verifies(
        path in "/vserver/v2/[a-zA-Z]{1,40}\\?[a-zA-Z0-9=&%.]{0,200}",
        key in "[ -~]{1,64}",
        m in mutation(),
    ) {
        let sig = ncp::sign("GET", &path, "1700000000000", "AK", key.as_bytes());
        prop_assert!(ncp::verify("GET", &path, "1700000000000", "AK", key.as_bytes(), &sig));
        let other = String::from_utf8_lossy(&mutate(path.as_bytes(), &m)).into_owned();
        prop_assert!(!ncp::verify("GET", &other, "1700000000000", "AK", key.as_bytes(), &sig));
        prop_assert!(!ncp::verify("POST", &path, "1700000000000", "AK", key.as_bytes(), &sig));
        prop_assert!(!ncp::verify("GET", &path, "1700000000001", "AK", key.as_bytes(), &sig));
    }
}
