use super::*;
use std::path::Path;

/// Loads `text` and compares every error line, in order, with `expected`.
fn check_errors(text: &str, expected: &[&str]) {
    let errors = match Policy::from_toml_str(text, "policy.toml") {
        Ok(_) => panic!("expected errors, the policy loaded"),
        Err(e) => e,
    };
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected);
}

const PEOPLE: &str = r#"[people]
alice = { slack = "UALICE" }
bob = { slack = "UBOB" }

[groups]
admins = ["alice", "bob"]
"#;

/// A valid rule (lines 8 to 13 after PEOPLE) with `extra` appended to its body.
fn with_rule(extra: &str) -> String {
    format!(
        "{PEOPLE}\n[[rules]]\nname = \"r\"\nimages = [\"no:1\"]\ntargets = [\"*@x.example\"]\nrequesters = [\"*\"]\napprovers = [\"group:admins\"]\n{extra}"
    )
}

#[test]
fn the_example_policy_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let policy = Policy::load(&path).unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(policy.rules().len(), 2);
    assert_eq!(policy.people().len(), 3);
    assert_eq!(policy.groups().len(), 2);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        policy.hash(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    let bob = policy
        .person_for(&Identity::parse("servicenow:abc123").unwrap())
        .unwrap();
    assert_eq!(bob.as_str(), "bob");
    let golden = &policy.rules()[0];
    assert_eq!(golden.name, "golden images to partners");
    assert_eq!(golden.min_approvals, 2);
    assert_eq!(
        golden.max_duration,
        Some(ShareDuration::parse("30d").unwrap())
    );
    assert_eq!(golden.approval_channel.as_deref(), Some("C0APPROVALS"));
    assert_eq!(
        golden.actions,
        [Action::Share, Action::Unshare, Action::Set]
    );
    let sandbox = &policy.rules()[1];
    assert!(sandbox.auto_approve);
    assert_eq!(sandbox.min_approvals, 0);
    assert_eq!(
        policy.defaults().request_ttl,
        ShareDuration::parse("24h").unwrap()
    );
}

#[test]
fn defaults_apply_when_the_file_leaves_them_out() {
    let policy = Policy::from_toml_str(&with_rule(""), "p.toml").unwrap();
    assert_eq!(policy.defaults().request_ttl.to_string(), "1d");
    assert!(!policy.defaults().allow_self_approval);
    assert_eq!(policy.rules()[0].min_approvals, 1);
    assert_eq!(policy.rules()[0].line, 8);
}

#[test]
fn an_unknown_key_in_a_rule_names_the_rule_and_line() {
    check_errors(
        &with_rule("min_aprovals = 2\n"),
        &[
            r#"policy.toml:14: rule "r": unknown key "min_aprovals" (a rule can have: name, images, targets, requesters, approvers, min_approvals, max_duration, require_reason, approval_channel, works_channel, auto_approve, allow_self_approval, request_ttl, actions)"#,
        ],
    );
}

#[test]
fn unknown_top_level_and_defaults_keys_are_errors() {
    check_errors(
        &format!("[defaults]\nrequest_tll = \"4h\"\n\n[rule]\nname = \"x\"\n\n{PEOPLE}"),
        &[
            r#"policy.toml:2: [defaults]: unknown key "request_tll" (defaults can have: request_ttl, allow_self_approval)"#,
            r#"policy.toml:4: unknown top-level key "rule" (a policy has: defaults, people, groups, rules)"#,
        ],
    );
}

#[test]
fn an_unknown_person_in_a_group_is_an_error() {
    check_errors(
        &PEOPLE.replace(r#"["alice", "bob"]"#, r#"["alice", "zed", "group:x"]"#),
        &[
            r#"policy.toml:6: [groups]: group "admins": unknown person "zed""#,
            r#"policy.toml:6: [groups]: group "admins": unknown person "group:x" (groups list people, not other groups)"#,
        ],
    );
}

#[test]
fn unknown_groups_and_people_in_a_rule_are_errors() {
    check_errors(
        &with_rule("").replace(
            r#"approvers = ["group:admins"]"#,
            r#"approvers = ["group:admin", "zed", "slack:UALICE"]"#,
        ),
        &[
            r#"policy.toml:13: rule "r": unknown group "admin""#,
            r#"policy.toml:13: rule "r": unknown person "zed""#,
            r#"policy.toml:13: rule "r": unknown person "slack:UALICE" (name a person from [people], group:NAME, or *)"#,
        ],
    );
}

#[test]
fn bad_durations_are_errors() {
    check_errors(
        &format!(
            "[defaults]\nrequest_ttl = \"1 day\"\n{}",
            with_rule("max_duration = \"3y\"\nrequest_ttl = 4\n")
        ),
        &[
            "policy.toml:2: [defaults] `request_ttl`: `1 day` is not a duration (use a number and a unit: 30m, 24h, 7d, 2w)",
            r#"policy.toml:16: rule "r": `max_duration`: `3y` is not a duration (use a number and a unit: 30m, 24h, 7d, 2w)"#,
            r#"policy.toml:17: rule "r": `request_ttl` must be a string, not an integer"#,
        ],
    );
}

#[test]
fn bad_patterns_are_errors() {
    check_errors(
        &with_rule("")
            .replace(
                r#"images = ["no:1"]"#,
                r#"images = ["no:12a", "id:1", "", "name:"]"#,
            )
            .replace(
                r#"targets = ["*@x.example"]"#,
                r#"targets = ["a b@x.example"]"#,
            ),
        &[
            r#"policy.toml:10: rule "r": image pattern "no:12a": `no:` must be followed by digits"#,
            r#"policy.toml:10: rule "r": image pattern "id:1" must start with `no:` (an image number) or `name:` (a name glob)"#,
            r#"policy.toml:10: rule "r": an image pattern cannot be empty"#,
            r#"policy.toml:10: rule "r": image pattern "name:": a pattern cannot be empty"#,
            r#"policy.toml:11: rule "r": target pattern "a b@x.example" contains white space"#,
        ],
    );
}

#[test]
fn min_approvals_must_be_possible() {
    check_errors(
        &with_rule("min_approvals = 3\n"),
        &[
            r#"policy.toml:14: rule "r": `min_approvals` is 3 but only 2 people can approve (alice, bob)"#,
        ],
    );
    check_errors(
        &with_rule("min_approvals = 0\n"),
        &[r#"policy.toml:14: rule "r": `min_approvals` must be at least 1, not 0"#],
    );
    // The same person named twice, directly and through a group, counts once.
    check_errors(
        &with_rule("min_approvals = 2\n").replace(
            r#"approvers = ["group:admins"]"#,
            r#"approvers = ["alice", "alice"]"#,
        ),
        &[
            r#"policy.toml:14: rule "r": `min_approvals` is 2 but only 1 person can approve (alice)"#,
        ],
    );
}

#[test]
fn one_account_mapped_to_two_people_is_an_error() {
    check_errors(
        &PEOPLE.replace(
            r#"bob = { slack = "UBOB" }"#,
            r#"bob = { jira = "j1", slack = "UALICE" }"#,
        ),
        &[
            r#"policy.toml:3: account slack:UALICE belongs to both "alice" (line 2) and "bob"; one account must be one person"#,
        ],
    );
}

#[test]
fn rules_need_approvers_or_auto_approve_but_not_both() {
    check_errors(
        &with_rule("").replace("approvers = [\"group:admins\"]\n", ""),
        &[r#"policy.toml:8: rule "r" has neither `approvers` nor `auto_approve = true`"#],
    );
    check_errors(
        &with_rule("auto_approve = true\nmin_approvals = 1\n"),
        &[
            r#"policy.toml:13: rule "r": `approvers` has no effect with `auto_approve = true`; remove one of them"#,
            r#"policy.toml:15: rule "r": `min_approvals` has no effect with `auto_approve = true`; remove one of them"#,
        ],
    );
}

#[test]
fn duplicate_names_empty_lists_and_missing_keys_are_errors() {
    let text = format!(
        "{}\n[[rules]]\nname = \"r\"\nimages = []\ntargets = []\nrequesters = []\nauto_approve = true\n\n[[rules]]\nauto_approve = true\n",
        with_rule("")
    );
    check_errors(
        &text,
        &[
            r#"policy.toml:16: rule "r" is defined twice (first at line 9)"#,
            r#"policy.toml:17: rule "r": `images` cannot be empty"#,
            r#"policy.toml:18: rule "r": `targets` cannot be empty"#,
            r#"policy.toml:19: rule "r": `requesters` cannot be empty"#,
            r#"policy.toml:22: rule #3 has no `name`"#,
            r#"policy.toml:22: rule #3 has no `images`"#,
            r#"policy.toml:22: rule #3 has no `targets`"#,
            r#"policy.toml:22: rule #3 has no `requesters`"#,
        ],
    );
}

#[test]
fn wrong_types_and_bad_actions_are_errors() {
    check_errors(
        &with_rule(
            "require_reason = \"yes\"\nactions = [\"share\", \"delete\", 3]\napproval_channel = \"\"\n",
        ),
        &[
            r#"policy.toml:14: rule "r": `require_reason` must be true or false, not a string"#,
            r#"policy.toml:15: rule "r": unknown action "delete" (use share, unshare or set)"#,
            r#"policy.toml:15: each entry of rule "r": `actions` must be a string, not an integer"#,
            r#"policy.toml:16: rule "r": `approval_channel` must be a channel id like C0APPROVALS"#,
        ],
    );
}

#[test]
fn many_problems_are_reported_together_in_file_order() {
    let text = r#"[people]
alice = { slack = "U1" }
bob = { slack = "U1" }

[groups]
admins = ["alice", "zed"]

[[rules]]
name = "x"
images = ["no:12a"]
targets = ["*@x.example"]
requesters = ["group:nope"]
approvers = ["alice"]
max_duration = "forever"
colour = "blue"
"#;
    check_errors(
        text,
        &[
            r#"policy.toml:3: account slack:U1 belongs to both "alice" (line 2) and "bob"; one account must be one person"#,
            r#"policy.toml:6: [groups]: group "admins": unknown person "zed""#,
            r#"policy.toml:10: rule "x": image pattern "no:12a": `no:` must be followed by digits"#,
            r#"policy.toml:12: rule "x": unknown group "nope""#,
            r#"policy.toml:14: rule "x": `max_duration`: `forever` is not a duration (use a number and a unit: 30m, 24h, 7d, 2w)"#,
            r#"policy.toml:15: rule "x": unknown key "colour" (a rule can have: name, images, targets, requesters, approvers, min_approvals, max_duration, require_reason, approval_channel, works_channel, auto_approve, allow_self_approval, request_ttl, actions)"#,
        ],
    );
}

#[test]
fn syntax_errors_carry_their_line() {
    let errors =
        Policy::from_toml_str("[people]\nalice = { slack = \"U1\" \n", "p.toml").unwrap_err();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e.line == Some(2)), "{errors:?}");
    assert!(
        errors[0].to_string().starts_with("p.toml:2: "),
        "{}",
        errors[0]
    );
}

#[test]
fn an_unreadable_file_is_one_error_without_a_line() {
    let errors = Policy::load(Path::new("/nonexistent/policy.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, None);
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/policy.toml: cannot read the policy: "),
        "{}",
        errors[0]
    );
}

#[test]
fn a_works_room_and_works_accounts_load() {
    let text = "[people]\nalice = { slack = \"UALICE\", works = \"c72af563-0f21-4736-11e4-045237113344\" }\nbob = { works = \"0c9d8e7f-aaaa-bbbb-cccc-111122223333\" }\n\n[groups]\nadmins = [\"alice\", \"bob\"]\n\n[[rules]]\nname = \"r\"\nimages = [\"no:1\"]\ntargets = [\"*@x.example\"]\nrequesters = [\"*\"]\napprovers = [\"group:admins\"]\nworks_channel = \"3f1e9c0a-approvers\"\n";
    let policy = Policy::from_toml_str(text, "p.toml").unwrap();
    assert_eq!(
        policy.rules()[0].works_channel.as_deref(),
        Some("3f1e9c0a-approvers")
    );
    assert_eq!(policy.rules()[0].approval_channel, None);
    let works = |id: &str| Identity::parse(&format!("works:{id}")).unwrap();
    assert_eq!(
        policy
            .person_for(&works("c72af563-0f21-4736-11e4-045237113344"))
            .map(PersonName::as_str),
        Some("alice")
    );
    assert_eq!(
        policy
            .person_for(&works("0c9d8e7f-aaaa-bbbb-cccc-111122223333"))
            .map(PersonName::as_str),
        Some("bob")
    );
    assert_eq!(policy.person_for(&works("UALICE")), None);
}

#[test]
fn a_works_room_must_be_a_plain_channel_id() {
    check_errors(
        &with_rule("works_channel = \"two words\"\n"),
        &[
            r#"policy.toml:14: rule "r": `works_channel` must be a NAVER WORKS channel id (the room's menu shows it as Channel ID)"#,
        ],
    );
}
