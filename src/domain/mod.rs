//! Validated domain values, parsed once at the edge.
//!
//! Past the edge, an [`ImageNo`] is always digits and a [`LoginId`] is always safe to put on
//! the wire (after percent-encoding) and into a chat message.

pub mod catalog;
mod duration;
mod hypervisor;
pub mod lifecycle;
pub mod notice;
mod people;
pub mod ports;
pub mod quote;
pub mod request;
pub mod retry;
pub mod trace;

pub use catalog::{CatalogImage, ImageCatalog, filter_images};
pub use duration::ShareDuration;
pub use hypervisor::Hypervisor;
pub use lifecycle::{DriftFinding, DriftKind, Lifecycle, Revocation, RevocationCause};
pub use notice::{Denial, Next, NoticeFacts, PolicyFacts, Progress};
pub use people::{Action, Identity, PersonName};
pub use quote::{Quoted, inert};
pub use request::{
    Approval, Grant, MAX_REASON_CHARS, MAX_TARGETS, NewRequest, Origin, Outcome, RequestId,
    RequestState, ShareRequest,
};
pub use retry::RetryPolicy;
pub use trace::{SpanId, TraceId, TraceParent};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a piece of request data was refused; the text is shown to the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// An NCP server image number (`memberServerImageInstanceNo` or `serverImageNo`): 1 to 19 digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageNo(String);

impl ImageNo {
    /// Parses an image number, refusing anything that is not 1 to 19 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput(format!(
                "`{}` is not an image number (expected 1 to 19 digits, like 1234567)",
                truncate_for_display(s)
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The digits as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ImageNo {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ImageNo> for String {
    fn from(v: ImageNo) -> Self {
        v.0
    }
}

impl fmt::Display for ImageNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ImageNo {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The longest login ID we accept; NCP login IDs are e-mail addresses (at most 254 characters).
pub const MAX_LOGIN_ID_CHARS: usize = 254;

/// An NCP login ID of another account (the e-mail address it logs in with), the target of a share.
///
/// NCP does not publish its own rules, so we accept what could plausibly be a login ID and refuse
/// what could never be one or could confuse a reader: control characters, leading or trailing
/// white space, commas (our list separator), angle brackets and backticks (chat markup), and
/// anything longer than 254 characters. Characters such as `+`, `&`, `=`, `%` and non-ASCII
/// letters are allowed and are percent-encoded on the wire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginId(String);

impl LoginId {
    /// Parses a login ID, saying exactly why one is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let shown = truncate_for_display(s);
        if s.is_empty() {
            return Err(InvalidInput("a login ID cannot be empty".into()));
        }
        if s.chars().count() > MAX_LOGIN_ID_CHARS {
            return Err(InvalidInput(format!(
                "login ID `{shown}` is longer than {MAX_LOGIN_ID_CHARS} characters"
            )));
        }
        if s.trim() != s {
            return Err(InvalidInput(format!(
                "login ID `{shown}` starts or ends with white space"
            )));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_control() || matches!(c, ',' | '<' | '>' | '`'))
        {
            return Err(InvalidInput(format!(
                "login ID `{shown}` contains the character {c:?}, which a login ID cannot have"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The login ID as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LoginId {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<LoginId> for String {
    fn from(v: LoginId) -> Self {
        v.0
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for LoginId {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Cuts user input to a length that is safe to echo back in an error message.
pub(crate) fn truncate_for_display(s: &str) -> String {
    const MAX: usize = 64;
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if cleaned.chars().count() > MAX {
        let mut t: String = cleaned.chars().take(MAX).collect();
        t.push('…');
        t
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_numbers_are_digits_only() {
        assert_eq!(ImageNo::parse("1234567").unwrap().as_str(), "1234567");
        assert_eq!(ImageNo::parse(" 42 ").unwrap().as_str(), "42");
        for bad in ["", "12a", "-1", "1 2", "12345678901234567890", "１２"] {
            assert!(ImageNo::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn awkward_but_plausible_login_ids_are_accepted() {
        for ok in [
            "alice@partner.example",
            "a+b@x.example",
            "a&b=c%d@x.example",
            "with space@x.example",
            "모두@회사.한국",
        ] {
            assert_eq!(LoginId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn login_ids_that_could_confuse_are_refused() {
        for bad in [
            "", " lead@x", "trail@x ", "a,b@x", "a\nb@x", "<@U123>", "`x`",
        ] {
            assert!(LoginId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(LoginId::parse(&"a".repeat(255)).is_err());
    }

    #[test]
    fn errors_never_echo_control_characters_or_huge_input() {
        let err = LoginId::parse(&format!("{}\u{7}", "x".repeat(500))).unwrap_err();
        assert!(err.0.len() < 200, "{}", err.0);
        assert!(!err.0.contains('\u{7}'));
    }
}
