//! What an execution changes on NCP, decided from the request and what NCP holds now. Pure: no
//! store, no NCP, no clock; the orchestrator reads, calls `plan`, and applies what it says.

use crate::domain::{Grant, LoginId, ShareRequest};
use crate::policy::Action;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// The change NCP still needs for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// NCP already holds what the request asks: nothing to call.
    AlreadyInPlace,
    /// Replace the whole share list with these targets (a `set` against an unchanged list).
    Replace(Vec<LoginId>),
    /// Add these targets, then remove those (either may be empty, not both).
    Change {
        /// Targets to add.
        add: Vec<LoginId>,
        /// Targets to remove.
        remove: Vec<LoginId>,
    },
}

/// What to change so that NCP's share list `current` carries out `request`.
pub fn plan(request: &ShareRequest, current: &[String]) -> Plan {
    let current: HashSet<&str> = current.iter().map(String::as_str).collect();
    let change = |add: Vec<LoginId>, remove: Vec<LoginId>| {
        if add.is_empty() && remove.is_empty() {
            Plan::AlreadyInPlace
        } else {
            Plan::Change { add, remove }
        }
    };
    match request.action {
        Action::Share => change(
            request
                .targets
                .iter()
                .filter(|t| !current.contains(t.as_str()))
                .cloned()
                .collect(),
            Vec::new(),
        ),
        Action::Unshare => change(
            Vec::new(),
            request
                .targets
                .iter()
                .filter(|t| current.contains(t.as_str()))
                .cloned()
                .collect(),
        ),
        Action::Set => {
            // Approvers approved a diff against the list they saw. If the list is unchanged
            // since, one `set` makes it exact; if another request changed it meanwhile, only
            // the approved diff is applied, so that nobody else's approved share is lost.
            let (added, removed) = request.set_diff();
            let to_add: Vec<LoginId> = request
                .targets
                .iter()
                .filter(|t| added.iter().any(|a| a == t.as_str()) && !current.contains(t.as_str()))
                .cloned()
                .collect();
            let to_remove: Vec<LoginId> = removed
                .iter()
                .filter(|r| current.contains(r.as_str()))
                .filter_map(|r| LoginId::parse(r).ok())
                .collect();
            if to_add.is_empty() && to_remove.is_empty() {
                return Plan::AlreadyInPlace;
            }
            let when_asked: HashSet<&str> = request
                .shared_with_when_asked
                .iter()
                .map(String::as_str)
                .collect();
            if when_asked == current {
                Plan::Replace(request.targets.clone())
            } else {
                change(to_add, to_remove)
            }
        }
    }
}

/// For a revocation: the grants in force at `now` (not ended, not past their end) among
/// `active` that it does not end, one per target they keep shared.
pub fn kept_by_other_grants(
    request: &ShareRequest,
    active: Vec<Grant>,
    now: DateTime<Utc>,
) -> Vec<Grant> {
    let Some(revocation) = &request.lifecycle.revocation else {
        return Vec::new();
    };
    let mut keep: Vec<Grant> = Vec::new();
    for g in active {
        if request.targets.contains(&g.target)
            && g.in_force_at(now)
            && !revocation.ends.iter().any(|e| e.same_key(&g))
            && !keep.iter().any(|k| k.target == g.target)
        {
            keep.push(g);
        }
    }
    keep
}

/// The request as it is carried out: without the targets another grant keeps shared.
pub fn without_kept(request: &ShareRequest, keep: &[Grant]) -> ShareRequest {
    let mut effective = request.clone();
    effective
        .targets
        .retain(|t| !keep.iter().any(|g| &g.target == t));
    effective
}

/// The login IDs whose grants end because the request takes them off: none for a `share`,
/// every target for an `unshare`, the removed part of the diff for a `set`.
pub fn removed_targets(request: &ShareRequest) -> Vec<String> {
    match request.action {
        Action::Share => Vec::new(),
        Action::Unshare => request
            .targets
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        Action::Set => request.set_diff().1,
    }
}

/// Whether the share list read back is what the request intended; the problem if not.
pub fn confirms(request: &ShareRequest, readback: &[String]) -> Option<String> {
    let now: HashSet<&str> = readback.iter().map(String::as_str).collect();
    let targets: Vec<&str> = request.targets.iter().map(LoginId::as_str).collect();
    match request.action {
        Action::Share => {
            let missing: Vec<&str> = targets
                .iter()
                .copied()
                .filter(|t| !now.contains(t))
                .collect();
            (!missing.is_empty()).then(|| format!("not shared with {}", missing.join(", ")))
        }
        Action::Unshare => {
            let left: Vec<&str> = targets
                .iter()
                .copied()
                .filter(|t| now.contains(t))
                .collect();
            (!left.is_empty()).then(|| format!("still shared with {}", left.join(", ")))
        }
        Action::Set => {
            let (added, removed) = request.set_diff();
            let missing: Vec<&str> = added
                .iter()
                .map(String::as_str)
                .filter(|t| !now.contains(t))
                .collect();
            let left: Vec<&str> = removed
                .iter()
                .map(String::as_str)
                .filter(|t| now.contains(t))
                .collect();
            match (missing.is_empty(), left.is_empty()) {
                (true, true) => None,
                _ => Some(format!(
                    "share list is [{}] (missing: [{}], still present: [{}])",
                    readback.join(", "),
                    missing.join(", "),
                    left.join(", ")
                )),
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
