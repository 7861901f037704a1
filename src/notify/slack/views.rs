//! Block Kit views: the request form and the extend form (modals), the App Home tab, the image
//! picker's options answer, and the answers to a form's submission. Pure functions, no I/O; the
//! HTTP front opens, updates and publishes them through [`super::SlackApi`].
//!
//! As in [`super::render`], text from people or NCP (image names, login IDs, reasons, outcomes)
//! is escaped wherever Slack reads mrkdwn, and every Block Kit and view limit (title 24
//! characters, 100 blocks, option text 75, ...) is kept by cutting at a character boundary. The
//! home tab caps each of its sections, so it stays within 100 blocks whatever it is given.
//!
//! Input blocks use the same id as block and action (`block_id == action_id`), so a submission's
//! `state.values[IMAGE][IMAGE]` is the picked image, and a field error names the block.

use super::render::REASON_LABEL;
use super::render::{
    MAX_BUTTON_TEXT, button, confirm, confirm_subject, context, escape, header, one_line, plain,
    section, time, truncate_plain, who,
};
use crate::domain::{
    Approval, Grant, ImageNo, LoginId, MAX_REASON_CHARS, MAX_TARGETS, NoticeFacts, PersonName,
    RequestId, RequestState, ShareDuration, ShareRequest,
};
use crate::policy::{Action, Identity};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The request form's `callback_id`.
pub const REQUEST_CALLBACK: &str = "share_request";
/// The extend form's `callback_id`.
pub const EXTEND_CALLBACK: &str = "extend_share";
/// The image picker's block and action id.
pub const IMAGE: &str = "image";
/// The targets input's block and action id.
pub const TARGETS: &str = "targets";
/// The duration choice's block and action id.
pub const DURATION: &str = "duration";
/// The reason input's block and action id.
pub const REASON: &str = "reason";
/// The home tab's Approve button (`value`: the request id).
pub const HOME_APPROVE: &str = "home_approve";
/// The home tab's Deny button (`value`: the request id).
pub const HOME_DENY: &str = "home_deny";
/// The home tab's Revoke button (`value`: [`share_ref`]).
pub const HOME_REVOKE: &str = "home_revoke";
/// The home tab's Extend button (`value`: [`share_ref`]).
pub const HOME_EXTEND: &str = "home_extend";
/// The duration option value for "no end".
pub const NO_END: &str = "none";

/// Longest text of one section field.
const MAX_FIELD_TEXT: usize = 2000;

/// Longest view title, submit and close text.
pub const MAX_VIEW_TITLE: usize = 24;
/// Most blocks in a modal or a home tab.
pub const MAX_VIEW_BLOCKS: usize = 100;
/// Longest `private_metadata`.
pub const MAX_PRIVATE_METADATA: usize = 3000;
/// Longest `callback_id`.
pub const MAX_CALLBACK_ID: usize = 255;
/// Most options in a select menu or an options answer.
pub const MAX_OPTIONS: usize = 100;
/// Longest text of an option.
pub const MAX_OPTION_TEXT: usize = 75;
/// Longest input label and hint.
pub const MAX_LABEL: usize = 2000;
/// Longest placeholder.
pub const MAX_PLACEHOLDER: usize = 150;
/// Longest field error message we send: Slack shows it under the field, where a paragraph
/// would not fit.
pub const MAX_FIELD_ERROR: usize = 300;
/// Most items shown in each section of the home tab; the rest are counted in one line.
/// Three sections of at most two blocks an item, with their headers and lines, stay well
/// under [`MAX_VIEW_BLOCKS`].
pub const HOME_SECTION_MAX: usize = 15;

// ---------------------------------------------------------------------------------------------
// Shared pieces

fn label(text: &str) -> Value {
    plain(text, MAX_LABEL)
}

fn placeholder(text: &str) -> Value {
    plain(text, MAX_PLACEHOLDER)
}

/// A modal: title, close, optional submit, the blocks (at most [`MAX_VIEW_BLOCKS`]), the
/// callback id, and `private_metadata` when there is any.
fn modal(
    callback_id: &str,
    title: &str,
    blocks: Vec<Value>,
    submit: Option<&str>,
    close: &str,
    private_metadata: &str,
) -> Value {
    let mut blocks = blocks;
    blocks.truncate(MAX_VIEW_BLOCKS);
    let mut v = json!({
        "type": "modal",
        "title": plain(title, MAX_VIEW_TITLE),
        "close": plain(close, MAX_VIEW_TITLE),
        "blocks": blocks,
    });
    if !callback_id.is_empty() {
        v["callback_id"] = json!(truncate_plain(callback_id, MAX_CALLBACK_ID));
    }
    if let Some(s) = submit {
        v["submit"] = plain(s, MAX_VIEW_TITLE);
    }
    // Slack refuses an empty string here as it does an empty text; no state, no key. A longer
    // one is sent as it is: cutting opaque state would corrupt it, and Slack's refusal
    // (`invalid_arguments`) is the clearer failure.
    if !private_metadata.is_empty() {
        v["private_metadata"] = json!(private_metadata);
    }
    v
}

/// "7 days", "12 hours", "90 minutes": the unit `ShareDuration` prints, in words.
fn duration_words(d: ShareDuration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The value a duration option carries: `7d`, or [`NO_END`].
fn duration_value(d: Option<ShareDuration>) -> String {
    d.map(|d| d.to_string())
        .unwrap_or_else(|| NO_END.to_owned())
}

/// Reads a duration option's value back: [`NO_END`] is `None`, anything else a duration.
pub fn parse_duration_value(v: &str) -> Result<Option<ShareDuration>, String> {
    if v.trim() == NO_END {
        return Ok(None);
    }
    ShareDuration::parse(v).map(Some).map_err(|e| e.0)
}

fn duration_option(d: Option<ShareDuration>) -> Value {
    let text = match d {
        Some(d) => duration_words(d),
        None => "No end (until revoked)".to_owned(),
    };
    json!({ "text": plain(&text, MAX_OPTION_TEXT), "value": duration_value(d) })
}

/// The duration choice: a static select of `durations` (duplicates dropped, at most
/// [`MAX_OPTIONS`]), the first preselected. `None` when there is nothing to choose from: Slack
/// refuses a select without options, and the submission then carries no duration.
fn duration_input(durations: &[Option<ShareDuration>]) -> Option<Value> {
    let mut seen = Vec::new();
    let options: Vec<Value> = durations
        .iter()
        .filter(|d| {
            let fresh = !seen.contains(*d);
            seen.push(**d);
            fresh
        })
        .take(MAX_OPTIONS)
        .map(|d| duration_option(*d))
        .collect();
    let first = options.first()?.clone();
    Some(json!({
        "type": "input",
        "block_id": DURATION,
        "label": label("For how long"),
        "element": {
            "type": "static_select",
            "action_id": DURATION,
            "placeholder": placeholder("Choose how long"),
            "options": options,
            "initial_option": first,
        },
    }))
}

fn reason_input(required: bool) -> Value {
    json!({
        "type": "input",
        "block_id": REASON,
        "optional": !required,
        "label": label("Reason"),
        "hint": label(&format!(
            "Approvers see it on the request. At most {MAX_REASON_CHARS} characters."
        )),
        "element": {
            "type": "plain_text_input",
            "action_id": REASON,
            "multiline": true,
            "max_length": MAX_REASON_CHARS,
            "placeholder": placeholder("Why the other accounts need this image"),
        },
    })
}

/// `golden-web (1234567)`, cut so the number always shows; just the number without a name.
fn option_label(no: &ImageNo, name: &str) -> String {
    let name = one_line(name);
    let name = name.trim();
    if name.is_empty() {
        return no.as_str().to_owned();
    }
    let suffix = format!(" ({no})");
    let room = MAX_OPTION_TEXT.saturating_sub(suffix.chars().count());
    format!("{}{suffix}", truncate_plain(name, room))
}

fn image_option(no: &ImageNo, name: &str) -> Value {
    json!({
        "text": { "type": "plain_text", "text": option_label(no, name) },
        "value": no.as_str(),
    })
}

/// `1234567 "golden-web"`, or just the number; escaped for mrkdwn.
fn image_text(no: &ImageNo, name: &str) -> String {
    let name = one_line(name);
    let name = name.trim();
    if name.is_empty() {
        no.to_string()
    } else {
        format!("{no} \"{}\"", escape(&truncate_plain(name, 200)))
    }
}

/// "in 3 days", "in 5 hours", "in 12 minutes", "now", from `now` to `t`.
fn from_now(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mins = (t - now).num_minutes();
    if mins <= 0 {
        "now".to_owned()
    } else if mins < 120 {
        format!("in {mins} minute{}", if mins == 1 { "" } else { "s" })
    } else if mins < 48 * 60 {
        format!("in {} hours", mins / 60)
    } else {
        format!("in {} days", mins / (24 * 60))
    }
}

// ---------------------------------------------------------------------------------------------
// The request form

/// What the request form shows.
#[derive(Debug, Clone)]
pub struct RequestForm<'a> {
    /// Preselected image (number, name) — set when the view is updated after a pick.
    pub image: Option<(&'a ImageNo, &'a str)>,
    /// Duration choices (None = no end), shortest first; the first is the initial option.
    pub durations: &'a [Option<ShareDuration>],
    /// Whether the reason must be given.
    pub reason_required: bool,
    /// A context line under the title (e.g. "The image list is still loading: type the image number."), if any.
    pub note: Option<&'a str>,
    /// Opaque state the lead puts in (≤ 3000 chars): channel id the command came from, etc.
    pub private_metadata: &'a str,
}

/// The request form ("Share an image"): image picker (an `external_select` filled from the
/// options load URL; picking one sends `block_actions`, so the view can be narrowed), targets,
/// duration, reason. With no duration choices the duration field is left out.
pub fn request_modal(form: &RequestForm) -> Value {
    let mut blocks = Vec::new();
    if let Some(note) = form.note.map(str::trim).filter(|n| !n.is_empty()) {
        blocks.push(context(&escape(note)));
    }
    let mut picker = json!({
        "type": "external_select",
        "action_id": IMAGE,
        "min_query_length": 0,
        "placeholder": placeholder("Type an image name or number"),
    });
    if let Some((no, name)) = form.image {
        picker["initial_option"] = image_option(no, name);
    }
    blocks.push(json!({
        "type": "input",
        "block_id": IMAGE,
        "dispatch_action": true,
        "label": label("Image"),
        "hint": label("The images you may share; type to filter by name or number."),
        "element": picker,
    }));
    blocks.push(json!({
        "type": "input",
        "block_id": TARGETS,
        "label": label("Share with"),
        "hint": label(&format!(
            "NCP login IDs, separated by commas or spaces (at most {MAX_TARGETS})"
        )),
        "element": {
            "type": "plain_text_input",
            "action_id": TARGETS,
            "placeholder": placeholder("alice@partner.example, bob@partner.example"),
        },
    }));
    blocks.extend(duration_input(form.durations));
    blocks.push(reason_input(form.reason_required));
    modal(
        REQUEST_CALLBACK,
        "Share an image",
        blocks,
        Some("Ask"),
        "Cancel",
        form.private_metadata,
    )
}

// ---------------------------------------------------------------------------------------------
// The extend form

/// What the extend form shows.
#[derive(Debug, Clone)]
pub struct ExtendForm<'a> {
    /// The share to extend.
    pub grant: &'a Grant,
    /// The image's name, when known.
    pub image_name: Option<&'a str>,
    /// Duration choices (None = no end), shortest first; the first is the initial option.
    pub durations: &'a [Option<ShareDuration>],
    /// Whether the reason must be given.
    pub reason_required: bool,
}

/// `image_no|target|request_id`: a share as a button value and the extend form's
/// `private_metadata`. A login ID may contain `|`, the image number and request id cannot, so
/// [`parse_share_ref`] splits at the first and the last.
pub fn share_ref(grant: &Grant) -> String {
    format!("{}|{}|{}", grant.image_no, grant.target, grant.request_id)
}

/// Reads [`share_ref`] back; `None` when any part is not valid.
pub fn parse_share_ref(s: &str) -> Option<(ImageNo, LoginId, RequestId)> {
    let (image, rest) = s.split_once('|')?;
    let (target, request) = rest.rsplit_once('|')?;
    Some((
        ImageNo::parse(image).ok()?,
        LoginId::parse(target).ok()?,
        RequestId::parse(request).ok()?,
    ))
}

/// The extend form ("Extend a share"): what is shared with whom until when, then duration and
/// reason. Its `private_metadata` is the share's [`share_ref`].
pub fn extend_modal(form: &ExtendForm) -> Value {
    let g = form.grant;
    let until = match g.ends_at {
        Some(t) => format!("until {}", time(t)),
        None => "with no end".to_owned(),
    };
    let mut blocks = vec![
        section(&format!(
            "Image {} is shared with `{}` {until} (request *{}*).",
            image_text(&g.image_no, form.image_name.unwrap_or_default()),
            escape(g.target.as_str()),
            g.request_id
        )),
        context(
            "Extending asks again for the same account: approvers see a new request, and the new end counts from when it is approved.",
        ),
    ];
    blocks.extend(duration_input(form.durations));
    blocks.push(reason_input(form.reason_required));
    modal(
        EXTEND_CALLBACK,
        "Extend a share",
        blocks,
        Some("Ask"),
        "Cancel",
        &share_ref(g),
    )
}

// ---------------------------------------------------------------------------------------------
// The home tab

/// A request in the home tab, with its approvals (counted as every notice counts them).
#[derive(Debug, Clone)]
pub struct HomeRequest {
    /// The request.
    pub request: ShareRequest,
    /// Its approvals and denials so far.
    pub approvals: Vec<Approval>,
    /// The image's name when the request has none.
    pub image_name: Option<String>,
}

/// An active share in the home tab.
#[derive(Debug, Clone)]
pub struct HomeShare {
    /// The grant.
    pub grant: Grant,
    /// The image's name, when known.
    pub image_name: Option<String>,
    /// Who asked for it (the account).
    pub requester: Identity,
    /// Who asked for it, by their policy name (what the tab shows), when the policy knows them.
    pub requester_name: Option<PersonName>,
    /// Whether the viewer asked for it (else they approved it).
    pub yours: bool,
}

/// Everything one person's home tab shows.
#[derive(Debug, Clone)]
pub struct HomeView<'a> {
    /// Pending requests this person may approve.
    pub waiting: &'a [HomeRequest],
    /// This person's own requests.
    pub mine: &'a [HomeRequest],
    /// Shares this person asked for or approved.
    pub active: &'a [HomeShare],
    /// The slash command as configured (`/share-image`).
    pub command: &'a str,
    /// When it is rendered.
    pub now: DateTime<Utc>,
}

fn with_name(h: &HomeRequest) -> ShareRequest {
    let mut r = h.request.clone();
    if let Some(name) = &h.image_name
        && !name.trim().is_empty()
    {
        r.image_name = name.clone();
    }
    r
}

/// "share image 1234567 "golden-web" with a, b for 7d", escaped.
fn subject(r: &ShareRequest) -> String {
    escape(&one_line(&confirm_subject(r)))
}

/// The requester's reason as a section field: plain text (never mrkdwn), labelled as their
/// words, inert and one line (the tab's block budget has no room for a quote block per item).
fn reason_field(f: &NoticeFacts) -> Value {
    match &f.reason {
        Some(q) => plain(
            &format!("{REASON_LABEL} “{}”", q.shorter(300)),
            MAX_FIELD_TEXT,
        ),
        None => plain("Reason: none given", MAX_FIELD_TEXT),
    }
}

fn waiting_item(h: &HomeRequest, i: usize, now: DateTime<Utc>) -> [Value; 2] {
    let r = with_name(h);
    let f = NoticeFacts::of_state(&r, &h.approvals);
    let mut item = section(&format!(
        "*{}* · {} asks to {}\n*Approvals:* {} · expires {} ({})",
        r.id,
        escape(&f.requester),
        subject(&r),
        escape(&f.progress.phrase()),
        time(r.expires_at),
        from_now(r.expires_at, now),
    ));
    item["fields"] = json!([reason_field(&f)]);
    let asker = &f.requester;
    let plain_subject = one_line(&confirm_subject(&r));
    let approve = confirm(
        "Approve this share?",
        &format!(
            "{asker} asks to {plain_subject}. Fingerprint {}. Approve?",
            f.policy.fingerprint
        ),
        "Approve",
        "primary",
    );
    let deny = confirm(
        "Deny this request?",
        &format!("Deny the request to {plain_subject}? The requester is told."),
        "Deny",
        "danger",
    );
    [
        item,
        json!({
            "type": "actions",
            "block_id": format!("w{i}-{}", r.id),
            "elements": [
                button("Approve", HOME_APPROVE, r.id.as_str(), "primary", approve),
                button("Deny", HOME_DENY, r.id.as_str(), "danger", deny),
            ],
        }),
    ]
}

/// A request's state in words: "waiting for approval, 1 of 2 approvals", "shared", "denied".
fn state_words(h: &HomeRequest) -> String {
    let r = &h.request;
    match (r.state, r.action) {
        (RequestState::Pending, _) => format!(
            ":hourglass_flowing_sand: *pending*, {}",
            escape(&NoticeFacts::of_state(r, &h.approvals).progress.phrase())
        ),
        (RequestState::Approved | RequestState::Executing, _) => {
            ":gear: *approved*, changing NCP now".to_owned()
        }
        (RequestState::Succeeded, Action::Share) => match r.duration {
            Some(d) => format!(
                ":white_check_mark: *shared* until {}",
                time(r.updated_at + d.to_chrono())
            ),
            None => ":white_check_mark: *shared*, no end".to_owned(),
        },
        (RequestState::Succeeded, Action::Unshare) => ":white_check_mark: *unshared*".to_owned(),
        (RequestState::Succeeded, Action::Set) => ":white_check_mark: *share list set*".to_owned(),
        (RequestState::Failed, _) => ":x: *failed*".to_owned(),
        (RequestState::Denied, _) => ":no_entry: *denied*".to_owned(),
        (RequestState::Expired, _) => ":alarm_clock: *expired* without enough approvals".to_owned(),
        (RequestState::Cancelled, _) => ":leftwards_arrow_with_hook: *cancelled*".to_owned(),
    }
}

fn mine_item(h: &HomeRequest) -> Value {
    let r = with_name(h);
    section(&format!(
        "*{}* · {} · asked {}\nTo {}",
        r.id,
        state_words(h),
        time(r.created_at),
        subject(&r),
    ))
}

fn active_item(s: &HomeShare, i: usize, now: DateTime<Utc>) -> [Value; 2] {
    let g = &s.grant;
    let image = image_text(&g.image_no, s.image_name.as_deref().unwrap_or_default());
    let until = match g.ends_at {
        Some(t) => format!("until {} ({})", time(t), from_now(t, now)),
        None => "no end: until revoked".to_owned(),
    };
    let whose = if s.yours {
        "you asked".to_owned()
    } else {
        format!(
            "you approved, {} asked",
            who(&s.requester, s.requester_name.as_ref())
        )
    };
    let text = format!(
        "Image {image} shared with `{}`\n{until} · request *{}* · {whose}",
        escape(g.target.as_str()),
        g.request_id
    );
    let reference = share_ref(g);
    let plain_image = match s.image_name.as_deref().map(one_line) {
        Some(n) if !n.trim().is_empty() => format!("{} \"{}\"", g.image_no, n.trim()),
        _ => g.image_no.to_string(),
    };
    let revoke = confirm(
        "Revoke this share?",
        &format!(
            "Stop sharing image {plain_image} with {} now? Servers already created from it keep running.",
            g.target
        ),
        "Revoke",
        "danger",
    );
    let mut elements = vec![button("Revoke", HOME_REVOKE, &reference, "danger", revoke)];
    if g.ends_at.is_some() {
        // A share with no end has nothing to extend.
        elements.push(json!({
            "type": "button",
            "text": plain("Extend", MAX_BUTTON_TEXT),
            "action_id": HOME_EXTEND,
            "value": reference,
        }));
    }
    [
        section(&text),
        json!({
            "type": "actions",
            "block_id": format!("s{i}-{}", g.request_id),
            "elements": elements,
        }),
    ]
}

/// "… and 7 more: `/share-image status <id>` shows any of them."
fn more_line(hidden: usize, command: &str) -> Value {
    context(&format!(
        // `<` and `>` are Slack's markup even in code: escaped like any other text.
        "… and {hidden} more: `{} status &lt;id&gt;` shows any of them.",
        escape(&one_line(command))
    ))
}

/// The App Home tab: "Waiting for your approval" (Approve, Deny), "Your requests" (newest
/// first, their states in words), "Active shares" (Revoke, and Extend for a share with an end).
/// Each section shows at most [`HOME_SECTION_MAX`] items and counts the rest.
pub fn home(view: &HomeView) -> Value {
    let command = escape(&one_line(view.command));
    let ask_hint = format!("Ask with `{command}` or the *Share an image* shortcut.");
    let mut blocks = Vec::new();

    blocks.push(header("Waiting for your approval"));
    let mut waiting: Vec<&HomeRequest> = view.waiting.iter().collect();
    // The ones that expire first need an answer first.
    waiting.sort_by_key(|h| h.request.expires_at);
    if waiting.is_empty() {
        blocks.push(section(
            "Nothing is waiting for your approval. :tada: New requests you may approve appear here.",
        ));
    }
    for (i, h) in waiting.iter().take(HOME_SECTION_MAX).enumerate() {
        blocks.extend(waiting_item(h, i, view.now));
    }
    if waiting.len() > HOME_SECTION_MAX {
        blocks.push(more_line(waiting.len() - HOME_SECTION_MAX, view.command));
    }
    blocks.push(json!({ "type": "divider" }));

    blocks.push(header("Your requests"));
    let mut mine: Vec<&HomeRequest> = view.mine.iter().collect();
    mine.sort_by(|a, b| {
        b.request
            .created_at
            .cmp(&a.request.created_at)
            .then_with(|| a.request.id.cmp(&b.request.id))
    });
    if mine.is_empty() {
        blocks.push(section(&format!("You have no requests yet. {ask_hint}")));
    }
    for h in mine.iter().take(HOME_SECTION_MAX) {
        blocks.push(mine_item(h));
    }
    if mine.len() > HOME_SECTION_MAX {
        blocks.push(more_line(mine.len() - HOME_SECTION_MAX, view.command));
    }
    blocks.push(json!({ "type": "divider" }));

    blocks.push(header("Active shares"));
    let mut active: Vec<&HomeShare> = view.active.iter().collect();
    // Ending soonest first; shares with no end last.
    active.sort_by_key(|s| (s.grant.ends_at.is_none(), s.grant.ends_at));
    if active.is_empty() {
        blocks.push(section(&format!(
            "No active shares you asked for or approved. {ask_hint}"
        )));
    }
    for (i, s) in active.iter().take(HOME_SECTION_MAX).enumerate() {
        blocks.extend(active_item(s, i, view.now));
    }
    if active.len() > HOME_SECTION_MAX {
        blocks.push(more_line(active.len() - HOME_SECTION_MAX, view.command));
    }
    blocks.push(context(&format!(
        "Updated {}. Servers created from a shared image keep running after the share is revoked.",
        time(view.now)
    )));
    blocks.truncate(MAX_VIEW_BLOCKS);
    json!({ "type": "home", "blocks": blocks })
}

// ---------------------------------------------------------------------------------------------
// Answers to the options load URL and to a submission

/// The options load answer: `{"options":[{"text":{"type":"plain_text","text":"<name> (<no>)"},"value":"<no>"}]}`, at most 100, text ≤ 75 chars (cut on a char boundary keeping the number visible).
pub fn image_options<'a>(images: impl IntoIterator<Item = (&'a ImageNo, &'a str)>) -> Value {
    let mut seen: Vec<&ImageNo> = Vec::new();
    let mut options = Vec::new();
    for (no, name) in images {
        if options.len() == MAX_OPTIONS {
            break;
        }
        // Slack's menu misbehaves with two options of one value; the first name wins.
        if seen.contains(&no) {
            continue;
        }
        seen.push(no);
        options.push(image_option(no, name));
    }
    json!({ "options": options })
}

/// `{"response_action":"errors","errors":{block_id: message}}` (messages cut to a safe length).
/// Two messages for one block are joined; an empty message becomes a generic one, as Slack
/// refuses an empty text.
pub fn field_errors(errors: &[(&str, String)]) -> Value {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (block, message) in errors {
        let message = one_line(message).trim().to_owned();
        let message = if message.is_empty() {
            "This field is not valid.".to_owned()
        } else {
            message
        };
        match merged.iter_mut().find(|(b, _)| b == block) {
            Some((_, m)) => {
                m.push_str("; ");
                m.push_str(&message);
            }
            None => merged.push(((*block).to_owned(), message)),
        }
    }
    let map: Map<String, Value> = merged
        .into_iter()
        .map(|(b, m)| (b, json!(truncate_plain(&m, MAX_FIELD_ERROR))))
        .collect();
    json!({ "response_action": "errors", "errors": map })
}

/// `{"response_action":"update","view": <modal titled `title` with these message blocks (or the text as a section when blocks are null) and a close button "Done">}` — shows a submission's confirmation in the form.
///
/// The message is one of [`super::render`]'s `(text, blocks)`: its text is mrkdwn, escaped
/// already.
pub fn confirmation(title: &str, message: (String, Value)) -> Value {
    let (text, blocks) = message;
    let blocks = match blocks {
        Value::Array(b) if !b.is_empty() => b,
        _ => vec![section(&text)],
    };
    json!({
        "response_action": "update",
        "view": modal("", title, blocks, None, "Done", ""),
    })
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
