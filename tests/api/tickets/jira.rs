//! Jira Cloud end to end: webhooks from a stateful fake Jira, re-reads through its REST API,
//! comments and transitions back, against the running service and the NCP simulator.

use crate::harness::fixtures::*;
use crate::harness::{App, spawn_app};
use ncp_share_approver::domain::RequestState;
use serde_json::{Value, json};
use std::time::Duration;

fn fields(image: &str, targets: &str) -> Value {
    json!({
        "customfield_10050": image,
        "customfield_10051": targets,
        "customfield_10052": {"value": "7d"},
        "customfield_10053": "partner pilot",
    })
}

async fn new_request(t: &App, key: &str) -> String {
    let created = t
        .jira
        .create_issue(key, J_CAROL, fields("1234567", "a@partner.example"));
    let (status, text) = t.jira_send(&created).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("pending"), "{text}");
    let r = t
        .request_of_issue(key)
        .await
        .expect("a request for the issue");
    assert!(
        t.jira.wait_comment(key, "recorded").await,
        "the issue is told"
    );
    r.id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_jira_issue_is_approved_by_a_transition_and_a_comment_then_shared_commented_and_done() {
    let t = spawn_app().with_tickets().start().await;
    let id = new_request(&t, "SHARE-1").await;
    let r = t.request_of_issue("SHARE-1").await.unwrap();
    assert_eq!(r.requester.to_string(), format!("jira:{J_CAROL}"));
    assert_eq!(r.requester_person.as_ref().unwrap().as_str(), "carol");
    assert_eq!(r.duration.unwrap().to_string(), "7d");
    assert_eq!(r.reason.as_deref(), Some("partner pilot"));
    let recorded = t.jira.bot_comments("SHARE-1")[0].clone();
    for needle in [
        id.as_str(),
        "1234567",
        "a@partner.example",
        "/approve",
        "Approved",
    ] {
        assert!(recorded.contains(needle), "{needle} in {recorded}");
    }

    // Alice moves the issue to Approved: one approval of two.
    let moved = t.jira.transition_by("SHARE-1", J_ALICE, "Approved");
    assert_eq!(t.jira_send(&moved).await, (200, "counted".into()));
    // Bob comments /approve: the second distinct person approves it.
    let comment = t.jira.comment_by("SHARE-1", J_BOB, "/approve looks right");
    assert_eq!(t.jira_send(&comment).await, (200, "approved".into()));

    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(t.sim.shared_with("1234567"), vec!["a@partner.example"]);
    assert!(t.jira.wait_comment("SHARE-1", "succeeded").await);
    t.jira_idle().await;
    assert_eq!(
        t.jira.status("SHARE-1"),
        "Done",
        "the done transition is taken"
    );
    let last = t.jira.bot_comments("SHARE-1").last().unwrap().clone();
    assert!(
        last.contains(&id) && last.contains("a@partner.example"),
        "{last}"
    );

    // The webhooks were hints: every decision re-read the issue (and the comment) first,
    // always with the service's basic auth.
    let calls = t.jira.calls();
    assert!(calls.iter().all(|c| c.authorized));
    let gets = |p: &str| {
        calls
            .iter()
            .filter(|c| c.method == "GET" && c.path == p)
            .count()
    };
    assert!(gets("/rest/api/3/issue/SHARE-1") >= 3);
    assert!(
        calls
            .iter()
            .any(|c| c.method == "GET" && c.path.contains("/comment/"))
    );
    assert!(calls.iter().any(|c| c.method == "POST"
        && c.path.ends_with("/transitions")
        && c.body["transition"]["id"] == "31"));

    // The Slack approval card went out too, because the rule names an approval channel.
    assert!(
        t.slack
            .calls_to("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "C0APPROVALS")
    );
    // The ledger counts two people.
    let approvals = t
        .store()
        .approvals(&ncp_share_approver::domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap();
    let people: Vec<&str> = approvals.iter().map(|a| a.person.as_str()).collect();
    assert_eq!(people, vec!["alice", "bob"]);
    // Every comment Jira received is valid ADF, and every Slack call valid for Slack's SDK.
    t.jira_idle().await;
    crate::payloads::check_jira_calls(&t.jira.calls());
    crate::payloads::check_slack_calls(&t.slack.calls(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_by_a_non_approver_is_ignored_and_answered() {
    let t = spawn_app().with_tickets().start().await;
    let id = new_request(&t, "SHARE-2").await;

    let by_erin = t.jira.comment_by("SHARE-2", J_ERIN, "/approve");
    assert_eq!(t.jira_send(&by_erin).await, (200, "not allowed".into()));
    assert!(t.jira.wait_comment("SHARE-2", "Not counted").await);
    let answer = t.jira.bot_comments("SHARE-2").last().unwrap().clone();
    assert!(answer.contains("erin is not an approver"), "{answer}");

    // The requester moving her own issue to Approved does not count either.
    let by_carol = t.jira.transition_by("SHARE-2", J_CAROL, "Approved");
    assert_eq!(t.jira_send(&by_carol).await, (200, "not allowed".into()));
    assert!(t.jira.wait_comment("SHARE-2", "self-approval").await);

    // Someone with no person in the policy is answered too.
    let stranger = t.jira.comment_by("SHARE-2", "acc-stranger", "/approve");
    assert_eq!(t.jira_send(&stranger).await, (200, "not allowed".into()));
    assert!(t.jira.wait_comment("SHARE-2", "not in the policy").await);

    let rid = ncp_share_approver::domain::RequestId::parse(&id).unwrap();
    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );
    assert!(t.store().approvals(&rid).await.unwrap().is_empty());
    // Every comment Jira received is valid ADF, and every Slack call valid for Slack's SDK.
    t.jira_idle().await;
    crate::payloads::check_jira_calls(&t.jira.calls());
    crate::payloads::check_slack_calls(&t.slack.calls(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_that_disagrees_with_the_reread_issue_is_refused() {
    let t = spawn_app().with_tickets().start().await;
    let id = new_request(&t, "SHARE-3").await;
    let rid = ncp_share_approver::domain::RequestId::parse(&id).unwrap();

    // An event says alice moved the issue to Approved; Jira says it is still Open.
    let stale = t
        .jira
        .status_event_without_move("SHARE-3", J_ALICE, "Approved");
    let (status, text) = t.jira_send(&stale).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: the event disagrees with the issue")
    );
    assert!(t.jira.wait_comment("SHARE-3", "is \"Open\"").await);

    // An event says alice commented /approve; the comment Jira has is erin's "nice".
    let forged = t
        .jira
        .forged_comment("SHARE-3", J_ALICE, "/approve", J_ERIN, "nice");
    let (status, text) = t.jira_send(&forged).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: the event disagrees with the issue")
    );
    assert!(t.jira.wait_comment("SHARE-3", "author in Jira").await);

    // The issue's targets were edited after the request was made: approving it now would
    // approve something other than what the issue says.
    t.jira
        .edit_fields("SHARE-3", json!({"customfield_10051": "b@partner.example"}));
    let moved = t.jira.transition_by("SHARE-3", J_ALICE, "Approved");
    let (status, text) = t.jira_send(&moved).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: the event disagrees with the issue")
    );
    assert!(
        t.jira
            .wait_comment("SHARE-3", "changed after request")
            .await
    );

    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );
    assert!(t.store().approvals(&rid).await.unwrap().is_empty());

    // A creation event whose fields are not the issue's makes no request.
    let created = t
        .jira
        .create_issue("SHARE-4", J_CAROL, fields("1234567", "a@partner.example"));
    t.jira
        .edit_fields("SHARE-4", json!({"customfield_10051": "c@partner.example"}));
    let (status, text) = t.jira_send(&created).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: the event disagrees with the issue")
    );
    assert!(t.request_of_issue("SHARE-4").await.is_none());
    assert!(t.jira.wait_comment("SHARE-4", "Refused").await);
    // Every comment Jira received is valid ADF, and every Slack call valid for Slack's SDK.
    t.jira_idle().await;
    crate::payloads::check_jira_calls(&t.jira.calls());
    crate::payloads::check_slack_calls(&t.slack.calls(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_delivery_is_handled_once_even_when_it_arrives_concurrently() {
    let t = spawn_app().with_tickets().start().await;
    let created = t
        .jira
        .create_issue("SHARE-5", J_CAROL, fields("1234567", "a@partner.example"))
        .to_string();
    let (a, b) = tokio::join!(
        t.jira_send_as(created.as_bytes(), "dup-1"),
        t.jira_send_as(created.as_bytes(), "dup-1")
    );
    let texts = [a.1.clone(), b.1.clone()];
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(
        texts.iter().filter(|t| t.contains("duplicate")).count(),
        1,
        "{texts:?}"
    );
    // Jira's retry, later, with the same identifier.
    let (_, again) = t.jira_send_as(created.as_bytes(), "dup-1").await;
    assert!(again.contains("duplicate"), "{again}");
    // The same body under a new identifier (a captured delivery replayed) is a duplicate.
    let (_, other) = t.jira_send_as(created.as_bytes(), "dup-2").await;
    assert!(other.contains("duplicate"), "{other}");
    let all = t.store().requests(None, 100).await.unwrap();
    assert_eq!(all.len(), 1);

    let moved = t
        .jira
        .transition_by("SHARE-5", J_ALICE, "Approved")
        .to_string();
    assert_eq!(t.jira_send_as(moved.as_bytes(), "dup-3").await.1, "counted");
    assert!(
        t.jira_send_as(moved.as_bytes(), "dup-3")
            .await
            .1
            .contains("duplicate")
    );
    assert_eq!(t.store().approvals(&all[0].id).await.unwrap().len(), 1);
    t.jira_idle().await;
    let recorded = t
        .jira
        .bot_comments("SHARE-5")
        .iter()
        .filter(|c| c.contains("recorded"))
        .count();
    assert_eq!(recorded, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fields_that_do_not_parse_and_policy_refusals_are_commented_not_silent() {
    let t = spawn_app().with_tickets().start().await;
    let created = t.jira.create_issue(
        "SHARE-6",
        J_CAROL,
        json!({"customfield_10050": "12ab", "customfield_10051": "", "customfield_10052": "forever"}),
    );
    let (status, text) = t.jira_send(&created).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: fields do not parse")
    );
    assert!(t.jira.wait_comment("SHARE-6", "customfield_10050").await);
    let c = t.jira.bot_comments("SHARE-6")[0].clone();
    assert!(
        c.contains("customfield_10051") && c.contains("customfield_10052"),
        "{c}"
    );
    assert!(t.request_of_issue("SHARE-6").await.is_none());

    // Fields that parse but that no rule allows: refused with the policy's reasons, and the
    // issue moves to the failed status.
    let created = t
        .jira
        .create_issue("SHARE-7", J_CAROL, fields("1234567", "x@elsewhere.example"));
    let (_, text) = t.jira_send(&created).await;
    assert!(text.contains("denied"), "{text}");
    assert!(
        t.jira
            .wait_comment("SHARE-7", "refused by the policy")
            .await
    );
    t.jira_idle().await;
    assert_eq!(t.jira.status("SHARE-7"), "Rejected");

    // Issues of another project or type are not requests.
    let other = t
        .jira
        .create_issue("OTHER-1", J_CAROL, fields("1234567", "a@partner.example"));
    assert!(t.jira_send(&other).await.1.contains("another project"));
    assert!(t.store().requests(None, 10).await.unwrap().len() == 1);
    // Every comment Jira received is valid ADF, and every Slack call valid for Slack's SDK.
    t.jira_idle().await;
    crate::payloads::check_jira_calls(&t.jira.calls());
    crate::payloads::check_slack_calls(&t.slack.calls(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_clicks_on_a_jira_request_count_with_jira_approvals_and_the_outcome_goes_to_jira() {
    let t = spawn_app().with_tickets().start().await;
    let id = new_request(&t, "SHARE-8").await;
    assert_eq!(t.slack_click(ALICE, "approve", &id).await, 200);
    assert!(
        t.jira
            .wait_comment("SHARE-8", "Approval by alice counted")
            .await
    );

    // Alice again, now from Jira: the same person, so it does not count twice.
    let again = t.jira.comment_by("SHARE-8", J_ALICE, "/approve");
    assert_eq!(t.jira_send(&again).await, (200, "already counted".into()));
    let rid = ncp_share_approver::domain::RequestId::parse(&id).unwrap();
    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );

    let bob = t.jira.comment_by("SHARE-8", J_BOB, "/approve");
    assert_eq!(t.jira_send(&bob).await, (200, "approved".into()));
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert!(t.jira.wait_comment("SHARE-8", "succeeded").await);
    // The Slack card shows the end too.
    assert!(
        t.slack
            .wait_for(
                |c| c.iter().any(|c| c.method == "chat.update"
                    && c.body.to_string().to_lowercase().contains("shared")),
                Duration::from_secs(10)
            )
            .await
    );
    // Comments are the bot's own, and never carry the API token.
    let all = t.jira.bot_comments("SHARE-8").join("\n");
    assert!(!all.contains(JIRA_TOKEN));
    assert!(
        t.jira
            .calls()
            .iter()
            .all(|c| !c.body.to_string().contains(JIRA_TOKEN))
    );

    // A denial by comment, on another issue, ends it and moves it to the failed status.
    let id9 = new_request(&t, "SHARE-9").await;
    let deny = t
        .jira
        .comment_by("SHARE-9", J_BOB, "/deny not this quarter");
    assert_eq!(t.jira_send(&deny).await, (200, "denied".into()));
    assert!(t.wait_state(&id9, RequestState::Denied).await);
    assert!(t.jira.wait_comment("SHARE-9", "not this quarter").await);
    t.jira_idle().await;
    assert_eq!(t.jira.status("SHARE-9"), "Rejected");
    // Every comment Jira received is valid ADF, and every Slack call valid for Slack's SDK.
    t.jira_idle().await;
    crate::payloads::check_jira_calls(&t.jira.calls());
    crate::payloads::check_slack_calls(&t.slack.calls(), &[]);
}

/// The crash point of a delivery: Jira took the comment, but the process died before the
/// outbox recorded it (so no attempt is on record). Delivering the same entry again finds the
/// comment by its outbox id and does not comment twice.
#[tokio::test]
async fn a_comment_delivered_but_not_recorded_is_not_posted_again() {
    use ncp_share_approver::notify::jira::{JiraApi, JiraCourier, JiraOutcomes};
    use ncp_share_approver::workflow::outbox::{Courier, Delivery, Message, OutboxEntry};
    let jira = crate::harness::fake_jira::FakeJira::start(JIRA_EMAIL, JIRA_TOKEN).await;
    jira.create_issue("SHARE-9", "5b10ac8d82e05b22cc7d4ef5", json!({}));
    let api = JiraApi::new(
        &jira.base_url,
        JIRA_EMAIL,
        secrecy::SecretString::from(JIRA_TOKEN.to_string()),
    );
    let store = std::sync::Arc::new(ncp_share_approver::store::SqliteStore::in_memory().unwrap());
    let courier = JiraCourier::new(api, JiraOutcomes::default(), store);
    let entry = OutboxEntry::new(
        Message::JiraSay {
            issue_key: "SHARE-9".into(),
            paragraphs: vec!["Nothing was requested: the image field is empty.".into()],
        },
        chrono::Utc::now(),
        0,
        0,
    );
    assert_eq!(courier.deliver(&entry).await, Delivery::Done);
    // The "restart": the same entry, still with no attempt recorded.
    assert_eq!(courier.deliver(&entry).await, Delivery::Done);
    assert_eq!(jira.bot_comments("SHARE-9").len(), 1);
    // Another entry with the same text is a new comment.
    let other = OutboxEntry::new(entry.message.clone(), chrono::Utc::now(), 0, 0);
    assert_eq!(courier.deliver(&other).await, Delivery::Done);
    assert_eq!(jira.bot_comments("SHARE-9").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_issue_whose_reporter_is_not_its_creator_is_refused_with_a_comment() {
    let t = spawn_app().with_tickets().start().await;
    // Erin creates the issue and names Carol as its reporter: Erin cannot ask as Carol.
    let mut f = fields("1234567", "a@partner.example");
    f["reporter"] = json!({"accountId": J_CAROL});
    let created = t.jira.create_issue("SHARE-20", J_ERIN, f);
    let (status, text) = t.jira_send(&created).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "refused: the reporter is not the creator")
    );
    assert!(t.request_of_issue("SHARE-20").await.is_none());
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());
    assert!(
        t.jira
            .wait_comment(
                "SHARE-20",
                "the issue's reporter is not the person who created it"
            )
            .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_issue_without_a_creator_is_refused_with_a_comment() {
    let t = spawn_app().with_tickets().start().await;
    let created = t
        .jira
        .create_issue("SHARE-21", J_CAROL, fields("1234567", "a@partner.example"));
    t.jira.edit_fields("SHARE-21", json!({"creator": null}));
    let (status, text) = t.jira_send(&created).await;
    assert_eq!((status, text.as_str()), (200, "refused: no creator"));
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());
    assert!(t.jira.wait_comment("SHARE-21", "has no creator").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_approval_body_under_a_new_identifier_is_a_duplicate_and_counts_nothing() {
    let t = spawn_app().with_tickets().start().await;
    let id = new_request(&t, "SHARE-22").await;
    let rid = ncp_share_approver::domain::RequestId::parse(&id).unwrap();
    let moved = t
        .jira
        .transition_by("SHARE-22", J_ALICE, "Approved")
        .to_string();
    assert_eq!(
        t.jira_send_as(moved.as_bytes(), "replay-1").await,
        (200, "counted".into())
    );
    let (status, text) = t.jira_send_as(moved.as_bytes(), "replay-2").await;
    assert_eq!(
        (status, text.as_str()),
        (200, "duplicate delivery: already handled")
    );
    assert_eq!(t.store().approvals(&rid).await.unwrap().len(), 1);
    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_stamped_older_than_the_dedup_window_is_refused() {
    let t = spawn_app().with_tickets().start().await;
    let mut created =
        t.jira
            .create_issue("SHARE-23", J_CAROL, fields("1234567", "a@partner.example"));
    created["timestamp"] = json!(chrono::Utc::now().timestamp_millis() - 25 * 3_600 * 1_000);
    let (status, text) = t.jira_send(&created).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("`timestamp` is more than 24 hours old"),
        "{text}"
    );
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());
}
