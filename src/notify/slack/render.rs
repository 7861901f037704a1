//! Block Kit rendering of approval cards and requester messages: pure functions, no I/O.
//!
//! Every function takes a notice's [`NoticeFacts`] and returns `(fallback text, blocks)`: the
//! text is what notifications and clients without Block Kit show, the blocks are the message.
//! What the policy decided (rule, approvers, how many, whether the requester's own approval
//! counts, approvals so far) is stated only through the facts' sentences; people are named by
//! their policy names, never mentioned. Words people typed (a reason, a denial's comment) are
//! quoted in a rich text block ([`quote_block`]), inert and one line, never in mrkdwn. Other
//! text from people or from NCP (login IDs, image names, rule names, NCP messages) is escaped
//! for mrkdwn, so it can never mention `<!channel>`, ping a user or forge a link. Block Kit limits (button
//! text 75, confirm text 300, section text 3000, header 150 characters) are kept by cutting at a
//! character boundary, never inside an escape or a `<...>` token, and marking the cut with `…`.

use crate::domain::{DriftFinding, DriftKind, NoticeFacts, Quoted, RequestState, ShareRequest};
use crate::notify::Notice;
use crate::policy::{Action, Identity, PersonName};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Longest button text Block Kit accepts.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Longest confirm dialog title.
pub const MAX_CONFIRM_TITLE: usize = 100;
/// Longest confirm dialog text.
pub const MAX_CONFIRM_TEXT: usize = 300;
/// Longest confirm or deny button text of a confirm dialog.
pub const MAX_CONFIRM_BUTTON: usize = 30;
/// Longest text of a section block.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Longest text of a header block.
pub const MAX_HEADER_TEXT: usize = 150;
/// Longest text of one context element.
pub const MAX_CONTEXT_TEXT: usize = 2000;
/// Longest fallback text we send (Slack truncates far later; notifications show much less).
pub const MAX_FALLBACK_TEXT: usize = 3000;

/// What revoking a share cannot undo; every card says it so nobody approves thinking otherwise.
pub const REVOCATION_CAVEAT: &str = "Revoking a share does not undo everything: servers already created from a shared image keep running after the share is revoked.";

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

/// Escapes text for mrkdwn: `&`, `<` and `>` become entities, so it is shown, never interpreted.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Cuts plain text to at most `max` characters, marking a cut with `…`.
pub fn truncate_plain(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts mrkdwn to at most `max` characters without splitting an entity (`&amp;`) or a
/// `<...>` token (a mention or link), marking a cut with `…`.
pub fn truncate_mrkdwn(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if let Some(open) = out.rfind('<')
        && !out[open..].contains('>')
    {
        out.truncate(open);
    }
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

/// A one-line version of text from people: control characters and line breaks become spaces.
pub(super) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(super) fn plain(text: &str, max: usize) -> Value {
    json!({ "type": "plain_text", "text": truncate_plain(&one_line(text), max), "emoji": true })
}

pub(super) fn header(text: &str) -> Value {
    json!({ "type": "header", "text": plain(text, MAX_HEADER_TEXT) })
}

pub(super) fn section(mrkdwn: &str) -> Value {
    json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": truncate_mrkdwn(mrkdwn, MAX_SECTION_TEXT) }
    })
}

pub(super) fn context(mrkdwn: &str) -> Value {
    json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": truncate_mrkdwn(mrkdwn, MAX_CONTEXT_TEXT) }]
    })
}

fn fallback(text: &str) -> String {
    truncate_mrkdwn(text, MAX_FALLBACK_TEXT)
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// A person as every message shows them: their policy name (the account only when the policy
/// does not know them), escaped; never a mention, so a card pings nobody.
pub(super) fn who(identity: &Identity, person: Option<&PersonName>) -> String {
    escape(&crate::domain::notice::person_or_account(person, identity))
}

/// Words people typed, as a Block Kit quote: a bold label, then the words in a
/// `rich_text_quote`. Rich text elements are literal text (no mrkdwn, no mention, no link),
/// and [`Quoted`] is one line, so the words can never look like a line of the card.
pub fn quote_block(label: &str, words: &Quoted) -> Value {
    json!({
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [{ "type": "text", "text": label, "style": { "bold": true } }]
            },
            {
                "type": "rich_text_quote",
                "elements": [{ "type": "text", "text": words.as_str() }]
            }
        ]
    })
}

/// The label of the requester's reason wherever it is quoted.
pub const REASON_LABEL: &str = "Reason, in the requester's words:";

/// The label of an approver's comment on a denial.
pub fn denial_label(by: &PersonName) -> String {
    format!("{by}'s reason for the denial, in their words:")
}

/// The image as `1234567 "golden-web"`, escaped.
fn image_label(r: &ShareRequest) -> String {
    if r.image_name.is_empty() {
        r.image_no.to_string()
    } else {
        format!("{} \"{}\"", r.image_no, one_line(&r.image_name))
    }
}

fn targets_of(r: &ShareRequest) -> Vec<String> {
    r.targets.iter().map(|t| t.as_str().to_owned()).collect()
}

/// Joins items (already in their final form) until `budget` characters, then says how many more.
fn inline_list(items: &[String], budget: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let rest = items.len() - i;
        if out.chars().count() + sep.len() + item.chars().count() + 16 > budget && rest > 1 {
            out.push_str(&format!("{sep}and {rest} more"));
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

/// One line per item (already escaped), prefixed, until `budget` characters, then how many more.
fn bullet_lines(prefix: &str, items: &[String], budget: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let line = format!("{prefix}{item}\n");
        let rest = items.len() - i;
        if out.chars().count() + line.chars().count() + 24 > budget && rest > 1 {
            out.push_str(&format!("{prefix}… and {rest} more\n"));
            return out;
        }
        out.push_str(&line);
    }
    out
}

fn escaped(items: &[String]) -> Vec<String> {
    items.iter().map(|s| format!("`{}`", escape(s))).collect()
}

/// What the action does, for sentences: "share image X with", ...
fn action_phrase(action: Action) -> &'static str {
    match action {
        Action::Share => "share",
        Action::Unshare => "stop sharing",
        Action::Set => "set the share list of",
    }
}

/// The targets section: a bullet list, or for `set` the diff against the list when asked.
fn targets_section(r: &ShareRequest) -> String {
    let budget = MAX_SECTION_TEXT - 200;
    match r.action {
        Action::Share => format!(
            "*Give access to:*\n{}",
            bullet_lines("• ", &escaped(&targets_of(r)), budget)
        ),
        Action::Unshare => format!(
            "*Remove access of:*\n{}",
            bullet_lines("• ", &escaped(&targets_of(r)), budget)
        ),
        Action::Set => {
            let (added, removed) = r.set_diff();
            let kept = r.targets.len() - added.len();
            let mut s = format!(
                "*Set the share list to exactly {} account{}* (+{} added, −{} removed, {} unchanged):\n",
                r.targets.len(),
                if r.targets.len() == 1 { "" } else { "s" },
                added.len(),
                removed.len(),
                kept
            );
            if added.is_empty() && removed.is_empty() {
                s.push_str("_no change against the list when asked_\n");
            }
            s.push_str(&bullet_lines("+ ", &escaped(&added), budget / 2));
            s.push_str(&bullet_lines("− ", &escaped(&removed), budget / 2));
            s
        }
    }
}

/// "for 7d, until ..." or "no end: until revoked"; `None` for `unshare`.
fn duration_text(r: &ShareRequest) -> Option<String> {
    if r.action == Action::Unshare {
        return None;
    }
    Some(match r.duration {
        None => "no end: until revoked".to_owned(),
        Some(d) if r.state == RequestState::Succeeded => {
            // The worker starts the clock when the share is made, which is when it succeeded.
            format!("for {d}, until {}", time(r.updated_at + d.to_chrono()))
        }
        Some(d) => format!(
            "for {d}, until about {} (counted from when the share is made)",
            time(r.created_at + d.to_chrono())
        ),
    })
}

/// For a share of targets that already have access: "already shared with `a` until ... (SR-...);
/// this request extends it".
fn extension_text(r: &ShareRequest) -> Option<String> {
    if r.lifecycle.extends.is_empty() {
        return None;
    }
    let current: Vec<String> = r
        .lifecycle
        .extends
        .iter()
        .map(|g| {
            format!(
                "`{}` until {} ({})",
                escape(g.target.as_str()),
                g.ends_at.map(time).unwrap_or_else(|| "revoked".into()),
                g.request_id
            )
        })
        .collect();
    let until = match r.duration {
        Some(d) => format!(
            "about {} (for {d} from when it is made)",
            time(r.created_at + d.to_chrono())
        ),
        None => "no end: until revoked".into(),
    };
    Some(format!(
        "already shared: {}. Approving extends the share to {until}.",
        inline_list(&current, 1200)
    ))
}

/// The request itself: who, which image, what, how long (the reason is quoted in a block of
/// its own, [`reason_block`]).
fn summary_section(f: &NoticeFacts) -> String {
    let r = f.request();
    let mut s = format!(
        "*Requester:* {}\n*Image:* {}",
        escape(&f.requester),
        escape(&image_label(r)),
    );
    let mut details = Vec::new();
    if let Some(h) = r.hypervisor {
        details.push(h.to_string());
    }
    details.push(format!("region {}", escape(&r.region)));
    s.push_str(&format!(" ({})", details.join(", ")));
    s.push_str(&format!("\n*Action:* {}", r.action));
    if let Some(d) = duration_text(r) {
        s.push_str(&format!("\n*Duration:* {d}"));
    }
    if let Some(e) = extension_text(r) {
        s.push_str(&format!("\n*Extension:* {e}"));
    }
    if f.reason.is_none() {
        s.push_str("\n*Reason:* _none given_");
    }
    s
}

/// The requester's reason, quoted; `None` when they gave none (the summary says so).
fn reason_block(f: &NoticeFacts) -> Option<Value> {
    f.reason.as_ref().map(|q| quote_block(REASON_LABEL, q))
}

/// The policy's decision as it binds this request: the rule, how many approvals from whom,
/// whether the requester's own counts.
fn policy_line(f: &NoticeFacts) -> String {
    format!("*Policy:* {}", escape(&f.policy.sentence()))
}

/// "*Approvals:* 1 of 2 approvals (alice); 1 more needed from bob".
fn approvals_line(f: &NoticeFacts) -> String {
    format!("*Approvals:* {}", escape(&f.progress.phrase()))
}

fn footer(f: &NoticeFacts, with_expiry: bool) -> String {
    let r = f.request();
    let mut parts = vec![format!("Request *{}*", r.id)];
    if f.policy.rule.is_some() {
        parts.push(escape(&f.policy.rule_phrase()));
    }
    parts.push(format!("fingerprint `{}`", escape(&f.policy.fingerprint)));
    if with_expiry {
        parts.push(format!("expires {}", time(r.expires_at)));
    }
    parts.join(" · ")
}

fn caveat() -> Value {
    context(&format!(":warning: {REVOCATION_CAVEAT}"))
}

/// The block id of the actions block: it changes with the version and with every approval, so
/// Slack never keeps a stale element after an update.
fn actions_block_id(f: &NoticeFacts) -> String {
    let r = f.request();
    format!("{}-v{}-a{}", r.id, r.version, f.progress.count())
}

/// "image 1234567 "golden-web" with a, b for 7d", plain text for the confirm dialogs.
pub(super) fn confirm_subject(r: &ShareRequest) -> String {
    let targets = match r.action {
        Action::Set => {
            let (added, removed) = r.set_diff();
            let mut parts = vec![format!("to: {}", inline_list(&targets_of(r), 120))];
            if !added.is_empty() {
                parts.push(format!("adds {}", inline_list(&added, 60)));
            }
            if !removed.is_empty() {
                parts.push(format!("removes {}", inline_list(&removed, 60)));
            }
            parts.join("; ")
        }
        Action::Share => format!("with {}", inline_list(&targets_of(r), 160)),
        Action::Unshare => format!("with {}", inline_list(&targets_of(r), 160)),
    };
    let duration = match (r.action, r.duration) {
        (Action::Unshare, _) => String::new(),
        (_, Some(d)) => format!(" for {d}"),
        (_, None) => " with no end".to_owned(),
    };
    format!(
        "{} image {} {targets}{duration}",
        action_phrase(r.action),
        image_label(r)
    )
}

pub(super) fn confirm(title: &str, text: &str, yes: &str, style: &str) -> Value {
    json!({
        "title": plain(title, MAX_CONFIRM_TITLE),
        "text": plain(text, MAX_CONFIRM_TEXT),
        "confirm": plain(yes, MAX_CONFIRM_BUTTON),
        "deny": plain("Cancel", MAX_CONFIRM_BUTTON),
        "style": style,
    })
}

pub(super) fn button(
    text: &str,
    action_id: &str,
    value: &str,
    style: &str,
    confirm: Value,
) -> Value {
    json!({
        "type": "button",
        "text": plain(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
        "value": value,
        "style": style,
        "confirm": confirm,
    })
}

/// The blocks of a card in order, leaving out the reason block when there is none.
fn blocks(list: Vec<Option<Value>>) -> Value {
    Value::Array(list.into_iter().flatten().collect())
}

/// The card approvers act on: the request, the requester's reason quoted, the policy's
/// decision, the approvals so far, and Approve / Deny buttons (`action_id` `approve` / `deny`,
/// `value` the request id), each behind a confirm dialog.
pub fn approval_card(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let subject = confirm_subject(r);
    let approve_text = format!(
        "{} asks to {subject}. Fingerprint {}. Approve?",
        f.requester, f.policy.fingerprint
    );
    let deny_text = format!("Deny the request to {subject}? The requester is told.");
    let title = if r.lifecycle.extends.is_empty() {
        format!("Image share request {}", r.id)
    } else {
        format!("Image share request {} (extension)", r.id)
    };
    let blocks = blocks(vec![
        Some(header(&title)),
        Some(section(&summary_section(f))),
        reason_block(f),
        Some(section(&targets_section(r))),
        Some(section(&format!(
            "{}\n{}",
            policy_line(f),
            approvals_line(f)
        ))),
        Some(caveat()),
        Some(json!({
            "type": "actions",
            "block_id": actions_block_id(f),
            "elements": [
                button("Approve", "approve", r.id.as_str(), "primary",
                    confirm("Approve this share?", &approve_text, "Approve", "primary")),
                button("Deny", "deny", r.id.as_str(), "danger",
                    confirm("Deny this request?", &deny_text, "Deny", "danger")),
            ]
        })),
        Some(context(&footer(f, true))),
    ]);
    let text = fallback(&format!(
        "Share request {}: {} asks to {} — approval needed",
        r.id,
        escape(&f.requester),
        escape(&subject),
    ));
    (text, blocks)
}

/// The card once approved (`Approved`, `Executing`): no buttons, who approved, "sharing now".
pub fn progress_card(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let by = if f.policy.automatic() {
        format!(
            "*Approved automatically* by {}",
            escape(&f.policy.rule_phrase())
        )
    } else {
        format!("*Approved*: {}", escape(&f.progress.phrase()))
    };
    let now = match r.state {
        RequestState::Executing => "changing NCP now",
        _ => "sharing now",
    };
    let blocks = blocks(vec![
        Some(header(&format!("Image share request {}: approved", r.id))),
        Some(section(&summary_section(f))),
        reason_block(f),
        Some(section(&targets_section(r))),
        Some(section(&format!(":hourglass_flowing_sand: {by}, {now}."))),
        Some(caveat()),
        Some(context(&footer(f, false))),
    ]);
    let text = fallback(&format!(
        "Share request {}: approved, {now}: {}",
        r.id,
        escape(&confirm_subject(r))
    ));
    (text, blocks)
}

/// What happened at the end, as one mrkdwn paragraph for the card (a denial's comment is
/// quoted in a block of its own, [`denial_block`]).
fn end_section(f: &NoticeFacts) -> String {
    let r = f.request();
    match r.state {
        RequestState::Succeeded => {
            let outcome = r.outcome.clone().unwrap_or_default();
            let done = match r.action {
                Action::Share => "Shared",
                Action::Unshare => "Unshared",
                Action::Set => "Share list set",
            };
            let mut s = format!(":white_check_mark: *{done}.*");
            if outcome.already_in_place {
                s.push_str(" It was already in place on NCP; nothing needed changing.");
            }
            if let Some(d) = duration_text(r) {
                s.push_str(&format!(" Access: {d}."));
            }
            if f.policy.automatic() {
                s.push_str(&format!(
                    " Approved automatically by {}.",
                    escape(&f.policy.rule_phrase())
                ));
            } else if f.progress.count() > 0 {
                s.push_str(&format!(" Approved: {}.", escape(&f.progress.phrase())));
            }
            match &outcome.shared_with_after {
                Some(list) if list.is_empty() => {
                    s.push_str("\n*NCP now shares the image with:* _nobody_")
                }
                Some(list) => s.push_str(&format!(
                    "\n*NCP now shares the image with:*\n{}",
                    bullet_lines("• ", &escaped(list), 1800)
                )),
                None => {}
            }
            s
        }
        RequestState::Denied => match &f.denial {
            Some(d) => format!(
                ":no_entry: *Denied* by {}{}. Nothing was shared.",
                escape(d.by.as_str()),
                if d.comment.is_some() {
                    ""
                } else {
                    " (no reason given)"
                }
            ),
            None if f.refused() => format!(
                ":no_entry: *Refused by the policy*: {}. Nothing was shared.",
                escape(&f.outcome())
            ),
            None => format!(
                ":no_entry: *Denied*: {}. Nothing was shared.",
                escape(&f.outcome())
            ),
        },
        RequestState::Expired => format!(
            ":alarm_clock: *Expired* at {}: {}. Nothing was shared; ask again if it is still needed.",
            time(r.expires_at),
            escape(&f.progress.phrase())
        ),
        RequestState::Cancelled => format!(
            ":leftwards_arrow_with_hook: *Cancelled* by the requester at {}. Nothing was shared.",
            time(r.updated_at)
        ),
        RequestState::Failed => {
            let outcome = r.outcome.clone().unwrap_or_default();
            let mut s = format!(":x: *Failed:* {}", escape(&f.outcome()));
            if let Some(code) = &outcome.ncp_code {
                s.push_str(&format!(" (NCP code `{}`)", escape(code)));
            }
            s.push_str(&format!(
                "\nThe request stays on record; see `requests show {}`.",
                r.id
            ));
            s
        }
        RequestState::Pending => approvals_line(f),
        RequestState::Approved | RequestState::Executing => "Approved, sharing now.".to_owned(),
    }
}

/// The denying approver's comment, quoted; `None` without one.
fn denial_block(f: &NoticeFacts) -> Option<Value> {
    let d = f.denial.as_ref()?;
    d.comment
        .as_ref()
        .map(|c| quote_block(&denial_label(&d.by), c))
}

fn end_word(r: &ShareRequest) -> &'static str {
    match (r.state, r.action) {
        (RequestState::Succeeded, Action::Share) => "shared",
        (RequestState::Succeeded, Action::Unshare) => "unshared",
        (RequestState::Succeeded, Action::Set) => "share list set",
        (RequestState::Failed, _) => "failed",
        (RequestState::Denied, _) => "denied",
        (RequestState::Expired, _) => "expired",
        (RequestState::Cancelled, _) => "cancelled",
        (RequestState::Pending, _) => "waiting for approval",
        (RequestState::Approved | RequestState::Executing, _) => "approved",
    }
}

/// The card at the end (`Succeeded`, `Failed`, `Denied`, `Expired`, `Cancelled`): no buttons,
/// the request as approved and what came of it (for a share, the share list read back).
pub fn final_card(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let mut list = vec![
        Some(header(&format!(
            "Image share request {}: {}",
            r.id,
            end_word(r)
        ))),
        Some(section(&summary_section(f))),
        reason_block(f),
        Some(section(&targets_section(r))),
        Some(section(&end_section(f))),
        denial_block(f),
    ];
    if r.state == RequestState::Succeeded && r.action != Action::Unshare {
        list.push(Some(caveat()));
    }
    list.push(Some(context(&footer(f, false))));
    let text = fallback(&format!(
        "Share request {} {}: {}",
        r.id,
        end_word(r),
        escape(&confirm_subject(r))
    ));
    (text, blocks(list))
}

/// The card for whatever state the request is in.
pub fn card(facts: &NoticeFacts) -> (String, Value) {
    match facts.request().state {
        RequestState::Pending => approval_card(facts),
        RequestState::Approved | RequestState::Executing => progress_card(facts),
        _ => final_card(facts),
    }
}

fn one_section(text: &str) -> (String, Value) {
    (fallback(text), json!([section(text)]))
}

/// The requester's acknowledgement right after asking (ephemeral): the id, the policy's
/// decision (rule, who must approve and how many, whether their own approval counts), and
/// where the card went; or that it is approved automatically.
pub fn submitted_reply(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let what = escape(&confirm_subject(r));
    let text = match r.state {
        RequestState::Denied => return refused_reply(f),
        RequestState::Pending => {
            let card = match &r.approval_channel {
                Some(c) if c.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    format!("The approval card is in <#{c}>.")
                }
                Some(c) => format!("The approval card is in {}.", escape(c)),
                None => "The rule names no approval channel, so no card was posted: ask an approver to act on it.".to_owned(),
            };
            format!(
                ":inbox_tray: Request *{}* to {what} is waiting for approval.\n{} {card}\nIt expires {} if not approved; you will get a message when it ends.\nFingerprint `{}`.",
                r.id,
                escape(&f.policy.sentence()),
                time(r.expires_at),
                escape(&f.policy.fingerprint),
            )
        }
        RequestState::Approved | RequestState::Executing if r.lifecycle.revocation.is_some() => {
            format!(
                ":scissors: Revocation *{}*: {what}, now, without approval (you asked for the share or may approve it). A target another active grant covers stays shared. You will get a message when it is done.\n{REVOCATION_CAVEAT}",
                r.id
            )
        }
        RequestState::Approved | RequestState::Executing => format!(
            ":zap: Request *{}* to {what} was approved automatically by {}, sharing now. You will get a message when it is done.",
            r.id,
            escape(&f.policy.rule_phrase())
        ),
        _ => return outcome_message(f),
    };
    one_section(&text)
}

/// The requester's answer when the policy refused the request: why, from the outcome.
pub fn refused_reply(facts: &NoticeFacts) -> (String, Value) {
    one_section(&format!(
        ":no_entry: Request *{}* refused by the policy, nothing was shared: {}",
        facts.request().id,
        escape(&facts.outcome())
    ))
}

/// The requester's message at the end (a DM, and the reply in the card's thread).
pub fn outcome_message(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let what = escape(&confirm_subject(r));
    let outcome = r.outcome.clone().unwrap_or_default();
    let text = match r.state {
        RequestState::Succeeded => {
            let mut s = format!(
                ":white_check_mark: Request *{}* done: {}.",
                r.id,
                escape(&f.outcome())
            );
            if let Some(list) = &outcome.shared_with_after {
                s.push_str(&format!(
                    "\nNCP now shares image {} with: {}",
                    r.image_no,
                    if list.is_empty() {
                        "nobody".to_owned()
                    } else {
                        inline_list(&escaped(list), 2000)
                    }
                ));
            }
            s
        }
        RequestState::Failed => {
            let mut s = format!(
                ":x: Request *{}* to {what} failed: {}",
                r.id,
                escape(&f.outcome())
            );
            if let Some(code) = &outcome.ncp_code {
                s.push_str(&format!(" (NCP code `{}`)", escape(code)));
            }
            s.push_str(". It stays on record; ask again once the cause is fixed.");
            s
        }
        RequestState::Denied => match &f.denial {
            Some(d) => format!(
                ":no_entry: Request *{}* to {what} was denied by {}. Nothing was shared.",
                r.id,
                escape(d.by.as_str())
            ),
            None if f.refused() => format!(
                ":no_entry: Request *{}* to {what} was refused by the policy: {}. Nothing was shared.",
                r.id,
                escape(&f.outcome())
            ),
            None => format!(
                ":no_entry: Request *{}* to {what} was {}. Nothing was shared.",
                r.id,
                escape(&f.outcome())
            ),
        },
        RequestState::Expired => format!(
            ":alarm_clock: Request *{}* to {what} expired at {}: {}. Nothing was shared; ask again if it is still needed.",
            r.id,
            time(r.expires_at),
            escape(&f.progress.phrase())
        ),
        RequestState::Cancelled => format!(
            ":leftwards_arrow_with_hook: Request *{}* to {what} was cancelled. Nothing was shared.",
            r.id
        ),
        RequestState::Pending | RequestState::Approved | RequestState::Executing => {
            return submitted_reply(f);
        }
    };
    match denial_block(f) {
        Some(quote) => (fallback(&text), json!([section(&text), quote])),
        None => one_section(&text),
    }
}

/// The requester's message about a share's end: a reminder before it, or what its end did.
pub fn lifecycle_message(facts: &NoticeFacts) -> (String, Value) {
    let f = facts;
    let r = f.request();
    let image = escape(&image_label(r));
    let text = match f.notice() {
        Notice::ShareEndingSoon { ends_at, targets } => {
            let list: Vec<String> = targets.iter().map(|t| t.as_str().to_owned()).collect();
            format!(
                ":hourglass: The share of image {image} with {} (request *{}*) ends at {}. To keep it, ask again: a new request for the same account extends it.",
                inline_list(&escaped(&list), 1500),
                r.id,
                time(*ends_at)
            )
        }
        Notice::ShareEnded(ended) => {
            let why = match ended.cause {
                Some(c) => escape(c.as_str()),
                None => "an unshare was approved".to_owned(),
            };
            let mut s = format!(
                ":lock: The share of image {image} from request *{}* has ended ({why}; {} by {}).",
                r.id,
                ended.by_request,
                escape(&ended.actor)
            );
            if !ended.removed.is_empty() {
                let list: Vec<String> = ended
                    .removed
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect();
                s.push_str(&format!(
                    "\nNo longer shared with: {}",
                    inline_list(&escaped(&list), 1200)
                ));
            }
            if !ended.kept.is_empty() {
                let list: Vec<String> = ended.kept.iter().map(|t| t.as_str().to_owned()).collect();
                s.push_str(&format!(
                    "\nStill shared through another active grant: {}",
                    inline_list(&escaped(&list), 1200)
                ));
            }
            s.push_str(&format!("\n{REVOCATION_CAVEAT}"));
            s
        }
        _ => return outcome_message(f),
    };
    one_section(&text)
}

/// The drift report for the configured channel: shares NCP has that no grant covers, and
/// grants whose share NCP does not have.
pub fn drift_message(findings: &[DriftFinding]) -> (String, Value) {
    let unmanaged: Vec<String> = findings
        .iter()
        .filter(|f| f.kind == DriftKind::Unmanaged)
        .map(|f| {
            escape(&format!(
                "image {} ({}): {}",
                f.image_no,
                one_line(&f.image_name),
                f.target
            ))
        })
        .collect();
    let missing: Vec<String> = findings
        .iter()
        .filter_map(|f| match &f.kind {
            DriftKind::MissingOnNcp { request_id } => Some(escape(&format!(
                "image {} ({}): {} (grant of {request_id})",
                f.image_no,
                one_line(&f.image_name),
                f.target
            ))),
            DriftKind::Unmanaged => None,
        })
        .collect();
    let mut s = format!(
        ":mag: *Drift:* {} difference{} between NCP and the grants.",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    if !unmanaged.is_empty() {
        s.push_str(&format!(
            "\n*Shared on NCP without a grant* (made in the console, or left by a failure):\n{}",
            bullet_lines("• ", &unmanaged, 1300)
        ));
    }
    if !missing.is_empty() {
        s.push_str(&format!(
            "\n*Granted but not shared on NCP:*\n{}",
            bullet_lines("• ", &missing, 1300)
        ));
    }
    s.push_str("Run `ncp-share-approver reconcile` for the full report.");
    one_section(&s)
}

/// The body of an ephemeral reply to a slash command or a `response_url`.
pub fn ephemeral_body(message: (String, Value)) -> Value {
    json!({ "response_type": "ephemeral", "text": message.0, "blocks": message.1 })
}

/// Block Kit as readable text (one line per block), for the demo terminal and for tests.
pub fn blocks_as_text(blocks: &Value) -> String {
    let mut out = Vec::new();
    for b in blocks.as_array().into_iter().flatten() {
        match b["type"].as_str() {
            Some("header") => out.push(format!(
                "== {} ==",
                b["text"]["text"].as_str().unwrap_or_default()
            )),
            Some("section") => {
                out.push(b["text"]["text"].as_str().unwrap_or_default().to_owned());
                for f in b["fields"].as_array().into_iter().flatten() {
                    out.push(f["text"].as_str().unwrap_or_default().to_owned());
                }
            }
            // A quote: its label, then the quoted words after `> `.
            Some("rich_text") => {
                for e in b["elements"].as_array().into_iter().flatten() {
                    let text: String = e["elements"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t["text"].as_str())
                        .collect();
                    match e["type"].as_str() {
                        Some("rich_text_quote") => out.push(format!("> {text}")),
                        _ => out.push(text),
                    }
                }
            }
            Some("context") => {
                for e in b["elements"].as_array().into_iter().flatten() {
                    out.push(format!("  {}", e["text"].as_str().unwrap_or_default()));
                }
            }
            Some("actions") => {
                let buttons: Vec<String> = b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("[{}]", e["text"]["text"].as_str().unwrap_or_default()))
                    .collect();
                out.push(buttons.join(" "));
            }
            Some("divider") => out.push("----".into()),
            _ => {}
        }
    }
    out.join("\n")
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
