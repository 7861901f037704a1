//! Who asks and approves, and what a request does: the names the policy, the requests and the
//! ledger share.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The name of a person in the policy's `[people]` table; approvals are counted per person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonName(pub(crate) String);

impl PersonName {
    /// The name as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One account of a person in one system (`slack:U012ALICE`, `jira:5b10ac8d...`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The system, lowercase (`slack`, `jira`, `servicenow`, ...).
    pub system: String,
    /// The account id in that system, compared exactly.
    pub id: String,
}

impl Identity {
    /// Builds an identity, lowercasing the system name; both parts must be non-empty and plain.
    pub fn new(system: &str, id: &str) -> Result<Self, String> {
        let system = system.to_ascii_lowercase();
        if system.is_empty()
            || !system
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "{system:?} is not a system name (use letters, digits, `_` or `-`, like `slack`)"
            ));
        }
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{:?} is not an account id (it must be non-empty, without white space)",
                crate::domain::truncate_for_display(id)
            ));
        }
        Ok(Self {
            system,
            id: id.to_owned(),
        })
    }

    /// Parses `SYSTEM:ID`, like `slack:U123`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (system, id) = s.split_once(':').ok_or_else(|| {
            format!(
                "{:?} is not an identity (expected SYSTEM:ID, like slack:U012ALICE)",
                crate::domain::truncate_for_display(s)
            )
        })?;
        Self::new(system, id)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.system, self.id)
    }
}

/// What a request does to an image's share list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Add targets to the share list.
    Share,
    /// Remove targets from the share list.
    Unshare,
    /// Make the share list exactly the targets.
    Set,
}

impl Action {
    /// The lowercase name used in the policy file and in chat.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Share => "share",
            Self::Unshare => "unshare",
            Self::Set => "set",
        }
    }

    /// Whether the action can give an account access, so time limits apply to it.
    pub(crate) fn grants_access(self) -> bool {
        matches!(self, Self::Share | Self::Set)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "share" => Ok(Self::Share),
            "unshare" => Ok(Self::Unshare),
            "set" => Ok(Self::Set),
            other => Err(format!(
                "unknown action {:?} (use share, unshare or set)",
                crate::domain::truncate_for_display(other)
            )),
        }
    }
}
