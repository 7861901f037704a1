//! The JSON body of a generic-webhook callback: a pure render of a request and a notice, made
//! when the outbox plan writes the entry (so that what is sent is fixed at the state change).
//! Signing and posting it is the webhook courier's (`notify::webhook`).

use crate::domain::ports::notify::Notice;
use crate::domain::{Origin, ShareRequest};
use serde_json::{Value, json};

/// The callback's `type`.
pub const CALLBACK_EVENT: &str = "share.updated";

/// The JSON body of a callback about `notice`.
pub fn callback_body(
    request: &ShareRequest,
    notice: &Notice,
    at: chrono::DateTime<chrono::Utc>,
) -> Value {
    let (system, ticket_id) = match &request.origin {
        Origin::Webhook {
            system, ticket_id, ..
        } => (system.as_str(), ticket_id.as_str()),
        _ => ("", ""),
    };
    let outcome = request.outcome.clone().unwrap_or_default();
    let mut body = json!({
        "type": CALLBACK_EVENT,
        "notice": notice.name(),
        "request_id": request.id.as_str(),
        "ticket": {"system": system, "id": ticket_id},
        "state": request.state.as_str(),
        "image_no": request.image_no.as_str(),
        "action": request.action.as_str(),
        "targets": request.targets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "duration": request.duration.map(|d| d.to_string()),
        "fingerprint": request.fingerprint,
        "rule": request.rule,
        "min_approvals": request.min_approvals,
        "message": outcome.message,
        "ncp_code": outcome.ncp_code,
        "shared_with_after": outcome.shared_with_after,
        "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let Notice::ApprovalAdded(a) | Notice::Denied(a) = notice {
        body["by"] = json!(a.person.as_str());
        if let Some(c) = &a.comment {
            body["reason"] = json!(c);
        }
    }
    body
}
