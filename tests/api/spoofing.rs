//! Words people type can never pose as the service's: a battery of reasons, issue summaries and
//! denial comments with line breaks, mrkdwn, ADF-like JSON, mentions, links, right-to-left
//! overrides, zero-width and control characters, on every front door. Each must show only as
//! someone's quoted words (Slack: a rich text quote, or a plain-text field in the App Home;
//! Jira: an ADF blockquote; NAVER WORKS: quotation marks after a label; `requests show`: a
//! labelled quoted line; the callback: the denial's `reason`, inert), one line, inert; and the
//! payloads stay valid for Slack's SDK, Atlassian's ADF schema and NAVER WORKS' limits.
//!
//! Every line of every payload carries [`MARK`], so any line of it that escaped its quote is
//! found wherever it lands.

use crate::harness::fixtures::*;
use crate::harness::spawn_app;
use crate::notice_facts::{DOORS, Door, NOTICES, Scenario, all, build};
use crate::payloads::{check_jira, check_jira_calls, check_slack, check_slack_calls};
use ncp_share_approver::cli::requests::show_text;
use ncp_share_approver::domain::notice::MAX_QUOTED_CHARS;
use ncp_share_approver::domain::{NoticeFacts, RequestState, inert};
use ncp_share_approver::notify::Notice;
use ncp_share_approver::notify::jira::render as jira_render;
use ncp_share_approver::notify::slack::{render, views};
use ncp_share_approver::notify::works::render as works_render;
use ncp_share_approver::workflow::outbox::{Message, WorksTo, plan_with};
use serde_json::{Value, json};

/// The app policy's people with every front door's accounts, and the partner rule's card in
/// Slack and in the NAVER WORKS room.
pub(crate) const ALL_DOORS_POLICY: &str = r#"
[defaults]
request_ttl = "24h"

[people]
alice = { slack = "U012ALICE", jira = "acc-alice", servicenow = "sn-alice", works = "w-alice-0001" }
bob   = { slack = "U034BOB", jira = "acc-bob", servicenow = "sn-bob", works = "w-bob-0002" }
dave  = { slack = "U078DAVE", servicenow = "sn-dave", works = "w-dave-0003" }
carol = { slack = "U056CAROL", jira = "acc-carol", servicenow = "sn-carol", works = "w-carol-0004" }

[groups]
platform-admins = ["alice", "bob", "dave"]
engineers = ["carol"]

[[rules]]
name = "golden images to partners"
images = ["name:golden-*"]
targets = ["*@partner.example"]
requesters = ["group:engineers", "group:platform-admins"]
approvers = ["group:platform-admins"]
min_approvals = 2
max_duration = "30d"
approval_channel = "C0APPROVALS"
works_channel = "room-approvers"
"#;

/// In every line of every payload: whatever shows it, shows it where this test can find it.
const MARK: &str = "ZQX";

/// Text that tries to pose as the service, or to make a receiver act.
fn payloads() -> Vec<(&'static str, String)> {
    let long: String = format!("{MARK} ")
        .chars()
        .chain("한국어 *b* <!here>\n".chars().cycle().take(6000))
        .collect::<String>()
        .replace('\n', &format!(" {MARK}\n"));
    vec![
        (
            "forged line",
            format!("pilot {MARK}\n*Approved by alice* :white_check_mark: {MARK}"),
        ),
        (
            "forged paragraphs",
            format!(
                "ok {MARK}\r\n\r\n:white_check_mark: *Shared.* Request SR-7K3M9Q2X done {MARK}\n\n> Approvals: 2 of 2 {MARK}"
            ),
        ),
        (
            "mrkdwn",
            format!("*bold* _it_ ~strike~ `code` ```block``` > quote &amp; &lt; {MARK}"),
        ),
        (
            "adf json",
            format!(
                r#"{{"type":"doc","version":1,"content":[{{"type":"paragraph","content":[{{"type":"text","text":"Approved by alice {MARK}","marks":[{{"type":"strong"}}]}},{{"type":"mention","attrs":{{"id":"5b10ac8d82e05b22cc7d4ef5"}}}}]}}]}}"#
            ),
        ),
        (
            "mentions",
            format!(
                "<!channel> <!here> <!everyone> <@U012ALICE> <#C0APPROVALS> <!subteam^S0123> [~accountid:5b10ac8d82e05b22cc7d4ef5] @channel @alice {MARK}"
            ),
        ),
        (
            "links",
            format!(
                "<https://evil.example/approve|Approve here> https://evil.example/x www.evil.example mailto:x@evil.example [click](https://evil.example) {MARK}"
            ),
        ),
        (
            "bidi",
            format!(
                "invoice\u{202E}gnp.exe \u{2066}Approved\u{2069} \u{200F}rtl\u{200E} שלום {MARK}"
            ),
        ),
        (
            "zero width",
            format!("Appro\u{200B}ved by ali\u{200D}ce\u{FEFF} \u{2060}x\u{E0041} {MARK}"),
        ),
        (
            "control",
            format!("\u{1b}[31mred\u{1b}[0m \u{7}bell\u{0}nul\ttab\u{8}back {MARK}"),
        ),
        (
            "unicode line breaks",
            format!(
                "a {MARK}\u{2028}b {MARK}\u{2029}c {MARK}\u{85}d {MARK}\u{0B}e {MARK}\u{0C}f {MARK}"
            ),
        ),
        ("long", long),
    ]
}

/// What inert words look like, whichever front door shows them.
fn assert_inert(words: &str, context: &str) {
    assert!(
        !words.contains(['\n', '\r', '<', '>']),
        "not one line or not inert: {words:?} in {context}"
    );
    assert!(
        !words.chars().any(|c| c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{2060}' | '\u{E0000}'..='\u{E007F}')),
        "a control, bidi or invisible character: {words:?} in {context}"
    );
    assert!(
        !words.contains("://"),
        "a live link: {words:?} in {context}"
    );
    assert!(
        !words.contains("[~accountid"),
        "a Jira mention: {words:?} in {context}"
    );
    for m in ["@channel", "@here", "@alice"] {
        assert!(!words.contains(m), "a mention {m}: {words:?} in {context}");
    }
    assert!(
        words.chars().count() <= MAX_QUOTED_CHARS,
        "too long: {context}"
    );
}

/// Every string Slack shows of a body, with whether it is inside a quote: a rich text quote,
/// or a plain-text field of a section (how the App Home shows a reason).
fn slack_texts(v: &Value, quoted: bool, out: &mut Vec<(bool, String)>) {
    match v {
        Value::Object(o) => {
            let quoted = quoted || o.get("type").and_then(Value::as_str) == Some("rich_text_quote");
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("text", Value::String(s)) => out.push((quoted, s.clone())),
                    ("fields", Value::Array(fields)) => {
                        for f in fields {
                            assert_eq!(f["type"], "plain_text", "a field is never mrkdwn");
                            slack_texts(f, true, out);
                        }
                    }
                    _ => slack_texts(x, quoted, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| slack_texts(x, quoted, out)),
        _ => {}
    }
}

/// Every text node of an ADF document, with whether it is inside a blockquote.
fn adf_texts(v: &Value, quoted: bool, out: &mut Vec<(bool, String)>) {
    match v {
        Value::Object(o) => {
            let quoted = quoted || o.get("type").and_then(Value::as_str) == Some("blockquote");
            if let Some(Value::String(s)) = o.get("text") {
                out.push((quoted, s.clone()));
            }
            if let Some(c) = o.get("content") {
                adf_texts(c, quoted, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| adf_texts(x, quoted, out)),
        _ => {}
    }
}

/// The marked words are shown, and only inside quotes, inert.
fn assert_only_quoted(texts: &[(bool, String)], context: &str) {
    let mut shown = false;
    for (quoted, text) in texts {
        if text.contains(MARK) {
            assert!(
                quoted,
                "people's words outside a quote: {text:?} in {context}"
            );
            let words = text
                .split_once('“')
                .map(|(_, w)| w.trim_end_matches('”'))
                .unwrap_or(text);
            assert_inert(words, context);
            shown = true;
        }
    }
    assert!(shown, "the words are not shown at all: {context}");
}

/// NAVER WORKS text: every line with the words is a label, then the words in quotation marks.
fn assert_works_quoted(text: &str, context: &str) {
    let mut shown = false;
    for line in text.lines().filter(|l| l.contains(MARK)) {
        let (label, rest) = line
            .split_once(" “")
            .unwrap_or_else(|| panic!("unquoted words {line:?} in {context}"));
        assert!(
            label == works_render::REASON_LABEL
                || label.ends_with("reason for the denial, in their words:"),
            "unlabelled words {line:?} in {context}"
        );
        let words = rest
            .strip_suffix('”')
            .or_else(|| rest.strip_suffix('…'))
            .unwrap_or_else(|| panic!("the quote does not end the line: {line:?} in {context}"));
        assert!(
            !words.contains('”'),
            "the quote closes early: {line:?} in {context}"
        );
        assert_inert(words, context);
        shown = true;
    }
    let _ = shown;
}

#[test]
fn people_s_words_show_only_quoted_and_inert_on_every_front_door() {
    let mut slack_bodies = Vec::new();
    let mut jira_bodies = Vec::new();
    let mut checked = 0;
    for (payload_name, payload) in payloads() {
        for notice in NOTICES {
            for door in DOORS {
                let s = Scenario {
                    notice,
                    allow_self: false,
                    needed: 2,
                };
                let Some((mut r, mut approvals, mut n, _)) = build(&s, door) else {
                    continue;
                };
                r.reason = Some(payload.clone());
                // The denying approver's comment is someone's words too.
                for a in approvals.iter_mut().filter(|a| !a.approve) {
                    a.comment = Some(payload.clone());
                }
                if let Notice::Denied(a) = &mut n {
                    a.comment = Some(payload.clone());
                }
                let context = format!("{payload_name} / {notice} / {door:?}");
                let facts = NoticeFacts::new(&r, &approvals, &n);
                for m in plan_with(&all(), &r, &approvals, &n, chrono::Utc::now()) {
                    match (door, m) {
                        (
                            Door::Slack,
                            Message::SlackCard {
                                request, denial, ..
                            },
                        ) => {
                            let mut with = approvals.clone();
                            with.extend(denial.filter(|d| !approvals.contains(d)));
                            let (text, blocks) =
                                render::card(&NoticeFacts::of_state(&request, &with));
                            assert!(!text.contains(MARK), "fallback text: {context}");
                            let body =
                                json!({"channel": "C0APPROVALS", "text": text, "blocks": blocks});
                            let mut texts = Vec::new();
                            slack_texts(&body, false, &mut texts);
                            assert_only_quoted(&texts, &format!("{context} card"));
                            slack_bodies
                                .push((format!("spoof-card-{payload_name}-{notice}"), body));
                        }
                        (Door::Slack, Message::SlackNotice { notice: told, .. }) => {
                            let (text, blocks) = match told {
                                Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => {
                                    render::lifecycle_message(&facts)
                                }
                                _ => render::outcome_message(&facts),
                            };
                            assert!(!text.contains(MARK), "fallback text: {context}");
                            let body =
                                json!({"channel": "U056CAROL", "text": text, "blocks": blocks});
                            let mut texts = Vec::new();
                            slack_texts(&body, false, &mut texts);
                            // A message quotes only a denial's comment; the reason is the card's.
                            if texts.iter().any(|(_, t)| t.contains(MARK)) {
                                assert_only_quoted(&texts, &format!("{context} message"));
                            }
                            slack_bodies
                                .push((format!("spoof-message-{payload_name}-{notice}"), body));
                        }
                        (Door::Jira, Message::JiraNotice { .. }) => {
                            if let Some(blocks) = jira_render::notice_comment(&facts, "Approved") {
                                let body = json!({"body": jira_render::adf_blocks(&blocks)});
                                let mut texts = Vec::new();
                                adf_texts(&body["body"], false, &mut texts);
                                if notice == "submitted" || notice == "denied" {
                                    assert_only_quoted(&texts, &format!("{context} comment"));
                                } else {
                                    assert!(
                                        !texts.iter().any(|(_, t)| t.contains(MARK)),
                                        "{context}"
                                    );
                                }
                                jira_bodies.push((format!("spoof-{payload_name}-{notice}"), body));
                            }
                        }
                        (Door::Works, Message::WorksNotice { to, .. }) => {
                            let content = works_render::notice_content(
                                &facts,
                                matches!(to, WorksTo::Channel(_)),
                            );
                            assert_eq!(works_render::check_content(&content), Ok(()), "{context}");
                            let text = content["text"]
                                .as_str()
                                .or(content["contentText"].as_str())
                                .unwrap();
                            assert_works_quoted(text, &context);
                        }
                        (Door::Callback, Message::Callback { body, .. }) => {
                            // The ticket system has the reason; the callback sends a denial's,
                            // inert.
                            let text = body.to_string();
                            if notice == "denied" {
                                let reason = body["reason"].as_str().unwrap();
                                assert_eq!(reason, inert(&payload, MAX_QUOTED_CHARS));
                                assert_inert(reason, &context);
                            }
                            assert!(
                                body.as_object()
                                    .unwrap()
                                    .iter()
                                    .all(|(k, v)| k == "reason" || !v.to_string().contains(MARK)),
                                "{context}: {text}"
                            );
                        }
                        _ => {}
                    }
                }
                match door {
                    Door::Slack if matches!(notice, "submitted" | "refused") => {
                        let (text, blocks) =
                            render::submitted_reply(&NoticeFacts::of_state(&r, &[]));
                        assert!(
                            !text.contains(MARK) && !blocks.to_string().contains(MARK),
                            "{context}"
                        );
                    }
                    Door::Slack if r.state == RequestState::Pending => {
                        let home = views::home(&views::HomeView {
                            waiting: &[views::HomeRequest {
                                request: r.clone(),
                                approvals: approvals.clone(),
                                image_name: None,
                            }],
                            mine: &[views::HomeRequest {
                                request: r.clone(),
                                approvals: approvals.clone(),
                                image_name: None,
                            }],
                            active: &[],
                            command: "/share-image",
                            now: chrono::Utc::now(),
                        });
                        let mut texts = Vec::new();
                        slack_texts(&home, false, &mut texts);
                        assert_only_quoted(&texts, &format!("{context} home"));
                        slack_bodies.push((format!("spoof-home-{payload_name}-{notice}"), home));
                    }
                    Door::RequestsShow => {
                        let text = show_text(&r, &approvals, &[], &[]);
                        assert!(
                            !text.chars().any(|c| c.is_control() && c != '\n'),
                            "a control character reaches the terminal: {context}"
                        );
                        for line in text.lines().filter(|l| l.contains(MARK)) {
                            let (_, quoted) = line
                                .split_once('“')
                                .unwrap_or_else(|| panic!("unquoted {line:?}: {context}"));
                            let words = quoted.split('”').next().unwrap();
                            assert_inert(words, &context);
                            assert!(
                                line.starts_with("reason      “")
                                    || line.contains("denied by bob (")
                                    || line.starts_with("outcome")
                                    || line.starts_with("  #"),
                                "{line:?}: {context}"
                            );
                        }
                    }
                    _ => {}
                }
                checked += 1;
            }
        }
    }
    eprintln!(
        "{checked} notice renderings; {} Slack and {} Jira payloads to validate",
        slack_bodies.len(),
        jira_bodies.len()
    );
    check_slack(&slack_bodies);
    check_jira(&jira_bodies);
}

/// The same words through the real front doors: a Slack command, a Jira issue (its reason
/// field, and its summary), a NAVER WORKS message and a webhook event, each with a callback
/// or a card; what the fakes received is quoted, inert and valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofing_words_through_the_front_doors_arrive_quoted_and_valid() {
    let t = spawn_app()
        .with_tickets()
        .with_works()
        .policy(ALL_DOORS_POLICY)
        .start()
        .await;
    let payload = format!(
        "pilot {MARK}\n*Approved by alice* :white_check_mark: <!channel> [~accountid:5b10ac8d82e05b22cc7d4ef5] https://evil.example \u{202E}exe.txt {MARK}"
    );

    // The text command (Slack's and NAVER WORKS') refuses Slack markup (`<!channel>`) at the
    // edge; the rest of the words get through, line breaks included.
    let typed = format!(
        "pilot {MARK}\n*Approved by alice* :white_check_mark: @channel [~accountid:5b10ac8d82e05b22cc7d4ef5] https://evil.example \u{202E}exe.txt\u{200B} {MARK}"
    );
    let reply = t
        .command(
            ALICE,
            &format!("1234567 with a@partner.example for 7d because {typed}"),
        )
        .await;
    assert!(
        !reply.to_string().contains(MARK),
        "the reply states no reason: {reply}"
    );

    // Jira: the reason field, and an issue that has only its summary.
    let created = t.jira.create_issue(
        "SHARE-51",
        J_CAROL,
        json!({
            "customfield_10050": "1234567",
            "customfield_10051": "a@partner.example",
            "customfield_10052": {"value": "7d"},
            "customfield_10053": payload,
        }),
    );
    assert_eq!(t.jira_send(&created).await.0, 200);
    let created = t.jira.create_issue(
        "SHARE-52",
        J_CAROL,
        json!({
            "summary": payload,
            "customfield_10050": "1234567",
            "customfield_10051": "b@partner.example",
            "customfield_10052": {"value": "7d"},
        }),
    );
    assert_eq!(t.jira_send(&created).await.0, 200);

    // NAVER WORKS: a 1:1 text in the command grammar.
    assert_eq!(
        t.works_send(&t.works_text(
            W_CAROL,
            &format!("1234567 with c@partner.example for 7d because {typed}")
        ))
        .await,
        200
    );

    // The generic webhook, with a callback.
    let (status, answer) = t
        .webhook_send(&json!({
            "type": "share.requested",
            "ticket": {"system": "servicenow", "id": "RITM0099"},
            "requester": "servicenow:sn-carol",
            "image_no": "1234567",
            "targets": ["d@partner.example"],
            "duration": "7d",
            "reason": payload,
            "callback_url": format!("{}/callback", t.receiver.base),
        }))
        .await;
    assert_eq!(status, 200, "{answer}");
    t.deliver_all().await;
    t.jira_idle().await;

    // Slack: every card quotes the reason; nothing else shows it.
    let calls = t.slack.calls();
    let mut cards = 0;
    for c in calls.iter().filter(|c| c.method.starts_with("chat.")) {
        let mut texts = Vec::new();
        slack_texts(&c.body, false, &mut texts);
        if texts.iter().any(|(_, s)| s.contains(MARK)) {
            assert_only_quoted(&texts, &format!("slack {}", c.method));
            cards += 1;
        }
    }
    let requests = t.store().requests(None, 100).await.unwrap();
    assert_eq!(
        requests.len(),
        5,
        "every door made its request: {requests:?}"
    );
    assert!(requests.iter().all(|r| r.state == RequestState::Pending));
    assert_eq!(cards, 5, "each request's card quotes its reason");
    check_slack_calls(&calls, &[reply]);

    // Jira: the recorded comments quote the reason (or the summary) in a blockquote.
    let comments: Vec<_> = t
        .jira
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/comment"))
        .collect();
    for key in ["SHARE-51", "SHARE-52"] {
        let mine: Vec<_> = comments.iter().filter(|c| c.path.contains(key)).collect();
        assert!(!mine.is_empty(), "{key} got a comment");
        for c in mine {
            let mut texts = Vec::new();
            adf_texts(&c.body["body"], false, &mut texts);
            assert_only_quoted(&texts, &format!("jira {key}"));
        }
    }
    check_jira_calls(&t.jira.calls());

    // NAVER WORKS: the room's approval message quotes it; FakeWorks held every message to
    // NAVER WORKS' limits (`check_content`) as it took it.
    let room: Vec<String> = t
        .works
        .channel_messages(WORKS_ROOM)
        .iter()
        .map(|m| m.text().to_owned())
        .collect();
    assert!(room.iter().any(|m| m.contains(MARK)), "{room:?}");
    for m in &room {
        assert_works_quoted(m, "naver works room");
    }
    for m in t.works.user_messages(W_CAROL) {
        assert_works_quoted(m.text(), "naver works 1:1");
    }

    // The callback never carries the requester's words (the ticket system has them).
    let callbacks = t.receiver.delivered();
    assert!(!callbacks.is_empty(), "the ticket was called back");
    for body in callbacks {
        assert!(!body.to_string().contains(MARK), "{body}");
    }
}
