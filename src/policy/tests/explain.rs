use super::*;
use std::path::Path;

#[test]
fn explain_shows_the_rule_approvers_and_expiry_of_an_allowed_request() {
    let policy = fixture();
    let text = Req::new("slack:UCAROL").with_facts(|f| explain(&policy, f, now()));
    let expected = format!(
        "policy:   fixture.toml (sha256 {})
request:  carol (slack:UCAROL): share image 1234567 (name unknown) with a@partner.example for 7d because partner onboarding
decision: ALLOWED by rule \"golden to partners\" (line 17)
  approval:      2 of 2 must approve: alice, bob
  self-approval: not allowed, the requester's own approval never counts
  expires:       after 1d if not approved, at 2025-01-02T00:00:00Z
  approval card: Slack channel C0APPROVALS
",
        policy.hash()
    );
    assert_eq!(text, expected);
}

#[test]
fn explain_says_when_approval_is_automatic() {
    let policy = fixture();
    let text = Req::new("slack:UCAROL")
        .image("1", Some("sandbox-1"))
        .targets(&["x@corp.example"])
        .with_facts(|f| explain(&policy, f, now()));
    assert!(
        text.contains("decision: ALLOWED by rule \"sandbox inside\" (line 28)\n  approval:      automatic, nobody needs to approve\n"),
        "{text}"
    );
}

#[test]
fn explain_names_the_closest_rule_and_each_failed_criterion() {
    let policy = fixture();
    let text = Req::new("slack:UERIN")
        .targets(&["a@partner.example", "b@else.example"])
        .with_facts(|f| explain(&policy, f, now()));
    let tail = "decision: DENIED
  - no rule allows erin to share image 1234567 with a@partner.example, b@else.example
closest rule: \"golden to partners\" (line 17)
  - target b@else.example does not match *@partner.example
  - erin is not among the requesters (group:engineers)
";
    assert!(text.ends_with(tail), "{text}");
}

#[test]
fn explain_says_what_to_change_when_the_matching_rule_refuses() {
    let policy = fixture();
    let text = Req::new("slack:UCAROL")
        .duration(None)
        .with_facts(|f| explain(&policy, f, now()));
    let tail =
        "decision: DENIED by rule \"golden to partners\" (line 17), which matches this request:
  - rule \"golden to partners\" requires `for <duration>` of at most 30d
";
    assert!(text.ends_with(tail), "{text}");
}

#[test]
fn explain_tells_an_unknown_requester_so() {
    let policy = fixture();
    let text = Req::new("slack:UX").with_facts(|f| explain(&policy, f, now()));
    assert!(
        text.contains("request:  slack:UX (not in [people]): share"),
        "{text}"
    );
    assert!(text.ends_with("decision: DENIED\n  - you (slack:UX) are not in the policy's [people]; ask the policy owners to add your account\n"), "{text}");
}

#[test]
fn check_report_summarises_a_good_file_and_lists_every_problem_in_a_bad_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let report = check_report(&path).unwrap();
    let policy = Policy::load(&path).unwrap();
    let first = format!(
        "{}: OK: 2 rules, 3 people, 2 groups, sha256 {}",
        path.display(),
        policy.hash()
    );
    assert_eq!(report.lines().next(), Some(first.as_str()));
    assert!(report.contains("  rule 1 \"golden images to partners\" (line 28): share/unshare/set, 2 of 2 approvers, at most 30d, reason required\n"), "{report}");
    assert!(report.contains("  rule 2 \"sandbox images inside the company\" (line 41): share/unshare/set, auto-approved, at most 2h\n"), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[people]\na = { slack = \"U1\" }\n\n[groups]\ng = [\"b\", \"c\"]\n",
    )
    .unwrap();
    let errors = check_report(&bad).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.line == Some(5)));
}
