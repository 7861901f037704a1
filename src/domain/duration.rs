//! Durations written the way people write them in chat and in policy files: `30m`, `24h`, `7d`, `2w`.

use super::InvalidInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A positive span of time, at most ten years, written as a number and a unit (`s`, `m`, `h`, `d`, `w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShareDuration {
    secs: u64,
}

const MAX_SECS: u64 = 10 * 366 * 24 * 3600;

impl ShareDuration {
    /// Builds a duration from whole seconds; zero and more than ten years are refused.
    pub fn from_secs(secs: u64) -> Result<Self, InvalidInput> {
        if secs == 0 || secs > MAX_SECS {
            return Err(InvalidInput(format!(
                "a duration must be more than 0 and at most 10 years (got {secs} seconds)"
            )));
        }
        Ok(Self { secs })
    }

    /// Parses `<number><unit>`, several of them concatenated (`1d12h`) are summed.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let input = s.trim();
        let bad = || {
            InvalidInput(format!(
                "`{}` is not a duration (use a number and a unit: 30m, 24h, 7d, 2w)",
                super::truncate_for_display(input)
            ))
        };
        if input.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut rest = input;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let mult = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            total = total
                .checked_add(n.checked_mul(mult).ok_or_else(bad)?)
                .ok_or_else(bad)?;
            rest = &rest[digits + unit.len_utf8()..];
        }
        Self::from_secs(total)
    }

    /// The duration in whole seconds.
    pub fn as_secs(self) -> u64 {
        self.secs
    }

    /// The duration as a `chrono::Duration`, for arithmetic on timestamps.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.secs as i64)
    }
}

impl fmt::Display for ShareDuration {
    /// Prints the largest unit up to days that divides it exactly (`7d`, `36h`, `90m`): people
    /// write `7d` and `14d` far more often than `1w`, so weeks are read but never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        let (n, u) = if s % 86_400 == 0 {
            (s / 86_400, "d")
        } else if s % 3600 == 0 {
            (s / 3600, "h")
        } else if s % 60 == 0 {
            (s / 60, "m")
        } else {
            (s, "s")
        };
        write!(f, "{n}{u}")
    }
}

impl TryFrom<String> for ShareDuration {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ShareDuration> for String {
    fn from(d: ShareDuration) -> Self {
        d.to_string()
    }
}

impl std::str::FromStr for ShareDuration {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<u64>) {
        assert_eq!(
            ShareDuration::parse(input).ok().map(ShareDuration::as_secs),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn parses_human_durations() {
        check("30m", Some(1800));
        check("24h", Some(86_400));
        check("7d", Some(604_800));
        check("2w", Some(1_209_600));
        check("1d12h", Some(129_600));
        check(" 90s ", Some(90));
        check("", None);
        check("0d", None);
        check("7", None);
        check("d", None);
        check("7y", None);
        check("-1d", None);
        check("99999999999d", None);
        check("5000w", None);
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        for (i, o) in [
            ("7d", "7d"),
            ("2w", "14d"),
            ("36h", "36h"),
            ("90m", "90m"),
            ("24h", "1d"),
            ("61s", "61s"),
        ] {
            assert_eq!(ShareDuration::parse(i).unwrap().to_string(), o);
        }
    }
}
