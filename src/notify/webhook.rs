//! Callbacks of the generic webhook: every state change of a request that came in through
//! `POST /webhook` with a `callback_url` is POSTed there as JSON, signed with Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) under our `WEBHOOK_SECRET`.
//!
//! The URL's host must be in `[webhook] callback_hosts`, checked when the request is made and
//! again before every call, so no request can make the service call an arbitrary URL. One
//! background task posts callbacks in order; each is retried with full-jitter backoff on 408,
//! 429, 5xx and connection errors, re-signed with a fresh timestamp per attempt and with the same
//! `webhook-id`, so the receiver can de-duplicate.

use super::{Notice, Notifier};
use crate::domain::{Origin, ShareRequest};
use crate::ncp::RetryPolicy;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The callback's `type`.
pub const CALLBACK_EVENT: &str = "share.updated";

/// Checks a callback URL: `https` (or `http` to 127.0.0.1 or localhost), no credentials in it,
/// and a host in `hosts` (exact, ignoring ASCII case). The error says which rule it broke.
pub fn check_callback_url(url: &str, hosts: &[String]) -> Result<reqwest::Url, String> {
    let u =
        reqwest::Url::parse(url).map_err(|_| "callback_url is not an absolute URL".to_string())?;
    let host = u
        .host_str()
        .ok_or_else(|| "callback_url has no host".to_string())?
        .to_string();
    let local = matches!(host.as_str(), "127.0.0.1" | "localhost");
    if !(u.scheme() == "https" || (u.scheme() == "http" && local)) {
        return Err("callback_url must be https (http only to 127.0.0.1 or localhost)".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("callback_url must not carry a user name or password".into());
    }
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(format!(
            "callback_url host {:?} is not allowed: it must be one of [webhook] callback_hosts ({})",
            crate::notify::jira::render::clip(&host),
            if hosts.is_empty() {
                "none configured".to_string()
            } else {
                hosts.join(", ")
            }
        ));
    }
    Ok(u)
}

/// The JSON body of a callback about `notice`.
pub fn callback_body(
    request: &ShareRequest,
    notice: &Notice,
    at: chrono::DateTime<chrono::Utc>,
) -> Value {
    let (system, ticket_id) = match &request.origin {
        Origin::Webhook {
            system, ticket_id, ..
        } => (system.as_str(), ticket_id.as_str()),
        _ => ("", ""),
    };
    let outcome = request.outcome.clone().unwrap_or_default();
    let mut body = json!({
        "type": CALLBACK_EVENT,
        "notice": notice.name(),
        "request_id": request.id.as_str(),
        "ticket": {"system": system, "id": ticket_id},
        "state": request.state.as_str(),
        "image_no": request.image_no.as_str(),
        "action": request.action.as_str(),
        "targets": request.targets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "duration": request.duration.map(|d| d.to_string()),
        "fingerprint": request.fingerprint,
        "rule": request.rule,
        "min_approvals": request.min_approvals,
        "message": outcome.message,
        "ncp_code": outcome.ncp_code,
        "shared_with_after": outcome.shared_with_after,
        "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let Notice::ApprovalAdded(a) | Notice::Denied(a) = notice {
        body["by"] = json!(a.person.as_str());
        if let Some(c) = &a.comment {
            body["reason"] = json!(c);
        }
    }
    body
}

struct Job {
    url: String,
    id: String,
    body: Vec<u8>,
    request_id: String,
}

/// Posts signed callbacks for requests that came from the generic webhook, in the background.
pub struct WebhookNotifier {
    queue: mpsc::UnboundedSender<Job>,
    hosts: Vec<String>,
    pushed: AtomicU64,
    handled: watch::Receiver<u64>,
}

impl WebhookNotifier {
    /// Starts the background task (needs a Tokio runtime). `secret` signs every callback.
    pub fn new(secret: SecretString, hosts: Vec<String>, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS backend initialises");
        let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
        let (done, handled) = watch::channel(0u64);
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let (http, secret) = (http.clone(), secret.clone());
                let request_id = job.request_id.clone();
                let task = tokio::spawn(async move { post(&http, &secret, retry, &job).await });
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => {
                        tracing::warn!(request_id = %request_id, error = %why, "callback not delivered")
                    }
                    Err(e) => {
                        tracing::error!(request_id = %request_id, error = %e, "callback task panicked")
                    }
                }
                done.send_modify(|n| *n += 1);
            }
        });
        Self {
            queue,
            hosts,
            pushed: AtomicU64::new(0),
            handled,
        }
    }

    /// Resolves once every callback queued before the call has been handled (tests use it).
    pub async fn idle(&self) {
        let target = self.pushed.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

#[async_trait::async_trait]
impl Notifier for WebhookNotifier {
    async fn idle(&self) {
        WebhookNotifier::idle(self).await;
    }

    async fn notify(&self, request: &ShareRequest, notice: &Notice) {
        let Origin::Webhook {
            callback_url: Some(url),
            ..
        } = &request.origin
        else {
            return;
        };
        if matches!(notice, Notice::Executing) {
            return;
        }
        if let Err(why) = check_callback_url(url, &self.hosts) {
            // The allow-list changed since the request was made: the callback is not sent.
            tracing::warn!(request_id = %request.id, %why, "callback dropped");
            return;
        }
        let body = callback_body(request, notice, chrono::Utc::now());
        let job = Job {
            url: url.clone(),
            id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            request_id: request.id.to_string(),
        };
        self.pushed.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(job).is_err() {
            self.pushed.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(request_id = %request.id, "webhook notifier is not running");
        }
    }
}

async fn post(
    http: &reqwest::Client,
    secret: &SecretString,
    retry: RetryPolicy,
    job: &Job,
) -> Result<(), String> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let ts = chrono::Utc::now().timestamp();
        let signature = crate::verify::standard_webhooks::sign(secret, &job.id, ts, &job.body)
            .map_err(|e| e.to_string())?;
        let sent = http
            .post(&job.url)
            .header("content-type", "application/json")
            .header("webhook-id", &job.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(job.body.clone())
            .send()
            .await;
        let why = match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let s = r.status().as_u16();
                if !(s == 408 || s == 429 || s >= 500) {
                    return Err(format!("the receiver answered HTTP {s}; not retried"));
                }
                format!("the receiver answered HTTP {s}")
            }
            Err(e) => e.without_url().to_string(),
        };
        let delay = retry.backoff(attempt, None, &mut rand::rng());
        if !retry.may_retry(attempt, started.elapsed(), delay) {
            return Err(format!("{why}; gave up after {attempt} attempts"));
        }
        tracing::debug!(request_id = %job.request_id, attempt, error = %why, "callback failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_over_https_are_callback_urls() {
        let hosts = vec!["tickets.corp.example".to_string(), "127.0.0.1".to_string()];
        for ok in [
            "https://tickets.corp.example/hook",
            "https://TICKETS.corp.example:8443/a?b=c",
            "http://127.0.0.1:9000/cb",
        ] {
            assert!(check_callback_url(ok, &hosts).is_ok(), "{ok}");
        }
        for (bad, needle) in [
            ("https://evil.example/hook", "not allowed"),
            ("https://tickets.corp.example.evil.example/", "not allowed"),
            ("http://tickets.corp.example/hook", "https"),
            ("https://u:p@tickets.corp.example/", "user name"),
            ("/relative", "absolute"),
            ("https://169.254.169.254/latest", "not allowed"),
        ] {
            let e = check_callback_url(bad, &hosts).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
