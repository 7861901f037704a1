//! Slack: `POST /slack/commands` (the `/share-image` slash command) and `POST /slack/interactions`
//! (Approve and Deny buttons). Verified over the raw body first, de-duplicated, then parsed.

pub mod command;
pub mod events;
pub mod form;
pub mod home;
pub mod interaction;
mod modal;
pub mod replies;
pub mod settings;

use crate::domain::{NoticeFacts, Origin, RequestId};
use crate::http::ApiError;
use crate::http::AppState;
use crate::notify::slack::render;
use crate::policy::{Action, Identity};
use crate::store::DeliveryKey;
use crate::workflow::{NewRequest, WorkflowError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use command::SlackCommand;
use form::SlashCommand;
use interaction::Interaction;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// How long a slash command may work before it answers "working on it": Slack gives 3 s.
pub(crate) const ACK_BUDGET: Duration = Duration::from_millis(2_500);
/// How long a delivery id is remembered for de-duplication.
pub(crate) const DEDUP_TTL: Duration = Duration::from_secs(3_600);

/// The Slack front door's settings, built once at start.
pub struct SlackFront {
    /// Signing secrets; more than one during a rotation.
    pub signing_secrets: Vec<SecretString>,
    /// Hosts a `response_url` may point at.
    pub response_url_hosts: Vec<String>,
    /// The slash command's name, for help texts.
    pub command: String,
    /// Who `status` and `list` answer (`[slack] status_for`).
    pub status_for: settings::StatusFor,
    /// Client for `response_url` follow-ups (no token needed: the URL is the credential).
    pub http: reqwest::Client,
    /// The Web API with the bot token, for opening and updating forms (none without a token:
    /// only the text command works then).
    pub api: Option<crate::notify::slack::SlackApi>,
    /// The image catalog the worker refreshes, for the form's image picker.
    pub catalog: Option<Arc<crate::workflow::catalog::CatalogCache>>,
}

impl SlackFront {
    /// Whether `url` is an https (or, for local hosts, http) URL on an allowed host.
    pub fn allowed_response_url(&self, url: &str) -> bool {
        let Ok(u) = reqwest::Url::parse(url) else {
            return false;
        };
        let Some(host) = u.host_str() else {
            return false;
        };
        let host_ok = self
            .response_url_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host));
        let scheme_ok = u.scheme() == "https"
            || (u.scheme() == "http" && matches!(host, "127.0.0.1" | "localhost"));
        host_ok && scheme_ok
    }

    /// Posts a follow-up to a `response_url`, if it is allowed; failures are logged, never raised.
    pub async fn follow_up(&self, url: Option<&str>, text: &str) {
        let Some(url) = url else { return };
        if !self.allowed_response_url(url) {
            tracing::warn!("response_url on a host that is not allowed; follow-up dropped");
            return;
        }
        let body = serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        match self
            .http
            .post(url)
            .json(&body)
            .timeout(Duration::from_secs(3))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(
                status = r.status().as_u16(),
                "response_url follow-up refused"
            ),
            Err(e) => tracing::warn!(error = %e.without_url(), "response_url follow-up failed"),
        }
    }
}

/// An ephemeral reply to the person who typed the command.
fn ephemeral(text: impl Into<String>) -> Response {
    Json(serde_json::json!({"response_type": "ephemeral", "text": text.into()})).into_response()
}

fn front(state: &AppState) -> Result<&SlackFront, ApiError> {
    state.slack.as_ref().ok_or(ApiError::NotConfigured("Slack"))
}

/// Verifies the signature; the delivery's de-duplication key (Slack does not number slash
/// commands or clicks; a signature is unique to one timestamp and body, so a replayed delivery
/// carries the same one).
fn verified(
    state: &AppState,
    slack: &SlackFront,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<DeliveryKey, ApiError> {
    let now = state.clock.now();
    crate::verify::slack::verify_at(&slack.signing_secrets, headers, body, now.timestamp())?;
    let signature = headers
        .get("x-slack-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let key = DeliveryKey::new(format!("slack:{signature}"), now, DEDUP_TTL);
    crate::http::record_delivery(&key.key);
    Ok(key)
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

const NOT_A_PERSON: &str = "`status` and `list` answer only people named in the approver policy's [people], and your Slack account is not one of them. Ask whoever keeps the policy to add it.";

const REPEATED: &str =
    "This command was already received (a repeated delivery); nothing more was done.";

/// `POST /slack/commands`.
pub async fn commands(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if form::is_ssl_check(&body) {
        return Ok(().into_response());
    }
    let slack = front(&state)?;
    // Read-only commands (help, status, list) write nothing, so a replay changes nothing and
    // needs no de-duplication row; a request records its delivery key in the same transaction
    // as itself; approve, deny and cancel record it first.
    let key = verified(&state, slack, &headers, &body)?;
    let cmd = SlashCommand::parse(&body)?;
    let actor = Identity::new("slack", &cmd.user_id).map_err(ApiError::BadRequest)?;
    let usage = command::USAGE.replace("/share-image", &slack.command);
    // `/share-image` alone opens the request form (the text grammar stays for those who like it).
    if cmd.text.trim().is_empty()
        && let Some(trigger) = cmd.trigger_id.as_deref()
    {
        return Ok(
            match modal::open_request_form(&state, slack, &actor, trigger, Some(&cmd.channel_id))
                .await
            {
                // Slack shows nothing for an empty 200: the form is the answer.
                Ok(()) => ().into_response(),
                Err(why) => ephemeral(format!("{why}\n\n{usage}")),
            },
        );
    }
    let parsed = match command::parse(&cmd.text) {
        Ok(c) => c,
        Err(e) => return Ok(ephemeral(format!("{e}\n\n{usage}"))),
    };
    let wf = &state.workflow;
    // A request names images, partners and reasons: by default only the policy's people may
    // read them, not everyone who can type in the workspace.
    if matches!(parsed, SlackCommand::Status(_) | SlackCommand::List(_))
        && slack.status_for == settings::StatusFor::People
        && wf.policy.current().person_for(&actor).is_none()
    {
        return Ok(ephemeral(NOT_A_PERSON));
    }
    // Share, revoke and set are submissions, answered by `submit`; every other command is
    // answered here.
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
        SlackCommand::Help => return Ok(ephemeral(usage)),
        SlackCommand::Status(id) => {
            crate::http::record_request(&id);
            return Ok(ephemeral(match wf.store.request(&id).await? {
                Some(r) => {
                    crate::workflow::trace::follow(&r);
                    replies::status(&r, &wf.store.approvals(&id).await?)
                }
                None => format!("No request {id}."),
            }));
        }
        SlackCommand::List(image) => {
            return Ok(ephemeral(
                match tokio::time::timeout(ACK_BUDGET, wf.cloud.image(&image)).await {
                    Ok(Ok(view)) => {
                        replies::share_list(&view, &wf.store.active_grants(&image).await?)
                    }
                    Ok(Err(e)) => format!(
                        "Could not read image {image} from NCP: {}",
                        render::escape(&e.to_string())
                    ),
                    Err(_) => "NCP is slow to answer; try again in a moment.".into(),
                },
            ));
        }
        SlackCommand::Approve(_) | SlackCommand::Deny { .. } | SlackCommand::Cancel(_)
            if !first(&state, &key).await? =>
        {
            return Ok(ephemeral(REPEATED));
        }
        SlackCommand::Approve(id) => return act(wf.approve(&id, &actor).await),
        SlackCommand::Deny { id, reason } => return act(wf.deny(&id, &actor, reason).await),
        SlackCommand::Cancel(id) => return act(wf.cancel(&id, &actor).await),
    };
    let new = NewRequest {
        requester: actor,
        origin: Origin::Slack {
            team_id: cmd.team_id.clone(),
            channel_id: cmd.channel_id.clone(),
            response_url: cmd.response_url.clone(),
        },
        image_no: image,
        action,
        targets,
        duration,
        reason,
    };
    submit(&state, new, key).await
}

/// The ephemeral reply to an approve, deny or cancel command.
fn act(result: Result<crate::workflow::ActOutcome, WorkflowError>) -> Result<Response, ApiError> {
    Ok(ephemeral(replies::act_outcome(&result?)))
}

/// The reply to a submission, from its outcome: fallback text and blocks.
pub(crate) fn submission_reply(
    result: Result<crate::domain::ShareRequest, WorkflowError>,
) -> (String, serde_json::Value) {
    let text = |t: String| (t, serde_json::Value::Null);
    match result {
        Ok(r) => render::submitted_reply(&NoticeFacts::of_state(&r, &[])),
        Err(WorkflowError::Invalid(why)) => {
            text(format!("{}\n\n{}", render::escape(&why), command::USAGE))
        }
        Err(WorkflowError::Ncp(e)) => text(format!(
            "Nothing was requested: NCP could not be asked about the image ({}). Try again in a moment.",
            render::escape(&e.to_string())
        )),
        Err(WorkflowError::Store(e)) => {
            tracing::error!(error = %e, "store failed during a submission");
            text(
                "Nothing was requested: the service could not record it. Try again in a moment."
                    .into(),
            )
        }
        Err(WorkflowError::Duplicate) => text(REPEATED.into()),
    }
}

/// The `response_url` body of a reply (fallback text and blocks).
fn response_body(message: (String, serde_json::Value)) -> serde_json::Value {
    let mut body = serde_json::json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": message.0,
    });
    if !message.1.is_null() {
        body["blocks"] = message.1;
    }
    body
}

/// Finishes slash commands (and NAVER WORKS messages) whose submission did not fit in the
/// answer budget: submits them (the delivery key makes it once) and replies on the command's
/// `response_url` (a NAVER WORKS requester 1:1, when the submission was not stored).
pub struct SubmitCourier {
    workflow: crate::workflow::Workflow,
}

impl SubmitCourier {
    /// A courier submitting through `workflow`.
    pub fn new(workflow: crate::workflow::Workflow) -> Self {
        Self { workflow }
    }
}

#[async_trait::async_trait]
impl crate::workflow::outbox::Courier for SubmitCourier {
    async fn deliver(
        &self,
        entry: &crate::workflow::outbox::OutboxEntry,
    ) -> crate::workflow::outbox::Delivery {
        use crate::workflow::outbox::{Delivery, Message};
        let Message::Submit {
            new,
            delivery,
            until,
        } = &entry.message
        else {
            return Delivery::Failed(format!("{} is not a submission", entry.message.name()));
        };
        let wf = &self.workflow;
        let key = DeliveryKey {
            key: delivery.clone(),
            now: wf.clock.now(),
            until: *until,
        };
        let result = wf.submit_once((**new).clone(), Some(key)).await;
        // A stored request tells a NAVER WORKS requester itself (its `Submitted` or `Refused`
        // notice); only a submission that was not stored is answered here.
        let stored = matches!(result, Ok(_) | Err(WorkflowError::Duplicate));
        let reply = match result {
            // Submitted before (an earlier attempt whose end was cut off): report it as it is.
            Err(WorkflowError::Duplicate) => {
                let id = RequestId::derived(delivery.as_bytes());
                match wf.store.request(&id).await {
                    Ok(Some(r)) => submission_reply(Ok(r)),
                    Ok(None) => submission_reply(Err(WorkflowError::Duplicate)),
                    Err(e) => {
                        return Delivery::Retry {
                            after: None,
                            error: e.to_string(),
                        };
                    }
                }
            }
            Err(WorkflowError::Ncp(e)) if e.is_transient() => {
                return Delivery::Retry {
                    after: None,
                    error: e.to_string(),
                };
            }
            Err(WorkflowError::Store(e)) => {
                return Delivery::Retry {
                    after: None,
                    error: e.to_string(),
                };
            }
            other => submission_reply(other),
        };
        let url = match &new.origin {
            Origin::Slack {
                response_url: Some(url),
                ..
            } => url.clone(),
            // A form has no response_url: the requester hears in their messages with the app.
            Origin::Slack {
                response_url: None, ..
            } => {
                return match wf
                    .owe(vec![Message::SlackDm {
                        user: new.requester.id.clone(),
                        text: reply.0,
                        blocks: reply.1,
                    }])
                    .await
                {
                    Ok(()) => Delivery::Done,
                    Err(e) => Delivery::Retry {
                        after: None,
                        error: e.to_string(),
                    },
                };
            }
            Origin::Works { user_id } if !stored => {
                let text = reply.0.replace(['*', '`'], "");
                return match wf
                    .owe(vec![Message::WorksSay {
                        to: crate::workflow::outbox::WorksTo::User(user_id.clone()),
                        text,
                    }])
                    .await
                {
                    Ok(()) => Delivery::Done,
                    Err(e) => Delivery::Retry {
                        after: None,
                        error: e.to_string(),
                    },
                };
            }
            _ => return Delivery::Done,
        };
        match wf
            .owe(vec![Message::SlackResponse {
                url,
                body: response_body(reply),
            }])
            .await
        {
            Ok(()) => Delivery::Done,
            Err(e) => Delivery::Retry {
                after: None,
                error: e.to_string(),
            },
        }
    }
}

/// An ephemeral reply with blocks (or plain text when the blocks are null).
fn ephemeral_rich(message: (String, serde_json::Value)) -> Response {
    if message.1.is_null() {
        return ephemeral(message.0);
    }
    Json(render::ephemeral_body(message)).into_response()
}

/// Submits `new`, answering within Slack's budget or handing the submission to the outbox.
async fn submit(
    state: &Arc<AppState>,
    new: NewRequest,
    key: DeliveryKey,
) -> Result<Response, ApiError> {
    // The submission looks the image up on NCP. If NCP is slow, the answer cannot wait: the
    // submission is handed to the worker through the outbox (nothing may run after the answer
    // on Lambda), which submits it once and replies on the response_url.
    let wf = &state.workflow;
    match tokio::time::timeout(ACK_BUDGET, wf.submit_once(new.clone(), Some(key.clone()))).await {
        Ok(result) => Ok(ephemeral_rich(submission_reply(result))),
        Err(_) => {
            wf.owe(vec![crate::workflow::outbox::Message::Submit {
                new: Box::new(new),
                delivery: key.key,
                until: key.until,
            }])
            .await?;
            Ok(ephemeral(
                "Working on it: NCP is slow to answer. The result will appear here.",
            ))
        }
    }
}

/// `POST /slack/interactions`: card and App Home buttons, a pick in a form, a form's
/// submission, and the global shortcut.
pub async fn interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let slack = front(&state)?;
    let key = verified(&state, slack, &headers, &body)?;
    let interaction = Interaction::parse(&body)?;
    // An approval or a denial acts first and its delivery id is recorded after: it counts once
    // per person whatever the deliveries, so a repeat changes nothing, while a delivery recorded
    // first and then cut short (a replica killed, the same bytes sent again to another by the
    // load balancer) would lose the click. A repeat gets no second answer. Everything else is
    // recorded first: a second form or a second revocation must not start.
    let acts_first = matches!(&interaction, Interaction::Action(a) if is_decision(&a.action_id));
    if !acts_first && !first(&state, &key).await? {
        return Ok(().into_response());
    }
    match interaction {
        Interaction::Action(action) => act_on(&state, slack, action, &key).await,
        Interaction::Shortcut {
            user_id,
            trigger_id,
            callback_id,
            ..
        } => {
            if callback_id != interaction::SHORTCUT_CALLBACK {
                return Err(ApiError::BadRequest(format!(
                    "unknown shortcut {:?}",
                    crate::domain::truncate_for_display(&callback_id)
                )));
            }
            let actor = Identity::new("slack", &user_id).map_err(ApiError::BadRequest)?;
            if let Err(why) =
                modal::open_request_form(&state, slack, &actor, &trigger_id, None).await
            {
                dm(&state, &user_id, why).await?;
            }
            Ok(().into_response())
        }
        Interaction::Submission {
            user_id,
            team_id,
            view,
            values,
        } => {
            let actor = Identity::new("slack", &user_id).map_err(ApiError::BadRequest)?;
            modal::submitted(&state, slack, actor, team_id, view, values).await
        }
        Interaction::Closed => Ok(().into_response()),
    }
}

/// Owes a private message to a Slack user (for answers where Slack gave no `response_url`).
async fn dm(state: &AppState, user: &str, text: String) -> Result<(), ApiError> {
    state
        .workflow
        .owe(vec![crate::workflow::outbox::Message::SlackDm {
            user: user.to_owned(),
            text,
            blocks: serde_json::Value::Null,
        }])
        .await?;
    Ok(())
}

/// A `block_actions` click: a card's Approve or Deny, an App Home button, a pick in a form.
fn is_decision(action_id: &str) -> bool {
    use crate::notify::slack::views;
    matches!(
        action_id,
        "approve" | "deny" | views::HOME_APPROVE | views::HOME_DENY
    )
}

async fn act_on(
    state: &Arc<AppState>,
    slack: &SlackFront,
    action: interaction::Action,
    key: &DeliveryKey,
) -> Result<Response, ApiError> {
    use crate::notify::slack::views;
    let actor = Identity::new("slack", &action.user_id).map_err(ApiError::BadRequest)?;
    let wf = &state.workflow;
    let value = || {
        action
            .value
            .clone()
            .ok_or_else(|| ApiError::BadRequest("the button has no value".into()))
    };
    match action.action_id.as_str() {
        "approve" | "deny" => {
            let id = RequestId::parse(&value()?).map_err(|e| ApiError::BadRequest(e.0))?;
            let outcome = match action.action_id.as_str() {
                "approve" => wf.approve(&id, &actor).await?,
                _ => wf.deny(&id, &actor, None).await?,
            };
            if !first(state, key).await? {
                return Ok(().into_response());
            }
            // The card itself is updated through the outbox; the clicker gets a private answer,
            // owed like every other message (it is sent after this answer).
            if let Some(url) = action.response_url.as_deref()
                && slack.allowed_response_url(url)
            {
                wf.owe(vec![crate::workflow::outbox::Message::SlackResponse {
                    url: url.to_string(),
                    body: response_body((replies::act_outcome(&outcome), serde_json::Value::Null)),
                }])
                .await?;
            }
        }
        views::HOME_APPROVE | views::HOME_DENY => {
            let id = RequestId::parse(&value()?).map_err(|e| ApiError::BadRequest(e.0))?;
            let outcome = if action.action_id == views::HOME_APPROVE {
                wf.approve(&id, &actor).await?
            } else {
                wf.deny(&id, &actor, None).await?
            };
            if !first(state, key).await? {
                return Ok(().into_response());
            }
            // The home has no response_url: the answer is a private message, and the home is
            // published again (a state change does that too; a refused click changes nothing).
            wf.owe(vec![
                crate::workflow::outbox::Message::SlackDm {
                    user: action.user_id.clone(),
                    text: replies::act_outcome(&outcome),
                    blocks: serde_json::Value::Null,
                },
                crate::workflow::outbox::Message::SlackHome {
                    user: action.user_id.clone(),
                },
            ])
            .await?;
        }
        views::HOME_REVOKE => {
            let (image, target, _) = views::parse_share_ref(&value()?)
                .ok_or_else(|| ApiError::BadRequest("the button names no share".into()))?;
            let new = NewRequest {
                requester: actor,
                origin: Origin::Slack {
                    team_id: action.team_id.clone(),
                    channel_id: action.user_id.clone(),
                    response_url: None,
                },
                image_no: image,
                action: Action::Unshare,
                targets: vec![target],
                duration: None,
                reason: None,
            };
            let key = DeliveryKey::new(
                format!("slack:revoke:{}", key_of(&action)),
                wf.clock.now(),
                DEDUP_TTL,
            );
            revoke(state, new, key).await?;
        }
        views::HOME_EXTEND => {
            let trigger = action
                .trigger_id
                .as_deref()
                .ok_or_else(|| ApiError::BadRequest("the click has no trigger_id".into()))?;
            if let Err(why) =
                modal::open_extend_form(state, slack, &actor, trigger, &value()?).await
            {
                dm(state, &action.user_id, why).await?;
            }
        }
        views::IMAGE => modal::image_picked(state, slack, &actor, &action).await,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action {:?}",
                crate::domain::truncate_for_display(other)
            )));
        }
    }
    Ok(().into_response())
}

/// What makes one Revoke click unique: the button and the home's state it was pressed on.
fn key_of(action: &interaction::Action) -> String {
    let view = action.view.as_ref();
    format!(
        "{}:{}:{}",
        action.user_id,
        action.value.as_deref().unwrap_or_default(),
        view.and_then(|v| v.hash.as_deref()).unwrap_or_default()
    )
}

/// Submits a revocation from the App Home, answering in a private message (within the budget,
/// or from the outbox when NCP is slow).
async fn revoke(state: &Arc<AppState>, new: NewRequest, key: DeliveryKey) -> Result<(), ApiError> {
    let wf = &state.workflow;
    let user = new.requester.id.clone();
    match tokio::time::timeout(ACK_BUDGET, wf.submit_once(new.clone(), Some(key.clone()))).await {
        Ok(result) => {
            let (text, blocks) = submission_reply(result);
            wf.owe(vec![crate::workflow::outbox::Message::SlackDm {
                user,
                text,
                blocks,
            }])
            .await?;
        }
        Err(_) => {
            wf.owe(vec![crate::workflow::outbox::Message::Submit {
                new: Box::new(new),
                delivery: key.key,
                until: key.until,
            }])
            .await?;
        }
    }
    Ok(())
}
