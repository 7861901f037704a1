//! What a finished execution says: the outcome people read, the ledger record's detail, the
//! grants a share starts and the notices of the shares a revocation ended. Pure: every value the
//! text needs (the time, the share list read back, the grants ended) is an argument.

use crate::audit::AuditEvent;
use crate::domain::ports::notify::{GrantsEnded, Notice};
use crate::domain::{Grant, LoginId, Outcome, ShareRequest};
use crate::policy::Action;
use chrono::{DateTime, Utc};

/// How an execution ends: what the request keeps as its outcome, and its ledger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Stored on the request.
    pub outcome: Outcome,
    /// The ledger event (`Succeeded`, `Revoked` or `Failed`).
    pub event: AuditEvent,
    /// The ledger record's detail.
    pub detail: String,
}

/// A failed execution: `message` is both the outcome and the ledger detail.
pub fn failed(message: String, ncp_code: Option<String>) -> Ending {
    Ending {
        outcome: Outcome {
            message: message.clone(),
            ncp_code,
            shared_with_after: None,
            already_in_place: false,
        },
        event: AuditEvent::Failed,
        detail: message,
    }
}

/// The grants a `share` or `set` starts at `now`, one per target.
pub fn grants(request: &ShareRequest, now: DateTime<Utc>) -> Vec<Grant> {
    request
        .targets
        .iter()
        .map(|target| Grant {
            image_no: request.image_no.clone(),
            target: target.clone(),
            request_id: request.id.clone(),
            starts_at: now,
            ends_at: request.duration.map(|d| now + d.to_chrono()),
            ended_at: None,
        })
        .collect()
}

fn until(request: &ShareRequest, now: DateTime<Utc>) -> Option<String> {
    request.duration.map(|d| {
        format!(
            "until {}",
            (now + d.to_chrono()).format("%Y-%m-%d %H:%M UTC")
        )
    })
}

/// A `share` or `set` that succeeded at `now`, with the share list read back, whether NCP
/// already held it, and the grants of targets it took off.
pub fn shared(
    request: &ShareRequest,
    shared_with: &[String],
    already: bool,
    ended: &[Grant],
    now: DateTime<Utc>,
) -> Ending {
    let verb = if request.action == Action::Set {
        "share list set to"
    } else {
        "shared with"
    };
    let targets = request
        .targets
        .iter()
        .map(LoginId::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!(
        "image {} {verb} {targets}{}{}",
        request.image_no,
        until(request, now)
            .map(|u| format!(" {u}"))
            .unwrap_or_default(),
        if already {
            " (already in place on NCP)"
        } else {
            ""
        }
    );
    let until = until(request, now).unwrap_or_else(|| "until revoked".into());
    let grants: Vec<String> = request
        .targets
        .iter()
        .map(|t| {
            let extends: Vec<String> = request
                .lifecycle
                .extends
                .iter()
                .filter(|g| &g.target == t)
                .map(|g| format!("extends {}'s", g.request_id))
                .collect();
            if extends.is_empty() {
                format!("{t} {until}")
            } else {
                format!("{t} {until} ({})", extends.join(", "))
            }
        })
        .collect();
    let mut detail = format!(
        "{message}; share list now: [{}]; grants: {}",
        shared_with.join(", "),
        grants.join("; ")
    );
    if !ended.is_empty() {
        detail.push_str(&format!("; grants ended: {}", describe_grants(ended)));
    }
    Ending {
        outcome: succeeded(message, shared_with, already),
        event: AuditEvent::Succeeded,
        detail,
    }
}

/// An `unshare` (a revocation, or one approved through the policy) that succeeded, with the
/// share list read back, whether NCP had already dropped the targets, the grants that keep
/// some targets shared, and the grants it ended.
pub fn revoked(
    request: &ShareRequest,
    shared_with: &[String],
    already: bool,
    keep: &[Grant],
    ended: &[Grant],
) -> Ending {
    let removed: Vec<&str> = request
        .targets
        .iter()
        .filter(|t| !keep.iter().any(|k| &k.target == *t))
        .map(LoginId::as_str)
        .collect();
    let mut message = if removed.is_empty() {
        format!("nothing removed from image {}", request.image_no)
    } else {
        format!(
            "image {} unshared from {}",
            request.image_no,
            removed.join(", ")
        )
    };
    for k in keep {
        message.push_str(&format!(
            "; {} stays shared: the grant of {} {} still covers it",
            k.target,
            k.request_id,
            k.ends_at
                .map(|e| format!("until {}", e.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_else(|| "with no end".into())
        ));
    }
    if already && !removed.is_empty() {
        message.push_str(" (already removed on NCP)");
    }
    let cause = request
        .lifecycle
        .revocation
        .as_ref()
        .map(|r| r.cause.as_str())
        .unwrap_or("unshare approved through the policy");
    let detail = format!(
        "{message}; cause: {cause}; grants ended: {}; share list now: [{}]",
        if ended.is_empty() {
            "none".to_string()
        } else {
            describe_grants(ended)
        },
        shared_with.join(", ")
    );
    Ending {
        outcome: succeeded(message, shared_with, already),
        event: AuditEvent::Revoked,
        detail,
    }
}

fn succeeded(message: String, shared_with: &[String], already: bool) -> Outcome {
    Outcome {
        message,
        ncp_code: None,
        shared_with_after: Some(shared_with.to_vec()),
        already_in_place: already,
    }
}

/// "a@x.example (SR-…), ..." for ledger details.
pub fn describe_grants(grants: &[Grant]) -> String {
    grants
        .iter()
        .map(|g| format!("{} ({})", g.target, g.request_id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A request whose grants an execution ended: the targets taken off and the ones kept
/// (because another grant covers them).
#[derive(Debug, Clone)]
pub struct EndedOf {
    /// The request that made the grants.
    pub original: ShareRequest,
    /// Targets no longer shared.
    pub removed: Vec<LoginId>,
    /// Targets another grant keeps shared.
    pub kept: Vec<LoginId>,
}

impl EndedOf {
    /// Sorts `original`'s grants among `ended` into removed and kept.
    pub fn new(original: ShareRequest, ended: &[Grant], keep: &[Grant]) -> Self {
        let (mut removed, mut kept) = (Vec::new(), Vec::new());
        for g in ended.iter().filter(|g| g.request_id == original.id) {
            if keep.iter().any(|k| k.target == g.target) {
                kept.push(g.target.clone());
            } else {
                removed.push(g.target.clone());
            }
        }
        Self {
            original,
            removed,
            kept,
        }
    }
}

/// The `ShareEnded` notices of the requests whose grants `by` ended.
pub fn ended_notices(by: &ShareRequest, ended: &[EndedOf]) -> Vec<(ShareRequest, Notice)> {
    ended
        .iter()
        .map(|e| {
            (
                e.original.clone(),
                Notice::ShareEnded(GrantsEnded {
                    by_request: by.id.clone(),
                    // People by their policy names; a system actor (the scheduler) has none.
                    actor: crate::domain::notice::person_or_account(
                        by.requester_person.as_ref(),
                        &by.requester,
                    ),
                    cause: by.lifecycle.revocation.as_ref().map(|r| r.cause),
                    removed: e.removed.clone(),
                    kept: e.kept.clone(),
                }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{at, grant, list, request};
    use super::*;
    use crate::domain::{Revocation, RevocationCause, ShareDuration};

    #[test]
    fn a_share_says_what_was_shared_until_when_and_whether_it_was_in_place() {
        let mut timed = request(Action::Share, "a b", "");
        timed.duration = Some(ShareDuration::parse("2h").unwrap());
        let mut extending = request(Action::Share, "a", "");
        extending.lifecycle.extends = vec![grant("a", "SR-BBBBBBBB", Some(12), None)];
        // (request, list read back, already in place, outcome message, ledger detail)
        let cases = [
            (
                timed,
                "a b",
                false,
                "image 1234567 shared with a@x.example, b@x.example until 2025-03-01 12:00 UTC",
                "; share list now: [a@x.example, b@x.example]; grants: \
                 a@x.example until 2025-03-01 12:00 UTC; b@x.example until 2025-03-01 12:00 UTC",
            ),
            (
                request(Action::Set, "a", "a c"),
                "a",
                true,
                "image 1234567 share list set to a@x.example (already in place on NCP)",
                "; share list now: [a@x.example]; grants: a@x.example until revoked",
            ),
            (
                extending,
                "a",
                false,
                "image 1234567 shared with a@x.example",
                "; share list now: [a@x.example]; grants: a@x.example until revoked \
                 (extends SR-BBBBBBBB's)",
            ),
        ];
        for (r, readback, already, message, detail) in cases {
            let ending = shared(&r, &list(readback), already, &[], at(10));
            assert_eq!(ending.event, AuditEvent::Succeeded);
            assert_eq!(ending.outcome.message, message);
            assert_eq!(ending.detail, format!("{message}{detail}"));
            assert_eq!(ending.outcome.shared_with_after, Some(list(readback)));
            assert_eq!(ending.outcome.already_in_place, already);
        }
    }

    #[test]
    fn a_revocation_names_what_it_removed_what_stays_and_why() {
        let ended = grant("a", "SR-AAAAAAAA", Some(10), None);
        let mut r = request(Action::Unshare, "a b", "");
        r.lifecycle.revocation = Some(Revocation {
            cause: RevocationCause::Expired,
            ends: vec![ended.clone()],
        });
        let keep = [grant("b", "SR-BBBBBBBB", None, None)];
        let ending = revoked(&r, &list("b"), false, &keep, &[ended]);
        assert_eq!(ending.event, AuditEvent::Revoked);
        assert_eq!(
            ending.outcome.message,
            "image 1234567 unshared from a@x.example; b@x.example stays shared: \
             the grant of SR-BBBBBBBB with no end still covers it"
        );
        assert_eq!(
            ending.detail,
            format!(
                "{}; cause: {}; grants ended: a@x.example (SR-AAAAAAAA); share list now: [b@x.example]",
                ending.outcome.message,
                RevocationCause::Expired.as_str()
            )
        );

        let policy = request(Action::Unshare, "a", "");
        let ending = revoked(&policy, &list(""), true, &[], &[]);
        assert_eq!(
            ending.detail,
            "image 1234567 unshared from a@x.example (already removed on NCP); \
             cause: unshare approved through the policy; grants ended: none; share list now: []"
        );
    }

    #[test]
    fn a_failure_is_its_message_with_no_share_list() {
        let ending = failed("NCP change failed: denied".into(), Some("1300".into()));
        assert_eq!(ending.event, AuditEvent::Failed);
        assert_eq!(ending.detail, "NCP change failed: denied");
        assert_eq!(ending.outcome.ncp_code.as_deref(), Some("1300"));
        assert_eq!(ending.outcome.shared_with_after, None);
    }
}
