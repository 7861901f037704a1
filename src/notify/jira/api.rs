//! The Jira Cloud REST API calls the service makes, and nothing else (reference/webhooks.md
//! §2.4): read an issue (with its changelog), read a comment, add a comment in Atlassian
//! Document Format, list and take transitions.
//!
//! Authentication is HTTP Basic with the account's email and API token; the token is exposed
//! only to build that header and never appears in a log or an error. Transient failures (429,
//! 5xx, connection errors) are retried with full-jitter backoff; callers see one result per
//! logical call. Issue keys and comment ids are checked before they are put into a path.

use crate::domain::RetryPolicy;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Why a Jira call did not succeed. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JiraError {
    /// Jira answered with an HTTP error (after retries, for transient ones).
    #[error("jira {call}: HTTP {status}")]
    Status {
        /// What was called (`GET issue`).
        call: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// Jira could not be reached, or the answer was cut off.
    #[error("jira {call}: {detail}")]
    Transport {
        /// What was called.
        call: &'static str,
        /// What kind of failure (never the URL's credentials: there are none in it).
        detail: String,
    },
    /// The answer is not the documented JSON, or a name was not found.
    #[error("jira {call}: {detail}")]
    Unexpected {
        /// What was called.
        call: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A key or id that cannot be a Jira issue key or comment id was given.
    #[error("{0}")]
    BadKey(String),
}

impl JiraError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JiraError::Status { status, .. } => *status == 429 || *status >= 500,
            JiraError::Transport { .. } => true,
            JiraError::Unexpected { .. } | JiraError::BadKey(_) => false,
        }
    }

    /// Whether Jira said the issue or comment does not exist (or is not visible to us).
    pub fn is_not_found(&self) -> bool {
        matches!(self, JiraError::Status { status: 404, .. })
    }
}

/// The comment property that marks our comments with their outbox id.
pub const COMMENT_PROPERTY: &str = "ncp-share-approver";

/// Whether `key` looks like a Jira issue key (`SHARE-42`): safe to put into a path.
pub fn is_issue_key(key: &str) -> bool {
    let Some((project, number)) = key.split_once('-') else {
        return false;
    };
    key.len() <= 64
        && project
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_uppercase())
        && project
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !number.is_empty()
        && number.len() <= 12
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_numeric_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A Jira Cloud REST client for one site and account; clone it freely.
#[derive(Clone)]
pub struct JiraApi {
    http: reqwest::Client,
    base_url: String,
    email: String,
    token: SecretString,
    retry: RetryPolicy,
}

impl std::fmt::Debug for JiraApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraApi")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl JiraApi {
    /// A client of the site at `base_url` (`https://your-org.atlassian.net`) as `email`.
    pub fn new(base_url: &str, email: &str, token: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            email: email.to_owned(),
            token,
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                budget: Duration::from_secs(60),
            },
        }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn authorization(&self) -> String {
        let pair = format!("{}:{}", self.email, self.token.expose_secret());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// `GET /rest/api/3/issue/{key}?expand=changelog`: the issue as Jira has it now.
    pub async fn issue(&self, key: &str) -> Result<Value, JiraError> {
        if !is_issue_key(key) {
            return Err(JiraError::BadKey("not a Jira issue key".into()));
        }
        let path = format!("/rest/api/3/issue/{key}?expand=changelog");
        self.call("GET issue", reqwest::Method::GET, &path, None)
            .await
    }

    /// `GET /rest/api/3/issue/{key}/comment/{id}`: one comment as Jira has it now.
    pub async fn comment(&self, key: &str, id: &str) -> Result<Value, JiraError> {
        if !is_issue_key(key) || !is_numeric_id(id) {
            return Err(JiraError::BadKey(
                "not a Jira issue key and comment id".into(),
            ));
        }
        let path = format!("/rest/api/3/issue/{key}/comment/{id}");
        self.call("GET comment", reqwest::Method::GET, &path, None)
            .await
    }

    /// `POST /rest/api/3/issue/{key}/comment` with an ADF document as the body.
    pub async fn add_comment(&self, key: &str, adf: Value) -> Result<(), JiraError> {
        if !is_issue_key(key) {
            return Err(JiraError::BadKey("not a Jira issue key".into()));
        }
        let path = format!("/rest/api/3/issue/{key}/comment");
        self.call(
            "POST comment",
            reqwest::Method::POST,
            &path,
            Some(&json!({ "body": adf })),
        )
        .await
        .map(drop)
    }

    /// Like [`JiraApi::add_comment`], with the comment property `ncp-share-approver` set to
    /// `{"outbox_id": marker}`, so that [`JiraApi::has_marked_comment`] can find it again.
    pub async fn add_marked_comment(
        &self,
        key: &str,
        adf: Value,
        marker: &str,
    ) -> Result<(), JiraError> {
        if !is_issue_key(key) {
            return Err(JiraError::BadKey("not a Jira issue key".into()));
        }
        let path = format!("/rest/api/3/issue/{key}/comment");
        let body = json!({
            "body": adf,
            "properties": [{"key": COMMENT_PROPERTY, "value": {"outbox_id": marker}}],
        });
        self.call("POST comment", reqwest::Method::POST, &path, Some(&body))
            .await
            .map(drop)
    }

    /// Whether one of the issue's latest 100 comments carries `marker` (a comment posted
    /// by an attempt whose answer was lost).
    pub async fn has_marked_comment(&self, key: &str, marker: &str) -> Result<bool, JiraError> {
        if !is_issue_key(key) {
            return Err(JiraError::BadKey("not a Jira issue key".into()));
        }
        let path = format!(
            "/rest/api/3/issue/{key}/comment?expand=properties&orderBy=-created&maxResults=100"
        );
        let page = self
            .call("GET comments", reqwest::Method::GET, &path, None)
            .await?;
        Ok(page["comments"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["properties"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["key"] == COMMENT_PROPERTY && p["value"]["outbox_id"] == marker)
                })
            })
        }))
    }

    /// Moves the issue along the transition called `name` (or leading to a status of that
    /// name), looked up among the transitions the issue has now.
    pub async fn transition(&self, key: &str, name: &str) -> Result<(), JiraError> {
        if !is_issue_key(key) {
            return Err(JiraError::BadKey("not a Jira issue key".into()));
        }
        let path = format!("/rest/api/3/issue/{key}/transitions");
        let list = self
            .call("GET transitions", reqwest::Method::GET, &path, None)
            .await?;
        let found = list["transitions"].as_array().and_then(|ts| {
            ts.iter().find(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    || t["to"]["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        });
        let Some(id) = found.and_then(|t| t["id"].as_str()) else {
            return Err(JiraError::Unexpected {
                call: "GET transitions",
                detail: format!("the issue has no transition called {name:?} now"),
            });
        };
        self.call(
            "POST transition",
            reqwest::Method::POST,
            &path,
            Some(&json!({ "transition": { "id": id } })),
        )
        .await
        .map(drop)
    }

    async fn call(
        &self,
        call: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, JiraError> {
        let url = format!("{}{path}", self.base_url);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.once(call, method.clone(), &url, body).await;
            match result {
                Err(e) if e.is_transient() => {
                    let delay = self.retry.backoff(attempt, None, &mut rand::rng());
                    if !self.retry.may_retry(attempt, started.elapsed(), delay) {
                        return Err(e);
                    }
                    tracing::debug!(call, attempt, error = %e, "jira call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        call: &'static str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, JiraError> {
        let mut req = self
            .http
            .request(method, url)
            .header("authorization", self.authorization())
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| JiraError::Transport {
            call,
            detail: e.without_url().to_string(),
        })?;
        let status = res.status();
        if !status.is_success() {
            return Err(JiraError::Status {
                call,
                status: status.as_u16(),
            });
        }
        let bytes = res.bytes().await.map_err(|e| JiraError::Transport {
            call,
            detail: e.without_url().to_string(),
        })?;
        if bytes.is_empty() {
            // 204 No Content (a transition) has no body.
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| JiraError::Unexpected {
            call,
            detail: format!("not JSON: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_matches_the_reference_vector() {
        // V5b in reference/webhooks.md.
        let api = JiraApi::new(
            "https://x.atlassian.net",
            "fred@example.com",
            SecretString::from("freds_api_token"),
        );
        assert_eq!(
            api.authorization(),
            "Basic ZnJlZEBleGFtcGxlLmNvbTpmcmVkc19hcGlfdG9rZW4="
        );
        assert!(!format!("{api:?}").contains("freds_api_token"));
    }

    #[test]
    fn only_real_issue_keys_reach_a_path() {
        for ok in ["SHARE-1", "A1_B-123456"] {
            assert!(is_issue_key(ok), "{ok}");
        }
        for bad in [
            "",
            "SHARE",
            "share-1",
            "SHARE-",
            "SHARE-1/../x",
            "SHARE-1?a",
            "1A-2",
            "SHARE-1-2",
            "SHARE-１",
        ] {
            assert!(!is_issue_key(bad), "{bad}");
        }
        assert!(is_numeric_id("10001"));
        assert!(!is_numeric_id("10001/x"));
    }
}
