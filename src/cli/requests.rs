//! `requests list|show`: what the store holds.

use super::Cli;
use crate::audit::AuditRecord;
use crate::domain::notice::MAX_QUOTED_CHARS;
use crate::domain::{Approval, NoticeFacts, Quoted, RequestId, RequestState, ShareRequest, inert};
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
            let owed = store
                .outbox(crate::store::OutboxQuery {
                    request: Some(r.id.clone()),
                    status: None,
                    limit: 1000,
                })
                .await?;
            let messages: Vec<String> = owed.iter().map(super::outbox::line).collect();
            print!("{}", show_text(&r, &approvals, &messages, &ledger));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The text of `requests show`: the request, the policy's decision and approvals as every
/// front door states them ([`NoticeFacts`]), the requester's reason quoted and inert (a
/// terminal acts on escape sequences), then the ledger's view: each approval with the account
/// that gave it, the messages owed, the ledger records.
pub fn show_text(
    r: &ShareRequest,
    approvals: &[Approval],
    messages: &[String],
    ledger: &[AuditRecord],
) -> String {
    use std::fmt::Write as _;
    let f = NoticeFacts::of_state(r, approvals);
    let mut out = String::new();
    let mut line = |label: &str, text: &str| {
        let _ = writeln!(out, "{label:<12}{text}");
    };
    if f.refused() {
        line(
            "request",
            &format!("{} ({}: refused by the policy)", r.id, r.state),
        );
    } else {
        line("request", &format!("{} ({})", r.id, r.state));
    }
    line("requester", &format!("{} ({})", f.requester, r.requester));
    line(
        "image",
        &format!(
            "{} {} {}",
            r.image_no,
            inert(&r.image_name, 200),
            r.hypervisor.map(|h| h.to_string()).unwrap_or_default()
        ),
    );
    line("action", &format!("{} {}", r.action, targets(r)));
    if let Some(d) = r.duration {
        line("duration", &d.to_string());
    }
    match &f.reason {
        Some(q) => line("reason", &format!("“{q}” (the requester's words)")),
        None => line("reason", "(none given)"),
    }
    line("policy", &f.policy.sentence());
    line("approvals", &f.progress.phrase());
    if let Some(d) = &f.denial {
        line("denied by", d.by.as_str());
    }
    line("fingerprint", &r.fingerprint);
    line("policy hash", &f.policy.policy_hash);
    line("created", &r.created_at.to_rfc3339());
    line("expires", &r.expires_at.to_rfc3339());
    if let Some(o) = &r.outcome {
        line("outcome", &inert(&o.message, 2000));
        if let Some(code) = &o.ncp_code {
            line("ncp code", &inert(code, 200));
        }
    }
    for a in approvals {
        let _ = writeln!(
            out,
            "  {} {} by {} ({}){}",
            a.at.format("%Y-%m-%d %H:%M:%S"),
            if a.approve { "approved" } else { "denied" },
            a.person,
            a.identity,
            a.comment
                .as_deref()
                .and_then(|c| Quoted::new(c, MAX_QUOTED_CHARS))
                .map(|c| format!(": “{c}”"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "messages:");
    if messages.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for m in messages {
        let _ = writeln!(out, "  {m}");
    }
    let _ = writeln!(out, "ledger:");
    for rec in ledger {
        let _ = writeln!(
            out,
            "  #{:<6} {} {:<10} {:<22} {}",
            rec.seq,
            rec.entry.at.format("%Y-%m-%d %H:%M:%S"),
            rec.entry.event,
            rec.entry.actor,
            inert(&rec.entry.detail, 4000)
        );
    }
    out
}
