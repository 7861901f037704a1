//! The request form: opened from `/share-image` with no text and from the shortcut, its image
//! picker's options, a valid submission to the share on the simulator, and invalid fields
//! answered in the form with nothing stored.

use crate::harness::fixtures::{CAROL, ERIN};
use crate::harness::spawn_app;
use ncp_share_approver::domain::RequestState;
use serde_json::Value;
use std::time::Duration;

/// The last modal the fake Slack opened or updated.
fn last_modal(app: &crate::harness::App) -> Value {
    app.slack
        .views()
        .into_iter()
        .last()
        .expect("a modal was opened")
}

fn option_values(answer: &Value) -> Vec<String> {
    answer["options"]
        .as_array()
        .expect("an options list")
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .collect()
}

/// Every duration the form offers, as option values.
fn durations(view: &Value) -> Vec<String> {
    let block = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "duration")
        .expect("a duration block");
    block["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_command_with_no_text_and_the_shortcut_open_the_request_form() {
    let app = spawn_app().start().await;
    let res = app.command_with_trigger(CAROL, "").await;
    assert_eq!(res.status(), 200);
    // The form is the answer: the command itself gets an empty 200.
    assert_eq!(res.text().await.unwrap(), "");
    let modal = last_modal(&app);
    assert_eq!(modal["type"], "modal");
    assert_eq!(modal["callback_id"], "share_request");
    assert_eq!(modal["title"]["text"], "Share an image");
    let ids: Vec<&str> = modal["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["block_id"].as_str())
        .collect();
    for id in ["image", "targets", "duration", "reason"] {
        assert!(ids.contains(&id), "the form has a {id} field: {ids:?}");
    }
    // The command's channel travels with the form.
    assert!(
        modal["private_metadata"]
            .as_str()
            .unwrap()
            .contains("C0REQUESTS")
    );

    let res = app.shortcut(CAROL).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.slack.views().len(),
        2,
        "the shortcut opened a second form"
    );
    assert_eq!(last_modal(&app)["callback_id"], "share_request");

    // A stale trigger (Slack's expire in 3 s and are single-use) gets a clear private answer.
    let reply = app.command(CAROL, "").await;
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("did not open the request form"), "{text}");
    assert!(text.contains("Usage"), "{text}");
    app.check_payloads();
}

#[tokio::test]
async fn someone_not_in_the_policy_is_told_instead_of_getting_a_form() {
    let app = spawn_app().start().await;
    let res = app.command_with_trigger("U0STRANGER", "").await;
    let reply: Value = res.json().await.unwrap();
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("not in the approver policy's [people]"),
        "{reply}"
    );
    assert!(app.slack.views().is_empty());
}

#[tokio::test]
async fn the_options_are_the_images_the_policy_allows_filtered_by_what_is_typed() {
    // Carol may share sandbox images only; erin golden and sandbox.
    const POLICY: &str = r#"
[people]
carol = { slack = "U056CAROL" }
erin  = { slack = "U090ERIN" }
alice = { slack = "U012ALICE" }

[[rules]]
name = "sandbox for carol"
images = ["name:sandbox-*"]
targets = ["*@corp.example"]
requesters = ["carol"]
auto_approve = true

[[rules]]
name = "golden for erin"
images = ["name:golden-*", "name:sandbox-*"]
targets = ["*@partner.example"]
requesters = ["erin"]
approvers = ["alice"]
min_approvals = 1
max_duration = "7d"
"#;
    let app = spawn_app().policy(POLICY).start().await;
    // The picker is served from the catalog the worker refreshed, never from NCP per keystroke.
    let ncp_calls = app.sim.calls().len();
    assert_eq!(option_values(&app.options(CAROL, "").await), ["3456789"]);
    let erin = option_values(&app.options(ERIN, "").await);
    assert_eq!(erin.len(), 4, "{erin:?}");
    assert!(
        !erin.contains(&"5678901".to_owned()),
        "an image not CREAT is never offered"
    );
    assert!(
        !erin.contains(&"9999999".to_owned()),
        "another account's image is never offered"
    );
    assert_eq!(
        option_values(&app.options(ERIN, "golden-d").await),
        ["2345678"]
    );
    assert_eq!(
        option_values(&app.options(ERIN, "GOLDEN-W").await),
        ["1234567"]
    );
    assert_eq!(option_values(&app.options(ERIN, "456").await), ["4567890"]);
    assert!(option_values(&app.options(CAROL, "golden").await).is_empty());
    // Each option names the image.
    let answer = app.options(ERIN, "golden-web").await;
    assert!(
        answer["options"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("golden-web")
    );
    // Someone the policy does not know gets nothing.
    assert!(option_values(&app.options("U0STRANGER", "").await).is_empty());
    assert_eq!(
        app.sim.calls().len(),
        ncp_calls,
        "no NCP call per keystroke"
    );
    // A number the catalog does not know (an image made since the refresh) is offered as typed.
    let typed = app.options(ERIN, "7777777").await;
    assert_eq!(option_values(&typed), ["7777777"]);

    // Picking an image narrows the durations to what its rules allow.
    app.command_with_trigger(ERIN, "").await;
    let modal = last_modal(&app);
    let picked = app
        .interact(&serde_json::json!({
            "type": "block_actions",
            "team": {"id": "T0TEST"},
            "user": {"id": ERIN},
            "trigger_id": app.slack.issue_trigger(),
            "view": modal,
            "actions": [{"type": "external_select", "action_id": "image", "block_id": "image",
                         "selected_option": {"text": {"type": "plain_text", "text": "golden-web"}, "value": "1234567"}}],
        }))
        .await;
    assert_eq!(picked.status(), 200);
    let updated = last_modal(&app);
    assert_eq!(
        durations(&updated),
        ["1d", "3d", "7d"],
        "golden images to partners last at most 7d"
    );
    app.check_payloads();
}

#[tokio::test]
async fn a_valid_form_is_shared_on_the_simulator_and_confirmed_in_the_form() {
    let app = spawn_app().start().await;
    app.command_with_trigger(CAROL, "").await;
    let modal = last_modal(&app);
    let res = app
        .submit_view(
            CAROL,
            &modal,
            &[
                ("image", "3456789"),
                ("targets", "builder@corp.example"),
                ("duration", "7d"),
                ("reason", "ci runners"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["response_action"], "update", "{answer}");
    let shown = answer["view"].to_string();
    assert!(
        shown.contains("SR-"),
        "the confirmation names the request: {shown}"
    );
    let id = crate::harness::fixtures::request_id_in(&shown);
    assert!(app.wait_state(&id, RequestState::Succeeded).await);
    assert_eq!(app.sim.shared_with("3456789"), ["builder@corp.example"]);
    let stored = app
        .store()
        .request(&ncp_share_approver::domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.reason.as_deref(), Some("ci runners"));
    assert_eq!(
        stored.duration.map(|d| d.to_string()).as_deref(),
        Some("7d")
    );

    // The same form submitted again (Slack's retry, a double click) does nothing more.
    let again: Value = app
        .submit_view(
            CAROL,
            &modal,
            &[
                ("image", "3456789"),
                ("targets", "builder@corp.example"),
                ("duration", "7d"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(again.to_string().contains("already submitted"), "{again}");
    assert_eq!(app.store().requests(None, 10).await.unwrap().len(), 1);
    app.check_payloads();
}

/// A form's fields by block id.
type Fields<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn invalid_fields_are_answered_in_the_form_and_nothing_is_stored() {
    let app = spawn_app().start().await;
    app.command_with_trigger(CAROL, "").await;
    let modal = last_modal(&app);
    let cases: [(Fields, &str, &str); 6] = [
        // Fields that do not parse.
        (
            &[("targets", "a@corp.example"), ("duration", "7d")],
            "image",
            "pick an image",
        ),
        (
            &[("image", "1234567"), ("targets", " , "), ("duration", "7d")],
            "targets",
            "at least one",
        ),
        (
            &[
                ("image", "1234567"),
                ("targets", "a@corp.example"),
                ("duration", "forever"),
            ],
            "duration",
            "",
        ),
        // What the policy refuses, with `policy explain`'s sentences.
        (
            &[
                ("image", "1234567"),
                ("targets", "a@evil.example"),
                ("duration", "7d"),
            ],
            "targets",
            "target a@evil.example does not match",
        ),
        (
            &[
                ("image", "1234567"),
                ("targets", "a@partner.example"),
                ("duration", "90d"),
            ],
            "duration",
            "allows at most 30d",
        ),
        (
            &[
                ("image", "1234567"),
                ("targets", "a@partner.example"),
                ("duration", "none"),
            ],
            "duration",
            "requires `for <duration>`",
        ),
    ];
    for (values, field, sentence) in cases {
        let res = app.submit_view(CAROL, &modal, values).await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["response_action"], "errors", "{values:?}: {answer}");
        let error = answer["errors"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{values:?}: no error on {field}: {answer}"));
        assert!(error.contains(sentence), "{values:?}: {error}");
    }
    assert!(app.store().requests(None, 10).await.unwrap().is_empty());
    assert!(
        app.store().audit_head().await.unwrap().is_none(),
        "nothing in the ledger"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !app.sim
            .calls()
            .iter()
            .any(|c| c.operation.contains("SharingPermission")),
        "NCP was never asked to change a share"
    );
}

#[tokio::test]
async fn the_slack_app_manifest_names_the_routes_and_ids_the_service_answers() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/slack-app-manifest.yaml"
    ))
    .unwrap();
    let base = "https://share-approver.example.com";
    // The settings, not the comments (which name the base URL alone).
    let settings: String = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let manifest = settings;
    let paths: Vec<&str> = manifest
        .match_indices(base)
        .map(|(i, _)| {
            let rest = &manifest[i + base.len()..];
            &rest[..rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len())]
        })
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/slack/commands",
            "/slack/events",
            "/slack/interactions",
            "/slack/options"
        ]
    );
    // Each is a route of the service: unsigned, it is refused as unsigned (401), not unknown (404).
    let app = spawn_app().start().await;
    for path in paths {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", app.base))
            .body("x=1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    assert!(manifest.contains(&format!(
        "callback_id: {}",
        ncp_share_approver::http::slack::interaction::SHORTCUT_CALLBACK
    )));
    assert!(manifest.contains("- app_home_opened"));
    assert!(manifest.contains("home_tab_enabled: true"));
}
