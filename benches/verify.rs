//! Inbound hot paths: signature checks for each scheme, and parsing a slash command.
//!
//! Run: `cargo bench --bench verify`.

use axum::http::{HeaderMap, HeaderValue};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use ncp_share_approver::http::slack::command;
use ncp_share_approver::verify::{jira, slack, standard_webhooks};
use secrecy::SecretString;

const NOW: i64 = 1_700_000_000;

/// A realistic slash-command form body of about 400 bytes (without the deprecated name fields).
fn slack_body() -> Vec<u8> {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J\
        &channel_id=C0APPROVALS&user_id=U056CAROL\
        &command=%2Fshare-image&text=1234567+with+alice%40partner.example%2C+bob%40partner.example\
        +for+7d+because+load+test&api_app_id=A0TESTAPP\
        &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
        &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    body.as_bytes().to_vec()
}

/// A Jira `issue_updated` body padded to 2 KiB with a realistic description field.
fn jira_body() -> Vec<u8> {
    let head = r#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_updated","issue_event_type_name":"issue_generic","user":{"accountId":"5b10a2844c20165700ede21g","displayName":"Mia Krystof"},"issue":{"id":"10010","key":"SHARE-42","fields":{"status":{"id":"3","name":"Approved"},"description":""#;
    let tail = r#""}},"changelog":{"id":"10638","items":[{"field":"status","fieldtype":"jira","fieldId":"status","from":"10000","fromString":"To Do","to":"3","toString":"Approved"}]}}"#;
    let filler = "Share image 1234567 with alice@partner.example for 7d. ";
    let mut s = String::from(head);
    while s.len() + tail.len() < 2048 {
        s.push_str(filler);
    }
    s.truncate(2048 - tail.len());
    s.push_str(tail);
    assert_eq!(s.len(), 2048);
    s.into_bytes()
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    h
}

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");

    let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5");
    let body = slack_body();
    let h = headers(&[
        (slack::TIMESTAMP_HEADER, NOW.to_string()),
        (slack::SIGNATURE_HEADER, slack::sign(&secret, NOW, &body)),
    ]);
    let secrets = [secret];
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function(format!("slack: {} B slash command", body.len()), |b| {
        b.iter(|| slack::verify_at(black_box(&secrets), &h, black_box(&body), NOW).unwrap())
    });

    let secret = SecretString::from("It's a Secret to Everybody");
    let body = jira_body();
    let h = headers(&[(jira::SIGNATURE_HEADER, jira::sign(&secret, &body))]);
    let secrets = [secret];
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("jira: 2 KiB issue_updated", |b| {
        b.iter(|| jira::verify_at(black_box(&secrets), &h, black_box(&body), NOW).unwrap())
    });

    let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"type":"share.requested","ticket":"TCK-1042","image_no":"1234567","targets":["alice@partner.example"],"duration":"7d","requester":"carol@corp.example","reason":"load test"}"#.to_vec();
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let h = headers(&[
        (standard_webhooks::ID_HEADER, id.to_string()),
        (standard_webhooks::TIMESTAMP_HEADER, NOW.to_string()),
        (
            standard_webhooks::SIGNATURE_HEADER,
            standard_webhooks::sign(&secret, id, NOW, &body).unwrap(),
        ),
    ]);
    let secrets = [secret];
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function(format!("standard webhooks: {} B body", body.len()), |b| {
        b.iter(|| {
            standard_webhooks::verify_at(black_box(&secrets), &h, black_box(&body), NOW).unwrap()
        })
    });
    g.finish();
}

fn parse(c: &mut Criterion) {
    let text = "1234567 with alice@partner.example, bob@partner.example for 7d because load test for release 2";
    c.bench_function(
        "command::parse: share with 2 targets, duration and reason",
        |b| b.iter(|| command::parse(black_box(text)).unwrap()),
    );
}

criterion_group!(benches, verify, parse);
criterion_main!(benches);
