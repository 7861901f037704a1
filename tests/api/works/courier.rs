//! `WorksCourier` against `FakeWorks` with a real store: the outbox's NAVER WORKS messages.

use ncp_share_approver::domain::RetryPolicy;
use ncp_share_approver::notify::works::fake::DEMO_PRIVATE_KEY_PEM;
use ncp_share_approver::notify::works::{
    FakeWorks, FakeWorksApp, WorksApi, WorksConfig, WorksCourier, WorksCredentials,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

pub fn client(fake: &FakeWorks) -> WorksApi {
    let app = FakeWorksApp::demo();
    let settings = WorksConfig {
        bot_id: "2000001".into(),
        api_base_url: fake.api_base_url(),
        auth_url: fake.auth_url(),
        scope: "bot".into(),
    };
    WorksApi::new(
        &settings,
        WorksCredentials {
            client_id: app.client_id,
            client_secret: SecretString::from(app.client_secret),
            service_account: app.service_account,
            private_key: SecretString::from(DEMO_PRIVATE_KEY_PEM.to_owned()),
        },
    )
    .unwrap()
    .with_retry(RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        budget: Duration::from_secs(5),
    })
}

#[tokio::test]
async fn the_courier_sends_the_approval_message_and_the_news_as_new_messages() {
    use ncp_share_approver::workflow::outbox::{Courier, Delivery, Message, OutboxEntry, WorksTo};
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let store = Arc::new(ncp_share_approver::store::SqliteStore::in_memory().unwrap());
    let courier = WorksCourier::new(client(&fake), store);
    let mut r: ncp_share_approver::domain::ShareRequest = serde_json::from_str(include_str!(
        "../../../src/notify/works/testdata/request.json"
    ))
    .unwrap();
    let send = |to: WorksTo,
                r: &ncp_share_approver::domain::ShareRequest,
                notice: ncp_share_approver::domain::ports::notify::Notice| {
        OutboxEntry::new(
            Message::WorksNotice {
                to,
                request: Box::new(r.clone()),
                notice,
            },
            r.created_at,
            r.version,
            0,
        )
    };
    use ncp_share_approver::domain::ports::notify::Notice;
    let room = WorksTo::Channel("room-1".into());
    let carol = WorksTo::User("u-carol".into());
    assert_eq!(
        courier
            .deliver(&send(room.clone(), &r, Notice::Submitted))
            .await,
        Delivery::Done
    );
    assert_eq!(
        courier
            .deliver(&send(carol.clone(), &r, Notice::Submitted))
            .await,
        Delivery::Done
    );
    r.state = ncp_share_approver::domain::RequestState::Succeeded;
    assert_eq!(
        courier.deliver(&send(room, &r, Notice::Succeeded)).await,
        Delivery::Done
    );
    assert_eq!(
        courier.deliver(&send(carol, &r, Notice::Succeeded)).await,
        Delivery::Done
    );
    let say = OutboxEntry::new(
        Message::WorksSay {
            to: WorksTo::User("u-dave".into()),
            text: "help".into(),
        },
        r.created_at,
        1,
        0,
    );
    assert_eq!(courier.deliver(&say).await, Delivery::Done);
    let in_room = fake.channel_messages("room-1");
    assert_eq!(in_room.len(), 2);
    assert_eq!(in_room[0].content["type"], "button_template");
    assert_eq!(
        in_room[0].postbacks(),
        [
            "v1|approve|SR-7K3M9Q2X|0123456789ab",
            "v1|deny|SR-7K3M9Q2X|0123456789ab"
        ]
    );
    assert!(in_room[1].text().contains("done"), "{}", in_room[1].text());
    let to_carol = fake.user_messages("u-carol");
    assert_eq!(to_carol.len(), 2);
    assert!(
        to_carol[0]
            .text()
            .contains("is waiting for approval. Rule \"golden images to partners\" needs 2 approvals from alice, bob, dave."),
        "{}",
        to_carol[0].text()
    );
    assert_eq!(fake.user_messages("u-dave")[0].text(), "help");
    assert_eq!(fake.token_requests(), 1);
    // A permanent refusal fails the entry; a rate limit asks for a retry.
    fake.fail_next(&[404]);
    assert!(matches!(courier.deliver(&say).await, Delivery::Failed(_)));
    fake.rate_limit_next(10);
    assert!(matches!(
        courier.deliver(&say).await,
        Delivery::Retry { .. }
    ));
}
