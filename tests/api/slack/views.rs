//! Views through the Web API client against the fake Slack, which is as strict as Slack about
//! them: single-use trigger ids that expire, view ids and hashes, Slack's limits on titles,
//! blocks, submit buttons and metadata; homes kept per user. What the fake received is then
//! handed to Slack's own SDK (`payloads::check_slack_calls`), as the end-to-end tests do.

use chrono::{TimeZone, Utc};
use ncp_share_approver::domain::{Grant, ImageNo, LoginId, RequestId, ShareDuration};
use ncp_share_approver::ncp::RetryPolicy;
use ncp_share_approver::notify::slack::views::{self, RequestForm};
use ncp_share_approver::notify::slack::{FakeSlack, SlackApi, SlackError};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-test-0000-bot-token-never-shown";

fn api(fake: &FakeSlack) -> SlackApi {
    SlackApi::new(&fake.api_base_url(), SecretString::from(TOKEN.to_owned()))
        .with_retry(RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            budget: Duration::from_secs(10),
        })
        .with_max_retry_after(Duration::from_secs(1))
}

fn form_view(image: Option<(&ImageNo, &str)>) -> Value {
    let durations = [Some(ShareDuration::parse("7d").unwrap()), None];
    views::request_modal(&RequestForm {
        image,
        durations: &durations,
        reason_required: false,
        note: None,
        private_metadata: "C0ASK",
    })
}

fn home_view() -> Value {
    views::home(&views::HomeView {
        waiting: &[],
        mine: &[],
        active: &[],
        command: "/share-image",
        now: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
    })
}

fn api_error(e: SlackError) -> String {
    match e {
        SlackError::Api { error, .. } => error,
        other => panic!("expected a Slack error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_modal_opens_once_per_fresh_trigger() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);
    let trigger = fake.issue_trigger();
    let opened = api.views_open(&trigger, &form_view(None)).await.unwrap();
    let id = opened["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('V'), "{opened}");
    assert!(opened["hash"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(opened["callback_id"], views::REQUEST_CALLBACK);
    assert_eq!(fake.open_view(&id), Some(opened.clone()));
    assert_eq!(fake.views(), [opened]);

    // Used once: a second open with it is refused, as is a trigger Slack never issued.
    let again = api
        .views_open(&trigger, &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(api_error(again), "expired_trigger_id");
    let unknown = api
        .views_open("1.2.deadbeef", &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(api_error(unknown), "invalid_trigger_id");
    assert_eq!(fake.calls_to("views.open").len(), 3);
    assert_eq!(fake.views().len(), 1);
}

#[tokio::test]
async fn a_trigger_expires_after_its_time() {
    let fake = FakeSlack::start(TOKEN)
        .await
        .with_trigger_ttl(Duration::from_millis(100));
    let api = api(&fake);
    let trigger = fake.issue_trigger();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = api
        .views_open(&trigger, &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(api_error(late), "expired_trigger_id");
    assert!(fake.views().is_empty());
}

#[tokio::test]
async fn views_open_is_tried_once_and_gives_up_quickly() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);

    // A transient error is not retried: the trigger would be stale by then.
    fake.fail_next(1, "internal_error");
    let e = api
        .views_open(&fake.issue_trigger(), &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(api_error(e), "internal_error");
    assert_eq!(fake.calls_to("views.open").len(), 1);

    fake.rate_limit_next(1, 0);
    let e = api
        .views_open(&fake.issue_trigger(), &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        SlackError::RateLimited {
            method: "views.open".into(),
            attempts: 1
        }
    );
    assert_eq!(fake.calls_to("views.open").len(), 2);

    // Slack slower than the trigger's life: the call ends before it would be useless.
    let slow = FakeSlack::start(TOKEN)
        .await
        .with_latency(Duration::from_secs(6));
    let started = Instant::now();
    let e = self::api(&slow)
        .views_open(&slow.issue_trigger(), &form_view(None))
        .await
        .unwrap_err();
    assert!(matches!(e, SlackError::Transport { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_fake_refuses_views_slack_would_refuse() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);
    let good = form_view(None);
    let mut bad: Vec<(&str, Value)> = Vec::new();
    let mut v = good.clone();
    v["title"]["text"] = json!("A title longer than twenty-four");
    bad.push(("long title", v));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("title");
    bad.push(("no title", v));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("submit");
    bad.push(("inputs without submit", v));
    let mut v = good.clone();
    v["close"]["text"] = json!("A close text longer than 24");
    bad.push(("long close", v));
    let mut v = good.clone();
    v["private_metadata"] = json!("m".repeat(3001));
    bad.push(("long metadata", v));
    let mut v = good.clone();
    v["callback_id"] = json!("c".repeat(256));
    bad.push(("long callback", v));
    let mut v = good.clone();
    v["blocks"] = json!(vec![json!({"type": "divider"}); 101]);
    bad.push(("101 blocks", v));
    let mut v = good.clone();
    v["type"] = json!("home");
    bad.push(("a home opened as a modal", v));

    let trigger = fake.issue_trigger();
    for (what, view) in &bad {
        let e = api.views_open(&trigger, view).await.unwrap_err();
        assert_eq!(api_error(e), "invalid_arguments", "{what}");
    }
    // A refused view does not use the trigger up.
    api.views_open(&trigger, &good).await.unwrap();

    // A home tab: at most 100 blocks, of type home, for a user.
    let mut big = home_view();
    big["blocks"] = json!(vec![json!({"type": "divider"}); 101]);
    for (user, view) in [("U1", big), ("U1", good.clone()), ("", home_view())] {
        let e = api.views_publish(user, &view).await.unwrap_err();
        assert_eq!(api_error(e), "invalid_arguments");
    }
    assert_eq!(fake.home("U1"), None);
}

#[tokio::test]
async fn a_modal_is_updated_by_id_under_its_hash() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);
    let opened = api
        .views_open(&fake.issue_trigger(), &form_view(None))
        .await
        .unwrap();
    let id = opened["id"].as_str().unwrap();
    let first_hash = opened["hash"].as_str().unwrap();

    let image = ImageNo::parse("1234567").unwrap();
    let picked = form_view(Some((&image, "golden-web")));
    let updated = api
        .views_update(id, Some(first_hash), &picked)
        .await
        .unwrap();
    assert_eq!(updated["id"], id);
    let second_hash = updated["hash"].as_str().unwrap();
    assert_ne!(second_hash, first_hash, "every update changes the hash");
    assert_eq!(
        fake.open_view(id).unwrap()["blocks"][0]["element"]["initial_option"]["value"],
        "1234567"
    );

    // An update under the old hash would overwrite the newer view: refused.
    let stale = api
        .views_update(id, Some(first_hash), &form_view(None))
        .await
        .unwrap_err();
    assert_eq!(api_error(stale), "hash_conflict");
    // Without a hash it goes through.
    api.views_update(id, None, &form_view(None)).await.unwrap();
    let unknown = api
        .views_update("V0NOSUCHVIEW", None, &picked)
        .await
        .unwrap_err();
    assert_eq!(api_error(unknown), "not_found");

    let log = fake.views();
    assert_eq!(log.len(), 3, "opened, updated, updated");
    assert_eq!(log[1], updated);
    assert_eq!(fake.open_view(id).unwrap(), log[2]);
}

#[tokio::test]
async fn a_home_is_published_per_user_and_retried_like_a_message() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);
    fake.fail_next(1, "internal_error");
    fake.rate_limit_next(1, 0);
    api.views_publish("U056CAROL", &home_view()).await.unwrap();
    let home = fake.home("U056CAROL").unwrap();
    assert_eq!(home["type"], "home");
    assert_eq!(home["blocks"], home_view()["blocks"]);
    assert_eq!(
        fake.calls_to("views.publish").len(),
        3,
        "two failures, then done"
    );

    let g = Grant {
        image_no: ImageNo::parse("1234567").unwrap(),
        target: LoginId::parse("a@partner.example").unwrap(),
        request_id: RequestId::parse("SR-7K3M9Q2X").unwrap(),
        starts_at: Utc.with_ymd_and_hms(2025, 3, 1, 1, 0, 0).unwrap(),
        ends_at: None,
        ended_at: None,
    };
    let shares = [views::HomeShare {
        grant: g,
        image_name: Some("golden-web".into()),
        requester: ncp_share_approver::policy::Identity::new("slack", "U056CAROL").unwrap(),
        requester_name: None,
        yours: true,
    }];
    let next = views::home(&views::HomeView {
        waiting: &[],
        mine: &[],
        active: &shares,
        command: "/share-image",
        now: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
    });
    api.views_publish("U056CAROL", &next).await.unwrap();
    let republished = fake.home("U056CAROL").unwrap();
    assert_eq!(republished["id"], home["id"], "one home per user");
    assert_ne!(republished["hash"], home["hash"]);
    assert_eq!(republished["blocks"], next["blocks"]);
    assert_eq!(fake.home("U0OTHER"), None);
    // A permanent error is not retried.
    fake.fail_next(1, "invalid_auth");
    let e = api.views_publish("U056CAROL", &next).await.unwrap_err();
    assert_eq!(api_error(e), "invalid_auth");
    assert_eq!(fake.calls_to("views.publish").len(), 5);
}

#[tokio::test]
async fn the_views_calls_need_the_bot_token_and_never_show_it() {
    let fake = FakeSlack::start(TOKEN).await;
    let wrong = SlackApi::new(
        &fake.api_base_url(),
        SecretString::from("xoxb-wrong-token".to_owned()),
    );
    let errors = [
        wrong
            .views_open(&fake.issue_trigger(), &form_view(None))
            .await
            .unwrap_err(),
        wrong
            .views_update("V1", None, &form_view(None))
            .await
            .unwrap_err(),
        wrong.views_publish("U1", &home_view()).await.unwrap_err(),
    ];
    for e in errors {
        assert!(!e.to_string().contains("xoxb-wrong-token"), "{e}");
        assert_eq!(api_error(e), "invalid_auth");
    }
    assert!(fake.views().is_empty());
    assert_eq!(fake.home("U1"), None);
}

#[tokio::test]
async fn another_process_gets_triggers_and_sees_views_over_http() {
    let fake = FakeSlack::start(TOKEN).await;
    let http = reqwest::Client::new();
    let trigger: Value = http
        .post(format!("http://{}/_fake/trigger", fake.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trigger = trigger["trigger_id"].as_str().unwrap();
    let api = api(&fake);
    let opened = api.views_open(trigger, &form_view(None)).await.unwrap();
    api.views_publish("U1", &home_view()).await.unwrap();
    let seen: Value = http
        .get(format!("http://{}/_fake/views", fake.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["views"], json!([opened]));
    assert_eq!(seen["homes"]["U1"]["type"], "home");
}

#[tokio::test]
async fn what_the_fake_received_is_valid_for_slacks_sdk() {
    let fake = FakeSlack::start(TOKEN).await;
    let api = api(&fake);
    let opened = api
        .views_open(&fake.issue_trigger(), &form_view(None))
        .await
        .unwrap();
    let image = ImageNo::parse("1234567").unwrap();
    api.views_update(
        opened["id"].as_str().unwrap(),
        opened["hash"].as_str(),
        &form_view(Some((&image, "golden-web"))),
    )
    .await
    .unwrap();
    api.views_publish("U1", &home_view()).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.ok && c.body["view"].is_object()));
    let replies = [
        views::image_options([(&image, "golden-web")]),
        views::field_errors(&[(views::TARGETS, "login ID `x` is not valid".into())]),
        views::confirmation(
            "Request sent",
            ("Request *SR-7K3M9Q2X* sent.".into(), Value::Null),
        ),
    ];
    crate::payloads::check_slack_calls(&calls, &replies);
}
