//! `sweep` and `reconcile`: the scheduler's jobs, run once from the command line (cron, an
//! EventBridge schedule, or a person who wants it now).

use super::Cli;
use crate::domain::DriftKind;
use crate::workflow::{ExecOutcome, Worker, Workflow};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Also remove shares that no grant covers (needs `[lifecycle] allow_revoke_unmanaged = true`).
    #[arg(long)]
    pub revoke_unmanaged: bool,
}

async fn workflow(
    cli: &Cli,
) -> anyhow::Result<(Workflow, Arc<crate::workflow::outbox::Dispatcher>)> {
    let config = cli.load_config()?;
    let secrets = config.secrets.source.open();
    let built =
        crate::startup::build_state(&config, secrets, Arc::new(crate::clock::SystemClock)).await?;
    Ok((built.state.workflow.clone(), built.state.dispatcher.clone()))
}

/// Executes what is queued (revocations included) and prints how each ended.
async fn drain(wf: &Workflow) -> anyhow::Result<()> {
    for (id, outcome) in Worker::new(wf.clone()).drain().await? {
        let line = match outcome {
            ExecOutcome::Finished(state) => {
                let message = wf
                    .store
                    .request(&id)
                    .await?
                    .and_then(|r| r.outcome)
                    .map(|o| o.message)
                    .unwrap_or_default();
                format!("{state}: {message}")
            }
            ExecOutcome::WillRetry => "NCP failed transiently; the next sweep tries again".into(),
            ExecOutcome::Busy => "the image is busy; the next sweep tries again".into(),
            other => format!("{other:?}"),
        };
        println!("  {id}  {line}");
    }
    Ok(())
}

/// Waits (at most a minute) for queued chat, ticket and callback messages to go out, so that a
/// command does not exit before telling people what it did.
async fn settle(dispatcher: &Arc<crate::workflow::outbox::Dispatcher>) {
    let (_, all_out) = dispatcher.drain(std::time::Duration::from_secs(60)).await;
    if !all_out {
        eprintln!(
            "warning: some messages are still owed (see `outbox list`); `serve` delivers them"
        );
    }
}

/// `sweep`: expire pending requests, revoke grants past their end, send reminders, execute.
pub async fn run_sweep(cli: &Cli) -> anyhow::Result<ExitCode> {
    let (wf, dispatcher) = workflow(cli).await?;
    let report = wf.sweep().await?;
    if !report.approved_late.is_empty() {
        println!(
            "approved {} pending request(s) that already held enough approvals",
            report.approved_late.len()
        );
    }
    println!(
        "expired {} pending request(s); {} revocation(s) queued; {} reminder(s) sent",
        report.expired_requests,
        report.revocations.len(),
        report.reminded.len()
    );
    println!("executing approved work:");
    drain(&wf).await?;
    settle(&dispatcher).await;
    for (grant, why) in &report.overdue {
        println!(
            "OVERDUE: image {} is still granted to {} (grant of {}): {why}",
            grant.image_no, grant.target, grant.request_id
        );
    }
    Ok(if report.overdue.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// `reconcile`: compare NCP with the grants; optionally remove unmanaged shares.
pub async fn run_reconcile(cli: &Cli, args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let (wf, dispatcher) = workflow(cli).await?;
    let report = match wf.reconcile(args.revoke_unmanaged).await {
        Ok(r) => r,
        Err(crate::workflow::WorkflowError::Invalid(why)) => {
            eprintln!("error: {why}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "checked {} image(s) the policy covers: {} finding(s)",
        report.images_checked,
        report.findings.len()
    );
    for f in &report.findings {
        let tag = match f.kind {
            DriftKind::Unmanaged => "UNMANAGED",
            DriftKind::MissingOnNcp { .. } => "MISSING",
        };
        println!("  {tag:<9}  {f}");
    }
    for note in &report.notes {
        println!("  note: {note}");
    }
    if !report.removals.is_empty() {
        println!("removing unmanaged shares:");
        drain(&wf).await?;
    } else if !args.revoke_unmanaged
        && report
            .findings
            .iter()
            .any(|f| f.kind == DriftKind::Unmanaged)
    {
        println!(
            "unmanaged shares are only reported; `reconcile --revoke-unmanaged` removes them when [lifecycle] allow_revoke_unmanaged = true"
        );
    }
    // The drift report (and any removals) may still be on their way to Slack.
    settle(&dispatcher).await;
    Ok(ExitCode::SUCCESS)
}
