//! Comments for Jira, in Atlassian Document Format (reference/webhooks.md §2.4): pure functions
//! from a request and a notice to paragraphs of plain text, and from paragraphs to ADF.
//!
//! ADF text nodes are data, not markup, so text from people or NCP cannot format, link or
//! mention; it is still cut to a sane length so one comment stays readable.

use crate::domain::ShareRequest;
use crate::notify::Notice;
use crate::policy::Action;
use serde_json::{Value, json};

/// The longest paragraph kept in a comment.
const MAX_PARAGRAPH_CHARS: usize = 2_000;

/// An ADF document with one paragraph per entry (empty entries are skipped).
pub fn adf(paragraphs: &[String]) -> Value {
    let content: Vec<Value> = paragraphs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let text: String = p.chars().take(MAX_PARAGRAPH_CHARS).collect();
            json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
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

fn outcome_text(r: &ShareRequest) -> String {
    r.outcome
        .as_ref()
        .map(|o| clip(&o.message))
        .unwrap_or_default()
}

/// The comment for a notice about a Jira request; `None` when nothing is said.
pub fn notice_comment(
    r: &ShareRequest,
    notice: &Notice,
    approved_status: &str,
) -> Option<Vec<String>> {
    let id = &r.id;
    let p = match notice {
        Notice::Submitted => {
            let approvers = r
                .approvers
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut p = vec![
                format!("Request {id} recorded: {}.", what(r)),
                format!(
                    "Rule {:?} needs {} approval(s) from: {approvers}. The requester's own approval does not count.",
                    r.rule.as_deref().unwrap_or("?"),
                    r.min_approvals
                ),
                format!(
                    "To approve, move this issue to \"{approved_status}\" or comment /approve. To deny, comment /deny and a reason. Fingerprint {}.",
                    r.short_fingerprint()
                ),
            ];
            if let Some(channel) = &r.approval_channel {
                p.push(format!(
                    "An approval card is also in Slack ({channel}); approvals there count the same."
                ));
            }
            p
        }
        Notice::Refused => vec![
            format!("Request {id} refused by the policy: {}", outcome_text(r)),
            "Nothing was shared. Change the issue's fields and create a new issue, or ask an administrator about the policy.".into(),
        ],
        Notice::ApprovalAdded(a) => vec![format!(
            "Approval by {} counted for {id}; more approvals are needed (rule needs {}).",
            a.person, r.min_approvals
        )],
        Notice::Approved => vec![format!("Request {id} is approved; sharing now.")],
        Notice::Executing => return None,
        Notice::Denied(a) => vec![format!(
            "Request {id} denied by {}{}. Nothing was shared.",
            a.person,
            a.comment
                .as_deref()
                .map(|c| format!(": {}", clip(c)))
                .unwrap_or_default()
        )],
        Notice::Expired => vec![format!("Request {id} expired: {}", outcome_text(r))],
        Notice::Cancelled => vec![format!("Request {id} cancelled by the requester.")],
        Notice::Succeeded => {
            let mut p = vec![format!("Request {id} succeeded: done, {}.", what(r))];
            if let Some(o) = &r.outcome {
                if o.already_in_place {
                    p.push("It was already in place; NCP needed no change.".into());
                }
                if let Some(after) = &o.shared_with_after {
                    p.push(format!(
                        "The image's share list read back from NCP: {}.",
                        if after.is_empty() {
                            "(empty)".to_string()
                        } else {
                            after.join(", ")
                        }
                    ));
                }
            }
            p
        }
        Notice::Failed => {
            let o = r.outcome.clone().unwrap_or_default();
            vec![
                format!("Request {id} failed: {}.", what(r)),
                format!(
                    "NCP {}: {}",
                    o.ncp_code
                        .as_deref()
                        .map(|c| format!("code {c}"))
                        .unwrap_or_else(|| "(no code)".into()),
                    clip(&o.message)
                ),
            ]
        }
        Notice::ShareEndingSoon { ends_at, targets } => vec![format!(
            "Request {id}: the share with {} ends at {}. To keep access, create a new request before then.",
            targets.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
            ends_at.format("%Y-%m-%d %H:%M UTC")
        )],
        Notice::ShareEnded(g) => {
            let list = |v: &[crate::domain::LoginId]| v.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
            let mut p = vec![format!(
                "Request {id}: access ended for {} ({} by {}).",
                if g.removed.is_empty() { "no account".to_string() } else { list(&g.removed) },
                g.by_request,
                clip(&g.actor)
            )];
            if !g.kept.is_empty() {
                p.push(format!("Still shared through another active grant: {}.", list(&g.kept)));
            }
            p.push("Servers already created from the image keep running; revoking the share does not stop them.".into());
            p
        }
    };
    Some(p)
}
