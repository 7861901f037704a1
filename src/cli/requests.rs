//! `requests list|show`: what the store holds.

use super::Cli;
use crate::domain::{RequestId, RequestState, ShareRequest};
use std::process::ExitCode;

/// `requests` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RequestsCommand {
    /// List requests, newest first.
    List {
        /// Only requests in this state (pending, approved, executing, succeeded, failed, denied, expired, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one request with its approvals and ledger records.
    Show {
        /// The request id (SR-XXXXXXXX).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn targets(r: &ShareRequest) -> String {
    r.targets
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs a `requests` subcommand.
pub async fn run(cli: &Cli, command: &RequestsCommand) -> anyhow::Result<ExitCode> {
    let config = cli.load_config()?;
    let store = crate::startup::open_store(&config).await?.store;
    match command {
        RequestsCommand::List { state, limit, json } => {
            let state: Option<RequestState> = state
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let requests = store.requests(state, *limit).await?;
            if *json {
                for r in &requests {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else if requests.is_empty() {
                println!("no requests");
            } else {
                println!(
                    "{:<11}  {:<9}  {:<20}  {:<7}  {:<10}  {:<24}  targets",
                    "id", "state", "created (UTC)", "action", "image", "requester"
                );
                for r in &requests {
                    println!(
                        "{:<11}  {:<9}  {:<20}  {:<7}  {:<10}  {:<24}  {}",
                        r.id,
                        r.state,
                        r.created_at.format("%Y-%m-%d %H:%M:%S"),
                        r.action,
                        r.image_no,
                        r.requester.to_string(),
                        targets(r)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestsCommand::Show { id, json } => {
            let id = RequestId::parse(id)?;
            let Some(r) = store.request(&id).await? else {
                eprintln!("error: no request {id} in {}", config.store.path.display());
                return Ok(ExitCode::from(2));
            };
            let approvals = store.approvals(&id).await?;
            let ledger = store.audit_for_request(&id).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "request": r, "approvals": approvals, "ledger": ledger
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("request     {} ({})", r.id, r.state);
            println!(
                "requester   {}{}",
                r.requester,
                r.requester_person
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            println!(
                "image       {} {} {}",
                r.image_no,
                r.image_name,
                r.hypervisor.map(|h| h.to_string()).unwrap_or_default()
            );
            println!("action      {} {}", r.action, targets(&r));
            if let Some(d) = r.duration {
                println!("duration    {d}");
            }
            if let Some(reason) = &r.reason {
                println!("reason      {reason}");
            }
            println!("rule        {}", r.rule.as_deref().unwrap_or("(none)"));
            println!(
                "approvals   {} of {} needed from {}",
                approvals.iter().filter(|a| a.approve).count(),
                r.min_approvals,
                r.approvers
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("fingerprint {}", r.fingerprint);
            println!("created     {}", r.created_at.to_rfc3339());
            println!("expires     {}", r.expires_at.to_rfc3339());
            if let Some(o) = &r.outcome {
                println!("outcome     {}", o.message);
                if let Some(code) = &o.ncp_code {
                    println!("ncp code    {code}");
                }
            }
            for a in &approvals {
                println!(
                    "  {} {} by {} ({}){}",
                    a.at.format("%Y-%m-%d %H:%M:%S"),
                    if a.approve { "approved" } else { "denied" },
                    a.person,
                    a.identity,
                    a.comment
                        .as_ref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                );
            }
            let owed = store
                .outbox(crate::store::OutboxQuery {
                    request: Some(r.id.clone()),
                    status: None,
                    limit: 1000,
                })
                .await?;
            println!("messages:");
            if owed.is_empty() {
                println!("  (none)");
            }
            for e in &owed {
                println!("  {}", super::outbox::line(e));
            }
            println!("ledger:");
            for rec in &ledger {
                println!(
                    "  #{:<6} {} {:<10} {:<22} {}",
                    rec.seq,
                    rec.entry.at.format("%Y-%m-%d %H:%M:%S"),
                    rec.entry.event,
                    rec.entry.actor,
                    rec.entry.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
