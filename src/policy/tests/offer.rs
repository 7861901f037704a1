//! The request form's answers: `shareable`, `form_choices`, `form_errors`.

use super::*;
use crate::domain::CatalogImage;

fn img(no: &str, name: &str) -> CatalogImage {
    CatalogImage {
        no: ImageNo::parse(no).unwrap(),
        name: name.into(),
    }
}

fn who(s: &str) -> Identity {
    Identity::parse(s).unwrap()
}

/// A row of the `form_choices` table: requester, image number and name, and the menu (as
/// [`menu`] prints it) with whether a reason is required, or `None` when nothing is offered.
type ChoicesRow = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<(&'static str, bool)>,
);

/// A row of the `form_errors` table: what the case is, the request, the expected errors.
type ErrorsRow = (&'static str, Req, Vec<(FormField, String)>);

/// The durations as people write them, "no end" as `-`.
fn menu(c: &FormChoices) -> String {
    c.durations
        .iter()
        .map(|d| d.map_or("-".to_owned(), |d| d.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn shareable_lists_the_images_some_share_rule_lets_the_person_ask_for_in_catalog_order() {
    let policy = fixture();
    let catalog = [
        img("1234567", "db"),
        img("2", "golden-api"),
        img("3", "sandbox-1"),
        img("7777777", "tools"),
        img("4", "other"),
    ];
    let table: [(&str, &[&str]); 5] = [
        // Engineers: golden (by number and by name), sandbox, and the tools rule for anyone.
        ("slack:UCAROL", &["1234567", "2", "3", "7777777"]),
        // Admins: golden only by name (their golden rule has no number), sandbox, tools.
        ("slack:UALICE", &["2", "3", "7777777"]),
        // In no group: only the rule for anyone.
        ("slack:UERIN", &["7777777"]),
        // Not in [people]: nothing at all, even under `*`.
        ("slack:UNOBODY", &[]),
        // The system is part of the identity.
        ("jira:UCAROL", &[]),
    ];
    for (requester, expected) in table {
        let got: Vec<&str> = shareable(&policy, &who(requester), &catalog)
            .into_iter()
            .map(|i| i.no.as_str())
            .collect();
        assert_eq!(got, expected, "{requester}");
    }
}

#[test]
fn shareable_ignores_rules_that_only_unshare() {
    let policy = Policy::from_toml_str(
        r#"
[people]
alice = { slack = "UALICE" }
[[rules]]
name = "unshare only"
actions = ["unshare", "set"]
images = ["no:1"]
targets = ["*"]
requesters = ["*"]
approvers = ["alice"]
allow_self_approval = true
"#,
        "unshare.toml",
    )
    .unwrap();
    assert!(shareable(&policy, &who("slack:UALICE"), &[img("1", "x")]).is_empty());
    assert_eq!(
        form_choices(
            &policy,
            &who("slack:UALICE"),
            &ImageNo::parse("1").unwrap(),
            None
        ),
        None
    );
}

#[test]
fn form_choices_offer_the_menu_within_the_largest_maximum_and_a_reason_only_if_all_need_one() {
    let policy = fixture();
    let table: [ChoicesRow; 8] = [
        // "golden to partners" alone: at most 30d (in the menu once), reason required.
        (
            "slack:UCAROL",
            "1234567",
            None,
            Some(("1d 3d 7d 14d 30d", true)),
        ),
        (
            "slack:UCAROL",
            "9",
            Some("golden-9"),
            Some(("1d 3d 7d 14d 30d", true)),
        ),
        // "sandbox inside": at most 7d, no reason.
        (
            "slack:UDAVE",
            "9",
            Some("sandbox-9"),
            Some(("1d 3d 7d", false)),
        ),
        // "tools anywhere known" has no maximum: the whole menu and "no end"; the unshare-only
        // rule on the same image is not a share rule.
        (
            "slack:UERIN",
            "7777777",
            None,
            Some(("1d 3d 7d 14d 30d 90d -", false)),
        ),
        // An admin's golden rule has no maximum and needs no reason.
        (
            "slack:UALICE",
            "9",
            Some("golden-9"),
            Some(("1d 3d 7d 14d 30d 90d -", false)),
        ),
        // No rule lets erin share golden, nobody knows the unknown image, strangers get nothing.
        ("slack:UERIN", "9", Some("golden-9"), None),
        ("slack:UCAROL", "5555555", Some("misc"), None),
        ("slack:UNOBODY", "7777777", None, None),
    ];
    for (requester, no, name, expected) in table {
        let got = form_choices(&policy, &who(requester), &ImageNo::parse(no).unwrap(), name);
        let got = got.as_ref().map(|c| (menu(c), c.reason_required));
        let expected = expected.map(|(m, r)| (m.to_owned(), r));
        assert_eq!(got, expected, "{requester} {no} {name:?}");
    }
}

#[test]
fn form_choices_add_each_rules_own_maximum_and_merge_the_rules_that_could_match() {
    let policy = Policy::from_toml_str(
        r#"
[people]
alice = { slack = "UALICE" }
bob = { slack = "UBOB" }
[[rules]]
name = "short, with a reason"
images = ["name:app-*"]
targets = ["*@corp.example"]
requesters = ["alice"]
approvers = ["bob"]
max_duration = "10d"
require_reason = true
[[rules]]
name = "longer to partners, with a reason"
images = ["name:app-*"]
targets = ["*@partner.example"]
requesters = ["alice"]
approvers = ["bob"]
max_duration = "45d"
require_reason = true
[[rules]]
name = "bob, no reason"
images = ["name:app-*"]
targets = ["*@corp.example"]
requesters = ["bob"]
approvers = ["alice"]
max_duration = "36h"
"#,
        "maxima.toml",
    )
    .unwrap();
    let no = ImageNo::parse("1").unwrap();
    let alice = form_choices(&policy, &who("slack:UALICE"), &no, Some("app-1")).unwrap();
    assert_eq!(menu(&alice), "1d 3d 7d 10d 14d 30d 45d");
    assert!(alice.reason_required, "both of alice's rules need a reason");
    let bob = form_choices(&policy, &who("slack:UBOB"), &no, Some("app-1")).unwrap();
    assert_eq!(menu(&bob), "1d 36h");
    assert!(!bob.reason_required);
    // Without the name only number patterns could match, and there are none.
    assert_eq!(form_choices(&policy, &who("slack:UALICE"), &no, None), None);
}

#[test]
fn form_errors_put_each_objection_on_its_field_with_the_sentences_policy_explain_prints() {
    use FormField::*;
    let golden = "rule \"golden to partners\"";
    let table: Vec<ErrorsRow> = vec![
        ("allowed", Req::new("slack:UCAROL"), vec![]),
        (
            "not in [people]",
            Req::new("slack:UNOBODY"),
            vec![(
                Image,
                "you (slack:UNOBODY) are not in the policy's [people]; ask the policy owners to add your account".into(),
            )],
        ),
        (
            "image not covered",
            Req::new("slack:UCAROL").image("5555555", Some("misc")),
            vec![(
                Image,
                "no rule allows carol to share image 5555555 with a@partner.example; \
                 image 5555555 (name misc) does not match any of no:1234567, name:golden-*"
                    .into(),
            )],
        ),
        (
            "not among the requesters",
            Req::new("slack:UERIN"),
            vec![(
                Image,
                "no rule allows erin to share image 1234567 with a@partner.example; \
                 erin is not among the requesters (group:engineers)"
                    .into(),
            )],
        ),
        (
            "a target no rule allows",
            Req::new("slack:UCAROL").targets(&["a@partner.example", "x@elsewhere.example"]),
            vec![
                (
                    Image,
                    "no rule allows carol to share image 1234567 with a@partner.example, x@elsewhere.example".into(),
                ),
                (
                    Targets,
                    "target x@elsewhere.example does not match *@partner.example".into(),
                ),
            ],
        ),
        (
            "two targets no rule allows: one entry",
            Req::new("slack:UCAROL").targets(&["x@elsewhere.example", "y@elsewhere.example"]),
            vec![
                (
                    Image,
                    "no rule allows carol to share image 1234567 with x@elsewhere.example, y@elsewhere.example".into(),
                ),
                (
                    Targets,
                    "target x@elsewhere.example does not match *@partner.example; \
                     target y@elsewhere.example does not match *@partner.example"
                        .into(),
                ),
            ],
        ),
        (
            "duration too long",
            Req::new("slack:UCAROL").duration(Some("60d")),
            vec![(
                Duration,
                format!("{golden} allows at most 30d, not 60d: ask `for 30d` or less"),
            )],
        ),
        (
            "no duration where one is required",
            Req::new("slack:UCAROL").duration(None),
            vec![(
                Duration,
                format!("{golden} requires `for <duration>` of at most 30d"),
            )],
        ),
        (
            "reason missing",
            Req::new("slack:UCAROL").reason(Some("  ")),
            vec![(
                Reason,
                format!("{golden} requires a reason: add `because <reason>`"),
            )],
        ),
        (
            "reason and duration missing: form order",
            Req::new("slack:UCAROL").reason(None).duration(None),
            vec![
                (
                    Duration,
                    format!("{golden} requires `for <duration>` of at most 30d"),
                ),
                (
                    Reason,
                    format!("{golden} requires a reason: add `because <reason>`"),
                ),
            ],
        ),
        (
            "too few approvers",
            Req::new("slack:UALICE")
                .image("9", Some("golden-9"))
                .targets(&["x@corp.example"]),
            vec![(
                Image,
                "rule \"golden inside by admins\" needs 2 approvals but only 1 person other than you can approve (bob); ask someone else to request it".into(),
            )],
        ),
    ];
    let policy = fixture();
    for (case, req, expected) in table {
        let got = req.with_facts(|f| form_errors(&policy, f, now()));
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn form_errors_carry_every_sentence_of_the_decision_and_nothing_else() {
    // Whatever the request, the form shows exactly the sentences `evaluate` gives (so `policy
    // explain` prints them too), only grouped by field.
    let policy = fixture();
    let requests = [
        Req::new("slack:UCAROL"),
        Req::new("slack:UNOBODY"),
        Req::new("slack:UERIN").image("555", Some("golden-1")),
        Req::new("slack:UCAROL")
            .targets(&["x@elsewhere.example"])
            .duration(None),
        Req::new("slack:UCAROL").reason(None).duration(Some("1w")),
        Req::new("slack:UDAVE")
            .action(Action::Unshare)
            .image("7777777", None),
    ];
    for req in requests {
        let (decision, errors) =
            req.with_facts(|f| (evaluate(&policy, f, now()), form_errors(&policy, f, now())));
        let mut want: Vec<String> = match &decision {
            Decision::Allowed(_) => Vec::new(),
            Decision::Denied(d) => d
                .reasons
                .iter()
                .chain(d.closest.iter().flat_map(|c| c.failed.iter()))
                .cloned()
                .collect(),
        };
        let mut got: Vec<String> = errors
            .iter()
            .flat_map(|(_, t)| t.split("; ").map(str::to_owned))
            .collect();
        // The one sentence with "; " in it is the [people] one; put it back together.
        if got.len() == 2 && got[0].starts_with("you (") {
            got = vec![got.join("; ")];
        }
        want.sort();
        got.sort();
        assert_eq!(got, want, "{decision:?}");
    }
}
