//! Human text for `policy explain` (a dry run of one request) and `policy check` (a file summary).

use super::evaluate::{join, list_targets};
use super::{Decision, Policy, PolicyError, RequestFacts, evaluate};
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write as _;
use std::path::Path;

/// The dry-run text for `policy explain`: the decision, the rule, its approvers, or why nothing matched.
pub fn explain(policy: &Policy, facts: &RequestFacts, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, so the results of writeln! are ignored throughout.
    let _ = writeln!(
        out,
        "policy:   {} (sha256 {})",
        policy.source_name(),
        policy.hash()
    );
    let who = match policy.person_for(facts.requester) {
        Some(p) => format!("{p} ({})", facts.requester),
        None => format!("{} (not in [people])", facts.requester),
    };
    let image = match facts.image_name {
        Some(n) => format!(
            "image {} ({})",
            facts.image_no,
            crate::domain::truncate_for_display(n)
        ),
        None => format!("image {} (name unknown)", facts.image_no),
    };
    let mut request = format!(
        "request:  {who}: {} {image} with {}",
        facts.action,
        list_targets(facts.targets)
    );
    if let Some(d) = facts.duration {
        let _ = write!(request, " for {d}");
    }
    if let Some(r) = facts.reason {
        let _ = write!(
            request,
            " because {}",
            crate::domain::truncate_for_display(r)
        );
    }
    let _ = writeln!(out, "{request}");

    let line_of = |name: &str| {
        policy
            .rules()
            .iter()
            .find(|r| r.name == name)
            .map_or(String::new(), |r| format!(" (line {})", r.line))
    };
    match evaluate(policy, facts, now) {
        Decision::Allowed(a) => {
            let _ = writeln!(
                out,
                "decision: ALLOWED by rule {:?}{}",
                a.rule,
                line_of(&a.rule)
            );
            if a.auto_approve {
                let _ = writeln!(out, "  approval:      automatic, nobody needs to approve");
            } else {
                let _ = writeln!(
                    out,
                    "  approval:      {} of {} must approve: {}",
                    a.min_approvals,
                    a.approvers.len(),
                    join(&a.approvers)
                );
                let _ = writeln!(
                    out,
                    "  self-approval: {}",
                    if a.allow_self_approval {
                        "allowed, the requester's own approval counts"
                    } else {
                        "not allowed, the requester's own approval never counts"
                    }
                );
                let _ = writeln!(
                    out,
                    "  expires:       after {} if not approved, at {}",
                    a.request_ttl,
                    a.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            if let Some(c) = &a.approval_channel {
                let _ = writeln!(out, "  approval card: Slack channel {c}");
            }
            if let Some(c) = &a.works_channel {
                let _ = writeln!(out, "  approval card: NAVER WORKS room {c}");
            }
        }
        Decision::Denied(d) => {
            match &d.closest {
                Some(c) if c.failed.is_empty() => {
                    let _ = writeln!(
                        out,
                        "decision: DENIED by rule {:?}{}, which matches this request:",
                        c.rule,
                        line_of(&c.rule)
                    );
                }
                _ => {
                    let _ = writeln!(out, "decision: DENIED");
                }
            }
            for r in &d.reasons {
                let _ = writeln!(out, "  - {r}");
            }
            if let Some(c) = d.closest.as_ref().filter(|c| !c.failed.is_empty()) {
                let _ = writeln!(out, "closest rule: {:?}{}", c.rule, line_of(&c.rule));
                for f in &c.failed {
                    let _ = writeln!(out, "  - {f}");
                }
            }
        }
    }
    out
}

/// Loads a policy file and summarises it for `policy check`, or returns every problem in it.
pub fn check_report(path: &Path) -> Result<String, Vec<PolicyError>> {
    let policy = Policy::load(path)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: OK: {} rules, {} people, {} groups, sha256 {}",
        policy.source_name(),
        policy.rules().len(),
        policy.people().len(),
        policy.groups().len(),
        policy.hash()
    );
    for (i, rule) in policy.rules().iter().enumerate() {
        let mut parts = Vec::new();
        let actions: Vec<&str> = rule.actions.iter().map(|a| a.as_str()).collect();
        parts.push(actions.join("/"));
        if rule.auto_approve {
            parts.push("auto-approved".to_owned());
        } else {
            parts.push(format!(
                "{} of {} approvers",
                rule.min_approvals,
                policy.expand(&rule.approvers).len()
            ));
        }
        if let Some(max) = rule.max_duration {
            parts.push(format!("at most {max}"));
        }
        if rule.require_reason {
            parts.push("reason required".to_owned());
        }
        let _ = writeln!(
            out,
            "  rule {} {:?} (line {}): {}",
            i + 1,
            rule.name,
            rule.line,
            parts.join(", ")
        );
    }
    Ok(out)
}
