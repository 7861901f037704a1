//! A share request and its lifecycle: `Pending → Approved → Executing → Succeeded | Failed`,
//! `Pending → Denied | Expired | Cancelled`. Transitions only move forward.

use super::{Action, Hypervisor, Identity, PersonName};
use super::{ImageNo, LoginId, ShareDuration};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The most login IDs one request may name (after duplicates are dropped): what the text
/// command and the request form both accept.
pub const MAX_TARGETS: usize = 50;
/// The longest reason, in characters, the text command and the request form accept.
pub const MAX_REASON_CHARS: usize = 500;

/// A request's id, short enough to type in chat: `SR-` and eight Crockford base-32 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl RequestId {
    /// A fresh random id (40 bits; the store refuses a duplicate, and the caller draws again).
    pub fn random() -> Self {
        let n: u64 = rand::random::<u64>() >> 24;
        let s: String = (0..8)
            .rev()
            .map(|i| CROCKFORD[((n >> (i * 5)) & 31) as usize] as char)
            .collect();
        Self(format!("SR-{s}"))
    }

    /// Parses an id as a person types it (case-insensitive, `SR-` optional).
    pub fn parse(s: &str) -> Result<Self, super::InvalidInput> {
        let t = s.trim().to_ascii_uppercase();
        let body = t.strip_prefix("SR-").unwrap_or(&t);
        if body.len() != 8 || !body.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(super::InvalidInput(format!(
                "`{}` is not a request id (like SR-7K3M9Q2X)",
                super::truncate_for_display(s)
            )));
        }
        Ok(Self(format!("SR-{body}")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id derived from `seed` (the first 40 bits of its SHA-256), so that work the service
    /// makes for itself gets the same id however often it is attempted.
    pub fn derived(seed: &[u8]) -> Self {
        let digest = Sha256::digest(seed);
        let n = digest[..5]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let s: String = (0..8)
            .rev()
            .map(|i| CROCKFORD[((n >> (i * 5)) & 31) as usize] as char)
            .collect();
        Self(format!("SR-{s}"))
    }
}

impl TryFrom<String> for RequestId {
    type Error = super::InvalidInput;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RequestId> for String {
    fn from(v: RequestId) -> Self {
        v.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved; queued for the worker.
    Approved,
    /// The worker is changing NCP.
    Executing,
    /// The change was made and read back.
    Succeeded,
    /// The change could not be made.
    Failed,
    /// The policy or an approver said no.
    Denied,
    /// Nobody approved it in time.
    Expired,
    /// The requester withdrew it.
    Cancelled,
}

impl RequestState {
    /// Every state, for listings and parsing.
    pub const ALL: [RequestState; 8] = [
        Self::Pending,
        Self::Approved,
        Self::Executing,
        Self::Succeeded,
        Self::Failed,
        Self::Denied,
        Self::Expired,
        Self::Cancelled,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the request's life is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Denied | Self::Expired | Self::Cancelled
        )
    }

    /// Whether the lifecycle allows moving from `self` to `next` (only forward).
    pub fn can_move_to(self, next: RequestState) -> bool {
        use RequestState::*;
        matches!(
            (self, next),
            (Pending, Approved | Denied | Expired | Cancelled)
                | (Approved, Executing | Failed)
                | (Executing, Succeeded | Failed)
        )
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RequestState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown state {s:?} (one of {})", names.join(", "))
            })
    }
}

/// Where the request came from, and so where its outcome is posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// The command line (`requests`-style tools and tests).
    Cli,
    /// A Slack slash command in a channel.
    Slack {
        /// The workspace.
        team_id: String,
        /// The channel the command was typed in.
        channel_id: String,
        /// The command's `response_url`, for ephemeral follow-ups (valid 30 minutes).
        response_url: Option<String>,
    },
    /// A Jira issue.
    Jira {
        /// The issue key, like `SHARE-42`.
        issue_key: String,
    },
    /// A message to the NAVER WORKS bot.
    Works {
        /// The sender's `userId` (replies go to them 1:1).
        user_id: String,
    },
    /// A generic signed webhook.
    Webhook {
        /// The sender's system name (`servicenow`).
        system: String,
        /// The ticket id in that system.
        ticket_id: String,
        /// Where results are posted (host checked against the allow-list).
        callback_url: Option<String>,
    },
}

/// What NCP said at the end, or why the request did not get there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// One sentence for people.
    pub message: String,
    /// NCP's code, when NCP refused.
    pub ncp_code: Option<String>,
    /// The share list read back after the change.
    pub shared_with_after: Option<Vec<String>>,
    /// Whether the change was already in place (no NCP change was needed).
    pub already_in_place: bool,
}

/// One request to change an image's share list, bound to exactly what is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRequest {
    /// Its id.
    pub id: RequestId,
    /// Compare-and-swap version, bumped by every stored change.
    pub version: u64,
    /// Where it is in its life.
    pub state: RequestState,
    /// Where it came from.
    pub origin: Origin,
    /// The verified account that asked.
    pub requester: Identity,
    /// The person that account belongs to (when the policy knows it).
    pub requester_person: Option<PersonName>,
    /// The image.
    pub image_no: ImageNo,
    /// The image's name when asked.
    pub image_name: String,
    /// The image's hypervisor when asked.
    pub hypervisor: Option<Hypervisor>,
    /// The NCP region.
    pub region: String,
    /// What to do.
    pub action: Action,
    /// The login IDs.
    pub targets: Vec<LoginId>,
    /// `for <duration>`: the share ends after this.
    pub duration: Option<ShareDuration>,
    /// `because <reason>`.
    pub reason: Option<String>,
    /// For `set`: the share list when asked, so approvers see `+added` and `-removed`.
    pub shared_with_when_asked: Vec<String>,
    /// Hash of the fields that are approved; re-checked before the NCP call.
    pub fingerprint: String,
    /// SHA-256 of the policy file that decided.
    pub policy_hash: String,
    /// The rule that allowed it (none when denied by policy).
    pub rule: Option<String>,
    /// People whose approvals count.
    pub approvers: Vec<PersonName>,
    /// How many distinct people must approve.
    pub min_approvals: u32,
    /// Whether the requester's own approval counts.
    pub allow_self_approval: bool,
    /// Where the Slack approval card goes.
    pub approval_channel: Option<String>,
    /// Where the NAVER WORKS approval message goes (a room's channel id). Absent from the stored
    /// form when unset, so requests stored before it existed read and hash the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub works_channel: Option<String>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// Last stored change.
    pub updated_at: DateTime<Utc>,
    /// A pending request expires at this time.
    pub expires_at: DateTime<Utc>,
    /// Worker attempts so far.
    pub attempts: u32,
    /// How it ended, or why it was refused.
    pub outcome: Option<Outcome>,
    /// The grants a share extends or a revocation ends (absent in records from before it existed).
    #[serde(default, skip_serializing_if = "super::Lifecycle::is_empty")]
    pub lifecycle: super::Lifecycle,
    /// The trace of the delivery that created it ([`super::trace`]): every later line about it,
    /// in any process, names this trace. Absent from requests stored before traces existed
    /// (and a malformed one reads as absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::trace::lenient"
    )]
    pub trace_id: Option<super::TraceId>,
}

impl ShareRequest {
    /// Recomputes the fingerprint from the fields that are approved.
    pub fn computed_fingerprint(&self) -> String {
        fingerprint(
            &self.image_no,
            &self.region,
            self.action,
            &self.targets,
            self.duration,
        )
    }

    /// For `set`: which targets the change adds and which it removes, against the list when asked.
    pub fn set_diff(&self) -> (Vec<String>, Vec<String>) {
        let added = self
            .targets
            .iter()
            .map(|t| t.as_str().to_string())
            .filter(|t| !self.shared_with_when_asked.contains(t))
            .collect();
        let removed = self
            .shared_with_when_asked
            .iter()
            .filter(|s| !self.targets.iter().any(|t| t.as_str() == s.as_str()))
            .cloned()
            .collect();
        (added, removed)
    }

    /// The first 12 characters of the fingerprint, as shown to people.
    pub fn short_fingerprint(&self) -> &str {
        &self.fingerprint[..self.fingerprint.len().min(12)]
    }
}

/// SHA-256 over exactly what is approved: image, region, action, targets (sorted, distinct) and duration.
pub fn fingerprint(
    image_no: &ImageNo,
    region: &str,
    action: Action,
    targets: &[LoginId],
    duration: Option<ShareDuration>,
) -> String {
    let mut sorted: Vec<&str> = targets.iter().map(LoginId::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h = Sha256::new();
    // Length-prefixed fields, so that no two different requests hash the same text.
    for field in [
        "v1",
        image_no.as_str(),
        region,
        action.as_str(),
        &duration
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.update((sorted.len() as u64).to_be_bytes());
    for t in sorted {
        h.update((t.len() as u64).to_be_bytes());
        h.update(t.as_bytes());
    }
    hex::encode(h.finalize())
}

/// One person's approval or denial of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The request.
    pub request_id: RequestId,
    /// The person it counts for.
    pub person: PersonName,
    /// The verified account that clicked.
    pub identity: Identity,
    /// `true` approve, `false` deny.
    pub approve: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// A reason (for denials).
    pub comment: Option<String>,
}

/// One target's access to one image through one request, possibly time-boxed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The image.
    pub image_no: ImageNo,
    /// The account it is shared with.
    pub target: LoginId,
    /// The request that granted it.
    pub request_id: RequestId,
    /// When the share was made.
    pub starts_at: DateTime<Utc>,
    /// When it ends (none: until revoked).
    pub ends_at: Option<DateTime<Utc>>,
    /// When it was revoked or ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A request as an adapter parsed it from a verified payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewRequest {
    /// The verified account that asked.
    pub requester: Identity,
    /// Where it came from (and where the outcome goes).
    pub origin: Origin,
    /// The image.
    pub image_no: ImageNo,
    /// What to do.
    pub action: Action,
    /// The login IDs.
    pub targets: Vec<LoginId>,
    /// `for <duration>`.
    pub duration: Option<ShareDuration>,
    /// `because <reason>`.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_parse_back() {
        for _ in 0..100 {
            let id = RequestId::random();
            assert_eq!(id.as_str().len(), 11);
            assert_eq!(RequestId::parse(id.as_str()).unwrap(), id);
            assert_eq!(
                RequestId::parse(&id.as_str()[3..].to_lowercase()).unwrap(),
                id
            );
        }
        assert!(RequestId::parse("SR-123").is_err());
        assert!(RequestId::parse("SR-0123456U").is_err());
    }

    #[test]
    fn transitions_only_move_forward() {
        use RequestState::*;
        assert!(Pending.can_move_to(Approved));
        assert!(Approved.can_move_to(Executing));
        assert!(Executing.can_move_to(Succeeded));
        assert!(!Succeeded.can_move_to(Executing));
        assert!(!Approved.can_move_to(Pending));
        assert!(!Denied.can_move_to(Approved));
        assert!(!Expired.can_move_to(Approved));
        assert!(!Pending.can_move_to(Executing));
    }

    #[test]
    fn the_fingerprint_binds_every_approved_field() {
        let no = ImageNo::parse("1234567").unwrap();
        let a = LoginId::parse("a@x.example").unwrap();
        let b = LoginId::parse("b@x.example").unwrap();
        let d7 = ShareDuration::parse("7d").ok();
        let base = fingerprint(&no, "KR", Action::Share, &[a.clone(), b.clone()], d7);
        assert_eq!(
            base,
            fingerprint(&no, "KR", Action::Share, &[b.clone(), a.clone()], d7)
        );
        for other in [
            fingerprint(
                &ImageNo::parse("1234568").unwrap(),
                "KR",
                Action::Share,
                &[a.clone(), b.clone()],
                d7,
            ),
            fingerprint(&no, "JPN", Action::Share, &[a.clone(), b.clone()], d7),
            fingerprint(&no, "KR", Action::Set, &[a.clone(), b.clone()], d7),
            fingerprint(&no, "KR", Action::Share, std::slice::from_ref(&a), d7),
            fingerprint(&no, "KR", Action::Share, &[a.clone(), b.clone()], None),
            fingerprint(
                &no,
                "KR",
                Action::Share,
                &[a, b],
                ShareDuration::parse("8d").ok(),
            ),
        ] {
            assert_ne!(base, other);
        }
    }
}
