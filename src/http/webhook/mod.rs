//! The generic signed webhook, for any ticket system (ServiceNow, Zendesk, an internal tool):
//! `POST /webhook/{system}`, one Standard Webhooks secret per system (`[webhook.systems.<name>]
//! secret = "WEBHOOK_SECRET_<NAME>"`), and `POST /webhook`, the same as `POST
//! /webhook/{[webhook] system}` (under `WEBHOOK_SECRET` unless that system has a table of its
//! own). Headers `webhook-id`, `webhook-timestamp`, `webhook-signature`, verified over the raw
//! body under the path's system's secrets only, before anything is parsed; de-duplicated on
//! `webhook-id`. The events and their fields are documented by
//! `schemas/webhook-event.schema.json`.
//!
//! Actors are `<system>:<id>` and are mapped to people by the policy's `[people]`. **A secret
//! speaks for its own system only**: a delivery verified under system X's secret may name X's
//! ticket and X's accounts and nothing else (not another ticket system's, nor `slack`, `jira`,
//! `system` or `cli`, whose front doors verify their identities themselves); anything else is a
//! 403 and nothing is stored. An approval or denial carries the request's fingerprint as the
//! approver saw it, and is refused with 409 when the request binds anything else.

use crate::domain::{ImageNo, LoginId, NoticeFacts, Origin, RequestId, ShareDuration};
use crate::http::ApiError;
use crate::http::AppState;
use crate::notify::webhook::check_callback_url;
use crate::policy::{Action, Identity};
use crate::store::DeliveryKey;
use crate::workflow::{ActOutcome, NewRequest, WorkflowError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a `webhook-id` is remembered.
const DEDUP_TTL: Duration = Duration::from_secs(24 * 3_600);

/// The generic webhook's settings, built once at start.
pub struct WebhookFront {
    /// Each ticket system's Standard Webhooks secrets (more than one during a rotation).
    pub systems: BTreeMap<String, Vec<SecretString>>,
    /// The system `POST /webhook` speaks for (`[webhook] system`).
    pub default_system: Option<String>,
    /// Hosts a `callback_url` may name.
    pub callback_hosts: Vec<String>,
}

/// The ticket a request comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ticket {
    system: String,
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Requested {
    #[serde(rename = "type")]
    _type: String,
    ticket: Ticket,
    requester: String,
    image_no: String,
    #[serde(default)]
    action: Option<String>,
    targets: Vec<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    callback_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Acted {
    #[serde(rename = "type")]
    _type: String,
    request_id: String,
    actor: String,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn bad(why: impl Into<String>) -> ApiError {
    ApiError::BadRequest(why.into())
}

/// Parses `<system>:<id>`, which must be an account of `system`, the one whose secret verified
/// the delivery: a secret speaks for its own system's people only.
fn actor(field: &str, s: &str, system: &str) -> Result<Identity, ApiError> {
    let id = Identity::parse(s).map_err(|e| bad(format!("{field}: {e}")))?;
    if id.system != system {
        return Err(ApiError::Forbidden(format!(
            "{field}: a delivery signed with the secret of {system:?} speaks for {system:?} accounts only (like {system}:abc123), not for {:?}; nothing was done",
            id.system
        )));
    }
    Ok(id)
}

/// `POST /webhook`: the system of `[webhook] system`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let front = state
        .webhook
        .as_ref()
        .ok_or(ApiError::NotConfigured("The generic webhook"))?;
    let system = front.default_system.clone().ok_or(ApiError::NotConfigured(
        "POST /webhook (set [webhook] system, or post to /webhook/<system>)",
    ))?;
    handle(&state, front, &system, headers, body).await
}

/// `POST /webhook/{system}`.
pub async fn webhook_for(
    State(state): State<Arc<AppState>>,
    Path(system): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let front = state
        .webhook
        .as_ref()
        .ok_or(ApiError::NotConfigured("The generic webhook"))?;
    handle(&state, front, &system, headers, body).await
}

async fn handle(
    state: &AppState,
    front: &WebhookFront,
    system: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Only this system's secrets verify at its path: another system's secret is a 401 here.
    let secrets = front.systems.get(system).ok_or(ApiError::NotConfigured(
        "This ticket system ([webhook.systems.<name>])",
    ))?;
    let now = state.clock.now();
    crate::verify::standard_webhooks::verify_at(secrets, &headers, &body, now.timestamp())?;
    let delivery =
        crate::verify::header(&headers, crate::verify::standard_webhooks::ID_HEADER)?.to_string();
    // On the request's span (the router's): every line of this delivery, the answer's
    // included, carries them.
    crate::http::record_delivery(&format!("webhook:{system}:{delivery}"));
    tracing::Span::current().record("system", tracing::field::display(system));

    let value: Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`type` is missing"))?
        .to_string();
    let parsed = match kind.as_str() {
        "share.requested" => Parsed::Requested(Box::new(requested(front, system, value)?)),
        "share.approved" | "share.denied" | "share.cancelled" => {
            let a: Acted =
                serde_json::from_value(value).map_err(|e| bad(format!("{kind}: {e}")))?;
            let id =
                RequestId::parse(&a.request_id).map_err(|e| bad(format!("request_id: {}", e.0)))?;
            let who = actor("actor", &a.actor, system)?;
            if a.reason.is_some() && kind != "share.denied" {
                return Err(bad(format!("{kind}: `reason` is only for share.denied")));
            }
            if a.fingerprint.is_none() && kind != "share.cancelled" {
                return Err(bad(format!(
                    "{kind}: `fingerprint` is missing: send the request's fingerprint as the approver saw it (from the answer to share.requested or a callback)"
                )));
            }
            Parsed::Acted(kind.clone(), id, who, a.reason, a.fingerprint)
        }
        other => {
            return Err(bad(format!(
                "unknown type {:?} (share.requested, share.approved, share.denied or share.cancelled)",
                crate::notify::jira::render::clip(other)
            )));
        }
    };

    let duplicate = || {
        Json(json!({"duplicate": true, "message": "this webhook-id was already received; nothing more was done"})).into_response()
    };
    // A webhook-id is marked delivered only by the transaction that does the event's work: a
    // delivery answered 503 (nothing done) and retried with the same id is processed.
    // Keyed by system too: one system's webhook-ids cannot shadow another's.
    let key = DeliveryKey::new(format!("webhook:{system}:{delivery}"), now, DEDUP_TTL);
    tracing::Span::current().record(
        "event",
        tracing::field::display(crate::domain::truncate_for_display(&kind)),
    );
    let wf = &state.workflow;
    match parsed {
        Parsed::Requested(new) => match wf.submit_once(*new, Some(key)).await {
            Ok(r) => {
                // The policy's decision as every front door states it.
                let f = NoticeFacts::of_state(&r, &[]);
                Ok(Json(json!({
                    "request_id": r.id.as_str(),
                    "state": r.state.as_str(),
                    "fingerprint": r.fingerprint,
                    "rule": f.policy.rule,
                    "approvers": f.policy.approvers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "min_approvals": f.policy.min_approvals,
                    "requester_approval_counts": f.policy.requester_counts,
                    "message": r.outcome.map(|o| o.message).unwrap_or_default(),
                }))
                .into_response())
            }
            Err(WorkflowError::Duplicate) => Ok(duplicate()),
            Err(e) => Err(e.into()),
        },
        Parsed::Acted(kind, id, who, reason, seen) => {
            // The approver decided on what they saw: an approval of anything else is
            // refused before it is counted. A request's bound fields never change after it is
            // made, so this read cannot race with the approval that follows.
            if let Some(seen) = seen
                && let Some(request) = wf.store.request(&id).await?
                && !seen.trim().eq_ignore_ascii_case(&request.fingerprint)
            {
                return Err(ApiError::Conflict(format!(
                    "fingerprint {:?} is not the fingerprint of request {id}: the approver saw a different request; nothing was recorded",
                    crate::notify::jira::render::clip(&seen)
                )));
            }
            let result = match kind.as_str() {
                "share.approved" => wf.approve(&id, &who).await,
                "share.denied" => wf.deny(&id, &who, reason).await,
                _ => wf.cancel(&id, &who).await,
            };
            let outcome = result?;
            // Approving, denying and cancelling are idempotent (one approval per person, state
            // moved by compare-and-swap), so the id is recorded after the work: a retry after a
            // failure is processed, a repeat after a success is answered as one.
            let ttl = (key.until - key.now).to_std().unwrap_or(DEDUP_TTL);
            if !wf.store.first_delivery(&key.key, key.now, ttl).await? {
                return Ok(duplicate());
            }
            Ok(act_response(&id, outcome))
        }
    }
}

enum Parsed {
    Requested(Box<NewRequest>),
    Acted(String, RequestId, Identity, Option<String>, Option<String>),
}

fn requested(front: &WebhookFront, system: &str, value: Value) -> Result<NewRequest, ApiError> {
    let r: Requested =
        serde_json::from_value(value).map_err(|e| bad(format!("share.requested: {e}")))?;
    let ticket_system = Identity::new(&r.ticket.system, "x")
        .map_err(|e| bad(format!("ticket.system: {e}")))?
        .system;
    if ticket_system != system {
        return Err(ApiError::Forbidden(format!(
            "ticket.system: a delivery signed with the secret of {system:?} may only ask for {system:?} tickets, not {ticket_system:?}; nothing was requested"
        )));
    }
    if r.ticket.id.trim().is_empty() || r.ticket.id.len() > 200 {
        return Err(bad("ticket.id must be 1 to 200 characters"));
    }
    let requester = actor("requester", &r.requester, system)?;
    let image_no = ImageNo::parse(&r.image_no).map_err(|e| bad(format!("image_no: {}", e.0)))?;
    let action = match r.action.as_deref().unwrap_or("share") {
        "share" => Action::Share,
        "unshare" => Action::Unshare,
        "set" => Action::Set,
        other => {
            return Err(bad(format!(
                "action: {:?} is not share, unshare or set",
                crate::notify::jira::render::clip(other)
            )));
        }
    };
    let targets = r
        .targets
        .iter()
        .map(|t| LoginId::parse(t).map_err(|e| bad(format!("targets: {}", e.0))))
        .collect::<Result<Vec<_>, _>>()?;
    let duration = r
        .duration
        .as_deref()
        .map(ShareDuration::parse)
        .transpose()
        .map_err(|e| bad(format!("duration: {}", e.0)))?;
    if let Some(url) = &r.callback_url {
        check_callback_url(url, &front.callback_hosts).map_err(bad)?;
    }
    Ok(NewRequest {
        requester,
        origin: Origin::Webhook {
            system: system.to_string(),
            ticket_id: r.ticket.id.trim().to_string(),
            callback_url: r.callback_url,
        },
        image_no,
        action,
        targets,
        duration,
        reason: r.reason,
    })
}

fn act_response(id: &RequestId, outcome: ActOutcome) -> Response {
    let (status, name, state, message) = match &outcome {
        ActOutcome::Counted { request, remaining } => (
            StatusCode::OK,
            "counted",
            Some(request.state),
            format!("approval counted; {remaining} more needed"),
        ),
        ActOutcome::Approved(r) => (
            StatusCode::OK,
            "approved",
            Some(r.state),
            "approved; queued for sharing".into(),
        ),
        ActOutcome::AlreadyCounted(r) => (
            StatusCode::OK,
            "already_counted",
            Some(r.state),
            "this person's approval was already counted".into(),
        ),
        ActOutcome::Denied(r) => (StatusCode::OK, "denied", Some(r.state), "denied".into()),
        ActOutcome::Cancelled(r) => (
            StatusCode::OK,
            "cancelled",
            Some(r.state),
            "cancelled".into(),
        ),
        ActOutcome::NotAllowed(why) => (StatusCode::OK, "not_allowed", None, why.clone()),
        ActOutcome::NotPending(r) => (
            StatusCode::OK,
            "not_pending",
            Some(r.state),
            format!("the request is {}; nothing changed", r.state),
        ),
        ActOutcome::NotFound => (
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            format!("no request {id}"),
        ),
    };
    (
        status,
        Json(json!({
            "request_id": id.as_str(),
            "outcome": name,
            "state": state.map(|s| s.as_str()),
            "message": message,
        })),
    )
        .into_response()
}
