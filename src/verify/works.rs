//! NAVER WORKS (LINE WORKS) bot callbacks, API 2.0 (`reference/naver-works.md` section 1.2).
//!
//! `X-WORKS-Signature: <Base64(HMAC-SHA256(bot secret, raw body))>` (standard alphabet, with
//! padding) and `X-WORKS-BotId: <bot id>`, which must name the bot we are configured as. Nothing
//! time-related is in a header, so there is no replay window in the scheme itself: the callback's
//! own `issuedTime` is inside the signed body, and [`check_issued`] holds it to the same
//! five-minute window the other schemes use once the front has parsed it. Header names are matched
//! case-insensitively (the vendor says their spelling may change; `HeaderMap` lowercases them).

use super::{VerifyError, bad, header, hmac_sha256};
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};

/// Header carrying the Base64 signature.
pub const SIGNATURE_HEADER: &str = "x-works-signature";
/// Header carrying the bot id the callback is for.
pub const BOT_ID_HEADER: &str = "x-works-botid";

/// Computes the `X-WORKS-Signature` value (Base64 of the 32-byte MAC) for a body.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut m = hmac_sha256(secret.expose_secret().as_bytes());
    m.update(body);
    STANDARD.encode(m.finalize().into_bytes())
}

/// Checks a callback's bot id against `bot_id` and its signature against any of `secrets`.
/// `_now_unix` is unused (nothing time-related is in the headers; see [`check_issued`]) and is
/// taken only so every scheme has the same shape.
pub fn verify_at(
    secrets: &[SecretString],
    bot_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    _now_unix: i64,
) -> Result<(), VerifyError> {
    let keys = super::usable(secrets)?;
    let sig_text = header(headers, SIGNATURE_HEADER)?;
    let bot_text = header(headers, BOT_ID_HEADER)?;
    // The bot id is not secret (it is in every API path), so a plain compare is fine; an empty
    // configured id never matches because `header` refuses empty values.
    if bot_id.trim().is_empty() || bot_text != bot_id.trim() {
        return Err(bad(BOT_ID_HEADER, "does not name the configured bot"));
    }
    let given = decode_mac(sig_text).ok_or(bad(
        SIGNATURE_HEADER,
        "is not the Base64 of a 32-byte HMAC-SHA256",
    ))?;
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

/// Decodes standard, padded Base64 of exactly 32 bytes (44 characters); anything else is `None`.
fn decode_mac(s: &str) -> Option<[u8; 32]> {
    if s.len() != 44 {
        return None;
    }
    let bytes = STANDARD.decode(s).ok()?;
    bytes.try_into().ok()
}

/// Holds a parsed callback's `issuedTime` (RFC 3339, with or without milliseconds) to
/// `|now - issued| <= MAX_SKEW_SECS`, so a captured callback cannot be replayed later.
pub fn check_issued(issued_time: &str, now_unix: i64) -> Result<(), VerifyError> {
    if issued_time.len() > 64 {
        return Err(VerifyError::BadTimestamp);
    }
    let t = chrono::DateTime::parse_from_rfc3339(issued_time.trim())
        .map_err(|_| VerifyError::BadTimestamp)?;
    super::check_window(t.timestamp(), now_unix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{assert_error_is_safe, headers, secrets};

    const SECRET: &str = "example-bot-secret";
    const BOT: &str = "2000001";
    /// V1: a text message to the bot (reference section 1.2).
    const V1_BODY: &str = r#"{"type":"message","source":{"userId":"c72af563-0f21-4736-11e4-045237113344","domainId":40029600},"issuedTime":"2022-01-04T05:16:05.716Z","content":{"type":"text","text":"share img-42"}}"#;
    const V1_SIG: &str = "UKu/U3r3PlmmPFYOllamEiWSeceSUKXTlqjTSiIqrR0=";
    /// V2: a button press in a room, with a postback.
    const V2_BODY: &str = r#"{"type":"message","source":{"userId":"c72af563-0f21-4736-11e4-045237113344","channelId":"12345a12-b12c-12d3-e123fghijkl","domainId":40029600},"issuedTime":"2022-01-04T05:16:05.716Z","content":{"type":"text","text":"Approve","postback":"v1|approve|req_8f2c"}}"#;
    const V2_SIG: &str = "r2ZLHFE8zzn0RqHIUZJySTNMojOnz0zN3N8gTlZh7oQ=";
    /// V3: V1 re-serialized with spaces after separators: a different body, a different MAC.
    const V3_BODY: &str = r#"{"type": "message", "source": {"userId": "c72af563-0f21-4736-11e4-045237113344", "domainId": 40029600}, "issuedTime": "2022-01-04T05:16:05.716Z", "content": {"type": "text", "text": "share img-42"}}"#;
    const V3_SIG: &str = "/0mVuvGvnbCqQ0x0gyAAnV4Xlq2TrSTLM9oSmeNLjO4=";

    fn check(secret_list: &[&str], bot: &str, sig: &str, body: &str) -> Result<(), VerifyError> {
        let h = headers(&[
            ("X-WORKS-Signature", sig.as_bytes()),
            ("X-WORKS-BotId", bot.as_bytes()),
        ]);
        verify_at(&secrets(secret_list), BOT, &h, body.as_bytes(), 0)
    }

    #[test]
    fn the_reference_vectors_sign_and_verify() {
        let secret = SecretString::from(SECRET);
        for (body, sig) in [(V1_BODY, V1_SIG), (V2_BODY, V2_SIG), (V3_BODY, V3_SIG)] {
            assert_eq!(sign(&secret, body.as_bytes()), sig);
            assert_eq!(check(&[SECRET], BOT, sig, body), Ok(()));
        }
    }

    #[test]
    fn a_re_serialized_body_does_not_verify_under_the_original_signature() {
        assert_ne!(V1_SIG, V3_SIG);
        assert_eq!(
            check(&[SECRET], BOT, V1_SIG, V3_BODY),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&[SECRET], BOT, V3_SIG, V1_BODY),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let h = headers(&[
            ("x-works-signature", V1_SIG.as_bytes()),
            ("X-WORKS-botId", BOT.as_bytes()),
        ]);
        assert_eq!(
            verify_at(&secrets(&[SECRET]), BOT, &h, V1_BODY.as_bytes(), 0),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_or_a_wrong_secret_fails() {
        let flipped = V1_BODY.replacen("img-42", "img-43", 1);
        assert_eq!(
            check(&[SECRET], BOT, V1_SIG, &flipped),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&[SECRET], BOT, V1_SIG, &format!("{V1_BODY}\n")),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(&["Example-bot-secret"], BOT, V1_SIG, V1_BODY),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_passes() {
        assert_eq!(check(&["next", SECRET], BOT, V1_SIG, V1_BODY), Ok(()));
        assert_eq!(check(&[SECRET, "previous"], BOT, V2_SIG, V2_BODY), Ok(()));
        assert_eq!(check(&[], BOT, V1_SIG, V1_BODY), Err(VerifyError::NoSecret));
        assert_eq!(
            check(&[""], BOT, V1_SIG, V1_BODY),
            Err(VerifyError::NoSecret)
        );
    }

    #[test]
    fn another_bot_id_is_refused_even_when_signed() {
        let wrong = bad(BOT_ID_HEADER, "does not name the configured bot");
        for other in ["2000002", "20000010", "200000", " 2000001x"] {
            assert_eq!(check(&[SECRET], other, V1_SIG, V1_BODY), Err(wrong.clone()));
        }
        let h = headers(&[
            ("x-works-signature", V1_SIG.as_bytes()),
            ("x-works-botid", BOT.as_bytes()),
        ]);
        assert_eq!(
            verify_at(&secrets(&[SECRET]), "", &h, V1_BODY.as_bytes(), 0),
            Err(wrong)
        );
    }

    #[test]
    fn missing_and_garbage_headers_are_refused() {
        let none = HeaderMap::new();
        assert_eq!(
            verify_at(&secrets(&[SECRET]), BOT, &none, b"{}", 0),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        let only_sig = headers(&[("x-works-signature", V1_SIG.as_bytes())]);
        assert_eq!(
            verify_at(&secrets(&[SECRET]), BOT, &only_sig, b"{}", 0),
            Err(VerifyError::MissingHeader(BOT_ID_HEADER))
        );
        let url_safe = V1_SIG.replace('/', "_").replace('+', "-");
        let unpadded = V1_SIG.trim_end_matches('=');
        let short = &V1_SIG[4..];
        let hex = "50abbf537af73e59a63c560e96566a1224964de79e9250a5d396a8d34a222aad";
        for bad_sig in [url_safe.as_str(), unpadded, short, hex, "garbage", "===="] {
            assert!(
                matches!(
                    check(&[SECRET], BOT, bad_sig, V1_BODY),
                    Err(VerifyError::BadHeader { .. })
                ),
                "{bad_sig}"
            );
        }
        let twice = headers(&[
            ("x-works-signature", V1_SIG.as_bytes()),
            ("x-works-signature", V1_SIG.as_bytes()),
            ("x-works-botid", BOT.as_bytes()),
        ]);
        assert!(matches!(
            verify_at(&secrets(&[SECRET]), BOT, &twice, V1_BODY.as_bytes(), 0),
            Err(VerifyError::BadHeader { .. })
        ));
        let utf8 = headers(&[
            ("x-works-signature", "ü".as_bytes()),
            ("x-works-botid", BOT.as_bytes()),
        ]);
        assert!(matches!(
            verify_at(&secrets(&[SECRET]), BOT, &utf8, b"", 0),
            Err(VerifyError::BadHeader { .. })
        ));
    }

    #[test]
    fn no_error_reveals_the_secret_or_a_signature() {
        let expected_for_tampered = sign(&SecretString::from(SECRET), b"tampered");
        let cases = [
            check(&[SECRET], BOT, V1_SIG, "tampered"),
            check(&[SECRET], BOT, "zz", V1_BODY),
            check(&[SECRET], "9", V1_SIG, V1_BODY),
            check(&[], BOT, V1_SIG, V1_BODY),
            verify_at(&secrets(&[SECRET]), BOT, &HeaderMap::new(), b"", 0),
        ];
        for r in cases {
            assert_error_is_safe(&r.unwrap_err(), &[SECRET, V1_SIG, &expected_for_tampered]);
        }
    }

    #[test]
    fn issued_time_is_held_to_five_minutes_either_way() {
        // 2022-01-04T05:16:05Z
        let issued = 1_641_273_365;
        for (now, ok) in [
            (issued, true),
            (issued + 300, true),
            (issued - 300, true),
            (issued + 301, false),
            (issued - 301, false),
        ] {
            assert_eq!(
                check_issued("2022-01-04T05:16:05.716Z", now).is_ok(),
                ok,
                "{now}"
            );
        }
        // The `join` example has no milliseconds; offsets are RFC 3339 too.
        assert_eq!(check_issued("2022-01-04T05:16:05Z", issued), Ok(()));
        assert_eq!(check_issued("2022-01-04T14:16:05+09:00", issued), Ok(()));
        for bad_time in [
            "",
            "yesterday",
            "2022-01-04",
            "1641273365",
            "2022-01-04 05:16:05",
        ] {
            assert_eq!(
                check_issued(bad_time, issued),
                Err(VerifyError::BadTimestamp),
                "{bad_time}"
            );
        }
        assert_eq!(
            check_issued(&"9".repeat(100), issued),
            Err(VerifyError::BadTimestamp)
        );
    }
}
