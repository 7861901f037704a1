//! Texts for the person who typed a command or clicked a button (ephemeral replies).

use crate::domain::{Approval, Grant, ShareRequest};
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

/// `status <id>`: where the request is and who acted.
pub fn status(r: &ShareRequest, approvals: &[Approval]) -> String {
    let approved: Vec<String> = approvals
        .iter()
        .filter(|a| a.approve)
        .map(|a| a.person.to_string())
        .collect();
    let mut out = format!(
        "*{}* is *{}*: {} image {} ({}) {} {}",
        r.id,
        r.state,
        r.action,
        r.image_no,
        escape(&r.image_name),
        if r.action == crate::policy::Action::Unshare {
            "from"
        } else {
            "with"
        },
        r.targets
            .iter()
            .map(|t| escape(t.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(d) = r.duration {
        out.push_str(&format!(" for {d}"));
    }
    if let Some(rule) = &r.rule {
        out.push_str(&format!("\nRule: {}", escape(rule)));
    }
    if r.min_approvals > 0 {
        out.push_str(&format!(
            "\nApprovals: {} of {} ({})",
            approved.len(),
            r.min_approvals,
            if approved.is_empty() {
                "none yet".into()
            } else {
                approved.join(", ")
            }
        ));
    }
    if let Some(o) = &r.outcome {
        out.push_str(&format!("\nOutcome: {}", escape(&o.message)));
    }
    out
}

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
    for target in &view.shared_with {
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
        out.push_str(&format!("\n• {}: {how}", escape(target)));
    }
    out
}
