//! Every malformed, forged, stale or oversized delivery gets the 4xx its case names (401 for a
//! bad signature, 413 for too big, 400 for a malformed body, with the reason), never a 5xx, and
//! nothing is stored.

use crate::harness::fixtures::*;
use crate::harness::refused::assert_refused;
use crate::harness::spawn_app;
use ncp_share_approver::secrets::SecretString;
use ncp_share_approver::store::verify_ledger;

#[derive(Default)]
struct Case {
    name: &'static str,
    path: &'static str,
    body: Vec<u8>,
    timestamp: Option<String>,
    signature: Option<String>,
    /// The status it must get, and what its reply must say.
    want: (u16, &'static str),
}

impl Case {
    fn answers(mut self, status: u16, says: &'static str) -> Self {
        self.want = (status, says);
        self
    }
}

fn signed(name: &'static str, path: &'static str, body: Vec<u8>, ts: i64, secret: &str) -> Case {
    let signature =
        ncp_share_approver::verify::slack::sign(&SecretString::from(secret.to_string()), ts, &body);
    Case {
        name,
        path,
        body,
        timestamp: Some(ts.to_string()),
        signature: Some(signature),
        ..Case::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forged_stale_and_oversized_deliveries_get_4xx_and_change_nothing() {
    let t = spawn_app().start().await;
    // The service read the image catalog from NCP as it started; from here on NCP is not called.
    t.sim.clear_calls();
    let now = chrono::Utc::now().timestamp();
    let good = form(&[
        ("team_id", "T1"),
        ("channel_id", "C1"),
        ("user_id", CAROL),
        ("text", "1234567 with a@partner.example for 7d"),
    ]);
    let click = |action: &str, value: &str| {
        form(&[("payload", &serde_json::json!({"type": "block_actions", "user": {"id": ALICE}, "actions": [{"action_id": action, "value": value}]}).to_string())])
    };
    let mut cases = vec![
        Case {
            name: "unsigned",
            path: "/slack/commands",
            body: good.clone().into_bytes(),
            timestamp: None,
            signature: None,
            ..Case::default()
        }
        .answers(401, ""),
        Case {
            name: "no timestamp",
            path: "/slack/commands",
            body: good.clone().into_bytes(),
            timestamp: None,
            signature: Some("v0=00".into()),
            ..Case::default()
        }
        .answers(401, ""),
        signed(
            "forged with another secret",
            "/slack/commands",
            good.clone().into_bytes(),
            now,
            "not-the-secret",
        )
        .answers(401, ""),
        signed(
            "stale by 301 s",
            "/slack/commands",
            good.clone().into_bytes(),
            now - 301,
            SIGNING_SECRET,
        )
        .answers(401, ""),
        signed(
            "from the future by 400 s",
            "/slack/commands",
            good.clone().into_bytes(),
            now + 400,
            SIGNING_SECRET,
        )
        .answers(401, ""),
        signed(
            "oversized",
            "/slack/commands",
            format!("{good}&pad={}", "x".repeat(70 * 1024)).into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(413, "length limit exceeded"),
        signed(
            "not UTF-8",
            "/slack/commands",
            b"team_id=T1&channel_id=C1&user_id=U1&text=\xff\xfe".to_vec(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "the body is not UTF-8"),
        signed(
            "missing user_id",
            "/slack/commands",
            form(&[("team_id", "T1"), ("channel_id", "C1"), ("text", "help")]).into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "missing field user_id"),
        signed(
            "a user id with markup",
            "/slack/commands",
            form(&[
                ("team_id", "T1"),
                ("channel_id", "C1"),
                ("user_id", "<!channel>"),
                ("text", "help"),
            ])
            .into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "field user_id is not a Slack id"),
        signed(
            "a field twice",
            "/slack/commands",
            format!("{good}&user_id=U034BOB").into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "field user_id appears twice"),
        signed(
            "empty body",
            "/slack/commands",
            Vec::new(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "missing field team_id"),
        signed(
            "binary garbage",
            "/slack/commands",
            (0u8..=255).collect(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "the body is not UTF-8"),
        signed(
            "unknown action",
            "/slack/interactions",
            click("delete", "SR-00000000").into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "unknown action \"delete\""),
        signed(
            "not a request id",
            "/slack/interactions",
            click("approve", "../../etc").into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "`../../etc` is not a request id"),
        signed(
            "payload not JSON",
            "/slack/interactions",
            form(&[("payload", "{not json")]).into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "payload is not a Slack interaction"),
        signed(
            "no payload",
            "/slack/interactions",
            b"hello=world".to_vec(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "missing field payload"),
        signed(
            "a modal submission without its view",
            "/slack/interactions",
            form(&[(
                "payload",
                r#"{"type":"view_submission","user":{"id":"U1"}}"#,
            )])
            .into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "the submission has no view"),
        signed(
            "a submission of a form we never opened",
            "/slack/interactions",
            form(&[(
                "payload",
                r#"{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","type":"modal","callback_id":"other"}}"#,
            )])
            .into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "unknown form \"other\""),
        signed(
            "a message shortcut",
            "/slack/interactions",
            form(&[(
                "payload",
                r#"{"type":"message_action","user":{"id":"U1"}}"#,
            )])
            .into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "interaction type \"message_action\" is not handled"),
        signed(
            "an options request for another picker",
            "/slack/options",
            form(&[(
                "payload",
                r#"{"type":"block_actions","user":{"id":"U1"}}"#,
            )])
            .into_bytes(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "is not an options request"),
        signed(
            "an event that is not JSON",
            "/slack/events",
            b"type=url_verification".to_vec(),
            now,
            SIGNING_SECRET,
        )
        .answers(400, "not a Slack event"),
        Case {
            name: "unsigned click",
            path: "/slack/interactions",
            body: click("approve", "SR-00000000").into_bytes(),
            timestamp: Some(now.to_string()),
            signature: None,
            ..Case::default()
        }
        .answers(401, ""),
    ];
    // The right signature in upper case is still refused (Slack sends lower case).
    let mut upper = signed(
        "upper-case signature",
        "/slack/commands",
        good.clone().into_bytes(),
        now,
        SIGNING_SECRET,
    )
    .answers(401, "");
    upper.signature = upper
        .signature
        .map(|s| format!("v0={}", s[3..].to_uppercase()));
    cases.push(upper);
    // A body changed after signing.
    let mut tampered = signed(
        "tampered body",
        "/slack/commands",
        good.clone().into_bytes(),
        now,
        SIGNING_SECRET,
    )
    .answers(401, "");
    tampered.body = good.replace("a%40partner", "evil%40partner").into_bytes();
    cases.push(tampered);

    let http = reqwest::Client::new();
    for case in &cases {
        let mut req = http
            .post(format!("{}{}", t.base, case.path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(case.body.clone());
        if let Some(ts) = &case.timestamp {
            req = req.header("x-slack-request-timestamp", ts);
        }
        if let Some(sig) = &case.signature {
            req = req.header("x-slack-signature", sig);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_refused(case.name, status.as_u16(), &body, case.want);
    }
    let store = t.store();
    assert!(
        store.requests(None, 10).await.unwrap().is_empty(),
        "nothing was stored"
    );
    assert_eq!(
        verify_ledger(store.as_ref()).await.unwrap(),
        Ok(0),
        "the ledger is untouched"
    );
    assert!(t.sim.calls().is_empty(), "NCP was never called");
    // Slack's ssl_check probe gets a bare 200.
    let res = http
        .post(format!("{}/slack/commands", t.base))
        .body("ssl_check=1&token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        http.get(format!("{}/healthz", t.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{}/nope", t.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
