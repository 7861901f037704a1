//! Typed configuration: one TOML file (`--config FILE`, default `ncp-share-approver.toml`) with
//! every value overridable by an environment variable.
//!
//! Override rule: `NSA_<SECTION>__<KEY>=value` sets `[section] key` (`NSA_LISTEN` sets the top-level
//! `listen`, `NSA_NCP__REGION=JPN` sets `[ncp] region`). Values are read as TOML when they parse
//! (numbers, booleans, arrays) and as strings otherwise. `NCP_API_ENDPOINT` overrides the NCP
//! scheme and host, like the official SDKs' `NCLOUD_API_GW`. Secrets are never in this file:
//! `[secrets] source` names where they are. `NSA_*` is the configuration's namespace: the one
//! other variable in it, `NSA_CONFIG` (which file to read), is no override, and tools keep their
//! own knobs out of it (`.ci/run` reads `CI_VENV`). An override that does not fit is an error
//! naming the variable.
//!
//! The settings an adapter is built from are that adapter's own types ([`NcpConfig`],
//! [`StoreConfig`], [`JiraConfig`], [`StatusFor`], [`SourceSpec`]); this module embeds and checks
//! them, section by section, and no adapter imports it. Kinds (`store.kind`, `queue.kind`,
//! `lambda.function`, `secrets.source`) are enums, parsed here once: an unknown one is an error
//! naming the key and the choices, never a fallback.

use serde::Deserialize;
use std::path::{Path, PathBuf};

pub use crate::http::jira::{JiraConfig, JiraFields};
pub use crate::http::slack::settings::StatusFor;
pub use crate::ncp::{NcpConfig, NcpSite};
pub use crate::notify::works::WorksConfig;
pub use crate::secrets::SourceSpec;
pub use crate::store::{StoreConfig, StoreKind};

/// The default configuration file name, looked up in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "ncp-share-approver.toml";
/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "NSA_";
/// The variable naming the configuration file (`--config`): in the prefix, but no override.
pub const CONFIG_FILE_VAR: &str = "NSA_CONFIG";
/// Identity systems whose front doors verify their own people: no ticket system may be named so.
pub const RESERVED_WEBHOOK_SYSTEMS: &[&str] = &["slack", "jira", "system", "cli"];

/// A configuration problem, naming the file, the key and, when an override caused it, the
/// environment variable; the I/O or TOML error behind it is kept as its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{source_name} is not valid TOML")]
    Syntax {
        /// The file.
        source_name: String,
        /// Where and why, as the TOML parser says.
        #[source]
        source: toml::de::Error,
    },
    /// A key is unknown, or its value is not allowed: the message names the file, the
    /// environment variable if one set it, and the key.
    #[error("{0}")]
    Invalid(String),
}

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
    /// The NAVER WORKS bot (absent: `/works/callback` answers 404).
    pub works: Option<WorksConfig>,
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
    /// Metrics: `serve`'s Prometheus listener, the Lambda functions' CloudWatch namespace.
    pub metrics: MetricsConfig,
    /// Where spans are exported (OTLP), if anywhere.
    pub telemetry: TelemetryConfig,
}

/// `[telemetry]`: OpenTelemetry export of the spans. Off unless `otlp_endpoint` is set; the
/// JSON logs carry the same `trace_id` either way.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// An OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`): spans go to
    /// `<endpoint>/v1/traces` as protobuf. Unset (the default): nothing is exported.
    pub otlp_endpoint: Option<String>,
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
            works: None,
            webhook: WebhookConfig::default(),
            lifecycle: LifecycleConfig::default(),
            queue: QueueConfig::default(),
            lambda: LambdaConfig::default(),
            outbox: OutboxConfig::default(),
            ledger: LedgerConfig::default(),
            metrics: MetricsConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// `[metrics]`: where `serve` answers `GET /metrics` (Prometheus text), apart from the public
/// listener, and the CloudWatch namespace of the Lambda functions' Embedded Metric Format lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `HOST:PORT` of the metrics listener (loopback by default: a scraper on the same host
    /// or network namespace); empty or `off`: no listener.
    pub listen: String,
    /// The CloudWatch namespace on Lambda (the template sets the stack's name).
    pub namespace: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            namespace: "ncp-share-approver".into(),
        }
    }
}

impl MetricsConfig {
    /// The metrics listener's address, or `None` when it is off.
    pub fn listen_addr(&self) -> Option<&str> {
        match self.listen.trim() {
            "" | "off" => None,
            addr => Some(addr),
        }
    }

    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        if let Some(addr) = self.listen_addr()
            && addr
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(at.error(
                "metrics.listen",
                format!("{addr:?} is not HOST:PORT (or empty or \"off\" for no metrics listener)"),
            ));
        }
        let ns = &self.namespace;
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#:".contains(c);
        if ns.is_empty() || ns.len() > 255 || !ns.chars().all(allowed) || ns.starts_with(':') {
            return Err(at.error(
                "metrics.namespace",
                format!(
                    "{ns:?} is not a CloudWatch namespace (1 to 255 of A-Z a-z 0-9 . - _ / # :)"
                ),
            ));
        }
        Ok(())
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

crate::choice::named_choice! {
    /// `queue.kind`: where approved work is queued.
    #[derive(Default)]
    pub enum QueueKind at "queue.kind" {
        /// A channel to the in-process worker (the default).
        #[default]
        Local = "local",
        /// An SQS queue (on AWS).
        Sqs = "sqs",
    }
}

/// `[queue]`: where approved work goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `local` (a channel to the in-process worker; the default) or `sqs`.
    pub kind: QueueKind,
    /// SQS: the queue URL.
    pub url: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            kind: QueueKind::Local,
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

crate::choice::named_choice! {
    /// `lambda.function`: which of the three functions this process is on AWS Lambda.
    #[derive(Default)]
    pub enum LambdaFunction at "lambda.function" {
        /// The HTTP router (the default).
        #[default]
        Http = "http",
        /// SQS batches of approved work.
        Worker = "worker",
        /// The schedule: sweep, reconcile, checkpoints.
        Scheduler = "scheduler",
    }
}

/// `[lambda]`: the role of this process on AWS Lambda (one binary serves three functions).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// `http` (the router; the default), `worker` (SQS batches) or `scheduler` (sweep, reconcile).
    pub function: LambdaFunction,
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
    /// The least time between two messages into one NAVER WORKS room or to one user, in
    /// milliseconds (the API allows 240 calls a minute per operation on paid plans).
    pub works_interval_ms: u64,
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
    /// How often `serve`'s dispatcher looks for messages it was not woken for, in milliseconds
    /// (another process's, one whose lane was busy). A commit that writes messages wakes it at
    /// once, and so does another replica's on PostgreSQL, so with PostgreSQL this can be slow;
    /// its own retries wake it when they are due, whatever this is.
    pub poll_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            slack_interval_ms: 1000,
            works_interval_ms: 250,
            max_attempts: 10,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            lambda_budget_secs: 20,
            lane_lease_secs: 30,
            poll_ms: 500,
        }
    }
}

impl OutboxConfig {
    /// The dispatcher's pacing.
    pub fn pacing(&self) -> crate::workflow::outbox::Pacing {
        crate::workflow::outbox::Pacing {
            slack_interval: std::time::Duration::from_millis(self.slack_interval_ms),
            works_interval: std::time::Duration::from_millis(self.works_interval_ms),
            max_attempts: self.max_attempts.max(1),
            backoff: crate::domain::RetryPolicy {
                max_attempts: u32::MAX,
                base: std::time::Duration::from_millis(self.backoff_base_ms),
                max_delay: std::time::Duration::from_secs(self.backoff_max_secs),
                budget: std::time::Duration::MAX,
            },
            lane_lease: std::time::Duration::from_secs(self.lane_lease_secs.max(1)),
            poll: std::time::Duration::from_millis(self.poll_ms.max(10)),
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

/// `[secrets]`: `env`, `file:PATH` or `aws:SECRET_ID` (Secrets Manager, on AWS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Where secrets are read from.
    pub source: SourceSpec,
}

impl Config {
    /// Loads `path` (a missing file is an error only when `required`), then applies the
    /// environment overrides, then validates.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
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
        let file: toml::Table = text.parse().map_err(|source| ConfigError::Syntax {
            source_name: source_name.to_string(),
            source,
        })?;
        let overrides: Vec<Override> = env.into_iter().filter_map(Override::from_var).collect();
        let mut table = file.clone();
        for o in &overrides {
            o.apply(&mut table);
        }
        let config = match deserialize(table) {
            Ok(config) => config,
            Err(e) => return Err(blame(&file, &overrides, source_name, &e)),
        };
        config.validate(&At {
            source_name,
            overrides: &overrides,
        })?;
        Ok(config)
    }

    /// Checks every section; the first problem found is the error.
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        validate_ncp(&self.ncp, at)?;
        self.worker.validate(at)?;
        self.lifecycle.validate(at)?;
        self.slack.validate(at)?;
        if let Some((key, why)) = self.store.problem() {
            return Err(at.error(key, why));
        }
        self.queue.validate(at)?;
        if let Some(jira) = &self.jira {
            validate_jira(jira, at)?;
        }
        if let Some(works) = &self.works
            && let Some((key, why)) = works.problem()
        {
            return Err(at.error(key, why));
        }
        self.ledger.validate(at)?;
        self.webhook.validate(at)?;
        self.metrics.validate(at)?;
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && let Err(why) = crate::telemetry::otlp_traces_url(endpoint)
        {
            return Err(at.error("telemetry.otlp_endpoint", why));
        }
        Ok(())
    }
}

/// `[ncp]`: the endpoint, the region, the attempts and the catalog's refresh interval.
fn validate_ncp(ncp: &NcpConfig, at: &At) -> Result<(), ConfigError> {
    let err = |key: &str, why: String| Err(at.error(key, why));
    if let Some(ep) = &ncp.endpoint {
        let ok = (ep.starts_with("http://") || ep.starts_with("https://"))
            && reqwest::Url::parse(ep).is_ok_and(|u| u.host().is_some() && u.query().is_none());
        if !ok {
            return err(
                "ncp.endpoint (or NCP_API_ENDPOINT)",
                format!("{ep:?} is not a scheme and host like https://ncloud.apigw.ntruss.com"),
            );
        }
    }
    if ncp.region.is_empty() || !ncp.region.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return err(
            "ncp.region",
            format!("{:?} is not a region code like KR", ncp.region),
        );
    }
    if ncp.max_attempts == 0 {
        return err("ncp.max_attempts", "must be at least 1".into());
    }
    if ncp.catalog_refresh_secs == 0 {
        return err(
            "ncp.catalog_refresh_secs",
            "must be at least 1 (seconds between refreshes of the image catalog)".into(),
        );
    }
    Ok(())
}

/// `[jira]`: the site, the account, the project and the field ids.
fn validate_jira(jira: &JiraConfig, at: &At) -> Result<(), ConfigError> {
    let err = |key: &str, why: String| Err(at.error(key, why));
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
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return err(
                key,
                format!("{id:?} is not a field id like customfield_10050"),
            );
        }
    }
    Ok(())
}

impl WorkerConfig {
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        if self.concurrency == 0 {
            return err("worker.concurrency", "must be at least 1".into());
        }
        if self.lease_ttl_secs == 0
            || self.poll_interval_secs == 0
            || self.expire_interval_secs == 0
        {
            return err(
                "worker",
                "lease_ttl_secs, poll_interval_secs and expire_interval_secs must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

impl LifecycleConfig {
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        if self.revoke_attempts == 0 {
            return err("lifecycle.revoke_attempts", "must be at least 1".into());
        }
        if let Some(c) = &self.drift_channel
            && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return err(
                "lifecycle.drift_channel",
                format!("{c:?} is not a Slack channel id like C0DRIFT"),
            );
        }
        Ok(())
    }
}

impl SlackConfig {
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        if !(self.api_base_url.starts_with("https://") || self.api_base_url.starts_with("http://"))
        {
            return err(
                "slack.api_base_url",
                format!("{:?} is not an http(s) URL", self.api_base_url),
            );
        }
        Ok(())
    }
}

impl QueueConfig {
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        match (self.kind, self.url.as_str()) {
            (QueueKind::Local, _) => {}
            (QueueKind::Sqs, url) if url.starts_with("https://") || url.starts_with("http://") => {}
            (QueueKind::Sqs, url) => {
                return err(
                    "queue.url",
                    format!(
                        "{url:?} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                    ),
                );
            }
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        if self.max_attempts == 0 {
            return err("webhook.max_attempts", "must be at least 1".into());
        }
        if let Some(h) = self
            .callback_hosts
            .iter()
            .find(|h| h.is_empty() || h.contains(['/', ':', '*', ' ']))
        {
            return err(
                "webhook.callback_hosts",
                format!("{h:?} is not a host name like tickets.corp.example"),
            );
        }
        self.validate_systems(at)
    }

    /// Ticket system names are identity systems of their own, and no two share a secret: a
    /// secret speaks for exactly one system.
    fn validate_systems(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(key, why));
        let reserved = RESERVED_WEBHOOK_SYSTEMS;
        let names = self
            .systems
            .keys()
            .map(|n| (format!("webhook.systems.{n}"), n));
        let legacy = self
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
        for (name, secret) in self.system_secrets() {
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
    fn validate(&self, at: &At) -> Result<(), ConfigError> {
        let err = |key: &str, why: String| Err(at.error(&format!("ledger.{key}"), why));
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

/// One environment variable that sets a key: which variable, which key, which value.
struct Override {
    var: String,
    path: Vec<String>,
    value: toml::Value,
}

impl Override {
    /// The override `name` makes, if it is one: `NCP_API_ENDPOINT`, or `NSA_*` but `NSA_CONFIG`.
    fn from_var((name, value): (String, String)) -> Option<Self> {
        let (path, value) = if name == "NCP_API_ENDPOINT" {
            (
                vec!["ncp".into(), "endpoint".into()],
                toml::Value::String(value),
            )
        } else if name == CONFIG_FILE_VAR {
            return None;
        } else {
            let rest = name.strip_prefix(ENV_PREFIX)?;
            let path = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            (path, parse_env_value(&value))
        };
        Some(Override {
            var: name,
            path,
            value,
        })
    }

    fn apply(&self, table: &mut toml::Table) {
        set_path(table, &self.path, self.value.clone());
    }

    /// Whether this override set `key` (like `ncp.region`), or a table holding it or in it.
    fn sets(&self, key: &str) -> bool {
        let mine = self.path.join(".");
        key == mine || key.starts_with(&format!("{mine}.")) || mine.starts_with(&format!("{key}."))
    }
}

/// Where a value came from, for errors: the file and the overrides on top of it.
struct At<'a> {
    source_name: &'a str,
    overrides: &'a [Override],
}

impl At<'_> {
    /// The error for `key` (its first word is the key; the rest may say more), naming the
    /// environment variable that set it, if one did.
    fn error(&self, key: &str, why: String) -> ConfigError {
        let name = key.split(' ').next().unwrap_or(key);
        match self.overrides.iter().rev().find(|o| o.sets(name)) {
            Some(o) => ConfigError::Invalid(format!(
                "{}: environment variable {}: {key}: {why}",
                self.source_name, o.var
            )),
            None => ConfigError::Invalid(format!("{}: {key}: {why}", self.source_name)),
        }
    }
}

fn deserialize(table: toml::Table) -> Result<Config, toml::de::Error> {
    toml::Value::Table(table).try_into()
}

/// The error for a configuration that does not deserialize, naming what caused it: the file
/// alone, or else the first override that breaks it (the error of the whole does not say).
fn blame(
    file: &toml::Table,
    overrides: &[Override],
    source_name: &str,
    whole: &toml::de::Error,
) -> ConfigError {
    let mut table = file.clone();
    if let Err(e) = deserialize(table.clone()) {
        return ConfigError::Invalid(format!("{source_name}: {}", e.message()));
    }
    for o in overrides {
        o.apply(&mut table);
        if let Err(e) = deserialize(table.clone()) {
            return ConfigError::Invalid(format!(
                "{source_name}: environment variable {}: {}",
                o.var,
                e.message()
            ));
        }
    }
    ConfigError::Invalid(format!(
        "{source_name} (with {ENV_PREFIX}* environment overrides): {}",
        whole.message()
    ))
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

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.clone(), value);
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
    fn otlp_export_is_off_by_default_and_its_endpoint_is_checked() {
        let c = Config::from_toml("", "t.toml", env(&[])).unwrap();
        assert_eq!(c.telemetry.otlp_endpoint, None);
        let c = Config::from_toml(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"",
            "t.toml",
            env(&[]),
        )
        .unwrap();
        assert_eq!(
            c.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let c = Config::from_toml(
            "",
            "t.toml",
            env(&[("NSA_TELEMETRY__OTLP_ENDPOINT", "https://otel.example")]),
        )
        .unwrap();
        assert_eq!(
            c.telemetry.otlp_endpoint.as_deref(),
            Some("https://otel.example")
        );
        let e = Config::from_toml(
            "[telemetry]\notlp_endpoint = \"collector:4318\"",
            "t.toml",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("telemetry.otlp_endpoint") && e.contains("http://"),
            "{e}"
        );
        let e = Config::from_toml("[telemetry]\nendpoint = \"x\"", "t.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("endpoint"), "{e}");
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let c = Config::from_toml("", "t.toml", env(&[])).unwrap();
        assert_eq!(c.ncp.base_url(), "https://ncloud.apigw.ntruss.com");
        assert_eq!(c.ncp.region, "KR");
        assert_eq!(c.ncp.catalog_refresh(), std::time::Duration::from_secs(300));
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
        assert_eq!(c.store.kind.as_str(), "dynamodb");
        assert_eq!(c.store.ledger_table, "stack-LedgerTable-1");
        assert!(!c.store.create_tables);
        assert_eq!(c.queue.kind.as_str(), "sqs");
        assert_eq!(c.lambda.function.as_str(), "worker");
        assert_eq!(
            c.secrets.source,
            SourceSpec::Aws(
                "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:nsa-AbCdEf".into()
            )
        );
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
            (
                "[ncp]\ncatalog_refresh_secs = 0",
                vec![],
                "ncp.catalog_refresh_secs",
            ),
            ("[secrets]\nsource = \"vault:x\"", vec![], "secrets.source"),
            ("[store]\nkind = \"mysql\"", vec![], "store.kind"),
            ("[queue]\nkind = \"kafka\"", vec![], "queue.kind"),
            ("[queue]\nkind = \"sqs\"", vec![], "queue.url"),
            (
                "",
                vec![("NSA_LAMBDA__FUNCTION", "cron")],
                "lambda.function",
            ),
            ("[works]\nbot_id = \"bot\"", vec![], "works.bot_id"),
            (
                "[works]\nbot_id = \"1\"\nauth_url = \"x\"",
                vec![],
                "works.auth_url",
            ),
            ("[works]\nbotid = \"1\"", vec![], "botid"),
            ("[metrics]\nlisten = \"9464\"", vec![], "metrics.listen"),
            (
                "",
                vec![("NSA_METRICS__LISTEN", "localhost:http")],
                "NSA_METRICS__LISTEN",
            ),
            (
                "[metrics]\nnamespace = \"a b\"",
                vec![],
                "metrics.namespace",
            ),
        ] {
            let e = Config::from_toml(text, "t.toml", env(&envs))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }

    #[test]
    fn metrics_listen_on_loopback_by_default_and_can_be_turned_off() {
        let c = Config::from_toml("", "t", env(&[])).unwrap();
        assert_eq!(c.metrics.listen_addr(), Some("127.0.0.1:9464"));
        assert_eq!(c.metrics.namespace, "ncp-share-approver");
        for off in ["off", ""] {
            let c = Config::from_toml("", "t", env(&[("NSA_METRICS__LISTEN", off)])).unwrap();
            assert_eq!(c.metrics.listen_addr(), None, "{off:?}");
        }
        let c = Config::from_toml("[metrics]\nlisten = \"[::1]:0\"", "t", env(&[])).unwrap();
        assert_eq!(c.metrics.listen_addr(), Some("[::1]:0"));
    }

    #[test]
    fn the_works_section_is_optional_and_its_hosts_default_to_the_public_service() {
        assert!(
            Config::from_toml("", "t", env(&[]))
                .unwrap()
                .works
                .is_none()
        );
        let c = Config::from_toml("[works]\nbot_id = \"2000001\"", "t", env(&[])).unwrap();
        let works = c.works.unwrap();
        assert_eq!(works.bot_id, "2000001");
        assert_eq!(works.api_base_url, "https://www.worksapis.com/v1.0");
        assert_eq!(
            works.auth_url,
            "https://auth.worksmobile.com/oauth2/v2.0/token"
        );
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

    #[test]
    fn an_unknown_kind_names_the_key_and_every_choice() {
        for (text, message) in [
            (
                "[store]\nkind = \"mysql\"",
                "t.toml: store.kind: unknown kind \"mysql\"; expected one of: sqlite, dynamodb, postgres",
            ),
            (
                "[queue]\nkind = \"kafka\"",
                "t.toml: queue.kind: unknown kind \"kafka\"; expected one of: local, sqs",
            ),
            (
                "[lambda]\nfunction = \"cron\"",
                "t.toml: lambda.function: unknown kind \"cron\"; expected one of: http, worker, scheduler",
            ),
            (
                "[secrets]\nsource = \"vault:x\"",
                "t.toml: secrets.source: unknown kind \"vault:x\"; expected one of: env, file:PATH, aws:SECRET_ID",
            ),
            (
                "[slack]\nstatus_for = \"everyone\"",
                "t.toml: slack.status_for: unknown kind \"everyone\"; expected one of: people, workspace",
            ),
        ] {
            let e = Config::from_toml(text, "t.toml", env(&[])).unwrap_err();
            assert_eq!(e.to_string(), message);
        }
        let c = Config::from_toml("", "t.toml", env(&[])).unwrap();
        assert_eq!(
            (
                c.store.kind,
                c.queue.kind,
                c.lambda.function,
                c.secrets.source
            ),
            (
                StoreKind::Sqlite,
                QueueKind::Local,
                LambdaFunction::Http,
                SourceSpec::Env
            )
        );
    }

    #[test]
    fn an_override_that_does_not_fit_names_its_environment_variable() {
        for (envs, needle) in [
            (
                vec![("NSA_CI_VENV", "/home/ci/.cache/venv")],
                "t.toml: environment variable NSA_CI_VENV: unknown field `ci_venv`",
            ),
            (
                vec![("NSA_LISTEN", "127.0.0.1:1"), ("NSA_STORE__KIND", "mysql")],
                "t.toml: environment variable NSA_STORE__KIND: store.kind: unknown kind",
            ),
            (
                vec![("NSA_NCP__REGION", "K R")],
                "t.toml: environment variable NSA_NCP__REGION: ncp.region:",
            ),
            (
                vec![("NCP_API_ENDPOINT", "ftp://x")],
                "t.toml: environment variable NCP_API_ENDPOINT: ncp.endpoint",
            ),
        ] {
            let e = Config::from_toml("", "t.toml", env(&envs))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(needle), "{e} should start with {needle}");
        }
        // A bad value in the file is the file's, even with unrelated overrides set.
        let e = Config::from_toml(
            "[ncp]\nregon = \"KR\"",
            "t.toml",
            env(&[("NSA_LISTEN", "x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t.toml: unknown field `regon`"), "{e}");
    }

    #[test]
    fn tool_knobs_outside_the_prefix_and_the_config_file_variable_do_not_break_loading() {
        let c = Config::from_toml(
            "",
            "t.toml",
            env(&[
                ("CI_VENV", "/home/ci/.cache/venv"),
                ("TEST_AWS_ENDPOINT", "http://127.0.0.1:5000"),
                ("NSA_CONFIG", "elsewhere.toml"),
                ("NSA_LISTEN", "127.0.0.1:9"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9");
    }

    #[test]
    fn an_unreadable_or_malformed_file_keeps_its_cause() {
        use std::error::Error as _;
        let e = Config::from_toml("[ncp\nregion = 1", "t.toml", env(&[])).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
        assert_eq!(e.to_string(), "t.toml is not valid TOML");
        let cause = e.source().expect("the parse error is kept").to_string();
        assert!(cause.contains("line 1"), "{cause}");

        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-config.toml");
        let e = Config::load(&missing, true).unwrap_err();
        assert!(e.to_string().contains("no-such-config.toml"), "{e}");
        let io = e.source().expect("the I/O error is kept");
        assert_eq!(
            io.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn the_readme_configuration_parses_as_written() {
        let readme = include_str!("../README.md");
        let section = &readme[readme
            .find("## Configuration")
            .expect("a Configuration section")..];
        let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
        let text = &section[start..start + section[start..].find("```").unwrap()];
        let c = Config::from_toml(text, "README.md", env(&[])).unwrap();
        assert_eq!(c.store.kind, StoreKind::Sqlite);
        assert_eq!(c.lambda.function, LambdaFunction::Http);
    }
}
