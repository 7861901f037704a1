//! NAVER WORKS: `POST /works/callback`, the bot's callback (API 2.0, `reference/naver-works.md`
//! section 1). Verified over the raw body first (`X-WORKS-Signature`, `X-WORKS-BotId`), its
//! `issuedTime` held to five minutes and the body de-duplicated, then parsed.
//!
//! - A text message 1:1 to the bot is a command in the `/share-image` grammar (without the
//!   slash command's name); texts in rooms are chatter and are ignored.
//! - A button press (`content.postback` of a `message` event, or `data` of a `postback` event)
//!   `v1|approve|<id>|<fp>` or `v1|deny|…` counts only in the request's own room
//!   (`works_channel`) and only while the card's fingerprint is the request's. The button's text
//!   never counts: anyone can type "Approve".
//! - `begin` (the 1:1 room opens) and the menu's `v1|new` answer with the usage.
//!
//! Identity is the signed callback's `source.userId` (`works:<userId>`, mapped to a person by the
//! policy's `[people]`). NAVER WORKS takes only a 200 and never re-delivers a callback, so every
//! answer to a person goes through the outbox (`Message::WorksSay`, and the workflow's own
//! notices), and the callback is answered 200 as soon as the work is stored.

use crate::domain::{Origin, RequestId};
use crate::http::slack::command::{self, SlackCommand};
use crate::http::slack::replies;
use crate::http::{ApiError, AppState};
use crate::notify::works::render;
use crate::policy::{Action, Identity};
use crate::store::DeliveryKey;
use crate::workflow::outbox::{Message, WorksTo};
use crate::workflow::{NewRequest, WorkflowError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a submission may work before the callback is answered and the outbox takes over.
const ACK_BUDGET: Duration = Duration::from_millis(2_500);
/// How long a callback's body hash is remembered for de-duplication (more than the window).
const DEDUP_TTL: Duration = Duration::from_secs(3_600);

/// The NAVER WORKS front door's settings, built once at start.
pub struct WorksFront {
    /// The bot id `X-WORKS-BotId` must name.
    pub bot_id: String,
    /// Bot Secrets; more than one during a rotation.
    pub bot_secrets: Vec<SecretString>,
}

/// The callback envelope: only what we use; anything else in it is ignored.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    source: Source,
    #[serde(rename = "issuedTime")]
    issued_time: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Source {
    #[serde(rename = "userId", default)]
    user_id: Option<String>,
    #[serde(rename = "channelId", default)]
    channel_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Content {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    postback: Option<String>,
}

const NOT_A_PERSON: &str = "Your NAVER WORKS account is not one of the people in the approver policy, so this service cannot act for you. Ask whoever keeps the policy to add `works = \"<your userId>\"` to your entry in [people]. Nothing was done.";
const TOO_LONG: &str = "That message is too long to be a command. Nothing was done.";
const WRONG_ROOM: &str =
    "Approvals of this request count only in its approvers' room. Nothing changed.";
const STALE_CARD: &str = "This approval message is out of date: the request has changed since it was sent. Nothing changed.";
const UNKNOWN_BUTTON: &str = "That button is not one this service knows. Nothing was done.";

/// The usage for NAVER WORKS: the slash command's, typed without the command's name.
fn usage() -> String {
    command::USAGE
        .replace("/share-image help", "help")
        .replace("/share-image ", "")
        .replace('`', "")
        .replace('•', "-")
}

/// `POST /works/callback`.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let works = state
        .works
        .as_ref()
        .ok_or(ApiError::NotConfigured("NAVER WORKS"))?;
    let now = state.clock.now();
    crate::verify::works::verify_at(
        &works.bot_secrets,
        &works.bot_id,
        &headers,
        &body,
        now.timestamp(),
    )?;
    let event: Envelope = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "not a NAVER WORKS callback ({})",
            match e.classify() {
                serde_json::error::Category::Data => "a field is missing or of the wrong type",
                _ => "not JSON",
            }
        ))
    })?;
    crate::verify::works::check_issued(&event.issued_time, now.timestamp())?;
    let key = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&body);
        DeliveryKey::new(format!("works:{}", hex::encode(digest)), now, DEDUP_TTL)
    };
    crate::http::record_delivery(&key.key);
    let Some(user_id) = event
        .source
        .user_id
        .clone()
        .filter(|u| !u.trim().is_empty())
    else {
        // join, leave, joined, left: nothing to do.
        return Ok(().into_response());
    };
    let actor = Identity::new("works", &user_id).map_err(ApiError::BadRequest)?;
    let press = match (event.kind.as_str(), &event.content, &event.data) {
        ("message", Some(c), _) if c.kind == "text" => c.postback.clone(),
        ("postback", _, Some(data)) => Some(data.clone()),
        ("begin", _, _) => Some("v1|new".into()),
        ("message", _, _) | ("postback", _, _) => {
            // Stickers, images, files, locations: nothing to do.
            return Ok(().into_response());
        }
        // Unknown event types may be added by NAVER WORKS later.
        _ => return Ok(().into_response()),
    };
    let channel = event.source.channel_id.clone();
    match press {
        Some(p) => on_press(&state, actor, &user_id, channel.as_deref(), &p, &key).await,
        None if channel.is_some() => Ok(().into_response()),
        None => {
            let text = event
                .content
                .as_ref()
                .and_then(|c| c.text.clone())
                .unwrap_or_default();
            on_text(&state, actor, &user_id, &text, key).await
        }
    }
}

/// Owes `text` to the user 1:1, and answers the callback.
async fn say(state: &AppState, user_id: &str, text: String) -> Result<Response, ApiError> {
    state
        .workflow
        .owe(vec![Message::WorksSay {
            to: WorksTo::User(user_id.to_owned()),
            text,
        }])
        .await?;
    Ok(().into_response())
}

/// Records the delivery; `Ok(false)` for a repeat.
async fn first(state: &AppState, key: &DeliveryKey) -> Result<bool, ApiError> {
    let ttl = (key.until - key.now).to_std().unwrap_or(DEDUP_TTL);
    Ok(state
        .workflow
        .store
        .first_delivery(&key.key, key.now, ttl)
        .await?)
}

fn plain(s: String) -> String {
    s.replace(['*', '`'], "")
}

async fn on_press(
    state: &AppState,
    actor: Identity,
    user_id: &str,
    channel: Option<&str>,
    postback: &str,
    key: &DeliveryKey,
) -> Result<Response, ApiError> {
    if postback == "v1|new" {
        return say(state, user_id, usage()).await;
    }
    let wf = &state.workflow;
    if wf.policy.current().person_for(&actor).is_none() {
        return say(state, user_id, NOT_A_PERSON.into()).await;
    }
    let Some(press) = render::parse_postback(postback) else {
        return say(state, user_id, UNKNOWN_BUTTON.into()).await;
    };
    let Ok(id) = RequestId::parse(&press.request_id) else {
        return say(state, user_id, UNKNOWN_BUTTON.into()).await;
    };
    let Some(request) = wf.store.request(&id).await? else {
        return say(
            state,
            user_id,
            replies::act_outcome(&crate::workflow::ActOutcome::NotFound),
        )
        .await;
    };
    if request.works_channel.is_none() || request.works_channel.as_deref() != channel {
        return say(state, user_id, WRONG_ROOM.into()).await;
    }
    if request.short_fingerprint() != press.fingerprint {
        return say(state, user_id, STALE_CARD.into()).await;
    }
    if !first(state, key).await? {
        return Ok(().into_response());
    }
    let outcome = if press.approve {
        wf.approve(&id, &actor).await?
    } else {
        wf.deny(&id, &actor, None).await?
    };
    // The room hears about a press that counted through the workflow's notices; the presser
    // gets what happened, late presses included ("already approved", "already denied").
    say(state, user_id, plain(replies::act_outcome(&outcome))).await
}

async fn on_text(
    state: &Arc<AppState>,
    actor: Identity,
    user_id: &str,
    text: &str,
    key: DeliveryKey,
) -> Result<Response, ApiError> {
    if text.chars().count() > command::MAX_TEXT_CHARS {
        return say(state, user_id, TOO_LONG.into()).await;
    }
    let wf = &state.workflow;
    let parsed = match command::parse(text) {
        Ok(c) => c,
        Err(e) => return say(state, user_id, format!("{e}\n\n{}", usage())).await,
    };
    if matches!(parsed, SlackCommand::Help) {
        return say(state, user_id, usage()).await;
    }
    if wf.policy.current().person_for(&actor).is_none() {
        return say(state, user_id, NOT_A_PERSON.into()).await;
    }
    let (action, image, targets, duration, reason) = match parsed {
        SlackCommand::Share {
            image,
            targets,
            duration,
            reason,
        } => (Action::Share, image, targets, duration, reason),
        SlackCommand::Revoke {
            image,
            targets,
            reason,
        } => (Action::Unshare, image, targets, None, reason),
        SlackCommand::Set {
            image,
            targets,
            reason,
        } => (Action::Set, image, targets, None, reason),
        SlackCommand::Help => return say(state, user_id, usage()).await,
        SlackCommand::Status(id) => {
            crate::http::record_request(&id);
            let answer = match wf.store.request(&id).await? {
                Some(r) => {
                    crate::workflow::trace::follow(&r);
                    replies::status_plain(&r, &wf.store.approvals(&id).await?)
                }
                None => format!("No request {id}."),
            };
            return say(state, user_id, answer).await;
        }
        SlackCommand::List(image) => {
            let answer = match tokio::time::timeout(ACK_BUDGET, wf.cloud.image(&image)).await {
                Ok(Ok(view)) => plain(replies::share_list(
                    &view,
                    &wf.store.active_grants(&image).await?,
                )),
                Ok(Err(e)) => format!("Could not read image {image} from NCP: {e}"),
                Err(_) => "NCP is slow to answer; try again in a moment.".into(),
            };
            return say(state, user_id, answer).await;
        }
        SlackCommand::Approve(_) | SlackCommand::Deny { .. } | SlackCommand::Cancel(_)
            if !first(state, &key).await? =>
        {
            return Ok(().into_response());
        }
        SlackCommand::Approve(id) => {
            let outcome = wf.approve(&id, &actor).await?;
            return say(state, user_id, plain(replies::act_outcome(&outcome))).await;
        }
        SlackCommand::Deny { id, reason } => {
            let outcome = wf.deny(&id, &actor, reason).await?;
            return say(state, user_id, plain(replies::act_outcome(&outcome))).await;
        }
        SlackCommand::Cancel(id) => {
            let outcome = wf.cancel(&id, &actor).await?;
            return say(state, user_id, plain(replies::act_outcome(&outcome))).await;
        }
    };
    let new = NewRequest {
        requester: actor,
        origin: Origin::Works {
            user_id: user_id.to_owned(),
        },
        image_no: image,
        action,
        targets,
        duration,
        reason,
    };
    // The requester hears that it is stored (or refused) from the workflow's own notice; only
    // what stops a submission before it is stored is said here.
    match tokio::time::timeout(ACK_BUDGET, wf.submit_once(new.clone(), Some(key.clone()))).await {
        Ok(Ok(_)) | Ok(Err(WorkflowError::Duplicate)) => Ok(().into_response()),
        Ok(Err(WorkflowError::Invalid(why))) => {
            say(state, user_id, format!("{why}\n\n{}", usage())).await
        }
        Ok(Err(WorkflowError::Ncp(e))) => {
            say(
                state,
                user_id,
                format!(
                    "Nothing was requested: NCP could not be asked about the image ({e}). Try again in a moment."
                ),
            )
            .await
        }
        Ok(Err(e @ WorkflowError::Store(_))) => Err(e.into()),
        Err(_) => {
            wf.owe(vec![Message::Submit {
                new: Box::new(new),
                delivery: key.key,
                until: key.until,
            }])
            .await?;
            say(
                state,
                user_id,
                "Working on it: NCP is slow to answer. You will hear the result here.".into(),
            )
            .await
        }
    }
}
