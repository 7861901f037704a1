//! Typed configuration: one TOML file (`--config FILE`, default `ncp-share-approver.toml`) with
//! every value overridable by an environment variable.
//!
//! Override rule: `NSA_<SECTION>__<KEY>=value` sets `[section] key` (`NSA_LISTEN` sets the top-level
//! `listen`, `NSA_NCP__REGION=JPN` sets `[ncp] region`). Values are read as TOML when they parse
//! (numbers, booleans, arrays) and as strings otherwise. `NCP_API_ENDPOINT` overrides the NCP
//! scheme and host, like the official SDKs' `NCLOUD_API_GW`. Secrets are never in this file:
//! `[secrets] source` names where they are.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default configuration file name, looked up in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "ncp-share-approver.toml";
/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "NSA_";
/// Identity systems whose front doors verify their own people: no ticket system may be named so.
pub const RESERVED_WEBHOOK_SYSTEMS: &[&str] = &["slack", "jira", "system", "cli"];

/// A configuration problem, naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address `serve` listens on.
    pub listen: String,
    /// Where the approver policy is: a file path, `s3://BUCKET/KEY` or `ssm:/PARAMETER/NAME`.
    pub policy: crate::policy_source::PolicySource,
    /// `serve` re-reads the policy this often, in seconds (0: only at start). A new policy that
    /// does not load is logged and the one in force is kept.
    pub policy_reload_secs: u64,
    /// The request store.
    pub store: StoreConfig,
    /// NAVER Cloud Platform API.
    pub ncp: NcpConfig,
    /// Where secrets come from.
    pub secrets: SecretsConfig,
    /// Slack.
    pub slack: SlackConfig,
    /// The execution worker.
    pub worker: WorkerConfig,
    /// Jira Cloud (absent: `/jira/webhook` answers 404).
    pub jira: Option<JiraConfig>,
    /// The generic signed webhook.
    pub webhook: WebhookConfig,
    /// Time-boxed shares, revocation and drift.
    pub lifecycle: LifecycleConfig,
    /// Where approved work is queued.
    pub queue: QueueConfig,
    /// Which function this process is on AWS Lambda.
    pub lambda: LambdaConfig,
    /// How messages owed (the outbox) are delivered.
    pub outbox: OutboxConfig,
    /// Ledger checkpoints: how often, and where they are published.
    pub ledger: LedgerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            policy: crate::policy_source::PolicySource::default(),
            policy_reload_secs: 0,
            store: StoreConfig::default(),
            ncp: NcpConfig::default(),
            secrets: SecretsConfig::default(),
            slack: SlackConfig::default(),
            worker: WorkerConfig::default(),
            jira: None,
            webhook: WebhookConfig::default(),
            lifecycle: LifecycleConfig::default(),
            queue: QueueConfig::default(),
            lambda: LambdaConfig::default(),
            outbox: OutboxConfig::default(),
            ledger: LedgerConfig::default(),
        }
    }
}

/// `[ledger]`: signed checkpoints of the audit ledger, and where they are published (somewhere
/// a database insider cannot write). The signing key is the secret `LEDGER_SIGNING_KEY`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The log's origin: the first line of every checkpoint and the name of the signing key.
    pub origin: String,
    /// A checkpoint is signed when this many records were appended since the last one.
    pub checkpoint_every_records: u64,
    /// ... or when this many seconds passed since the last one and records were appended.
    pub checkpoint_every_secs: u64,
    /// A directory every checkpoint is written to (local runs).
    pub publish_dir: Option<PathBuf>,
    /// An S3 bucket (with Object Lock in compliance mode) every checkpoint is written to.
    pub publish_s3_bucket: Option<String>,
    /// The key prefix in that bucket.
    pub publish_s3_prefix: String,
    /// A Slack channel every checkpoint is posted to, as well.
    pub publish_slack_channel: Option<String>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            origin: "ncp-share-approver".into(),
            checkpoint_every_records: 100,
            checkpoint_every_secs: 600,
            publish_dir: None,
            publish_s3_bucket: None,
            publish_s3_prefix: "checkpoints/".into(),
            publish_slack_channel: None,
        }
    }
}

/// `[jira]`: the Jira Cloud site, the project whose issues are requests, and the field mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `https://your-org.atlassian.net` (tests point it at a fake Jira).
    pub base_url: String,
    /// The account the API token belongs to (`JIRA_API_TOKEN` is its token).
    pub email: String,
    /// The project key whose issues are requests, like `SHARE`.
    pub project: String,
    /// Only issues of this type are requests (any type when absent).
    #[serde(default)]
    pub issue_type: Option<String>,
    /// The status whose transition counts as an approval by the person who moved the issue.
    #[serde(default = "default_approved_status")]
    pub approved_status: String,
    /// Transition (name) to take after a successful share, if any.
    #[serde(default)]
    pub done_transition: Option<String>,
    /// Transition (name) to take after a failed, denied or expired request, if any.
    #[serde(default)]
    pub failed_transition: Option<String>,
    /// Which (custom) fields hold the request.
    pub fields: JiraFields,
    /// First retry delay of REST calls in milliseconds (doubles, with full jitter).
    #[serde(default = "default_jira_backoff_ms")]
    pub backoff_base_ms: u64,
}

fn default_approved_status() -> String {
    "Approved".into()
}
fn default_jira_backoff_ms() -> u64 {
    500
}

/// `[jira.fields]`: field ids (like `customfield_10050`) of the request's parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraFields {
    /// The image number.
    pub image: String,
    /// The target login IDs (text separated by commas, spaces or lines, or a labels field).
    pub targets: String,
    /// The duration, like `7d` (optional field).
    #[serde(default)]
    pub duration: Option<String>,
    /// The reason (optional; the issue's `summary` works too).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `[webhook]`: the generic signed webhook (`POST /webhook`) and its callbacks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Hosts a request's `callback_url` may name (exact, case-insensitive); empty: no callbacks.
    pub callback_hosts: Vec<String>,
    /// Attempts per callback, the first included.
    pub max_attempts: u32,
    /// First retry delay of a callback in milliseconds (doubles, with full jitter).
    pub backoff_base_ms: u64,
    /// The ticket system `POST /webhook` speaks for: that path is `POST /webhook/<system>`, under
    /// `WEBHOOK_SECRET` unless `[webhook.systems.<system>]` names another secret. Absent: only
    /// the per-system paths answer.
    pub system: Option<String>,
    /// `[webhook.systems.<name>]`: one secret per ticket system, at `POST /webhook/<name>`.
    pub systems: std::collections::BTreeMap<String, WebhookSystemConfig>,
}

/// `[webhook.systems.<name>]`: a ticket system and the secret its deliveries are signed with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSystemConfig {
    /// The secret's name in the secret source (an environment variable or JSON key), like
    /// `WEBHOOK_SECRET_SERVICENOW`; never the secret itself.
    pub secret: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            callback_hosts: Vec::new(),
            max_attempts: 6,
            backoff_base_ms: 1_000,
            system: None,
            systems: std::collections::BTreeMap::new(),
        }
    }
}

impl WebhookConfig {
    /// Every ticket system with the name of its secret: `[webhook.systems]`, and `[webhook]
    /// system` under `WEBHOOK_SECRET` when it has no table of its own.
    pub fn system_secrets(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .systems
            .iter()
            .map(|(name, s)| (name.clone(), s.secret.clone()))
            .collect();
        if let Some(legacy) = &self.system
            && !self.systems.contains_key(legacy)
        {
            all.push((legacy.clone(), "WEBHOOK_SECRET".into()));
        }
        all
    }
}

/// `[slack] status_for`: who may ask `status` and `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum StatusFor {
    /// Only people of the policy's `[people]` (the default): requests name images, targets and
    /// reasons that not everyone in the workspace should read.
    #[default]
    People,
    /// Everyone in the Slack workspace.
    Workspace,
}

impl TryFrom<String> for StatusFor {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "people" => Ok(StatusFor::People),
            "workspace" => Ok(StatusFor::Workspace),
            other => Err(format!(
                "slack.status_for: {other:?} is not supported; use \"people\" or \"workspace\""
            )),
        }
    }
}

/// `[queue]`: where approved work goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `local` (a channel to the in-process worker; the default) or `sqs`.
    pub kind: String,
    /// SQS: the queue URL.
    pub url: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            kind: "local".into(),
            url: String::new(),
        }
    }
}

/// `[lifecycle]`: how shares end, and how drift is found and handled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How long before a time-boxed share ends its requester is told, like `1d` or `6h`.
    pub remind_before: crate::domain::ShareDuration,
    /// Whether `reconcile --revoke-unmanaged` may remove shares no grant covers.
    pub allow_revoke_unmanaged: bool,
    /// Slack channel id that drift reports go to (none: only the log and the ledger).
    pub drift_channel: Option<String>,
    /// How often the local service reconciles on its own, in seconds (0: only `reconcile`).
    pub reconcile_interval_secs: u64,
    /// Worker attempts a revocation gets while NCP fails transiently before it is reported failed.
    pub revoke_attempts: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            remind_before: crate::domain::ShareDuration::from_secs(86_400)
                .expect("one day is a valid duration"),
            allow_revoke_unmanaged: false,
            drift_channel: None,
            reconcile_interval_secs: 0,
            revoke_attempts: 5,
        }
    }
}

/// `[lambda]`: the role of this process on AWS Lambda (one binary serves three functions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// `http` (the router; the default), `worker` (SQS batches) or `scheduler` (sweep, reconcile).
    pub function: String,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self {
            function: "http".into(),
        }
    }
}

/// `[slack]`: the Slack app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Base URL of the Slack Web API (tests point it at a fake Slack).
    pub api_base_url: String,
    /// Hosts a `response_url` may point at; Slack's is `hooks.slack.com`.
    pub response_url_hosts: Vec<String>,
    /// The slash command as configured in the Slack app, for help texts.
    pub command: String,
    /// Who `status` and `list` answer: `people` (of the policy) or `workspace`.
    pub status_for: StatusFor,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            api_base_url: "https://slack.com/api".into(),
            response_url_hosts: vec!["hooks.slack.com".into()],
            command: "/share-image".into(),
            status_for: StatusFor::People,
        }
    }
}

/// `[outbox]`: how messages owed (cards, comments, callbacks) are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// The least time between two messages into one Slack channel or DM, in milliseconds
    /// (Slack allows `chat.postMessage` about once a second per channel).
    pub slack_interval_ms: u64,
    /// Attempts before a message is marked failed (`outbox retry ID` sends it again).
    pub max_attempts: u32,
    /// The first backoff after a failed attempt, in milliseconds (doubling, with jitter; a
    /// peer's `Retry-After` is a floor).
    pub backoff_base_ms: u64,
    /// The longest backoff, in seconds.
    pub backoff_max_secs: u64,
    /// How long a Lambda worker delivers before it answers, in seconds (what is left is
    /// delivered by the next invocation; the scheduler queues stragglers every minute).
    pub lambda_budget_secs: u64,
    /// How long a delivery lane's lease lasts unless renewed, in seconds (renewed every third of
    /// it while the lane is worked): how long a crashed process holds up the lanes it was working.
    pub lane_lease_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            slack_interval_ms: 1000,
            max_attempts: 10,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            lambda_budget_secs: 20,
            lane_lease_secs: 30,
        }
    }
}

impl OutboxConfig {
    /// The dispatcher's pacing.
    pub fn pacing(&self) -> crate::outbox::Pacing {
        crate::outbox::Pacing {
            slack_interval: std::time::Duration::from_millis(self.slack_interval_ms),
            max_attempts: self.max_attempts.max(1),
            backoff: crate::ncp::RetryPolicy {
                max_attempts: u32::MAX,
                base: std::time::Duration::from_millis(self.backoff_base_ms),
                max_delay: std::time::Duration::from_secs(self.backoff_max_secs),
                budget: std::time::Duration::MAX,
            },
            lane_lease: std::time::Duration::from_secs(self.lane_lease_secs.max(1)),
            ..Default::default()
        }
    }
}

/// `[worker]`: how approved requests are executed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Requests executed at once (on different images).
    pub concurrency: usize,
    /// How long a worker holds an image's lease, in seconds (a crashed worker's lease frees after this).
    pub lease_ttl_secs: u64,
    /// How often the worker looks for approved or interrupted work it was not told about, in seconds.
    pub poll_interval_secs: u64,
    /// How often the sweep runs, in seconds: pending requests past their TTL expire, grants past
    /// their end are revoked, and requesters of shares that end soon are told.
    pub expire_interval_secs: u64,
    /// Most login IDs in one request.
    pub max_targets: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease_ttl_secs: 120,
            poll_interval_secs: 5,
            expire_interval_secs: 60,
            max_targets: 50,
        }
    }
}

/// `[store]`: which backend keeps requests, approvals, grants and the ledger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded; the default) or `dynamodb`.
    pub kind: String,
    /// Path of the SQLite database file.
    pub path: PathBuf,
    /// DynamoDB: the table of requests, approvals, grants, leases and delivery keys.
    pub table: String,
    /// DynamoDB: the table of the audit ledger.
    pub ledger_table: String,
    /// DynamoDB: create missing tables on first use (local stand-ins; on AWS the template owns them).
    pub create_tables: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: "sqlite".into(),
            path: PathBuf::from("data/ncp-share-approver.db"),
            table: "ncp-share-approver".into(),
            ledger_table: "ncp-share-approver-ledger".into(),
            create_tables: false,
        }
    }
}

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
}

/// `[secrets]`: `env`, `file:PATH` or `aws:SECRET_ID` (Secrets Manager, on AWS).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Where secrets are read from.
    pub source: String,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            source: "env".into(),
        }
    }
}

impl Config {
    /// Loads `path` (a missing file is an error only when `required`), then applies the
    /// environment overrides, then validates.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(e) => {
                return Err(ConfigError(format!(
                    "cannot read configuration file {}: {e}",
                    path.display()
                )));
            }
        };
        Self::from_toml(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parses configuration text, applying overrides from `env` (name, value) pairs.
    pub fn from_toml(
        text: &str,
        source_name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(format!("{source_name}: {e}")))?;
        for (name, value) in env {
            if name == "NCP_API_ENDPOINT" {
                set_path(&mut table, &["ncp", "endpoint"], toml::Value::String(value));
            } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                set_path(&mut table, &refs, parse_env_value(&value));
            }
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError(format!(
                        "{source_name} (with {ENV_PREFIX}* environment overrides): {}",
                        e.message()
                    ))
                })?;
        config.validate(source_name)?;
        Ok(config)
    }

    fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(ConfigError(format!("{source_name}: {key}: {why}")));
        if let Some(ep) = &self.ncp.endpoint {
            let ok = (ep.starts_with("http://") || ep.starts_with("https://"))
                && reqwest::Url::parse(ep).is_ok_and(|u| u.host().is_some() && u.query().is_none());
            if !ok {
                return err(
                    "ncp.endpoint (or NCP_API_ENDPOINT)",
                    format!("{ep:?} is not a scheme and host like https://ncloud.apigw.ntruss.com"),
                );
            }
        }
        if self.ncp.region.is_empty() || !self.ncp.region.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return err(
                "ncp.region",
                format!("{:?} is not a region code like KR", self.ncp.region),
            );
        }
        if self.ncp.max_attempts == 0 {
            return err("ncp.max_attempts", "must be at least 1".into());
        }
        if self.worker.concurrency == 0 {
            return err("worker.concurrency", "must be at least 1".into());
        }
        if self.worker.lease_ttl_secs == 0
            || self.worker.poll_interval_secs == 0
            || self.worker.expire_interval_secs == 0
        {
            return err(
                "worker",
                "lease_ttl_secs, poll_interval_secs and expire_interval_secs must be at least 1"
                    .into(),
            );
        }
        if self.lifecycle.revoke_attempts == 0 {
            return err("lifecycle.revoke_attempts", "must be at least 1".into());
        }
        if let Some(c) = &self.lifecycle.drift_channel
            && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return err(
                "lifecycle.drift_channel",
                format!("{c:?} is not a Slack channel id like C0DRIFT"),
            );
        }
        if !(self.slack.api_base_url.starts_with("https://")
            || self.slack.api_base_url.starts_with("http://"))
        {
            return err(
                "slack.api_base_url",
                format!("{:?} is not an http(s) URL", self.slack.api_base_url),
            );
        }
        if !matches!(self.store.kind.as_str(), "sqlite" | "dynamodb") {
            return err(
                "store.kind",
                format!(
                    "{:?} is not supported; use \"sqlite\" or \"dynamodb\"",
                    self.store.kind
                ),
            );
        }
        if self.store.kind == "dynamodb"
            && (self.store.table.is_empty() || self.store.ledger_table.is_empty())
        {
            return err(
                "store.table / store.ledger_table",
                "DynamoDB needs both table names".into(),
            );
        }
        match (self.queue.kind.as_str(), self.queue.url.as_str()) {
            ("local", _) => {}
            ("sqs", url) if url.starts_with("https://") || url.starts_with("http://") => {}
            ("sqs", url) => {
                return err(
                    "queue.url",
                    format!(
                        "{url:?} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                    ),
                );
            }
            (other, _) => {
                return err(
                    "queue.kind",
                    format!("{other:?} is not supported; use \"local\" or \"sqs\""),
                );
            }
        }
        if !matches!(
            self.lambda.function.as_str(),
            "http" | "worker" | "scheduler"
        ) {
            return err(
                "lambda.function",
                format!(
                    "{:?} is not a function; use \"http\", \"worker\" or \"scheduler\"",
                    self.lambda.function
                ),
            );
        }
        if let Err(why) = crate::secrets::from_spec(&self.secrets.source) {
            return err("secrets.source", why);
        }
        if let Some(jira) = &self.jira {
            let ok = reqwest::Url::parse(&jira.base_url).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.query().is_none()
            });
            if !ok {
                return err(
                    "jira.base_url",
                    format!(
                        "{:?} is not a URL like https://your-org.atlassian.net",
                        jira.base_url
                    ),
                );
            }
            if jira.email.trim().is_empty() {
                return err("jira.email", "name the account of JIRA_API_TOKEN".into());
            }
            if jira.project.is_empty()
                || !jira
                    .project
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return err(
                    "jira.project",
                    format!("{:?} is not a project key like SHARE", jira.project),
                );
            }
            for (key, id) in [
                ("jira.fields.image", Some(&jira.fields.image)),
                ("jira.fields.targets", Some(&jira.fields.targets)),
                ("jira.fields.duration", jira.fields.duration.as_ref()),
                ("jira.fields.reason", jira.fields.reason.as_ref()),
            ] {
                if let Some(id) = id
                    && (id.is_empty()
                        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                {
                    return err(
                        key,
                        format!("{id:?} is not a field id like customfield_10050"),
                    );
                }
            }
        }
        self.ledger.validate(source_name)?;
        if self.webhook.max_attempts == 0 {
            return err("webhook.max_attempts", "must be at least 1".into());
        }
        if let Some(h) = self
            .webhook
            .callback_hosts
            .iter()
            .find(|h| h.is_empty() || h.contains(['/', ':', '*', ' ']))
        {
            return err(
                "webhook.callback_hosts",
                format!("{h:?} is not a host name like tickets.corp.example"),
            );
        }
        self.validate_webhook_systems(source_name)?;
        Ok(())
    }

    /// Ticket system names are identity systems of their own, and no two share a secret: a
    /// secret speaks for exactly one system.
    fn validate_webhook_systems(&self, source_name: &str) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(ConfigError(format!("{source_name}: {key}: {why}")));
        let reserved = RESERVED_WEBHOOK_SYSTEMS;
        let names = self
            .webhook
            .systems
            .keys()
            .map(|n| (format!("webhook.systems.{n}"), n));
        let legacy = self
            .webhook
            .system
            .iter()
            .map(|n| ("webhook.system".to_string(), n));
        for (key, name) in names.chain(legacy) {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return err(
                    &key,
                    format!(
                        "{name:?} is not a system name (lowercase letters, digits, `_` or `-`, like servicenow)"
                    ),
                );
            }
            if reserved.contains(&name.as_str()) {
                return err(
                    &key,
                    format!(
                        "{name:?} is reserved for the service's own front doors ({})",
                        reserved.join(", ")
                    ),
                );
            }
        }
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        for (name, secret) in self.webhook.system_secrets() {
            let key = format!("webhook.systems.{name}.secret");
            if secret.is_empty()
                || !secret
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return err(
                    &key,
                    format!(
                        "{secret:?} is not a secret name like WEBHOOK_SECRET_SERVICENOW (the secret itself never goes here)"
                    ),
                );
            }
            if let Some(other) = seen.insert(secret.clone(), name.clone()) {
                return err(
                    &key,
                    format!(
                        "{secret} is already the secret of {other:?}; each ticket system needs its own, or it could speak for the other"
                    ),
                );
            }
        }
        Ok(())
    }
}

impl LedgerConfig {
    fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| {
            Err(ConfigError(format!("{source_name}: ledger.{key}: {why}")))
        };
        if self.origin.trim().is_empty() || self.origin.contains('\n') {
            return err("origin", "must be one non-empty line".into());
        }
        if self.checkpoint_every_records == 0 {
            return err("checkpoint_every_records", "must be at least 1".into());
        }
        if self.checkpoint_every_secs == 0 {
            return err("checkpoint_every_secs", "must be at least 1".into());
        }
        if let Some(b) = &self.publish_s3_bucket {
            let ok = (3..=63).contains(&b.len())
                && b.bytes().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'
                });
            if !ok {
                return err(
                    "publish_s3_bucket",
                    format!("{b:?} is not an S3 bucket name"),
                );
            }
        }
        if self.publish_s3_prefix.starts_with('/') {
            return err(
                "publish_s3_prefix",
                format!(
                    "{:?} starts with a slash; write it like checkpoints/",
                    self.publish_s3_prefix
                ),
            );
        }
        if let Some(d) = &self.publish_dir
            && d.as_os_str().is_empty()
        {
            return err("publish_dir", "is empty".into());
        }
        if let Some(c) = &self.publish_slack_channel
            && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return err(
                "publish_slack_channel",
                format!("{c:?} is not a Slack channel id like C0AUDIT"),
            );
        }
        Ok(())
    }
}

fn parse_env_value(value: &str) -> toml::Value {
    // `key = <value>` parses numbers, booleans and arrays; anything else is a plain string.
    match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.into())),
        Err(_) => toml::Value::String(value.into()),
    }
}

fn set_path(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let c = Config::from_toml("", "t.toml", env(&[])).unwrap();
        assert_eq!(c.ncp.base_url(), "https://ncloud.apigw.ntruss.com");
        assert_eq!(c.ncp.region, "KR");
        assert_eq!(c.listen, "127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_file_values() {
        let c = Config::from_toml(
            "[ncp]\nregion = \"KR\"\nsite = \"gov\"\n",
            "t.toml",
            env(&[
                ("NSA_NCP__REGION", "JPN"),
                ("NSA_NCP__MAX_ATTEMPTS", "2"),
                ("NSA_LISTEN", "127.0.0.1:9999"),
                ("NCP_API_ENDPOINT", "http://127.0.0.1:9090/"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.ncp.region, "JPN");
        assert_eq!(c.ncp.max_attempts, 2);
        assert_eq!(c.listen, "127.0.0.1:9999");
        assert_eq!(c.ncp.base_url(), "http://127.0.0.1:9090");
    }

    #[test]
    fn the_aws_deployment_is_configured_by_environment_variables() {
        let c = Config::from_toml(
            "",
            "t.toml",
            env(&[
                ("NSA_STORE__KIND", "dynamodb"),
                ("NSA_STORE__TABLE", "stack-StateTable-1"),
                ("NSA_STORE__LEDGER_TABLE", "stack-LedgerTable-1"),
                ("NSA_QUEUE__KIND", "sqs"),
                (
                    "NSA_QUEUE__URL",
                    "https://sqs.ap-northeast-2.amazonaws.com/123456789012/work",
                ),
                ("NSA_LAMBDA__FUNCTION", "worker"),
                (
                    "NSA_SECRETS__SOURCE",
                    "aws:arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:nsa-AbCdEf",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.store.kind, "dynamodb");
        assert_eq!(c.store.ledger_table, "stack-LedgerTable-1");
        assert!(!c.store.create_tables);
        assert_eq!(c.queue.kind, "sqs");
        assert_eq!(c.lambda.function, "worker");
    }

    #[test]
    fn the_ledger_section_has_defaults_takes_overrides_and_names_bad_keys() {
        let c = Config::from_toml("", "t.toml", env(&[])).unwrap();
        assert_eq!(c.ledger.origin, "ncp-share-approver");
        assert_eq!(c.ledger.publish_s3_prefix, "checkpoints/");
        assert_eq!(c.ledger.checkpoint_every_records, 100);
        assert_eq!(c.ledger.checkpoint_every_secs, 600);
        assert!(c.ledger.publish_s3_bucket.is_none() && c.ledger.publish_dir.is_none());
        assert!(!c.ncp.read_only);
        let c = Config::from_toml(
            "[ledger]\npublish_dir = \"data/checkpoints\"\n",
            "t.toml",
            env(&[
                ("NSA_LEDGER__PUBLISH_S3_BUCKET", "stack-checkpointbucket-1"),
                ("NSA_NCP__READ_ONLY", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.ledger.publish_s3_bucket.as_deref(),
            Some("stack-checkpointbucket-1")
        );
        assert_eq!(
            c.ledger.publish_dir.as_deref(),
            Some(Path::new("data/checkpoints"))
        );
        assert!(c.ncp.read_only);
        for (text, needle) in [
            (
                "[ledger]\npublish_s3_prefix = \"/x/\"",
                "ledger.publish_s3_prefix",
            ),
            (
                "[ledger]\ncheckpoint_every_records = 0",
                "ledger.checkpoint_every_records",
            ),
            (
                "[ledger]\ncheckpoint_every_secs = 0",
                "ledger.checkpoint_every_secs",
            ),
            (
                "[ledger]\npublish_s3_bucket = \"My_Bucket\"",
                "ledger.publish_s3_bucket",
            ),
            ("[ledger]\norigin = \"\"", "ledger.origin"),
            ("[ledger]\nsigning = 1", "signing"),
        ] {
            let e = Config::from_toml(text, "t.toml", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn sites_pick_their_gateways() {
        for (site, url) in [
            ("public", "https://ncloud.apigw.ntruss.com"),
            ("gov", "https://ncloud.apigw.gov-ntruss.com"),
            ("fin", "https://fin-ncloud.apigw.fin-ntruss.com"),
        ] {
            let c = Config::from_toml(&format!("[ncp]\nsite = \"{site}\""), "t", env(&[])).unwrap();
            assert_eq!(c.ncp.base_url(), url);
        }
    }

    #[test]
    fn errors_name_the_key() {
        for (text, envs, needle) in [
            ("[ncp]\nregon = \"KR\"", vec![], "regon"),
            ("[ncp]\nsite = \"moon\"", vec![], "moon"),
            ("", vec![("NCP_API_ENDPOINT", "ftp://x")], "ncp.endpoint"),
            ("", vec![("NSA_NCP__REGION", "K R")], "ncp.region"),
            ("[secrets]\nsource = \"vault:x\"", vec![], "secrets.source"),
            ("[store]\nkind = \"mysql\"", vec![], "store.kind"),
            ("[queue]\nkind = \"kafka\"", vec![], "queue.kind"),
            ("[queue]\nkind = \"sqs\"", vec![], "queue.url"),
            (
                "",
                vec![("NSA_LAMBDA__FUNCTION", "cron")],
                "lambda.function",
            ),
        ] {
            let e = Config::from_toml(text, "t.toml", env(&envs))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn jira_and_webhook_sections_are_checked_and_name_their_keys() {
        let jira = |extra: &str| {
            format!(
                "[jira]\nbase_url = \"https://x.atlassian.net\"\nemail = \"bot@x\"\nproject = \"SHARE\"\n{extra}\n[jira.fields]\nimage = \"customfield_1\"\ntargets = \"customfield_2\"\n"
            )
        };
        let c = Config::from_toml(&jira(""), "t.toml", env(&[])).unwrap();
        let j = c.jira.unwrap();
        assert_eq!(j.approved_status, "Approved");
        assert_eq!(j.fields.duration, None);
        assert!(Config::from_toml("", "t", env(&[])).unwrap().jira.is_none());
        for (text, needle) in [
            (
                jira("").replace("https://x.atlassian.net", "x.atlassian.net"),
                "jira.base_url",
            ),
            (jira("").replace("SHARE", "SH ARE"), "jira.project"),
            (
                jira("").replace("customfield_1", "customfield/1"),
                "jira.fields.image",
            ),
            (jira("colour = \"red\""), "colour"),
            (
                "[webhook]\ncallback_hosts = [\"https://x\"]".to_string(),
                "webhook.callback_hosts",
            ),
            (
                "[webhook]\nmax_attempts = 0".to_string(),
                "webhook.max_attempts",
            ),
            (
                "[webhook.systems.jira]\nsecret = \"WEBHOOK_SECRET_JIRA\"".to_string(),
                "webhook.systems.jira",
            ),
            (
                "[webhook.systems.ServiceNow]\nsecret = \"S\"".to_string(),
                "webhook.systems.ServiceNow",
            ),
            (
                "[webhook.systems.servicenow]\nsecret = \"whsec_abc\"".to_string(),
                "webhook.systems.servicenow.secret",
            ),
            (
                "[webhook]\nsystem = \"slack\"".to_string(),
                "webhook.system",
            ),
            (
                "[webhook]\nsystem = \"zendesk\"\n[webhook.systems.servicenow]\nsecret = \"WEBHOOK_SECRET\"".to_string(),
                "already the secret of",
            ),
            (
                "[slack]\nstatus_for = \"everyone\"".to_string(),
                "slack.status_for",
            ),
        ] {
            let e = Config::from_toml(&text, "t.toml", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn each_ticket_system_has_its_own_secret_and_the_legacy_path_speaks_for_one() {
        let text = "[webhook]\nsystem = \"servicenow\"\n[webhook.systems.zendesk]\nsecret = \"WEBHOOK_SECRET_ZENDESK\"\n";
        let c = Config::from_toml(text, "t.toml", env(&[])).unwrap();
        assert_eq!(
            c.webhook.system_secrets(),
            vec![
                ("zendesk".to_string(), "WEBHOOK_SECRET_ZENDESK".to_string()),
                ("servicenow".to_string(), "WEBHOOK_SECRET".to_string()),
            ]
        );
        assert_eq!(c.slack.status_for, StatusFor::People);
        let c = Config::from_toml(
            "[slack]\nstatus_for = \"workspace\"",
            "t.toml",
            env(&[(
                "NSA_WEBHOOK__SYSTEMS__SERVICENOW__SECRET",
                "WEBHOOK_SECRET_SN",
            )]),
        )
        .unwrap();
        assert_eq!(c.slack.status_for, StatusFor::Workspace);
        assert_eq!(c.webhook.systems["servicenow"].secret, "WEBHOOK_SECRET_SN");
    }
}
