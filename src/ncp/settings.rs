//! The `[ncp]` settings the client is built from: which site's gateway, timeouts and retries.
//! They are this adapter's own type; the configuration embeds it.

use serde::Deserialize;
use std::time::Duration;

/// Which NCP site's gateway to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NcpSite {
    /// `https://ncloud.apigw.ntruss.com`
    Public,
    /// Public sector: `https://ncloud.apigw.gov-ntruss.com`
    Gov,
    /// Financial: `https://fin-ncloud.apigw.fin-ntruss.com`
    Fin,
}

impl NcpSite {
    /// The gateway's scheme and host for this site.
    pub fn base_url(self) -> &'static str {
        match self {
            NcpSite::Public => "https://ncloud.apigw.ntruss.com",
            NcpSite::Gov => "https://ncloud.apigw.gov-ntruss.com",
            NcpSite::Fin => "https://fin-ncloud.apigw.fin-ntruss.com",
        }
    }
}

/// `[ncp]`: the NCP API client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NcpConfig {
    /// `public`, `gov` or `fin`.
    pub site: NcpSite,
    /// Scheme and host overriding the site (also `NCP_API_ENDPOINT`), e.g. the simulator's.
    pub endpoint: Option<String>,
    /// `regionCode` sent with every call.
    pub region: String,
    /// Connect timeout in milliseconds.
    pub connect_timeout_ms: u64,
    /// Timeout of one attempt in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Total time a call may take across retries, in milliseconds.
    pub retry_budget_ms: u64,
    /// First backoff delay in milliseconds (doubles each attempt, with full jitter).
    pub backoff_base_ms: u64,
    /// Largest backoff delay in milliseconds.
    pub backoff_max_ms: u64,
    /// Only read from NCP: share changes are refused before they are sent ([`crate::ncp::ReadOnly`]).
    /// The `http` and `scheduler` Lambda functions are always read-only.
    pub read_only: bool,
    /// How old the image catalog (the request form's image picker) may grow, in seconds, before
    /// the sweep reads the image list from NCP again; more than 0. `serve` also reads it at start.
    pub catalog_refresh_secs: u64,
}

impl Default for NcpConfig {
    fn default() -> Self {
        Self {
            site: NcpSite::Public,
            endpoint: None,
            region: "KR".into(),
            connect_timeout_ms: 3_000,
            timeout_ms: 15_000,
            max_attempts: 5,
            retry_budget_ms: 60_000,
            backoff_base_ms: 200,
            backoff_max_ms: 10_000,
            read_only: false,
            catalog_refresh_secs: 300,
        }
    }
}

impl NcpConfig {
    /// The scheme and host to call: the endpoint override if set, else the site's gateway.
    pub fn base_url(&self) -> String {
        self.endpoint
            .as_deref()
            .unwrap_or(self.site.base_url())
            .trim_end_matches('/')
            .to_string()
    }

    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// Timeout of one attempt.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    /// How old the image catalog may grow before the sweep refreshes it.
    pub fn catalog_refresh(&self) -> Duration {
        Duration::from_secs(self.catalog_refresh_secs)
    }
}
