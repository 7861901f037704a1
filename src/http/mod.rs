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

/// `GET /healthz`: liveness. Reveals nothing about the configuration or the peers.
pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok")
}
