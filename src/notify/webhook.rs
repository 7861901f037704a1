//! Callbacks of the generic webhook: every state change of a request that came in through
//! `POST /webhook` with a `callback_url` is POSTed there as JSON, signed with Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) under the secret of the ticket system
//! the request came from (its `[webhook.systems.<name>] secret`), so each system verifies only
//! its own callbacks.
//!
//! The URL's host must be in `[webhook] callback_hosts`, checked when the request is made and
//! again before every call, so no request can make the service call an arbitrary URL. One
//! background task posts callbacks in order; each is retried with full-jitter backoff on 408,
//! 429, 5xx and connection errors, re-signed with a fresh timestamp per attempt and with the same
//! `webhook-id`, so the receiver can de-duplicate.

use crate::workflow::outbox::{Courier, Delivery, Message, OutboxEntry};
use secrecy::SecretString;
use std::time::Duration;

// The callback's body is rendered by the outbox plan; re-exported for the old paths.
pub use crate::workflow::outbox::callback::{CALLBACK_EVENT, callback_body};

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

/// Delivers the outbox's callbacks: one signed POST per attempt, with the entry's id as the
/// `webhook-id` on every attempt (so the receiver can de-duplicate) and a fresh timestamp and
/// signature each time. The dispatcher retries 408, 429 (after its `Retry-After`), 5xx and
/// connection errors; any other answer is a permanent failure.
pub struct WebhookCourier {
    http: reqwest::Client,
    secrets: std::collections::BTreeMap<String, SecretString>,
    hosts: Vec<String>,
}

impl WebhookCourier {
    /// A courier signing each ticket system's callbacks with its secret in `secrets`, posting
    /// only to `hosts`.
    pub fn new(
        secrets: std::collections::BTreeMap<String, SecretString>,
        hosts: Vec<String>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Self {
            http,
            secrets,
            hosts,
        }
    }
}

#[async_trait::async_trait]
impl Courier for WebhookCourier {
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery {
        let Message::Callback { url, body } = &entry.message else {
            return Delivery::Failed(format!("{} is not a callback", entry.message.name()));
        };
        if let Err(why) = check_callback_url(url, &self.hosts) {
            // The allow-list changed since the request was made: the callback is not sent.
            return Delivery::Failed(why);
        }
        let system = body["ticket"]["system"].as_str().unwrap_or_default();
        let Some(secret) = self.secrets.get(system) else {
            // The system was removed from the configuration since the request was made.
            return Delivery::Failed(format!(
                "no secret for the ticket system {system:?} ([webhook.systems.<name>]); the callback is not sent"
            ));
        };
        let body = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => return Delivery::Failed(format!("cannot encode the callback: {e}")),
        };
        let ts = chrono::Utc::now().timestamp();
        let signature = match crate::verify::standard_webhooks::sign(secret, &entry.id, ts, &body) {
            Ok(s) => s,
            Err(e) => return Delivery::Failed(e.to_string()),
        };
        let mut post = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &entry.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature);
        // The ticket system can join the request's trace (W3C Trace Context); the span id is
        // this call's own, fresh for every attempt.
        if let Some(trace) = &entry.trace_id {
            post = post.header(
                "traceparent",
                trace.traceparent(&crate::domain::SpanId::random()),
            );
        }
        let sent = post.body(body).send().await;
        match sent {
            Ok(r) if r.status().is_success() => Delivery::Done,
            Ok(r) => {
                let status = r.status().as_u16();
                let after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                if status == 408 || status == 429 || status >= 500 {
                    Delivery::Retry {
                        after,
                        error: format!("the receiver answered HTTP {status}"),
                    }
                } else {
                    Delivery::Failed(format!("the receiver answered HTTP {status}; not retried"))
                }
            }
            Err(e) => Delivery::Retry {
                after: None,
                error: e.without_url().to_string(),
            },
        }
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
