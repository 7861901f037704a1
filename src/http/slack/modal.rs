//! The request form and the extend form: opened with a `trigger_id` (from `/share-image` with
//! no text, the "Share an image" shortcut, or an App Home's Extend button), narrowed when an
//! image is picked, and submitted down the same path as the text command. Every field the
//! policy would refuse is answered in the form (`response_action: errors`) and nothing is stored.

use super::command::{self, MAX_REASON_CHARS};
use super::{ACK_BUDGET, DEDUP_TTL, SlackFront};
use crate::domain::{
    CatalogImage, ImageCatalog, ImageNo, LoginId, NoticeFacts, Origin, RequestState, ShareDuration,
};
use crate::http::{ApiError, AppState};
use crate::notify::slack::render;
use crate::notify::slack::views::{self, ExtendForm, RequestForm};
use crate::policy::{Action, FormField, Identity, Policy, RequestFacts};
use crate::store::DeliveryKey;
use crate::workflow::outbox::Message;
use crate::workflow::{NewRequest, WorkflowError};
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The durations offered when the image list has not been loaded yet (the submission still
/// checks the policy).
const FALLBACK_DURATIONS: [&str; 3] = ["1d", "7d", "30d"];

/// What the request form carries between opening and submission.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Metadata {
    /// The channel the command was typed in (none from the shortcut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
}

/// The image catalog, or none when it is not loaded yet or cannot be read now (logged).
pub(super) async fn catalog(slack: &SlackFront) -> Option<Arc<ImageCatalog>> {
    let cache = slack.catalog.as_ref()?;
    match cache.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the image catalog");
            None
        }
    }
}

fn fallback_durations() -> Vec<Option<ShareDuration>> {
    FALLBACK_DURATIONS
        .iter()
        .filter_map(|d| ShareDuration::parse(d).ok())
        .map(Some)
        .collect()
}

/// The choices before an image is picked: every duration some image this person may share
/// allows, and a reason required only if every one of them requires it.
fn initial_choices(
    policy: &Policy,
    actor: &Identity,
    images: &[&CatalogImage],
) -> (Vec<Option<ShareDuration>>, bool) {
    let mut durations: Vec<Option<ShareDuration>> = Vec::new();
    let mut reason_required = true;
    let mut any = false;
    for image in images {
        if let Some(c) =
            crate::policy::form_choices(policy, actor, &image.no, Some(image.name.as_str()))
        {
            any = true;
            reason_required &= c.reason_required;
            for d in c.durations {
                if !durations.contains(&d) {
                    durations.push(d);
                }
            }
        }
    }
    if !any {
        return (fallback_durations(), false);
    }
    // Shortest first, "no end" last.
    durations.sort_by_key(|d| d.map_or(u64::MAX, ShareDuration::as_secs));
    (durations, reason_required)
}

/// Opens the request form; `Err` is the sentence to tell the person instead.
pub(super) async fn open_request_form(
    state: &AppState,
    slack: &SlackFront,
    actor: &Identity,
    trigger_id: &str,
    channel: Option<&str>,
) -> Result<(), String> {
    let api = slack.api.as_ref().ok_or_else(|| NO_TOKEN.to_owned())?;
    let policy = state.workflow.policy.current();
    if policy.person_for(actor).is_none() {
        return Err(format!(
            "You ({actor}) are not in the approver policy's [people], so you cannot ask for a share. Ask whoever keeps the policy to add your Slack account."
        ));
    }
    let catalog = catalog(slack).await;
    let (durations, reason_required, note) = match &catalog {
        Some(c) => {
            let images = crate::policy::shareable(&policy, actor, &c.images);
            if images.is_empty() {
                return Err(format!(
                    "No rule of the approver policy lets you share any of the {} images of this account. Ask whoever keeps the policy, or check with `policy explain`.",
                    c.images.len()
                ));
            }
            let (d, r) = initial_choices(&policy, actor, &images);
            (d, r, None)
        }
        None => (
            fallback_durations(),
            false,
            Some("The image list is still loading: type the image number in the picker."),
        ),
    };
    let meta = serde_json::to_string(&Metadata {
        channel: channel.map(str::to_owned),
    })
    .unwrap_or_default();
    let view = views::request_modal(&RequestForm {
        image: None,
        durations: &durations,
        reason_required,
        note,
        private_metadata: &meta,
    });
    api.views_open(trigger_id, &view)
        .await
        .map(drop)
        .map_err(|e| {
            tracing::warn!(error = %e, "views.open failed");
            format!(
                "Slack did not open the request form ({e}). Try again, or type the request: `{} <image-no> with <login-id>`.",
                slack.command
            )
        })
}

const NO_TOKEN: &str = "The request form needs the app's bot token (SLACK_BOT_TOKEN), which this service does not have. Type the request instead: `/share-image <image-no> with <login-id>`.";

/// An image was picked in the request form: offer only what the rules for it allow.
pub(super) async fn image_picked(
    state: &AppState,
    slack: &SlackFront,
    actor: &Identity,
    action: &super::interaction::Action,
) {
    let (Some(api), Some(view), Some(picked)) = (&slack.api, &action.view, &action.selected) else {
        return;
    };
    if view.callback_id != views::REQUEST_CALLBACK {
        return;
    }
    let Ok(no) = ImageNo::parse(picked) else {
        return;
    };
    let policy = state.workflow.policy.current();
    let catalog = catalog(slack).await;
    let name = catalog
        .as_ref()
        .and_then(|c| c.get(&no).map(|i| i.name.clone()))
        .unwrap_or_default();
    let Some(choices) = crate::policy::form_choices(
        &policy,
        actor,
        &no,
        Some(name.as_str()).filter(|n| !n.is_empty()),
    ) else {
        // No rule lets this person share it: the submission says so on the field.
        return;
    };
    let form = views::request_modal(&RequestForm {
        image: Some((&no, name.as_str())),
        durations: &choices.durations,
        reason_required: choices.reason_required,
        note: None,
        private_metadata: &view.private_metadata,
    });
    // A hash conflict means the person changed the form meanwhile: their newer state wins. The
    // click is answered after this, so a slow Slack cannot hold the answer past its budget.
    match tokio::time::timeout(
        ACK_BUDGET,
        api.views_update(&view.id, view.hash.as_deref(), &form),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "views.update of the request form failed"),
        Err(_) => tracing::warn!("views.update of the request form timed out"),
    }
}

/// Opens the extend form for the share `share_ref` (an App Home button); `Err` is what to tell
/// the person instead.
pub(super) async fn open_extend_form(
    state: &AppState,
    slack: &SlackFront,
    actor: &Identity,
    trigger_id: &str,
    share_ref: &str,
) -> Result<(), String> {
    let api = slack.api.as_ref().ok_or_else(|| NO_TOKEN.to_owned())?;
    let (image, target, request_id) = views::parse_share_ref(share_ref)
        .ok_or_else(|| "That button names no share.".to_owned())?;
    let wf = &state.workflow;
    let grants =
        wf.store.active_grants(&image).await.map_err(|_| {
            "The service could not read the share; try again in a moment.".to_owned()
        })?;
    let Some(grant) = grants
        .into_iter()
        .find(|g| g.target == target && g.request_id == request_id)
    else {
        return Err(format!(
            "The share of image {image} with {target} has ended; ask for a new one with `{}`.",
            slack.command
        ));
    };
    let name = wf
        .store
        .request(&request_id)
        .await
        .ok()
        .flatten()
        .map(|r| r.image_name)
        .filter(|n| !n.is_empty());
    let policy = wf.policy.current();
    let choices =
        crate::policy::form_choices(&policy, actor, &image, name.as_deref()).ok_or_else(|| {
            format!("No rule of the approver policy lets you ask for image {image} any more.")
        })?;
    let view = views::extend_modal(&ExtendForm {
        grant: &grant,
        image_name: name.as_deref(),
        durations: &choices.durations,
        reason_required: choices.reason_required,
    });
    api.views_open(trigger_id, &view)
        .await
        .map(drop)
        .map_err(|e| format!("Slack did not open the form ({e}). Try again."))
}

/// The fields of a submitted form, or the errors to show on them.
struct Fields {
    image: ImageNo,
    targets: Vec<LoginId>,
    duration: Option<ShareDuration>,
    reason: Option<String>,
}

fn reason_of(values: &HashMap<String, String>) -> Result<Option<String>, String> {
    let reason = values
        .get(views::REASON)
        .map(|r| r.trim())
        .filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(format!(
            "at most {MAX_REASON_CHARS} characters, please ({} now)",
            r.chars().count()
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn duration_of(values: &HashMap<String, String>) -> Result<Option<ShareDuration>, String> {
    match values.get(views::DURATION) {
        Some(v) => views::parse_duration_value(v),
        None => Err("choose how long the share lasts".into()),
    }
}

/// A `view_submission` of one of our forms.
pub(super) async fn submitted(
    state: &Arc<AppState>,
    slack: &SlackFront,
    actor: Identity,
    team_id: String,
    view: super::interaction::ViewRef,
    values: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let extend = match view.callback_id.as_str() {
        views::REQUEST_CALLBACK => false,
        views::EXTEND_CALLBACK => true,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown form {:?}",
                crate::domain::truncate_for_display(other)
            )));
        }
    };
    // The fields as typed; what does not parse is answered on its field.
    let mut errors: Vec<(&str, String)> = Vec::new();
    let (image, targets) = if extend {
        match views::parse_share_ref(&view.private_metadata) {
            Some((image, target, _)) => (Some(image), Some(vec![target])),
            None => {
                return Err(ApiError::BadRequest(
                    "the extend form names no share".into(),
                ));
            }
        }
    } else {
        let image = match values.get(views::IMAGE).map(|v| ImageNo::parse(v)) {
            Some(Ok(no)) => Some(no),
            Some(Err(e)) => {
                errors.push((views::IMAGE, e.0));
                None
            }
            None => {
                errors.push((views::IMAGE, "pick an image".into()));
                None
            }
        };
        let targets =
            match command::parse_target_list(values.get(views::TARGETS).map_or("", String::as_str))
            {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push((views::TARGETS, e.0));
                    None
                }
            };
        (image, targets)
    };
    let duration = duration_of(&values)
        .map_err(|e| errors.push((views::DURATION, e)))
        .ok();
    let reason = reason_of(&values)
        .map_err(|e| errors.push((views::REASON, e)))
        .ok();
    let (Some(image), Some(targets), Some(duration), Some(reason), true) =
        (image, targets, duration, reason, errors.is_empty())
    else {
        return Ok(Json(views::field_errors(&errors)).into_response());
    };
    let fields = Fields {
        image,
        targets,
        duration,
        reason,
    };

    // The policy, with the same sentences `policy explain` gives, before anything is stored.
    let wf = &state.workflow;
    let policy = wf.policy.current();
    let catalog = catalog(slack).await;
    let name = catalog
        .as_ref()
        .and_then(|c| c.get(&fields.image).map(|i| i.name.clone()));
    let facts = RequestFacts {
        requester: &actor,
        image_no: &fields.image,
        image_name: name.as_deref(),
        action: Action::Share,
        targets: &fields.targets,
        duration: fields.duration,
        reason: fields.reason.as_deref(),
    };
    let objections = crate::policy::form_errors(&policy, &facts, wf.clock.now());
    if !objections.is_empty() {
        return Ok(Json(views::field_errors(&placed(objections, extend))).into_response());
    }

    let meta: Metadata = serde_json::from_str(&view.private_metadata).unwrap_or_default();
    let new = NewRequest {
        origin: Origin::Slack {
            team_id,
            // A form has no channel of its own: its answers go to the person's messages with the app.
            channel_id: meta.channel.unwrap_or_else(|| actor.id.clone()),
            response_url: None,
        },
        requester: actor,
        image_no: fields.image,
        action: Action::Share,
        targets: fields.targets,
        duration: fields.duration,
        reason: fields.reason,
    };
    // One submission per opened form: Slack's view id names it, whatever the retries.
    let key = DeliveryKey::new(format!("slack:view:{}", view.id), wf.clock.now(), DEDUP_TTL);
    let title = if extend {
        "Extension asked"
    } else {
        "Request sent"
    };
    let answer = match tokio::time::timeout(
        ACK_BUDGET,
        wf.submit_once(new.clone(), Some(key.clone())),
    )
    .await
    {
        Ok(Ok(r)) if r.state == RequestState::Denied => views::confirmation(
            "Not allowed",
            render::refused_reply(&NoticeFacts::of_state(&r, &[])),
        ),
        Ok(Ok(r)) => views::confirmation(
            title,
            render::submitted_reply(&NoticeFacts::of_state(&r, &[])),
        ),
        Ok(Err(WorkflowError::Duplicate)) => views::confirmation(
            title,
            (
                "This form was already submitted; nothing more was done.".into(),
                serde_json::Value::Null,
            ),
        ),
        Ok(Err(e)) => {
            let field = if extend {
                views::DURATION
            } else {
                views::IMAGE
            };
            views::field_errors(&[(field, super::submission_reply(Err(e)).0)])
        }
        Err(_) => {
            wf.owe(vec![Message::Submit {
                new: Box::new(new),
                delivery: key.key,
                until: key.until,
            }])
            .await?;
            views::confirmation(
                "Working on it",
                (
                    "NCP is slow to answer. The result will come as a message from the app.".into(),
                    serde_json::Value::Null,
                ),
            )
        }
    };
    Ok(Json(answer).into_response())
}

/// The policy's objections on the form's blocks (the extend form has only duration and reason).
fn placed(objections: Vec<(FormField, String)>, extend: bool) -> Vec<(&'static str, String)> {
    let mut by_block: Vec<(&'static str, String)> = Vec::new();
    for (field, sentence) in objections {
        let block = match field {
            FormField::Duration => views::DURATION,
            FormField::Reason => views::REASON,
            FormField::Image | FormField::Targets if extend => views::DURATION,
            FormField::Image => views::IMAGE,
            FormField::Targets => views::TARGETS,
        };
        match by_block.iter_mut().find(|(b, _)| *b == block) {
            Some((_, text)) => {
                text.push_str("; ");
                text.push_str(&sentence);
            }
            None => by_block.push((block, sentence)),
        }
    }
    by_block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objections_land_on_their_blocks_and_share_one_per_block() {
        let got = placed(
            vec![
                (FormField::Targets, "target a does not match b".into()),
                (FormField::Targets, "target c does not match b".into()),
                (FormField::Reason, "rule \"r\" requires a reason".into()),
            ],
            false,
        );
        assert_eq!(
            got,
            [
                (
                    views::TARGETS,
                    "target a does not match b; target c does not match b".to_owned()
                ),
                (views::REASON, "rule \"r\" requires a reason".to_owned()),
            ]
        );
        // The extend form has no image or target field: those land on the duration.
        let got = placed(vec![(FormField::Image, "x".into())], true);
        assert_eq!(got, [(views::DURATION, "x".to_owned())]);
    }

    #[test]
    fn reasons_and_durations_are_read_from_the_form() {
        let mut v = HashMap::new();
        assert_eq!(reason_of(&v), Ok(None));
        v.insert(views::REASON.to_owned(), "  pilot  ".to_owned());
        assert_eq!(reason_of(&v), Ok(Some("pilot".into())));
        v.insert(views::REASON.to_owned(), "r".repeat(MAX_REASON_CHARS + 1));
        assert!(reason_of(&v).unwrap_err().contains("at most"));
        assert!(duration_of(&v).is_err());
        v.insert(views::DURATION.to_owned(), views::NO_END.to_owned());
        assert_eq!(duration_of(&v), Ok(None));
        v.insert(views::DURATION.to_owned(), "7d".to_owned());
        assert_eq!(
            duration_of(&v),
            Ok(Some(ShareDuration::parse("7d").unwrap()))
        );
    }
}
