//! Issue 19: OTLP export. The service's spans go to a minimal OTLP/HTTP collector stand-in
//! (`POST /v1/traces`, protobuf, decoded with the OpenTelemetry protocol's own types), through
//! the exporter `[telemetry] otlp_endpoint` turns on (`telemetry::Otlp`), in the trace the
//! request arrived in: the HTTP span under the caller's span of its `traceparent`, then the
//! outbox's delivery of the card and the worker's execution, made later and elsewhere, in the
//! same trace because the request carries it. The JSON log lines name the same trace id.

use crate::harness::fixtures::*;
use crate::harness::log_buffer::LogBuffer;
use crate::harness::spawn_app;
use axum::body::Bytes;
use ncp_share_approver::domain::RequestState;
use ncp_share_approver::telemetry::{Otlp, json_subscriber_with_otlp, otlp_traces_url};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as the collector received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub name: String,
    pub trace_id: String,
    pub parent_span_id: String,
    pub service: String,
}

/// The collector stand-in: answers every export 200 and keeps its spans (and why it refused
/// an export, if it did). Its base URL is the exporter's `otlp_endpoint`.
pub(crate) type Spans = Arc<Mutex<Vec<Received>>>;
pub(crate) async fn collector() -> (String, Spans, Arc<Mutex<Vec<String>>>) {
    let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let (kept, why) = (spans.clone(), refused.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let (kept, why) = (kept.clone(), why.clone());
            async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if kind != "application/x-protobuf" {
                    why.lock().unwrap().push(format!("content-type {kind:?}"));
                    return axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
                }
                let Ok(export) = ExportTraceServiceRequest::decode(body) else {
                    why.lock()
                        .unwrap()
                        .push("not an ExportTraceServiceRequest".into());
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                for resource in export.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            kept.lock().unwrap().push(Received {
                                name: span.name,
                                trace_id: hex::encode(span.trace_id),
                                parent_span_id: hex::encode(span.parent_span_id),
                                service: service.clone(),
                            });
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans, refused)
}

#[test]
fn the_collector_receives_the_request_s_spans_in_the_trace_it_arrived_in() {
    let buffer = LogBuffer::default();
    // The collector runs on a runtime of its own, so that the exporter's blocking client is
    // never waited for on the app's threads.
    let collector_rt = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, spans, refused) = collector_rt.block_on(collector());
    let otlp = Otlp::new(&endpoint).expect("an exporter");
    let dispatch = tracing::Dispatch::new(json_subscriber_with_otlp(
        EnvFilter::new("info,ncp_share_approver=debug"),
        buffer.clone(),
        false,
        &otlp,
    ));
    // See delivery_logs.rs: a second registered dispatcher keeps this test's callsites
    // enabled whichever thread of the binary reaches them first.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let on_start = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_start)))
        .build()
        .unwrap();
    let id = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            let t = spawn_app().start().await;
            let d = t.command_delivery(
                CAROL,
                "1234567 with a@partner.example for 7d because partner pilot",
            );
            let mut req = reqwest::Client::new().post(format!("{}{}", t.base, d.path));
            for (name, value) in d.headers() {
                req = req.header(name, value);
            }
            let answer = req
                .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
                .body(d.body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            let id = request_id_in(&answer.text().await.unwrap());
            t.deliver_all().await;
            t.click(ALICE, "approve", &id).await;
            t.click(BOB, "approve", &id).await;
            assert!(t.wait_state(&id, RequestState::Succeeded).await);
            t.deliver_all().await;
            let stored = t
                .store()
                .request(&ncp_share_approver::domain::RequestId::parse(&id).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                stored.trace_id.map(|t| t.to_string()).as_deref(),
                Some(TRACE)
            );
            id
        })
    });
    drop(runtime);
    // Every span has ended: sent now (blocking, off the runtimes).
    otlp.flush();
    let received = spans.lock().unwrap().clone();
    assert!(
        refused.lock().unwrap().is_empty(),
        "{:?}",
        refused.lock().unwrap()
    );
    let in_trace: Vec<&Received> = received.iter().filter(|s| s.trace_id == TRACE).collect();
    let names: std::collections::BTreeSet<&str> =
        in_trace.iter().map(|s| s.name.as_str()).collect();
    for name in ["http", "outbox", "execute"] {
        assert!(
            names.contains(name),
            "a {name:?} span in trace {TRACE}: {names:?} (all: {} spans)",
            received.len()
        );
    }
    // The command's HTTP span hangs under the caller's span of its traceparent.
    assert!(
        in_trace
            .iter()
            .any(|s| s.name == "http" && s.parent_span_id == CALLER_SPAN),
        "{in_trace:?}"
    );
    assert!(
        in_trace
            .iter()
            .all(|s| s.service.contains("ncp-share-approver")),
        "{in_trace:?}"
    );
    // The log lines about the request name the same trace.
    let text = buffer.text();
    let about: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["request_id"] == id.as_str())
        .collect();
    assert!(!about.is_empty());
    for line in &about {
        assert_eq!(line["trace_id"], TRACE, "{line}");
    }
}

#[test]
fn the_endpoint_is_a_collector_s_base_url() {
    assert_eq!(
        otlp_traces_url("http://127.0.0.1:4318").unwrap(),
        "http://127.0.0.1:4318/v1/traces"
    );
    assert_eq!(
        otlp_traces_url("https://otel.example/base/").unwrap(),
        "https://otel.example/base/v1/traces"
    );
    assert_eq!(
        otlp_traces_url("http://c:4318/v1/traces").unwrap(),
        "http://c:4318/v1/traces"
    );
    for bad in [
        "",
        "collector:4318",
        "grpc://c:4317",
        "http://",
        "http://user:pw@c:4318",
        "http://c:4318/?x=1",
    ] {
        assert!(otlp_traces_url(bad).is_err(), "{bad:?}");
    }
}
