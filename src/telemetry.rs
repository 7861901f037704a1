//! Tracing setup: human-readable lines on stderr locally, JSON on Lambda (CloudWatch) or when
//! `LOG_FORMAT=json` (not an `NSA_*` name: those are configuration keys, and an unknown one
//! stops every command).
//!
//! Every line a request causes belongs to its delivery: the HTTP span (`http::router`) carries
//! `delivery_id` (the front door's delivery key) and `request_id` (the share request, once
//! known), the outbox's delivery span the entry's id and request, the worker's span the request
//! and the queue message. The JSON lines put the fields of every span an event is in at the top
//! level ([`FlatJson`]), so each line states the delivery and the request it is about, and a
//! query by either finds all of them. Spans are attached with `Instrument::instrument` (never a
//! guard held across an `.await`), so concurrent deliveries never share or stack fields.
//!
//! The metrics are [`metrics`] (the catalogue and the functions the code records through) and
//! [`emf`] (the Lambda functions' recorder).

pub mod emf;
pub mod metrics;

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber. `RUST_LOG` wins; otherwise `info` (`debug` with `-v`).
pub fn init(verbose: bool) {
    init_with_default(if verbose {
        "info,ncp_share_approver=debug"
    } else {
        "info"
    });
}

/// Installs the global subscriber with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let json = lambda || std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        // CloudWatch stamps every line itself; elsewhere the line carries its time.
        let _ = json_subscriber(filter, std::io::stderr, !lambda).try_init();
        return;
    }
    // Colours only on a terminal: piped or captured logs (tee, CI) stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}

/// The JSON subscriber: one [`FlatJson`] object per line to `writer`, `with_time` adding a
/// `timestamp`. Tests capture a process's lines with it.
pub fn json_subscriber<W>(
    filter: EnvFilter,
    writer: W,
    with_time: bool,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson { with_time })
        .with_writer(writer)
        .finish()
}

/// One JSON object per event: `timestamp` (optional), `level`, `target`, the fields of every
/// span the event is in (outermost first, an inner span's field replacing an outer one's of
/// the same name), `spans` (their names, outermost first, `:`-separated), then the event's own
/// fields and `message`.
#[derive(Debug, Clone, Copy)]
pub struct FlatJson {
    /// Whether each line carries its time.
    pub with_time: bool,
}

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        if self.with_time {
            line.insert(
                "timestamp".into(),
                Value::String(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                ),
            );
        }
        let meta = event.metadata();
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            let mut names = Vec::new();
            for span in scope.from_root() {
                names.push(span.name());
                let extensions = span.extensions();
                // The span's fields as the JSON field formatter wrote them (an object).
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
            }
            line.insert("spans".into(), Value::String(names.join(":")));
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Writes an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
}

/// The `delivery_id` a log line names for a front door's delivery key: the key itself, but a
/// Slack key (`slack:<signature>`) as a digest of it, which is as unique and shorter.
pub fn delivery_log_id(key: &str) -> String {
    match key.strip_prefix("slack:v0=") {
        Some(_) => {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(key.as_bytes());
            format!("slack:{}", &hex::encode(digest)[..16])
        }
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::Instrument as _;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        String::from_utf8(buffer.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn span_fields_are_top_level_and_recorded_ones_join_later_lines() {
        let buffer = Buffer::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(
                "http",
                delivery_id = "jira:d-1",
                request_id = tracing::field::Empty
            );
            outer.in_scope(|| {
                tracing::info!(step = 1, "before the request is known");
                tracing::Span::current().record("request_id", "SR-7K3M9Q2X");
                let inner = tracing::info_span!("outbox", delivery_id = "ob_1");
                inner.in_scope(|| tracing::warn!(attempts = 2u64, "inner wins"));
                tracing::info!("after");
            });
            tracing::info!("outside");
        });
        let l = lines(&buffer);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0]["delivery_id"], "jira:d-1");
        assert!(l[0].get("request_id").is_none());
        assert_eq!(l[0]["step"], 1);
        assert_eq!(l[0]["message"], "before the request is known");
        assert_eq!(l[0]["spans"], "http");
        assert_eq!(l[1]["delivery_id"], "ob_1");
        assert_eq!(l[1]["request_id"], "SR-7K3M9Q2X");
        assert_eq!(l[1]["spans"], "http:outbox");
        assert_eq!(l[1]["level"], "WARN");
        assert_eq!(l[2]["request_id"], "SR-7K3M9Q2X");
        assert_eq!(l[2]["delivery_id"], "jira:d-1");
        assert!(l[3].get("delivery_id").is_none() && l[3].get("spans").is_none());
        assert!(l.iter().all(|l| l.get("timestamp").is_none()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_instrumented_tasks_never_share_fields() {
        let buffer = Buffer::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), buffer.clone(), true);
        let dispatch = tracing::Dispatch::new(subscriber);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let d = dispatch.clone();
            tasks.push(tokio::spawn(
                tracing::instrument::WithSubscriber::with_subscriber(
                    async move {
                        for step in 0..5 {
                            tracing::info!(step, "working");
                            tokio::task::yield_now().await;
                        }
                    }
                    .instrument(tracing::info_span!(
                        "http",
                        delivery_id = i,
                        request_id = i
                    )),
                    d,
                ),
            ));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let l = lines(&buffer);
        assert_eq!(l.len(), 100);
        for line in l {
            assert_eq!(line["delivery_id"], line["request_id"], "{line}");
            assert!(line["timestamp"].is_string());
        }
    }

    #[test]
    fn slack_keys_are_digested_others_kept() {
        let id = delivery_log_id("slack:v0=a1b2c3");
        assert!(id.starts_with("slack:") && id.len() == 22, "{id}");
        assert_eq!(id, delivery_log_id("slack:v0=a1b2c3"));
        assert_ne!(id, delivery_log_id("slack:v0=a1b2c4"));
        assert_eq!(delivery_log_id("jira:abc"), "jira:abc");
        assert_eq!(delivery_log_id("slack:view:V1"), "slack:view:V1");
    }
}
