//! Signature checks for inbound deliveries: Slack (v0), Jira (`X-Hub-Signature`), Standard
//! Webhooks (`v1`) and NAVER WORKS (`X-WORKS-Signature`). See `reference/webhooks.md` sections
//! 1.4, 2.2 and 4, and `reference/naver-works.md` section 1.2.
//!
//! Every scheme has the same shape: `verify_at(secrets, headers, body, now_unix)` runs over the
//! raw bytes of the body, before anything parses them, with the clock passed in so tests can pin
//! it (NAVER WORKS also takes the bot id its `X-WORKS-BotId` must name). Several secrets mean a rotation in progress: a delivery signed with any one of them passes.
//! Comparisons are constant-time, and no error ever carries a secret, a header value or the MAC
//! we expected, so errors are safe to log.

pub mod jira;
pub mod slack;
pub mod standard_webhooks;
pub mod works;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The longest header value we read; real signature headers are under 100 bytes, and a Standard
/// Webhooks list of a dozen signatures still fits.
pub const MAX_HEADER_BYTES: usize = 1024;

/// How far (in seconds, either way) a signed timestamp may be from our clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a delivery was refused. Messages say what is wrong and never include a secret, a header
/// value or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("header `{0}` is missing")]
    MissingHeader(&'static str),
    /// A header is present but unusable (repeated, too long, not ASCII, or not in its format).
    #[error("header `{header}` {problem}")]
    BadHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it, in a few words.
        problem: &'static str,
    },
    /// The timestamp header is not a whole number of Unix seconds.
    #[error("the timestamp is not a whole number of Unix seconds")]
    BadTimestamp,
    /// The timestamp is outside the window; positive skew means it lies in the past.
    #[error(
        "the timestamp is {skew_secs} s away from now (older if positive); at most {MAX_SKEW_SECS} s either way is accepted"
    )]
    Stale {
        /// `now - timestamp`, in seconds.
        skew_secs: i64,
    },
    /// No configured secret produced the signature that was sent.
    #[error("the signature does not match")]
    BadSignature,
    /// No usable (non-empty) secret is configured, so nothing can be verified.
    #[error("no signing secret is configured")]
    NoSecret,
    /// A configured secret cannot be turned into a key (e.g. `whsec_` followed by non-Base64).
    #[error("a configured signing secret is malformed: {0}")]
    BadSecret(&'static str),
}

/// Reads one header as ASCII text, refusing a repeated, oversized or non-ASCII value.
pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(VerifyError::MissingHeader(name))?;
    if values.next().is_some() {
        // Two signature headers would let a proxy and the origin disagree about which one counts.
        return Err(bad(name, "is repeated"));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(bad(name, "is too long"));
    }
    // `to_str` refuses anything but visible ASCII (and tabs), so no UTF-8 or control bytes pass.
    let text = value.to_str().map_err(|_| bad(name, "is not ASCII"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(bad(name, "is empty"));
    }
    Ok(text)
}

pub(crate) fn bad(header: &'static str, problem: &'static str) -> VerifyError {
    VerifyError::BadHeader { header, problem }
}

/// Parses Unix seconds written as plain ASCII digits (no sign, no spaces, at most 12 digits).
pub(crate) fn parse_unix_secs(s: &str) -> Result<i64, VerifyError> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    s.parse().map_err(|_| VerifyError::BadTimestamp)
}

/// Accepts `|now - ts| <= MAX_SKEW_SECS`: exactly 300 s passes, 301 s fails, in both directions.
pub(crate) fn check_window(ts: i64, now_unix: i64) -> Result<(), VerifyError> {
    let skew_secs = now_unix.saturating_sub(ts);
    if skew_secs.unsigned_abs() > MAX_SKEW_SECS.unsigned_abs() {
        return Err(VerifyError::Stale { skew_secs });
    }
    Ok(())
}

/// The configured secrets that can be used as keys; an empty secret is never one, because a MAC
/// under an empty key is something anybody can compute.
pub(crate) fn usable(secrets: &[SecretString]) -> Result<Vec<&str>, VerifyError> {
    let keys: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose_secret())
        .filter(|s| !s.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    Ok(keys)
}

/// An HMAC-SHA256 instance keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Decodes exactly 64 lowercase hex digits into 32 bytes; anything else is `None`.
pub(crate) fn decode_lower_hex_32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
pub(crate) mod test_support {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use secrecy::SecretString;

    /// Builds a header map from name/value pairs (values as raw bytes, so tests can send junk).
    pub fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    /// Secrets from plain strings.
    pub fn secrets(s: &[&str]) -> Vec<SecretString> {
        s.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    /// True when `s` holds something that looks like a MAC: a long run of hex or Base64.
    pub fn looks_like_a_mac(s: &str) -> bool {
        let longest = |ok: fn(char) -> bool| {
            s.split(|c: char| !ok(c))
                .map(|run| run.len())
                .max()
                .unwrap_or(0)
        };
        longest(|c| c.is_ascii_hexdigit()) >= 16
            || longest(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')) >= 24
    }

    /// Asserts that an error's text reveals none of the given secrets or signatures.
    pub fn assert_error_is_safe(err: &super::VerifyError, forbidden: &[&str]) {
        let text = format!("{err} / {err:?}");
        for f in forbidden {
            assert!(!text.contains(f), "{text:?} reveals {f:?}");
        }
        assert!(
            !looks_like_a_mac(&text),
            "{text:?} looks like it holds a MAC"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn the_window_is_inclusive_at_300_seconds_both_ways() {
        for (ts, ok) in [
            (1000, true),
            (700, true),
            (1300, true),
            (699, false),
            (1301, false),
        ] {
            assert_eq!(check_window(ts, 1000).is_ok(), ok, "ts {ts}");
        }
        assert_eq!(
            check_window(699, 1000),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            check_window(1301, 1000),
            Err(VerifyError::Stale { skew_secs: -301 })
        );
        assert!(check_window(i64::MIN, i64::MAX).is_err());
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_unix_secs("1531420618"), Ok(1_531_420_618));
        for bad in ["", "-1", "+1", " 1", "1.5", "1e9", "9999999999999", "１２"] {
            assert_eq!(
                parse_unix_secs(bad),
                Err(VerifyError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn headers_must_be_single_short_and_ascii() {
        let h = headers(&[("x-a", b"ok"), ("x-b", b"one"), ("x-b", b"two")]);
        assert_eq!(header(&h, "x-a"), Ok("ok"));
        assert_eq!(header(&h, "x-c"), Err(VerifyError::MissingHeader("x-c")));
        assert_eq!(header(&h, "x-b"), Err(bad("x-b", "is repeated")));
        let long = vec![b'a'; MAX_HEADER_BYTES + 1];
        let h = headers(&[("x-a", &long), ("x-u", "é".as_bytes()), ("x-e", b"  ")]);
        assert_eq!(header(&h, "x-a"), Err(bad("x-a", "is too long")));
        assert_eq!(header(&h, "x-u"), Err(bad("x-u", "is not ASCII")));
        assert_eq!(header(&h, "x-e"), Err(bad("x-e", "is empty")));
    }

    #[test]
    fn empty_secrets_are_never_keys() {
        assert_eq!(usable(&[]), Err(VerifyError::NoSecret));
        assert_eq!(usable(&secrets(&["", ""])), Err(VerifyError::NoSecret));
        assert_eq!(usable(&secrets(&["", "k"])).unwrap(), vec!["k"]);
    }

    #[test]
    fn only_lowercase_hex_of_the_right_length_decodes() {
        let lower = "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert!(decode_lower_hex_32(lower).is_some());
        assert!(decode_lower_hex_32(&lower.to_uppercase()).is_none());
        assert!(decode_lower_hex_32(&lower[1..]).is_none());
        assert!(decode_lower_hex_32(&format!("{lower}00")).is_none());
        assert!(decode_lower_hex_32(&lower.replace('a', "g")).is_none());
    }

    #[test]
    fn the_mac_detector_used_by_the_safety_tests_works() {
        assert!(looks_like_a_mac("v0=a2114d57b48eac39b9ad"));
        assert!(looks_like_a_mac(
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!looks_like_a_mac(
            "header `x-slack-request-timestamp` is missing"
        ));
    }
}
