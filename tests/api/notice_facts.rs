//! What people read is true, the same on every front door: every notice × every front door
//! (Slack: cards, the requester's messages and replies, the App Home; Jira comments; NAVER
//! WORKS messages; the webhook callback; `requests show`) × self-approval allowed or not × 1 or
//! N approvals. Each rendering is read back into facts (the rule, how many approvals from whom,
//! whether the requester's own counts, the approvals so far, who denied, the fingerprint) by
//! a reader that knows nothing of the renderers' code, and the facts are compared with the
//! truth worked out here from the scenario, not from `NoticeFacts`.

use chrono::{DateTime, TimeZone, Utc};
use ncp_share_approver::cli::requests::show_text;
use ncp_share_approver::domain::{
    Approval, ImageNo, LoginId, NoticeFacts, Origin, Outcome, RequestId, RequestState,
    ShareDuration, ShareRequest,
};
use ncp_share_approver::ncp::Hypervisor;
use ncp_share_approver::notify::jira::render as jira_render;
use ncp_share_approver::notify::slack::{render, views};
use ncp_share_approver::notify::works::render as works_render;
use ncp_share_approver::notify::{GrantsEnded, Notice};
use ncp_share_approver::policy::{Action, Identity, PersonName};
use ncp_share_approver::workflow::outbox::{Channels, Message, WorksTo, plan_with};
use serde_json::{Value, json};

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

fn person(name: &str) -> PersonName {
    serde_json::from_value(json!(name)).unwrap()
}

include!("../fixtures/sample_request.rs");

/// The accounts of the people: none may appear in chat text (people by their policy names).
const ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "U012ALICE"),
    ("bob", "U034BOB"),
    ("carol", "U056CAROL"),
];

fn account(name: &str) -> &'static str {
    ACCOUNTS.iter().find(|(n, _)| *n == name).unwrap().1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    Slack,
    Jira,
    Works,
    Callback,
    RequestsShow,
}

pub(crate) const DOORS: [Door; 5] = [
    Door::Slack,
    Door::Jira,
    Door::Works,
    Door::Callback,
    Door::RequestsShow,
];

/// One scenario: a notice about a request under a rule that needs `needed` approvals from
/// alice, bob and carol (carol asks), with the requester's own approval allowed or not.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) notice: &'static str,
    pub(crate) allow_self: bool,
    pub(crate) needed: u32,
}

/// What is true in a scenario, worked out from its parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Truth {
    id: String,
    refused: bool,
    rule: Option<String>,
    min: u32,
    /// Whose approval can count.
    approvers: Vec<String>,
    self_counts: bool,
    approved_by: Vec<String>,
    waiting_on: Vec<String>,
    denied_by: Option<String>,
    fingerprint: String,
    /// Another request a notice names (the one that ended a share).
    other_id: Option<String>,
}

pub(crate) const NOTICES: [&str; 12] = [
    "submitted",
    "refused",
    "approval_added",
    "approved",
    "denied",
    "expired",
    "cancelled",
    "executing",
    "succeeded",
    "failed",
    "share_ending_soon",
    "share_ended",
];

fn approval(r: &ShareRequest, who: &str, approve: bool, minute: i64) -> Approval {
    Approval {
        request_id: r.id.clone(),
        person: person(who),
        identity: Identity::new("slack", account(who)).unwrap(),
        approve,
        at: r.created_at + chrono::Duration::minutes(minute),
        comment: (!approve).then(|| "not this partner".to_owned()),
    }
}

/// The request, its approvals and the notice of a scenario, for `door`'s origin.
pub(crate) fn build(
    s: &Scenario,
    door: Door,
) -> Option<(ShareRequest, Vec<Approval>, Notice, Truth)> {
    let mut r = sample_request(
        "SR-7K3M9Q2X",
        at(10),
        vec![LoginId::parse("a@partner.example").unwrap()],
    );
    r.origin = match door {
        Door::Slack => r.origin.clone(),
        Door::Jira => Origin::Jira {
            issue_key: "SHARE-7".into(),
        },
        Door::Works => Origin::Works {
            user_id: "w-carol".into(),
        },
        Door::Callback => Origin::Webhook {
            system: "servicenow".into(),
            ticket_id: "RITM1".into(),
            callback_url: Some("https://tickets.example/cb".into()),
        },
        Door::RequestsShow => Origin::Cli,
    };
    if door == Door::Works {
        r.requester = Identity::new("works", "w-carol").unwrap();
    }
    r.works_channel = Some("room-1".into());
    r.min_approvals = s.needed;
    r.allow_self_approval = s.allow_self;
    r.reason = Some("partner onboarding".into());
    r.fingerprint = r.computed_fingerprint();
    let rule_approvers = ["alice", "bob", "carol"];
    let eligible: Vec<&str> = rule_approvers
        .iter()
        .copied()
        .filter(|p| s.allow_self || *p != "carol")
        .collect();
    // The approvals that complete it: the requester's own first when it counts.
    let completing: Vec<&str> = if s.allow_self {
        ["carol", "alice"][..s.needed as usize].to_vec()
    } else {
        ["alice", "bob"][..s.needed as usize].to_vec()
    };
    let mut approvals: Vec<Approval> = Vec::new();
    let mut denied_by = None;
    let mut other_id = None;
    let outcome = |message: &str| {
        Some(Outcome {
            message: message.into(),
            ..Default::default()
        })
    };
    let complete = |r: &ShareRequest| -> Vec<Approval> {
        completing
            .iter()
            .enumerate()
            .map(|(i, p)| approval(r, p, true, i as i64 + 1))
            .collect()
    };
    let notice = match s.notice {
        "submitted" => Notice::Submitted,
        "refused" => {
            r.state = RequestState::Denied;
            r.rule = None;
            r.approvers = vec![];
            r.min_approvals = 0;
            r.allow_self_approval = false;
            r.approval_channel = None;
            r.works_channel = None;
            r.outcome = outcome("no rule lets carol share image 1234567 with a@partner.example");
            Notice::Refused
        }
        "approval_added" => {
            // With one approval needed, the first approval approves: there is no such notice.
            if s.needed < 2 {
                return None;
            }
            approvals.push(approval(&r, completing[0], true, 1));
            Notice::ApprovalAdded(approvals[0].clone())
        }
        "approved" => {
            r.state = RequestState::Approved;
            approvals = complete(&r);
            Notice::Approved
        }
        "denied" => {
            r.state = RequestState::Denied;
            if s.needed > 1 {
                approvals.push(approval(&r, completing[0], true, 1));
            }
            let no = approval(&r, "bob", false, 5);
            approvals.push(no.clone());
            r.outcome = outcome("denied by bob: not this partner");
            denied_by = Some("bob".to_owned());
            Notice::Denied(no)
        }
        "expired" => {
            r.state = RequestState::Expired;
            if s.needed > 1 {
                approvals.push(approval(&r, completing[0], true, 1));
            }
            r.outcome = outcome("not enough approvals before the deadline");
            Notice::Expired
        }
        "cancelled" => {
            r.state = RequestState::Cancelled;
            r.outcome = outcome("cancelled by the requester");
            Notice::Cancelled
        }
        "executing" => {
            r.state = RequestState::Executing;
            approvals = complete(&r);
            Notice::Executing
        }
        "succeeded" | "share_ending_soon" | "share_ended" => {
            r.state = RequestState::Succeeded;
            approvals = complete(&r);
            r.outcome = Some(Outcome {
                message: "image 1234567 shared with a@partner.example".into(),
                shared_with_after: Some(vec!["a@partner.example".into()]),
                ..Default::default()
            });
            match s.notice {
                "succeeded" => Notice::Succeeded,
                "share_ending_soon" => Notice::ShareEndingSoon {
                    ends_at: at(20),
                    targets: r.targets.clone(),
                },
                _ => {
                    other_id = Some("SR-BBBBBBBB".to_owned());
                    Notice::ShareEnded(GrantsEnded {
                        by_request: RequestId::parse("SR-BBBBBBBB").unwrap(),
                        actor: "system:scheduler".into(),
                        cause: Some(ncp_share_approver::domain::RevocationCause::Expired),
                        removed: r.targets.clone(),
                        kept: vec![],
                    })
                }
            }
        }
        "failed" => {
            r.state = RequestState::Failed;
            approvals = complete(&r);
            r.outcome = Some(Outcome {
                message: "NCP refused: the login ID does not exist".into(),
                ncp_code: Some("3101".into()),
                ..Default::default()
            });
            Notice::Failed
        }
        other => panic!("unknown notice {other}"),
    };
    let refused = s.notice == "refused";
    let mut approved_by: Vec<String> = Vec::new();
    for a in approvals.iter().filter(|a| a.approve) {
        if !approved_by.contains(&a.person.to_string()) {
            approved_by.push(a.person.to_string());
        }
    }
    let truth = Truth {
        id: r.id.to_string(),
        refused,
        rule: (!refused).then(|| "golden images to partners".to_owned()),
        min: if refused { 0 } else { s.needed },
        approvers: if refused {
            vec![]
        } else {
            eligible.iter().map(|p| p.to_string()).collect()
        },
        self_counts: s.allow_self && !refused,
        waiting_on: eligible
            .iter()
            .filter(|p| !approved_by.iter().any(|a| a == *p))
            .map(|p| p.to_string())
            .collect(),
        approved_by,
        denied_by,
        fingerprint: r.fingerprint[..12].to_owned(),
        other_id,
    };
    Some((r, approvals, notice, truth))
}

/// A rendering: what one front door shows (or sends) for one notice.
#[derive(Debug, Clone)]
enum Shown {
    Text(String),
    Json(Value),
}

pub(crate) fn all() -> Channels {
    Channels {
        slack: true,
        slack_drift_channel: None,
        jira: true,
        webhook: true,
        works: true,
        slack_home: false,
    }
}

/// A Slack message as its reader sees it: the fallback text and the blocks as text, without
/// mrkdwn's marks.
fn slack_text(message: &(String, Value)) -> String {
    format!("{}\n{}", message.0, render::blocks_as_text(&message.1))
}

/// Every rendering of a notice at a front door: what the outbox plan sends there, rendered as
/// the courier renders it, plus what the door answers itself (Slack's reply to the command,
/// the App Home).
fn renderings(
    door: Door,
    r: &ShareRequest,
    approvals: &[Approval],
    notice: &Notice,
) -> Vec<(String, Shown)> {
    let mut out = Vec::new();
    let facts = NoticeFacts::new(r, approvals, notice);
    for m in plan_with(&all(), r, approvals, notice, at(12)) {
        match (door, m) {
            (
                Door::Slack,
                Message::SlackCard {
                    request, denial, ..
                },
            ) => {
                let mut with = approvals.to_vec();
                if let Some(d) = denial
                    && !with.contains(&d)
                {
                    with.push(d);
                }
                let card = render::card(&NoticeFacts::of_state(&request, &with));
                out.push(("slack card".into(), Shown::Text(slack_text(&card))));
            }
            (
                Door::Slack,
                Message::SlackNotice {
                    in_card_thread,
                    notice,
                    ..
                },
            ) => {
                let message = match notice {
                    Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => {
                        render::lifecycle_message(&facts)
                    }
                    _ => render::outcome_message(&facts),
                };
                let name = if in_card_thread {
                    "slack thread reply"
                } else {
                    "slack direct message"
                };
                out.push((name.into(), Shown::Text(slack_text(&message))));
            }
            (Door::Jira, Message::JiraNotice { .. }) => {
                if let Some(blocks) = jira_render::notice_comment(&facts, "Approved") {
                    let text = jira_render::plain_text(&jira_render::adf_blocks(&blocks));
                    out.push(("jira comment".into(), Shown::Text(text)));
                }
            }
            (Door::Works, Message::WorksNotice { to, .. }) => {
                let in_room = matches!(to, WorksTo::Channel(_));
                let content = works_render::notice_content(&facts, in_room);
                let text = content["text"]
                    .as_str()
                    .or(content["contentText"].as_str())
                    .unwrap()
                    .to_owned();
                let name = if in_room {
                    "naver works room"
                } else {
                    "naver works requester"
                };
                out.push((name.into(), Shown::Text(text)));
            }
            (Door::Callback, Message::Callback { body, .. }) => {
                out.push(("webhook callback".into(), Shown::Json(body)));
            }
            _ => {}
        }
    }
    match door {
        // The slash command's answer to the requester (submitted or refused).
        Door::Slack if matches!(notice, Notice::Submitted | Notice::Refused) => {
            let reply = render::submitted_reply(&NoticeFacts::of_state(r, &[]));
            out.push(("slack reply".into(), Shown::Text(slack_text(&reply))));
        }
        Door::RequestsShow => out.push((
            "requests show".into(),
            Shown::Text(show_text(r, approvals, &[], &[])),
        )),
        _ => {}
    }
    // The approvers' App Home lists a pending request with its approvals.
    if door == Door::Slack && r.state == RequestState::Pending {
        let home = views::home(&views::HomeView {
            waiting: &[views::HomeRequest {
                request: r.clone(),
                approvals: approvals.to_vec(),
                image_name: None,
            }],
            mine: &[],
            active: &[],
            command: "/share-image",
            now: at(12),
        });
        let text = render::blocks_as_text(&home["blocks"]);
        out.push(("slack app home".into(), Shown::Text(text)));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The reader: facts out of text, knowing only the phrases people read.

/// The facts read out of one rendering; `None` where it says nothing of them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Read {
    ids: Vec<String>,
    rule: Option<String>,
    no_rule: bool,
    min: Option<u32>,
    approvers: Option<Vec<String>>,
    self_counts: Option<bool>,
    count: Option<u32>,
    needed: Option<u32>,
    approved_by: Option<Vec<String>>,
    waiting_on: Option<Vec<String>>,
    denied_by: Option<String>,
    fingerprint: Option<String>,
    refused: bool,
}

/// Every value read for one fact must agree: two sentences of one message never differ.
fn agree<T: PartialEq + std::fmt::Debug + Clone>(slot: &mut Option<T>, value: T, what: &str) {
    match slot {
        Some(old) => assert_eq!(*old, value, "two different {what} in one rendering"),
        None => *slot = Some(value),
    }
}

fn names(list: &str) -> Vec<String> {
    list.split(", ")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The number at the start of `s`, and the rest.
fn number(s: &str) -> Option<(u32, &str)> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    Some((digits.parse().ok()?, &s[digits.len()..]))
}

/// The number that ends `s`.
fn number_before(s: &str) -> Option<u32> {
    let digits: String = s
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// A list of names up to the end of its sentence.
fn list_until_end(s: &str) -> &str {
    let end = s.find(['.', ';', '\n', '·', ')']).unwrap_or(s.len());
    &s[..end]
}

fn read_text(raw: &str) -> Read {
    // mrkdwn's marks and code spans carry no facts.
    let text: String = raw.chars().filter(|c| !matches!(c, '*' | '`')).collect();
    let lower = text.to_lowercase();
    let mut read = Read::default();
    for (i, _) in text.match_indices("SR-") {
        let id: String = text[i..].chars().take(11).collect();
        if id[3..].chars().all(|c| c.is_ascii_alphanumeric()) && id.len() == 11 {
            read.ids.push(id);
        }
    }
    for (i, _) in lower.match_indices("rule \"") {
        let rest = &text[i + 6..];
        let Some(end) = rest.find('"') else { continue };
        agree(&mut read.rule, rest[..end].to_owned(), "rules");
        let after = &rest[end + 1..];
        if let Some(n) = after.strip_prefix(" needs ") {
            let (min, tail) = number(n).expect("a number of approvals");
            agree(&mut read.min, min, "minimums");
            let tail = tail
                .strip_prefix(" approvals")
                .or(tail.strip_prefix(" approval"))
                .expect("approvals");
            if let Some(from) = tail.strip_prefix(" from ") {
                agree(
                    &mut read.approvers,
                    names(list_until_end(from)),
                    "approver lists",
                );
            }
        } else if after.starts_with(" approves it automatically") {
            agree(&mut read.min, 0, "minimums");
        }
    }
    if lower.contains("no rule allows it") {
        read.no_rule = true;
    }
    for (phrase, counts) in [
        ("the requester's own approval does not count", false),
        ("the requester's own approval counts", true),
    ] {
        if lower.contains(phrase) {
            agree(&mut read.self_counts, counts, "self-approval sentences");
        }
    }
    // "1 of 2 approvals (alice); 1 more needed from bob"
    for (i, _) in lower.match_indices(" of ") {
        let Some(count) = number_before(&lower[..i]) else {
            continue;
        };
        let Some((needed, tail)) = number(&lower[i + 4..]) else {
            continue;
        };
        let Some(tail) = tail
            .strip_prefix(" approvals")
            .or(tail.strip_prefix(" approval"))
        else {
            continue;
        };
        agree(&mut read.count, count, "counts");
        agree(&mut read.needed, needed, "needed counts");
        let by = match tail.strip_prefix(" (") {
            Some(list) => names(&list[..list.find(')').unwrap()]),
            None => vec![],
        };
        agree(&mut read.approved_by, by, "approver lists so far");
        if let Some(m) = tail.find("more needed from ") {
            let from = &tail[m + "more needed from ".len()..];
            agree(
                &mut read.waiting_on,
                names(list_until_end(from)),
                "waiting lists",
            );
        }
    }
    for (i, _) in lower.match_indices("denied by") {
        let who: String = lower[i + "denied by".len()..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        agree(&mut read.denied_by, who, "deniers");
    }
    for (i, _) in lower.match_indices("fingerprint") {
        let hex: String = lower[i + "fingerprint".len()..]
            .trim_start_matches([' ', ':'])
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if hex.len() >= 12 {
            agree(&mut read.fingerprint, hex[..12].to_owned(), "fingerprints");
        }
    }
    read.refused = lower.contains("refused by the policy");
    read
}

fn read_json(body: &Value) -> Read {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let min = body["min_approvals"].as_u64().unwrap() as u32;
    let approved_by = strings(&body["approved_by"]);
    let remaining = body["remaining"].as_u64().unwrap() as u32;
    assert_eq!(
        min.saturating_sub(approved_by.len() as u32),
        remaining,
        "remaining agrees with the count: {body}"
    );
    Read {
        ids: vec![body["request_id"].as_str().unwrap().to_owned()],
        rule: body["rule"].as_str().map(str::to_owned),
        no_rule: body["rule"].is_null(),
        min: Some(min),
        approvers: Some(strings(&body["approvers"])),
        self_counts: Some(body["requester_approval_counts"].as_bool().unwrap()),
        count: Some(approved_by.len() as u32),
        needed: Some(min),
        approved_by: Some(approved_by),
        waiting_on: None,
        denied_by: (body["notice"] == "denied").then(|| body["by"].as_str().unwrap().to_owned()),
        fingerprint: body["fingerprint"].as_str().map(|f| f[..12].to_owned()),
        refused: body["notice"] == "refused",
    }
}

/// What a rendering must state, by notice: the policy's decision when the request is made,
/// the approvals whenever they changed or decided its end, who denied.
fn check(s: &Scenario, door: Door, name: &str, shown: &Shown, truth: &Truth) {
    let (read, text) = match shown {
        Shown::Text(t) => (read_text(t), t.clone()),
        Shown::Json(v) => (read_json(v), v.to_string()),
    };
    let here = format!("{s:?} at {door:?}, {name}:\n{text}");

    // Everything read is true.
    assert!(!read.ids.is_empty(), "no request id: {here}");
    for id in &read.ids {
        assert!(
            *id == truth.id || Some(id) == truth.other_id.as_ref(),
            "request id {id}: {here}"
        );
    }
    assert!(read.ids.contains(&truth.id), "its id is missing: {here}");
    if let Some(rule) = &read.rule {
        assert_eq!(Some(rule), truth.rule.as_ref(), "rule: {here}");
    }
    if let Some(min) = read.min {
        assert_eq!(min, truth.min, "approvals needed: {here}");
    }
    if let Some(needed) = read.needed {
        assert_eq!(needed, truth.min, "approvals needed: {here}");
    }
    if let Some(approvers) = &read.approvers {
        assert_eq!(approvers, &truth.approvers, "approvers: {here}");
    }
    if let Some(counts) = read.self_counts {
        assert_eq!(counts, truth.self_counts, "self-approval: {here}");
    }
    if let Some(by) = &read.approved_by {
        assert_eq!(by, &truth.approved_by, "approved by: {here}");
    }
    if let Some(count) = read.count {
        assert_eq!(count as usize, truth.approved_by.len(), "count: {here}");
    }
    if let Some(waiting) = &read.waiting_on {
        assert_eq!(waiting, &truth.waiting_on, "who may still approve: {here}");
    }
    if let Some(who) = &read.denied_by {
        assert_eq!(Some(who), truth.denied_by.as_ref(), "denied by: {here}");
    }
    if let Some(fp) = &read.fingerprint {
        assert_eq!(fp, &truth.fingerprint, "fingerprint: {here}");
    }
    assert_eq!(read.refused, truth.refused, "refused by the policy: {here}");
    assert!(
        read.rule.is_none() || !read.no_rule,
        "a rule and no rule: {here}"
    );

    // People by their policy names: no account in what people read (`requests show` is the
    // ledger's view and shows who acted through which account).
    if door != Door::RequestsShow {
        for (_, acct) in ACCOUNTS {
            assert!(!text.contains(acct), "account {acct} shown: {here}");
        }
        assert!(!text.contains("<@"), "a mention: {here}");
    }

    // What must be stated.
    let every_fact = matches!(door, Door::Callback | Door::RequestsShow);
    let card = name == "slack card" || name == "slack app home";
    let pending = matches!(s.notice, "submitted" | "approval_added");
    if truth.refused {
        assert!(read.rule.is_none(), "a refused request has no rule: {here}");
        return;
    }
    if every_fact
        || (s.notice == "submitted" && name != "slack app home")
        || (name == "slack card" && pending)
    {
        assert!(read.rule.is_some(), "the rule: {here}");
        assert!(read.min.is_some(), "how many approvals: {here}");
        assert!(read.approvers.is_some(), "whose approval counts: {here}");
        assert!(
            read.self_counts.is_some(),
            "whether the requester's own counts: {here}"
        );
        assert!(read.fingerprint.is_some(), "the fingerprint: {here}");
    }
    let progress_told = every_fact
        || (card && pending)
        || (name == "slack card" && matches!(s.notice, "executing" | "succeeded"))
        || matches!(s.notice, "approval_added" | "approved" | "expired")
        || (s.notice == "submitted" && name == "naver works room");
    if progress_told {
        assert!(read.approved_by.is_some(), "the approvals so far: {here}");
    }
    if s.notice == "denied" {
        assert!(read.denied_by.is_some(), "who denied: {here}");
    }
}

#[test]
fn every_notice_states_the_same_true_facts_on_every_front_door() {
    let mut checked = 0;
    let mut by_door = std::collections::BTreeMap::new();
    for notice in NOTICES {
        for allow_self in [false, true] {
            for needed in [1, 2] {
                let s = Scenario {
                    notice,
                    allow_self,
                    needed,
                };
                for door in DOORS {
                    let Some((r, approvals, n, truth)) = build(&s, door) else {
                        continue;
                    };
                    let shown = renderings(door, &r, &approvals, &n);
                    // Every door says something of every notice but the worker's start, which
                    // only the Slack card (and `requests show`) shows.
                    let silent = notice == "executing"
                        && matches!(door, Door::Jira | Door::Works | Door::Callback);
                    assert_eq!(shown.is_empty(), silent, "{s:?} at {door:?}: {shown:?}");
                    for (name, rendering) in &shown {
                        check(&s, door, name, rendering, &truth);
                        checked += 1;
                        *by_door.entry(format!("{door:?}")).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    eprintln!("{checked} renderings read back: {by_door:?}");
    assert!(checked > 250, "{checked}");
}

/// The Jira comment under a rule that lets the requester's own approval count says so (it
/// used to say "does not count" whatever the rule), and the approval by her counts.
#[test]
fn the_jira_comment_states_the_rules_self_approval_truly() {
    let s = Scenario {
        notice: "submitted",
        allow_self: true,
        needed: 2,
    };
    let (r, approvals, n, _) = build(&s, Door::Jira).unwrap();
    let facts = NoticeFacts::new(&r, &approvals, &n);
    let text = jira_render::plain_text(&jira_render::adf_blocks(
        &jira_render::notice_comment(&facts, "Approved").unwrap(),
    ));
    assert!(
        text.contains("Rule \"golden images to partners\" needs 2 approvals from alice, bob, carol. The requester's own approval counts."),
        "{text}"
    );
    assert!(!text.contains("does not count"), "{text}");
    // Her approval is then counted, by name.
    let mut r = r;
    r.state = RequestState::Pending;
    let own = Approval {
        request_id: r.id.clone(),
        person: person("carol"),
        identity: Identity::new("jira", "acct-carol").unwrap(),
        approve: true,
        at: at(11),
        comment: None,
    };
    let facts = NoticeFacts::new(
        &r,
        std::slice::from_ref(&own),
        &Notice::ApprovalAdded(own.clone()),
    );
    let text = jira_render::plain_text(&jira_render::adf_blocks(
        &jira_render::notice_comment(&facts, "Approved").unwrap(),
    ));
    assert_eq!(
        text,
        "Approval by carol counted for SR-7K3M9Q2X: 1 of 2 approvals (carol); 1 more needed from alice, bob."
    );
    assert!(!text.contains("acct-carol"));
}
