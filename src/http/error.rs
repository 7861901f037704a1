//! The only place that maps failures to HTTP status codes (a front picks only the status of the
//! outcomes it answers itself: a 200 with its reply, the webhook's 404 for an unknown request).
//! Every failure becomes a clear 4xx, or a 503 when a dependency is down; a 500 is opaque to the
//! caller and logs its cause once.

use crate::telemetry::metrics::RejectReason;
use crate::verify::VerifyError;
use crate::workflow::WorkflowError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request was not handled.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The signature (or its headers) did not verify. The body says nothing more.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] crate::verify::VerifyError),
    /// The body is malformed; the text says what is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The verified sender may not speak for what it names (another system's identity); the
    /// text says whose.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The event is about something other than what is stored now (a stale fingerprint).
    #[error("conflict: {0}")]
    Conflict(String),
    /// This front door is not configured (its secret is missing).
    #[error("{0} is not configured on this server")]
    NotConfigured(&'static str),
    /// The store or another dependency is down; the sender may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

/// The one mapping of workflow failures to answers, shared by every front door. A front that
/// answers some of them in its own way (Slack replies 200 with a text, a repeated delivery is
/// answered as a repeat) matches those first and hands the rest here.
impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        match e {
            // What the adapters should have caught: the sender's to fix.
            WorkflowError::Invalid(why) => ApiError::BadRequest(why),
            // Already done once; nothing more was done.
            WorkflowError::Duplicate => ApiError::Conflict(e.to_string()),
            // Nothing was decided: the sender may retry.
            WorkflowError::Store(e) => e.into(),
            WorkflowError::Ncp(e) => {
                ApiError::Unavailable(format!("{e}; nothing was done: the sender may retry"))
            }
        }
    }
}

/// A signature check's failure, as the metrics count it.
pub fn reject_reason(e: &VerifyError) -> RejectReason {
    match e {
        VerifyError::MissingHeader(_) => RejectReason::MissingHeader,
        VerifyError::BadHeader { .. } => RejectReason::BadHeader,
        VerifyError::BadTimestamp => RejectReason::BadTimestamp,
        VerifyError::Stale { .. } => RejectReason::Stale,
        VerifyError::BadSignature => RejectReason::BadSignature,
        VerifyError::NoSecret | VerifyError::BadSecret(_) => RejectReason::NoSecret,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized(e) => {
                // The reason is logged for the operator; the sender gets an empty 401, so a
                // forger learns nothing about which check failed. The router's meter counts
                // it by the reason left on the response.
                tracing::info!(reason = %e, "signature rejected");
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                response.extensions_mut().insert(reject_reason(&e));
                response
            }
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why).into_response(),
            ApiError::NotConfigured(what) => (
                StatusCode::NOT_FOUND,
                format!("{what} is not configured on this server"),
            )
                .into_response(),
            ApiError::Unavailable(cause) => {
                tracing::error!(%cause, "dependency unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "5")],
                    "temporarily unavailable, retry shortly",
                )
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncp::NcpError;
    use crate::store::StoreError;

    fn status(e: WorkflowError) -> StatusCode {
        ApiError::from(e).into_response().status()
    }

    #[test]
    fn workflow_failures_map_to_one_status_each() {
        let cases = [
            (
                WorkflowError::Invalid("name at least one login ID".into()),
                StatusCode::BAD_REQUEST,
            ),
            (WorkflowError::Duplicate, StatusCode::CONFLICT),
            (
                WorkflowError::Store(StoreError::Failed("lost".into())),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                WorkflowError::Ncp(NcpError::Transport {
                    endpoint: "https://ncloud.example".into(),
                    detail: "timed out".into(),
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (error, expected) in cases {
            let shown = error.to_string();
            assert_eq!(status(error), expected, "{shown}");
        }
    }
}
