//! The App Home and the Events API: `url_verification`, the home published when opened and
//! republished (through the outbox) when a request that concerns its owner changes; its
//! Approve, Revoke and Extend buttons.

use crate::harness::fixtures::{ALICE, BOB, CAROL, SIGNING_SECRET, request_id_in};
use crate::harness::spawn_app;
use ncp_share_approver::domain::RequestState;
use serde_json::{Value, json};

/// The request id in the reply of a typed command.
async fn ask(app: &crate::harness::App, text: &str) -> String {
    let reply = app.command(CAROL, text).await;
    request_id_in(&reply.to_string())
}

/// The value of the first button with `action` on `home`.
fn button(home: &Value, action: &str) -> String {
    fn find(v: &Value, action: &str) -> Option<String> {
        match v {
            Value::Object(m) => {
                if m.get("action_id").and_then(Value::as_str) == Some(action) {
                    return m.get("value").and_then(Value::as_str).map(str::to_owned);
                }
                m.values().find_map(|x| find(x, action))
            }
            Value::Array(a) => a.iter().find_map(|x| find(x, action)),
            _ => None,
        }
    }
    find(home, action).unwrap_or_else(|| panic!("no {action} button on {home}"))
}

#[tokio::test]
async fn url_verification_echoes_the_challenge_and_unsigned_events_are_refused() {
    let app = spawn_app().start().await;
    let res = app
        .event(&json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Unsigned (or signed with another secret): 401 before anything is parsed.
    let unsigned = reqwest::Client::new()
        .post(format!("{}/slack/events", app.base))
        .header("content-type", "application/json")
        .body(r#"{"type":"url_verification","challenge":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_ne!(SIGNING_SECRET, "");
    // Malformed but signed: a clear 400.
    let bad = app.event(&json!({"type": "url_verification"})).await;
    assert_eq!(bad.status(), 400);
    let bad = app
        .event(&json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_home_opened", "user": "U<1", "tab": "home"}}))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_home_is_published_when_opened_and_again_after_an_approval() {
    let app = spawn_app().start().await;
    let id = ask(&app, "1234567 with x@partner.example for 7d because pilot").await;

    // Alice opens her home: the request waits for her approval.
    assert_eq!(app.open_home(ALICE).await.status(), 200);
    let home = app.wait_home(ALICE, |h| h.contains(&id)).await;
    assert_eq!(home["type"], "home");
    let text = home.to_string();
    assert!(text.contains("Waiting for your approval"), "{text}");
    assert_eq!(button(&home, "home_approve"), id);

    // Carol's home lists her request.
    app.open_home(CAROL).await;
    let carol = app.wait_home(CAROL, |h| h.contains(&id)).await;
    assert!(carol.to_string().contains("Your requests"));

    // Alice approves from her home: a private answer, and the homes of everyone the request
    // concerns are published again with the new count (republished through the outbox).
    let before = app.slack.calls_to("views.publish").len();
    assert_eq!(
        app.home_click(ALICE, "home_approve", &id).await.status(),
        200
    );
    assert!(
        app.slack
            .wait_for(
                |calls| calls.iter().any(|c| c.method == "chat.postMessage"
                    && c.body["channel"] == ALICE
                    && c.body["text"].as_str().unwrap_or("").contains(&id)),
                std::time::Duration::from_secs(5)
            )
            .await,
        "alice hears privately that her approval counted"
    );
    let alice = app.wait_home(ALICE, |h| !h.contains("home_approve")).await;
    assert!(!alice.to_string().contains(&format!("\"value\":\"{id}\"")));
    app.wait_home(BOB, |h| h.contains(&id) && h.contains("1 of 2"))
        .await;
    assert!(app.slack.calls_to("views.publish").len() > before);

    // Bob approves on the card: the share is made; Carol's home shows it as active with Revoke
    // and Extend.
    app.click(BOB, "approve", &id).await;
    assert!(app.wait_state(&id, RequestState::Succeeded).await);
    let carol = app.wait_home(CAROL, |h| h.contains("home_revoke")).await;
    let share = button(&carol, "home_revoke");
    assert_eq!(share, format!("1234567|x@partner.example|{id}"));
    assert_eq!(button(&carol, "home_extend"), share);
    // Alice approved it: it is among her active shares too.
    app.wait_home(ALICE, |h| h.contains("home_revoke")).await;
    app.check_payloads();
}

#[tokio::test]
async fn revoke_and_extend_from_the_home() {
    let app = spawn_app().start().await;
    // Inside the company: approved automatically, so the share is made at once.
    let id = ask(&app, "3456789 with builder@corp.example for 7d").await;
    assert!(app.wait_state(&id, RequestState::Succeeded).await);
    app.open_home(CAROL).await;
    let home = app.wait_home(CAROL, |h| h.contains("home_extend")).await;
    let share = button(&home, "home_extend");

    // Extend opens a small form for the new duration; its submission asks for the same share.
    assert_eq!(
        app.home_click(CAROL, "home_extend", &share).await.status(),
        200
    );
    let modal = app
        .slack
        .views()
        .into_iter()
        .last()
        .expect("the extend form");
    assert_eq!(modal["callback_id"], "extend_share");
    let answer: Value = app
        .submit_view(
            CAROL,
            &modal,
            &[("duration", "30d"), ("reason", "longer pilot")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response_action"], "update", "{answer}");
    let extension = request_id_in(&answer["view"].to_string());
    assert_ne!(extension, id);
    assert!(app.wait_state(&extension, RequestState::Succeeded).await);
    let stored = app
        .store()
        .request(&ncp_share_approver::domain::RequestId::parse(&extension).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.image_no.as_str(), "3456789");
    assert_eq!(stored.targets[0].as_str(), "builder@corp.example");
    assert_eq!(
        stored.duration.map(|d| d.to_string()).as_deref(),
        Some("30d")
    );

    // Revoke takes the share off (the rule approves revocations automatically too).
    let home = app
        .wait_home(CAROL, |h| {
            h.contains(&extension) && h.contains("home_revoke")
        })
        .await;
    let share = button(&home, "home_revoke");
    assert_eq!(
        app.home_click(CAROL, "home_revoke", &share).await.status(),
        200
    );
    for _ in 0..200 {
        if app.sim.shared_with("3456789").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(app.sim.shared_with("3456789").is_empty(), "revoked on NCP");
    // Carol hears privately, and her home no longer lists an active share.
    assert!(
        app.slack
            .wait_for(
                |calls| calls.iter().any(|c| c.method == "chat.postMessage"
                    && c.body["channel"] == CAROL
                    && c.body.to_string().contains("revoke")),
                std::time::Duration::from_secs(5)
            )
            .await
    );
    app.wait_home(CAROL, |h| !h.contains("home_revoke")).await;
    app.check_payloads();
}

/// Counts App Home deliveries per user.
#[derive(Default)]
struct CountingHomes(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl ncp_share_approver::workflow::outbox::Courier for CountingHomes {
    async fn deliver(
        &self,
        entry: &ncp_share_approver::workflow::outbox::OutboxEntry,
    ) -> ncp_share_approver::workflow::outbox::Delivery {
        if let ncp_share_approver::workflow::outbox::Message::SlackHome { user } = &entry.message {
            self.0.lock().unwrap().push(user.clone());
        }
        ncp_share_approver::workflow::outbox::Delivery::Done
    }
}

#[tokio::test]
async fn homes_owed_before_delivery_are_published_once_per_person() {
    use ncp_share_approver::store::{OutboxQuery, Store as _};
    use ncp_share_approver::workflow::outbox::{
        Dispatcher, Message, OutboxEntry, OutboxStatus, Peer,
    };
    let store = std::sync::Arc::new(ncp_share_approver::store::SqliteStore::in_memory().unwrap());
    let homes = std::sync::Arc::new(CountingHomes::default());
    let dispatcher = std::sync::Arc::new(
        Dispatcher::new(
            store.clone(),
            std::sync::Arc::new(ncp_share_approver::clock::SystemClock),
            crate::harness::ncp::test_pacing(),
        )
        .with_courier(Peer::SlackHome, homes.clone()),
    );
    // A burst of changes owes alice's home three times and bob's once before delivery runs.
    let now = chrono::Utc::now();
    let entries: Vec<OutboxEntry> = [ALICE, BOB, ALICE, ALICE]
        .iter()
        .enumerate()
        .map(|(i, u)| OutboxEntry::new(Message::SlackHome { user: (*u).into() }, now, 1, i))
        .collect();
    ncp_share_approver::store::enqueue(store.as_ref(), entries)
        .await
        .unwrap();
    let (report, all_out) = dispatcher.drain(std::time::Duration::from_secs(10)).await;
    assert!(all_out);
    let mut sent = homes.0.lock().unwrap().clone();
    sent.sort();
    assert_eq!(
        sent,
        [ALICE, BOB],
        "rendered when sent, so once per person is enough"
    );
    assert_eq!(report.superseded, 2);
    let superseded = store
        .outbox(OutboxQuery {
            status: Some(OutboxStatus::Superseded),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(superseded.len(), 2);
}
