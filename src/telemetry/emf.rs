//! CloudWatch's Embedded Metric Format: a `metrics` recorder that keeps what was recorded since
//! the last flush and writes it as EMF JSON lines (stdout on Lambda: CloudWatch Logs extracts
//! the metrics with no agent and no API call).
//!
//! A Lambda function flushes once per invocation, before it answers (nothing runs after the
//! answer: the process is frozen). A flush writes one document per label set (at most
//! [`MAX_METRICS_PER_DIRECTIVE`] metrics each): counters as their increase since the last
//! flush (none: left out), gauges as their last value, histograms as arrays of at most
//! [`MAX_VALUES_PER_METRIC`] values (more values: more documents). The labels are the
//! dimensions; a metric's `rollups` in the catalogue add dimension sets (a total an alarm can
//! watch).
//!
//! `metrics_cloudwatch_embedded` does this too, but drops histogram values past 100 between
//! flushes (an NCP-heavy batch records more) and flushes from its own Lambda runtime wrapper,
//! where we answer through `lambda_http` and our own SQS handler; this is the little we need.

use super::metrics as catalogue;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// At most this many metrics in one directive (the specification's limit).
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// At most this many values in one metric's array (the specification's limit).
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// At most this many dimensions in one dimension set (the specification's limit).
pub const MAX_DIMENSIONS: usize = 30;
/// Histogram values kept between two flushes; past it they are dropped (and counted in the log).
const MAX_KEPT_VALUES: usize = 10_000;

type Labels = Vec<(String, String)>;
/// One metric of a document: its name, its value (a number or an array) and its unit.
type Entry = (String, Value, &'static str);

/// A histogram's values since the last flush.
#[derive(Default)]
struct Values(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Values {
    fn record(&self, value: f64) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < MAX_KEPT_VALUES {
            v.push(value);
        }
    }
}

enum Series {
    /// The count at the last flush is subtracted from it.
    Counter(Arc<AtomicU64>, u64),
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<Values>),
}

#[derive(Default)]
struct Inner {
    /// By label set, then metric name.
    series: BTreeMap<Labels, BTreeMap<String, Series>>,
}

/// The recorder, and the handle that flushes it (clones share the same series).
#[derive(Clone)]
pub struct EmfRecorder {
    namespace: String,
    inner: Arc<Mutex<Inner>>,
}

impl EmfRecorder {
    /// A recorder whose metrics go to the CloudWatch `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, key: &metrics::Key, make: impl FnOnce() -> Series) -> Option<Series> {
        let labels: Labels = key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        if labels.len() > MAX_DIMENSIONS {
            tracing::error!(
                metric = key.name(),
                "more than {MAX_DIMENSIONS} labels: not recorded"
            );
            return None;
        }
        let mut inner = self.lock();
        let by_name = inner.series.entry(labels).or_default();
        let series = by_name.entry(key.name().to_string()).or_insert_with(make);
        Some(match series {
            Series::Counter(c, _) => Series::Counter(c.clone(), 0),
            Series::Gauge(g) => Series::Gauge(g.clone()),
            Series::Histogram(h) => Series::Histogram(h.clone()),
        })
    }

    /// The documents of everything recorded since the last call, stamped `timestamp_ms`; the
    /// counters' increases and the histograms' values are taken (the next call starts from
    /// here).
    pub fn take_documents(&self, timestamp_ms: u64) -> Vec<Value> {
        let mut inner = self.lock();
        let mut docs = Vec::new();
        for (labels, by_name) in inner.series.iter_mut() {
            // (name, values to write, unit, dimension sets), in rounds of at most 100 values.
            let mut rounds: Vec<Vec<Entry>> = Vec::new();
            let mut push = |round: usize, entry: Entry| {
                while rounds.len() <= round {
                    rounds.push(Vec::new());
                }
                rounds[round].push(entry);
            };
            for (name, series) in by_name.iter_mut() {
                let unit = catalogue::def(name).map_or("None", |d| d.unit.cloudwatch());
                match series {
                    Series::Counter(c, flushed) => {
                        let now = c.load(Ordering::Relaxed);
                        let delta = now.saturating_sub(*flushed);
                        *flushed = now;
                        if delta > 0 {
                            push(0, (name.clone(), json!(delta), unit));
                        }
                    }
                    Series::Gauge(g) => {
                        let v = f64::from_bits(g.load(Ordering::Relaxed));
                        if v.is_finite() {
                            push(0, (name.clone(), json!(v), unit));
                        }
                    }
                    Series::Histogram(h) => {
                        let values: Vec<f64> =
                            std::mem::take(&mut *h.0.lock().unwrap_or_else(|p| p.into_inner()))
                                .into_iter()
                                .filter(|v| v.is_finite())
                                .collect();
                        for (i, chunk) in values.chunks(MAX_VALUES_PER_METRIC).enumerate() {
                            push(i, (name.clone(), json!(chunk), unit));
                        }
                    }
                }
            }
            for round in rounds {
                for chunk in round.chunks(MAX_METRICS_PER_DIRECTIVE) {
                    docs.extend(self.documents(labels, chunk, timestamp_ms));
                }
            }
        }
        docs
    }

    /// One document per distinct set of dimension sets among `metrics` (metrics with rollups
    /// need their own directive: a directive's dimension sets apply to all its metrics).
    fn documents(&self, labels: &Labels, metrics: &[Entry], timestamp_ms: u64) -> Vec<Value> {
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        let mut by_dimensions: BTreeMap<Vec<Vec<&str>>, Vec<&Entry>> = BTreeMap::new();
        for m in metrics {
            let mut sets = vec![keys.clone()];
            if let Some(def) = catalogue::def(&m.0) {
                for rollup in def.rollups {
                    let set: Vec<&str> = rollup.to_vec();
                    if set.iter().all(|k| keys.contains(k)) && !sets.contains(&set) {
                        sets.push(set);
                    }
                }
            }
            by_dimensions.entry(sets).or_default().push(m);
        }
        by_dimensions
            .into_iter()
            .map(|(dimensions, metrics)| {
                let mut root = Map::new();
                let definitions: Vec<Value> = metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect();
                root.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": dimensions,
                            "Metrics": definitions,
                        }],
                    }),
                );
                for (k, v) in labels {
                    root.insert(k.clone(), Value::String(v.clone()));
                }
                for (name, value, _) in metrics {
                    root.insert(name.clone(), value.clone());
                }
                Value::Object(root)
            })
            .collect()
    }

    /// Writes everything recorded since the last flush to `out`, one JSON document a line.
    pub fn flush_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        for doc in self.take_documents(now) {
            serde_json::to_writer(&mut *out, &doc)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// [`EmfRecorder::flush_to`] standard output, where Lambda's log capture reads it. A write
    /// that fails is logged: metrics never fail an invocation.
    pub fn flush(&self) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if let Err(e) = self.flush_to(&mut out) {
            tracing::warn!(error = %e, "cannot write the invocation's metrics");
        }
    }
}

impl metrics::Recorder for EmfRecorder {
    // Units and descriptions come from the catalogue when a flush writes a metric.
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        match self.register(key, || Series::Counter(Arc::default(), 0)) {
            Some(Series::Counter(c, _)) => metrics::Counter::from_arc(c),
            _ => metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        match self.register(key, || {
            Series::Gauge(Arc::new(AtomicU64::new(f64::NAN.to_bits())))
        }) {
            Some(Series::Gauge(g)) => metrics::Gauge::from_arc(g),
            _ => metrics::Gauge::noop(),
        }
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        match self.register(key, || Series::Histogram(Arc::default())) {
            Some(Series::Histogram(h)) => metrics::Histogram::from_arc(h),
            _ => metrics::Histogram::noop(),
        }
    }
}

/// Installs an EMF recorder for `namespace` as the process's recorder and returns its handle;
/// `None` (logged) when a recorder is already installed.
pub fn install(namespace: &str) -> Option<EmfRecorder> {
    let recorder = EmfRecorder::new(namespace);
    match metrics::set_global_recorder(recorder.clone()) {
        Ok(()) => Some(recorder),
        Err(_) => {
            tracing::error!(
                "another metrics recorder is installed: no Embedded Metric Format lines"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::*;
    use std::collections::HashSet;
    use std::time::Duration;

    /// The units CloudWatch accepts (`MetricDatum`), which the specification says a
    /// definition's `Unit` should be.
    const CLOUDWATCH_UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];

    /// Checks one line against the Embedded Metric Format specification; returns the metric
    /// names it defines with their values, and its dimension sets.
    fn check_document(line: &str) -> (Vec<(String, Value)>, Vec<Vec<String>>) {
        // A LogEvent is one JSON object, with nothing before or after it.
        let doc: Value = serde_json::from_str(line).expect("one JSON object per line");
        let root = doc.as_object().expect("the root is an object");
        let aws = root["_aws"].as_object().expect("_aws is an object");
        let ts = aws["Timestamp"]
            .as_u64()
            .expect("Timestamp: whole milliseconds");
        assert!(ts > 1_500_000_000_000, "Timestamp in milliseconds: {ts}");
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics: array");
        assert!(!directives.is_empty());
        let mut metrics = Vec::new();
        let mut dims = Vec::new();
        for d in directives {
            let d = d.as_object().unwrap();
            let ns = d["Namespace"].as_str().expect("Namespace: string");
            assert!((1..=255).contains(&ns.len()));
            let sets = d["Dimensions"]
                .as_array()
                .expect("Dimensions: array of arrays");
            assert!(!sets.is_empty());
            for set in sets {
                let set = set.as_array().expect("a DimensionSet is an array");
                assert!(set.len() <= MAX_DIMENSIONS);
                let mut keys = Vec::new();
                for key in set {
                    let key = key.as_str().expect("dimension keys are strings");
                    // Every dimension is a root member with a string value.
                    assert!(
                        root.get(key).is_some_and(Value::is_string),
                        "dimension {key} at the root"
                    );
                    keys.push(key.to_string());
                }
                dims.push(keys);
            }
            let defs = d["Metrics"].as_array().expect("Metrics: array");
            assert!(!defs.is_empty() && defs.len() <= MAX_METRICS_PER_DIRECTIVE);
            for m in defs {
                let m = m.as_object().unwrap();
                assert!(
                    m.keys()
                        .all(|k| k == "Name" || k == "Unit" || k == "StorageResolution")
                );
                let name = m["Name"].as_str().expect("Name: string");
                if let Some(unit) = m.get("Unit") {
                    assert!(CLOUDWATCH_UNITS.contains(&unit.as_str().unwrap()), "{unit}");
                }
                // Every metric is a root member: a number, or an array of at most 100 numbers.
                let value = root
                    .get(name)
                    .unwrap_or_else(|| panic!("{name} at the root"));
                match value {
                    Value::Number(_) => {}
                    Value::Array(a) => {
                        assert!(!a.is_empty() && a.len() <= MAX_VALUES_PER_METRIC);
                        assert!(a.iter().all(Value::is_number));
                    }
                    other => panic!("{name} is {other}"),
                }
                metrics.push((name.to_string(), value.clone()));
            }
        }
        (metrics, dims)
    }

    fn flushed(recorder: &EmfRecorder) -> Vec<String> {
        let mut out = Vec::new();
        recorder.flush_to(&mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_flush_writes_documents_the_specification_accepts() {
        let recorder = EmfRecorder::new("ncp-share-approver-test");
        metrics::with_local_recorder(&recorder, || {
            request_received(Front::Slack, HttpResult::Ok);
            request_received(Front::Slack, HttpResult::Ok);
            request_received(Front::Jira, HttpResult::Unauthorized);
            signature_rejected(Front::Jira, RejectReason::Stale);
            execution(ExecResult::Failed);
            // 250 observations: three arrays (100, 100, 50) in three documents.
            for i in 0..250 {
                ncp_call(NcpOperation::Image, NcpResult::Ok, Duration::from_millis(i));
            }
            outbox(4, Some(Duration::from_secs(90)));
            ledger(12, Some(Duration::from_secs(30)));
        });
        let lines = flushed(&recorder);
        let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut rejection_dims = HashSet::new();
        for line in &lines {
            let doc: Value = serde_json::from_str(line).unwrap();
            let (metrics, dims) = check_document(line);
            for (name, value) in metrics {
                assert!(def(&name).is_some(), "{name} is not in METRICS");
                if name == SIGNATURE_REJECTIONS {
                    rejection_dims.extend(dims.clone());
                    assert_eq!(doc["front"], "jira");
                    assert_eq!(doc["reason"], "stale");
                }
                seen.entry(name).or_default().push(value);
            }
        }
        // One document per label set, in label order: jira's 401, then slack's two answers.
        assert_eq!(seen[REQUESTS_RECEIVED], vec![json!(1), json!(2)]);
        assert_eq!(seen[EXECUTIONS], vec![json!(1)]);
        assert_eq!(seen[OUTBOX_PENDING], vec![json!(4.0)]);
        assert_eq!(seen[OUTBOX_OLDEST_AGE], vec![json!(90.0)]);
        assert_eq!(seen[CHECKPOINT_AGE], vec![json!(30.0)]);
        let sizes: Vec<usize> = seen[NCP_CALL_DURATION]
            .iter()
            .map(|v| v.as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        assert_eq!(seen[NCP_CALLS], vec![json!(250)]);
        // The rejections' rollup: by front and reason, and in total (no dimension).
        assert_eq!(
            rejection_dims,
            HashSet::from([vec!["front".to_string(), "reason".to_string()], vec![]])
        );

        // A second flush has only what happened since: counters that did not move are left
        // out, gauges keep their last value.
        metrics::with_local_recorder(&recorder, || {
            execution(ExecResult::Succeeded);
        });
        let lines = flushed(&recorder);
        let names: Vec<String> = lines
            .iter()
            .flat_map(|l| check_document(l).0)
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&EXECUTIONS.to_string()));
        assert!(!names.contains(&REQUESTS_RECEIVED.to_string()));
        assert!(!names.contains(&NCP_CALL_DURATION.to_string()));
        assert!(names.contains(&OUTBOX_PENDING.to_string()));
        let exec: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|d| d.get(EXECUTIONS).is_some())
            .collect();
        assert_eq!(exec.len(), 1);
        assert_eq!(exec[0]["result"], "succeeded");
        assert_eq!(exec[0][EXECUTIONS], 1);
    }

    #[test]
    fn more_than_a_hundred_metrics_of_one_label_set_are_split() {
        let recorder = EmfRecorder::new("ns");
        metrics::with_local_recorder(&recorder, || {
            for i in 0..230 {
                metrics::counter!(format!("nsa_test_{i}_total"), "a" => "b").increment(1);
            }
        });
        let lines = flushed(&recorder);
        assert_eq!(lines.len(), 3);
        let total: usize = lines.iter().map(|l| check_document(l).0.len()).sum();
        assert_eq!(total, 230);
    }

    #[test]
    fn nothing_recorded_writes_nothing() {
        let recorder = EmfRecorder::new("ns");
        assert!(flushed(&recorder).is_empty());
    }
}
