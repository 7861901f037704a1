use super::*;
use crate::domain::{ImageNo, LoginId, RequestState};
use crate::policy::{Action, Identity};

fn request(origin: Origin, channel: Option<&str>, requester: &str) -> ShareRequest {
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let image = ImageNo::parse("1234567").unwrap();
    let targets = vec![LoginId::parse("a@partner.example").unwrap()];
    ShareRequest {
        id: RequestId::random(),
        version: 3,
        state: RequestState::Pending,
        origin,
        requester: Identity::new(requester, "U1").unwrap(),
        requester_person: None,
        image_no: image.clone(),
        image_name: "golden".into(),
        hypervisor: None,
        region: "KR".into(),
        action: Action::Share,
        fingerprint: crate::domain::request::fingerprint(
            &image,
            "KR",
            Action::Share,
            &targets,
            None,
        ),
        targets,
        duration: None,
        reason: None,
        shared_with_when_asked: vec![],
        policy_hash: "h".into(),
        rule: Some("r".into()),
        approvers: vec![],
        min_approvals: 1,
        allow_self_approval: false,
        approval_channel: channel.map(str::to_owned),
        works_channel: None,
        created_at: now,
        updated_at: now,
        expires_at: now,
        attempts: 0,
        outcome: None,
        lifecycle: Default::default(),
        trace_id: None,
    }
}

fn all() -> Channels {
    Channels {
        slack: true,
        slack_drift_channel: None,
        jira: true,
        webhook: true,
        works: true,
        slack_home: true,
    }
}

fn kinds(messages: &[Message]) -> Vec<(&'static str, String)> {
    messages.iter().map(|m| (m.name(), m.lane())).collect()
}

#[test]
fn each_notice_owes_the_messages_of_its_front_door() {
    let slack = Origin::Slack {
        team_id: "T".into(),
        channel_id: "C".into(),
        response_url: None,
    };
    let r = request(slack, Some("C0APPROVALS"), "slack");
    let now = r.created_at;
    let check = |notice: Notice, expected: Vec<(&'static str, &str)>| {
        let got = kinds(&plan(&all(), &r, &notice, now));
        let expected: Vec<(&'static str, String)> = expected
            .into_iter()
            .map(|(a, b)| (a, b.to_string()))
            .collect();
        assert_eq!(got, expected, "{}", notice.name());
    };
    check(Notice::Submitted, vec![("slack card", "slack:C0APPROVALS")]);
    check(Notice::Approved, vec![("slack card", "slack:C0APPROVALS")]);
    check(Notice::Refused, vec![]);
    check(
        Notice::Succeeded,
        vec![
            ("slack card", "slack:C0APPROVALS"),
            ("slack direct message", "slack:U1"),
            ("slack thread reply", "slack:C0APPROVALS"),
        ],
    );
}

#[test]
fn jira_and_callback_requests_owe_their_own_peer_and_nothing_without_it() {
    let jira = request(
        Origin::Jira {
            issue_key: "SHARE-7".into(),
        },
        None,
        "jira",
    );
    let now = jira.created_at;
    assert_eq!(
        kinds(&plan(&all(), &jira, &Notice::Succeeded, now)),
        vec![("jira comment", "jira:SHARE-7".to_string())]
    );
    let none = Channels::default();
    assert!(plan(&none, &jira, &Notice::Succeeded, now).is_empty());

    let hook = request(
        Origin::Webhook {
            system: "servicenow".into(),
            ticket_id: "T1".into(),
            callback_url: Some("https://tickets.example/cb".into()),
        },
        None,
        "servicenow",
    );
    assert_eq!(
        kinds(&plan(&all(), &hook, &Notice::Approved, now)),
        vec![("webhook callback", "webhook:tickets.example".to_string())]
    );
    // The worker's "executing" is not a callback.
    assert!(plan(&all(), &hook, &Notice::Executing, now).is_empty());
}

#[test]
fn entries_of_one_instant_keep_the_order_of_the_states() {
    let r = request(Origin::Cli, Some("C1"), "slack");
    let now = r.created_at;
    let mut later = r.clone();
    later.version += 1;
    let a = entries(&all(), &r, &Notice::Approved, now);
    let b = entries(&all(), &later, &Notice::Succeeded, now);
    assert!(a[0].order < b[0].order);
    assert!(b[0].order < b[1].order);
    assert!(b.iter().all(|e| e.request_id.as_ref() == Some(&r.id)));
}

#[test]
fn an_entry_round_trips_through_json() {
    let r = request(Origin::Cli, Some("C1"), "slack");
    for e in entries(&all(), &r, &Notice::Succeeded, r.created_at) {
        let back: OutboxEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}

#[test]
fn a_works_request_owes_room_messages_for_every_press_and_the_requester_its_news() {
    let mut r = request(Origin::Cli, None, "works");
    r.works_channel = Some("room-1".into());
    let now = r.created_at;
    let approval = Approval {
        request_id: r.id.clone(),
        person: crate::domain::PersonName("alice".into()),
        identity: Identity::new("works", "u-alice").unwrap(),
        approve: true,
        at: now,
        comment: None,
    };
    let room = ("naver works room message", "works:room:room-1");
    let dm = ("naver works direct message", "works:user:U1");
    for (notice, expected) in [
        (Notice::Submitted, vec![room, dm]),
        (Notice::Refused, vec![dm]),
        (Notice::ApprovalAdded(approval.clone()), vec![room]),
        (Notice::Approved, vec![room]),
        (Notice::Executing, vec![]),
        (Notice::Succeeded, vec![room, dm]),
        (Notice::Denied(approval), vec![room, dm]),
        (Notice::Expired, vec![room, dm]),
        (Notice::Cancelled, vec![room, dm]),
        (Notice::Failed, vec![room, dm]),
    ] {
        let expected: Vec<(&'static str, String)> = expected
            .into_iter()
            .map(|(a, b)| (a, b.to_string()))
            .collect();
        assert_eq!(
            kinds(&plan(&all(), &r, &notice, now)),
            expected,
            "{}",
            notice.name()
        );
    }
    // Without [works], or for a Slack requester with no room, NAVER WORKS hears nothing.
    let none = Channels {
        works: false,
        ..all()
    };
    assert!(plan(&none, &r, &Notice::Submitted, now).is_empty());
    let slack = request(Origin::Cli, None, "slack");
    assert!(
        plan(&all(), &slack, &Notice::Succeeded, now)
            .iter()
            .all(|m| m.peer() != Peer::Works)
    );
    let entry = OutboxEntry::new(
        plan(&all(), &r, &Notice::Submitted, now).remove(0),
        now,
        r.version,
        0,
    );
    assert_eq!(entry.request_id.as_ref(), Some(&r.id));
    let json = serde_json::to_string(&entry).unwrap();
    assert_eq!(serde_json::from_str::<OutboxEntry>(&json).unwrap(), entry);
}

#[test]
fn a_request_concerns_the_homes_of_its_requester_and_its_approvers() {
    let policy = crate::policy::Policy::from_toml_str(
        r#"
[people]
carol = { slack = "U1", jira = "acc-carol" }
alice = { slack = "U012ALICE" }
bob   = { jira = "acc-bob" }
dave  = { slack = "U078DAVE", works = "w-dave" }

[[rules]]
name = "r"
images = ["name:*"]
targets = ["*"]
requesters = ["carol"]
approvers = ["alice", "bob", "dave"]
min_approvals = 1
"#,
        "p.toml",
    )
    .unwrap();
    let mut r = request(
        Origin::Slack {
            team_id: "T".into(),
            channel_id: "C".into(),
            response_url: None,
        },
        None,
        "slack",
    );
    r.requester_person = Some(crate::policy::PersonName("carol".into()));
    r.approvers = ["alice", "bob", "dave"]
        .iter()
        .map(|p| crate::policy::PersonName((*p).into()))
        .collect();
    // The requester once (by account and by person), then each approver with a Slack account.
    assert_eq!(home_users(&policy, &r), ["U1", "U012ALICE", "U078DAVE"]);
    // Asked from Jira: the requester's Slack account still sees it on their home.
    r.requester = Identity::new("jira", "acc-carol").unwrap();
    assert_eq!(home_users(&policy, &r), ["U1", "U012ALICE", "U078DAVE"]);
    assert_eq!(
        Message::SlackHome { user: "U1".into() }.lane(),
        "slack-home:U1"
    );
    assert_eq!(
        Message::SlackHome { user: "U1".into() }.peer(),
        Peer::SlackHome
    );
}

#[test]
fn entries_are_in_their_request_s_trace_and_old_ones_load_without_one() {
    let trace = crate::domain::TraceId::parse("0af7651916cd43dd8448eb211c80319c").unwrap();
    let mut r = request(Origin::Cli, Some("C0APPROVALS"), "slack");
    r.trace_id = Some(trace.clone());
    let now = chrono::Utc::now();
    let entries = entries_with(&all(), &r, &[], &Notice::Submitted, now);
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e.trace_id.as_ref() == Some(&trace)));
    // An entry stored before traces existed (no `trace_id`, and its request none) loads.
    let mut stored = serde_json::to_value(&entries[0]).unwrap();
    stored.as_object_mut().unwrap().remove("trace_id");
    if let Some(request) = stored["message"].get_mut("request") {
        request.as_object_mut().unwrap().remove("trace_id");
    }
    let old: OutboxEntry = serde_json::from_value(stored).unwrap();
    assert_eq!(old.trace_id, None);
    assert_eq!(old.id, entries[0].id);
}
