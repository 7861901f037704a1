//! NAVER WORKS end to end: requests by message to the bot and approvals by button press, against
//! the running service, the NCP simulator and the fake NAVER WORKS (which verifies our JWT with
//! the public key and holds every message to the documented limits).

use crate::harness::fixtures::*;
use crate::harness::{App, spawn_app};
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::notify::works::WorksMessage;

/// The approval message in the room for the latest request, and its request id.
fn card(t: &App) -> (WorksMessage, String, String, String) {
    let card = t
        .works
        .channel_messages(WORKS_ROOM)
        .into_iter()
        .rfind(|m| m.content["type"] == "button_template")
        .expect("an approval message in the room");
    let postbacks = card.postbacks();
    let id = postbacks[0].split('|').nth(2).unwrap().to_owned();
    (card.clone(), id, postbacks[0].clone(), postbacks[1].clone())
}

fn texts(messages: &[WorksMessage]) -> Vec<String> {
    messages.iter().map(|m| m.text().to_owned()).collect()
}

async fn ask(t: &App) -> (String, String, String) {
    let status = t
        .works_send(&t.works_text(
            W_CAROL,
            "1234567 with a@partner.example for 7d because demo",
        ))
        .await;
    assert_eq!(status, 200);
    t.deliver_all().await;
    let (card, id, approve, deny) = card(t);
    let text = card.text();
    for needle in [
        "Image share request",
        "carol",
        "1234567",
        "a@partner.example",
        "Fingerprint",
        "Approvals: 0 of 2 approvals",
        "needs 2 approvals from alice, bob, dave",
        "Reason, in the requester's words: “demo”",
    ] {
        assert!(text.contains(needle), "the card lacks {needle}: {text}");
    }
    let to_carol = texts(&t.works.user_messages(W_CAROL));
    assert!(
        to_carol.iter().any(|m| m.contains(&id)
            && m.contains("waiting for approval")
            && m.contains("needs 2 approvals")),
        "{to_carol:?}"
    );
    (id, approve, deny)
}

#[tokio::test]
async fn a_two_of_m_approval_goes_from_the_message_to_the_share_and_the_outcome_messages() {
    let t = spawn_app().with_works().start().await;
    let (id, approve, _) = ask(&t).await;
    assert_eq!(
        t.works_send(&t.works_press(W_ALICE, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    t.deliver_all().await;
    let to_alice = texts(&t.works.user_messages(W_ALICE));
    assert!(
        to_alice
            .iter()
            .any(|m| m.contains("counted") && m.contains("1 more")),
        "{to_alice:?}"
    );
    assert_eq!(
        t.works_send(&t.works_press(W_BOB, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(t.sim.shared_with("1234567"), vec!["a@partner.example"]);
    t.deliver_all().await;
    let room = texts(&t.works.channel_messages(WORKS_ROOM));
    assert!(
        room.iter()
            .any(|m| m.contains("alice approved") && m.contains("1 of 2")),
        "{room:?}"
    );
    assert!(
        room.iter()
            .any(|m| m.contains(&format!("Request {id} done"))),
        "{room:?}"
    );
    let to_carol = texts(&t.works.user_messages(W_CAROL));
    assert!(
        to_carol
            .iter()
            .any(|m| m.contains(&format!("Request {id} done"))),
        "{to_carol:?}"
    );
    // The card stays clickable: a late press is told what already happened, and changes nothing.
    assert_eq!(
        t.works_send(&t.works_press(W_DAVE, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    t.deliver_all().await;
    let to_dave = texts(&t.works.user_messages(W_DAVE));
    assert!(to_dave.iter().any(|m| m.contains("already")), "{to_dave:?}");
    let rid = RequestId::parse(&id).unwrap();
    assert_eq!(t.store().approvals(&rid).await.unwrap().len(), 2);
    // Every message of the test cost one token.
    assert_eq!(t.works.token_requests(), 1);
    assert!(t.works.messages().len() >= 8);
}

#[tokio::test]
async fn approvers_split_between_slack_and_naver_works_count_once_per_person() {
    let t = spawn_app().with_works().start().await;
    let (id, approve, _) = ask(&t).await;
    // alice approves in Slack, then presses in NAVER WORKS too: she counts once.
    let answer = t.click(ALICE, "approve", &id).await;
    assert!(answer.contains("1 more"), "{answer}");
    assert_eq!(
        t.works_send(&t.works_press(W_ALICE, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    t.deliver_all().await;
    let to_alice = texts(&t.works.user_messages(W_ALICE));
    assert!(
        to_alice.iter().any(|m| m.contains("already approved")),
        "{to_alice:?}"
    );
    let rid = RequestId::parse(&id).unwrap();
    assert_eq!(
        t.store().request(&rid).await.unwrap().unwrap().state,
        RequestState::Pending
    );
    // bob in NAVER WORKS completes it.
    assert_eq!(
        t.works_send(&t.works_press(W_BOB, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    assert!(t.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(t.sim.shared_with("1234567"), vec!["a@partner.example"]);
    t.deliver_all().await;
    let room = texts(&t.works.channel_messages(WORKS_ROOM));
    assert!(
        room.iter()
            .any(|m| m.contains(&format!("Request {id} done"))),
        "{room:?}"
    );
}

#[tokio::test]
async fn a_deny_press_ends_the_request_and_everyone_hears() {
    let t = spawn_app().with_works().start().await;
    let (id, approve, deny) = ask(&t).await;
    assert_eq!(
        t.works_send(&t.works_press(W_BOB, WORKS_ROOM, "Deny", &deny))
            .await,
        200
    );
    assert!(t.wait_state(&id, RequestState::Denied).await);
    assert_eq!(
        t.works_send(&t.works_press(W_ALICE, WORKS_ROOM, "Approve", &approve))
            .await,
        200
    );
    t.deliver_all().await;
    let to_alice = texts(&t.works.user_messages(W_ALICE));
    assert!(
        to_alice.iter().any(|m| m.contains("already denied")),
        "{to_alice:?}"
    );
    let to_carol = texts(&t.works.user_messages(W_CAROL));
    assert!(
        to_carol.iter().any(|m| m.contains("was denied")),
        "{to_carol:?}"
    );
    assert!(t.sim.shared_with("1234567").is_empty());
}

#[tokio::test]
async fn help_begin_and_status_answer_one_to_one() {
    let t = spawn_app().with_works().start().await;
    assert_eq!(t.works_send(&t.works_text(W_CAROL, "help")).await, 200);
    let begin = serde_json::json!({"type": "begin", "source": {"userId": W_ERIN_ID, "channelId": "dm-1", "domainId": 1},
        "issuedTime": chrono::Utc::now().to_rfc3339()});
    assert_eq!(t.works_send(&begin).await, 200);
    t.deliver_all().await;
    let help = texts(&t.works.user_messages(W_CAROL));
    assert!(
        help[0].contains("with <login-id>") && !help[0].contains("/share-image"),
        "{help:?}"
    );
    assert!(texts(&t.works.user_messages(W_ERIN_ID))[0].contains("Usage"));
}

const W_ERIN_ID: &str = "w-erin-0005";

#[tokio::test]
async fn when_ncp_is_slow_the_callback_is_answered_and_the_outcome_comes_later() {
    use ncp_share_approver::ncp::sim::Faults;
    let t = spawn_app().with_works().start().await;
    t.sim.set_faults(Faults {
        latency: std::time::Duration::from_secs(3),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(
        t.works_send(&t.works_text(W_CAROL, "1234567 with a@partner.example for 7d"))
            .await,
        200
    );
    // An unknown image: it is settled after the answer too, and carol is told.
    assert_eq!(
        t.works_send(&t.works_text(W_CAROL, "7777777 with a@partner.example for 7d"))
            .await,
        200
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    t.deliver_all().await;
    t.deliver_all().await;
    let to_carol = texts(&t.works.user_messages(W_CAROL));
    assert!(
        to_carol.iter().any(|m| m.contains("Working on it")),
        "{to_carol:?}"
    );
    assert!(
        to_carol.iter().any(|m| m.contains("needs 2 approvals")),
        "{to_carol:?}"
    );
    assert!(
        to_carol
            .iter()
            .any(|m| m.contains("7777777") || m.contains("Nothing was requested")),
        "{to_carol:?}"
    );
    let pending = t.store().requests(None, 10).await.unwrap();
    assert!(pending.iter().any(|r| r.state == RequestState::Pending));
}
