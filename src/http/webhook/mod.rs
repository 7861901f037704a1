//! The generic signed webhook: `POST /webhook`, for any ticket system (ServiceNow, Zendesk, an
//! internal tool). Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`) under `WEBHOOK_SECRET`, verified over the raw body before anything is
//! parsed; de-duplicated on `webhook-id`. The events and their fields are documented by
//! `schemas/webhook-event.schema.json`.
//!
//! Actors are `<system>:<id>` and are mapped to people by the policy's `[people]`. The sender
//! speaks for its own users only: the names Slack and Jira identities use (`slack`, `jira`) and
//! the service's own (`system`, `cli`) are refused, because those front doors verify their
//! identities themselves.

use crate::app::AppState;
use crate::domain::{ImageNo, LoginId, Origin, RequestId, ShareDuration};
use crate::http::ApiError;
use crate::notify::webhook::check_callback_url;
use crate::policy::{Action, Identity};
use crate::store::DeliveryKey;
use crate::workflow::{ActOutcome, NewRequest, WorkflowError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// How long a `webhook-id` is remembered.
const DEDUP_TTL: Duration = Duration::from_secs(24 * 3_600);
/// System names a webhook may not speak for.
const RESERVED_SYSTEMS: &[&str] = &["slack", "jira", "system", "cli"];

/// The generic webhook's settings, built once at start.
pub struct WebhookFront {
    /// Standard Webhooks secrets; more than one during a rotation.
    pub secrets: Vec<SecretString>,
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
    reason: Option<String>,
}

fn bad(why: impl Into<String>) -> ApiError {
    ApiError::BadRequest(why.into())
}

/// Parses `<system>:<id>` and refuses the systems other front doors verify.
fn actor(field: &str, s: &str) -> Result<Identity, ApiError> {
    let id = Identity::parse(s).map_err(|e| bad(format!("{field}: {e}")))?;
    if RESERVED_SYSTEMS.contains(&id.system.as_str()) {
        return Err(bad(format!(
            "{field}: the system {:?} cannot be used through the webhook; name the ticket system's own account (like servicenow:abc123)",
            id.system
        )));
    }
    Ok(id)
}

/// `POST /webhook`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let front = state
        .webhook
        .as_ref()
        .ok_or(ApiError::NotConfigured("The generic webhook"))?;
    let now = state.clock.now();
    crate::verify::standard_webhooks::verify_at(&front.secrets, &headers, &body, now.timestamp())?;
    let delivery =
        crate::verify::header(&headers, crate::verify::standard_webhooks::ID_HEADER)?.to_string();

    let value: Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`type` is missing"))?
        .to_string();
    let parsed = match kind.as_str() {
        "share.requested" => Parsed::Requested(Box::new(requested(front, value)?)),
        "share.approved" | "share.denied" | "share.cancelled" => {
            let a: Acted =
                serde_json::from_value(value).map_err(|e| bad(format!("{kind}: {e}")))?;
            let id =
                RequestId::parse(&a.request_id).map_err(|e| bad(format!("request_id: {}", e.0)))?;
            let who = actor("actor", &a.actor)?;
            if a.reason.is_some() && kind != "share.denied" {
                return Err(bad(format!("{kind}: `reason` is only for share.denied")));
            }
            Parsed::Acted(kind.clone(), id, who, a.reason)
        }
        other => {
            return Err(bad(format!(
                "unknown type {:?} (share.requested, share.approved, share.denied or share.cancelled)",
                crate::notify::jira::render::clip(other)
            )));
        }
    };

    let span = tracing::info_span!("webhook", delivery = %delivery, event = %kind);
    let duplicate = || {
        Json(json!({"duplicate": true, "message": "this webhook-id was already received; nothing more was done"})).into_response()
    };
    // A webhook-id is marked delivered only by the transaction that does the event's work: a
    // delivery answered 503 (nothing done) and retried with the same id is processed.
    let key = DeliveryKey::new(format!("webhook:{delivery}"), now, DEDUP_TTL);
    let wf = &state.workflow;
    // `instrument`, not a span guard: a guard held across an await attaches the wrong context.
    async {
        match parsed {
            Parsed::Requested(new) => match wf.submit_once(*new, Some(key)).await {
                Ok(r) => Ok(Json(json!({
                    "request_id": r.id.as_str(),
                    "state": r.state.as_str(),
                    "fingerprint": r.fingerprint,
                    "rule": r.rule,
                    "approvers": r.approvers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "min_approvals": r.min_approvals,
                    "message": r.outcome.map(|o| o.message).unwrap_or_default(),
                }))
                .into_response()),
                Err(WorkflowError::Invalid(why)) => Err(bad(why)),
                Err(WorkflowError::Store(e)) => Err(e.into()),
                Err(WorkflowError::Duplicate) => Ok(duplicate()),
                Err(e @ WorkflowError::Ncp(_)) => Err(ApiError::Unavailable(format!(
                    "{e}; nothing was requested: send the event again (the same webhook-id is fine)"
                ))),
            },
            Parsed::Acted(kind, id, who, reason) => {
                let result = match kind.as_str() {
                    "share.approved" => wf.approve(&id, &who).await,
                    "share.denied" => wf.deny(&id, &who, reason).await,
                    _ => wf.cancel(&id, &who).await,
                };
                let outcome = result.map_err(|e| match e {
                    WorkflowError::Store(s) => ApiError::from(s),
                    other => ApiError::Unavailable(other.to_string()),
                })?;
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
    .instrument(span)
    .await
}

enum Parsed {
    Requested(Box<NewRequest>),
    Acted(String, RequestId, Identity, Option<String>),
}

fn requested(front: &WebhookFront, value: Value) -> Result<NewRequest, ApiError> {
    let r: Requested =
        serde_json::from_value(value).map_err(|e| bad(format!("share.requested: {e}")))?;
    let system = Identity::new(&r.ticket.system, "x")
        .map_err(|e| bad(format!("ticket.system: {e}")))?
        .system;
    if r.ticket.id.trim().is_empty() || r.ticket.id.len() > 200 {
        return Err(bad("ticket.id must be 1 to 200 characters"));
    }
    let requester = actor("requester", &r.requester)?;
    if requester.system != system {
        return Err(bad(format!(
            "requester: the account must be of the ticket's system {system:?}"
        )));
    }
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
            system,
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
