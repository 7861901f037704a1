use super::*;
use crate::domain::Hypervisor;
use crate::domain::{Approval, ImageNo, LoginId, Origin, Outcome, RequestId, ShareDuration};
use chrono::TimeZone;

fn person(name: &str) -> PersonName {
    serde_json::from_value(json!(name)).unwrap()
}

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

include!("../../../tests/fixtures/sample_request.rs");

/// The facts of a request in its state with these approvals, as the couriers build them.
fn f(r: &ShareRequest, approvals: &[Approval]) -> NoticeFacts {
    NoticeFacts::of_state(r, approvals)
}

fn request() -> ShareRequest {
    let targets = vec![
        LoginId::parse("a@partner.example").unwrap(),
        LoginId::parse("b@partner.example").unwrap(),
    ];
    sample_request("SR-7K3M9Q2X", at(10), targets)
}

fn approval(name: &str, slack_id: &str, approve: bool, comment: Option<&str>) -> Approval {
    Approval {
        request_id: request().id,
        person: person(name),
        identity: Identity::new("slack", slack_id).unwrap(),
        approve,
        at: at(11),
        comment: comment.map(str::to_owned),
    }
}

/// Every text in the blocks that Slack formats (mrkdwn), for assertions. `plain_text` objects
/// (buttons, confirm dialogs, headers) and rich text (quotes) are shown as they are and never
/// mention anyone.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("text")
                && !matches!(
                    m.get("type").and_then(Value::as_str),
                    Some("plain_text" | "text")
                )
            {
                out.push(t.clone());
            }
            m.values().for_each(|x| texts(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
        _ => {}
    }
}

fn all_text(msg: &(String, Value)) -> String {
    let mut out = vec![msg.0.clone()];
    texts(&msg.1, &mut out);
    out.join("\n")
}

/// The quotes of a message: (label, quoted words) of each rich text quote block.
fn quotes(msg: &(String, Value)) -> Vec<(String, String)> {
    msg.1
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "rich_text")
        .map(|b| {
            let part = |i: usize| {
                b["elements"][i]["elements"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(b["elements"][1]["type"], "rich_text_quote");
            (part(0), part(1))
        })
        .collect()
}

fn actions(blocks: &Value) -> Option<&Value> {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
}

/// Walks every block and element and checks Block Kit's length limits.
fn assert_within_limits(blocks: &Value) {
    for b in blocks.as_array().unwrap() {
        match b["type"].as_str().unwrap() {
            "header" => assert!(chars(&b["text"]["text"]) <= MAX_HEADER_TEXT),
            "section" => assert!(chars(&b["text"]["text"]) <= MAX_SECTION_TEXT),
            "context" => {
                for e in b["elements"].as_array().unwrap() {
                    assert!(chars(&e["text"]) <= MAX_CONTEXT_TEXT)
                }
            }
            "rich_text" => {
                for e in b["elements"].as_array().unwrap() {
                    for t in e["elements"].as_array().unwrap() {
                        assert!(chars(&t["text"]) <= MAX_SECTION_TEXT);
                    }
                }
            }
            "actions" => {
                assert!(chars(&b["block_id"]) <= 255);
                for e in b["elements"].as_array().unwrap() {
                    assert!(chars(&e["text"]["text"]) <= MAX_BUTTON_TEXT);
                    assert!(chars(&e["value"]) <= 2000);
                    let c = &e["confirm"];
                    assert!(chars(&c["title"]["text"]) <= MAX_CONFIRM_TITLE);
                    assert!(chars(&c["text"]["text"]) <= MAX_CONFIRM_TEXT);
                    assert!(chars(&c["confirm"]["text"]) <= MAX_CONFIRM_BUTTON);
                    assert!(chars(&c["deny"]["text"]) <= MAX_CONFIRM_BUTTON);
                }
            }
            other => panic!("unexpected block type {other}"),
        }
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().expect("a string").chars().count()
}

#[test]
fn escaping_neutralises_mentions_links_and_entities() {
    assert_eq!(
        escape("<!channel> & <https://evil|click>"),
        "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    );
    assert_eq!(escape("plain"), "plain");
    assert_eq!(escape("a\u{7}b\nc"), "a b\nc");
}

#[test]
fn the_approval_card_shows_everything_an_approver_needs() {
    let r = request();
    let card = approval_card(&f(&r, &[]));
    let text = all_text(&card);
    for expected in [
        "*Requester:* carol\n",
        "1234567 \"golden-web\"",
        "XEN",
        "*Action:* share",
        "`a@partner.example`",
        "`b@partner.example`",
        "for 7d, until about 2025-03-08 10:00 UTC",
        "*Policy:* Rule \"golden images to partners\" needs 2 approvals from alice, bob. The requester's own approval does not count.",
        "rule \"golden images to partners\"",
        r.short_fingerprint(),
        "SR-7K3M9Q2X",
        "expires 2025-03-02 10:00 UTC",
        "*Approvals:* 0 of 2 approvals; 2 more needed from alice, bob",
        "servers already created from a shared image keep running after the share is revoked",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The requester is not offered as an approver of their own request.
    assert!(!text.contains("alice, bob, carol"), "{text}");
    // People by their policy names: no account, no mention.
    assert!(
        !text.contains("U056CAROL") && !text.contains("<@"),
        "{text}"
    );
    assert_eq!(
        quotes(&card),
        vec![(REASON_LABEL.to_owned(), "partner onboarding".to_owned())]
    );
    assert_within_limits(&card.1);
}

#[test]
fn the_buttons_carry_the_request_id_and_confirm_naming_image_and_targets() {
    let r = request();
    let (_, blocks) = approval_card(&f(&r, &[]));
    let a = actions(&blocks).expect("an actions block");
    let [approve, deny] = a["elements"].as_array().unwrap().as_slice() else {
        panic!("two buttons")
    };
    assert_eq!(approve["action_id"], "approve");
    assert_eq!(approve["style"], "primary");
    assert_eq!(approve["text"]["text"], "Approve");
    assert_eq!(deny["action_id"], "deny");
    assert_eq!(deny["style"], "danger");
    for b in [approve, deny] {
        assert_eq!(b["value"], "SR-7K3M9Q2X");
        assert_eq!(
            b["confirm"]["text"]["type"], "plain_text",
            "never formatted, never pings"
        );
        let c = b["confirm"]["text"]["text"].as_str().unwrap();
        assert!(c.contains("1234567"), "{c}");
        assert!(c.contains("a@partner.example"), "{c}");
    }
    assert_eq!(deny["confirm"]["style"], "danger");
}

#[test]
fn the_block_id_changes_with_every_update() {
    let mut r = request();
    let id = |r: &ShareRequest, a: &[Approval]| {
        actions(&approval_card(&f(r, a)).1).unwrap()["block_id"].clone()
    };
    let first = id(&r, &[]);
    let one = [approval("alice", "U012ALICE", true, None)];
    assert_ne!(first, id(&r, &one));
    r.version = 2;
    assert_ne!(first, id(&r, &[]));
}

#[test]
fn approvals_so_far_and_remaining_are_shown() {
    let r = request();
    let card = approval_card(&f(&r, &[approval("alice", "U012ALICE", true, None)]));
    let text = all_text(&card);
    assert!(
        text.contains("*Approvals:* 1 of 2 approvals (alice); 1 more needed from bob"),
        "{text}"
    );
    assert!(!text.contains("U012ALICE"), "{text}");
}

#[test]
fn a_set_shows_the_diff_against_the_list_when_asked() {
    let mut r = request();
    r.action = Action::Set;
    r.shared_with_when_asked = vec!["a@partner.example".into(), "old@partner.example".into()];
    let text = all_text(&approval_card(&f(&r, &[])));
    assert!(text.contains("+ `b@partner.example`"), "{text}");
    assert!(text.contains("− `old@partner.example`"), "{text}");
    assert!(!text.contains("+ `a@partner.example`"), "{text}");
    assert!(text.contains("+1 added, −1 removed, 1 unchanged"), "{text}");
}

#[test]
fn an_unbounded_share_says_so_and_an_unshare_has_no_duration() {
    let mut r = request();
    r.duration = None;
    assert!(all_text(&approval_card(&f(&r, &[]))).contains("no end: until revoked"));
    r.action = Action::Unshare;
    let text = all_text(&approval_card(&f(&r, &[])));
    assert!(!text.contains("*Duration:*"), "{text}");
    assert!(text.contains("Remove access of"), "{text}");
}

#[test]
fn user_text_can_never_ping_or_forge_links() {
    let mut r = request();
    r.reason = Some("<!channel> see <https://evil.example|the doc> & more".into());
    r.image_name = "<!here>".into();
    r.targets = vec![LoginId::parse("x&y@partner.example").unwrap()];
    let mut denial = approval("alice", "U012ALICE", false, Some("<@U999> <!everyone>"));
    let cards = [approval_card(&f(&r, &[])), {
        r.state = RequestState::Denied;
        denial.comment = Some("<!subteam^S1> no".into());
        final_card(&f(&r, std::slice::from_ref(&denial)))
    }];
    for card in &cards {
        let text = all_text(card);
        for bad in [
            "<!channel>",
            "<!here>",
            "<https://evil",
            "<@U999>",
            "<!everyone>",
            "<!subteam",
        ] {
            assert!(!text.contains(bad), "{bad} leaked into\n{text}");
        }
    }
    assert!(all_text(&cards[0]).contains("&lt;!here&gt;"));
    assert!(all_text(&cards[0]).contains("x&amp;y@partner.example"));
    // The reason and the denial's comment are quoted, inert: no mention, no link.
    assert_eq!(
        quotes(&cards[0])[0].1,
        "‹!channel› see ‹https[:]//evil[.]example|the doc› & more"
    );
    assert_eq!(
        quotes(&cards[1]).last().unwrap(),
        &(
            denial_label(&person("alice")),
            "‹!subteam^S1› no".to_owned()
        )
    );
}

#[test]
fn non_slack_or_odd_identities_are_never_mentions() {
    let mut r = request();
    r.requester = Identity::new("jira", "5b10ac8d82e05b22cc7d4ef5").unwrap();
    let text = all_text(&approval_card(&f(&r, &[])));
    assert!(text.contains("*Requester:* carol\n"), "{text}");
    assert!(!text.contains("5b10ac8d82e05b22cc7d4ef5"), "{text}");
    // Only a requester the policy does not know is shown by account, escaped.
    r.requester_person = None;
    r.requester = Identity::new("slack", "U1>|x<!channel").unwrap();
    let text = all_text(&approval_card(&f(&r, &[])));
    assert!(!text.contains("<!channel"), "{text}");
}

#[test]
fn long_input_is_cut_within_the_limits_without_breaking_markup() {
    let mut r = request();
    r.reason = Some("&".repeat(5000));
    r.image_name = "n".repeat(400);
    r.targets = (0..50)
        .map(|i| LoginId::parse(&format!("{}{i}@partner.example", "x".repeat(230))).unwrap())
        .collect();
    r.rule = Some("r".repeat(3000));
    for card in [
        approval_card(&f(&r, &[])),
        progress_card(&f(&r, &[])),
        final_card(&f(&r, &[])),
    ] {
        assert_within_limits(&card.1);
        assert!(card.0.chars().count() <= MAX_FALLBACK_TEXT);
        let text = all_text(&card);
        assert!(
            text.contains("… and "),
            "the target list says how many more"
        );
        // No cut leaves a dangling entity.
        for t in text.split('…') {
            let tail = &t[t.rfind('&').unwrap_or(t.len())..];
            assert!(
                tail.is_empty() || tail.contains(';') || tail.starts_with("& "),
                "{tail}"
            );
        }
    }
}

#[test]
fn truncation_never_splits_an_entity_or_a_mention() {
    assert_eq!(truncate_mrkdwn("abc", 3), "abc");
    assert_eq!(truncate_mrkdwn("ab&amp;cd", 5), "ab…");
    assert_eq!(truncate_mrkdwn("hi <@U123ABC> there", 8), "hi …");
    assert_eq!(truncate_mrkdwn("hi <@U1> there", 10), "hi <@U1> …");
    assert_eq!(truncate_plain("ééééé", 3), "éé…");
    assert_eq!(truncate_plain("ééé", 3), "ééé");
}

#[test]
fn progress_card_has_no_buttons_and_names_the_approvers() {
    let mut r = request();
    r.state = RequestState::Approved;
    let approvals = [
        approval("alice", "U012ALICE", true, None),
        approval("bob", "U034BOB", true, None),
    ];
    let card = progress_card(&f(&r, &approvals));
    assert!(actions(&card.1).is_none());
    let text = all_text(&card);
    assert!(
        text.contains("*Approved*: 2 of 2 approvals (alice, bob), sharing now"),
        "{text}"
    );
    r.state = RequestState::Executing;
    assert!(all_text(&super::card(&f(&r, &approvals))).contains("changing NCP now"));
    r.min_approvals = 0;
    assert!(all_text(&progress_card(&f(&r, &[]))).contains("Approved automatically"));
}

#[test]
fn final_cards_state_every_end_without_buttons() {
    let base = request();
    let approvals = [
        approval("alice", "U012ALICE", true, None),
        approval("bob", "U034BOB", true, None),
    ];
    let cases: Vec<(RequestState, Outcome, Vec<Approval>, Vec<&str>)> = vec![
        (
            RequestState::Succeeded,
            Outcome {
                message: "image 1234567 shared with a@partner.example, b@partner.example".into(),
                shared_with_after: Some(vec![
                    "a@partner.example".into(),
                    "b@partner.example".into(),
                    "c@corp.example".into(),
                ]),
                ..Default::default()
            },
            approvals.to_vec(),
            vec![
                "Share request SR-7K3M9Q2X shared",
                "*Shared.*",
                "for 7d, until 2025-03-08 12:00 UTC",
                "*NCP now shares the image with:*",
                "`c@corp.example`",
                "Approved: 2 of 2 approvals (alice, bob).",
                "keep running after the share is revoked",
            ],
        ),
        (
            RequestState::Denied,
            Outcome {
                message: "denied by bob: not this partner".into(),
                ..Default::default()
            },
            vec![approval("bob", "U034BOB", false, Some("not this partner"))],
            vec!["*Denied* by bob. Nothing was shared"],
        ),
        (
            RequestState::Expired,
            Outcome {
                message: "expired".into(),
                ..Default::default()
            },
            approvals[..1].to_vec(),
            vec![
                "*Expired* at 2025-03-02 10:00 UTC: 1 of 2 approvals (alice); 1 more needed from bob",
            ],
        ),
        (
            RequestState::Cancelled,
            Outcome::default(),
            vec![],
            vec!["*Cancelled* by the requester"],
        ),
        (
            RequestState::Failed,
            Outcome {
                message: "NCP add failed: permission denied".into(),
                ncp_code: Some("1200001".into()),
                ..Default::default()
            },
            approvals.to_vec(),
            vec![
                "*Failed:* NCP add failed: permission denied",
                "NCP code `1200001`",
            ],
        ),
    ];
    for (state, outcome, approvals, expected) in cases {
        let mut r = base.clone();
        r.state = state;
        r.updated_at = at(12);
        r.outcome = Some(outcome);
        let card = final_card(&f(&r, &approvals));
        assert!(actions(&card.1).is_none(), "{state}: no buttons at the end");
        assert_within_limits(&card.1);
        let text = all_text(&card);
        for e in expected {
            assert!(text.contains(e), "{state}: missing {e:?} in\n{text}");
        }
        assert_eq!(super::card(&f(&r, &approvals)), card);
    }
}

#[test]
fn a_denial_without_a_recorded_approval_falls_back_to_the_outcome() {
    let mut r = request();
    r.state = RequestState::Denied;
    r.outcome = Some(Outcome {
        message: "denied by bob".into(),
        ..Default::default()
    });
    assert!(all_text(&final_card(&f(&r, &[]))).contains("*Denied*: denied by bob"));
}

#[test]
fn requester_replies_say_what_happens_next() {
    let r = request();
    let text = all_text(&submitted_reply(&f(&r, &[])));
    for e in [
        "SR-7K3M9Q2X",
        "Rule \"golden images to partners\" needs 2 approvals from alice, bob. The requester's own approval does not count.",
        "<#C0APPROVALS>",
    ] {
        assert!(text.contains(e), "missing {e:?} in\n{text}");
    }

    let mut auto = request();
    auto.state = RequestState::Approved;
    auto.min_approvals = 0;
    assert!(all_text(&submitted_reply(&f(&auto, &[]))).contains("approved automatically"));

    let mut refused = request();
    refused.state = RequestState::Denied;
    refused.rule = None;
    refused.outcome = Some(Outcome {
        message: "No rule lets carol share image 1234567 <!channel>.".into(),
        ..Default::default()
    });
    let text = all_text(&refused_reply(&f(&refused, &[])));
    assert!(
        text.contains("No rule lets carol share image 1234567 &lt;!channel&gt;."),
        "{text}"
    );
    assert_eq!(
        submitted_reply(&f(&refused, &[])),
        refused_reply(&f(&refused, &[]))
    );
}

#[test]
fn outcome_messages_cover_every_end() {
    let mut r = request();
    for (state, outcome, expected) in [
        (
            RequestState::Succeeded,
            Outcome {
                message: "image 1234567 shared with a@partner.example".into(),
                shared_with_after: Some(vec!["a@partner.example".into()]),
                ..Default::default()
            },
            "done: image 1234567 shared with a@partner.example",
        ),
        (
            RequestState::Failed,
            Outcome {
                message: "boom".into(),
                ncp_code: Some("900".into()),
                ..Default::default()
            },
            "failed: boom (NCP code `900`)",
        ),
        (
            RequestState::Denied,
            Outcome {
                message: "denied by bob: no".into(),
                ..Default::default()
            },
            "was denied by bob: no",
        ),
        (
            RequestState::Expired,
            Outcome::default(),
            "expired at 2025-03-02 10:00 UTC: 0 of 2 approvals",
        ),
        (RequestState::Cancelled, Outcome::default(), "was cancelled"),
    ] {
        r.state = state;
        r.outcome = Some(outcome);
        let text = all_text(&outcome_message(&f(&r, &[])));
        assert!(text.contains(expected), "{state}: {text}");
        assert!(
            !text.contains("<@"),
            "{state}: the requester's message pings nobody: {text}"
        );
    }
}

#[test]
fn blocks_read_as_text_for_the_demo_terminal() {
    let text = blocks_as_text(&approval_card(&f(&request(), &[])).1);
    assert!(
        text.starts_with("== Image share request SR-7K3M9Q2X =="),
        "{text}"
    );
    assert!(text.contains("[Approve] [Deny]"), "{text}");
}
