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
//! The same spans carry `trace_id`, the W3C trace of the share request (`domain::trace`), and
//! with `[telemetry] otlp_endpoint` they are exported over OTLP/HTTP ([`enable_otlp`]) in that
//! trace ([`InTrace`]), so a trace id read in a log line finds the spans in the collector.
//!
//! The metrics are [`metrics`] (the catalogue and the functions the code records through) and
//! [`emf`] (the Lambda functions' recorder).

pub mod emf;
pub mod metrics;

use serde_json::{Map, Value};
use std::fmt;
use std::sync::{Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The OpenTelemetry layer: every span, exported by [`Otlp`].
type OtelLayer = tracing_opentelemetry::OpenTelemetryLayer<Registry, InTrace>;

/// Where [`enable_otlp`] puts the exporter in the global subscriber (set by [`init`]).
static OTEL_SLOT: OnceLock<reload::Handle<Option<OtelLayer>, Registry>> = OnceLock::new();
/// The exporter in use, for [`flush`] and [`shutdown`].
static PROVIDER: Mutex<Option<opentelemetry_sdk::trace::SdkTracerProvider>> = Mutex::new(None);

/// Installs the global subscriber. `RUST_LOG` wins; otherwise `info` (`debug` with `-v`).
pub fn init(verbose: bool) {
    init_with_default(if verbose {
        "info,ncp_share_approver=debug"
    } else {
        "info"
    });
}

/// Installs the global subscriber with `default` as the filter when `RUST_LOG` is not set. It
/// has an empty slot for the OTLP exporter, which [`enable_otlp`] fills once the configuration
/// is read (the subscriber is up before that, so that reading it can log).
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let json = lambda || std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let (otel, slot) = reload::Layer::new(None::<OtelLayer>);
    let _ = OTEL_SLOT.set(slot);
    let base = Registry::default().with(otel).with(filter);
    if json {
        // CloudWatch stamps every line itself; elsewhere the line carries its time.
        let _ = base.with(json_layer(std::io::stderr, !lambda)).try_init();
        return;
    }
    // Colours only on a terminal: piped or captured logs (tee, CI) stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = base
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .compact(),
        )
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
    Registry::default()
        .with(None::<OtelLayer>)
        .with(filter)
        .with(json_layer(writer, with_time))
}

/// [`json_subscriber`] that also exports every span through `otlp` (tests follow a trace into
/// a collector with it).
pub fn json_subscriber_with_otlp<W>(
    filter: EnvFilter,
    writer: W,
    with_time: bool,
    otlp: &Otlp,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    Registry::default()
        .with(Some(otlp.layer()))
        .with(filter)
        .with(json_layer(writer, with_time))
}

fn json_layer<S, W>(writer: W, with_time: bool) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson { with_time })
        .with_writer(writer)
}

/// An OTLP/HTTP span exporter (`[telemetry] otlp_endpoint`): protobuf bodies POSTed to
/// `<endpoint>/v1/traces` in batches by the SDK's own thread.
pub struct Otlp {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Otlp {
    /// An exporter to the collector at `endpoint` (`http://collector:4318`: the base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` names it; `/v1/traces` is added). The service is named
    /// `ncp-share-approver`.
    pub fn new(endpoint: &str) -> Result<Self, String> {
        use opentelemetry_otlp::WithExportConfig as _;
        let url = otlp_traces_url(endpoint)?;
        // The exporter's blocking HTTP client has a runtime of its own, which must be neither
        // made nor dropped on an async runtime's thread: built on a thread of its own.
        let exporter = std::thread::spawn(move || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url)
                .with_timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| format!("cannot build the OTLP exporter: {e}"))
        })
        .join()
        .map_err(|_| "the OTLP exporter's set-up panicked".to_string())??;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(env!("CARGO_PKG_NAME"))
                    .build(),
            )
            .build();
        Ok(Self { provider })
    }

    fn layer(&self) -> OtelLayer {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(InTrace(self.provider.tracer(env!("CARGO_PKG_NAME"))))
    }

    /// Sends every span ended so far (blocks until the collector answered or the timeout).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "the OTLP exporter could not send its spans");
        }
    }
}

/// The traces URL of an OTLP/HTTP endpoint: `http(s)://host[:port][/path]` plus `/v1/traces`
/// (kept when already there).
pub fn otlp_traces_url(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim().trim_end_matches('/');
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or_else(|| {
            format!(
                "[telemetry] otlp_endpoint must be an http:// or https:// URL, not {endpoint:?}"
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', '@', ' ']) {
        return Err(format!(
            "[telemetry] otlp_endpoint must be a collector's base URL like http://collector:4318, not {endpoint:?}"
        ));
    }
    Ok(if e.ends_with("/v1/traces") {
        e.to_string()
    } else {
        format!("{e}/v1/traces")
    })
}

/// Starts exporting the global subscriber's spans to the OTLP collector at `endpoint` (once;
/// a second call replaces the exporter). The process should call [`shutdown`] before it ends.
pub fn enable_otlp(endpoint: &str) -> Result<(), String> {
    let slot = OTEL_SLOT
        .get()
        .ok_or("the OTLP exporter needs the subscriber of telemetry::init")?;
    let otlp = Otlp::new(endpoint)?;
    slot.reload(Some(otlp.layer()))
        .map_err(|e| format!("cannot install the OTLP exporter: {e}"))?;
    let old = PROVIDER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(otlp.provider);
    if let Some(old) = old {
        let _ = old.shutdown();
    }
    Ok(())
}

/// Whether spans are being exported ([`enable_otlp`]).
pub fn otlp_enabled() -> bool {
    PROVIDER.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

/// Sends the spans ended so far, when OTLP is on: a Lambda function calls it before it
/// answers (a frozen sandbox sends nothing). Blocking: call it off the async threads.
pub fn flush() {
    let provider = PROVIDER.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(provider) = provider {
        Otlp { provider }.flush();
    }
}

/// Sends what is left and stops the exporter (at the end of the process). Blocking.
pub fn shutdown() {
    let provider = PROVIDER.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(provider) = provider {
        let _ = provider.shutdown();
    }
}

/// The SDK's tracer, with one rule added: a span whose `trace_id` field (a W3C trace id,
/// [`crate::domain::TraceId`]) names another trace than its parent's starts in that trace,
/// under its `parent_span_id` field when it has one (the caller's span of a `traceparent`),
/// else under a parent span id derived from the trace. So a span exported from the worker or
/// the dispatcher, whose `trace_id` the request gave it, is in the same trace as the HTTP span
/// of the command that created the request, and a trace id a log line names is the one to look
/// for in the collector. A span's trace is fixed when it starts: a delivery that learns later
/// which request it is about (a click) logs the request's trace from then on, but its span
/// stays in the trace it arrived with (its `trace_id` attribute names the request's).
#[derive(Clone, Debug)]
pub struct InTrace(opentelemetry_sdk::trace::SdkTracer);

impl opentelemetry::trace::Tracer for InTrace {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(
        &self,
        builder: opentelemetry::trace::SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Self::Span {
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
        };
        let field = |name: &str| {
            builder
                .attributes
                .iter()
                .flatten()
                .find(|kv| kv.key.as_str() == name)
                .map(|kv| kv.value.as_str().into_owned())
        };
        let Some(trace) = field("trace_id").and_then(|t| crate::domain::TraceId::parse(&t)) else {
            return self.0.build_with_context(builder, parent_cx);
        };
        let trace_id = TraceId::from_bytes(trace.to_bytes());
        let parent = parent_cx.span().span_context().clone();
        if parent.is_valid() && parent.trace_id() == trace_id {
            return self.0.build_with_context(builder, parent_cx);
        }
        let parent_span = field("parent_span_id")
            .and_then(|s| crate::domain::SpanId::parse(&s))
            .and_then(|s| u64::from_str_radix(s.as_str(), 16).ok())
            .unwrap_or_else(|| {
                let b = trace.to_bytes();
                u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]).max(1)
            });
        let remote = SpanContext::new(
            trace_id,
            SpanId::from_bytes(parent_span.to_be_bytes()),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = opentelemetry::Context::new().with_remote_span_context(remote);
        self.0.build_with_context(builder, &cx)
    }
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
