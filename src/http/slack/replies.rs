//! Texts for the person who typed a command or clicked a button (ephemeral replies).

use crate::domain::{Approval, Grant, NoticeFacts, ShareRequest};
use crate::ncp::ImageView;
use crate::notify::slack::render::escape;
use crate::workflow::ActOutcome;

/// What an approve, deny or cancel did, for the person who did it.
pub fn act_outcome(outcome: &ActOutcome) -> String {
    match outcome {
        ActOutcome::Counted { request, remaining } => format!(
            "Your approval of {} counted. {remaining} more approval(s) needed.",
            request.id
        ),
        ActOutcome::Approved(r) => format!(
            "Your approval completed {}: it is approved and the share is being made now.",
            r.id
        ),
        ActOutcome::AlreadyCounted(r) => format!(
            "You already approved {}; your approval counts once. It still waits for other approvers.",
            r.id
        ),
        ActOutcome::Denied(r) => format!("You denied {}. The requester is told.", r.id),
        ActOutcome::Cancelled(r) => format!("{} is cancelled.", r.id),
        ActOutcome::NotAllowed(why) => format!("Not allowed: {}. Nothing changed.", escape(why)),
        ActOutcome::NotPending(r) => format!(
            "{} is already {}{}. Nothing changed.",
            r.id,
            r.state,
            r.outcome
                .as_ref()
                .map(|o| format!(": {}", escape(&o.message)))
                .unwrap_or_default()
        ),
        ActOutcome::NotFound => "No such request. Check the id (like SR-7K3M9Q2X).".into(),
    }
}

/// `status <id>`: where the request is, the policy's decision and who acted (Slack mrkdwn).
pub fn status(r: &ShareRequest, approvals: &[Approval]) -> String {
    status_lines(r, approvals, escape)
        .into_iter()
        .enumerate()
        .map(|(i, (label, text))| match i {
            0 => text,
            _ => format!("{label}: {text}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `status <id>` as plain text (NAVER WORKS shows text as typed: nothing to escape).
pub fn status_plain(r: &ShareRequest, approvals: &[Approval]) -> String {
    status_lines(r, approvals, str::to_owned)
        .into_iter()
        .enumerate()
        .map(|(i, (label, text))| match i {
            0 => text.replace('*', ""),
            _ => format!("{label}: {text}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of `status`, each (label, text), the text made safe by `esc`; the first is the
/// request itself (with `*` around the id and the state, for Slack).
fn status_lines(
    r: &ShareRequest,
    approvals: &[Approval],
    esc: impl Fn(&str) -> String,
) -> Vec<(&'static str, String)> {
    let f = NoticeFacts::of_state(r, approvals);
    let mut out = format!(
        "*{}* is *{}*: {} image {} ({}) {} {}",
        r.id,
        r.state,
        r.action,
        r.image_no,
        esc(&r.image_name),
        if r.action == crate::policy::Action::Unshare {
            "from"
        } else {
            "with"
        },
        r.targets
            .iter()
            .map(|t| esc(t.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(d) = r.duration {
        out.push_str(&format!(" for {d}"));
    }
    let mut lines = vec![("", out), ("Requester", esc(&f.requester))];
    lines.push(("Policy", esc(&f.policy.sentence())));
    if !f.policy.automatic() && f.policy.rule.is_some() {
        lines.push(("Approvals", esc(&f.progress.phrase())));
    }
    if let Some(d) = &f.denial {
        lines.push(("Denied by", esc(d.by.as_str())));
    }
    if let Some(o) = &r.outcome {
        lines.push(("Outcome", esc(&o.message)));
    }
    lines
}

/// The most characters of account lines `list` shows. Slack cuts a message's text beyond
/// 40,000 characters; an image shared with a few hundred long login IDs went past that (found
/// by `tests/api/payloads.rs` with Slack's SDK), so the rest is counted, not listed.
const MAX_SHARE_LIST_CHARS: usize = 12_000;

/// `list <image>`: the live share list and what the service knows of each target.
pub fn share_list(view: &ImageView, grants: &[Grant]) -> String {
    let mut out = format!(
        "Image {} ({}, {}, status {}) is shared with {} account(s).",
        view.no,
        escape(&view.name),
        view.hypervisor,
        view.status,
        view.shared_with.len()
    );
    let mut listed = 0;
    for (i, target) in view.shared_with.iter().enumerate() {
        if listed > MAX_SHARE_LIST_CHARS {
            out.push_str(&format!(
                "\n… and {} more; `shares {}` on the command line lists them all.",
                view.shared_with.len() - i,
                view.no
            ));
            break;
        }
        let mine: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.target.as_str() == target)
            .collect();
        let how = if mine.is_empty() {
            "not granted through this service".to_string()
        } else {
            mine.iter()
                .map(|g| match g.ends_at {
                    Some(end) => format!(
                        "{} until {}",
                        g.request_id,
                        end.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => format!("{} (no end)", g.request_id),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let line = format!("\n• {}: {how}", escape(target));
        listed += line.chars().count();
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImageNo;

    /// Regression (Slack's SDK in `tests/api/payloads.rs`): a long share list went past the
    /// 40,000 characters Slack keeps of a message's text.
    #[test]
    fn a_long_share_list_stays_within_slacks_message_limit_and_says_how_many_more() {
        let view = ImageView {
            no: ImageNo::parse("1234567").unwrap(),
            name: "golden-web".into(),
            status: "CREAT".into(),
            hypervisor: crate::ncp::Hypervisor::Kvm,
            shared_with: (0..500)
                .map(|i| format!("{}{i}@partner.example", "x&".repeat(110)))
                .collect(),
        };
        let text = share_list(&view, &[]);
        assert!(text.chars().count() < 40_000, "{}", text.chars().count());
        assert!(text.contains("is shared with 500 account(s)"), "{text}");
        assert!(text.contains("more; `shares 1234567`"), "{text}");
        let short = ImageView {
            shared_with: vec!["a@partner.example".into()],
            ..view
        };
        assert!(!share_list(&short, &[]).contains("more"));
    }
}
