//! What a request form may offer a person before they submit: the images they may ask to share,
//! the durations and whether a reason is needed for one image, and the policy's objections to a
//! filled-in form placed on the fields they are about.
//!
//! Pure, like [`evaluate`](super::evaluate): the form's answers come from the same rules and the
//! same sentences, so the form never promises what submitting would refuse for another reason.

use super::evaluate::{Criterion, evaluate_objections};
use super::{Decision, Identity, Policy, RequestFacts, Rule};
use crate::domain::{Action, CatalogImage, ImageNo, ShareDuration};
use chrono::{DateTime, Utc};

/// The durations every form offers (when the rules allow them), in days.
const MENU_DAYS: [u64; 6] = [1, 3, 7, 14, 30, 90];

/// The rules that could decide a share of this image by this person, before the targets are
/// known: action share, the person among the requesters, an image pattern matching.
fn could_match<'p>(
    policy: &'p Policy,
    requester: &Identity,
    image_no: &ImageNo,
    image_name: Option<&str>,
) -> Vec<&'p Rule> {
    let Some(person) = policy.person_for(requester) else {
        return Vec::new();
    };
    policy
        .rules()
        .iter()
        .filter(|r| {
            r.actions.contains(&Action::Share)
                && policy.includes(&r.requesters, person)
                && r.images.iter().any(|p| p.matches(image_no, image_name))
        })
        .collect()
}

/// Images the requester may ask to share under some rule (action share, requester included,
/// image pattern matching the number or name), in catalog order.
pub fn shareable<'a>(
    policy: &Policy,
    requester: &Identity,
    images: &'a [CatalogImage],
) -> Vec<&'a CatalogImage> {
    if policy.person_for(requester).is_none() {
        return Vec::new();
    }
    images
        .iter()
        .filter(|i| !could_match(policy, requester, &i.no, Some(&i.name)).is_empty())
        .collect()
}

/// What the form offers for one image: the durations (None = "no end") the rules that could
/// match allow, and whether a reason is required. None when no rule lets this person share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormChoices {
    /// Shortest first; `None` ("no end") last, and only when some rule allows it.
    pub durations: Vec<Option<ShareDuration>>,
    /// Whether every rule that could match requires a reason.
    pub reason_required: bool,
}

/// The form's choices for one image: the standard menu (1d, 3d, 7d, 14d, 30d, 90d) and each
/// rule's own `max_duration`, kept when at most the largest maximum among the rules that could
/// match; "no end" only when one of them has no maximum (then every duration is kept). A reason
/// is required only when every such rule requires one: the targets, still unknown, decide which
/// rule applies.
pub fn form_choices(
    policy: &Policy,
    requester: &Identity,
    image_no: &ImageNo,
    image_name: Option<&str>,
) -> Option<FormChoices> {
    let rules = could_match(policy, requester, image_no, image_name);
    if rules.is_empty() {
        return None;
    }
    let unbounded = rules.iter().any(|r| r.max_duration.is_none());
    let largest = rules.iter().filter_map(|r| r.max_duration).max();
    let mut durations: Vec<ShareDuration> = MENU_DAYS
        .iter()
        .filter_map(|d| ShareDuration::from_secs(d * 86_400).ok())
        .chain(rules.iter().filter_map(|r| r.max_duration))
        .filter(|d| unbounded || largest.is_some_and(|max| *d <= max))
        .collect();
    durations.sort();
    durations.dedup();
    let mut durations: Vec<Option<ShareDuration>> = durations.into_iter().map(Some).collect();
    if unbounded {
        durations.push(None);
    }
    Some(FormChoices {
        durations,
        reason_required: rules.iter().all(|r| r.require_reason),
    })
}

/// A field of the request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    /// The image picker.
    Image,
    /// The target login IDs.
    Targets,
    /// The duration menu.
    Duration,
    /// The reason.
    Reason,
}

impl FormField {
    const ALL: [FormField; 4] = [Self::Image, Self::Targets, Self::Duration, Self::Reason];
}

fn field_of(criterion: Criterion) -> FormField {
    match criterion {
        Criterion::Target => FormField::Targets,
        Criterion::Duration => FormField::Duration,
        Criterion::Reason => FormField::Reason,
        // Who may ask, for what and with how many approvers: all decided by the image chosen.
        Criterion::Person
        | Criterion::NoRule
        | Criterion::Action
        | Criterion::Image
        | Criterion::Requester
        | Criterion::Approvers => FormField::Image,
    }
}

/// The policy's objections to a request, each placed on the form field it is about, with the
/// same sentences `policy explain` prints. Empty when the policy allows the request.
///
/// At most one entry per field, in form order (image, targets, duration, reason); several
/// sentences on one field are joined with "; ".
pub fn form_errors(
    policy: &Policy,
    facts: &RequestFacts,
    now: DateTime<Utc>,
) -> Vec<(FormField, String)> {
    let (decision, objections) = evaluate_objections(policy, facts, now);
    if matches!(decision, Decision::Allowed(_)) {
        return Vec::new();
    }
    FormField::ALL
        .into_iter()
        .filter_map(|field| {
            let texts: Vec<&str> = objections
                .iter()
                .filter(|(c, _)| field_of(*c) == field)
                .map(|(_, t)| t.as_str())
                .collect();
            (!texts.is_empty()).then(|| (field, texts.join("; ")))
        })
        .collect()
}
