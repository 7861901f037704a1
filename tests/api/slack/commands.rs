//! Slack end to end: slash commands and buttons against the running service, the NCP simulator
//! and a fake Slack that records every call.

use crate::harness::fixtures::*;
use crate::harness::{App, spawn_app};
use ncp_share_approver::domain::{RequestId, RequestState};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Whether the fake Slack gets a `chat.postMessage` to `channel` within [`WAIT`].
async fn posted_to(t: &App, channel: &str) -> bool {
    t.slack
        .wait_for(
            |c| {
                c.iter()
                    .any(|c| c.method == "chat.postMessage" && c.body["channel"] == channel)
            },
            WAIT,
        )
        .await
}

fn text_of(reply: &serde_json::Value) -> String {
    // The fallback text plus any blocks, as one string to search.
    format!(
        "{} {}",
        reply["text"].as_str().unwrap_or_default(),
        reply["blocks"]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_two_of_m_request_goes_from_command_to_shared_to_final_card() {
    let t = spawn_app().start().await;
    let reply = t
        .command(
            CAROL,
            "1234567 with a@partner.example for 7d because partner pilot",
        )
        .await;
    assert_eq!(reply["response_type"], "ephemeral");
    let text = text_of(&reply);
    let id = request_id_in(&text);
    assert!(
        text.contains("golden images to partners"),
        "names the rule: {text}"
    );

    // The card goes to the rule's approval channel with Approve and Deny buttons.
    assert!(posted_to(&t, APPROVALS).await);
    let card = t
        .slack
        .calls_to("chat.postMessage")
        .into_iter()
        .find(|c| c.body["channel"] == APPROVALS)
        .unwrap();
    let blocks = card.body["blocks"].to_string();
    for needle in [
        "1234567",
        "golden-web",
        "a@partner.example",
        "approve",
        "deny",
        "partner pilot",
        &id,
    ] {
        assert!(blocks.contains(needle), "card lacks {needle}: {blocks}");
    }

    // First approval: counted, the card is updated in place.
    let answer = t.click(ALICE, "approve", &id).await;
    assert!(answer.contains("1 more"), "{answer}");
    assert!(
        t.slack
            .wait_for(|c| c.iter().any(|c| c.method == "chat.update"), WAIT)
            .await
    );

    // Second approval: approved, executed by the worker, shared on NCP.
    let answer = t.click(BOB, "approve", &id).await;
    assert!(answer.contains("approved"), "{answer}");
    assert!(
        t.wait_state(&id, RequestState::Succeeded).await,
        "the worker executes it"
    );
    assert_eq!(t.sim.shared_with("1234567"), vec!["a@partner.example"]);

    // The card ends as shared, and the requester is told.
    assert!(posted_to(&t, CAROL).await, "the requester gets the outcome");
    let last_update = t
        .slack
        .calls_to("chat.update")
        .last()
        .unwrap()
        .body
        .to_string();
    assert!(
        last_update.to_lowercase().contains("shared"),
        "{last_update}"
    );
    assert!(
        !last_update.contains("\"action_id\":\"approve\""),
        "no buttons on the final card"
    );
    // Everything Slack received in this test is valid for Slack's own SDK.
    t.check_payloads();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_denial_rewrites_the_card_and_tells_the_requester() {
    let t = spawn_app().start().await;
    let id = request_id_in(&text_of(
        &t.command(CAROL, "1234567 with a@partner.example for 7d")
            .await,
    ));
    assert!(
        t.slack
            .wait_for(|c| c.iter().any(|c| c.method == "chat.postMessage"), WAIT)
            .await
    );
    let answer = t.click(ALICE, "deny", &id).await;
    assert!(answer.contains("denied"), "{answer}");
    assert!(t.wait_state(&id, RequestState::Denied).await);
    assert!(posted_to(&t, CAROL).await);
    // The card and the requester's DM go out on separate lanes: the DM can come first.
    assert!(
        t.slack
            .wait_for(
                |c| c
                    .iter()
                    .rev()
                    .find(|c| c.method == "chat.update")
                    .is_some_and(|c| c.body.to_string().to_lowercase().contains("denied")),
                WAIT
            )
            .await
    );
    let last_update = t
        .slack
        .calls_to("chat.update")
        .last()
        .unwrap()
        .body
        .to_string();
    assert!(
        last_update.to_lowercase().contains("denied"),
        "{last_update}"
    );
    // A later approval changes nothing.
    let answer = t.click(BOB, "approve", &id).await;
    assert!(answer.contains("already denied"), "{answer}");
    assert!(t.sim.shared_with("1234567").is_empty());
    // Everything Slack received in this test is valid for Slack's own SDK.
    t.check_payloads();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_approval_and_a_non_approver_are_refused_privately_and_change_nothing() {
    let t = spawn_app().start().await;
    // Alice is an admin and may ask; she may not approve her own request.
    let id = request_id_in(&text_of(
        &t.command(ALICE, "1234567 with a@partner.example for 7d")
            .await,
    ));
    let answer = t.click(ALICE, "approve", &id).await;
    assert!(
        answer.starts_with("Not allowed") && answer.contains("self-approval"),
        "{answer}"
    );
    let answer = t.click(ERIN, "approve", &id).await;
    assert!(
        answer.starts_with("Not allowed") && answer.contains("not an approver"),
        "{answer}"
    );
    let answer = t.click(ERIN, "deny", &id).await;
    assert!(answer.starts_with("Not allowed"), "{answer}");
    let rid = RequestId::parse(&id).unwrap();
    assert!(t.store().approvals(&rid).await.unwrap().is_empty());
    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );
    // Everything Slack received in this test is valid for Slack's own SDK.
    t.check_payloads();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_click_and_a_repeated_delivery_execute_once() {
    let t = spawn_app().start().await;
    let id = request_id_in(&text_of(
        &t.command(CAROL, "1234567 with a@partner.example for 7d")
            .await,
    ));
    // Alice clicks twice (two deliveries); Bob's click is delivered twice (the same bytes).
    let a1 = t.click_delivery(ALICE, "approve", &id);
    let a2 = t.click_delivery(ALICE, "approve", &id);
    let b = t.click_delivery(BOB, "approve", &id);
    let (r1, r2, r3, r4) = tokio::join!(t.send(&a1), t.send(&a2), t.send(&b), t.send(&b));
    for r in [r1, r2, r3, r4] {
        assert_eq!(r.status(), 200);
    }
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let adds = t
        .sim
        .calls()
        .iter()
        .filter(|c| c.operation == "addMemberServerImageSharingPermission")
        .count();
    assert_eq!(adds, 1, "one execution");
    let rid = RequestId::parse(&id).unwrap();
    assert_eq!(
        t.store().approvals(&rid).await.unwrap().len(),
        2,
        "one approval per person"
    );
    // Bob's click, delivered twice, is answered once.
    let bobs = serde_json::from_str::<serde_json::Value>(
        &form_urlencoded::parse(b.body.as_bytes())
            .find(|(k, _)| k == "payload")
            .unwrap()
            .1,
    )
    .unwrap()["response_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(
        t.slack
            .wait_for(
                |c| c.iter().any(|c| c.method == format!("response/{bobs}")),
                WAIT
            )
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        t.slack.calls_to(&format!("response/{bobs}")).len(),
        1,
        "one answer to a click delivered twice"
    );

    // A repeated slash command delivery makes no second request.
    let d = t.command_delivery(CAROL, "1234567 with b@partner.example for 7d");
    let first: serde_json::Value = t.send(&d).await.json().await.unwrap();
    let again: serde_json::Value = t.send(&d).await.json().await.unwrap();
    assert!(text_of(&first).contains("SR-"));
    assert!(
        again["text"].as_str().unwrap().contains("already received"),
        "{again}"
    );
    assert_eq!(t.store().requests(None, 100).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auto_approved_request_skips_the_card_and_reports_the_result() {
    let t = spawn_app().start().await;
    let reply = t.command(CAROL, "3456789 with dev@corp.example").await;
    let id = request_id_in(&text_of(&reply));
    assert!(
        text_of(&reply).to_lowercase().contains("automatically"),
        "{reply}"
    );
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(t.sim.shared_with("3456789"), vec!["dev@corp.example"]);
    assert!(posted_to(&t, CAROL).await);
    assert!(
        !t.slack
            .calls_to("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == APPROVALS),
        "no approval card for an automatic approval"
    );
    // Everything Slack received in this test is valid for Slack's own SDK.
    t.check_payloads();
}

#[tokio::test]
async fn help_status_list_and_malformed_commands_answer_privately_with_what_is_wrong() {
    let t = spawn_app().start().await;
    for (text, needle) in [
        ("", "/share-image"),
        ("help", "revoke"),
        ("12ab with a@partner.example", "not an image number"),
        ("1234567 with", "login"),
        ("1234567 with a@partner.example for 7y", "duration"),
        ("1234567 frm a@partner.example", "frm"),
        ("status SR-XXXXXXXX", "No request"),
    ] {
        let reply = t.command(CAROL, text).await;
        assert_eq!(reply["response_type"], "ephemeral");
        let s = text_of(&reply);
        assert!(s.contains(needle), "{text:?} -> {s}");
    }
    let reply = t.command(CAROL, "list 1234567").await;
    assert!(text_of(&reply).contains("golden-web"), "{reply}");
    // A policy refusal says why and which rule came closest.
    let reply = t.command(CAROL, "1234567 with a@elsewhere.example").await;
    let s = text_of(&reply);
    assert!(
        s.contains("a@elsewhere.example") && s.contains("golden images to partners"),
        "{s}"
    );
    assert!(
        t.sim
            .calls()
            .iter()
            .all(|c| !c.operation.contains("SharingPermission"))
    );
    // Everything Slack received in this test is valid for Slack's own SDK.
    t.check_payloads();
}

/// Read-only commands write nothing, so a replayed one is answered again (it changes nothing);
/// a replayed request is the one that is refused as a repeat, and makes no second request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_help_is_answered_again_and_a_replayed_request_is_refused() {
    let app = spawn_app().start().await;
    let help = app.command_delivery("U056CAROL", "help");
    for _ in 0..2 {
        let res = app.send(&help).await;
        assert_eq!(res.status(), 200);
        let reply: serde_json::Value = res.json().await.unwrap();
        let text = reply["text"].as_str().unwrap_or_default();
        assert!(text.contains("/share-image"), "{reply}");
        assert!(!text.contains("already received"), "{reply}");
    }
    let ask = app.command_delivery(
        "U056CAROL",
        "1234567 with a@partner.example for 7d because pilot",
    );
    let first: serde_json::Value = app.send(&ask).await.json().await.unwrap();
    assert!(!first.to_string().contains("already received"), "{first}");
    let again: serde_json::Value = app.send(&ask).await.json().await.unwrap();
    assert!(again.to_string().contains("already received"), "{again}");
    assert_eq!(app.store().requests(None, 10).await.unwrap().len(), 1);
}

/// Someone in the workspace who is not among the policy's people.
const STRANGER: &str = "U999STRANGER";

#[tokio::test]
async fn status_and_list_answer_only_the_policys_people_by_default() {
    let t = spawn_app().start().await;
    let reply = t
        .command(CAROL, "1234567 with a@partner.example for 7d because pilot")
        .await;
    let id = request_id_in(&text_of(&reply));
    for text in [format!("status {id}"), "list 1234567".to_string()] {
        let reply = t.command(STRANGER, &text).await;
        assert_eq!(reply["response_type"], "ephemeral");
        let s = text_of(&reply);
        assert!(
            s.contains("answer only people named in the approver policy"),
            "{text}: {s}"
        );
        assert!(
            !s.contains("a@partner.example") && !s.contains("golden-web"),
            "{s}"
        );
        // One of the people is answered.
        let s = text_of(&t.command(ALICE, &text).await);
        assert!(
            s.contains("a@partner.example") || s.contains("golden-web"),
            "{text}: {s}"
        );
    }
}

#[tokio::test]
async fn status_for_workspace_answers_everyone_in_the_workspace() {
    let t = spawn_app()
        .configure(|c| c.slack.status_for = ncp_share_approver::config::StatusFor::Workspace)
        .start()
        .await;
    let s = text_of(&t.command(STRANGER, "list 1234567").await);
    assert!(s.contains("golden-web"), "{s}");
}

#[tokio::test]
async fn an_ncp_authentication_failure_shown_in_chat_never_names_the_access_key() {
    use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
    use ncp_share_approver::secrets::SecretName;
    let secrets = slack_secrets().with(
        SecretName::NcpSecretKey,
        format!("{DEMO_SECRET_KEY}-rotated-away"),
    );
    let t = spawn_app().secrets(secrets).start().await;
    let s = text_of(&t.command(ALICE, "list 1234567").await);
    assert!(s.contains("authentication failed"), "{s}");
    let masked = ncp_share_approver::ncp::mask_access_key(DEMO_ACCESS_KEY);
    assert!(!s.contains(DEMO_ACCESS_KEY) && !s.contains(&masked), "{s}");
}
