//! Issue 19: one trace from the request to the post-back. The real binary runs as the HTTP and
//! the worker function under the Lambda emulator (frozen while idle), with DynamoDB and SQS on
//! moto and the SQS event source between them, exactly as in `lambda_freeze.rs`. A Slack command
//! arrives with a W3C `traceparent`; two approvers click (their deliveries arrive with no trace
//! of their own); the worker shares after the SQS hop and updates the card. The trace id the
//! command brought must be on the stored request and its outbox entries, and on every JSON log
//! line about the request in both processes: the command's, the clicks' once they know the
//! request, the worker's execution and its delivery of the final card.

use super::lambda_freeze::{function, function_config};
use crate::harness::aws::{aws_endpoint, queue_arn, sdk_config, unique};
use crate::harness::fake_jira::FakeJira;
use crate::harness::fixtures::{ALICE, APPROVALS, BOB, BOT_TOKEN, CAROL, SIGNING_SECRET};
use crate::harness::fixtures::{JIRA_EMAIL, JIRA_SECRET, JIRA_TOKEN, WEBHOOK_SECRET};
use crate::harness::lambda_emulator::*;
use crate::harness::ncp::spawn_sim;
use ncp_share_approver::cli::send::{ButtonAction, SignedDelivery, SlackSender};
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::secrets::SecretString;
use ncp_share_approver::store::{DynamoStore, OutboxQuery, Store, Tables};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The trace the command arrives in, and its caller's span.
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

/// A signed Slack delivery into the HTTP function, with `extra` headers.
async fn slack_invoke(
    http: &LambdaEmulator,
    d: &SignedDelivery,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-slack-request-timestamp", d.timestamp.as_str()),
        ("x-slack-signature", d.signature.as_str()),
    ];
    headers.extend_from_slice(extra);
    let event = http_api_event(d.path, &headers, d.body.as_bytes());
    http_api_answer(&http.invoke(&event).await)
}

/// A function's JSON log lines (the runtime's own plain lines, if any, left out).
fn json_lines(f: &LambdaEmulator) -> Vec<Value> {
    f.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

async fn until(
    what: &str,
    within: Duration,
    functions: [&LambdaEmulator; 2],
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "not within {within:?}: {what}\n{}\n{}",
            functions[0].log_tail(30),
            functions[1].log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_from_the_slack_command_across_the_queue_to_the_share_and_the_final_card() {
    let Some(endpoint) = aws_endpoint("the trace test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = spawn_sim().await;
    let slack = FakeSlack::start(BOT_TOKEN).await;
    // The functions export their spans too ([telemetry] otlp_endpoint), flushed by each
    // invocation before it answers (a frozen function sends nothing).
    let (otlp_endpoint, spans, refused) = crate::trace_otlp::collector().await;
    let jira = FakeJira::start(JIRA_EMAIL, JIRA_TOKEN).await;

    let sdk = sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let tables = Tables {
        state: unique("state"),
        ledger: unique("ledger"),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables.clone());
    store.create_tables().await.expect("create the tables");
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("work"))
        .attributes(A::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = queue_arn(&sqs, &queue_url).await;
    function_config(
        dir.path(),
        &tables,
        &queue_url,
        &sim.running.base_url,
        // The configuration adds `/api`.
        &format!("http://{}", slack.addr()),
        &jira.base_url,
    );
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // Debug: the outbox's line per delivery attempt (the final card's among them).
        ("RUST_LOG", "info,ncp_share_approver=debug"),
        ("NCP_ACCESS_KEY", DEMO_ACCESS_KEY),
        ("NCP_SECRET_KEY", DEMO_SECRET_KEY),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("JIRA_WEBHOOK_SECRET", JIRA_SECRET),
        ("JIRA_API_TOKEN", JIRA_TOKEN),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("NSA_TELEMETRY__OTLP_ENDPOINT", otlp_endpoint.as_str()),
        (
            "LEDGER_SIGNING_KEY",
            crate::harness::fixtures::TEST_LEDGER_KEY,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let http = LambdaEmulator::start(function(dir.path(), "http", &env)).await;
    let worker = Arc::new(LambdaEmulator::start(function(dir.path(), "worker", &env)).await);
    http.ready(Duration::from_secs(20)).await;
    worker.ready(Duration::from_secs(20)).await;
    let source = SqsEventSource::start(sqs.clone(), queue_url.clone(), queue_arn, worker.clone());

    // 1. Carol asks, in the caller's trace; the rule wants two approvals in C0APPROVALS.
    let sender = SlackSender::new(
        "https://abc123.execute-api.us-east-1.amazonaws.com",
        &format!("http://{}/response", slack.addr()),
        SecretString::from(SIGNING_SECRET),
    );
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let (status, text) = slack_invoke(
        &http,
        &sender.command_delivery(
            CAROL,
            "1234567 with a@partner.example for 7d because partner pilot",
        ),
        &[("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(status, 200, "{text}\n{}", http.log_tail(30));
    let id = crate::harness::fixtures::request_id_in(&text);
    let card_posted = || {
        slack
            .calls_to("chat.postMessage")
            .iter()
            .any(|c| c.ok && c.body["channel"] == APPROVALS && c.body.to_string().contains(&id))
    };
    until(
        "the approval card",
        Duration::from_secs(20),
        [&http, &worker],
        card_posted,
    )
    .await;

    // 2. Alice and Bob approve; their clicks come with no trace of their own.
    for user in [ALICE, BOB] {
        let (status, text) = slack_invoke(
            &http,
            &sender.click_delivery(user, ButtonAction::Approve, &id),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{user}: {text}\n{}", http.log_tail(30));
    }

    // 3. The SQS hop: the worker shares, then updates the card.
    let rid = RequestId::parse(&id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let request = loop {
        let r = store.request(&rid).await.unwrap().unwrap();
        if r.state == RequestState::Succeeded {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is {:?}, not succeeded\n{}",
            r.state,
            worker.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sim.sim.shared_with("1234567"), vec!["a@partner.example"]);
    let final_card = || {
        slack.calls_to("chat.update").iter().any(|c| {
            c.ok && c.body["text"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("{id} shared")))
        })
    };
    until(
        "the final card",
        Duration::from_secs(20),
        [&http, &worker],
        final_card,
    )
    .await;
    source.stop().await;

    // The request and everything it owes carry the command's trace.
    assert_eq!(
        request.trace_id.as_ref().map(|t| t.as_str()),
        Some(TRACE),
        "the stored request's trace"
    );
    let entries = store
        .outbox(OutboxQuery {
            request: Some(rid.clone()),
            status: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert!(entries.len() >= 4, "{} outbox entries", entries.len());
    for e in &entries {
        assert_eq!(
            e.trace_id.as_ref().map(|t| t.as_str()),
            Some(TRACE),
            "outbox entry {} ({})",
            e.id,
            e.message.name()
        );
    }

    // Every line about the request, in both processes, names the trace.
    let http_lines = json_lines(&http);
    let worker_lines = json_lines(&worker);
    let about = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l["request_id"] == id.as_str() || l.to_string().contains(&id))
            .cloned()
            .collect()
    };
    let (http_about, worker_about) = (about(&http_lines), about(&worker_lines));
    let wrong: Vec<String> = http_about
        .iter()
        .chain(&worker_about)
        .filter(|l| l["trace_id"] != TRACE)
        .map(|l| l.to_string())
        .collect();
    assert!(
        wrong.is_empty(),
        "lines about {id} without its trace {TRACE}:\n{}",
        wrong.join("\n")
    );
    // The command's lines, each click's once it knew the request, the worker's execution
    // (its SQS message and its attempt) and the outbox's deliveries, the final card's among them.
    let count =
        |lines: &[Value], pred: &dyn Fn(&Value) -> bool| lines.iter().filter(|l| pred(l)).count();
    let http_path = |path: &'static str| move |l: &Value| l["path"] == path;
    assert!(
        count(&http_about, &http_path("/slack/commands")) >= 1,
        "the command's lines\n{}",
        http.log_tail(40)
    );
    let clicks: std::collections::BTreeSet<String> = http_about
        .iter()
        .filter(|l| l["path"] == "/slack/interactions")
        .filter_map(|l| l["delivery_id"].as_str().map(String::from))
        .collect();
    assert_eq!(
        clicks.len(),
        2,
        "both clicks' lines name the request: {clicks:?}"
    );
    let in_span = |span: &'static str| {
        move |l: &Value| {
            l["spans"]
                .as_str()
                .is_some_and(|s| s.split(':').any(|n| n == span))
        }
    };
    assert!(
        count(&worker_about, &in_span("execute")) >= 1,
        "the worker's execution lines\n{}",
        worker.log_tail(40)
    );
    assert!(
        worker_about.iter().any(|l| in_span("execute")(l)
            && l["delivery_id"]
                .as_str()
                .is_some_and(|d| d.starts_with("sqs:"))),
        "the execution came through the SQS message\n{}",
        worker.log_tail(40)
    );
    // The final card: the card's lane delivered after the request succeeded.
    let succeeded = worker_about
        .iter()
        .position(|l| in_span("execute")(l) && l["state"] == "succeeded")
        .unwrap_or_else(|| panic!("the worker's line of the success\n{}", worker.log_tail(40)));
    assert!(
        worker_about[succeeded..]
            .iter()
            .any(|l| in_span("outbox")(l) && l["lane"] == format!("slack:{APPROVALS}")),
        "the worker's delivery of the final card\n{}",
        worker.log_tail(40)
    );
    // The clicks arrived in traces of their own: their lines before they knew the request
    // (the verification) name another trace, which the request's then replaced.
    let click_traces: std::collections::BTreeSet<&str> = http_lines
        .iter()
        .filter(|l| l["path"] == "/slack/interactions")
        .filter_map(|l| l["trace_id"].as_str())
        .collect();
    assert!(click_traces.contains(TRACE), "{click_traces:?}");

    // Where a delivery's trace comes from on Lambda: a valid `traceparent`, else the
    // `X-Amzn-Trace-Id` Root, which the function sees as the invocation's own X-Ray trace
    // (lambda_http sets the header from the Lambda context, API Gateway's trace when it traces;
    // the runtime logs it as `xrayTraceId`). The answer's line (a 405 from /healthz) names it.
    let amzn = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    for (headers, expected) in [
        (
            vec![
                ("traceparent", traceparent.as_str()),
                ("x-amzn-trace-id", amzn),
            ],
            Some(TRACE),
        ),
        (vec![("x-amzn-trace-id", amzn)], None),
        (
            vec![
                ("traceparent", "00-not-valid"),
                ("x-amzn-trace-id", "Root=nonsense"),
            ],
            None,
        ),
    ] {
        let before = json_lines(&http).len();
        let answer = http
            .invoke(&http_api_event("/healthz", &headers, b""))
            .await;
        assert_eq!(http_api_answer(&answer).0, 405);
        let lines = json_lines(&http);
        let line = lines[before..]
            .iter()
            .find(|l| l["path"] == "/healthz" && l["status"] == 405)
            .unwrap_or_else(|| panic!("the answer's line\n{}", http.log_tail(10)))
            .clone();
        // With no valid traceparent: the invocation's X-Ray trace, as the runtime names it.
        let xray = line["xrayTraceId"]
            .as_str()
            .and_then(ncp_share_approver::domain::TraceId::from_amzn_trace_id)
            .map(|t| t.to_string());
        let expected = expected.map(String::from).or(xray);
        assert!(expected.is_some(), "{line}");
        assert_eq!(
            line["trace_id"].as_str(),
            expected.as_deref(),
            "{headers:?}: {line}"
        );
    }

    // The spans of both processes reached the collector, in the command's trace: the HTTP
    // function's (the command's under the caller's span) and the worker's (the execution after
    // the SQS hop, the deliveries of the outbox).
    assert!(
        refused.lock().unwrap().is_empty(),
        "{:?}",
        refused.lock().unwrap()
    );
    let exported = spans.lock().unwrap().clone();
    let in_trace: Vec<_> = exported.iter().filter(|s| s.trace_id == TRACE).collect();
    let names: std::collections::BTreeSet<&str> =
        in_trace.iter().map(|s| s.name.as_str()).collect();
    for name in ["http", "execute", "outbox"] {
        assert!(
            names.contains(name),
            "a {name:?} span in {TRACE}: {names:?} ({} spans in all)",
            exported.len()
        );
    }
    assert!(
        in_trace
            .iter()
            .any(|s| s.name == "http" && s.parent_span_id == CALLER_SPAN),
        "{in_trace:?}"
    );

    eprintln!(
        "trace {TRACE}: {} lines in the HTTP function and {} in the worker about {id}; the clicks' traces {click_traces:?}",
        http_about.len(),
        worker_about.len()
    );
}
