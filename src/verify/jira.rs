//! Jira Cloud admin webhooks with a secret (`reference/webhooks.md` section 2.2).
//!
//! `X-Hub-Signature: sha256=<hex(HMAC-SHA256(secret, raw body))>`. Nothing time-related is
//! signed, so there is no replay window: replays are caught by de-duplicating on
//! `X-Atlassian-Webhook-Identifier`, which stays the same across Jira's retries. Jira sends
//! lowercase hex; we decode the hex before comparing, so uppercase is accepted too (the reference
//! checklist calls the comparison case-insensitive, and with no timestamp there is nothing to gain
//! from being stricter than the bytes).

use super::{VerifyError, bad, header, hmac_sha256};
use axum::http::HeaderMap;
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};

/// Header carrying `sha256=` and the hex signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature";

/// Computes the `X-Hub-Signature` value (`sha256=` and 64 lowercase hex digits) for a body.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut m = hmac_sha256(secret.expose_secret().as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a Jira webhook's signature against any of `secrets`. `_now_unix` is unused (Jira signs
/// no timestamp) and is taken only so every scheme has the same signature.
pub fn verify_at(
    secrets: &[SecretString],
    headers: &HeaderMap,
    body: &[u8],
    _now_unix: i64,
) -> Result<(), VerifyError> {
    let keys = super::usable(secrets)?;
    let sig_text = header(headers, SIGNATURE_HEADER)?;
    let hex_part = sig_text
        .strip_prefix("sha256=")
        .ok_or(bad(SIGNATURE_HEADER, "does not start with `sha256=`"))?;
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut given)
        .map_err(|_| bad(SIGNATURE_HEADER, "is not `sha256=` and 64 hex digits"))?;
    // Every key is tried, so the time taken does not say which one matched.
    let mut matched = false;
    for key in keys {
        let mut m = hmac_sha256(key.as_bytes());
        m.update(body);
        matched |= m.verify_slice(&given).is_ok();
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

    const SECRET: &str = "It's a Secret to Everybody";
    /// V5: a `jira:issue_updated` body.
    const V5_BODY: &str = r#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_updated","issue_event_type_name":"issue_generic","user":{"accountId":"5b10a2844c20165700ede21g","displayName":"Mia Krystof"},"issue":{"id":"10010","key":"OPS-42","fields":{"status":{"id":"3","name":"In Progress"}}},"changelog":{"id":"10638","items":[{"field":"status","fieldtype":"jira","fieldId":"status","from":"10000","fromString":"To Do","to":"3","toString":"In Progress"}]}}"#;
    const V5_SIG: &str = "sha256=63e7438396166c4fec38511191b239526976211367dbb7323152ec9e51de32b4";
    /// V4 (GitHub's official example) uses the same construction, so it checks us too.
    const V4_BODY: &str = "Hello, World!";
    const V4_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn check(secret_list: &[&str], sig: &str, body: &str) -> Result<(), VerifyError> {
        let h = headers(&[("X-Hub-Signature", sig.as_bytes())]);
        verify_at(&secrets(secret_list), &h, body.as_bytes(), 0)
    }

    #[test]
    fn the_reference_vectors_sign_and_verify() {
        let secret = SecretString::from(SECRET);
        for (body, sig) in [(V5_BODY, V5_SIG), (V4_BODY, V4_SIG)] {
            assert_eq!(sign(&secret, body.as_bytes()), sig);
            assert_eq!(check(&[SECRET], sig, body), Ok(()));
        }
    }

    #[test]
    fn the_clock_does_not_matter_because_nothing_time_related_is_signed() {
        let h = headers(&[("x-hub-signature", V5_SIG.as_bytes())]);
        for now in [0, 1_700_000_000, i64::MAX] {
            assert_eq!(
                verify_at(&secrets(&[SECRET]), &h, V5_BODY.as_bytes(), now),
                Ok(())
            );
        }
    }

    #[test]
    fn uppercase_hex_is_accepted_because_it_is_decoded_first() {
        let upper = format!("sha256={}", V5_SIG[7..].to_uppercase());
        assert_eq!(check(&[SECRET], &upper, V5_BODY), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_a_wrong_secret_fails() {
        let flipped = V5_BODY.replacen("OPS-42", "OPS-43", 1);
        assert_eq!(
            check(&[SECRET], V5_SIG, &flipped),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&[SECRET], V5_SIG, &format!("{V5_BODY}\n")),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&["It's a secret to everybody"], V5_SIG, V5_BODY),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_passes() {
        assert_eq!(check(&["next", SECRET], V5_SIG, V5_BODY), Ok(()));
        assert_eq!(check(&[SECRET, "previous"], V5_SIG, V5_BODY), Ok(()));
        assert_eq!(check(&[], V5_SIG, V5_BODY), Err(VerifyError::NoSecret));
    }

    #[test]
    fn missing_and_garbage_headers_are_refused() {
        assert_eq!(
            verify_at(&secrets(&[SECRET]), &HeaderMap::new(), b"{}", 0),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        let sha1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";
        let short = &V5_SIG[..V5_SIG.len() - 2];
        let junk = V5_SIG.replacen('6', "x", 1);
        let upper_prefix = V5_SIG.replacen("sha256", "SHA256", 1);
        for bad_sig in [sha1, short, &junk, &upper_prefix, "sha256=", "garbage"] {
            assert!(
                matches!(
                    check(&[SECRET], bad_sig, V5_BODY),
                    Err(VerifyError::BadHeader { .. })
                ),
                "{bad_sig}"
            );
        }
        let h = headers(&[("x-hub-signature", "sha256=ü".as_bytes())]);
        assert!(matches!(
            verify_at(&secrets(&[SECRET]), &h, b"", 0),
            Err(VerifyError::BadHeader { .. })
        ));
    }

    #[test]
    fn no_error_reveals_the_secret_or_a_signature() {
        let expected_for_tampered = sign(&SecretString::from(SECRET), b"tampered");
        let cases = [
            check(&[SECRET], V5_SIG, "tampered"),
            check(&[SECRET], "sha256=zz", V5_BODY),
            check(&[SECRET], "md5=abc", V5_BODY),
            check(&[], V5_SIG, V5_BODY),
            verify_at(&secrets(&[SECRET]), &HeaderMap::new(), b"", 0),
        ];
        for r in cases {
            assert_error_is_safe(
                &r.unwrap_err(),
                &[SECRET, V5_SIG, &V5_SIG[7..], &expected_for_tampered],
            );
        }
    }
}
