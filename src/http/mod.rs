//! HTTP adapters: one module per source. They verify, parse into domain types, and call the
//! workflow; they never talk to NCP or decide policy themselves.

pub mod error;
pub mod jira;
mod router;
pub mod slack;
pub mod webhook;
pub mod works;

pub use error::ApiError;
pub use router::{AppState, MAX_BODY_BYTES, REQUEST_TIMEOUT, app, lambda_service};

use axum::http::StatusCode;

/// Names the delivery a front door is answering on its request's span: every later line of the
/// request (and the answer's) carries it as `delivery_id`.
pub fn record_delivery(key: &str) {
    tracing::Span::current().record(
        "delivery_id",
        tracing::field::display(crate::telemetry::delivery_log_id(key)),
    );
}

/// Names the share request a delivery is about on its request's span (`request_id`).
pub fn record_request(id: &crate::domain::RequestId) {
    tracing::Span::current().record("request_id", tracing::field::display(id));
}

/// `GET /healthz`: liveness. Reveals nothing about the configuration or the peers.
pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok")
}

/// How long `/readyz` waits for the store before it calls it unreachable (a load balancer's
/// probe gives up after a few seconds).
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: whether this process should get traffic: 200 `{"ready": true}` when the store
/// answers and holds every migration this build needs; 503 `{"ready": false, "reason": ...}`
/// while it does not, or while the process is stopping. The reason names the condition, never
/// the store's address or credentials (the cause is logged).
pub async fn readyz(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<AppState>>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    use crate::workflow::ports::store::StoreError;
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "reason": reason})),
        )
    };
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return not_ready("stopping: this instance finishes its work and takes no more".into());
    }
    match tokio::time::timeout(READY_TIMEOUT, state.workflow.store.ready()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ready": true})),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store");
            not_ready(match e {
                // Our own words (a missing migration): safe and the most useful.
                StoreError::Failed(why) => why,
                _ => "the store cannot be reached (the cause is in this instance's log)".into(),
            })
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer in time");
            not_ready(format!(
                "the store did not answer within {} s",
                READY_TIMEOUT.as_secs()
            ))
        }
    }
}
