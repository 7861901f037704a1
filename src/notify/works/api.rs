//! The NAVER WORKS API 2.0 calls the service makes (`reference/naver-works.md` sections 2 and 3):
//! the service-account token (an RS256 JWT assertion exchanged at the auth host) and sending a
//! message to a user or to a room. Nothing else: NAVER WORKS cannot edit a sent message.
//!
//! The access token is cached and fetched again 60 s before it expires; one task fetches while
//! the others wait for it (a `tokio` mutex held across the request), so many messages cost one
//! token request. An answer of 401, or 403 with `"code":"UNAUTHORIZED"`, drops the token and the
//! call is tried once more with a new one. 429 waits `rateLimit-reset` seconds (capped) or the
//! backoff; 5xx and transport failures are retried with the same full-jitter backoff as NCP calls.
//! Secrets (client secret, private key, tokens, the assertion) are never logged and never part of
//! an error.

use super::WorksConfig;
use crate::domain::RetryPolicy;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long before its expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The assertion's lifetime: `exp = iat + 3600` (the most NAVER WORKS accepts).
pub const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// The JWT-bearer grant type of the token request.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What may stay unescaped in a path segment (a user id may be a login email). Dots are escaped
/// too, so no id can be the segment `..`.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// The service account's credentials (the secrets `WORKS_CLIENT_ID`, `WORKS_CLIENT_SECRET`,
/// `WORKS_SERVICE_ACCOUNT`, `WORKS_PRIVATE_KEY`).
#[derive(Clone)]
pub struct WorksCredentials {
    /// The app's Client ID: the assertion's `iss` and the token request's `client_id`.
    pub client_id: String,
    /// The app's Client Secret.
    pub client_secret: SecretString,
    /// The service account id: the assertion's `sub`.
    pub service_account: String,
    /// The app's private key, PKCS#8 PEM (literal `\n` are read as line breaks).
    pub private_key: SecretString,
}

/// The claims of the token request's assertion (`reference/naver-works.md` section 3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The Client ID.
    pub iss: String,
    /// The service account id.
    pub sub: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (`iat + 3600`).
    pub exp: i64,
}

/// Why a NAVER WORKS call did not succeed; never holds a secret, a token or the assertion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorksError {
    /// The private key is not a PKCS#8 (or PKCS#1) RSA key in PEM.
    #[error("WORKS_PRIVATE_KEY is not an RSA private key in PEM: {0}")]
    BadKey(String),
    /// The token request was refused, or its answer had no token.
    #[error("naver works token: {0}")]
    Token(String),
    /// An API call was refused as unauthenticated even with a fresh token.
    #[error("naver works {call}: not authorised ({code})")]
    Unauthorised {
        /// What was called (`send to user`, `send to room`).
        call: &'static str,
        /// The error code NAVER WORKS gave.
        code: String,
    },
    /// NAVER WORKS answered an error status (400 payload, 403 scope or room, 404 user or room).
    #[error("naver works {call}: HTTP {status} {code}")]
    Api {
        /// What was called.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The `code` of the error body (empty when there was none).
        code: String,
    },
    /// 429 more often than the retry budget allows.
    #[error("naver works {call}: rate limited, gave up after {attempts} attempts")]
    RateLimited {
        /// What was called.
        call: &'static str,
        /// Attempts made.
        attempts: u32,
    },
    /// NAVER WORKS could not be reached, or answered 5xx, after retries.
    #[error("naver works {call}: {detail}")]
    Transport {
        /// What was called.
        call: &'static str,
        /// What kind of failure (never a URL with a token or a body).
        detail: String,
    },
}

impl WorksError {
    /// Whether a later delivery attempt may succeed (the outbox retries those).
    pub fn is_transient(&self) -> bool {
        match self {
            WorksError::RateLimited { .. } | WorksError::Transport { .. } => true,
            WorksError::Token(_) => true,
            WorksError::Api { status, .. } => *status >= 500,
            WorksError::BadKey(_) | WorksError::Unauthorised { .. } => false,
        }
    }
}

struct Token {
    value: SecretString,
    renew_at: Instant,
}

/// A NAVER WORKS API client for one bot and one service account; clone it freely (the token
/// cache and the connection pool are shared).
#[derive(Clone)]
pub struct WorksApi {
    http: reqwest::Client,
    api_base_url: String,
    auth_url: String,
    scope: String,
    bot_id: String,
    credentials: Arc<WorksCredentials>,
    key: Arc<EncodingKey>,
    token: Arc<tokio::sync::Mutex<Option<Token>>>,
    token_requests: Arc<std::sync::atomic::AtomicU64>,
    retry: RetryPolicy,
    max_retry_after: Duration,
}

impl std::fmt::Debug for WorksApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorksApi")
            .field("api_base_url", &self.api_base_url)
            .field("auth_url", &self.auth_url)
            .field("bot_id", &self.bot_id)
            .field("credentials", &"[redacted]")
            .finish()
    }
}

/// The PEM as NAVER WORKS hands it out, with literal `\n` (how a key usually survives an
/// environment variable or a JSON secret) turned back into line breaks.
pub fn normalise_pem(pem: &str) -> String {
    pem.replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .trim()
        .to_owned()
}

impl WorksApi {
    /// A client for the bot and hosts of `settings`, signing with `credentials`' private key.
    pub fn new(settings: &WorksConfig, credentials: WorksCredentials) -> Result<Self, WorksError> {
        let pem = normalise_pem(credentials.private_key.expose_secret());
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            // The library's message names the PEM problem, never the key's bytes.
            .map_err(|e| WorksError::BadKey(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Ok(Self {
            http,
            api_base_url: settings.api_base_url.trim_end_matches('/').to_owned(),
            auth_url: settings.auth_url.clone(),
            scope: settings.scope.trim().to_owned(),
            bot_id: settings.bot_id.trim().to_owned(),
            credentials: Arc::new(credentials),
            key: Arc::new(key),
            token: Arc::new(tokio::sync::Mutex::new(None)),
            token_requests: Arc::default(),
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                budget: Duration::from_secs(120),
            },
            max_retry_after: Duration::from_secs(60),
        })
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Caps how long one 429's `rateLimit-reset` is waited for (default 60 s).
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// The bot this client sends as.
    pub fn bot_id(&self) -> &str {
        &self.bot_id
    }

    /// How many token requests this client (and its clones) has made.
    pub fn token_requests(&self) -> u64 {
        self.token_requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The signed assertion for a token request at `now_unix`: RS256, `iss` the Client ID, `sub`
    /// the service account, `exp` one hour after `iat` (seconds, as JSON numbers).
    pub fn assertion(&self, now_unix: i64) -> Result<String, WorksError> {
        let claims = Claims {
            iss: self.credentials.client_id.clone(),
            sub: self.credentials.service_account.clone(),
            iat: now_unix,
            exp: now_unix + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| WorksError::BadKey(e.to_string()))
    }

    /// The cached access token, fetched first when there is none or it expires within
    /// [`REFRESH_MARGIN`]. Concurrent callers wait for one fetch.
    pub async fn access_token(&self) -> Result<SecretString, WorksError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is still `used` (another task may have replaced it already).
    async fn forget(&self, used: &SecretString) {
        let mut slot = self.token.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == used.expose_secret())
        {
            *slot = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, WorksError> {
        let now = chrono::Utc::now().timestamp();
        let assertion = self.assertion(now)?;
        self.token_requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let form = [
            ("assertion", assertion.as_str()),
            ("grant_type", GRANT_TYPE),
            ("client_id", self.credentials.client_id.as_str()),
            (
                "client_secret",
                self.credentials.client_secret.expose_secret(),
            ),
            ("scope", self.scope.as_str()),
        ];
        let started = Instant::now();
        let response = self
            .http
            .post(&self.auth_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| WorksError::Token(transport_detail(&e)))?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .map_err(|_| WorksError::Token(format!("HTTP {status}, not JSON")))?;
        if !(200..300).contains(&status) {
            return Err(WorksError::Token(format!(
                "HTTP {status} {}",
                error_code(&body)
            )));
        }
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| WorksError::Token("the answer has no access_token".into()))?;
        // `expires_in` comes as a number or as a string of digits; 24 h when absent.
        let expires_in = match &body["expires_in"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(86_400);
        let lifetime = Duration::from_secs(expires_in).saturating_sub(REFRESH_MARGIN);
        Ok(Token {
            value: SecretString::from(token.to_owned()),
            renew_at: started + lifetime,
        })
    }

    /// Sends `content` (a typed content object, see `render`) 1:1 to a user (its id or login email).
    pub async fn send_to_user(&self, user_id: &str, content: &Value) -> Result<(), WorksError> {
        let url = format!(
            "{}/bots/{}/users/{}/messages",
            self.api_base_url,
            utf8_percent_encode(&self.bot_id, PATH_SEGMENT),
            utf8_percent_encode(user_id, PATH_SEGMENT)
        );
        self.post("send to user", &url, content).await
    }

    /// Sends `content` to a room the bot is in.
    pub async fn send_to_channel(
        &self,
        channel_id: &str,
        content: &Value,
    ) -> Result<(), WorksError> {
        let url = format!(
            "{}/bots/{}/channels/{}/messages",
            self.api_base_url,
            utf8_percent_encode(&self.bot_id, PATH_SEGMENT),
            utf8_percent_encode(channel_id, PATH_SEGMENT)
        );
        self.post("send to room", &url, content).await
    }

    async fn post(&self, call: &'static str, url: &str, content: &Value) -> Result<(), WorksError> {
        let body = serde_json::json!({ "content": content }).to_string();
        let started = Instant::now();
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let sent = self
                .http
                .post(url)
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", token.expose_secret()),
                )
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (err, wait) = match sent {
                Err(e) => (
                    WorksError::Transport {
                        call,
                        detail: transport_detail(&e),
                    },
                    None,
                ),
                Ok(response) => {
                    let status = response.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let reset = rate_limit_reset(response.headers());
                    let answer: Value = response.json().await.unwrap_or(Value::Null);
                    let code = error_code(&answer);
                    let unauthorised = status == 401 || (status == 403 && code == "UNAUTHORIZED");
                    if unauthorised {
                        if refreshed {
                            return Err(WorksError::Unauthorised { call, code });
                        }
                        // The token expired early or was revoked: one more try with a new one.
                        refreshed = true;
                        self.forget(&token).await;
                        attempt -= 1;
                        continue;
                    }
                    match status {
                        429 => (
                            WorksError::RateLimited {
                                call,
                                attempts: attempt,
                            },
                            Some(reset),
                        ),
                        s if s >= 500 => (
                            WorksError::Transport {
                                call,
                                detail: format!("HTTP {s} {code}"),
                            },
                            None,
                        ),
                        s => {
                            return Err(WorksError::Api {
                                call,
                                status: s,
                                code,
                            });
                        }
                    }
                }
            };
            let delay = match wait {
                Some(Some(reset)) => reset.min(self.max_retry_after),
                _ => self.retry.backoff(attempt, None, &mut rand::rng()),
            };
            let may_retry = attempt < self.retry.max_attempts
                && (wait.is_some() || self.retry.may_retry(attempt, started.elapsed(), delay));
            if !may_retry {
                tracing::warn!(call, attempt, error = %err, "naver works retry budget exhausted");
                return Err(err);
            }
            tracing::info!(call, attempt, error = %err, delay_ms = delay.as_millis() as u64, "naver works call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// The `code` of an error body (`{"code":"…","description":"…"}`), at most 64 characters.
fn error_code(body: &Value) -> String {
    body["code"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// `rateLimit-reset` (seconds to wait), read case-insensitively; `None` when absent or odd.
fn rate_limit_reset(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

fn transport_detail(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the connection failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_newlines_in_a_pem_become_line_breaks() {
        assert_eq!(
            normalise_pem("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        );
        let real = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert_eq!(normalise_pem(real), real);
    }

    #[test]
    fn error_codes_are_kept_short_and_plain() {
        assert_eq!(
            error_code(&serde_json::json!({"code": "TOO_MANY_REQUESTS"})),
            "TOO_MANY_REQUESTS"
        );
        assert_eq!(error_code(&serde_json::json!({"code": "a b\n<c>"})), "abc");
        assert_eq!(error_code(&Value::Null), "");
    }

    #[test]
    fn user_ids_and_emails_are_escaped_as_one_path_segment() {
        assert_eq!(
            utf8_percent_encode("alice@example.com", PATH_SEGMENT).to_string(),
            "alice%40example%2Ecom"
        );
        assert_eq!(
            utf8_percent_encode("../x", PATH_SEGMENT).to_string(),
            "%2E%2E%2Fx"
        );
        assert_eq!(
            utf8_percent_encode("c72af563-0f21-4736-11e4-045237113344", PATH_SEGMENT).to_string(),
            "c72af563-0f21-4736-11e4-045237113344"
        );
    }
}
