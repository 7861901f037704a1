//! NAVER WORKS bad input: every forged, malformed or unexpected callback gets exactly its status
//! (401 for anything unsigned or not for our bot, 400 for a signed body that is not a callback,
//! 200 and a polite 1:1 reply for a person who cannot be served), never a 5xx, and nothing
//! stored changes: no request, no approval, no ledger record.

use crate::harness::fixtures::*;
use crate::harness::{App, spawn_app};
use ncp_share_approver::store::all_records;
use serde_json::json;

async fn snapshot(t: &App) -> (usize, usize) {
    let store = t.store();
    let requests = store.requests(None, 1000).await.unwrap();
    let mut approvals = 0;
    for r in &requests {
        approvals += store.approvals(&r.id).await.unwrap().len();
    }
    (
        requests.len() + approvals,
        all_records(&*store).await.unwrap().len(),
    )
}

/// A case: its name, the body, headers that replace the good ones, the status it must get.
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16);

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn forged_malformed_and_unexpected_callbacks_get_exact_statuses_and_change_nothing() {
    let t = spawn_app().with_works().start().await;
    // One pending request to press on.
    t.works_send(&t.works_text(W_CAROL, "1234567 with a@partner.example for 7d"))
        .await;
    t.deliver_all().await;
    let card = t.works.channel_messages(WORKS_ROOM)[0].clone();
    let approve = card.postbacks()[0].clone();
    let before = snapshot(&t).await;

    let good = t.works_text(W_ALICE, "status SR-7K3M9Q2X").to_string();
    let good = good.as_bytes();
    let wrong_sig = ncp_share_approver::verify::works::sign(
        &ncp_share_approver::secrets::SecretString::from("another-secret"),
        good,
    );
    let stale = json!({"type": "message", "source": {"userId": W_CAROL}, "issuedTime": "2022-01-04T05:16:05.716Z",
        "content": {"type": "text", "text": "1234567 with a@partner.example"}})
    .to_string();
    let cases: Vec<Case> = vec![
        ("unsigned", good.to_vec(), vec![("x-works-signature", "")], 401),
        ("wrong signature", good.to_vec(), vec![("x-works-signature", &wrong_sig)], 401),
        ("signature of another body", good.to_vec(), vec![("x-works-signature", "UKu/U3r3PlmmPFYOllamEiWSeceSUKXTlqjTSiIqrR0=")], 401),
        ("hex signature", good.to_vec(), vec![("x-works-signature", "50abbf537af73e59a63c560e96566a1224964de79e9250a5d396a8d34a222aad")], 401),
        ("wrong bot id", good.to_vec(), vec![("x-works-botid", "2000002")], 401),
        ("replayed old callback", stale.into_bytes(), vec![], 401),
        ("not JSON", b"{\"type\": message".to_vec(), vec![], 400),
        ("JSON but not a callback", b"[1,2,3]".to_vec(), vec![], 400),
        ("no issuedTime", br#"{"type":"message","source":{"userId":"w-carol-0004"}}"#.to_vec(), vec![], 400),
        ("issuedTime not a time", format!(r#"{{"type":"message","source":{{"userId":"{W_CAROL}"}},"issuedTime":"yesterday"}}"#).into_bytes(), vec![], 401),
        ("unknown event type", format!(r#"{{"type":"reaction","source":{{"userId":"{W_CAROL}"}},"issuedTime":"{}"}}"#, now()).into_bytes(), vec![], 200),
        ("join of a room", format!(r#"{{"type":"join","source":{{"channelId":"room-x","domainId":1}},"issuedTime":"{}"}}"#, now()).into_bytes(), vec![], 200),
        ("a sticker", format!(r#"{{"type":"message","source":{{"userId":"{W_CAROL}"}},"issuedTime":"{}","content":{{"type":"sticker","packageId":"1","stickerId":"2"}}}}"#, now()).into_bytes(), vec![], 200),
        ("\"Approve\" typed in the room, no postback", t.works_press(W_ALICE, WORKS_ROOM, "Approve", "x").to_string().replace(",\"postback\":\"x\"", "").into_bytes(), vec![], 200),
        ("too big", vec![b' '; 70 * 1024], vec![], 413),
    ];
    for (case, body, headers, want) in cases {
        let headers: Vec<(&str, &str)> = headers;
        let status = if case == "unsigned" {
            // No signature header at all.
            let res = reqwest::Client::new()
                .post(format!("{}/works/callback", t.base))
                .header("x-works-botid", WORKS_BOT)
                .body(body)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        } else {
            t.works_send_raw(&body, &headers).await
        };
        assert_eq!(status, want, "{case}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing stored changed");

    // A person who cannot be served gets a polite reply, and nothing changes.
    let long = "x".repeat(20_000);
    let polite: Vec<(&str, serde_json::Value, &str, &str)> = vec![
        (
            "over-long text",
            t.works_text(W_CAROL, &long),
            W_CAROL,
            "too long",
        ),
        (
            "unknown person asks",
            t.works_text(W_STRANGER, "1234567 with a@partner.example"),
            W_STRANGER,
            "not one of the people",
        ),
        (
            "unknown person presses",
            t.works_press(W_STRANGER, WORKS_ROOM, "Approve", &approve),
            W_STRANGER,
            "not one of the people",
        ),
        (
            "a command that does not parse",
            t.works_text(W_CAROL, "share please"),
            W_CAROL,
            "Usage",
        ),
        (
            "press in another room",
            t.works_press(W_ALICE, "room-elsewhere", "Approve", &approve),
            W_ALICE,
            "approvers' room",
        ),
        (
            "press on an out-of-date card",
            t.works_press(
                W_BOB,
                WORKS_ROOM,
                "Approve",
                &format!("{}0", &approve[..approve.len() - 1]),
            ),
            W_BOB,
            "out of date",
        ),
        (
            "forged postback",
            t.works_press(W_DAVE, WORKS_ROOM, "Approve", "v1|approve|../../x|y"),
            W_DAVE,
            "not one this service knows",
        ),
        (
            "the requester approves",
            t.works_press(W_CAROL, WORKS_ROOM, "Approve", &approve),
            W_CAROL,
            "Not allowed",
        ),
    ];
    for (case, body, user, needle) in polite {
        assert_eq!(t.works_send(&body).await, 200, "{case}");
        t.deliver_all().await;
        let got: Vec<String> = t
            .works
            .user_messages(user)
            .iter()
            .map(|m| m.text().to_owned())
            .collect();
        assert!(got.iter().any(|m| m.contains(needle)), "{case}: {got:?}");
    }
    assert_eq!(snapshot(&t).await, before, "nothing stored changed");
    // And a repeat of a delivered callback (the same bytes) is done once.
    let press = t
        .works_press(W_ALICE, WORKS_ROOM, "Approve", &approve)
        .to_string();
    assert_eq!(t.works_send_raw(press.as_bytes(), &[]).await, 200);
    assert_eq!(t.works_send_raw(press.as_bytes(), &[]).await, 200);
    let r = &t.store().requests(None, 10).await.unwrap()[0];
    assert_eq!(t.store().approvals(&r.id).await.unwrap().len(), 1);
}
