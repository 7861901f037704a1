//! `outbox list|retry`: the messages the service owes people, and sending a failed one again.

use super::Cli;
use crate::store::OutboxQuery;
use crate::workflow::outbox::{OutboxEntry, OutboxStatus};
use std::process::ExitCode;

/// `outbox` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List messages still owed (pending) and given up (failed), oldest first.
    List {
        /// Only the failed ones.
        #[arg(long)]
        failed: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed (or pending) message again, at once: `serve` or the next worker delivers it.
    Retry {
        /// The message id (ob_...), from `outbox list` or `requests show`.
        id: String,
    },
}

/// One line about an entry, for people.
pub fn line(e: &OutboxEntry) -> String {
    format!(
        "{}  {:<10} {:<24} {:<28} attempts {}{}",
        e.id,
        e.status,
        e.message.name(),
        e.lane,
        e.attempts,
        e.last_error
            .as_deref()
            .map(|err| format!("  last error: {err}"))
            .unwrap_or_default()
    )
}

/// Runs an `outbox` subcommand.
pub async fn run(cli: &Cli, command: &OutboxCommand) -> anyhow::Result<ExitCode> {
    let config = cli.load_config()?;
    let store = crate::startup::open_store(&config).await?.store;
    match command {
        OutboxCommand::List {
            failed,
            limit,
            json,
        } => {
            let statuses = if *failed {
                vec![OutboxStatus::Failed]
            } else {
                vec![OutboxStatus::Pending, OutboxStatus::Failed]
            };
            let mut all = Vec::new();
            for status in statuses {
                all.extend(
                    store
                        .outbox(OutboxQuery {
                            request: None,
                            status: Some(status),
                            limit: *limit,
                        })
                        .await?,
                );
            }
            all.sort_by(|a, b| a.order.cmp(&b.order));
            all.truncate(*limit);
            if all.is_empty() && !json {
                println!("nothing owed: every message was delivered");
            }
            for e in &all {
                if *json {
                    println!("{}", serde_json::to_string(e)?);
                } else {
                    println!("{}", line(e));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry { id } => {
            let Some(mut entry) = store.outbox_entry(id).await? else {
                eprintln!("error: no message {id} in the outbox");
                eprintln!("hint: `outbox list --failed` lists the messages that were given up");
                return Ok(ExitCode::from(2));
            };
            if matches!(
                entry.status,
                OutboxStatus::Delivered | OutboxStatus::Superseded
            ) {
                eprintln!("error: message {id} was already {}", entry.status);
                return Ok(ExitCode::from(2));
            }
            entry.status = OutboxStatus::Pending;
            entry.attempts = 0;
            entry.next_at = chrono::Utc::now();
            entry.done_at = None;
            store.save_outbox(&entry).await?;
            println!(
                "{id} is owed again ({}); `serve` delivers it within a second, on AWS the next worker run or the scheduler within a minute",
                entry.message.name()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
