//! The metrics: one catalogue ([`METRICS`]) and the typed functions the code records through,
//! so that no name or label is typed twice and every label is a closed set of values.
//!
//! Recording goes through the `metrics` facade. Until a recorder is installed every call is a
//! no-op; `serve` installs the Prometheus recorder ([`install_prometheus`], rendered by its own
//! listener on `[metrics] listen`), the Lambda functions the Embedded Metric Format recorder
//! ([`super::emf`], flushed to stdout once per invocation). The same calls feed both.
//!
//! No label carries a request, person, image or delivery id: each is one of the values its
//! enum lists, so a series count is fixed by this file (the README's "Metrics" table lists
//! them). Gauges about the store (the outbox, the ledger) are set by whoever reads the store
//! for them: `serve` at each scrape, the scheduler function after each task.

use std::time::Duration;

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (Prometheus `counter`; on CloudWatch the increase since the last flush).
    Counter,
    /// A value that is set (Prometheus `gauge`; on CloudWatch the last value set).
    Gauge,
    /// Observations (Prometheus `histogram` with [`DURATION_BUCKETS`]; on CloudWatch the values).
    Histogram,
}

/// The unit of a metric's values (CloudWatch's name for it is [`Unit::cloudwatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// The CloudWatch unit (one of those `MetricDatum` accepts).
    pub fn cloudwatch(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// A label and every value it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelDef {
    /// The label's name.
    pub name: &'static str,
    /// Its values, all of them.
    pub values: &'static [&'static str],
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Its name (Prometheus and CloudWatch alike), `nsa_`-prefixed.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its labels (CloudWatch dimensions), in order.
    pub labels: &'static [LabelDef],
    /// What it means (Prometheus `# HELP`).
    pub help: &'static str,
    /// The unit of its values.
    pub unit: Unit,
    /// Further CloudWatch dimension sets (subsets of `labels`) the Lambda functions emit it
    /// under, so that an alarm can watch a total: CloudWatch alarms cannot add up series.
    pub rollups: &'static [&'static [&'static str]],
}

impl MetricDef {
    /// The label of this name, if the metric has one.
    pub fn label(&self, name: &str) -> Option<&LabelDef> {
        self.labels.iter().find(|l| l.name == name)
    }
}

/// Defines a closed set of label values: the enum, `as_str` and `VALUES`.
macro_rules! label_values {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, as the metric shows it.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            /// The value as the metric shows it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

label_values! {
    /// A front door, by the path a delivery came to.
    Front {
        /// `/slack/…`.
        Slack => "slack",
        /// `/jira/webhook`.
        Jira => "jira",
        /// `/webhook` and `/webhook/{system}`.
        Webhook => "webhook",
        /// `/works/callback`.
        Works => "works",
        /// `/healthz`, `/readyz`.
        Probe => "probe",
        /// Any other path (a 404).
        Other => "other",
    }
}

label_values! {
    /// How a front door answered a delivery, by its status.
    HttpResult {
        /// 2xx (Slack's refusals are 200s with a private text: answered).
        Ok => "ok",
        /// 401: the signature did not verify.
        Unauthorized => "unauthorized",
        /// 408: not answered within the request timeout.
        Timeout => "timeout",
        /// Any other 4xx: the delivery was refused (malformed, forbidden, not configured).
        Refused => "refused",
        /// 5xx: a dependency was down; the sender may retry.
        Error => "error",
    }
}

impl HttpResult {
    /// The result of an answer with this status.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 => HttpResult::Unauthorized,
            408 => HttpResult::Timeout,
            400..=499 => HttpResult::Refused,
            500..=599 => HttpResult::Error,
            _ => HttpResult::Ok,
        }
    }
}

impl Front {
    /// The front door a path belongs to.
    pub fn of_path(path: &str) -> Self {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "slack" => Front::Slack,
            "jira" => Front::Jira,
            "webhook" => Front::Webhook,
            "works" => Front::Works,
            "healthz" | "readyz" => Front::Probe,
            _ => Front::Other,
        }
    }
}

label_values! {
    /// Why a signature check refused a delivery (`verify::VerifyError`, by kind).
    RejectReason {
        /// A header the scheme needs is absent.
        MissingHeader => "missing_header",
        /// A header is repeated, too long, not ASCII or not in its format.
        BadHeader => "bad_header",
        /// The timestamp is not a number.
        BadTimestamp => "bad_timestamp",
        /// The timestamp is outside the window (a replay, or a clock far off).
        Stale => "stale",
        /// No configured secret made the signature sent.
        BadSignature => "bad_signature",
        /// No secret is configured, or one is malformed: our side's fault.
        NoSecret => "no_secret",
    }
}

label_values! {
    /// Where a share request came from.
    Origin {
        /// A Slack command or form.
        Slack => "slack",
        /// A Jira issue.
        Jira => "jira",
        /// A ticket system's webhook.
        Webhook => "webhook",
        /// A NAVER WORKS message.
        Works => "works",
        /// The command line.
        Cli => "cli",
    }
}

label_values! {
    /// What a submission became.
    Submitted {
        /// Waiting for approvals.
        Pending => "pending",
        /// Approved at once (auto-approval, or a revocation of one's own grants).
        Approved => "approved",
        /// Refused by the policy (or the image was not found).
        Denied => "denied",
    }
}

label_values! {
    /// What a person did to a request.
    DecisionAction {
        /// Approve.
        Approve => "approve",
        /// Deny.
        Deny => "deny",
        /// Cancel (the requester).
        Cancel => "cancel",
    }
}

label_values! {
    /// What came of it (`workflow::ActOutcome`, by kind).
    DecisionOutcome {
        /// The approval counted; more are needed.
        Counted => "counted",
        /// The approval completed the request.
        Approved => "approved",
        /// This person had approved already.
        AlreadyCounted => "already_counted",
        /// The request is denied.
        Denied => "denied",
        /// The request is cancelled.
        Cancelled => "cancelled",
        /// This person may not do this.
        NotAllowed => "not_allowed",
        /// The request is no longer pending.
        NotPending => "not_pending",
        /// No such request.
        NotFound => "not_found",
    }
}

label_values! {
    /// How an execution attempt ended.
    ExecResult {
        /// The change is on NCP and read back: the request succeeded.
        Succeeded => "succeeded",
        /// The request ended failed.
        Failed => "failed",
        /// NCP failed transiently; the request is tried again.
        Retry => "retry",
        /// Another worker held the image.
        Busy => "busy",
        /// The attempt stopped on an error (the store); the request is tried again.
        Error => "error",
    }
}

label_values! {
    /// An NCP operation, as the `CloudApi` port names it.
    NcpOperation {
        /// One image's details.
        Image => "image",
        /// Every image of the account.
        Images => "images",
        /// Adding share targets.
        AddSharing => "add_sharing",
        /// Removing share targets.
        RemoveSharing => "remove_sharing",
        /// Replacing the share list.
        SetSharing => "set_sharing",
    }
}

label_values! {
    /// How an NCP call ended (after its retries).
    NcpResult {
        /// Answered.
        Ok => "ok",
        /// The image does not exist.
        NotFound => "not_found",
        /// The gateway refused our key.
        AuthFailed => "auth_failed",
        /// NCP could not be reached, or its answer did not come back.
        Unreachable => "unreachable",
        /// Any other error NCP answered.
        Error => "error",
    }
}

label_values! {
    /// Who an outbox entry is delivered to.
    Channel {
        /// Slack messages and cards.
        Slack => "slack",
        /// Slack App Homes.
        SlackHome => "slack_home",
        /// Jira comments and transitions.
        Jira => "jira",
        /// Signed callbacks.
        Webhook => "webhook",
        /// NAVER WORKS messages.
        Works => "works",
        /// Work handed from a front door to the workflow.
        Workflow => "workflow",
    }
}

label_values! {
    /// What a delivery attempt did.
    DeliveryResult {
        /// The peer has it.
        Delivered => "delivered",
        /// A later update of the same card or home made it unnecessary.
        Superseded => "superseded",
        /// It failed and is tried again later.
        Retry => "retry",
        /// Given up: a permanent error, or out of attempts.
        Failed => "failed",
    }
}

label_values! {
    /// How a periodic run ended.
    RunResult {
        /// It ran through.
        Ok => "ok",
        /// It stopped on an error (logged); it runs again at the next interval.
        Failed => "failed",
    }
}

label_values! {
    /// A kind of drift between NCP and the grants.
    DriftKind {
        /// Shared on NCP, no active grant covers it.
        Unmanaged => "unmanaged",
        /// An active grant, not shared on NCP.
        MissingOnNcp => "missing_on_ncp",
    }
}

const fn label(name: &'static str, values: &'static [&'static str]) -> LabelDef {
    LabelDef { name, values }
}

/// `nsa_requests_received_total`.
pub const REQUESTS_RECEIVED: &str = "nsa_requests_received_total";
/// `nsa_signature_rejections_total`.
pub const SIGNATURE_REJECTIONS: &str = "nsa_signature_rejections_total";
/// `nsa_share_requests_total`.
pub const SHARE_REQUESTS: &str = "nsa_share_requests_total";
/// `nsa_decisions_total`.
pub const DECISIONS: &str = "nsa_decisions_total";
/// `nsa_executions_total`.
pub const EXECUTIONS: &str = "nsa_executions_total";
/// `nsa_ncp_calls_total`.
pub const NCP_CALLS: &str = "nsa_ncp_calls_total";
/// `nsa_ncp_call_duration_seconds`.
pub const NCP_CALL_DURATION: &str = "nsa_ncp_call_duration_seconds";
/// `nsa_deliveries_total`.
pub const DELIVERIES: &str = "nsa_deliveries_total";
/// `nsa_outbox_pending`.
pub const OUTBOX_PENDING: &str = "nsa_outbox_pending";
/// `nsa_outbox_oldest_pending_age_seconds`.
pub const OUTBOX_OLDEST_AGE: &str = "nsa_outbox_oldest_pending_age_seconds";
/// `nsa_sweeps_total`.
pub const SWEEPS: &str = "nsa_sweeps_total";
/// `nsa_reconciles_total`.
pub const RECONCILES: &str = "nsa_reconciles_total";
/// `nsa_drift_findings_total`.
pub const DRIFT_FINDINGS: &str = "nsa_drift_findings_total";
/// `nsa_ledger_records`.
pub const LEDGER_RECORDS: &str = "nsa_ledger_records";
/// `nsa_ledger_checkpoint_age_seconds`.
pub const CHECKPOINT_AGE: &str = "nsa_ledger_checkpoint_age_seconds";

/// The histogram buckets of durations, in seconds (NCP calls take tens of milliseconds to a
/// few seconds with their retries).
pub const DURATION_BUCKETS: &[f64] =
    &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Every metric this service records: the one list the README, the alarms, the dashboards and
/// the recorders are checked against.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: REQUESTS_RECEIVED,
        kind: Kind::Counter,
        labels: &[
            label("front", Front::VALUES),
            label("result", HttpResult::VALUES),
        ],
        help: "Deliveries the HTTP front doors answered, by front door and result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: SIGNATURE_REJECTIONS,
        kind: Kind::Counter,
        labels: &[
            label("front", Front::VALUES),
            label("reason", RejectReason::VALUES),
        ],
        help: "Deliveries refused because their signature did not verify, by front door and reason.",
        unit: Unit::Count,
        rollups: &[&[]],
    },
    MetricDef {
        name: SHARE_REQUESTS,
        kind: Kind::Counter,
        labels: &[
            label("origin", Origin::VALUES),
            label("outcome", Submitted::VALUES),
        ],
        help: "Share requests submitted, by where they came from and what the policy made of them.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: DECISIONS,
        kind: Kind::Counter,
        labels: &[
            label("action", DecisionAction::VALUES),
            label("outcome", DecisionOutcome::VALUES),
        ],
        help: "Approvals, denials and cancellations by people, by what came of them.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: EXECUTIONS,
        kind: Kind::Counter,
        labels: &[label("result", ExecResult::VALUES)],
        help: "Execution attempts of approved requests on NCP, by result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: NCP_CALLS,
        kind: Kind::Counter,
        labels: &[
            label("operation", NcpOperation::VALUES),
            label("result", NcpResult::VALUES),
        ],
        help: "NCP API operations (with their retries), by operation and result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: NCP_CALL_DURATION,
        kind: Kind::Histogram,
        labels: &[label("operation", NcpOperation::VALUES)],
        help: "How long NCP API operations took, retries included, by operation.",
        unit: Unit::Seconds,
        rollups: &[],
    },
    MetricDef {
        name: DELIVERIES,
        kind: Kind::Counter,
        labels: &[
            label("channel", Channel::VALUES),
            label("result", DeliveryResult::VALUES),
        ],
        help: "Outbox delivery attempts, by channel and result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: OUTBOX_PENDING,
        kind: Kind::Gauge,
        labels: &[],
        help: "Messages owed and not yet delivered (the outbox's pending entries).",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: OUTBOX_OLDEST_AGE,
        kind: Kind::Gauge,
        labels: &[],
        help: "Age of the oldest message still owed, in seconds (0 when none is).",
        unit: Unit::Seconds,
        rollups: &[],
    },
    MetricDef {
        name: SWEEPS,
        kind: Kind::Counter,
        labels: &[label("result", RunResult::VALUES)],
        help: "Sweeps (expiry, reminders, revocations of ended grants), by result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: RECONCILES,
        kind: Kind::Counter,
        labels: &[label("result", RunResult::VALUES)],
        help: "Reconciliations of NCP's share lists with the grants, by result.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: DRIFT_FINDINGS,
        kind: Kind::Counter,
        labels: &[label("kind", DriftKind::VALUES)],
        help: "Drift the reconciliations found between NCP and the grants, by kind.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: LEDGER_RECORDS,
        kind: Kind::Gauge,
        labels: &[],
        help: "Records in the audit ledger.",
        unit: Unit::Count,
        rollups: &[],
    },
    MetricDef {
        name: CHECKPOINT_AGE,
        kind: Kind::Gauge,
        labels: &[],
        help: "Age of the newest signed ledger checkpoint, in seconds (absent before the first).",
        unit: Unit::Seconds,
        rollups: &[],
    },
];

/// The catalogue's entry for `name`, if it has one.
pub fn def(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// A delivery answered by a front door (`request_received(front, result)`).
pub fn request_received(front: Front, result: HttpResult) {
    metrics::counter!(REQUESTS_RECEIVED, "front" => front.as_str(), "result" => result.as_str())
        .increment(1);
}

/// A delivery refused by its signature check.
pub fn signature_rejected(front: Front, reason: RejectReason) {
    metrics::counter!(SIGNATURE_REJECTIONS, "front" => front.as_str(), "reason" => reason.as_str())
        .increment(1);
}

/// A share request submitted, and what the policy made of it.
pub fn request_submitted(origin: Origin, outcome: Submitted) {
    metrics::counter!(SHARE_REQUESTS, "origin" => origin.as_str(), "outcome" => outcome.as_str())
        .increment(1);
}

/// A person's approval, denial or cancellation, and what came of it.
pub fn decision(action: DecisionAction, outcome: DecisionOutcome) {
    metrics::counter!(DECISIONS, "action" => action.as_str(), "outcome" => outcome.as_str())
        .increment(1);
}

/// An execution attempt's end.
pub fn execution(result: ExecResult) {
    metrics::counter!(EXECUTIONS, "result" => result.as_str()).increment(1);
}

/// An NCP operation (retries included) and how long it took.
pub fn ncp_call(operation: NcpOperation, result: NcpResult, took: Duration) {
    metrics::counter!(NCP_CALLS, "operation" => operation.as_str(), "result" => result.as_str())
        .increment(1);
    metrics::histogram!(NCP_CALL_DURATION, "operation" => operation.as_str())
        .record(took.as_secs_f64());
}

/// An outbox delivery attempt.
pub fn delivery(channel: Channel, result: DeliveryResult) {
    metrics::counter!(DELIVERIES, "channel" => channel.as_str(), "result" => result.as_str())
        .increment(1);
}

/// A sweep's end.
pub fn sweep(result: RunResult) {
    metrics::counter!(SWEEPS, "result" => result.as_str()).increment(1);
}

/// A reconciliation's end.
pub fn reconcile(result: RunResult) {
    metrics::counter!(RECONCILES, "result" => result.as_str()).increment(1);
}

/// Drift found by a reconciliation.
pub fn drift_found(kind: DriftKind, count: u64) {
    if count > 0 {
        metrics::counter!(DRIFT_FINDINGS, "kind" => kind.as_str()).increment(count);
    }
}

/// The outbox as last read: entries owed, and the age of the oldest (none: 0).
pub fn outbox(pending: usize, oldest_age: Option<Duration>) {
    metrics::gauge!(OUTBOX_PENDING).set(pending as f64);
    metrics::gauge!(OUTBOX_OLDEST_AGE).set(oldest_age.map_or(0.0, |a| a.as_secs_f64()));
}

/// The ledger as last read: its records, and the age of its newest checkpoint (if any).
pub fn ledger(records: u64, checkpoint_age: Option<Duration>) {
    metrics::gauge!(LEDGER_RECORDS).set(records as f64);
    if let Some(age) = checkpoint_age {
        metrics::gauge!(CHECKPOINT_AGE).set(age.as_secs_f64());
    }
}

/// Every label combination of `def`, as `(name, value)` pairs.
pub fn label_sets(def: &MetricDef) -> Vec<Vec<(&'static str, &'static str)>> {
    let mut sets: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
    for l in def.labels {
        sets = sets
            .into_iter()
            .flat_map(|set| {
                l.values.iter().map(move |v| {
                    let mut s = set.clone();
                    s.push((l.name, *v));
                    s
                })
            })
            .collect();
    }
    sets
}

/// The process's Prometheus recorder, installed on first use (one per process: a test binary
/// that starts several apps shares it). `None` when another recorder was installed first.
pub fn install_prometheus() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = prometheus_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::error!("another metrics recorder is installed: /metrics stays empty");
                return None;
            }
            describe_and_zero();
            Some(handle)
        })
        .clone()
}

/// A Prometheus recorder with our histogram buckets (not installed).
pub fn prometheus_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new();
    for m in METRICS.iter().filter(|m| m.kind == Kind::Histogram) {
        builder = builder
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(m.name.to_string()),
                DURATION_BUCKETS,
            )
            .expect("the buckets are not empty");
    }
    builder.build_recorder()
}

/// Describes every metric to the installed recorder and registers every counter series at 0,
/// so that a scrape shows each one from the start (a `rate()` over a series that appears at 1
/// misses that first increase) and a query for "no failure" finds a 0 rather than nothing.
pub fn describe_and_zero() {
    for m in METRICS {
        let unit = match m.unit {
            Unit::Count => metrics::Unit::Count,
            Unit::Seconds => metrics::Unit::Seconds,
        };
        match m.kind {
            Kind::Counter => {
                metrics::describe_counter!(m.name, unit, m.help);
                for set in label_sets(m) {
                    let labels: Vec<metrics::Label> = set
                        .iter()
                        .map(|(k, v)| metrics::Label::from_static_parts(k, v))
                        .collect();
                    metrics::counter!(m.name, labels).increment(0);
                }
            }
            Kind::Gauge => metrics::describe_gauge!(m.name, unit, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, unit, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_catalogue_is_well_formed() {
        let mut names = HashSet::new();
        for m in METRICS {
            assert!(names.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("nsa_"), "{}", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            // Prometheus naming: counters end in _total, and seconds are in the name.
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert_eq!(
                m.unit == Unit::Seconds,
                m.name.ends_with("_seconds"),
                "{}",
                m.name
            );
            assert!(!m.help.is_empty() && m.help.ends_with('.'), "{}", m.name);
            for l in m.labels {
                assert!(!l.values.is_empty(), "{}: {}", m.name, l.name);
                let distinct: HashSet<_> = l.values.iter().collect();
                assert_eq!(distinct.len(), l.values.len(), "{}: {}", m.name, l.name);
                // Ids never: a label has a handful of values.
                assert!(l.values.len() <= 10, "{}: {}", m.name, l.name);
            }
            for rollup in m.rollups {
                assert!(rollup.iter().all(|r| m.label(r).is_some()), "{}", m.name);
            }
            // CloudWatch: at most 30 dimensions.
            assert!(m.labels.len() <= 30);
        }
    }

    /// The metric names in `text` (`nsa_…` tokens), each with what follows it.
    fn names_in(text: &str) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("nsa_") {
            let before = rest[..i].chars().next_back();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            // `NSA_…` (configuration) is upper case, so only lower-case words start here.
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.push((tail[..end].to_string(), &tail[end..]));
            }
            rest = &tail[end..];
        }
        out
    }

    /// The catalogue's metric a series name belongs to (a histogram's `_bucket`, `_sum` and
    /// `_count` series included) and the extra label it may have.
    fn metric_of(series: &str) -> Option<(&'static MetricDef, Option<&'static str>)> {
        if let Some(m) = def(series) {
            return Some((m, None));
        }
        for (suffix, extra) in [("_bucket", Some("le")), ("_sum", None), ("_count", None)] {
            if let Some(m) = series.strip_suffix(suffix).and_then(def) {
                if m.kind == Kind::Histogram {
                    return Some((m, extra));
                }
            }
        }
        None
    }

    /// Checks the PromQL label matchers after a series name: `{k="v", k=~"a|b"}`.
    fn check_matchers(file: &str, m: &MetricDef, extra: Option<&str>, after: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        let Some(body) = after
            .strip_prefix('{')
            .and_then(|b| b.split_once('}'))
            .map(|b| b.0)
        else {
            return wrong;
        };
        for matcher in body.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let op = ["=~", "!~", "!=", "="]
                .iter()
                .find(|op| matcher.contains(*op))
                .unwrap();
            let (key, value) = matcher.split_once(op).unwrap();
            let value = value.trim().trim_matches('"');
            if Some(key.trim()) == extra {
                continue;
            }
            match m.label(key.trim()) {
                None => wrong.push(format!("{file}: {} has no label {key}", m.name)),
                Some(l) => {
                    for v in value.split('|') {
                        if !l.values.contains(&v) {
                            wrong.push(format!("{file}: {}{{{key}}} is never {v:?}", m.name));
                        }
                    }
                }
            }
        }
        wrong
    }

    #[test]
    fn every_metric_the_alarms_rules_and_dashboards_name_is_one_the_code_records() {
        let files = [
            ("template.yaml", include_str!("../../template.yaml")),
            (
                "deploy/prometheus/alerts.yml",
                include_str!("../../deploy/prometheus/alerts.yml"),
            ),
            (
                "deploy/grafana/dashboard.json",
                include_str!("../../deploy/grafana/dashboard.json"),
            ),
        ];
        let mut wrong = Vec::new();
        let mut named = HashSet::new();
        for (file, text) in files {
            // Unescaped: the dashboards' expressions are JSON strings.
            let text = text.replace("\\\"", "\"");
            let found = names_in(&text);
            assert!(!found.is_empty(), "{file} names no metric");
            for (series, after) in found {
                let Some((m, extra)) = metric_of(&series) else {
                    wrong.push(format!("{file}: {series} is not in METRICS"));
                    continue;
                };
                named.insert(m.name);
                wrong.extend(check_matchers(file, m, extra, after));
            }
            // `by (…)` groups only by labels the expression's metrics have.
            for expr in text.split("sum by (").skip(1) {
                let (labels, rest) = expr.split_once(')').unwrap();
                let end = rest.find(['\n', '"']).unwrap_or(rest.len());
                let metrics: Vec<_> = names_in(&rest[..end])
                    .into_iter()
                    .filter_map(|(s, _)| metric_of(&s))
                    .collect();
                for l in labels.split(',').map(str::trim) {
                    if !metrics
                        .iter()
                        .any(|(m, extra)| m.label(l).is_some() || *extra == Some(l))
                    {
                        wrong.push(format!("{file}: `by ({labels})`: no metric there has {l}"));
                    }
                }
            }
        }
        // The CloudWatch side: an alarm's dimensions are a label and one of its values (or a
        // rollup), and a dashboard SEARCH names the metric's exact dimension set.
        let template = include_str!("../../template.yaml");
        let mut metric = None;
        let mut lines = template.lines().peekable();
        while let Some(line) = lines.next() {
            let line = line.trim();
            if line.starts_with("Type:") {
                metric = None;
            }
            if let Some(name) = line.strip_prefix("MetricName: ") {
                metric = def(name);
            }
            if let (Some(m), Some(key)) = (metric, line.strip_prefix("- Name: ")) {
                let value = lines.peek().and_then(|l| l.trim().strip_prefix("Value: "));
                match (m.label(key), value) {
                    (Some(l), Some(v)) if l.values.contains(&v) => {}
                    _ => wrong.push(format!(
                        "template.yaml: {} dimension {key}={value:?}",
                        m.name
                    )),
                }
            }
        }
        let unescaped = template.replace("\\\"", "\"");
        for search in unescaped.split("SEARCH('{").skip(1) {
            let (dims, rest) = search.split_once("} MetricName=").unwrap();
            let name = rest.split('"').nth(1).unwrap();
            let keys: Vec<&str> = dims.split(',').skip(1).collect();
            match def(name) {
                Some(m) => {
                    let labels: Vec<&str> = m.labels.iter().map(|l| l.name).collect();
                    if keys != labels && !m.rollups.contains(&keys.as_slice()) {
                        wrong.push(format!("template.yaml: SEARCH {name} by {keys:?}, its dimensions are {labels:?}"));
                    }
                }
                None => wrong.push(format!("template.yaml: SEARCH of {name}, not in METRICS")),
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // The dashboards show every metric.
        for m in METRICS {
            assert!(
                named.contains(m.name),
                "no alarm, rule or dashboard shows {}",
                m.name
            );
        }
    }

    #[test]
    fn the_readme_documents_every_metric_label_and_value() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split_once("\n## Metrics\n")
            .and_then(|(_, rest)| rest.split_once("\n## "))
            .map(|(s, _)| s)
            .expect("README has a Metrics section");
        for m in METRICS {
            let kind = match m.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let labels: Vec<String> = m.labels.iter().map(|l| format!("`{}`", l.name)).collect();
            let row = format!("| `{}` | {kind} | {} |", m.name, labels.join(", "));
            let row = row.replace("|  |", "| |");
            assert!(section.contains(&row), "README: no row {row}");
            for l in m.labels {
                for v in l.values {
                    let listed = section.lines().any(|line| {
                        line.starts_with(&format!("| `{}`", l.name))
                            && line.contains(&format!("`{v}`"))
                    });
                    assert!(
                        listed,
                        "README: {} value `{v}` of {} not listed",
                        l.name, m.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_name_check_finds_what_is_wrong() {
        let m = def(EXECUTIONS).unwrap();
        assert!(check_matchers("f", m, None, r#"{result="failed"}"#).is_empty());
        assert_eq!(
            check_matchers("f", m, None, r#"{result=~"failed|crashed"}"#).len(),
            1
        );
        assert_eq!(check_matchers("f", m, None, r#"{front="slack"}"#).len(), 1);
        assert!(metric_of("nsa_ncp_call_duration_seconds_bucket").is_some());
        assert!(metric_of("nsa_executions_total_bucket").is_none());
        assert!(metric_of("nsa_executions").is_none());
        let names: Vec<String> = names_in("NSA_METRICS__LISTEN x nsa_a_total{b} y_nsa_c")
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(names, ["nsa_a_total"]);
    }

    #[test]
    fn fronts_and_results_follow_the_path_and_status() {
        assert_eq!(Front::of_path("/slack/commands"), Front::Slack);
        assert_eq!(Front::of_path("/jira/webhook"), Front::Jira);
        assert_eq!(Front::of_path("/webhook"), Front::Webhook);
        assert_eq!(Front::of_path("/webhook/servicenow"), Front::Webhook);
        assert_eq!(Front::of_path("/works/callback"), Front::Works);
        assert_eq!(Front::of_path("/readyz"), Front::Probe);
        assert_eq!(Front::of_path("/nope/slack"), Front::Other);
        assert_eq!(Front::of_path("/"), Front::Other);
        assert_eq!(HttpResult::of_status(200), HttpResult::Ok);
        assert_eq!(HttpResult::of_status(401), HttpResult::Unauthorized);
        assert_eq!(HttpResult::of_status(408), HttpResult::Timeout);
        assert_eq!(HttpResult::of_status(413), HttpResult::Refused);
        assert_eq!(HttpResult::of_status(503), HttpResult::Error);
    }

    #[test]
    fn the_helpers_record_the_catalogues_names_and_labels() {
        let recorder = prometheus_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_and_zero();
            request_received(Front::Slack, HttpResult::Ok);
            signature_rejected(Front::Jira, RejectReason::BadSignature);
            signature_rejected(Front::Jira, RejectReason::BadSignature);
            execution(ExecResult::Succeeded);
            ncp_call(
                NcpOperation::Image,
                NcpResult::Ok,
                Duration::from_millis(30),
            );
            outbox(3, Some(Duration::from_secs(42)));
            ledger(7, None);
        });
        let text = handle.render();
        for line in [
            r#"nsa_requests_received_total{front="slack",result="ok"} 1"#,
            r#"nsa_requests_received_total{front="works",result="error"} 0"#,
            r#"nsa_signature_rejections_total{front="jira",reason="bad_signature"} 2"#,
            r#"nsa_executions_total{result="succeeded"} 1"#,
            r#"nsa_executions_total{result="failed"} 0"#,
            r#"nsa_ncp_calls_total{operation="image",result="ok"} 1"#,
            r#"nsa_ncp_call_duration_seconds_bucket{operation="image",le="0.05"} 1"#,
            r#"nsa_ncp_call_duration_seconds_bucket{operation="image",le="0.025"} 0"#,
            "nsa_outbox_pending 3",
            "nsa_outbox_oldest_pending_age_seconds 42",
            "nsa_ledger_records 7",
            "# TYPE nsa_ncp_call_duration_seconds histogram",
            "# HELP nsa_executions_total Execution attempts of approved requests on NCP, by result.",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Every sample's name is the catalogue's (histograms add their suffixes).
        for l in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| def(b).is_some()))
                .unwrap_or(name);
            assert!(def(base).is_some(), "{name} is not in METRICS");
        }
        assert!(!text.contains("nsa_ledger_checkpoint_age_seconds "));
    }
}
