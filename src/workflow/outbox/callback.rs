//! The JSON body of a generic-webhook callback: a pure render of a notice's [`NoticeFacts`],
//! made when the outbox plan writes the entry (so that what is sent is fixed at the state
//! change). Signing and posting it is the webhook courier's (`notify::webhook`).
//!
//! It states the same facts every chat front door states, as data: the rule, whose approvals
//! count and how many, whether the requester's own counts, the approvals so far by the
//! policy's names, what comes next. Words people typed (a denial's reason) are sent inert.

use crate::domain::ports::notify::Notice;
use crate::domain::{Next, NoticeFacts, Origin};
use serde_json::{Value, json};

/// The callback's `type`.
pub const CALLBACK_EVENT: &str = "share.updated";

/// What comes next, as the callback's `next`.
fn next(n: Next) -> &'static str {
    match n {
        Next::Approve => "approve",
        Next::Wait => "wait",
        Next::Nothing => "nothing",
        Next::AskAgain => "ask_again",
        Next::AskBefore(_) => "ask_before_the_end",
    }
}

fn names(people: &[crate::domain::PersonName]) -> Vec<&str> {
    people.iter().map(|p| p.as_str()).collect()
}

/// The JSON body of a callback about a notice.
pub fn callback_body(facts: &NoticeFacts, at: chrono::DateTime<chrono::Utc>) -> Value {
    let f = facts;
    let request = f.request();
    let (system, ticket_id) = match &request.origin {
        Origin::Webhook {
            system, ticket_id, ..
        } => (system.as_str(), ticket_id.as_str()),
        _ => ("", ""),
    };
    let outcome = request.outcome.clone().unwrap_or_default();
    let mut body = json!({
        "type": CALLBACK_EVENT,
        "notice": f.notice().name(),
        "request_id": request.id.as_str(),
        "ticket": {"system": system, "id": ticket_id},
        "state": request.state.as_str(),
        "requester": f.requester,
        "image_no": request.image_no.as_str(),
        "action": request.action.as_str(),
        "targets": request.targets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "duration": request.duration.map(|d| d.to_string()),
        "fingerprint": request.fingerprint,
        "policy_hash": f.policy.policy_hash,
        "rule": f.policy.rule,
        "approvers": names(&f.policy.approvers),
        "min_approvals": f.policy.min_approvals,
        "requester_approval_counts": f.policy.requester_counts,
        "approved_by": names(&f.progress.approved_by),
        "remaining": f.progress.remaining(),
        "next": next(f.next),
        "message": outcome.message,
        "ncp_code": outcome.ncp_code,
        "shared_with_after": outcome.shared_with_after,
        "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    match f.notice() {
        Notice::ApprovalAdded(a) => body["by"] = json!(a.person.as_str()),
        Notice::Denied(_) => {
            if let Some(d) = &f.denial {
                body["by"] = json!(d.by.as_str());
                if let Some(c) = &d.comment {
                    body["reason"] = json!(c.as_str());
                }
            }
        }
        Notice::ShareEndingSoon { ends_at, .. } => {
            body["ends_at"] = json!(ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        _ => {}
    }
    body
}
