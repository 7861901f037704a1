//! The decision: does the policy allow a request, and who must approve it.
//!
//! Pure: no I/O, no clock (`now` is an argument) and no error type. Every denial carries
//! sentences that tell the requester what to change, because a bare "denied" in chat only
//! produces a support ticket.

use super::{PersonName, Policy, Rule};
use crate::domain::{Action, ImageNo, LoginId, ShareDuration};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything about a request that the policy looks at, already parsed and validated.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The verified account that asked.
    pub requester: &'a super::Identity,
    /// The image to change.
    pub image_no: &'a ImageNo,
    /// The image's name when known; without it only `no:` patterns can match.
    pub image_name: Option<&'a str>,
    /// What to do to the share list.
    pub action: Action,
    /// The login IDs to share with, unshare from, or set the list to.
    pub targets: &'a [LoginId],
    /// `for <duration>`, if the request is time-boxed.
    pub duration: Option<ShareDuration>,
    /// `because <reason>`, if given.
    pub reason: Option<&'a str>,
}

/// The policy's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "decision")]
pub enum Decision {
    /// A rule allows the request, subject to the approvals it names.
    Allowed(Allowed),
    /// No rule allows it, or the matching rule's conditions are not met.
    Denied(Denied),
}

/// An allowed request: which rule, who must approve and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowed {
    /// The name of the rule that matched.
    pub rule: String,
    /// The distinct people who may approve, sorted; the requester is left out unless the rule
    /// allows self-approval, so this list is exactly whose approvals count.
    pub approvers: Vec<PersonName>,
    /// How many of them must approve (0 when auto-approved).
    pub min_approvals: u32,
    /// Whether the request is approved without anyone approving it.
    pub auto_approve: bool,
    /// Whether the requester's own approval counts (the rule's setting, else the defaults).
    pub allow_self_approval: bool,
    /// How long the request may wait for approval.
    pub request_ttl: ShareDuration,
    /// When the pending request expires: `now + request_ttl`.
    pub expires_at: DateTime<Utc>,
    /// Where the Slack approval card goes, if the rule names a channel.
    pub approval_channel: Option<String>,
    /// Where the NAVER WORKS approval message goes, if the rule names a room.
    pub works_channel: Option<String>,
    /// The person who asked.
    pub requester: PersonName,
}

/// A denied request with what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    /// Sentences for the requester, each naming the rule and what to change where one applies.
    pub reasons: Vec<String>,
    /// The rule that came nearest to allowing the request, if any rule was considered.
    pub closest: Option<ClosestRule>,
}

/// The rule that came nearest to allowing a request, and where it did not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosestRule {
    /// The rule's name.
    pub rule: String,
    /// Each criterion (action, image, target, requester) the request failed; empty when the rule
    /// matched and only its conditions (duration, reason, approvers) refused the request.
    pub failed: Vec<String>,
}

/// Decides a request: the first rule in file order whose actions, images, all targets and
/// requesters match decides it; without one the request is denied with the closest rule.
pub fn evaluate(policy: &Policy, facts: &RequestFacts, now: DateTime<Utc>) -> Decision {
    evaluate_objections(policy, facts, now).0
}

/// What a denial's sentence is about, so that a form can put it on the field it concerns
/// without reading the sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Criterion {
    /// The requester is not in `[people]`.
    Person,
    /// No rule allows the request (the headline of a denial without a matching rule).
    NoRule,
    /// The rule's actions.
    Action,
    /// The rule's images.
    Image,
    /// The rule's targets.
    Target,
    /// The rule's requesters.
    Requester,
    /// The rule's `max_duration`.
    Duration,
    /// The rule's `require_reason`.
    Reason,
    /// Too few people can approve.
    Approvers,
}

/// A sentence of a denial and the criterion that produced it.
pub(super) type Objection = (Criterion, String);

/// [`evaluate`], and for a denial every sentence of it tagged with its criterion: the reasons
/// first, then the closest rule's failed criteria (the same sentences, in the same order).
pub(super) fn evaluate_objections(
    policy: &Policy,
    facts: &RequestFacts,
    now: DateTime<Utc>,
) -> (Decision, Vec<Objection>) {
    let Some(requester) = policy.person_for(facts.requester) else {
        let reason = format!(
            "you ({}) are not in the policy's [people]; ask the policy owners to add your account",
            facts.requester
        );
        return (
            Decision::Denied(Denied {
                reasons: vec![reason.clone()],
                closest: None,
            }),
            vec![(Criterion::Person, reason)],
        );
    };
    // Counting is cheap; the sentences are written only for the rule that came closest.
    let mut closest: Option<(usize, &Rule)> = None;
    for rule in policy.rules() {
        let (criteria, _) = mismatches(policy, rule, facts, requester, false);
        if criteria == 0 {
            return decide(policy, rule, facts, requester, now);
        }
        // Strictly fewer, so that ties go to the rule earlier in the file.
        if closest.is_none_or(|(best, _)| criteria < best) {
            closest = Some((criteria, rule));
        }
    }
    let failed = closest
        .map(|(_, rule)| mismatches(policy, rule, facts, requester, true).1)
        .unwrap_or_default();
    let closest = closest.map(|(_, rule)| ClosestRule {
        rule: rule.name.clone(),
        failed: texts(&failed),
    });
    let reason = if policy.rules().is_empty() {
        "the policy has no rules, so nothing can be shared".to_owned()
    } else {
        format!(
            "no rule allows {requester} to {} image {} with {}",
            facts.action,
            facts.image_no,
            list_targets(facts.targets)
        )
    };
    let mut objections = vec![(Criterion::NoRule, reason.clone())];
    objections.extend(failed);
    (
        Decision::Denied(Denied {
            reasons: vec![reason],
            closest,
        }),
        objections,
    )
}

fn texts(objections: &[Objection]) -> Vec<String> {
    objections.iter().map(|(_, text)| text.clone()).collect()
}

/// Checks whether `approver` may approve an allowed request, returning the person it counts as.
///
/// The approver set is the one decided when the request was made, so a policy change does not
/// move a pending request's goalposts; the identity is resolved against the current policy, so
/// removing an account from `[people]` takes effect at once.
pub fn may_approve(
    policy: &Policy,
    allowed: &Allowed,
    approver: &super::Identity,
) -> Result<PersonName, String> {
    let person = policy.person_for(approver).ok_or_else(|| {
        format!("you ({approver}) are not in the policy's [people], so you cannot approve")
    })?;
    if allowed.auto_approve {
        return Err(format!(
            "rule {:?} approves automatically; no approval is needed",
            allowed.rule
        ));
    }
    if *person == allowed.requester && !allowed.allow_self_approval {
        return Err(format!(
            "you requested this; rule {:?} does not allow self-approval",
            allowed.rule
        ));
    }
    if !allowed.approvers.contains(person) {
        return Err(format!(
            "{person} is not an approver under rule {:?} (approvers: {})",
            allowed.rule,
            join(&allowed.approvers)
        ));
    }
    Ok(person.clone())
}

/// How many criteria a rule fails for a request, and a sentence for each failure.
fn mismatches(
    policy: &Policy,
    rule: &Rule,
    facts: &RequestFacts,
    requester: &PersonName,
    with_reasons: bool,
) -> (usize, Vec<Objection>) {
    let mut criteria = 0;
    let mut failed = Vec::new();
    if !rule.actions.contains(&facts.action) {
        criteria += 1;
        if with_reasons {
            failed.push((
                Criterion::Action,
                format!(
                    "action {} is not one of {}",
                    facts.action,
                    rule.actions
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if !rule
        .images
        .iter()
        .any(|p| p.matches(facts.image_no, facts.image_name))
    {
        criteria += 1;
        if with_reasons {
            let name = facts.image_name.map_or("name unknown".to_owned(), |n| {
                format!("name {}", crate::domain::truncate_for_display(n))
            });
            failed.push((
                Criterion::Image,
                format!(
                    "image {} ({name}) does not match {}",
                    facts.image_no,
                    one_or_any(rule.images.iter())
                ),
            ));
        }
    }
    let mut target_failed = false;
    for target in facts.targets {
        if !rule.targets.iter().any(|g| g.matches(target.as_str())) {
            target_failed = true;
            if with_reasons {
                failed.push((
                    Criterion::Target,
                    format!(
                        "target {target} does not match {}",
                        one_or_any(rule.targets.iter())
                    ),
                ));
            }
        }
    }
    criteria += usize::from(target_failed);
    if !policy.includes(&rule.requesters, requester) {
        criteria += 1;
        if with_reasons {
            failed.push((
                Criterion::Requester,
                format!(
                    "{requester} is not among the requesters ({})",
                    rule.requesters
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    (criteria, failed)
}

/// The decision once a rule matched: its conditions, then who approves.
fn decide(
    policy: &Policy,
    rule: &Rule,
    facts: &RequestFacts,
    requester: &PersonName,
    now: DateTime<Utc>,
) -> (Decision, Vec<Objection>) {
    let name = &rule.name;
    let mut reasons: Vec<Objection> = Vec::new();
    if let Some(max) = rule.max_duration.filter(|_| facts.action.grants_access()) {
        match facts.duration {
            None => reasons.push((
                Criterion::Duration,
                format!("rule {name:?} requires `for <duration>` of at most {max}"),
            )),
            Some(d) if d > max => reasons.push((
                Criterion::Duration,
                format!("rule {name:?} allows at most {max}, not {d}: ask `for {max}` or less"),
            )),
            Some(_) => {}
        }
    }
    if rule.require_reason && facts.reason.is_none_or(|r| r.trim().is_empty()) {
        reasons.push((
            Criterion::Reason,
            format!("rule {name:?} requires a reason: add `because <reason>`"),
        ));
    }
    let allow_self_approval = rule
        .allow_self_approval
        .unwrap_or(policy.defaults().allow_self_approval);
    let approvers: Vec<PersonName> = if rule.auto_approve {
        Vec::new()
    } else {
        policy
            .expand(&rule.approvers)
            .into_iter()
            .filter(|p| allow_self_approval || p != requester)
            .collect()
    };
    // Without this check a request that can never collect enough approvals would sit pending
    // until it expires, which is the "stuck at waiting" users of similar tools complain about.
    if approvers.len() < rule.min_approvals as usize {
        reasons.push((
            Criterion::Approvers,
            format!(
                "rule {name:?} needs {} approvals but only {} other than you can approve ({}); \
                 ask someone else to request it",
                rule.min_approvals,
                super::people_count(approvers.len()),
                if approvers.is_empty() {
                    "nobody".to_owned()
                } else {
                    join(&approvers)
                }
            ),
        ));
    }
    if !reasons.is_empty() {
        return (
            Decision::Denied(Denied {
                reasons: texts(&reasons),
                closest: Some(ClosestRule {
                    rule: name.clone(),
                    failed: Vec::new(),
                }),
            }),
            reasons,
        );
    }
    let request_ttl = rule.request_ttl.unwrap_or(policy.defaults().request_ttl);
    let allowed = Decision::Allowed(Allowed {
        rule: name.clone(),
        approvers,
        min_approvals: rule.min_approvals,
        auto_approve: rule.auto_approve,
        allow_self_approval,
        request_ttl,
        expires_at: now + request_ttl.to_chrono(),
        approval_channel: rule.approval_channel.clone(),
        works_channel: rule.works_channel.clone(),
        requester: requester.clone(),
    });
    (allowed, Vec::new())
}

fn one_or_any<T: fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    let many = items.len() > 1;
    let list: Vec<String> = items.map(|i| i.to_string()).collect();
    if many {
        format!("any of {}", list.join(", "))
    } else {
        list.join("")
    }
}

pub(super) fn join(people: &[PersonName]) -> String {
    people
        .iter()
        .map(PersonName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn list_targets(targets: &[LoginId]) -> String {
    if targets.is_empty() {
        "no targets".to_owned()
    } else {
        targets
            .iter()
            .map(LoginId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
