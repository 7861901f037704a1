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
