//! `AppState` and `app(state) -> Router`: what `serve`, Lambda and the tests all run.

use crate::clock::Clock;
use crate::http::{self, slack::SlackFront};
use crate::telemetry::metrics::{self, Front, HttpResult, RejectReason};
use crate::workflow::Workflow;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted (DESIGN: 64 KiB; larger bodies get 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a handler needs, built once at start and borrowed by every request.
pub struct AppState {
    /// The use cases and their ports.
    pub workflow: Workflow,
    /// The Slack front door, when its signing secret is configured.
    pub slack: Option<SlackFront>,
    /// The Jira front door, when `[jira]` and its secrets are configured.
    pub jira: Option<http::jira::JiraFront>,
    /// The generic webhook, when a ticket system's secret is configured.
    pub webhook: Option<http::webhook::WebhookFront>,
    /// The NAVER WORKS front door, when `[works]` and `WORKS_BOT_SECRET` are configured.
    pub works: Option<http::works::WorksFront>,
    /// The time (signature windows, de-duplication).
    pub clock: Arc<dyn Clock>,
    /// Delivers the outbox (run by `serve`, and by the Lambda worker before it answers).
    pub dispatcher: Arc<crate::workflow::outbox::Dispatcher>,
    /// Signs and publishes ledger checkpoints (after executions, and on the schedule).
    pub checkpoints: Arc<crate::workflow::Checkpointer>,
    /// Set when the process is stopping: `/readyz` answers 503 so that the load balancer sends
    /// nothing more while in-flight work finishes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

/// The router as Lambda runs it: the same routes, with an API Gateway stage name (`/Prod`)
/// taken off the front of the path first, so that a named stage reaches the same handlers.
pub fn lambda_service<B>(
    state: Arc<AppState>,
) -> impl tower::Service<
    Request<B>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    tower::ServiceBuilder::new()
        .map_request(strip_stage::<B>)
        .map_request(amzn_trace::<B>)
        .service(app(state))
}

/// The trace Lambda was invoked in, when the request has no valid `traceparent`: the `Root` of
/// the `X-Amzn-Trace-Id` header, which lambda_http sets to the invocation's X-Ray trace id
/// (`Lambda-Runtime-Trace-Id`, API Gateway's trace when it traces), else of the Lambda context's.
/// Read on Lambda only: elsewhere anyone could send the header, and only `traceparent` is the
/// standard for that.
#[derive(Debug, Clone)]
struct LambdaTrace(crate::domain::TraceId);

fn amzn_trace<B>(mut req: Request<B>) -> Request<B> {
    use crate::domain::TraceId;
    use lambda_http::RequestExt as _;
    let trace = req
        .headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceId::from_amzn_trace_id)
        .or_else(|| {
            req.lambda_context_ref()
                .and_then(|c| c.xray_trace_id.as_deref())
                .and_then(TraceId::from_amzn_trace_id)
        });
    if let Some(trace) = trace {
        req.extensions_mut().insert(LambdaTrace(trace));
    }
    req
}

/// Puts a delivery in its trace: the one a valid W3C `traceparent` header names (its span id
/// kept as the span's parent), else Lambda's ([`LambdaTrace`]), else a new one. The trace goes
/// on the request (the `http` span reads it) and is the task's current trace
/// ([`crate::workflow::trace`]) while the delivery is handled.
async fn in_trace(
    mut req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::domain::{TraceId, TraceParent};
    let incoming = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let trace = match incoming {
        Some(parent) => {
            req.extensions_mut().insert(parent.parent_id);
            parent.trace_id
        }
        None => req
            .extensions()
            .get::<LambdaTrace>()
            .map(|t| t.0.clone())
            .unwrap_or_else(TraceId::random),
    };
    req.extensions_mut().insert(trace.clone());
    crate::workflow::trace::scope(trace, next.run(req)).await
}

fn strip_stage<B>(mut req: Request<B>) -> Request<B> {
    use lambda_http::request::RequestContext;
    let stage = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else {
        return req;
    };
    let prefix = format!("/{stage}");
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(&prefix).filter(|r| r.starts_with('/')) {
        let pq = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        if let Ok(uri) = pq.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Counts every answer by front door and result, and a signature rejection by its reason
/// (which [`http::ApiError`] leaves on the response: the 401's body says nothing).
async fn meter(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let front = Front::of_path(req.uri().path());
    let response = next.run(req).await;
    metrics::request_received(front, HttpResult::of_status(response.status().as_u16()));
    if let Some(reason) = response.extensions().get::<RejectReason>() {
        metrics::signature_rejected(front, *reason);
    }
    response
}

/// The HTTP routes, the same locally and on AWS.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/slack/commands", post(http::slack::commands))
        .route("/slack/interactions", post(http::slack::interactions))
        .route("/slack/events", post(http::slack::events::events))
        .route("/slack/options", post(http::slack::events::options))
        .route("/jira/webhook", post(http::jira::webhook))
        .route("/webhook", post(http::webhook::webhook))
        .route("/webhook/{system}", post(http::webhook::webhook_for))
        .route("/works/callback", post(http::works::callback))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outside the timeout, so that a 408 is counted as one.
        .layer(axum::middleware::from_fn(meter))
        .layer(
            // One span per request with its method and route; never a body, a query or a header
            // value. The front door records its delivery key (`delivery_id`), the share request
            // once it is known (`request_id`) and what the delivery is (`issue`, `event`,
            // `system`), so every line of the request, the answer's included, carries them.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // The delivery's trace ([`in_trace`]) from the start, so that the span (when
                    // exported) starts in it; a front door that finds the share request the
                    // delivery is about switches `trace_id` to the request's.
                    let span = tracing::info_span!(
                        "http",
                        method = %req.method(),
                        path = %req.uri().path(),
                        trace_id = tracing::field::Empty,
                        parent_span_id = tracing::field::Empty,
                        delivery_id = tracing::field::Empty,
                        request_id = tracing::field::Empty,
                        issue = tracing::field::Empty,
                        event = tracing::field::Empty,
                        system = tracing::field::Empty,
                    );
                    if let Some(trace) = req.extensions().get::<crate::domain::TraceId>() {
                        span.record("trace_id", tracing::field::display(trace));
                    }
                    if let Some(parent) = req.extensions().get::<crate::domain::SpanId>() {
                        span.record("parent_span_id", parent.as_str());
                    }
                    span
                })
                // One line per delivery answered, in its span: the audit trail of the doors.
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        // Outermost: the trace is chosen before the span above is made.
        .layer(axum::middleware::from_fn(in_trace))
}
