//! The life of a share after it is made: which grants a request extends or ends, and what
//! reconciliation with NCP found (drift).

use super::{Grant, ImageNo, RequestId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Links from a request to grants: the ones a share extends, or the ones a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifecycle {
    /// For a share: the active grants its targets had when it was asked; executing it adds a
    /// new grant next to each, which is how a share is extended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extends: Vec<Grant>,
    /// Set on a revocation that the service made or allowed without the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
}

impl Lifecycle {
    /// Whether there is nothing to say (the stored JSON leaves the field out).
    pub fn is_empty(&self) -> bool {
        self.extends.is_empty() && self.revocation.is_none()
    }
}

/// A revocation: the worker ends `ends` and removes a target only when no other active grant
/// (one that is neither ended nor past its end) still covers it, so overlapping grants never
/// cancel each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Why the service revokes.
    pub cause: RevocationCause,
    /// The grants it ends (empty for the clean-up of shares no grant covers).
    pub ends: Vec<Grant>,
}

/// Why a revocation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationCause {
    /// The grants' time ran out (the sweep).
    Expired,
    /// Their requester or one of their rule's approvers revoked them.
    Revoked,
    /// `reconcile --revoke-unmanaged` removes shares no grant covers.
    Unmanaged,
}

impl RevocationCause {
    /// A few words for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "the share's time ran out",
            Self::Revoked => "revoked",
            Self::Unmanaged => "no grant covered the share (drift clean-up)",
        }
    }
}

impl Grant {
    /// Whether two grants are the same record: image, target and request.
    pub fn same_key(&self, other: &Grant) -> bool {
        self.image_no == other.image_no
            && self.target == other.target
            && self.request_id == other.request_id
    }

    /// Whether the grant still gives access at `now`: not ended, and not past its end.
    pub fn in_force_at(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.ends_at.is_none_or(|end| end > now)
    }
}

/// One difference between NCP's live share list and the active grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftFinding {
    /// The image.
    pub image_no: ImageNo,
    /// Its name on NCP.
    pub image_name: String,
    /// The account, as NCP or the grant names it.
    pub target: String,
    /// What is wrong.
    pub kind: DriftKind,
}

/// The kinds of drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DriftKind {
    /// NCP shares the image with the target but no active grant covers it (made in the console,
    /// or left by a failure).
    Unmanaged,
    /// An active grant says the target has access but NCP does not share the image with it.
    MissingOnNcp {
        /// The request whose grant it is.
        request_id: RequestId,
    },
}

impl fmt::Display for DriftFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let image = if self.image_name.is_empty() {
            self.image_no.to_string()
        } else {
            format!("{} ({})", self.image_no, self.image_name)
        };
        match &self.kind {
            DriftKind::Unmanaged => write!(
                f,
                "image {image} is shared with {} on NCP, but no active grant covers it",
                self.target
            ),
            DriftKind::MissingOnNcp { request_id } => write!(
                f,
                "grant of {request_id} says image {image} is shared with {}, but NCP does not share it",
                self.target
            ),
        }
    }
}
