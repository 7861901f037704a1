//! The Slack notifier against the fake Slack: cards posted, updated in place and closed,
//! requesters told, failures retried, order kept, and the bot token kept out of every body.

use chrono::{DateTime, TimeZone, Utc};
use ncp_share_approver::domain::{
    Approval, ImageNo, LoginId, Origin, Outcome, RequestId, RequestState, ShareDuration,
    ShareRequest,
};
use ncp_share_approver::ncp::{Hypervisor, RetryPolicy};
use ncp_share_approver::notify::slack::{
    CARD_REF_KIND, FakeSlack, MessageRef, SlackApi, SlackCourier, SlackError,
};
use ncp_share_approver::notify::{Fanout, Notice, Notifier, RecordingNotifier};
use ncp_share_approver::policy::{Action, Identity, PersonName};
use ncp_share_approver::store::OutboxQuery;
use ncp_share_approver::store::{SqliteStore, Store};
use ncp_share_approver::workflow::outbox::{self, Channels, Dispatcher, OutboxStatus, Peer};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-test-0000-bot-token-never-shown";
const CHANNEL: &str = "C0APPROVALS";

fn person(name: &str) -> PersonName {
    serde_json::from_value(json!(name)).unwrap()
}

include!("../../fixtures/sample_request.rs");

fn request(id: &str) -> ShareRequest {
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
    let targets = vec![LoginId::parse("a@partner.example").unwrap()];
    let mut r = sample_request(id, now, targets);
    r.hypervisor = None;
    r.approvers = vec![person("alice"), person("bob")];
    r.approval_channel = Some(CHANNEL.into());
    r.fingerprint = r.computed_fingerprint();
    r
}

fn approval(r: &ShareRequest, name: &str, slack_id: &str, approve: bool) -> Approval {
    Approval {
        request_id: r.id.clone(),
        person: person(name),
        identity: Identity::new("slack", slack_id).unwrap(),
        approve,
        at: r.created_at + chrono::Duration::minutes(5),
        comment: (!approve).then(|| "not this partner".to_owned()),
    }
}

/// The same request after a transition, as the workflow would pass it.
fn moved(r: &ShareRequest, state: RequestState, outcome: Option<Outcome>) -> ShareRequest {
    let mut next = r.clone();
    next.state = state;
    next.version += 1;
    next.updated_at = r.updated_at + chrono::Duration::minutes(10);
    next.outcome = outcome;
    next
}

struct Env {
    fake: FakeSlack,
    store: Arc<SqliteStore>,
    dispatcher: Arc<Dispatcher>,
}

fn fast_api(fake: &FakeSlack, token: &str) -> SlackApi {
    SlackApi::new(&fake.api_base_url(), SecretString::from(token.to_owned()))
        .with_retry(RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            budget: Duration::from_secs(10),
        })
        .with_max_retry_after(Duration::from_secs(2))
}

async fn env() -> Env {
    let fake = FakeSlack::start(TOKEN).await;
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let courier = SlackCourier::new(fast_api(&fake, TOKEN), store.clone());
    let dispatcher = Arc::new(
        Dispatcher::new(
            store.clone(),
            Arc::new(ncp_share_approver::clock::SystemClock),
            crate::harness::ncp::test_pacing(),
        )
        .with_courier(Peer::Slack, Arc::new(courier)),
    );
    Env {
        fake,
        store,
        dispatcher,
    }
}

impl Env {
    /// Writes the outbox entries of `notice`, as the workflow does with a state change.
    async fn tell(&self, r: &ShareRequest, notice: Notice) {
        let channels = Channels {
            slack: true,
            ..Default::default()
        };
        let entries = outbox::entries(&channels, r, &notice, chrono::Utc::now());
        ncp_share_approver::store::enqueue(self.store.as_ref(), entries)
            .await
            .unwrap();
    }

    /// Delivers everything owed.
    async fn idle(&self) {
        let (_, all_out) = self.dispatcher.drain(Duration::from_secs(20)).await;
        assert!(all_out, "every message owed was delivered or given up");
    }

    async fn card(&self, r: &ShareRequest) -> MessageRef {
        let stored = self
            .store
            .message_ref(&r.id, CARD_REF_KIND)
            .await
            .unwrap()
            .expect("a card reference is saved");
        MessageRef::from_stored(&stored).expect("it reads back")
    }

    /// Submits `r` with a card posted, as the workflow would.
    async fn submitted(&self, r: &ShareRequest) -> MessageRef {
        self.store.insert_request(r).await.unwrap();
        self.tell(r, Notice::Submitted).await;
        self.idle().await;
        self.card(r).await
    }
}

fn has_buttons(blocks: &Value) -> bool {
    blocks
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "actions"))
}

fn text_of(body: &Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn the_approval_card_is_posted_to_the_rules_channel_and_its_reference_saved() {
    let env = env().await;
    let r = request("SR-AAAAAAA1");
    let card = env.submitted(&r).await;

    let posts = env.fake.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 1);
    let body = &posts[0].body;
    assert_eq!(body["channel"], CHANNEL);
    assert!(has_buttons(&body["blocks"]));
    assert!(body["text"].as_str().unwrap().contains("SR-AAAAAAA1"));
    assert_eq!(card.channel, CHANNEL);
    assert!(env.fake.message(&card.channel, &card.ts).is_some());
}

#[tokio::test]
async fn a_request_without_an_approval_channel_posts_no_card() {
    let env = env().await;
    let mut r = request("SR-AAAAAAA2");
    r.approval_channel = None;
    env.store.insert_request(&r).await.unwrap();
    env.tell(&r, Notice::Submitted).await;
    env.tell(&r, Notice::Refused).await;
    env.idle().await;
    assert!(env.fake.calls().is_empty());
    assert_eq!(
        env.store.message_ref(&r.id, CARD_REF_KIND).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn an_approval_updates_the_card_in_place() {
    let env = env().await;
    let r = request("SR-AAAAAAA3");
    let card = env.submitted(&r).await;

    let a = approval(&r, "alice", "U012ALICE", true);
    env.store.insert_approval(&a).await.unwrap();
    env.tell(&r, Notice::ApprovalAdded(a)).await;
    env.idle().await;

    let updates = env.fake.calls_to("chat.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].body["channel"], card.channel.as_str());
    assert_eq!(updates[0].body["ts"], card.ts.as_str());
    let now = env.fake.message(&card.channel, &card.ts).unwrap();
    let shown = text_of(&now["blocks"]);
    assert!(
        shown.contains("*Approvals:* 1 of 2 approvals (alice); 1 more needed from bob"),
        "{shown}"
    );
    // People by their policy names: the card pings nobody.
    assert!(!shown.contains("<@"), "{shown}");
    assert!(has_buttons(&now["blocks"]), "still waiting: buttons stay");
    // Only one card: nothing new was posted.
    assert_eq!(env.fake.calls_to("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn every_end_rewrites_the_card_and_tells_the_requester_in_a_dm_and_the_thread() {
    let ends: Vec<(RequestState, Notice, Outcome, &str)> = vec![
        (
            RequestState::Succeeded,
            Notice::Succeeded,
            Outcome {
                message: "image 1234567 shared with a@partner.example".into(),
                shared_with_after: Some(vec!["a@partner.example".into()]),
                ..Default::default()
            },
            "Shared.",
        ),
        (
            RequestState::Failed,
            Notice::Failed,
            Outcome {
                message: "NCP add failed: no permission".into(),
                ncp_code: Some("1200001".into()),
                ..Default::default()
            },
            "NCP code `1200001`",
        ),
        (
            RequestState::Denied,
            Notice::Cancelled, // replaced below by the denial notice
            Outcome {
                message: "denied by bob: not this partner".into(),
                ..Default::default()
            },
            // Bob's comment, quoted: his words in a rich text quote, never mrkdwn.
            r#"{"elements":[{"text":"not this partner","type":"text"}],"type":"rich_text_quote"}"#,
        ),
        (
            RequestState::Expired,
            Notice::Expired,
            Outcome {
                message: "expired: not enough approvals".into(),
                ..Default::default()
            },
            "*Expired*",
        ),
        (
            RequestState::Cancelled,
            Notice::Cancelled,
            Outcome {
                message: "cancelled by the requester".into(),
                ..Default::default()
            },
            "*Cancelled*",
        ),
    ];
    for (i, (state, notice, outcome, expected)) in ends.into_iter().enumerate() {
        let env = env().await;
        let r = request(&format!("SR-BBBBBBB{i}"));
        let card = env.submitted(&r).await;
        let notice = if state == RequestState::Denied {
            // The deny click: the store keeps bob's denial, the notice carries it.
            let d = approval(&r, "bob", "U034BOB", false);
            env.store.insert_approval(&d).await.unwrap();
            Notice::Denied(d)
        } else {
            notice
        };
        env.tell(&moved(&r, state, Some(outcome)), notice).await;
        env.idle().await;

        let now = env.fake.message(&card.channel, &card.ts).unwrap();
        assert!(
            !has_buttons(&now["blocks"]),
            "{state}: no buttons at the end"
        );
        let shown = text_of(&now["blocks"]);
        assert!(
            shown.contains(expected),
            "{state}: {expected:?} missing in {shown}"
        );

        let posts = env.fake.calls_to("chat.postMessage");
        let dm = posts
            .iter()
            .find(|c| c.body["channel"] == "U056CAROL")
            .unwrap_or_else(|| panic!("{state}: a DM to the requester"));
        assert!(dm.body["text"].as_str().unwrap().contains(r.id.as_str()));
        let thread = posts
            .iter()
            .find(|c| c.body["thread_ts"] == card.ts.as_str())
            .unwrap_or_else(|| panic!("{state}: a reply in the card's thread"));
        assert_eq!(thread.body["channel"], CHANNEL);
        assert_eq!(posts.len(), 3, "{state}: card, DM, thread reply");
    }
}

#[tokio::test]
async fn a_denial_after_an_own_approval_still_shows_who_denied() {
    let env = env().await;
    let r = request("SR-AAAAAAA4");
    let card = env.submitted(&r).await;
    // Bob approved first; the store keeps that row, and the denial travels in the notice only.
    env.store
        .insert_approval(&approval(&r, "bob", "U034BOB", true))
        .await
        .unwrap();
    let denied = moved(
        &r,
        RequestState::Denied,
        Some(Outcome {
            message: "denied by bob: not this partner".into(),
            ..Default::default()
        }),
    );
    env.tell(
        &denied,
        Notice::Denied(approval(&r, "bob", "U034BOB", false)),
    )
    .await;
    env.idle().await;
    let shown = text_of(&env.fake.message(&card.channel, &card.ts).unwrap()["blocks"]);
    assert!(shown.contains("*Denied* by bob"), "{shown}");
}

#[tokio::test]
async fn an_auto_approved_request_has_no_card_and_only_the_requester_is_told() {
    let env = env().await;
    let mut r = request("SR-AAAAAAA5");
    r.min_approvals = 0;
    r.state = RequestState::Approved;
    env.store.insert_request(&r).await.unwrap();
    env.tell(&r, Notice::Approved).await;
    env.tell(&moved(&r, RequestState::Executing, None), Notice::Executing)
        .await;
    let done = moved(
        &r,
        RequestState::Succeeded,
        Some(Outcome {
            message: "image 1234567 shared with a@partner.example".into(),
            shared_with_after: Some(vec!["a@partner.example".into()]),
            ..Default::default()
        }),
    );
    env.tell(&done, Notice::Succeeded).await;
    env.idle().await;

    let calls = env.fake.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].body["channel"], "U056CAROL");
}

#[tokio::test]
async fn a_requester_from_another_system_gets_no_slack_dm() {
    let env = env().await;
    let mut r = request("SR-AAAAAAA6");
    r.requester = Identity::new("jira", "5b10ac8d82e05b22cc7d4ef5").unwrap();
    let card = env.submitted(&r).await;
    env.tell(&moved(&r, RequestState::Expired, None), Notice::Expired)
        .await;
    env.idle().await;
    let posts = env.fake.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 2, "the card and its thread reply");
    assert_eq!(posts[1].body["thread_ts"], card.ts.as_str());
}

#[tokio::test]
async fn transient_errors_and_rate_limits_are_retried_until_the_card_is_posted() {
    let env = env().await;
    env.fake.fail_next(2, "internal_error");
    env.fake.rate_limit_next(1, 1);
    let r = request("SR-AAAAAAA7");
    let started = Instant::now();
    let card = env.submitted(&r).await;

    // The 429 comes first, then the two errors, then success.
    let posts = env.fake.calls_to("chat.postMessage");
    assert_eq!(
        posts.iter().map(|c| c.ok).collect::<Vec<_>>(),
        vec![false, false, false, true]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert!(env.fake.message(&card.channel, &card.ts).is_some());
}

#[tokio::test]
async fn a_permanent_error_is_not_retried_and_later_notices_still_go_out() {
    let env = env().await;
    env.fake.fail_next(1, "channel_not_found");
    let r = request("SR-AAAAAAA8");
    env.store.insert_request(&r).await.unwrap();
    env.tell(&r, Notice::Submitted).await;
    env.idle().await;
    assert_eq!(env.fake.calls_to("chat.postMessage").len(), 1);
    assert_eq!(
        env.store.message_ref(&r.id, CARD_REF_KIND).await.unwrap(),
        None
    );

    let other = request("SR-AAAAAAA9");
    env.submitted(&other).await;
    assert_eq!(env.fake.calls_to("chat.postMessage").len(), 2);
}

#[tokio::test]
async fn pending_updates_of_a_card_are_coalesced_and_only_its_latest_state_is_sent() {
    let env = env().await;
    let r = request("SR-CCCCCCC1");
    let card = env.submitted(&r).await;
    let a = approval(&r, "alice", "U012ALICE", true);
    let b = approval(&r, "bob", "U034BOB", true);
    env.store.insert_approval(&a).await.unwrap();
    env.store.insert_approval(&b).await.unwrap();
    let approved = moved(&r, RequestState::Approved, None);
    let executing = moved(&approved, RequestState::Executing, None);
    let done = moved(
        &executing,
        RequestState::Succeeded,
        Some(Outcome {
            message: "image 1234567 shared with a@partner.example".into(),
            shared_with_after: Some(vec!["a@partner.example".into()]),
            ..Default::default()
        }),
    );
    // Four states are owed before delivery runs: only the latest is sent to the card (rate
    // limited once, then retried), then the direct message and the thread reply, in order.
    env.fake.rate_limit_next(1, 1);
    env.tell(&r, Notice::ApprovalAdded(a)).await;
    env.tell(&approved, Notice::Approved).await;
    env.tell(&executing, Notice::Executing).await;
    env.tell(&done, Notice::Succeeded).await;
    env.idle().await;

    // The card's channel is one lane, in order; the requester's DM is another lane, which does
    // not wait for the rate-limited card.
    let in_lane = |channel: &str| -> Vec<(String, bool)> {
        env.fake
            .calls()
            .iter()
            .filter(|c| c.body["channel"] == channel && c.ok)
            .map(|c| (c.method.clone(), c.ok))
            .collect()
    };
    // One call (whichever lane came first) was rate limited and retried.
    assert_eq!(env.fake.calls().iter().filter(|c| !c.ok).count(), 1);
    let expected: Vec<(String, bool)> = [
        ("chat.postMessage", true), // the card
        ("chat.update", true),      // the latest state only: shared
        ("chat.postMessage", true), // thread reply
    ]
    .iter()
    .map(|(m, ok)| (m.to_string(), *ok))
    .collect();
    assert_eq!(in_lane(&card.channel), expected);
    assert_eq!(
        in_lane(&r.requester.id),
        vec![("chat.postMessage".to_string(), true)]
    );
    let headers: Vec<String> = env
        .fake
        .calls_to("chat.update")
        .iter()
        .filter(|c| c.ok)
        .map(|c| {
            c.body["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(headers, vec!["Image share request SR-CCCCCCC1: shared"]);
    let last = env.fake.message(&card.channel, &card.ts).unwrap();
    assert!(!has_buttons(&last["blocks"]));
    assert!(text_of(&last["blocks"]).contains("Shared."));
    let superseded = env
        .store
        .outbox(OutboxQuery {
            request: Some(r.id.clone()),
            status: Some(OutboxStatus::Superseded),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(superseded.len(), 3, "approval added, approved, executing");
}

#[tokio::test]
async fn a_late_older_state_never_overwrites_a_newer_card() {
    let env = env().await;
    let r = request("SR-CCCCCCC2");
    let card = env.submitted(&r).await;
    let approved = moved(&r, RequestState::Approved, None);
    let done = moved(
        &approved,
        RequestState::Succeeded,
        Some(Outcome {
            message: "image 1234567 shared with a@partner.example".into(),
            ..Default::default()
        }),
    );
    // The older state's entry is written first but arrives after the newer one was sent (as
    // when two workers deliver, or a retry comes late).
    let channels = Channels {
        slack: true,
        ..Default::default()
    };
    let older = outbox::entries(&channels, &approved, &Notice::Approved, chrono::Utc::now());
    env.tell(&done, Notice::Succeeded).await;
    env.idle().await;
    let updates = env.fake.calls_to("chat.update").len();
    ncp_share_approver::store::enqueue(env.store.as_ref(), older)
        .await
        .unwrap();
    env.idle().await;
    assert_eq!(env.fake.calls_to("chat.update").len(), updates);
    let last = env.fake.message(&card.channel, &card.ts).unwrap();
    assert!(text_of(&last["blocks"]).contains("Shared."));
}

#[tokio::test]
async fn the_bot_token_never_appears_in_a_body_or_an_error() {
    let env = env().await;
    let r = request("SR-DDDDDDD1");
    env.fake.fail_next(1, "internal_error");
    let card = env.submitted(&r).await;
    env.tell(&moved(&r, RequestState::Cancelled, None), Notice::Cancelled)
        .await;
    env.idle().await;
    assert!(!env.fake.calls().is_empty());
    for call in env.fake.calls() {
        assert!(!call.body.to_string().contains(TOKEN), "{call:?}");
    }

    // A wrong token: Slack says invalid_auth; the error names neither token.
    let wrong = "xoxb-wrong-token-also-secret";
    let api = fast_api(&env.fake, wrong);
    let err = api
        .update(&card.channel, &card.ts, "x", None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SlackError::Api {
            method: "chat.update".into(),
            error: "invalid_auth".into()
        }
    );
    let shown = format!("{err} {err:?} {api:?}");
    assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");

    // An unreachable Slack: the transport error names no token and no URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = SlackApi::new(
        &format!("http://127.0.0.1:{port}/api"),
        SecretString::from(wrong.to_owned()),
    )
    .with_retry(RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        budget: Duration::from_secs(5),
    });
    let err = unreachable
        .post_message(CHANNEL, "x", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, SlackError::Transport { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(wrong) && !shown.contains("127.0.0.1"),
        "{shown}"
    );
}

#[tokio::test]
async fn respond_posts_json_to_the_response_url() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = fast_api(&fake, TOKEN);
    let body = json!({ "response_type": "ephemeral", "text": "got it" });
    api.respond(&fake.response_url("cmd-1"), &body)
        .await
        .unwrap();
    let calls = fake.calls_to("response/cmd-1");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body, body);
}

#[tokio::test]
async fn ephemeral_messages_and_form_bodies_are_understood_by_the_fake() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = fast_api(&fake, TOKEN);
    api.post_ephemeral("C0ASK", "U056CAROL", "only you", None)
        .await
        .unwrap();
    assert_eq!(
        fake.calls_to("chat.postEphemeral")[0].body["user"],
        "U056CAROL"
    );

    // Slack also takes form bodies; the fake records them as JSON.
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", fake.api_base_url()))
        .bearer_auth(TOKEN)
        .form(&[("channel", "C1"), ("text", "hi"), ("blocks", "[]")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true);
    assert_eq!(
        fake.calls_to("chat.postMessage")[0].body["blocks"],
        json!([])
    );
    let waited = fake
        .wait_for(|c| c.len() == 2, Duration::from_millis(100))
        .await;
    assert!(waited);
}

#[tokio::test]
async fn fanout_tells_every_notifier() {
    let (a, b) = (
        Arc::new(RecordingNotifier::default()),
        Arc::new(RecordingNotifier::default()),
    );
    let fan = Fanout(vec![a.clone(), b.clone()]);
    let r = request("SR-EEEEEEE1");
    fan.notify(&r, &Notice::Submitted).await;
    fan.notify(&r, &Notice::Expired).await;
    assert_eq!(a.names_for(&r.id), vec!["submitted", "expired"]);
    assert_eq!(b.names_for(&r.id), vec!["submitted", "expired"]);
}

/// A courier that dies (its lane task panics) on its first delivery, as a process killed with
/// kill -9 in the middle of a lane would: what it stored so far stays, nothing else happens.
struct DiesOnFirstDelivery {
    inner: SlackCourier,
    died: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl outbox::Courier for DiesOnFirstDelivery {
    async fn deliver(&self, entry: &outbox::OutboxEntry) -> outbox::Delivery {
        if !self.died.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("killed mid-lane (test)");
        }
        self.inner.deliver(entry).await
    }
}

#[tokio::test]
async fn a_crash_right_after_coalescing_card_updates_still_posts_the_card() {
    let env = env().await;
    let r = request("SR-AAAAAAC1");
    env.store.insert_request(&r).await.unwrap();
    env.tell(&r, Notice::Submitted).await;
    env.tell(&moved(&r, RequestState::Approved, None), Notice::Approved)
        .await;
    // The first process supersedes the posting entry by the update, then dies before sending.
    let mut pacing = crate::harness::ncp::test_pacing();
    pacing.lane_lease = Duration::from_millis(200);
    let dying = Arc::new(
        Dispatcher::new(
            env.store.clone(),
            Arc::new(ncp_share_approver::clock::SystemClock),
            pacing,
        )
        .with_courier(
            Peer::Slack,
            Arc::new(DiesOnFirstDelivery {
                inner: SlackCourier::new(fast_api(&env.fake, TOKEN), env.store.clone()),
                died: Default::default(),
            }),
        ),
    );
    dying.run_once(Duration::from_secs(5)).await;
    assert!(env.fake.calls().is_empty());
    // The next process gets the lane once the dead one's short lease has run out, and posts.
    let started = Instant::now();
    env.idle().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        env.fake.calls_to("chat.postMessage").len(),
        1,
        "the card is posted"
    );
    let card = env.card(&r).await;
    assert!(env.fake.message(&card.channel, &card.ts).is_some());
}

/// A courier that takes its time.
struct Slow(SlackCourier, Duration);

#[async_trait::async_trait]
impl outbox::Courier for Slow {
    async fn deliver(&self, entry: &outbox::OutboxEntry) -> outbox::Delivery {
        tokio::time::sleep(self.1).await;
        self.0.deliver(entry).await
    }
}

#[tokio::test]
async fn a_lane_lease_is_renewed_while_a_slow_delivery_lasts() {
    let env = env().await;
    let r = request("SR-AAAAAAC2");
    env.store.insert_request(&r).await.unwrap();
    env.tell(&r, Notice::Submitted).await;
    let dispatcher = |delay| {
        let mut pacing = crate::harness::ncp::test_pacing();
        pacing.lane_lease = Duration::from_millis(150);
        Arc::new(
            Dispatcher::new(
                env.store.clone(),
                Arc::new(ncp_share_approver::clock::SystemClock),
                pacing,
            )
            .with_courier(
                Peer::Slack,
                Arc::new(Slow(
                    SlackCourier::new(fast_api(&env.fake, TOKEN), env.store.clone()),
                    delay,
                )),
            ),
        )
    };
    let (a, b) = (
        dispatcher(Duration::from_millis(800)),
        dispatcher(Duration::ZERO),
    );
    let first = tokio::spawn(async move { a.run_once(Duration::from_secs(5)).await });
    // Well past the lease's 150 ms: the first process still holds the lane.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = b.run_once(Duration::from_secs(5)).await;
    assert_eq!(second.lanes_busy, 1);
    assert_eq!(second.delivered, 0);
    assert_eq!(first.await.unwrap().delivered, 1);
    assert_eq!(env.fake.calls_to("chat.postMessage").len(), 1);
}

/// Slack's limit enforced by the fake (one message per channel per interval, 429 beyond):
/// a burst into one approval channel drains at the channel's pace without a single 429, and a
/// message into another channel goes out at once instead of waiting behind the burst.
#[tokio::test]
async fn a_busy_channel_drains_at_its_pace_and_holds_up_no_other_channel() {
    let fake = FakeSlack::start(TOKEN).await;
    let interval = Duration::from_millis(200);
    fake.enforce_channel_rate(interval);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut pacing = crate::harness::ncp::test_pacing();
    pacing.slack_interval = interval + Duration::from_millis(20);
    let dispatcher = Arc::new(
        Dispatcher::new(
            store.clone(),
            Arc::new(ncp_share_approver::clock::SystemClock),
            pacing,
        )
        .with_courier(
            Peer::Slack,
            Arc::new(SlackCourier::new(fast_api(&fake, TOKEN), store.clone())),
        ),
    );
    let channels = Channels {
        slack: true,
        ..Default::default()
    };
    // Eight requests into the busy channel, then one into a quiet one.
    let mut busy = Vec::new();
    for i in 0..8 {
        let r = request(&format!("SR-BZZZZZZ{i}"));
        store.insert_request(&r).await.unwrap();
        let entries = outbox::entries(&channels, &r, &Notice::Submitted, chrono::Utc::now());
        ncp_share_approver::store::enqueue(store.as_ref(), entries)
            .await
            .unwrap();
        busy.push(r);
    }
    let mut quiet = request("SR-QQQQQQQ1");
    quiet.approval_channel = Some("C0QUIET".into());
    store.insert_request(&quiet).await.unwrap();
    let entries = outbox::entries(&channels, &quiet, &Notice::Submitted, chrono::Utc::now());
    ncp_share_approver::store::enqueue(store.as_ref(), entries)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let (_, all_out) = dispatcher.drain(Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert!(all_out);
    let posts = fake.calls_to("chat.postMessage");
    let channels_in_order: Vec<String> = posts
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.body["channel"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(channels_in_order.len(), 9);
    // The quiet channel's card is among the first two messages, not behind the burst.
    let quiet_at = channels_in_order
        .iter()
        .position(|c| c == "C0QUIET")
        .unwrap();
    assert!(
        quiet_at <= 1,
        "the quiet channel waited: {channels_in_order:?}"
    );
    // Paced at the channel's limit: no 429 at all, and the burst took about 7 intervals.
    assert_eq!(fake.rate_limited(), 0);
    assert!(took >= interval * 7, "drained in {took:?}: not paced");
}
