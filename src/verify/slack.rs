//! Slack request signing, version 0 (`reference/webhooks.md` section 1.4).
//!
//! `X-Slack-Signature: v0=<hex(HMAC-SHA256(signing secret, "v0:{ts}:{body}"))>`, with
//! `X-Slack-Request-Timestamp: {ts}` in Unix seconds. Like `slack_sdk`, we accept only lowercase
//! hex (vector V3 rejects uppercase) and a timestamp at most 300 s from now in either direction.

use super::{VerifyError, bad, check_window, decode_lower_hex_32, header, hmac_sha256};
use axum::http::HeaderMap;
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};

/// Header carrying the Unix seconds that were signed.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Header carrying `v0=` and the hex signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Feeds the basestring `v0:{ts}:{body}` to the MAC without copying the body.
fn mac_for(key: &[u8], ts: &str, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    let mut m = hmac_sha256(key);
    m.update(b"v0:");
    m.update(ts.as_bytes());
    m.update(b":");
    m.update(body);
    m
}

/// Computes the `X-Slack-Signature` value (`v0=` and 64 lowercase hex digits) for a request.
pub fn sign(secret: &SecretString, ts: i64, body: &[u8]) -> String {
    let m = mac_for(secret.expose_secret().as_bytes(), &ts.to_string(), body);
    format!("v0={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a Slack request's signature and timestamp against any of `secrets`, at `now_unix`.
pub fn verify_at(
    secrets: &[SecretString],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let keys = super::usable(secrets)?;
    let ts_text = header(headers, TIMESTAMP_HEADER)?;
    let sig_text = header(headers, SIGNATURE_HEADER)?;
    let ts = super::parse_unix_secs(ts_text)?;
    check_window(ts, now_unix)?;
    let given = sig_text
        .strip_prefix("v0=")
        .and_then(decode_lower_hex_32)
        .ok_or(bad(
            SIGNATURE_HEADER,
            "is not `v0=` and 64 lowercase hex digits",
        ))?;
    // Every key is tried, so the time taken does not say which one matched.
    let mut matched = false;
    for key in keys {
        matched |= mac_for(key.as_bytes(), ts_text, body)
            .verify_slice(&given)
            .is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{assert_error_is_safe, headers, secrets};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    /// V1: the official Slack example.
    const V1_TS: i64 = 1531420618;
    const V1_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const V1_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    /// V2: an interactivity body.
    const V2_TS: i64 = 1531420702;
    const V2_BODY: &str = "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U2CERLKJA%22%2C%22username%22%3A%22roadrunner%22%2C%22team_id%22%3A%22T1DC2JH3J%22%7D%2C%22api_app_id%22%3A%22A0TESTAPP%22%2C%22container%22%3A%7B%22type%22%3A%22message%22%2C%22message_ts%22%3A%221531420700.000100%22%2C%22channel_id%22%3A%22C0TEST%22%2C%22is_ephemeral%22%3Afalse%7D%2C%22trigger_id%22%3A%22398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c%22%2C%22team%22%3A%7B%22id%22%3A%22T1DC2JH3J%22%2C%22domain%22%3A%22testteamnow%22%7D%2C%22channel%22%3A%7B%22id%22%3A%22C0TEST%22%2C%22name%22%3A%22ops%22%7D%2C%22message%22%3A%7B%22type%22%3A%22message%22%2C%22ts%22%3A%221531420700.000100%22%2C%22text%22%3A%22Deploy%3F%22%7D%2C%22response_url%22%3A%22https%3A%2F%2Fhooks.slack.com%2Factions%2FT1DC2JH3J%2F1%2Fabc%22%2C%22actions%22%3A%5B%7B%22type%22%3A%22button%22%2C%22action_id%22%3A%22approve%22%2C%22block_id%22%3A%22b1%22%2C%22value%22%3A%22job-42%22%2C%22text%22%3A%7B%22type%22%3A%22plain_text%22%2C%22text%22%3A%22Approve%22%7D%2C%22action_ts%22%3A%221531420701.000001%22%7D%5D%7D";
    const V2_SIG: &str = "v0=dcc0164c2276effb09e3a89e8d0031bab422827ea66b162ef5ad99002f228d3e";

    /// V2b: an Events API JSON body.
    const V2B_TS: i64 = 1531420801;
    const V2B_BODY: &str = r#"{"token":"xyzz0WbapA4vBCDEFasx0q6G","team_id":"T1DC2JH3J","type":"event_callback","event_id":"Ev0TEST","event":{"type":"app_mention","user":"U2CERLKJA","text":"<@U0BOT> hi","ts":"1531420800.000200","channel":"C0TEST"}}"#;
    const V2B_SIG: &str = "v0=0587fc194e7390833295d3509dcd583dbfbc627c3cc3926797ef8a611359bab0";

    fn hdrs(ts: &str, sig: &str) -> HeaderMap {
        headers(&[
            ("X-Slack-Request-Timestamp", ts.as_bytes()),
            ("X-Slack-Signature", sig.as_bytes()),
        ])
    }

    fn check(ts: i64, body: &str, sig: &str, now: i64) -> Result<(), VerifyError> {
        verify_at(
            &secrets(&[SECRET]),
            &hdrs(&ts.to_string(), sig),
            body.as_bytes(),
            now,
        )
    }

    #[test]
    fn the_reference_vectors_sign_and_verify() {
        let secret = SecretString::from(SECRET);
        for (ts, body, sig) in [
            (V1_TS, V1_BODY, V1_SIG),
            (V2_TS, V2_BODY, V2_SIG),
            (V2B_TS, V2B_BODY, V2B_SIG),
        ] {
            assert_eq!(sign(&secret, ts, body.as_bytes()), sig);
            assert_eq!(check(ts, body, sig, ts), Ok(()));
        }
        assert_eq!(V1_BODY.len(), 362);
    }

    #[test]
    fn the_window_accepts_300_seconds_and_refuses_301_both_ways() {
        for now in [V1_TS - 300, V1_TS, V1_TS + 300] {
            assert_eq!(check(V1_TS, V1_BODY, V1_SIG, now), Ok(()), "now {now}");
        }
        assert_eq!(
            check(V1_TS, V1_BODY, V1_SIG, V1_TS + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            check(V1_TS, V1_BODY, V1_SIG, V1_TS - 301),
            Err(VerifyError::Stale { skew_secs: -301 })
        );
    }

    #[test]
    fn uppercase_hex_is_refused_like_slack_sdk_does() {
        let upper = format!("v0={}", V1_SIG[3..].to_uppercase());
        assert!(matches!(
            check(V1_TS, V1_BODY, &upper, V1_TS),
            Err(VerifyError::BadHeader { .. })
        ));
    }

    #[test]
    fn a_tampered_body_or_timestamp_fails() {
        let extra_amp = format!("{V1_BODY}&");
        assert_eq!(
            check(V1_TS, &extra_amp, V1_SIG, V1_TS),
            Err(VerifyError::BadSignature)
        );
        let flipped = V1_BODY.replacen("roadrunner", "roadrunnes", 1);
        assert_eq!(
            check(V1_TS, &flipped, V1_SIG, V1_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(V1_TS + 1, V1_BODY, V1_SIG, V1_TS),
            Err(VerifyError::BadSignature)
        );
        // The signed timestamp is the header text, so a leading zero is a different message.
        let r = verify_at(
            &secrets(&[SECRET]),
            &hdrs(&format!("0{V1_TS}"), V1_SIG),
            V1_BODY.as_bytes(),
            V1_TS,
        );
        assert_eq!(r, Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_wrong_secret_fails_and_a_rotated_one_passes() {
        let h = hdrs(&V1_TS.to_string(), V1_SIG);
        let body = V1_BODY.as_bytes();
        assert_eq!(
            verify_at(&secrets(&["not-the-secret"]), &h, body, V1_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_at(&secrets(&["new-secret", SECRET]), &h, body, V1_TS),
            Ok(())
        );
        assert_eq!(
            verify_at(&secrets(&[SECRET, "old-secret"]), &h, body, V1_TS),
            Ok(())
        );
        assert_eq!(verify_at(&[], &h, body, V1_TS), Err(VerifyError::NoSecret));
        assert_eq!(
            verify_at(&secrets(&[""]), &h, body, V1_TS),
            Err(VerifyError::NoSecret)
        );
    }

    #[test]
    fn missing_and_garbage_headers_are_refused() {
        let s = secrets(&[SECRET]);
        let body = V1_BODY.as_bytes();
        let ts = V1_TS.to_string();
        let only_sig = headers(&[("x-slack-signature", V1_SIG.as_bytes())]);
        assert_eq!(
            verify_at(&s, &only_sig, body, V1_TS),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        let only_ts = headers(&[("x-slack-request-timestamp", ts.as_bytes())]);
        assert_eq!(
            verify_at(&s, &only_ts, body, V1_TS),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad_ts in ["abc", "-1531420618", "1531420618.5", "1e9"] {
            assert_eq!(
                verify_at(&s, &hdrs(bad_ts, V1_SIG), body, V1_TS),
                Err(VerifyError::BadTimestamp),
                "{bad_ts}"
            );
        }
        let short = &V1_SIG[..V1_SIG.len() - 1];
        let v1 = V1_SIG.replacen("v0=", "v1=", 1);
        let spaced = V1_SIG.replacen("v0=", "v0= ", 1);
        let long = format!("{V1_SIG}{}", "0".repeat(2000));
        for bad_sig in [short, &v1, &spaced, "v0=", "garbage", &long] {
            assert!(
                matches!(
                    verify_at(&s, &hdrs(&ts, bad_sig), body, V1_TS),
                    Err(VerifyError::BadHeader { .. })
                ),
                "{bad_sig}"
            );
        }
    }

    #[test]
    fn no_error_reveals_the_secret_or_a_signature() {
        let upper = format!("v0={}", V1_SIG[3..].to_uppercase());
        let cases = [
            check(V1_TS, V1_BODY, V1_SIG, V1_TS + 1000),
            check(V1_TS, "tampered", V1_SIG, V1_TS),
            check(V1_TS, V1_BODY, &upper, V1_TS),
            verify_at(&[], &hdrs("1", V1_SIG), b"", 1),
            verify_at(&secrets(&[SECRET]), &hdrs("x", V1_SIG), b"", 1),
            verify_at(&secrets(&[SECRET]), &HeaderMap::new(), b"", 1),
        ];
        let expected_for_tampered = sign(&SecretString::from(SECRET), V1_TS, b"tampered");
        for r in cases {
            let err = r.unwrap_err();
            assert_error_is_safe(
                &err,
                &[SECRET, V1_SIG, &V1_SIG[3..], &expected_for_tampered],
            );
        }
    }
}
