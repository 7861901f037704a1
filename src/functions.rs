//! The Lambda functions of the AWS deployment, all from the one binary; `lambda.function`
//! (`NSA_LAMBDA__FUNCTION`) says which one this process is:
//!
//! - `http`: the axum router behind the HTTP API (`lambda_http`).
//! - `worker`: SQS batches of approved requests, answered with partial batch failures, so that
//!   one bad or busy message is retried (and ends in the dead-letter queue) alone.
//! - `scheduler`: EventBridge Scheduler's `{"task": "sweep"}` every 5 minutes (expire pending
//!   requests, queue approved and interrupted work again, refresh the image catalog when due)
//!   and `{"task": "reconcile"}` daily (verify the ledger against its head).
//!
//! Only the worker changes shares: the `http` and `scheduler` functions get a read-only NCP
//! client ([`crate::ncp::ReadOnly`]) whatever the configuration says, and on AWS their secret
//! holds an NCP key that can only read (the scheduler opens revocations, the worker runs them).
//!
//! Metrics are Embedded Metric Format lines on stdout (`telemetry::emf`, namespace `[metrics]
//! namespace`), written once per invocation just before the answer: after it the process is
//! frozen. The scheduler reads the outbox and ledger gauges after each task.
//!
//! A message is only a hint: [`Worker::execute`] re-reads the store, which decides whether the
//! request still needs work, so a repeated or late message changes nothing.

use crate::clock::SystemClock;
use crate::config::{Config, LambdaFunction};
use crate::domain::RequestId;
use crate::queue::WorkMessage;
use crate::secrets::SecretSource;
use crate::startup::{Built, build_state};
use crate::workflow::{ExecOutcome, Worker, Workflow};
use anyhow::Context as _;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::Instrument as _;

/// Runs this process as the Lambda function `config.lambda.function` until the runtime stops it.
pub async fn run(config: &Config, secrets: Arc<dyn SecretSource>) -> anyhow::Result<()> {
    let config = &with_ncp_access(config);
    let Built { state, .. } = build_state(config, secrets, Arc::new(SystemClock)).await?;
    // Installed once per process; without it (another recorder) metrics are simply not written.
    let emf = crate::telemetry::emf::install(&config.metrics.namespace);
    let flush = move || {
        if let Some(emf) = &emf {
            emf.flush();
        }
    };
    let stopped = |e: lambda_runtime::Error| anyhow::anyhow!("the Lambda runtime stopped: {e}");
    match config.lambda.function {
        LambdaFunction::Worker => {
            let worker =
                Worker::new(state.workflow.clone()).with_checkpoints(state.checkpoints.clone());
            let dispatcher = state.dispatcher.clone();
            let budget = std::time::Duration::from_secs(config.outbox.lambda_budget_secs);
            lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
                let worker = worker.clone();
                let dispatcher = dispatcher.clone();
                let flush = flush.clone();
                async move {
                    let hints = delivery_hints(&event.payload);
                    let response = handle_batch(&worker, event.payload).await;
                    // Deliver what the batch (and the HTTP function before it) wrote to the
                    // outbox before answering: nothing runs after the answer on Lambda.
                    deliver(&dispatcher, budget, &hints).await;
                    flush();
                    flush_spans().await;
                    Ok::<_, lambda_runtime::Error>(response)
                }
            }))
            .await
            .map_err(stopped)
        }
        LambdaFunction::Scheduler => {
            let workflow = state.workflow.clone();
            let dispatcher = state.dispatcher.clone();
            let checkpoints = state.checkpoints.clone();
            let budget = std::time::Duration::from_secs(config.outbox.lambda_budget_secs);
            lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
                let workflow = workflow.clone();
                let dispatcher = dispatcher.clone();
                let checkpoints = checkpoints.clone();
                let flush = flush.clone();
                async move {
                    let answer = handle_schedule(&workflow, event.payload)
                        .await
                        .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")));
                    // Every schedule signs a checkpoint when enough records or time passed
                    // (and publishes it) before answering.
                    if let Err(e) = checkpoints.run(crate::workflow::Trigger::Schedule).await {
                        tracing::error!(error = %e, "no ledger checkpoint");
                    }
                    // Whatever is still owed (a lost queue message, a retry whose time came)
                    // goes out now: every schedule delivers.
                    deliver(&dispatcher, budget, &[]).await;
                    // The outbox and the ledger as they are now: the gauges the alarms watch.
                    if let Err(e) = workflow.refresh_gauges().await {
                        tracing::warn!(error = %e, "cannot read the gauges from the store");
                    }
                    flush();
                    flush_spans().await;
                    answer
                }
            }))
            .await
            .map_err(stopped)
        }
        // The answer is made by the router, then the invocation's metrics are written (and its
        // spans exported, when OTLP is on), then `lambda_http` answers the runtime.
        LambdaFunction::Http => {
            let service = crate::http::lambda_service(state);
            lambda_http::run(tower::service_fn(move |request: lambda_http::Request| {
                let service = service.clone();
                let flush = flush.clone();
                async move {
                    let answer = tower::ServiceExt::oneshot(service, request).await;
                    flush();
                    if !crate::telemetry::otlp_enabled() {
                        return answer;
                    }
                    // The request's span ends with its body: read it here (it is small and
                    // whole already), so that the span is over, and exported, before answering.
                    let Ok(response) = answer;
                    let (parts, body) = response.into_parts();
                    let body = match axum::body::to_bytes(body, usize::MAX).await {
                        Ok(bytes) => axum::body::Body::from(bytes),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the answer's body");
                            axum::body::Body::empty()
                        }
                    };
                    flush_spans().await;
                    Ok(axum::response::Response::from_parts(parts, body))
                }
            }))
            .await
            .map_err(stopped)
        }
    }
}

/// Sends the invocation's spans before it answers, when OTLP export is on: Lambda freezes the
/// sandbox after the answer, and a batch left in memory would go out only at the next
/// invocation, if any.
async fn flush_spans() {
    if crate::telemetry::otlp_enabled() {
        let _ = tokio::task::spawn_blocking(crate::telemetry::flush).await;
    }
}

/// The configuration with `ncp.read_only` forced on for every function but the worker.
pub fn with_ncp_access(config: &Config) -> Config {
    let mut config = config.clone();
    if config.lambda.function != LambdaFunction::Worker {
        config.ncp.read_only = true;
    }
    config
}

/// The outbox entries the batch's messages name (read by id: the index may lag their write).
fn delivery_hints(event: &SqsEvent) -> Vec<String> {
    event
        .records
        .iter()
        .filter_map(|m| serde_json::from_str::<WorkMessage>(m.body.as_deref()?).ok())
        .flat_map(|m| m.deliver)
        .collect()
}

/// Delivers the due outbox entries (and those `hints` names) for at most `budget`.
pub async fn deliver(
    dispatcher: &Arc<crate::workflow::outbox::Dispatcher>,
    budget: std::time::Duration,
    hints: &[String],
) {
    let report = dispatcher.run_once_with(budget, hints).await;
    if report.moved() || report.lanes_busy > 0 {
        tracing::info!(
            delivered = report.delivered,
            superseded = report.superseded,
            retrying = report.retrying,
            failed = report.failed,
            lanes_busy = report.lanes_busy,
            "outbox delivered"
        );
    }
}

/// Why one message is handed back to the queue.
fn failure(message: &SqsMessage, why: &str) -> Option<BatchItemFailure> {
    let id = message.message_id.clone().unwrap_or_default();
    tracing::warn!(message_id = %id, why, "work message returned to the queue");
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    Some(f)
}

/// Executes one message's request; a failure entry when the message must come back later.
async fn handle_message(worker: &Worker, message: &SqsMessage) -> Option<BatchItemFailure> {
    let body = message.body.as_deref().unwrap_or_default();
    let Ok(work) = serde_json::from_str::<WorkMessage>(body) else {
        // Retrying cannot mend it: it goes to the dead-letter queue after maxReceiveCount.
        return failure(message, "not a work message");
    };
    if work.request_id.is_empty() && !work.deliver.is_empty() {
        // Delivery only: the batch's handler delivers the outbox after the batch.
        return None;
    }
    let id = match RequestId::parse(&work.request_id) {
        Ok(id) => id,
        Err(_) => return failure(message, "not a work message"),
    };
    tracing::Span::current().record("request_id", tracing::field::display(&id));
    match worker.execute(&id).await {
        Ok(ExecOutcome::Finished(state)) => {
            tracing::info!(request_id = %id, state = %state, "request executed");
            None
        }
        Ok(ExecOutcome::Skipped(state)) => {
            tracing::info!(request_id = %id, state = %state, "nothing to do: the store says the request needs no work");
            None
        }
        Ok(ExecOutcome::Busy) => failure(message, "the image is busy with another request"),
        // NCP failed transiently; the request stays executing and the message comes back later.
        Ok(ExecOutcome::WillRetry) => failure(message, "NCP failed transiently; will retry"),
        Ok(ExecOutcome::Crashed(_)) => failure(message, "stopped at a crash point"),
        Err(e) => {
            tracing::warn!(request_id = %id, error = %e, "execution failed; the message will be retried");
            failure(message, "execution failed")
        }
    }
}

/// Handles an SQS batch: every message at once (the image lease keeps two requests of one image
/// apart), answering with the messages to retry.
pub async fn handle_batch(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let mut tasks = tokio::task::JoinSet::new();
    let mut message_of = std::collections::HashMap::new();
    for message in event.records {
        let worker = worker.clone();
        let message_id = message.message_id.clone().unwrap_or_default();
        // Every line of the message's work names it, its trace (read from the message before
        // the span is made, so that the span starts in it) and (once read) its request.
        let span = tracing::info_span!(
            "execute",
            delivery_id = %format!("sqs:{message_id}"),
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let trace = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<WorkMessage>(b).ok())
            .and_then(|m| m.trace_id);
        if let Some(trace) = &trace {
            span.record("trace_id", tracing::field::display(trace));
        }
        let work = async move { handle_message(&worker, &message).await }.instrument(span);
        // What the work owes and queues is in the message's trace too.
        let task = tasks.spawn(async move {
            match trace {
                Some(trace) => crate::workflow::trace::scope(trace, work).await,
                None => work.await,
            }
        });
        message_of.insert(task.id(), message_id);
    }
    let mut response = SqsBatchResponse::default();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, Some(failed))) => response.batch_item_failures.push(failed),
            Ok((_, None)) => {}
            Err(e) => {
                tracing::error!(error = %e, "a work task panicked; its message will be retried");
                let mut f = BatchItemFailure::default();
                f.item_identifier = message_of.get(&e.id()).cloned().unwrap_or_default();
                response.batch_item_failures.push(f);
            }
        }
    }
    response
}

/// The payload EventBridge Scheduler sends.
#[derive(Debug, Deserialize)]
struct Schedule {
    task: String,
}

/// Handles a scheduled task: `sweep` or `reconcile`; the answer is a small summary.
pub async fn handle_schedule(workflow: &Workflow, event: Value) -> anyhow::Result<Value> {
    let schedule: Schedule = serde_json::from_value(event)
        .context("expected {\"task\": \"sweep\"} or {\"task\": \"reconcile\"}")?;
    match schedule.task.as_str() {
        "sweep" => {
            // Expire pending requests, remind requesters, revoke grants past their end (each
            // revocation is a request the worker executes).
            let swept = workflow.sweep().await;
            // The request form's image catalog, when due; a failure is logged and never the
            // sweep's (nor does a failed sweep keep the catalog from its refresh).
            crate::workflow::catalog::scheduled_refresh(workflow, false).await;
            let report = swept?;
            // Approved work whose message was lost, or whose worker died, is queued again; the
            // store keeps a request from being executed twice.
            let work = Worker::new(workflow.clone()).pending_traced().await?;
            for (id, trace) in &work {
                workflow.queue.enqueue(id, trace.as_ref()).await;
            }
            tracing::info!(
                expired = report.expired_requests,
                reminded = report.reminded.len(),
                revocations = report.revocations.len(),
                overdue = report.overdue.len(),
                queued = work.len(),
                "sweep done"
            );
            Ok(json!({
                "task": "sweep",
                "expired": report.expired_requests,
                "reminded": report.reminded.len(),
                "revocations": report.revocations.len(),
                "overdue": report.overdue.len(),
                "queued": work.len(),
            }))
        }
        // Delivery of the outbox happens after every task (see `run`); this one does only that.
        "outbox" => Ok(json!({"task": "outbox"})),
        "reconcile" => {
            // Drift is reported (never removed on a schedule), then the ledger is verified.
            let drift = workflow.reconcile(false).await?;
            tracing::info!(
                images = drift.images_checked,
                findings = drift.findings.len(),
                "drift checked"
            );
            match crate::store::verify_ledger(workflow.store.as_ref()).await? {
                Ok(records) => {
                    tracing::info!(records, "ledger verified");
                    Ok(json!({
                        "task": "reconcile",
                        "images_checked": drift.images_checked,
                        "drift_findings": drift.findings.len(),
                        "ledger_records": records,
                    }))
                }
                Err(broken) => {
                    tracing::error!(error = %broken, "the audit ledger does not verify");
                    Err(anyhow::anyhow!(
                        "the audit ledger does not verify: {broken}"
                    ))
                }
            }
        }
        other => {
            anyhow::bail!("unknown scheduled task {other:?} (expected sweep, reconcile or outbox)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_worker_function_may_change_shares() {
        for (function, read_only) in [("http", true), ("scheduler", true), ("worker", false)] {
            let mut config = Config::default();
            config.lambda.function = function.to_string().try_into().unwrap();
            assert_eq!(
                with_ncp_access(&config).ncp.read_only,
                read_only,
                "{function}"
            );
        }
    }
}
