//! The approver policy: who may ask to share which images with whom, and who must approve.
//!
//! The policy is a TOML file kept in git (format in DESIGN.md §5 and `examples/policy.toml`).
//! [`Policy::from_toml_str`] validates all of it and reports every problem with its line;
//! [`evaluate`] is pure (no I/O, no clock, no error type) and returns a [`Decision`] that carries
//! its reasons. This module knows nothing about HTTP, chat or NCP.

mod evaluate;
mod explain;
mod load;
mod offer;
mod pattern;

pub use evaluate::{Allowed, ClosestRule, Decision, Denied, RequestFacts, evaluate, may_approve};
pub use explain::{check_report, explain};
pub use offer::{FormChoices, FormField, form_choices, form_errors, shareable};
pub use pattern::{Glob, ImagePattern};

// Moved to `domain` (the requests speak them too); re-exported for the old paths.
pub use crate::domain::{Action, Identity, PersonName};
use crate::domain::{ImageNo, ShareDuration};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Someone named in a rule's `requesters` or `approvers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `*`: anyone listed in `[people]` (never someone unknown).
    Anyone,
    /// `group:NAME`: every member of a group.
    Group(String),
    /// A person from `[people]`.
    Person(PersonName),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anyone => f.write_str("*"),
            Self::Group(g) => write!(f, "group:{g}"),
            Self::Person(p) => write!(f, "{p}"),
        }
    }
}

/// Values that apply when a rule does not set its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// How long a request may wait for approval before it expires (default 24h).
    pub request_ttl: ShareDuration,
    /// Whether a requester may approve their own request (default false).
    pub allow_self_approval: bool,
}

/// One `[[rules]]` entry, validated; every name in it refers to a known person or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's unique name, shown in decisions.
    pub name: String,
    /// The line of the rule's `[[rules]]` header, for messages that point into the file.
    pub line: usize,
    /// The actions the rule covers (all three unless the rule lists some).
    pub actions: Vec<Action>,
    /// Images the rule covers; any one matching is enough.
    pub images: Vec<ImagePattern>,
    /// Target login IDs the rule allows; every target of a request must match one.
    pub targets: Vec<Glob>,
    /// Who may ask.
    pub requesters: Vec<Principal>,
    /// Who may approve (empty only for `auto_approve` rules).
    pub approvers: Vec<Principal>,
    /// How many distinct approvers are needed (0 for `auto_approve` rules).
    pub min_approvals: u32,
    /// If set, a share must be time-boxed to at most this long.
    pub max_duration: Option<ShareDuration>,
    /// Whether a request must give a reason (`because ...`).
    pub require_reason: bool,
    /// The Slack channel for the approval card, if the rule names one.
    pub approval_channel: Option<String>,
    /// The NAVER WORKS room (channel id) for the approval message, if the rule names one.
    pub works_channel: Option<String>,
    /// Whether a matching request is approved without anyone approving it.
    pub auto_approve: bool,
    /// The rule's own self-approval setting; `None` falls back to the defaults.
    pub allow_self_approval: Option<bool>,
    /// The rule's own request TTL; `None` falls back to the defaults.
    pub request_ttl: Option<ShareDuration>,
}

/// A loaded and fully validated policy, with the hash of the bytes it came from.
#[derive(Debug, Clone)]
pub struct Policy {
    source_name: String,
    hash: String,
    defaults: Defaults,
    people: BTreeMap<PersonName, Vec<Identity>>,
    groups: BTreeMap<String, Vec<PersonName>>,
    rules: Vec<Rule>,
    accounts: HashMap<Identity, PersonName>,
}

impl Policy {
    /// Where the policy came from (a path or a name given by the caller), used in messages.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// SHA-256 of the policy file's bytes, lowercase hex; the audit ledger records it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `[defaults]` values, with built-in defaults filled in.
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// Every person with their accounts, sorted by name.
    pub fn people(&self) -> &BTreeMap<PersonName, Vec<Identity>> {
        &self.people
    }

    /// Every group with its members, sorted by name.
    pub fn groups(&self) -> &BTreeMap<String, Vec<PersonName>> {
        &self.groups
    }

    /// The rules in file order; the first that matches a request decides it.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The person who owns an account, if the policy knows it.
    pub fn person_for(&self, identity: &Identity) -> Option<&PersonName> {
        self.accounts.get(identity)
    }

    /// Whether any rule covers this image at all (drift detection uses it).
    pub fn covers_image(&self, no: &ImageNo, name: Option<&str>) -> bool {
        self.rules
            .iter()
            .any(|r| r.images.iter().any(|p| p.matches(no, name)))
    }

    /// The distinct people the principals stand for, sorted.
    pub fn expand(&self, principals: &[Principal]) -> BTreeSet<PersonName> {
        let mut out = BTreeSet::new();
        for p in principals {
            match p {
                Principal::Anyone => out.extend(self.people.keys().cloned()),
                Principal::Group(g) => {
                    out.extend(self.groups.get(g).into_iter().flatten().cloned())
                }
                Principal::Person(name) => {
                    out.insert(name.clone());
                }
            }
        }
        out
    }

    /// Whether a person is among the principals.
    pub fn includes(&self, principals: &[Principal], person: &PersonName) -> bool {
        principals.iter().any(|p| match p {
            Principal::Anyone => self.people.contains_key(person),
            Principal::Group(g) => self.groups.get(g).is_some_and(|m| m.contains(person)),
            Principal::Person(name) => name == person,
        })
    }
}

/// "1 person", "2 people": counts in messages read as sentences.
pub(crate) fn people_count(n: usize) -> String {
    if n == 1 {
        "1 person".to_owned()
    } else {
        format!("{n} people")
    }
}

/// One problem in a policy file, with the line it is on when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", self.file, self.line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PolicyError {
    /// The file name or source name the policy was read from.
    pub file: String,
    /// 1-based line in the file, when the problem is at a place in it.
    pub line: Option<usize>,
    /// What is wrong and with what, e.g. `rule "x": unknown group "admins"`.
    pub message: String,
}

#[cfg(test)]
mod tests;
