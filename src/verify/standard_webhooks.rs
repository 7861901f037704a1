//! Standard Webhooks, symmetric `v1` (`reference/webhooks.md` section 4), used by `POST /webhook`.
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `version,base64` entries; the delivery passes when any `v1` entry
//! matches any configured secret, and other versions are ignored. The signed content is
//! `{id}.{timestamp}.{body}` under HMAC-SHA256, and the timestamp must be within 5 minutes of now
//! in either direction (as in the reference Python library).
//!
//! **Secrets.** A secret written `whsec_<base64>` is used as the spec says: the key is the
//! Base64-decoded part after the prefix (padding optional, as in the reference library). A secret
//! *without* the prefix is used as its raw UTF-8 bytes. The reference library would Base64-decode
//! it anyway; we do not, because a ticket system that does not use the `whsec_` convention
//! usually signs with the string it showed the admin, and guessing "is this Base64?" from the
//! text would make the same secret mean different keys depending on its characters. To use a
//! Base64 key, write it with the `whsec_` prefix.

use super::{MAX_SKEW_SECS, VerifyError, bad, check_window, header, hmac_sha256};
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::Mac;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use subtle::ConstantTimeEq;

/// Header carrying the delivery's id (the same across retries).
pub const ID_HEADER: &str = "webhook-id";
/// Header carrying the Unix seconds of this attempt.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header carrying the space-separated `v1,<base64>` signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The prefix that marks a Base64 secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a `webhook-timestamp` may be from now, either way (the same 5 minutes as Slack).
pub const TOLERANCE_SECS: i64 = MAX_SKEW_SECS;

/// Standard Base64 that accepts input with or without `=` padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Turns a configured secret into HMAC key bytes (see the module notes for the two forms).
fn key(secret: &str) -> Result<SecretSlice<u8>, VerifyError> {
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(b64) => match LENIENT.decode(b64) {
            Ok(bytes) if !bytes.is_empty() => Ok(SecretSlice::from(bytes)),
            _ => Err(VerifyError::BadSecret(
                "`whsec_` is not followed by a non-empty Base64 key",
            )),
        },
        None => Ok(SecretSlice::from(secret.as_bytes().to_vec())),
    }
}

/// Checks that a configured secret can be used, for validating configuration at start-up.
pub fn validate_secret(secret: &SecretString) -> Result<(), VerifyError> {
    key(secret.expose_secret()).map(drop)
}

/// The raw MAC of `{id}.{ts}.{body}`, fed in pieces so the body is not copied.
fn tag(key: &[u8], id: &str, ts: &str, body: &[u8]) -> [u8; 32] {
    let mut m = hmac_sha256(key);
    m.update(id.as_bytes());
    m.update(b".");
    m.update(ts.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Computes one `webhook-signature` entry (`v1,` and Base64) for a delivery; fails only when
/// the secret is a malformed `whsec_` value.
pub fn sign(secret: &SecretString, id: &str, ts: i64, body: &[u8]) -> Result<String, VerifyError> {
    let key = key(secret.expose_secret())?;
    let t = tag(key.expose_secret(), id, &ts.to_string(), body);
    Ok(format!("v1,{}", STANDARD.encode(t)))
}

/// Checks a Standard Webhooks delivery against any of `secrets`, at `now_unix`.
pub fn verify_at(
    secrets: &[SecretString],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let keys = super::usable(secrets)?
        .into_iter()
        .map(key)
        .collect::<Result<Vec<_>, _>>()?;
    let id = header(headers, ID_HEADER)?;
    let ts_text = header(headers, TIMESTAMP_HEADER)?;
    let sig_text = header(headers, SIGNATURE_HEADER)?;
    if id.contains('.') {
        // The spec forbids it: a `.` in the id would let the id/timestamp/body split shift.
        return Err(bad(ID_HEADER, "contains a `.`"));
    }
    let ts = super::parse_unix_secs(ts_text)?;
    check_window(ts, now_unix)?;

    let candidates: Vec<&str> = sig_text
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .collect();
    if candidates.is_empty() {
        return Err(bad(SIGNATURE_HEADER, "has no `v1,` signature"));
    }
    let expected: Vec<[u8; 32]> = keys
        .iter()
        .map(|k| tag(k.expose_secret(), id, ts_text, body))
        .collect();
    // Every candidate is compared with every key's tag, so timing says nothing about which
    // entry or key matched. An entry that is not 32 bytes of Base64 simply cannot match.
    let mut matched = subtle::Choice::from(0);
    for candidate in candidates {
        let Ok(given) = LENIENT.decode(candidate) else {
            continue;
        };
        for e in &expected {
            matched |= e.as_slice().ct_eq(&given);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{assert_error_is_safe, headers, secrets};

    /// V6: the official `test_sign_function` vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    /// The library's negative test: the last character changed.
    const SIG_WRONG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";

    fn hdrs(id: &str, ts: &str, sig: &str) -> HeaderMap {
        headers(&[
            ("webhook-id", id.as_bytes()),
            ("webhook-timestamp", ts.as_bytes()),
            ("webhook-signature", sig.as_bytes()),
        ])
    }

    fn check(sig: &str, body: &str, now: i64) -> Result<(), VerifyError> {
        verify_at(
            &secrets(&[SECRET]),
            &hdrs(ID, &TS.to_string(), sig),
            body.as_bytes(),
            now,
        )
    }

    #[test]
    fn the_reference_vector_signs_and_verifies() {
        let s = SecretString::from(SECRET);
        assert_eq!(sign(&s, ID, TS, BODY.as_bytes()).unwrap(), SIG);
        assert_eq!(check(SIG, BODY, TS), Ok(()));
        assert_eq!(check(SIG_WRONG, BODY, TS), Err(VerifyError::BadSignature));
    }

    #[test]
    fn the_key_is_the_base64_after_the_prefix_with_or_without_padding() {
        let k = key(SECRET).unwrap();
        assert_eq!(
            hex::encode(k.expose_secret()),
            "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0"
        );
        // 'whsec_' + Base64 of 31 bytes needs padding; both forms give the same key.
        let padded = format!("whsec_{}", STANDARD.encode([7u8; 31]));
        let unpadded = padded.trim_end_matches('=').to_string();
        assert_ne!(padded, unpadded);
        assert_eq!(
            key(&padded).unwrap().expose_secret(),
            key(&unpadded).unwrap().expose_secret()
        );
    }

    #[test]
    fn a_secret_without_the_prefix_is_used_as_raw_bytes() {
        let raw = SecretString::from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let k = key(raw.expose_secret()).unwrap();
        assert_eq!(k.expose_secret(), b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(&raw, ID, TS, BODY.as_bytes()).unwrap();
        assert_ne!(sig, SIG);
        let h = hdrs(ID, &TS.to_string(), &sig);
        assert_eq!(verify_at(&[raw], &h, BODY.as_bytes(), TS), Ok(()));
    }

    #[test]
    fn a_malformed_whsec_secret_is_a_configuration_error() {
        for bad_secret in ["whsec_", "whsec_!!!notbase64", "whsec_a"] {
            let s = SecretString::from(bad_secret);
            assert!(
                matches!(validate_secret(&s), Err(VerifyError::BadSecret(_))),
                "{bad_secret}"
            );
            assert!(sign(&s, ID, TS, b"").is_err());
            let h = hdrs(ID, &TS.to_string(), SIG);
            let err = verify_at(&[s], &h, BODY.as_bytes(), TS).unwrap_err();
            assert!(matches!(err, VerifyError::BadSecret(_)));
            assert_error_is_safe(&err, &["!!!notbase64"]);
        }
        assert_eq!(validate_secret(&SecretString::from(SECRET)), Ok(()));
    }

    #[test]
    fn the_window_is_five_minutes_both_ways() {
        for now in [TS - 300, TS, TS + 300] {
            assert_eq!(check(SIG, BODY, now), Ok(()), "now {now}");
        }
        assert_eq!(
            check(SIG, BODY, TS + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            check(SIG, BODY, TS - 301),
            Err(VerifyError::Stale { skew_secs: -301 })
        );
    }

    #[test]
    fn any_matching_v1_entry_passes_and_other_versions_are_ignored() {
        for list in [
            format!("v1,bm90LWl0 {SIG}"),
            format!("{SIG} v1,bm90LWl0"),
            format!("v2,whatever {SIG} v1a,abc"),
            format!("{SIG_WRONG}  {SIG}"),
            format!("v1,not*base64 {SIG}"),
        ] {
            assert_eq!(check(&list, BODY, TS), Ok(()), "{list}");
        }
        // A v2 entry carrying the right bytes does not count: only v1 is understood.
        let as_v2 = SIG.replacen("v1,", "v2,", 1);
        assert!(matches!(
            check(&as_v2, BODY, TS),
            Err(VerifyError::BadHeader { .. })
        ));
        assert_eq!(
            check(&format!("{as_v2} {SIG_WRONG}"), BODY, TS),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_body_timestamp_or_id_fails() {
        assert_eq!(
            check(SIG, r#"{"test": 2432232315}"#, TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(SIG, r#"{"test":2432232314}"#, TS),
            Err(VerifyError::BadSignature)
        );
        let s = secrets(&[SECRET]);
        let b = BODY.as_bytes();
        let later = hdrs(ID, &(TS + 1).to_string(), SIG);
        assert_eq!(verify_at(&s, &later, b, TS), Err(VerifyError::BadSignature));
        let other_id = hdrs("msg_p5jXN8AQM9LWM0D4loKWxJel", &TS.to_string(), SIG);
        assert_eq!(
            verify_at(&s, &other_id, b, TS),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn an_id_with_a_dot_is_refused_so_the_signed_content_cannot_shift() {
        // Signed content for (id "a", ts T, body "x") would equal that of (id "a.T"-ish) splits;
        // a `.` in the id is refused before any MAC is computed.
        let s = SecretString::from(SECRET);
        let sig = sign(&s, "msg.1", TS, BODY.as_bytes()).unwrap();
        let h = hdrs("msg.1", &TS.to_string(), &sig);
        assert!(matches!(
            verify_at(&[s], &h, BODY.as_bytes(), TS),
            Err(VerifyError::BadHeader {
                header: ID_HEADER,
                ..
            })
        ));
    }

    #[test]
    fn a_wrong_secret_fails_and_a_rotated_one_passes() {
        let h = hdrs(ID, &TS.to_string(), SIG);
        let b = BODY.as_bytes();
        let other = "whsec_c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1vbmU=";
        assert_eq!(
            verify_at(&secrets(&[other]), &h, b, TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(verify_at(&secrets(&[other, SECRET]), &h, b, TS), Ok(()));
        assert_eq!(verify_at(&secrets(&[SECRET, other]), &h, b, TS), Ok(()));
        assert_eq!(verify_at(&[], &h, b, TS), Err(VerifyError::NoSecret));
    }

    #[test]
    fn missing_and_garbage_headers_are_refused() {
        let s = secrets(&[SECRET]);
        let b = BODY.as_bytes();
        let ts = TS.to_string();
        for (name, missing) in [
            (
                ID_HEADER,
                headers(&[
                    ("webhook-timestamp", ts.as_bytes()),
                    ("webhook-signature", SIG.as_bytes()),
                ]),
            ),
            (
                TIMESTAMP_HEADER,
                headers(&[
                    ("webhook-id", ID.as_bytes()),
                    ("webhook-signature", SIG.as_bytes()),
                ]),
            ),
            (
                SIGNATURE_HEADER,
                headers(&[
                    ("webhook-id", ID.as_bytes()),
                    ("webhook-timestamp", ts.as_bytes()),
                ]),
            ),
        ] {
            assert_eq!(
                verify_at(&s, &missing, b, TS),
                Err(VerifyError::MissingHeader(name))
            );
        }
        assert_eq!(
            verify_at(&s, &hdrs(ID, "soon", SIG), b, TS),
            Err(VerifyError::BadTimestamp)
        );
        for sig in ["garbage", "v1", "v1g0hM9SsE", &"v1,AAAA ".repeat(200)] {
            assert!(
                matches!(
                    verify_at(&s, &hdrs(ID, &ts, sig), b, TS),
                    Err(VerifyError::BadHeader { .. })
                ),
                "{sig}"
            );
        }
        let h = headers(&[
            ("webhook-id", "msg_ü".as_bytes()),
            ("webhook-timestamp", ts.as_bytes()),
            ("webhook-signature", SIG.as_bytes()),
        ]);
        assert!(matches!(
            verify_at(&s, &h, b, TS),
            Err(VerifyError::BadHeader {
                header: ID_HEADER,
                ..
            })
        ));
    }

    #[test]
    fn no_error_reveals_the_secret_or_a_signature() {
        let expected_for_tampered = sign(&SecretString::from(SECRET), ID, TS, b"tampered").unwrap();
        let cases = [
            check(SIG, "tampered", TS),
            check(SIG, BODY, TS + 3600),
            check("v2,abc", BODY, TS),
            verify_at(&[], &hdrs(ID, "1", SIG), b"", 1),
            verify_at(&secrets(&[SECRET]), &HeaderMap::new(), b"", 1),
        ];
        for r in cases {
            assert_error_is_safe(
                &r.unwrap_err(),
                &[SECRET, &SECRET[6..], SIG, &SIG[3..], &expected_for_tampered],
            );
        }
    }
}
