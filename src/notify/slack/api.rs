//! The Slack Web API calls the service makes, and nothing else: `chat.postMessage`,
//! `chat.update`, `chat.postEphemeral`, `views.open`, `views.update`, `views.publish`, and a POST
//! to an interaction's `response_url`.
//!
//! Slack answers errors with HTTP 200 and `{"ok":false,"error":"..."}`, and rate limits with
//! HTTP 429 and `Retry-After` (reference/webhooks.md §1.7). Transient failures are retried here,
//! with the same full-jitter backoff as NCP calls; callers see one result per logical call.
//! The bot token is exposed only to build the `Authorization` header: it is never logged and
//! never part of an error. A `response_url` is a credential too, so it never appears in errors.

use crate::domain::RetryPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `ok:false` errors that say "try again" rather than "this call is wrong".
const TRANSIENT_ERRORS: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "rate_limited",
];

/// The longest error text from a `response_url` answer that is kept.
const MAX_ERROR_CHARS: usize = 200;

/// How long `views.open` may take: its `trigger_id` lives about 3 seconds, so an answer later
/// than this is of no use, and neither is a retry.
const VIEWS_OPEN_TIMEOUT: Duration = Duration::from_millis(2500);

/// Where a posted message lives: what `chat.update` and `thread_ts` need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// The channel id Slack answered with (a DM's `D...` id when posted to a user id).
    pub channel: String,
    /// The message's timestamp, its id within the channel.
    pub ts: String,
}

impl MessageRef {
    /// The form kept in the store: `"<channel> <ts>"`.
    pub fn to_stored(&self) -> String {
        format!("{} {}", self.channel, self.ts)
    }

    /// Reads the stored form back; `None` if it is not `"<channel> <ts>"`.
    pub fn from_stored(s: &str) -> Option<Self> {
        let (channel, ts) = s.trim().split_once(' ')?;
        let (channel, ts) = (channel.trim(), ts.trim());
        if channel.is_empty() || ts.is_empty() || ts.contains(' ') {
            return None;
        }
        Some(Self {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
        })
    }
}

/// Why a Slack call did not succeed. The text never contains the token or a `response_url`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok:false` (after retries, for transient errors).
    #[error("slack {method}: {error}")]
    Api {
        /// The Web API method (`chat.postMessage`) or `response_url`.
        method: String,
        /// Slack's error code (`channel_not_found`, `invalid_auth`, ...).
        error: String,
    },
    /// Slack answered 429 more often than the retry budget allows.
    #[error("slack {method}: rate limited, gave up after {attempts} attempts")]
    RateLimited {
        /// The method.
        method: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An HTTP status other than 200 (and 429) without a Slack error body.
    #[error("slack {method}: HTTP {status}")]
    Status {
        /// The method.
        method: String,
        /// The HTTP status.
        status: u16,
    },
    /// Slack could not be reached, or the answer was cut off.
    #[error("slack {method}: {detail}")]
    Transport {
        /// The method.
        method: String,
        /// What kind of failure (never the URL).
        detail: String,
    },
    /// Slack answered 200 with something that is not the documented JSON.
    #[error("slack {method}: unexpected answer: {detail}")]
    Unexpected {
        /// The method.
        method: String,
        /// What was wrong.
        detail: String,
    },
}

impl SlackError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SlackError::Api { error, .. } => TRANSIENT_ERRORS.contains(&error.as_str()),
            SlackError::Status { status, .. } => *status >= 500,
            SlackError::Transport { .. } => true,
            SlackError::RateLimited { .. } | SlackError::Unexpected { .. } => false,
        }
    }
}

/// One attempt's result: the answer's JSON, or an error and, for a 429, how long Slack asked to wait.
struct Attempt {
    result: Result<Value, SlackError>,
    rate_limited: Option<Option<Duration>>,
}

/// A Slack Web API client with a bot token; clone it freely (the connection pool is shared).
#[derive(Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    retry: RetryPolicy,
    max_retry_after: Duration,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl SlackApi {
    /// A client of the Web API at `base_url` (`https://slack.com/api`, or a fake's) with a bot token.
    pub fn new(base_url: &str, token: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            // Building fails only when the TLS backend cannot start, as `reqwest::Client::new` would.
            .expect("the HTTP client's TLS backend initialises");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                budget: Duration::from_secs(120),
            },
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Caps how long one 429's `Retry-After` is waited for (default 60 s).
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// The Web API base URL this client calls.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `chat.postMessage`: posts `text` (the notification and fallback) and `blocks` to a channel
    /// or, given a user id, to the bot's DM with that user; in a thread when `thread_ts` is given.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: Option<Value>,
        thread_ts: Option<&str>,
    ) -> Result<MessageRef, SlackError> {
        let mut body = json!({
            "channel": channel,
            "text": text,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(blocks) = blocks {
            body["blocks"] = blocks;
        }
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body).await?;
        message_ref("chat.postMessage", &answer, channel)
    }

    /// `chat.update`: replaces the text and blocks of a message the bot posted (`None` keeps the blocks).
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<Value>,
    ) -> Result<MessageRef, SlackError> {
        let mut body = json!({ "channel": channel, "ts": ts, "text": text });
        if let Some(blocks) = blocks {
            body["blocks"] = blocks;
        }
        let answer = self.call("chat.update", &body).await?;
        message_ref("chat.update", &answer, channel)
    }

    /// `chat.postEphemeral`: a message only `user` sees, in `channel`.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        blocks: Option<Value>,
    ) -> Result<(), SlackError> {
        let mut body = json!({ "channel": channel, "user": user, "text": text });
        if let Some(blocks) = blocks {
            body["blocks"] = blocks;
        }
        self.call("chat.postEphemeral", &body).await.map(|_| ())
    }

    /// `views.open`: opens a modal for the person whose interaction gave `trigger_id`. One
    /// attempt with a short timeout: the trigger lives about 3 seconds, so a retry after that is
    /// useless. Returns the view Slack answers with (`id`, `hash`, ...), for `views.update`.
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<Value, SlackError> {
        let method = "views.open";
        let url = format!("{}/{method}", self.base_url);
        let body = json!({ "trigger_id": trigger_id, "view": view });
        let Attempt {
            result,
            rate_limited,
        } = self
            .call_once(method, &url, &body, Some(VIEWS_OPEN_TIMEOUT))
            .await;
        if rate_limited.is_some() {
            return Err(SlackError::RateLimited {
                method: method.to_owned(),
                attempts: 1,
            });
        }
        returned_view(method, &result?)
    }

    /// `views.update`: replaces the view `view_id`. With `hash` (from the last answer or the
    /// interaction's `view.hash`), Slack refuses with `hash_conflict` when the view changed
    /// since, so an older update never overwrites a newer one. Transient failures are retried.
    pub async fn views_update(
        &self,
        view_id: &str,
        hash: Option<&str>,
        view: &Value,
    ) -> Result<Value, SlackError> {
        let method = "views.update";
        let mut body = json!({ "view_id": view_id, "view": view });
        if let Some(hash) = hash {
            body["hash"] = json!(hash);
        }
        returned_view(method, &self.call(method, &body).await?)
    }

    /// `views.publish`: sets the App Home tab of `user_id`. Retried like `chat.postMessage`: it
    /// is sent from the outbox, where a late home is better than none.
    pub async fn views_publish(&self, user_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({ "user_id": user_id, "view": view });
        self.call("views.publish", &body).await.map(drop)
    }

    /// POSTs a message (`text`, `blocks`, `response_type`, `replace_original`, ...) to a slash
    /// command's or an interaction's `response_url`. No token is sent: the URL is the credential.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        self.with_retries("response_url", || self.respond_once(response_url, body))
            .await
            .map(|_| ())
    }

    /// One logical Web API call: retries transient failures and 429s, checks `ok`.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        self.with_retries(method, || self.call_once(method, &url, body, None))
            .await
    }

    async fn with_retries<F, Fut>(&self, method: &str, mut once: F) -> Result<Value, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let Attempt {
                result,
                rate_limited,
            } = once().await;
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay = match rate_limited {
                // Slack said how long to wait: wait that long (capped), not a random backoff.
                Some(Some(wait)) => wait.min(self.max_retry_after),
                Some(None) => self.retry.backoff(attempt, None, &mut rand::rng()),
                None if err.is_transient() => self.retry.backoff(attempt, None, &mut rand::rng()),
                None => return Err(err),
            };
            let may_retry = attempt < self.retry.max_attempts
                && (rate_limited.is_some()
                    || self.retry.may_retry(attempt, started.elapsed(), delay));
            if !may_retry {
                tracing::warn!(method, attempt, error = %err, "slack retry budget exhausted");
                return Err(if rate_limited.is_some() {
                    SlackError::RateLimited {
                        method: method.to_owned(),
                        attempts: attempt,
                    }
                } else {
                    err
                });
            }
            tracing::info!(method, attempt, error = %err, delay_ms = delay.as_millis() as u64, "slack call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt; `timeout` replaces the client's for this call.
    async fn call_once(
        &self,
        method: &str,
        url: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Attempt {
        let mut request = self.http.post(url);
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let sent = request
            .bearer_auth(self.token.expose_secret())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return failed(transport_error(method, &e)),
        };
        let status = response.status().as_u16();
        if status == 429 {
            let wait = retry_after(&response);
            return Attempt {
                result: Err(SlackError::Api {
                    method: method.to_owned(),
                    error: "ratelimited".into(),
                }),
                rate_limited: Some(wait),
            };
        }
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return failed(transport_error(method, &e)),
        };
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let result = match (status, parsed) {
            (_, Some(v)) if v["ok"] == json!(true) => Ok(v),
            (_, Some(v)) if v["error"].is_string() => Err(SlackError::Api {
                method: method.to_owned(),
                error: v["error"].as_str().unwrap_or_default().to_owned(),
            }),
            (200, _) => Err(SlackError::Unexpected {
                method: method.to_owned(),
                detail: "no `ok` field in the answer".into(),
            }),
            (status, _) => Err(SlackError::Status {
                method: method.to_owned(),
                status,
            }),
        };
        Attempt {
            result,
            rate_limited: None,
        }
    }

    async fn respond_once(&self, response_url: &str, body: &Value) -> Attempt {
        let method = "response_url";
        let sent = self
            .http
            .post(response_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return failed(transport_error(method, &e)),
        };
        let status = response.status().as_u16();
        if status == 429 {
            let wait = retry_after(&response);
            return Attempt {
                result: Err(SlackError::Status {
                    method: method.into(),
                    status,
                }),
                rate_limited: Some(wait),
            };
        }
        if (200..300).contains(&status) {
            return Attempt {
                result: Ok(Value::Null),
                rate_limited: None,
            };
        }
        if status >= 500 {
            return failed(SlackError::Status {
                method: method.into(),
                status,
            });
        }
        // A 4xx answers with a short text such as `expired_url` or `used_url`.
        let text = response.text().await.unwrap_or_default();
        let error: String = text
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ERROR_CHARS)
            .collect();
        failed(if error.is_empty() {
            SlackError::Status {
                method: method.into(),
                status,
            }
        } else {
            SlackError::Api {
                method: method.into(),
                error,
            }
        })
    }
}

fn failed(e: SlackError) -> Attempt {
    Attempt {
        result: Err(e),
        rate_limited: None,
    }
}

/// `Retry-After` in whole seconds, as Slack sends it.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Says what kind of transport failure it was; reqwest's own text includes the URL, which for a
/// `response_url` is a credential.
fn transport_error(method: &str, e: &reqwest::Error) -> SlackError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    SlackError::Transport {
        method: method.to_owned(),
        detail: kind.to_owned(),
    }
}

/// The `view` of a `views.*` answer.
fn returned_view(method: &str, answer: &Value) -> Result<Value, SlackError> {
    match answer.get("view") {
        Some(v) if v.is_object() => Ok(v.clone()),
        _ => Err(SlackError::Unexpected {
            method: method.to_owned(),
            detail: "no `view` in the answer".into(),
        }),
    }
}

fn message_ref(method: &str, answer: &Value, channel: &str) -> Result<MessageRef, SlackError> {
    let ts = answer["ts"]
        .as_str()
        .ok_or_else(|| SlackError::Unexpected {
            method: method.to_owned(),
            detail: "no `ts` in the answer".into(),
        })?;
    Ok(MessageRef {
        channel: answer["channel"].as_str().unwrap_or(channel).to_owned(),
        ts: ts.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_refs_round_trip_through_the_store_form() {
        let r = MessageRef {
            channel: "C0APPROVALS".into(),
            ts: "1700000000.000042".into(),
        };
        assert_eq!(r.to_stored(), "C0APPROVALS 1700000000.000042");
        assert_eq!(MessageRef::from_stored(&r.to_stored()), Some(r));
        for bad in ["", "C1", "C1 ", " 1.2", "C1 1.2 3"] {
            assert_eq!(MessageRef::from_stored(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let api = |e: &str| SlackError::Api {
            method: "chat.update".into(),
            error: e.into(),
        };
        assert!(api("internal_error").is_transient());
        assert!(api("service_unavailable").is_transient());
        assert!(!api("invalid_auth").is_transient());
        assert!(!api("channel_not_found").is_transient());
        assert!(!api("message_not_found").is_transient());
        let status = |s| SlackError::Status {
            method: "m".into(),
            status: s,
        };
        assert!(status(503).is_transient());
        assert!(!status(404).is_transient());
    }

    #[test]
    fn the_debug_form_hides_the_token() {
        let api = SlackApi::new(
            "http://127.0.0.1:9/api/",
            SecretString::from("xoxb-very-secret".to_string()),
        );
        let shown = format!("{api:?}");
        assert!(!shown.contains("xoxb-very-secret"), "{shown}");
        assert_eq!(api.base_url(), "http://127.0.0.1:9/api");
    }
}
