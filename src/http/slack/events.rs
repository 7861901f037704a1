//! `POST /slack/events` (the Events API: `url_verification` when the URL is set up, and
//! `app_home_opened`) and `POST /slack/options` (the options load URL of the form's image
//! picker). Both verified like the other Slack routes, over the raw body, before parsing.

use super::interaction::Suggestion;
use super::{DEDUP_TTL, first, front, modal, verified};
use crate::domain::CatalogImage;
use crate::http::{ApiError, AppState};
use crate::notify::slack::views;
use crate::policy::Identity;
use crate::store::DeliveryKey;
use crate::workflow::outbox::Message;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// Slack's limit on the options of one answer.
const MAX_OPTIONS: usize = 100;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
    event: Option<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    user: Option<String>,
    tab: Option<String>,
}

/// `POST /slack/events`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = front(&state)?;
    verified(&state, slack, &headers, &body)?;
    let envelope: Envelope = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a Slack event: {e}")))?;
    match envelope.kind.as_str() {
        "url_verification" => {
            let challenge = envelope
                .challenge
                .filter(|c| {
                    !c.is_empty() && c.len() <= 256 && c.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    ApiError::BadRequest("url_verification without a usable challenge".into())
                })?;
            Ok(Json(serde_json::json!({ "challenge": challenge })).into_response())
        }
        "event_callback" => {
            let event = envelope
                .event
                .ok_or_else(|| ApiError::BadRequest("event_callback without an event".into()))?;
            if event.kind != "app_home_opened" || event.tab.as_deref() != Some("home") {
                // Subscribed to nothing else; anything more is acknowledged and left alone.
                return Ok(().into_response());
            }
            let user = super::form::slack_id("event.user", event.user)?;
            let event_id = envelope
                .event_id
                .filter(|id| !id.is_empty() && id.len() <= 64)
                .ok_or_else(|| ApiError::BadRequest("event_callback without an event_id".into()))?;
            // Slack retries an event it thinks failed: the event id makes it once.
            let key = DeliveryKey::new(
                format!("slack-event:{event_id}"),
                state.clock.now(),
                DEDUP_TTL,
            );
            crate::http::record_delivery(&key.key);
            if first(&state, &key).await? {
                state
                    .workflow
                    .owe(vec![Message::SlackHome { user }])
                    .await?;
            }
            Ok(().into_response())
        }
        // `app_rate_limited` and envelopes Slack may add later: well formed, nothing to do.
        other => {
            tracing::debug!(kind = %crate::domain::truncate_for_display(other), "Slack event envelope ignored");
            Ok(().into_response())
        }
    }
}

/// `POST /slack/options`: the images the person may share under the policy, filtered by what
/// they typed, from the catalog the worker refreshes (never a live NCP call per keystroke).
pub async fn options(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = front(&state)?;
    verified(&state, slack, &headers, &body)?;
    let ask = Suggestion::parse(&body)?;
    if ask.action_id != views::IMAGE {
        return Ok(Json(serde_json::json!({ "options": [] })).into_response());
    }
    let actor = Identity::new("slack", &ask.user_id).map_err(ApiError::BadRequest)?;
    let policy = state.workflow.policy.current();
    let catalog = modal::catalog(slack).await;
    let typed = ask.value.trim();
    let mut offered: Vec<(crate::domain::ImageNo, String)> = match &catalog {
        Some(c) => {
            let mine = crate::policy::shareable(&policy, &actor, &c.images);
            crate::domain::filter_images(mine, typed, MAX_OPTIONS)
                .into_iter()
                .map(|i: &CatalogImage| (i.no.clone(), i.name.clone()))
                .collect()
        }
        None => Vec::new(),
    };
    // A number the catalog does not know yet (an image made since the last refresh, or no
    // catalog at all) is offered as typed: the submission looks it up on NCP and checks it.
    // Not while it is still the start of a number the catalog offers.
    if let Ok(no) = crate::domain::ImageNo::parse(typed)
        && !offered.iter().any(|(n, _)| n.as_str().starts_with(typed))
        && catalog.as_ref().is_none_or(|c| c.get(&no).is_none())
        && offered.len() < MAX_OPTIONS
    {
        offered.push((no, "not in the image list yet".into()));
    }
    Ok(Json(views::image_options(
        offered.iter().map(|(no, name)| (no, name.as_str())),
    ))
    .into_response())
}
