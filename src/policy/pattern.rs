//! Patterns for images and target login IDs.
//!
//! Only `*` is special (any run of characters, also none), and matching ignores ASCII case for
//! the whole pattern: login IDs are e-mail addresses whose domain part is case-insensitive, and a
//! policy that allowed `a@Partner.example` but refused `a@partner.example` would only surprise.
//! No other wildcard exists, so a literal `?` or `[` in a login ID needs no escaping.

use crate::domain::ImageNo;
use std::fmt;

/// A `*` glob, matched against the whole text, ignoring ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// Accepts any non-empty pattern without white space or control characters.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("a pattern cannot be empty".into());
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("pattern {s:?} contains white space"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Whether the whole of `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        // Bytes, not chars: with `*` as the only wildcard, byte-wise matching gives the same
        // answer for UTF-8 text (a literal multi-byte character must match all its bytes), and
        // it allocates nothing, which matters when a request is checked against many rules.
        let (pat, text) = (self.0.as_bytes(), text.as_bytes());
        // Greedy scan that remembers the last `*`; on a mismatch the star swallows one more
        // byte and the scan resumes. Linear in practice, quadratic at worst, never exponential.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            if p < pat.len() && pat[p] == b'*' {
                star = Some((p, t));
                p += 1;
            } else if p < pat.len() && pat[p].eq_ignore_ascii_case(&text[t]) {
                p += 1;
                t += 1;
            } else if let Some((sp, st)) = star {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        pat[p..].iter().all(|&c| c == b'*')
    }

    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which images a rule is about: one image number exactly, or image names by glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePattern {
    /// `no:1234567`: exactly this image number.
    No(ImageNo),
    /// `name:golden-*`: images whose name matches; never an image whose name is unknown.
    Name(Glob),
}

impl ImagePattern {
    /// Parses `no:DIGITS` or `name:GLOB`, saying what is wrong with anything else.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(digits) = s.strip_prefix("no:") {
            ImageNo::parse(digits)
                .ok()
                .filter(|_| digits.trim() == digits)
                .map(Self::No)
                .ok_or_else(|| format!("image pattern {s:?}: `no:` must be followed by digits"))
        } else if let Some(glob) = s.strip_prefix("name:") {
            Glob::parse(glob)
                .map(Self::Name)
                .map_err(|e| format!("image pattern {s:?}: {e}"))
        } else if s.is_empty() {
            Err("an image pattern cannot be empty".into())
        } else {
            Err(format!(
                "image pattern {s:?} must start with `no:` (an image number) or `name:` (a name glob)"
            ))
        }
    }

    /// Whether an image matches; an unknown name can only match a `no:` pattern.
    pub fn matches(&self, no: &ImageNo, name: Option<&str>) -> bool {
        match self {
            Self::No(n) => n == no,
            Self::Name(g) => name.is_some_and(|name| g.matches(name)),
        }
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::No(n) => write!(f, "no:{n}"),
            Self::Name(g) => write!(f, "name:{g}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, text: &str, expected: bool) {
        let g = Glob::parse(pattern).unwrap();
        assert_eq!(g.matches(text), expected, "{pattern:?} against {text:?}");
    }

    #[test]
    fn globs_match_the_whole_text_with_star_as_any_run() {
        check("*@partner.example", "a@partner.example", true);
        check("*@partner.example", "@partner.example", true);
        check("*@partner.example", "a@partner.example.evil", false);
        check("*@partner.example", "a@evilpartner.example", false);
        check("*@PARTNER.example", "A@partner.EXAMPLE", true);
        check("a*b*c", "aXXbYYc", true);
        check("a*b*c", "aXXbYY", false);
        check("*", "", true);
        check("**", "anything", true);
        check("exact@x.example", "exact@x.example", true);
        check("exact@x.example", "exact@x.examplex", false);
        check("a?b", "aXb", false);
        check("a?b", "a?b", true);
        check("*a*a*a*a*a*b", &"a".repeat(200), false);
    }

    #[test]
    fn image_patterns_are_no_or_name() {
        let no = ImageNo::parse("1234567").unwrap();
        let p = ImagePattern::parse("no:1234567").unwrap();
        assert!(p.matches(&no, None));
        assert!(!p.matches(&ImageNo::parse("123456").unwrap(), Some("x")));
        let p = ImagePattern::parse("name:golden-*").unwrap();
        assert!(p.matches(&no, Some("golden-2024")));
        assert!(!p.matches(&no, Some("sandbox-1")));
        assert!(!p.matches(&no, None));
        for bad in [
            "", "no:", "no:12a", "no: 12", "name:", "name:a b", "id:1", "1234567",
        ] {
            assert!(
                ImagePattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
