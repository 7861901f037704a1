//! What Slack POSTs, parsed only after the signature over the raw body verified.

use crate::http::ApiError;
use serde::Deserialize;

/// The fields of a slash command we use.
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// The workspace.
    pub team_id: String,
    /// The channel it was typed in.
    pub channel_id: String,
    /// Who typed it (the only identity we trust).
    pub user_id: String,
    /// Everything after the command.
    pub text: String,
    /// Where follow-ups may be posted for 30 minutes.
    pub response_url: Option<String>,
    /// Opens a modal (the request form) for about 3 seconds.
    pub trigger_id: Option<String>,
}

/// Whether the body is Slack's `ssl_check=1` probe, which is answered with a bare 200.
pub fn is_ssl_check(body: &[u8]) -> bool {
    form_urlencoded::parse(body).any(|(k, v)| k == "ssl_check" && v == "1")
}

pub(super) fn slack_id(name: &str, value: Option<String>) -> Result<String, ApiError> {
    let v = value.ok_or_else(|| ApiError::BadRequest(format!("missing field {name}")))?;
    // Slack ids are short upper-case alphanumerics (U012ABC, T0..., C0..., W0... on Grid).
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::BadRequest(format!(
            "field {name} is not a Slack id"
        )));
    }
    Ok(v)
}

impl SlashCommand {
    /// Parses the form body; a missing or malformed field is a 400 naming it.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::BadRequest("the body is not UTF-8".into()));
        }
        let (mut team, mut channel, mut user, mut text, mut response_url, mut trigger) =
            (None, None, None, None, None, None);
        for (k, v) in form_urlencoded::parse(body) {
            let slot = match k.as_ref() {
                "team_id" => &mut team,
                "channel_id" => &mut channel,
                "user_id" => &mut user,
                "text" => &mut text,
                "response_url" => &mut response_url,
                "trigger_id" => &mut trigger,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ApiError::BadRequest(format!("field {k} appears twice")));
            }
            *slot = Some(v.into_owned());
        }
        Ok(Self {
            team_id: slack_id("team_id", team)?,
            channel_id: slack_id("channel_id", channel)?,
            user_id: slack_id("user_id", user)?,
            text: text.ok_or_else(|| ApiError::BadRequest("missing field text".into()))?,
            response_url: response_url.filter(|u| !u.is_empty()),
            trigger_id: trigger.filter(|t| !t.is_empty()),
        })
    }
}

/// A `block_actions` interaction: who clicked which button on which request.
#[derive(Debug, Clone)]
pub struct ButtonClick {
    /// Who clicked.
    pub user_id: String,
    /// `approve` or `deny`.
    pub action_id: String,
    /// The button's value: the request id.
    pub value: String,
    /// Where to answer the clicker.
    pub response_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: PayloadUser,
    #[serde(default)]
    actions: Vec<PayloadAction>,
    #[serde(default)]
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct PayloadUser {
    id: String,
}

#[derive(Deserialize)]
struct PayloadAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

impl ButtonClick {
    /// Parses `payload=<json>`; anything but one button click is a 400 saying what.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::BadRequest("the body is not UTF-8".into()));
        }
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| ApiError::BadRequest("missing field payload".into()))?;
        let p: Payload = serde_json::from_str(&payload).map_err(|e| {
            ApiError::BadRequest(format!("payload is not a Slack interaction: {e}"))
        })?;
        if p.kind != "block_actions" {
            return Err(ApiError::BadRequest(format!(
                "interaction type {:?} is not handled",
                crate::domain::truncate_for_display(&p.kind)
            )));
        }
        let action = match p.actions.as_slice() {
            [one] => one,
            _ => return Err(ApiError::BadRequest("expected exactly one action".into())),
        };
        if !matches!(action.action_id.as_str(), "approve" | "deny") {
            return Err(ApiError::BadRequest(format!(
                "unknown action {:?}",
                crate::domain::truncate_for_display(&action.action_id)
            )));
        }
        Ok(Self {
            user_id: slack_id("user.id", Some(p.user.id))?,
            action_id: action.action_id.clone(),
            value: action
                .value
                .clone()
                .ok_or_else(|| ApiError::BadRequest("the button has no value".into()))?,
            response_url: p.response_url.filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_command_parses_and_names_missing_fields() {
        let ok = SlashCommand::parse(b"team_id=T1&channel_id=C1&user_id=U1&text=help&response_url=https%3A%2F%2Fhooks.slack.com%2Fx").unwrap();
        assert_eq!((ok.user_id.as_str(), ok.text.as_str()), ("U1", "help"));
        for (body, needle) in [
            (&b"channel_id=C1&user_id=U1&text=x"[..], "team_id"),
            (b"team_id=T1&channel_id=C1&text=x", "user_id"),
            (b"team_id=T1&channel_id=C1&user_id=U1", "text"),
            (b"team_id=T1&channel_id=C1&user_id=U%3C1&text=x", "user_id"),
            (
                b"team_id=T1&channel_id=C1&user_id=U1&user_id=U2&text=x",
                "twice",
            ),
            (b"team_id=T1&channel_id=C1&user_id=U1&text=\xff", "UTF-8"),
        ] {
            let e = SlashCommand::parse(body).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn a_button_click_parses_and_anything_else_is_refused() {
        let body = |json: &str| {
            format!(
                "payload={}",
                percent_encoding::utf8_percent_encode(json, percent_encoding::NON_ALPHANUMERIC)
            )
        };
        let ok = ButtonClick::parse(body(r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"approve","value":"SR-1"}],"response_url":"https://hooks.slack.com/a"}"#).as_bytes()).unwrap();
        assert_eq!(
            (ok.action_id.as_str(), ok.value.as_str()),
            ("approve", "SR-1")
        );
        for json in [
            r#"{"type":"view_submission","user":{"id":"U1"},"actions":[]}"#,
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"delete","value":"SR-1"}]}"#,
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[]}"#,
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"approve"}]}"#,
            r#"{"type":"block_actions","actions":[{"action_id":"approve","value":"SR-1"}]}"#,
            r#"not json"#,
        ] {
            assert!(ButtonClick::parse(body(json).as_bytes()).is_err(), "{json}");
        }
        assert!(ButtonClick::parse(b"nothing=here").is_err());
    }

    #[test]
    fn ssl_check_is_recognised() {
        assert!(is_ssl_check(b"ssl_check=1&token=x"));
        assert!(!is_ssl_check(b"ssl_check=0"));
    }
}
