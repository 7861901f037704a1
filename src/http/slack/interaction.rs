//! Every interaction Slack POSTs to the interactivity URL (`payload=<json>`), parsed only after
//! the signature over the raw body verified: button clicks on cards and on the App Home, a pick
//! in the request form, the form's submission, and the global shortcut. The options load URL
//! (`block_suggestion`) is parsed here too.

use super::form::slack_id;
use crate::http::ApiError;
use serde::Deserialize;
use std::collections::HashMap;

/// The global shortcut that opens the request form (the manifest's `callback_id`).
pub const SHORTCUT_CALLBACK: &str = "share_image";

/// One interaction, by what it is.
#[derive(Debug, Clone)]
pub enum Interaction {
    /// A button or a select in a message, the App Home or a modal (`block_actions`).
    Action(Action),
    /// A global shortcut (`shortcut`).
    Shortcut {
        /// Who used it.
        user_id: String,
        /// The workspace.
        team_id: String,
        /// Opens a modal for about 3 seconds.
        trigger_id: String,
        /// Which shortcut.
        callback_id: String,
    },
    /// A modal's submit button (`view_submission`).
    Submission {
        /// Who submitted.
        user_id: String,
        /// The workspace.
        team_id: String,
        /// The modal.
        view: ViewRef,
        /// The inputs by block id: typed text or the selected option's value.
        values: HashMap<String, String>,
    },
    /// A modal closed with its close button (`view_closed`, only sent when asked for): nothing to do.
    Closed,
}

/// A `block_actions` click or pick.
#[derive(Debug, Clone)]
pub struct Action {
    /// Who clicked.
    pub user_id: String,
    /// The workspace.
    pub team_id: String,
    /// Which element.
    pub action_id: String,
    /// A button's value.
    pub value: Option<String>,
    /// A select's chosen option value.
    pub selected: Option<String>,
    /// Opens a modal for about 3 seconds.
    pub trigger_id: Option<String>,
    /// Where to answer the clicker (message surfaces only).
    pub response_url: Option<String>,
    /// The modal or home the element is in, if not a message.
    pub view: Option<ViewRef>,
}

/// The view an interaction came from.
#[derive(Debug, Clone)]
pub struct ViewRef {
    /// Slack's view id (`V…`).
    pub id: String,
    /// The hash that guards `views.update` against a newer state.
    pub hash: Option<String>,
    /// `modal` or `home`.
    pub kind: String,
    /// Our callback id.
    pub callback_id: String,
    /// Our private metadata.
    pub private_metadata: String,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<IdOnly>,
    team: Option<IdOnly>,
    trigger_id: Option<String>,
    callback_id: Option<String>,
    #[serde(default)]
    actions: Vec<RawAction>,
    response_url: Option<String>,
    view: Option<RawView>,
    // block_suggestion
    action_id: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    value: Option<String>,
    selected_option: Option<RawOption>,
}

#[derive(Deserialize)]
struct RawOption {
    value: String,
}

#[derive(Deserialize)]
struct RawView {
    id: String,
    hash: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    state: Option<RawState>,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    values: HashMap<String, HashMap<String, RawInput>>,
}

#[derive(Deserialize)]
struct RawInput {
    value: Option<String>,
    selected_option: Option<RawOption>,
}

fn payload(body: &[u8]) -> Result<Payload, ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::BadRequest("the body is not UTF-8".into()));
    }
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::BadRequest("missing field payload".into()))?;
    serde_json::from_str(&payload)
        .map_err(|e| ApiError::BadRequest(format!("payload is not a Slack interaction: {e}")))
}

fn user(p: &Payload) -> Result<String, ApiError> {
    slack_id("user.id", p.user.as_ref().map(|u| u.id.clone()))
}

fn team(p: &Payload) -> Result<String, ApiError> {
    // Enterprise Grid org-wide installs may send no team on some surfaces; the user is enough
    // for everything we do, so a missing team is recorded as empty rather than refused.
    match &p.team {
        Some(t) => slack_id("team.id", Some(t.id.clone())),
        None => Ok(String::new()),
    }
}

fn view(v: RawView) -> (ViewRef, HashMap<String, String>) {
    let mut values = HashMap::new();
    for (block, inputs) in v.state.map(|s| s.values).unwrap_or_default() {
        // One input per block in our views; the value is typed text or the chosen option.
        if let Some(input) = inputs.into_values().next()
            && let Some(value) = input.selected_option.map(|o| o.value).or(input.value)
        {
            values.insert(block, value);
        }
    }
    (
        ViewRef {
            id: v.id,
            hash: v.hash,
            kind: v.kind,
            callback_id: v.callback_id,
            private_metadata: v.private_metadata,
        },
        values,
    )
}

impl Interaction {
    /// Parses `payload=<json>`; anything we do not handle is a 400 saying what.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let p = payload(body)?;
        match p.kind.as_str() {
            "block_actions" => {
                let action = match p.actions.as_slice() {
                    [one] => one,
                    _ => return Err(ApiError::BadRequest("expected exactly one action".into())),
                };
                Ok(Self::Action(Action {
                    user_id: user(&p)?,
                    team_id: team(&p)?,
                    action_id: action.action_id.clone(),
                    value: action.value.clone(),
                    selected: action.selected_option.as_ref().map(|o| o.value.clone()),
                    trigger_id: p.trigger_id.clone().filter(|t| !t.is_empty()),
                    response_url: p.response_url.clone().filter(|u| !u.is_empty()),
                    view: p.view.map(|v| view(v).0),
                }))
            }
            "shortcut" => {
                Ok(Self::Shortcut {
                    user_id: user(&p)?,
                    team_id: team(&p)?,
                    trigger_id: p.trigger_id.clone().filter(|t| !t.is_empty()).ok_or_else(
                        || ApiError::BadRequest("the shortcut has no trigger_id".into()),
                    )?,
                    callback_id: p.callback_id.clone().unwrap_or_default(),
                })
            }
            "view_submission" => {
                let (user_id, team_id) = (user(&p)?, team(&p)?);
                let raw = p
                    .view
                    .ok_or_else(|| ApiError::BadRequest("the submission has no view".into()))?;
                let (view, values) = view(raw);
                Ok(Self::Submission {
                    user_id,
                    team_id,
                    view,
                    values,
                })
            }
            "view_closed" => Ok(Self::Closed),
            other => Err(ApiError::BadRequest(format!(
                "interaction type {:?} is not handled",
                crate::domain::truncate_for_display(other)
            ))),
        }
    }
}

/// An options load request (`block_suggestion`): what someone typed into a picker.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// Who is typing.
    pub user_id: String,
    /// Which picker.
    pub action_id: String,
    /// What they typed so far.
    pub value: String,
}

impl Suggestion {
    /// Parses `payload=<json>` of type `block_suggestion`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let p = payload(body)?;
        if p.kind != "block_suggestion" {
            return Err(ApiError::BadRequest(format!(
                "interaction type {:?} is not an options request",
                crate::domain::truncate_for_display(&p.kind)
            )));
        }
        Ok(Self {
            user_id: user(&p)?,
            action_id: p.action_id.clone().unwrap_or_default(),
            value: p.value.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Vec<u8> {
        format!(
            "payload={}",
            percent_encoding::utf8_percent_encode(json, percent_encoding::NON_ALPHANUMERIC)
        )
        .into_bytes()
    }

    #[test]
    fn each_kind_parses_to_what_it_is() {
        let click = Interaction::parse(&body(r#"{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"trigger_id":"1.2.x","actions":[{"action_id":"home_extend","value":"1|a@x.example|SR-1"}],"view":{"id":"V1","hash":"h","type":"home"}}"#)).unwrap();
        let Interaction::Action(a) = click else {
            panic!("{click:?}")
        };
        assert_eq!(
            (a.action_id.as_str(), a.trigger_id.as_deref()),
            ("home_extend", Some("1.2.x"))
        );
        assert_eq!(a.view.unwrap().kind, "home");

        let pick = Interaction::parse(&body(r#"{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"actions":[{"action_id":"image","selected_option":{"value":"123"}}],"view":{"id":"V2","type":"modal","callback_id":"share_request"}}"#)).unwrap();
        let Interaction::Action(a) = pick else {
            panic!("{pick:?}")
        };
        assert_eq!(a.selected.as_deref(), Some("123"));

        let sub = Interaction::parse(&body(r#"{"type":"view_submission","user":{"id":"U1"},"team":{"id":"T1"},"view":{"id":"V3","type":"modal","callback_id":"share_request","private_metadata":"{}","state":{"values":{"image":{"image":{"type":"external_select","selected_option":{"value":"123"}}},"targets":{"targets":{"type":"plain_text_input","value":"a@x.example"}},"reason":{"reason":{"type":"plain_text_input","value":null}}}}}}"#)).unwrap();
        let Interaction::Submission { values, view, .. } = sub else {
            panic!("{sub:?}")
        };
        assert_eq!(values.get("image").map(String::as_str), Some("123"));
        assert_eq!(
            values.get("targets").map(String::as_str),
            Some("a@x.example")
        );
        assert!(!values.contains_key("reason"));
        assert_eq!(view.callback_id, "share_request");

        let short = Interaction::parse(&body(r#"{"type":"shortcut","user":{"id":"U1"},"team":{"id":"T1"},"callback_id":"share_image","trigger_id":"9.9"}"#)).unwrap();
        assert!(
            matches!(short, Interaction::Shortcut { ref callback_id, .. } if callback_id == SHORTCUT_CALLBACK)
        );
    }

    #[test]
    fn what_we_do_not_handle_is_refused_with_why() {
        for (json, needle) in [
            (
                r#"{"type":"message_action","user":{"id":"U1"}}"#,
                "not handled",
            ),
            (
                r#"{"type":"block_actions","user":{"id":"U1"},"actions":[]}"#,
                "exactly one",
            ),
            (r#"{"type":"shortcut","user":{"id":"U1"}}"#, "trigger_id"),
            (
                r#"{"type":"view_submission","user":{"id":"U1"}}"#,
                "no view",
            ),
            (
                r#"{"type":"block_actions","user":{"id":"U<1"},"actions":[{"action_id":"a"}]}"#,
                "user.id",
            ),
            ("not json", "not a Slack interaction"),
        ] {
            let e = Interaction::parse(&body(json)).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
        assert!(Interaction::parse(b"nothing=here").is_err());
        let s = Suggestion::parse(&body(
            r#"{"type":"block_suggestion","user":{"id":"U1"},"action_id":"image","value":"web"}"#,
        ))
        .unwrap();
        assert_eq!((s.action_id.as_str(), s.value.as_str()), ("image", "web"));
        assert!(
            Suggestion::parse(&body(r#"{"type":"block_actions","user":{"id":"U1"}}"#)).is_err()
        );
    }
}
