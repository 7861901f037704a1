//! Comments for Jira, in Atlassian Document Format (reference/webhooks.md §2.4): pure functions
//! from a notice's [`NoticeFacts`] to the blocks of a comment, and from blocks to ADF.
//!
//! ADF text nodes are data, not markup, so text from people or NCP cannot format, link or
//! mention; our paragraphs are one line each and cut to a sane length. Words people typed (a
//! reason, a denial's comment) are quoted: a bold label, then an ADF `blockquote` holding them
//! [`inert`](crate::domain::inert), so they are visibly someone's words and never a line of ours.

use crate::domain::{NoticeFacts, Quoted, RequestState, ShareRequest};
use crate::notify::Notice;
use crate::policy::Action;
use serde_json::{Value, json};

/// The longest paragraph kept in a comment.
const MAX_PARAGRAPH_CHARS: usize = 2_000;

/// The label of the requester's reason, quoted under it.
pub const REASON_LABEL: &str = "Reason, in the requester's words:";

/// One block of a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A paragraph of the service's own text.
    Paragraph(String),
    /// Someone's words under a label: a bold paragraph, then an ADF `blockquote`.
    Quote {
        /// What the words are ("Reason, in the requester's words:").
        label: String,
        /// The words, inert.
        words: Quoted,
    },
}

impl From<String> for Block {
    fn from(p: String) -> Self {
        Block::Paragraph(p)
    }
}

impl From<&str> for Block {
    fn from(p: &str) -> Self {
        Block::Paragraph(p.to_owned())
    }
}

/// A paragraph's text: one line (control characters and line breaks become spaces), cut.
fn line(p: &str) -> String {
    p.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_PARAGRAPH_CHARS)
        .collect()
}

fn paragraph(text: &str, strong: bool) -> Value {
    let mut node = json!({"type": "text", "text": line(text)});
    if strong {
        node["marks"] = json!([{"type": "strong"}]);
    }
    json!({"type": "paragraph", "content": [node]})
}

/// An ADF document of `blocks` (blank paragraphs are skipped).
pub fn adf_blocks(blocks: &[Block]) -> Value {
    let mut content = Vec::new();
    for b in blocks {
        match b {
            Block::Paragraph(p) if p.trim().is_empty() => {}
            Block::Paragraph(p) => content.push(paragraph(p, false)),
            Block::Quote { label, words } => {
                content.push(paragraph(label, true));
                content.push(json!({
                    "type": "blockquote",
                    "content": [paragraph(words.as_str(), false)]
                }));
            }
        }
    }
    json!({"type": "doc", "version": 1, "content": content})
}

/// An ADF document with one paragraph per entry (empty entries are skipped).
pub fn adf(paragraphs: &[String]) -> Value {
    let blocks: Vec<Block> = paragraphs.iter().cloned().map(Block::from).collect();
    adf_blocks(&blocks)
}

/// The plain text of an ADF document (or of a plain string, as webhooks send it): text nodes
/// in order, a line break between blocks.
pub fn plain_text(body: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => out.push_str(s),
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("hardBreak") {
                    out.push('\n');
                }
                if let Some(Value::String(t)) = o.get("text") {
                    out.push_str(t);
                }
                if let Some(Value::Array(children)) = o.get("content") {
                    for c in children {
                        walk(c, out);
                        if c.get("content").is_some() && !out.ends_with('\n') {
                            out.push('\n');
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    walk(body, &mut out);
    out.trim().to_string()
}

/// Text from people or NCP: control characters replaced, at most 500 characters.
pub fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    if s.chars().count() > 500 {
        out.push('…');
    }
    out
}

fn what(r: &ShareRequest) -> String {
    let targets = r
        .targets
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let verb = match r.action {
        Action::Share => "share",
        Action::Unshare => "unshare",
        Action::Set => "set the share list of",
    };
    let prep = match r.action {
        Action::Share => "with",
        Action::Unshare => "from",
        Action::Set => "to",
    };
    let name = if r.image_name.is_empty() {
        String::new()
    } else {
        format!(" ({})", clip(&r.image_name))
    };
    let duration = r.duration.map(|d| format!(" for {d}")).unwrap_or_default();
    format!(
        "{verb} image {}{name} {prep} {targets}{duration}",
        r.image_no
    )
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The requester's reason, quoted, when they gave one.
fn reason(f: &NoticeFacts) -> Option<Block> {
    f.reason.clone().map(|words| Block::Quote {
        label: REASON_LABEL.into(),
        words,
    })
}

/// The comment for a notice about a Jira request; `None` when nothing is said.
pub fn notice_comment(facts: &NoticeFacts, approved_status: &str) -> Option<Vec<Block>> {
    let f = facts;
    let r = f.request();
    let id = &r.id;
    let p: Vec<Block> = match f.notice() {
        Notice::Submitted if r.state == RequestState::Pending => {
            let mut p = vec![Block::from(format!(
                "Request {id} recorded for {}: {}.",
                clip(&f.requester),
                what(r)
            ))];
            p.extend(reason(f));
            p.push(f.policy.sentence().into());
            p.push(
                format!(
                    "To approve, move this issue to \"{approved_status}\" or comment /approve. To deny, comment /deny and a reason. Fingerprint {}.",
                    f.policy.fingerprint
                )
                .into(),
            );
            if let Some(channel) = &r.approval_channel {
                p.push(
                    format!(
                        "An approval card is also in Slack ({channel}); approvals there count the same."
                    )
                    .into(),
                );
            }
            p
        }
        Notice::Submitted | Notice::Approved if f.policy.automatic() => vec![
            format!(
                "Request {id} is approved automatically by {}; sharing now.",
                f.policy.rule_phrase()
            )
            .into(),
        ],
        Notice::Submitted | Notice::Approved => vec![
            format!(
                "Request {id} is approved ({}); sharing now.",
                f.progress.phrase()
            )
            .into(),
        ],
        Notice::Refused => vec![
            format!("Request {id} refused by the policy: {}", clip(&f.outcome())).into(),
            "Nothing was shared. Change the issue's fields and create a new issue, or ask an administrator about the policy.".into(),
        ],
        Notice::ApprovalAdded(a) => vec![
            format!(
                "Approval by {} counted for {id}: {}.",
                a.person,
                f.progress.phrase()
            )
            .into(),
        ],
        Notice::Executing => return None,
        Notice::Denied(_) => match &f.denial {
            Some(d) => {
                let mut p = vec![Block::from(format!(
                    "Request {id} denied by {}{}. Nothing was shared.",
                    d.by,
                    if d.comment.is_some() {
                        ""
                    } else {
                        " (no reason given)"
                    }
                ))];
                if let Some(words) = &d.comment {
                    p.push(Block::Quote {
                        label: format!("{}'s reason for the denial, in their words:", d.by),
                        words: words.clone(),
                    });
                }
                p
            }
            None => vec![format!("Request {id} denied: {}. Nothing was shared.", clip(&f.outcome())).into()],
        },
        Notice::Expired => vec![
            format!(
                "Request {id} expired at {}: {}. Nothing was shared; create a new issue if it is still needed.",
                time(r.expires_at),
                f.progress.phrase()
            )
            .into(),
        ],
        Notice::Cancelled => vec![format!("Request {id} cancelled by the requester.").into()],
        Notice::Succeeded => {
            let mut p = vec![Block::from(format!(
                "Request {id} succeeded: done, {}.",
                what(r)
            ))];
            if let Some(o) = &r.outcome {
                if o.already_in_place {
                    p.push("It was already in place; NCP needed no change.".into());
                }
                if let Some(after) = &o.shared_with_after {
                    p.push(
                        format!(
                            "The image's share list read back from NCP: {}.",
                            if after.is_empty() {
                                "(empty)".to_string()
                            } else {
                                after.join(", ")
                            }
                        )
                        .into(),
                    );
                }
            }
            p
        }
        Notice::Failed => {
            let o = r.outcome.clone().unwrap_or_default();
            vec![
                format!("Request {id} failed: {}.", what(r)).into(),
                format!(
                    "NCP {}: {}",
                    o.ncp_code
                        .as_deref()
                        .map(|c| format!("code {c}"))
                        .unwrap_or_else(|| "(no code)".into()),
                    clip(&o.message)
                )
                .into(),
            ]
        }
        Notice::ShareEndingSoon { ends_at, targets } => vec![
            format!(
                "Request {id}: the share with {} ends at {}. To keep access, create a new request before then.",
                targets.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
                time(*ends_at)
            )
            .into(),
        ],
        Notice::ShareEnded(g) => {
            let list = |v: &[crate::domain::LoginId]| {
                v.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            };
            let mut p = vec![Block::from(format!(
                "Request {id}: access ended for {} ({} by {}).",
                if g.removed.is_empty() {
                    "no account".to_string()
                } else {
                    list(&g.removed)
                },
                g.by_request,
                clip(&g.actor)
            ))];
            if !g.kept.is_empty() {
                p.push(
                    format!(
                        "Still shared through another active grant: {}.",
                        list(&g.kept)
                    )
                    .into(),
                );
            }
            p.push("Servers already created from the image keep running; revoking the share does not stop them.".into());
            p
        }
    };
    Some(p)
}
