use super::super::render;
use super::*;
use crate::domain::{Hypervisor, Origin};
use crate::policy::PersonName;
use chrono::TimeZone;
use std::collections::HashSet;

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

include!("../../../tests/fixtures/sample_request.rs");

/// Text from people at its worst: markup, mentions, links, entities, emoji, control
/// characters, right-to-left and zero-width characters, line breaks.
const ODD: &str = "<!channel> & <@U0ADMIN> <https://evil.example|click> *bold* `code` &amp; \u{7}\u{1b}[31m 😀 👩‍👩‍👧 שלום \u{200b} \r\n> quote";

fn no(s: &str) -> ImageNo {
    ImageNo::parse(s).unwrap()
}

fn login(s: &str) -> LoginId {
    LoginId::parse(s).unwrap()
}

fn d(s: &str) -> Option<ShareDuration> {
    Some(ShareDuration::parse(s).unwrap())
}

fn request(id: &str, created: DateTime<Utc>) -> ShareRequest {
    sample_request(id, created, vec![login("a@partner.example")])
}

fn grant(target: &str, request: &str, ends: Option<DateTime<Utc>>) -> Grant {
    Grant {
        image_no: no("1234567"),
        target: login(target),
        request_id: RequestId::parse(request).unwrap(),
        starts_at: at(1),
        ends_at: ends,
        ended_at: None,
    }
}

fn form<'a>(durations: &'a [Option<ShareDuration>]) -> RequestForm<'a> {
    RequestForm {
        image: None,
        durations,
        reason_required: false,
        note: None,
        private_metadata: "C0ASK",
    }
}

fn block<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == id)
        .unwrap_or_else(|| panic!("no block {id} in {view:#}"))
}

fn chars(v: &Value) -> usize {
    v.as_str().expect("a string").chars().count()
}

/// Every mrkdwn text in a view (plain_text objects are shown as they are and never mention).
fn mrkdwn(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("text")
                && m.get("type").and_then(Value::as_str) == Some("mrkdwn")
            {
                out.push(t.clone());
            }
            m.values().for_each(|x| mrkdwn(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| mrkdwn(x, out)),
        _ => {}
    }
}

fn all_mrkdwn(v: &Value) -> String {
    let mut out = Vec::new();
    mrkdwn(v, &mut out);
    out.join("\n")
}

/// Slack's view and Block Kit limits, for every block we put in a view.
fn assert_view_within_limits(view: &Value) {
    let blocks = view["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_VIEW_BLOCKS, "{} blocks", blocks.len());
    if view["type"] == "modal" {
        assert!(chars(&view["title"]["text"]) <= MAX_VIEW_TITLE);
        assert!(chars(&view["close"]["text"]) <= MAX_VIEW_TITLE);
        if let Some(s) = view.get("submit") {
            assert!(chars(&s["text"]) <= MAX_VIEW_TITLE);
        }
        if let Some(m) = view.get("private_metadata") {
            assert!(chars(m) <= MAX_PRIVATE_METADATA);
        }
    }
    let mut ids = HashSet::new();
    for b in blocks {
        if let Some(id) = b.get("block_id") {
            assert!(chars(id) <= 255);
            assert!(ids.insert(id.as_str().unwrap()), "duplicate block_id {id}");
        }
        match b["type"].as_str().unwrap() {
            "header" => assert!(chars(&b["text"]["text"]) <= render::MAX_HEADER_TEXT),
            "section" => {
                assert!(chars(&b["text"]["text"]) <= render::MAX_SECTION_TEXT);
                let fields = b["fields"].as_array().into_iter().flatten();
                for f in fields {
                    assert!(chars(&f["text"]) <= 2000);
                }
            }
            "context" => {
                for e in b["elements"].as_array().unwrap() {
                    assert!(chars(&e["text"]) <= render::MAX_CONTEXT_TEXT)
                }
            }
            "divider" => {}
            "input" => {
                assert!(chars(&b["label"]["text"]) <= MAX_LABEL);
                let e = &b["element"];
                for o in e["options"].as_array().into_iter().flatten() {
                    assert!(chars(&o["text"]["text"]) <= MAX_OPTION_TEXT);
                    assert!(chars(&o["value"]) <= 150);
                }
            }
            "actions" => {
                for e in b["elements"].as_array().unwrap() {
                    assert!(chars(&e["text"]["text"]) <= render::MAX_BUTTON_TEXT);
                    assert!(chars(&e["value"]) <= 2000);
                    if let Some(c) = e.get("confirm") {
                        assert!(chars(&c["title"]["text"]) <= render::MAX_CONFIRM_TITLE);
                        assert!(chars(&c["text"]["text"]) <= render::MAX_CONFIRM_TEXT);
                    }
                }
            }
            other => panic!("unexpected block type {other}"),
        }
    }
}

#[test]
fn the_request_form_has_the_four_fields_under_their_ids() {
    let durations = [d("1d"), d("7d"), None];
    let view = request_modal(&form(&durations));
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], REQUEST_CALLBACK);
    assert_eq!(view["title"]["text"], "Share an image");
    assert_eq!(view["submit"]["text"], "Ask");
    assert_eq!(view["close"]["text"], "Cancel");
    assert_eq!(view["private_metadata"], "C0ASK");
    let ids: Vec<&str> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["block_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [IMAGE, TARGETS, DURATION, REASON]);
    for id in ids {
        assert_eq!(block(&view, id)["element"]["action_id"], id);
    }

    let image = block(&view, IMAGE);
    assert_eq!(image["dispatch_action"], true);
    assert_eq!(image["element"]["type"], "external_select");
    assert_eq!(image["element"]["min_query_length"], 0);
    assert!(image["element"].get("initial_option").is_none());

    let targets = block(&view, TARGETS);
    assert_eq!(targets["element"]["type"], "plain_text_input");
    assert_eq!(
        targets["hint"]["text"],
        "NCP login IDs, separated by commas or spaces (at most 50)"
    );

    let duration = &block(&view, DURATION)["element"];
    assert_eq!(duration["type"], "static_select");
    let values: Vec<&str> = duration["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["1d", "7d", NO_END]);
    let texts: Vec<&str> = duration["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["1 day", "7 days", "No end (until revoked)"]);
    assert_eq!(duration["initial_option"], duration["options"][0]);

    let reason = block(&view, REASON);
    assert_eq!(reason["optional"], true);
    assert_eq!(reason["element"]["multiline"], true);
    assert_eq!(reason["element"]["max_length"], MAX_REASON_CHARS);
    assert_view_within_limits(&view);
}

#[test]
fn the_request_form_preselects_a_picked_image_and_requires_a_reason_when_asked() {
    let durations = [None];
    let image = no("1234567");
    let view = request_modal(&RequestForm {
        image: Some((&image, "golden-web")),
        durations: &durations,
        reason_required: true,
        note: Some("The image list is still loading: type the image number."),
        private_metadata: "",
    });
    let picker = &block(&view, IMAGE)["element"];
    assert_eq!(
        picker["initial_option"],
        json!({"text": {"type": "plain_text", "text": "golden-web (1234567)"}, "value": "1234567"})
    );
    // The same option the options answer gives, so Slack shows it as chosen.
    assert_eq!(
        picker["initial_option"],
        image_options([(&image, "golden-web")])["options"][0]
    );
    assert_eq!(block(&view, REASON)["optional"], false);
    assert_eq!(view["blocks"][0]["type"], "context");
    assert_eq!(
        view["blocks"][0]["elements"][0]["text"],
        "The image list is still loading: type the image number."
    );
    assert!(view.get("private_metadata").is_none(), "{view:#}");
    let only = &block(&view, DURATION)["element"];
    assert_eq!(only["options"].as_array().unwrap().len(), 1);
    assert_eq!(only["initial_option"]["value"], NO_END);
    assert_view_within_limits(&view);
}

#[test]
fn odd_notes_are_escaped_and_durations_deduplicated_capped_or_left_out() {
    let durations = [d("1d"), d("24h"), d("7d"), None, None];
    let view = request_modal(&RequestForm {
        note: Some(ODD),
        ..form(&durations)
    });
    let note = view["blocks"][0]["elements"][0]["text"].as_str().unwrap();
    assert!(
        !note.contains("<!channel>") && !note.contains("<https://"),
        "{note}"
    );
    assert!(note.contains("&lt;!channel&gt;"));
    let values: Vec<&str> = block(&view, DURATION)["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["1d", "7d", NO_END],
        "1d and 24h are the same choice"
    );

    let many: Vec<Option<ShareDuration>> = (1..=150)
        .map(|h| Some(ShareDuration::from_secs(h * 3600).unwrap()))
        .collect();
    let view = request_modal(&form(&many));
    let options = block(&view, DURATION)["element"]["options"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(options, MAX_OPTIONS);
    assert_view_within_limits(&view);

    // No choice at all: Slack refuses a select without options, so the field is left out.
    let view = request_modal(&form(&[]));
    assert!(
        view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["block_id"] != DURATION)
    );
}

#[test]
fn duration_values_read_back_to_the_choices() {
    for choice in [d("30m"), d("36h"), d("7d"), d("90s"), None] {
        let option = duration_option(choice);
        assert_eq!(
            parse_duration_value(option["value"].as_str().unwrap()),
            Ok(choice)
        );
    }
    assert_eq!(parse_duration_value("none"), Ok(None));
    assert_eq!(parse_duration_value("2w"), Ok(d("14d")));
    assert!(
        parse_duration_value("forever")
            .unwrap_err()
            .contains("not a duration")
    );
    assert!(parse_duration_value("").is_err());
    assert!(parse_duration_value("0d").is_err());
    assert_eq!(
        duration_words(ShareDuration::parse("1h").unwrap()),
        "1 hour"
    );
    assert_eq!(
        duration_words(ShareDuration::parse("90m").unwrap()),
        "90 minutes"
    );
}

#[test]
fn share_refs_round_trip_even_when_a_login_id_has_a_pipe() {
    for target in ["a@partner.example", "a|b|c@partner.example", "ü@例え.jp"] {
        let g = grant(target, "SR-7K3M9Q2X", Some(at(20)));
        let r = share_ref(&g);
        assert_eq!(
            parse_share_ref(&r),
            Some((g.image_no.clone(), g.target.clone(), g.request_id.clone())),
            "{r}"
        );
    }
    assert_eq!(
        share_ref(&grant("a@partner.example", "SR-7K3M9Q2X", None)),
        "1234567|a@partner.example|SR-7K3M9Q2X"
    );
    for bad in [
        "",
        "1234567",
        "1234567|a@partner.example",
        "12ab|a@partner.example|SR-7K3M9Q2X",
        "1234567||SR-7K3M9Q2X",
        "1234567|a@partner.example|SR-BAD",
        "1234567| a@partner.example|SR-7K3M9Q2X",
    ] {
        assert_eq!(parse_share_ref(bad), None, "{bad:?}");
    }
}

#[test]
fn the_extend_form_says_what_is_shared_until_when_and_carries_the_share() {
    let g = grant("a&b*_~|@partner.example", "SR-7K3M9Q2X", Some(at(20)));
    let durations = [d("7d"), d("30d")];
    let view = extend_modal(&ExtendForm {
        grant: &g,
        image_name: Some(ODD),
        durations: &durations,
        reason_required: true,
    });
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], EXTEND_CALLBACK);
    assert_eq!(view["title"]["text"], "Extend a share");
    assert_eq!(view["submit"]["text"], "Ask");
    assert_eq!(view["private_metadata"], share_ref(&g));
    let text = view["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(text.contains("`a&amp;b*_~|@partner.example`"), "{text}");
    assert!(text.contains("until 2025-03-01 20:00 UTC"), "{text}");
    assert!(text.contains("SR-7K3M9Q2X"), "{text}");
    assert!(!all_mrkdwn(&view).contains("<!channel>"));
    assert_eq!(
        block(&view, DURATION)["element"]["initial_option"]["value"],
        "7d"
    );
    assert_eq!(block(&view, REASON)["optional"], false);
    assert_view_within_limits(&view);

    let view = extend_modal(&ExtendForm {
        grant: &grant("a@partner.example", "SR-7K3M9Q2X", None),
        image_name: None,
        durations: &durations,
        reason_required: false,
    });
    let text = view["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Image 1234567 is shared with `a@partner.example` with no end"),
        "{text}"
    );
}

fn home_request(
    id: &str,
    created: DateTime<Utc>,
    state: RequestState,
    approvals: usize,
) -> HomeRequest {
    let mut r = request(id, created);
    r.state = state;
    // The first `approvals` of the request's approvers approved.
    let approvals = r.approvers[..approvals]
        .iter()
        .map(|p| Approval {
            request_id: r.id.clone(),
            person: p.clone(),
            identity: Identity::new("slack", &format!("U0{}", p.as_str().to_uppercase())).unwrap(),
            approve: true,
            at: created,
            comment: None,
        })
        .collect();
    HomeRequest {
        request: r,
        approvals,
        image_name: None,
    }
}

/// The plain-text fields of the home's sections (the requesters' reasons, quoted).
fn fields(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["fields"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            assert_eq!(f["type"], "plain_text", "never mrkdwn: {f}");
            f["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn share(target: &str, request: &str, ends: Option<DateTime<Utc>>, yours: bool) -> HomeShare {
    HomeShare {
        grant: grant(target, request, ends),
        image_name: Some("golden-web".into()),
        requester: Identity::new("slack", "U056CAROL").unwrap(),
        requester_name: Some(PersonName("carol".into())),
        yours,
    }
}

fn home_of(waiting: &[HomeRequest], mine: &[HomeRequest], active: &[HomeShare]) -> Value {
    home(&HomeView {
        waiting,
        mine,
        active,
        command: "/share-image",
        now: at(12),
    })
}

fn buttons(view: &Value) -> Vec<(String, String)> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["action_id"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn an_empty_home_says_so_in_each_section_with_a_hint() {
    let view = home_of(&[], &[], &[]);
    assert_eq!(view["type"], "home");
    let headers: Vec<&str> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "header")
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        [
            "Waiting for your approval",
            "Your requests",
            "Active shares"
        ]
    );
    let text = all_mrkdwn(&view);
    assert!(
        text.contains("Nothing is waiting for your approval."),
        "{text}"
    );
    assert!(
        text.contains(
            "You have no requests yet. Ask with `/share-image` or the *Share an image* shortcut."
        ),
        "{text}"
    );
    assert!(text.contains("No active shares"), "{text}");
    assert!(buttons(&view).is_empty());
    assert_view_within_limits(&view);
}

#[test]
fn a_full_home_shows_what_waits_what_was_asked_and_what_is_shared() {
    let mut waiting = home_request("SR-AAAAAAAA", at(9), RequestState::Pending, 1);
    waiting.request.requester = Identity::new("slack", "U0DAVE").unwrap();
    waiting.request.requester_person = Some(serde_json::from_value(json!("dave")).unwrap());
    let mine = [
        home_request("SR-BBBBBBBB", at(8), RequestState::Succeeded, 2),
        home_request("SR-CCCCCCCC", at(10), RequestState::Pending, 1),
        home_request("SR-DDDDDDDD", at(9), RequestState::Denied, 0),
    ];
    let active = [
        share("a@partner.example", "SR-BBBBBBBB", None, true),
        share("b@partner.example", "SR-EEEEEEEE", Some(at(20)), false),
    ];
    let view = home_of(std::slice::from_ref(&waiting), &mine, &active);
    let text = all_mrkdwn(&view);
    for expected in [
        "*SR-AAAAAAAA* · dave asks to share image 1234567 \"golden-web\" with a@partner.example for 7d",
        "*Approvals:* 1 of 2 approvals (alice); 1 more needed from bob, carol · expires 2025-03-02 09:00 UTC (in 21 hours)",
        "*SR-CCCCCCCC* · :hourglass_flowing_sand: *pending*, 1 of 2 approvals (alice); 1 more needed from bob · asked 2025-03-01 10:00 UTC",
        "*SR-BBBBBBBB* · :white_check_mark: *shared* until 2025-03-08 08:00 UTC",
        "*SR-DDDDDDDD* · :no_entry: *denied*",
        "Image 1234567 \"golden-web\" shared with `b@partner.example`\nuntil 2025-03-01 20:00 UTC (in 8 hours) · request *SR-EEEEEEEE* · you approved, carol asked",
        "shared with `a@partner.example`\nno end: until revoked · request *SR-BBBBBBBB* · you asked",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert_eq!(
        fields(&view),
        ["Reason, in the requester's words: “partner onboarding”"]
    );
    assert!(!text.contains("U0DAVE") && !text.contains("<@"), "{text}");
    // Newest first.
    let c = text.find("SR-CCCCCCCC").unwrap();
    let d = text.find("SR-DDDDDDDD").unwrap();
    let b = text.find("*SR-BBBBBBBB* ·").unwrap();
    assert!(c < d && d < b, "{text}");
    // Ending soonest first, no end last.
    assert!(text.find("`b@partner.example`").unwrap() < text.find("`a@partner.example`").unwrap());

    assert_eq!(
        buttons(&view),
        [
            (HOME_APPROVE.to_owned(), "SR-AAAAAAAA".to_owned()),
            (HOME_DENY.to_owned(), "SR-AAAAAAAA".to_owned()),
            (
                HOME_REVOKE.to_owned(),
                "1234567|b@partner.example|SR-EEEEEEEE".to_owned()
            ),
            (
                HOME_EXTEND.to_owned(),
                "1234567|b@partner.example|SR-EEEEEEEE".to_owned()
            ),
            // No Extend for a share with no end.
            (
                HOME_REVOKE.to_owned(),
                "1234567|a@partner.example|SR-BBBBBBBB".to_owned()
            ),
        ]
    );
    let actions: Vec<&Value> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .collect();
    let approve = &actions[0]["elements"][0];
    let deny = &actions[0]["elements"][1];
    assert_eq!(approve["style"], "primary");
    assert_eq!(deny["style"], "danger");
    assert!(
        deny["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("The requester is told")
    );
    assert!(
        approve["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Fingerprint")
    );
    let revoke = &actions[1]["elements"][0];
    assert_eq!(revoke["style"], "danger");
    assert!(
        revoke["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("b@partner.example")
    );
    assert!(actions[1]["elements"][1].get("confirm").is_none());
    assert_view_within_limits(&view);
}

#[test]
fn every_request_state_reads_as_words() {
    let states = [
        (RequestState::Pending, "*pending*, 0 of 2 approvals"),
        (RequestState::Approved, "*approved*, changing NCP now"),
        (RequestState::Executing, "*approved*, changing NCP now"),
        (RequestState::Succeeded, "*shared* until"),
        (RequestState::Failed, "*failed*"),
        (RequestState::Denied, "*denied*"),
        (RequestState::Expired, "*expired*"),
        (RequestState::Cancelled, "*cancelled*"),
    ];
    for (state, words) in states {
        let h = home_request("SR-AAAAAAAA", at(9), state, 0);
        assert!(
            state_words(&h).contains(words),
            "{state:?}: {}",
            state_words(&h)
        );
    }
    let mut h = home_request("SR-AAAAAAAA", at(9), RequestState::Succeeded, 0);
    h.request.action = Action::Unshare;
    assert!(state_words(&h).contains("*unshared*"));
    h.request.action = Action::Set;
    assert!(state_words(&h).contains("*share list set*"));
    h.request.action = Action::Share;
    h.request.duration = None;
    assert!(state_words(&h).contains("*shared*, no end"));
}

#[test]
fn a_home_over_the_cap_stays_within_100_blocks_and_counts_the_rest() {
    let waiting: Vec<HomeRequest> = (0..200)
        .map(|i| {
            let mut h = home_request(
                "SR-AAAAAAAA",
                at(1) + chrono::Duration::minutes(i),
                RequestState::Pending,
                0,
            );
            h.request.id = RequestId::parse(&format!("SR-{:0>8}", i)).unwrap();
            h
        })
        .collect();
    let mine = waiting.clone();
    let active: Vec<HomeShare> = (0..200)
        .map(|i| {
            share(
                &format!("u{i}@partner.example"),
                "SR-AAAAAAAA",
                Some(at(20)),
                i % 2 == 0,
            )
        })
        .collect();
    let view = home(&HomeView {
        waiting: &waiting,
        mine: &mine,
        active: &active,
        command: "/share-image-staging",
        now: at(12),
    });
    assert_view_within_limits(&view);
    let text = all_mrkdwn(&view);
    assert_eq!(
        text.matches("… and 185 more: `/share-image-staging status &lt;id&gt;` shows any of them.")
            .count(),
        3,
        "{text}"
    );
    // The ones that expire first wait on top; the newest of mine come first.
    assert!(text.contains("*SR-00000000* · carol"));
    assert!(!text.contains("*SR-00000020* · carol"));
    assert!(text.contains("*SR-00000199* · :hourglass"));
}

#[test]
fn odd_and_long_text_is_escaped_and_cut_in_the_home() {
    let mut w = home_request("SR-AAAAAAAA", at(9), RequestState::Pending, 0);
    w.request.reason = Some(format!("{ODD}{}", "why & <because> ".repeat(400)));
    w.request.image_name = ODD.into();
    w.request.targets = (0..50)
        .map(|i| login(&format!("{}{i}@partner.example", "x&_*~|ü".repeat(30))))
        .collect();
    w.request.requester = Identity::new("servicenow", "sn-<carol>&").unwrap();
    w.request.requester_person = None;
    let mut m = w.clone();
    m.image_name = Some(ODD.repeat(20));
    m.request.image_name = String::new();
    let mut s = share(
        "a&b*_~|@partner.example",
        "SR-AAAAAAAA",
        Some(at(20)),
        false,
    );
    s.image_name = Some(ODD.repeat(20));
    s.requester = Identity::new("servicenow", "<!here>").unwrap();
    let view = home(&HomeView {
        waiting: &[w],
        mine: &[m],
        active: &[s],
        command: "/share<!channel>",
        now: at(12),
    });
    assert_view_within_limits(&view);
    let text = all_mrkdwn(&view);
    for raw in [
        "<!channel>",
        "<!here>",
        "<https://",
        "<@U0ADMIN>",
        "<carol>",
        "<because>",
    ] {
        assert!(!text.contains(raw), "{raw} left unescaped in\n{text}");
    }
    assert!(text.contains("&lt;!channel&gt;"));
    // The reason is plain text, one line, inert.
    let reason = &fields(&view)[0];
    assert!(reason.starts_with("Reason, in the requester's words: “‹!channel› & ‹＠U0ADMIN› ‹https[:]//evil[.]example|click›"), "{reason}");
    assert!(
        !reason.contains('\n') && !reason.contains('\u{200b}'),
        "{reason}"
    );
}

#[test]
fn image_options_are_capped_and_cut_keeping_the_number_visible() {
    assert_eq!(image_options([]), json!({ "options": [] }));
    let one = no("1234567");
    assert_eq!(
        image_options([(&one, "golden-web")]),
        json!({"options": [{"text": {"type": "plain_text", "text": "golden-web (1234567)"}, "value": "1234567"}]})
    );
    assert_eq!(
        image_options([(&one, "  ")])["options"][0]["text"]["text"],
        "1234567"
    );

    let nos: Vec<ImageNo> = (0..150)
        .map(|i| no(&format!("{}", 1_000_000 + i)))
        .collect();
    let long = "😀 golden <web> & ".repeat(20);
    let answer = image_options(nos.iter().map(|n| (n, long.as_str())));
    let options = answer["options"].as_array().unwrap();
    assert_eq!(options.len(), MAX_OPTIONS);
    for (o, n) in options.iter().zip(&nos) {
        let text = o["text"]["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), MAX_OPTION_TEXT, "{text}");
        assert!(text.ends_with(&format!("… ({n})")), "{text}");
        // Plain text: shown as it is, nothing to escape.
        assert!(text.starts_with("😀 golden <web> & "));
        assert_eq!(o["value"], n.as_str());
    }

    let longest = no("1234567890123456789");
    let text = image_options([(&longest, ODD)])["options"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.chars().count() <= MAX_OPTION_TEXT);
    assert!(text.ends_with("(1234567890123456789)"));
    assert!(!text.chars().any(char::is_control), "{text:?}");

    // One image twice: the first name wins.
    let twice = image_options([(&one, "first"), (&one, "second")]);
    assert_eq!(twice["options"].as_array().unwrap().len(), 1);
    assert_eq!(twice["options"][0]["text"]["text"], "first (1234567)");
}

#[test]
fn field_errors_name_the_blocks_and_are_cut_to_a_safe_length() {
    let answer = field_errors(&[
        (TARGETS, "login ID `x` is not an e-mail address".into()),
        (DURATION, "the rule allows at most 7d".into()),
        (TARGETS, "too many login IDs (at most 50)".into()),
        (REASON, "  ".into()),
        (IMAGE, format!("{ODD}{}", "no & <way> ".repeat(100))),
    ]);
    assert_eq!(answer["response_action"], "errors");
    let errors = answer["errors"].as_object().unwrap();
    assert_eq!(errors.len(), 4);
    assert_eq!(
        errors[TARGETS],
        "login ID `x` is not an e-mail address; too many login IDs (at most 50)"
    );
    assert_eq!(errors[DURATION], "the rule allows at most 7d");
    assert_eq!(errors[REASON], "This field is not valid.");
    let image = errors[IMAGE].as_str().unwrap();
    assert_eq!(image.chars().count(), MAX_FIELD_ERROR);
    assert!(image.ends_with('…'));
    assert!(!image.contains('\n') && !image.contains('\u{7}'));
}

#[test]
fn a_confirmation_replaces_the_form_with_the_message_and_a_done_button() {
    let r = request("SR-7K3M9Q2X", at(10));
    let message = render::submitted_reply(&NoticeFacts::of_state(&r, &[]));
    let answer = confirmation("Request sent", message.clone());
    assert_eq!(answer["response_action"], "update");
    let view = &answer["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(view["title"]["text"], "Request sent");
    assert_eq!(view["close"]["text"], "Done");
    assert!(view.get("submit").is_none());
    assert_eq!(view["blocks"], message.1);
    assert_view_within_limits(view);

    let answer = confirmation(
        "A title far longer than Slack allows",
        ("Request *SR-7K3M9Q2X* sent.".into(), Value::Null),
    );
    let view = &answer["view"];
    assert_eq!(chars(&view["title"]["text"]), MAX_VIEW_TITLE);
    assert_eq!(
        view["blocks"][0]["text"]["text"],
        "Request *SR-7K3M9Q2X* sent."
    );
    assert_view_within_limits(view);
}

#[test]
fn every_form_stays_within_slacks_limits_with_odd_input() {
    let image = no("1234567890123456789");
    let name = ODD.repeat(10);
    let durations: Vec<Option<ShareDuration>> = std::iter::once(None)
        .chain((1..200).map(|m| Some(ShareDuration::from_secs(m * 60).unwrap())))
        .collect();
    let note = ODD.repeat(200);
    let view = request_modal(&RequestForm {
        image: Some((&image, &name)),
        durations: &durations,
        reason_required: true,
        note: Some(&note),
        private_metadata: &"m".repeat(MAX_PRIVATE_METADATA),
    });
    assert_view_within_limits(&view);
}
