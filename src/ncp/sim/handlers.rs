//! The HTTP side: one handler that behaves like the NCP API gateway in front of vserver.
//!
//! Order of checks, as on the gateway: known path → authentication → injected faults →
//! the operation. Every call is written to the call log with the status it got.

use super::Simulator;
use super::params::Params;
use super::render;
use super::seed::SeedAccount;
use super::state::Operation;
use super::{RecordedCall, now_ms};
use crate::ncp::signature::{
    ACCESS_KEY_HEADER, MAX_SKEW_MS, SIGNATURE_V1_HEADER, SIGNATURE_V2_HEADER, TIMESTAMP_HEADER,
    verify,
};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

/// The path prefix of every vserver v2 operation.
pub(crate) const PREFIX: &str = "/vserver/v2/";

/// Handles every request, routed or not, so that unknown paths get the gateway's 404 body.
pub(crate) async fn handle(
    State(sim): State<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The raw request target as received: the signature covers exactly these bytes.
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let params = Params::parse(uri.query(), is_form.then_some(&body[..]));
    let operation_name = uri.path().strip_prefix(PREFIX).unwrap_or(uri.path());
    let signature_header = if headers.contains_key(SIGNATURE_V2_HEADER) {
        Some("v2")
    } else if headers.contains_key(SIGNATURE_V1_HEADER) {
        Some("v1")
    } else {
        None
    };

    let (status, body) = answer(&sim, &method, &uri, &path_and_query, &headers, &params).await;

    sim.record(RecordedCall {
        method: method.to_string(),
        operation: operation_name.to_owned(),
        path_and_query,
        params: params.pairs().to_vec(),
        signature_header,
        access_key: header_str(&headers, ACCESS_KEY_HEADER).map(str::to_owned),
        status,
    });
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Body::from(body),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(render::CONTENT_TYPE),
    );
    response
}

/// Computes the status and body of one call; the caller records and sends it.
async fn answer(
    sim: &Simulator,
    method: &Method,
    uri: &Uri,
    path_and_query: &str,
    headers: &HeaderMap,
    params: &Params,
) -> (u16, String) {
    let operation = (method == Method::GET || method == Method::POST)
        .then(|| uri.path().strip_prefix(PREFIX))
        .flatten()
        .and_then(Operation::from_name);
    let Some(op) = operation else {
        let details = format!("no API at {} {}", method, uri.path());
        return (404, render::gateway_error(404, &details));
    };

    let accounts = sim.lock().accounts.clone();
    let caller = match authenticate(
        &accounts,
        headers,
        method.as_str(),
        path_and_query,
        now_ms(),
    ) {
        Ok(account) => account.login_id.clone(),
        Err(details) => return (401, render::gateway_error(401, details)),
    };

    // Faults come after authentication and before the operation, so they never change state.
    let (latency, injected) = sim.draw_fault();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = injected {
        return (status, render::gateway_error(status, ""));
    }

    let result = sim.lock().execute(&caller, op, params);
    match result {
        Ok(reply) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            (200, render::success(op, &reply, &request_id))
        }
        Err(e) => (400, render::service_error(e.code, &e.message)),
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the gateway headers and signature at time `now_ms`; the error is the `details` text.
///
/// The details say what is wrong but never reveal the secret or the expected signature.
pub(crate) fn authenticate<'a>(
    accounts: &'a [SeedAccount],
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    now_ms: i64,
) -> Result<&'a SeedAccount, &'static str> {
    let timestamp =
        header_str(headers, TIMESTAMP_HEADER).ok_or("missing header x-ncp-apigw-timestamp")?;
    let access_key =
        header_str(headers, ACCESS_KEY_HEADER).ok_or("missing header x-ncp-iam-access-key")?;
    let signature = header_str(headers, SIGNATURE_V2_HEADER)
        .or_else(|| header_str(headers, SIGNATURE_V1_HEADER))
        .ok_or("missing header x-ncp-apigw-signature-v2 (or -v1)")?;
    let account = accounts
        .iter()
        .find(|a| a.access_key == access_key)
        .ok_or("unknown access key")?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "timestamp is not a number of milliseconds")?;
    if now_ms.abs_diff(ts) >= MAX_SKEW_MS.unsigned_abs() {
        return Err("timestamp out of range");
    }
    let secret = account.secret_key.expose_secret().as_bytes();
    if !verify(
        method,
        path_and_query,
        timestamp,
        access_key,
        secret,
        signature,
    ) {
        return Err("signature mismatch");
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncp::signature::sign;
    use secrecy::SecretString;

    const PQ: &str = "/vserver/v2/getServerImageList?responseFormatType=json";

    fn accounts() -> Vec<SeedAccount> {
        vec![SeedAccount {
            login_id: "me@x".into(),
            access_key: "AK".into(),
            secret_key: SecretString::from("SK"),
        }]
    }

    fn headers(ts: i64, sig_header: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
        h.insert(ACCESS_KEY_HEADER, "AK".parse().unwrap());
        h.insert(
            axum::http::HeaderName::from_bytes(sig_header.as_bytes()).unwrap(),
            sig.parse().unwrap(),
        );
        h
    }

    fn check(ts: i64, now: i64) -> Result<(), &'static str> {
        let sig = sign("GET", PQ, &ts.to_string(), "AK", b"SK");
        let accounts = accounts();
        authenticate(
            &accounts,
            &headers(ts, SIGNATURE_V2_HEADER, &sig),
            "GET",
            PQ,
            now,
        )
        .map(|_| ())
    }

    #[test]
    fn the_skew_window_is_just_under_five_minutes_both_ways() {
        let now = 1_700_000_000_000;
        assert_eq!(check(now, now), Ok(()));
        assert_eq!(check(now - MAX_SKEW_MS + 1, now), Ok(()));
        assert_eq!(check(now + MAX_SKEW_MS - 1, now), Ok(()));
        assert_eq!(check(now - MAX_SKEW_MS, now), Err("timestamp out of range"));
        assert_eq!(check(now + MAX_SKEW_MS, now), Err("timestamp out of range"));
    }

    #[test]
    fn v1_and_v2_header_names_are_verified_alike() {
        let now = 1_700_000_000_000;
        let sig = sign("GET", PQ, &now.to_string(), "AK", b"SK");
        let accounts = accounts();
        for name in [SIGNATURE_V1_HEADER, SIGNATURE_V2_HEADER] {
            assert!(authenticate(&accounts, &headers(now, name, &sig), "GET", PQ, now).is_ok());
            let err = authenticate(&accounts, &headers(now, name, &sig), "POST", PQ, now);
            assert_eq!(err.unwrap_err(), "signature mismatch");
        }
    }
}
