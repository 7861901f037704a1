//! What the service sends to NAVER WORKS, as typed content objects (pure): the approval message
//! (a `button_template` whose Approve and Deny are message actions carrying a versioned
//! `postback`), the room's messages after each press and at the end, and plain texts for the
//! requester, all from a notice's [`NoticeFacts`] (the policy's facts in its sentences, people by
//! their policy names). NAVER WORKS shows text as typed (no markup, so nothing is escaped;
//! people's words are shown inert, after a label in quotation marks) and cannot edit a sent
//! message, so every change is a new message. Every text is cut to the limits of
//! `reference/naver-works.md` section 2.2 on a character boundary; [`check_content`] holds any
//! content to those limits and is what the fake NAVER WORKS enforces.

use crate::domain::ports::notify::Notice;
use crate::domain::{Action, NoticeFacts, Quoted, RequestId, RequestState, ShareRequest};
use serde_json::{Value, json};

/// `text.text`, in characters.
pub const MAX_TEXT: usize = 2000;
/// `button_template.contentText`, in characters.
pub const MAX_CONTENT_TEXT: usize = 1000;
/// An action's `label`, in characters.
pub const MAX_LABEL: usize = 20;
/// A message action's `postback`, in characters.
pub const MAX_POSTBACK: usize = 1000;
/// Actions in one button template.
pub const MAX_ACTIONS: usize = 10;

/// Cuts `s` to at most `max` characters, ending with `…` when it was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A text message, cut to [`MAX_TEXT`].
pub fn text(s: &str) -> Value {
    json!({"type": "text", "text": truncate(s, MAX_TEXT)})
}

/// What a button press asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    /// `true` for Approve, `false` for Deny.
    pub approve: bool,
    /// The request.
    pub request_id: String,
    /// The short fingerprint the card showed (the press counts only while it still matches).
    pub fingerprint: String,
}

/// The `postback` of a button: `v1|approve|<request id>|<short fingerprint>` (or `deny`).
pub fn postback(approve: bool, r: &ShareRequest) -> String {
    format!(
        "v1|{}|{}|{}",
        if approve { "approve" } else { "deny" },
        r.id,
        r.short_fingerprint()
    )
}

/// Reads a `postback` back; `None` for anything that is not exactly what [`postback`] writes.
pub fn parse_postback(s: &str) -> Option<Press> {
    if s.len() > MAX_POSTBACK {
        return None;
    }
    let mut parts = s.split('|');
    let (Some("v1"), Some(verb), Some(id), Some(fp), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let approve = match verb {
        "approve" => true,
        "deny" => false,
        _ => return None,
    };
    let plain = |x: &str| {
        !x.is_empty()
            && x.len() <= 64
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !plain(id) || !plain(fp) {
        return None;
    }
    Some(Press {
        approve,
        request_id: id.to_owned(),
        fingerprint: fp.to_owned(),
    })
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Share => "share",
        Action::Unshare => "unshare",
        Action::Set => "set the share list of",
    }
}

fn image(r: &ShareRequest) -> String {
    if r.image_name.trim().is_empty() {
        format!("image {}", r.image_no)
    } else {
        format!("image {} \"{}\"", r.image_no, r.image_name.trim())
    }
}

fn targets(r: &ShareRequest) -> String {
    let all: Vec<&str> = r.targets.iter().map(|t| t.as_str()).collect();
    truncate(&all.join(", "), 400)
}

/// "share image 1234567 "golden-web" with a@x, b@x for 7d".
fn subject(r: &ShareRequest) -> String {
    let duration = match (r.action, r.duration) {
        (Action::Unshare, _) => String::new(),
        (_, Some(d)) => format!(" for {d}"),
        (_, None) => " with no end".to_owned(),
    };
    let with = match r.action {
        Action::Set => "to",
        _ => "with",
    };
    format!(
        "{} {} {with} {}{duration}",
        verb(r.action),
        image(r),
        targets(r)
    )
}

/// The label of the requester's reason, quoted after it.
pub const REASON_LABEL: &str = "Reason, in the requester's words:";

/// Someone's words as NAVER WORKS shows them: a label, then the words in quotation marks.
/// NAVER WORKS shows text as typed; the words are inert and one line, so they cannot form a
/// line of ours, and the marks show where they start and end.
pub fn quoted(label: &str, words: &Quoted, max: usize) -> String {
    format!("{label} “{}”", words.shorter(max))
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The approval message for the rule's NAVER WORKS room: the request as the Slack card shows it
/// (requester, what, the policy's decision, approvals, fingerprint, expiry, the requester's
/// reason quoted last, so that a cut takes from it and never from the facts) and Approve / Deny.
pub fn approval_card(facts: &NoticeFacts) -> Value {
    let f = facts;
    let r = f.request();
    let mut lines = vec![
        format!("Image share request {}", r.id),
        format!("From: {}", f.requester),
        format!("Asks to {}", subject(r)),
        f.policy.sentence(),
        format!("Approvals: {}", f.progress.phrase()),
        format!(
            "Fingerprint {} · expires {}",
            f.policy.fingerprint,
            time(r.expires_at)
        ),
    ];
    if let Some(reason) = &f.reason {
        lines.push(quoted(REASON_LABEL, reason, 200));
    }
    json!({
        "type": "button_template",
        "contentText": truncate(&lines.join("\n"), MAX_CONTENT_TEXT),
        "actions": [
            {"type": "message", "label": "Approve", "postback": postback(true, r)},
            {"type": "message", "label": "Deny", "postback": postback(false, r)},
        ],
    })
}

/// The room's message after a press that counted, or once approved: who, and how many more
/// are needed.
pub fn progress_text(facts: &NoticeFacts) -> Value {
    let f = facts;
    let r = f.request();
    let s = match f.notice() {
        Notice::ApprovalAdded(a) => format!(
            "Request {}: {} approved. Approvals: {}.",
            r.id,
            a.person,
            f.progress.phrase()
        ),
        _ if f.policy.automatic() => format!(
            "Request {} is approved automatically by {}; the change is under way.",
            r.id,
            f.policy.rule_phrase()
        ),
        _ => format!(
            "Request {} is approved ({}); the change is under way.",
            r.id,
            f.progress.phrase()
        ),
    };
    text(&s)
}

fn state_word(s: RequestState) -> &'static str {
    match s {
        RequestState::Pending => "pending",
        RequestState::Approved => "approved",
        RequestState::Executing => "being carried out",
        RequestState::Succeeded => "done",
        RequestState::Failed => "failed",
        RequestState::Denied => "denied",
        RequestState::Expired => "expired",
        RequestState::Cancelled => "cancelled",
    }
}

/// The end of a request, for the room and for the requester (a new message: nothing is edited).
pub fn outcome_text(facts: &NoticeFacts) -> Value {
    let f = facts;
    let r = f.request();
    let s = match r.state {
        RequestState::Succeeded => {
            let mut s = format!("Request {} done: {}.", r.id, f.outcome());
            if let Some(list) = r
                .outcome
                .as_ref()
                .and_then(|o| o.shared_with_after.as_ref())
            {
                s.push_str(&format!(
                    "\nNCP now shares image {} with: {}",
                    r.image_no,
                    if list.is_empty() {
                        "nobody".to_owned()
                    } else {
                        truncate(&list.join(", "), 1500)
                    }
                ));
            }
            s
        }
        RequestState::Failed => format!(
            "Request {} to {} failed: {}. It stays on record; ask again once the cause is fixed.",
            r.id,
            subject(r),
            f.outcome()
        ),
        RequestState::Denied => match &f.denial {
            Some(d) => {
                let mut s = format!(
                    "Request {} to {} was denied by {}. Nothing was shared.",
                    r.id,
                    subject(r),
                    d.by
                );
                if let Some(words) = &d.comment {
                    s.push('\n');
                    s.push_str(&quoted(
                        &format!("{}'s reason for the denial, in their words:", d.by),
                        words,
                        500,
                    ));
                }
                s
            }
            None if f.refused() => format!(
                "Request {} to {} was refused by the policy: {}. Nothing was shared.",
                r.id,
                subject(r),
                f.outcome()
            ),
            None => format!(
                "Request {} to {} was denied: {}. Nothing was shared.",
                r.id,
                subject(r),
                f.outcome()
            ),
        },
        RequestState::Expired => format!(
            "Request {} to {} expired at {}: {}. Nothing was shared.",
            r.id,
            subject(r),
            time(r.expires_at),
            f.progress.phrase()
        ),
        RequestState::Cancelled => format!(
            "Request {} to {} was cancelled. Nothing was shared.",
            r.id,
            subject(r)
        ),
        RequestState::Pending | RequestState::Approved | RequestState::Executing => {
            return submitted_text(f);
        }
    };
    text(&s)
}

/// The requester's answer when a request is stored: the policy's decision and what happens
/// next.
pub fn submitted_text(facts: &NoticeFacts) -> Value {
    let f = facts;
    let r = f.request();
    let s = match r.state {
        RequestState::Pending => format!(
            "Request {} to {} is waiting for approval. {} Fingerprint {}.",
            r.id,
            subject(r),
            f.policy.sentence(),
            f.policy.fingerprint
        ),
        RequestState::Approved | RequestState::Executing if f.policy.automatic() => format!(
            "Request {} to {} is approved automatically by {}; the change is under way.",
            r.id,
            subject(r),
            f.policy.rule_phrase()
        ),
        RequestState::Approved | RequestState::Executing => format!(
            "Request {} to {} is approved; the change is under way.",
            r.id,
            subject(r)
        ),
        _ => return outcome_text(f),
    };
    text(&s)
}

/// The requester's message about their share's end: a reminder before it, or what its end did.
pub fn lifecycle_text(facts: &NoticeFacts) -> Value {
    let f = facts;
    let r = f.request();
    let list = |ts: &[crate::domain::LoginId]| {
        let all: Vec<&str> = ts.iter().map(|t| t.as_str()).collect();
        truncate(&all.join(", "), 1000)
    };
    let s = match f.notice() {
        Notice::ShareEndingSoon { ends_at, targets } => format!(
            "The share of {} by request {} ends at {}: {} lose access then. Ask again if it is still needed.",
            image(r),
            r.id,
            time(*ends_at),
            list(targets)
        ),
        Notice::ShareEnded(ended) => {
            let mut s = format!(
                "The share of {} by request {} has ended (request {}).",
                image(r),
                r.id,
                ended.by_request
            );
            if !ended.removed.is_empty() {
                s.push_str(&format!(
                    " No longer shared with: {}.",
                    list(&ended.removed)
                ));
            }
            if !ended.kept.is_empty() {
                s.push_str(&format!(
                    " Still shared through other requests: {}.",
                    list(&ended.kept)
                ));
            }
            s
        }
        _ => return outcome_text(f),
    };
    text(&s)
}

/// What a notice says in NAVER WORKS, to the rule's room (`in_room`) or 1:1 to the requester:
/// the approval message, the room's news after a press, the stored or refused answer, the
/// end, a share's end.
pub fn notice_content(facts: &NoticeFacts, in_room: bool) -> Value {
    match facts.notice() {
        Notice::Submitted if in_room => approval_card(facts),
        Notice::Submitted | Notice::Refused => submitted_text(facts),
        Notice::ApprovalAdded(_) | Notice::Approved => progress_text(facts),
        Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => lifecycle_text(facts),
        Notice::Executing
        | Notice::Succeeded
        | Notice::Failed
        | Notice::Denied(_)
        | Notice::Expired
        | Notice::Cancelled => outcome_text(facts),
    }
}

/// The short answer to a press on a request that is no longer pending (a sent card stays
/// clickable forever): what already happened.
pub fn late_press_text(id: &RequestId, state: RequestState) -> Value {
    text(&format!(
        "Request {id} is already {}; this press changes nothing.",
        state_word(state)
    ))
}

/// Holds a content object to what NAVER WORKS accepts: a `text` or a `button_template` with
/// only documented properties, every text within its limit; the error says what is wrong.
pub fn check_content(content: &Value) -> Result<(), String> {
    let obj = content.as_object().ok_or("content is not an object")?;
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    let only = |allowed: &[&str], o: &serde_json::Map<String, Value>, what: &str| match o
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
    {
        Some(k) => Err(format!("{what} has an undocumented property {k:?}")),
        None => Ok(()),
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("text") => {
            only(&["type", "text"], obj, "text")?;
            match chars(&obj["text"]) {
                Some(1..=MAX_TEXT) => Ok(()),
                _ => Err(format!("text must be 1 to {MAX_TEXT} characters")),
            }
        }
        Some("button_template") => {
            only(&["type", "contentText", "actions"], obj, "button_template")?;
            match chars(&obj["contentText"]) {
                Some(1..=MAX_CONTENT_TEXT) => {}
                _ => {
                    return Err(format!(
                        "contentText must be 1 to {MAX_CONTENT_TEXT} characters"
                    ));
                }
            }
            let actions = obj["actions"].as_array().ok_or("actions is not a list")?;
            if actions.is_empty() || actions.len() > MAX_ACTIONS {
                return Err(format!("a button template has 1 to {MAX_ACTIONS} actions"));
            }
            for a in actions {
                let a = a.as_object().ok_or("an action is not an object")?;
                match chars(&a["label"]) {
                    Some(1..=MAX_LABEL) => {}
                    _ => return Err(format!("a label must be 1 to {MAX_LABEL} characters")),
                }
                match a.get("type").and_then(Value::as_str) {
                    Some("message") => {
                        only(
                            &["type", "label", "text", "postback"],
                            a,
                            "a message action",
                        )?;
                        if chars(&a["postback"]).is_some_and(|n| n > MAX_POSTBACK) {
                            return Err(format!("a postback is at most {MAX_POSTBACK} characters"));
                        }
                    }
                    Some("uri") => only(&["type", "label", "uri"], a, "a uri action")?,
                    Some(other) => {
                        return Err(format!(
                            "a {other:?} action is not allowed in a button template"
                        ));
                    }
                    None => return Err("an action has no type".into()),
                }
            }
            Ok(())
        }
        Some(other) => Err(format!("content type {other:?} is not one we send")),
        None => Err("content has no type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Approval, LoginId, PersonName};

    fn request() -> ShareRequest {
        serde_json::from_str(include_str!("testdata/request.json")).unwrap()
    }

    fn facts(r: &ShareRequest, approvals: &[Approval]) -> NoticeFacts {
        NoticeFacts::of_state(r, approvals)
    }

    #[test]
    fn the_approval_card_is_a_button_template_within_the_limits() {
        let r = request();
        let card = approval_card(&facts(&r, &[]));
        assert_eq!(check_content(&card), Ok(()));
        let text = card["contentText"].as_str().unwrap();
        assert!(
            text.contains("SR-7K3M9Q2X") && text.contains("0123456789ab"),
            "{text}"
        );
        assert!(text.contains("Approvals: 0 of 2 approvals"), "{text}");
        assert_eq!(
            card["actions"][0]["postback"],
            "v1|approve|SR-7K3M9Q2X|0123456789ab"
        );
        assert_eq!(
            card["actions"][1]["postback"],
            "v1|deny|SR-7K3M9Q2X|0123456789ab"
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let mut r = request();
        r.reason = Some("한".repeat(5000));
        r.targets = (0..200)
            .map(|i| LoginId::parse(&format!("someone-{i}@partner.example")).unwrap())
            .collect();
        let card = approval_card(&facts(&r, &[]));
        assert_eq!(check_content(&card), Ok(()));
        assert_eq!(check_content(&text(&"가".repeat(3000))), Ok(()));
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("한국어", 3), "한국어");
        for state in [
            RequestState::Succeeded,
            RequestState::Failed,
            RequestState::Denied,
            RequestState::Expired,
            RequestState::Cancelled,
            RequestState::Pending,
        ] {
            r.state = state;
            assert_eq!(
                check_content(&outcome_text(&facts(&r, &[]))),
                Ok(()),
                "{state:?}"
            );
        }
    }

    #[test]
    fn postbacks_round_trip_and_nothing_else_parses() {
        let r = request();
        assert_eq!(
            parse_postback(&postback(true, &r)),
            Some(Press {
                approve: true,
                request_id: "SR-7K3M9Q2X".into(),
                fingerprint: "0123456789ab".into()
            })
        );
        assert_eq!(
            parse_postback(&postback(false, &r)).map(|p| p.approve),
            Some(false)
        );
        for bad in [
            "",
            "Approve",
            "v1|approve|SR-7K3M9Q2X",
            "v2|approve|SR-7K3M9Q2X|ab",
            "v1|APPROVE|SR-7K3M9Q2X|ab",
            "v1|approve|req 8f2c|ab",
            "v1|approve|SR-7K3M9Q2X|ab|x",
            "v1|approve||ab",
            "v1|new",
        ] {
            assert_eq!(parse_postback(bad), None, "{bad}");
        }
        assert_eq!(
            parse_postback(&format!("v1|approve|{}|ab", "a".repeat(2000))),
            None
        );
    }

    #[test]
    fn progress_counts_each_person_once() {
        let r = request();
        let at = r.created_at;
        let approval = |p: &str| Approval {
            request_id: r.id.clone(),
            person: PersonName(p.into()),
            identity: crate::domain::Identity::new("works", p).unwrap(),
            approve: true,
            at,
            comment: None,
        };
        let one = [approval("alice"), approval("alice")];
        let t = progress_text(&NoticeFacts::new(
            &r,
            &one,
            &Notice::ApprovalAdded(one[0].clone()),
        ));
        assert_eq!(check_content(&t), Ok(()));
        assert!(
            t["text"].as_str().unwrap().contains(
                "alice approved. Approvals: 1 of 2 approvals (alice); 1 more needed from"
            ),
            "{t}"
        );
    }

    #[test]
    fn undocumented_or_oversized_content_is_refused() {
        for bad in [
            json!({"type": "text", "text": ""}),
            json!({"type": "text", "text": "x", "extra": 1}),
            json!({"type": "flex"}),
            json!({"type": "button_template", "contentText": "x", "actions": []}),
            json!({"type": "button_template", "contentText": "x", "actions": [
                {"type": "postback", "label": "A", "data": "d"}]}),
            json!({"type": "button_template", "contentText": "x", "actions": [
                {"type": "message", "label": "A label longer than twenty", "postback": "p"}]}),
        ] {
            assert!(check_content(&bad).is_err(), "{bad}");
        }
    }
}
