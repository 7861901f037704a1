//! `WorksApi` against `FakeWorks`: the assertion the fake verifies with the public key, one token
//! for many messages, one refresh after an authentication failure, 429 and 5xx retried.

use super::fake::{DEMO_PRIVATE_KEY_PEM, DEMO_PUBLIC_KEY_PEM};
use super::*;
use crate::domain::RetryPolicy;
use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;

fn settings(fake: &FakeWorks) -> WorksConfig {
    WorksConfig {
        bot_id: "2000001".into(),
        api_base_url: fake.api_base_url(),
        auth_url: fake.auth_url(),
        scope: "bot".into(),
    }
}

fn credentials(private_key: &str) -> WorksCredentials {
    let app = FakeWorksApp::demo();
    WorksCredentials {
        client_id: app.client_id,
        client_secret: SecretString::from(app.client_secret),
        service_account: app.service_account,
        private_key: SecretString::from(private_key.to_owned()),
    }
}

fn client(fake: &FakeWorks) -> WorksApi {
    WorksApi::new(&settings(fake), credentials(DEMO_PRIVATE_KEY_PEM))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            budget: Duration::from_secs(5),
        })
}

#[tokio::test]
async fn one_token_serves_many_messages_even_when_sent_at_once() {
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let api = client(&fake);
    let mut sends = Vec::new();
    for i in 0..20 {
        let api = api.clone();
        sends.push(tokio::spawn(async move {
            api.send_to_user(&format!("user-{i}"), &render::text(&format!("hello {i}")))
                .await
        }));
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }
    api.send_to_channel("room-1", &render::text("to the room"))
        .await
        .unwrap();
    assert_eq!(fake.messages().len(), 21);
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(api.token_requests(), 1);
    assert_eq!(fake.refused_token_requests(), 0);
    let m = &fake.channel_messages("room-1")[0];
    assert_eq!((m.bot_id.as_str(), m.text()), ("2000001", "to the room"));
}

#[tokio::test]
async fn the_assertion_is_rs256_with_the_documented_claims() {
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let jwt = client(&fake).assertion(1_700_000_000).unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(DEMO_PUBLIC_KEY_PEM.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp"]);
    let claims = jsonwebtoken::decode::<api::Claims>(&jwt, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(
        claims,
        api::Claims {
            iss: "demo-client-id".into(),
            sub: "demo.serviceaccount@example.com".into(),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
        }
    );
    // Base64url without padding in all three parts.
    assert!(!jwt.contains('=') && !jwt.contains('+') && !jwt.contains('/'));
}

#[tokio::test]
async fn a_key_with_literal_newlines_signs_too_and_a_bad_key_is_named_without_its_bytes() {
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let escaped = DEMO_PRIVATE_KEY_PEM.replace('\n', "\\n");
    let api = WorksApi::new(&settings(&fake), credentials(&escaped)).unwrap();
    api.send_to_user("u", &render::text("hi")).await.unwrap();
    let err =
        WorksApi::new(&settings(&fake), credentials("not a key AAAASECRETBYTES")).unwrap_err();
    assert!(matches!(err, WorksError::BadKey(_)));
    assert!(!err.to_string().contains("SECRETBYTES"), "{err}");
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_the_token_endpoint_and_nothing_is_sent() {
    let other = FakeWorksApp {
        // Any other RSA public key: the demo's signature does not verify under it.
        public_key_pem: include_str!("testdata/other-key.pub.pem").into(),
        ..FakeWorksApp::demo()
    };
    let fake = FakeWorks::start(other).await;
    let err = client(&fake)
        .send_to_user("u", &render::text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, WorksError::Token(_)), "{err}");
    assert_eq!(fake.refused_token_requests(), 1);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn an_authentication_failure_refreshes_the_token_once() {
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let api = client(&fake);
    api.send_to_user("u", &render::text("one")).await.unwrap();
    fake.revoke_tokens();
    api.send_to_user("u", &render::text("two")).await.unwrap();
    assert_eq!(fake.token_requests(), 2);
    // 403 UNAUTHORIZED (how the vendor sample sees an expired token) is the same.
    fake.unauthorised_next(1);
    api.send_to_user("u", &render::text("three")).await.unwrap();
    assert_eq!(fake.token_requests(), 3);
    // Twice in a row: one refresh only, then the error.
    fake.unauthorised_next(2);
    let err = api
        .send_to_user("u", &render::text("four"))
        .await
        .unwrap_err();
    assert!(matches!(err, WorksError::Unauthorised { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(fake.token_requests(), 4);
    assert_eq!(fake.messages().len(), 3);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_client_errors_are_not() {
    let fake = FakeWorks::start(FakeWorksApp::demo()).await;
    let api = client(&fake);
    fake.rate_limit_next(2);
    api.send_to_channel("room", &render::text("after 429s"))
        .await
        .unwrap();
    fake.fail_next(&[503, 500]);
    api.send_to_channel("room", &render::text("after 5xx"))
        .await
        .unwrap();
    assert_eq!(fake.messages().len(), 2);
    fake.rate_limit_next(10);
    let err = api
        .send_to_channel("room", &render::text("never"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorksError::RateLimited { attempts: 4, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    fake.rate_limit_next(0);
    fake.fail_next(&[404]);
    let err = api
        .send_to_channel("room", &render::text("no room"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        WorksError::Api {
            call: "send to room",
            status: 404,
            code: "FAKE_FAILURE".into()
        }
    );
    // An undocumented property is a 400 from the fake, as the real API may answer.
    let err = api
        .send_to_user("u", &json!({"type": "text", "text": "x", "html": "<b>"}))
        .await
        .unwrap_err();
    assert!(matches!(err, WorksError::Api { status: 400, .. }), "{err}");
    assert_eq!(fake.token_requests(), 1);
}
