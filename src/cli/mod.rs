//! The command line: one subcommand per use, each with `--help`.

mod audit;
mod catalog;
pub mod dev;
mod lifecycle;
mod outbox;
pub mod policy;
pub mod requests;
pub mod send;
mod shares;

use crate::config::{Config, DEFAULT_CONFIG_FILE};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `examples/dev.toml`, built in so that `dev` and `send` work from anywhere.
pub const DEV_CONFIG: &str = include_str!("../../examples/dev.toml");

/// Self-service, approved and audited sharing of NAVER Cloud Platform server images.
#[derive(Debug, Parser)]
#[command(name = "ncp-share-approver", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML); every value can also be set with NSA_<SECTION>__<KEY> variables.
    #[arg(long, global = true, value_name = "FILE", env = "NSA_CONFIG")]
    pub config: Option<PathBuf>,

    /// More detailed logs (RUST_LOG overrides).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP routes, worker and scheduler (on AWS Lambda: the HTTP function).
    Serve(ServeArgs),
    /// The local demo in one process: service, NCP simulator, Slack stand-in; prints how to try it.
    Dev(dev::DevArgs),
    /// Act as a Slack user: send a signed slash command or button click to a running service.
    Send(send::SendArgs),
    /// Run the local NCP simulator (vserver v2 image-sharing endpoints) until Ctrl-C.
    NcpSim(NcpSimArgs),
    /// Run the Slack stand-in alone until Ctrl-C (for bench/faults.sh): `GET /_fake/calls`
    /// lists every call it received.
    #[command(hide = true)]
    SlackFake(SlackFakeArgs),
    /// Print an image's live share list from NCP (XEN or KVM).
    Shares(shares::SharesArgs),
    /// Check a policy file, or dry-run a request against it.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// List and show stored requests.
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// Verify or export the audit ledger.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The messages owed (cards, comments, callbacks): list them, send a failed one again.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Run the scheduler once: expire pending requests, revoke grants past their end, remind.
    Sweep,
    /// Compare NCP's share lists with the grants and report drift (optionally remove it).
    Reconcile(lifecycle::ReconcileArgs),
    /// The image catalog the request form offers: refresh it from NCP now, or list it.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default: `listen` from the configuration).
    #[arg(long)]
    pub listen: Option<String>,
}

/// Arguments of `ncp-sim`.
#[derive(Debug, clap::Args)]
pub struct NcpSimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: String,
    /// Seed file (TOML) with accounts, images and faults; without it, the demo seed.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
}

/// Arguments of `slack-fake`.
#[derive(Debug, clap::Args)]
pub struct SlackFakeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9091")]
    pub listen: String,
    /// The bot token it accepts (`Authorization: Bearer <token>`).
    #[arg(long, env = "SLACK_BOT_TOKEN")]
    pub token: String,
    /// Milliseconds every Web API answer waits.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

impl Cli {
    /// The log filter when `RUST_LOG` is not set: the demo commands keep the terminal for the
    /// Slack stand-in's output and one line per request state change.
    pub fn default_log_filter(&self) -> &'static str {
        match (&self.command, self.verbose) {
            (Command::Dev(_), false) => "warn,ncp_share_approver::notify=info",
            (Command::Send(_), false) => "warn",
            (_, true) => "info,ncp_share_approver=debug",
            (_, false) => "info",
        }
    }

    /// Loads the configuration named by `--config`, or the default file if it exists.
    pub fn load_config(&self) -> Result<Config, crate::config::ConfigError> {
        match &self.config {
            Some(path) => Config::load(path, true),
            None => Config::load(std::path::Path::new(DEFAULT_CONFIG_FILE), false),
        }
    }
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Serve(args) => run_serve(&cli, args).await,
        Command::Dev(args) => dev::run(&cli, args).await,
        Command::Send(args) => send::run(&cli, args).await,
        Command::NcpSim(args) => run_sim(args).await,
        Command::SlackFake(args) => run_slack_fake(args).await,
        Command::Shares(args) => shares::run(&cli, args).await,
        Command::Policy(command) => policy::run(&cli, command),
        Command::Requests(command) => requests::run(&cli, command).await,
        Command::Audit(command) => audit::run(&cli, command).await,
        Command::Outbox(command) => outbox::run(&cli, command).await,
        Command::Sweep => lifecycle::run_sweep(&cli).await,
        Command::Reconcile(args) => lifecycle::run_reconcile(&cli, args).await,
        Command::Catalog(command) => catalog::run(&cli, command).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each cause once: errors such as `StoreError` already
/// name their cause in their own text (logs print only that) and expose it as `source` too.
fn one_line(e: &anyhow::Error) -> String {
    let mut shown = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if shown.contains(&text) {
            continue;
        }
        if !shown.is_empty() {
            shown.push_str(": ");
        }
        shown.push_str(&text);
    }
    shown
}

async fn run_serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = cli.load_config()?;
    let secrets = config.secrets.source.open();
    if let Some(endpoint) = &config.telemetry.otlp_endpoint {
        crate::telemetry::enable_otlp(endpoint).map_err(anyhow::Error::msg)?;
        tracing::info!(endpoint = %endpoint, "exporting spans over OTLP");
    }
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        crate::functions::run(&config, secrets).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let listen = args.listen.clone().unwrap_or_else(|| config.listen.clone());
    let app = crate::startup::Application::start(
        &config,
        &listen,
        secrets,
        std::sync::Arc::new(crate::clock::SystemClock),
    )
    .await?;
    let store = match config.store.kind {
        crate::store::StoreKind::Sqlite => config.store.path.display().to_string(),
        kind => kind.as_str().to_string(),
    };
    tracing::info!(addr = %app.addr(), %store, policy = %config.policy, "ncp-share-approver listening");
    println!(
        "ncp-share-approver listening on http://{} (Ctrl-C or SIGTERM stops it)",
        app.addr()
    );
    stop_signal().await?;
    tracing::info!("stopping: finishing in-flight work");
    app.stop().await;
    // The last spans (the stop's own) go out before the process ends.
    let _ = tokio::task::spawn_blocking(crate::telemetry::shutdown).await;
    Ok(ExitCode::SUCCESS)
}

/// Waits for Ctrl-C or SIGTERM (what an orchestrator sends before it kills a replica).
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn run_sim(args: &NcpSimArgs) -> anyhow::Result<ExitCode> {
    let seed = match &args.seed {
        Some(path) => crate::ncp::sim::Seed::load(path)?,
        None => crate::ncp::sim::Seed::demo(),
    };
    crate::ncp::sim::run(&args.listen, seed).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_slack_fake(args: &SlackFakeArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    let fake = crate::notify::slack::FakeSlack::try_start(&args.token, &args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?
        .with_latency(std::time::Duration::from_millis(args.latency_ms));
    println!(
        "Slack stand-in listening: api_base_url = \"{}\", calls at http://{}/_fake/calls",
        fake.api_base_url(),
        fake.addr()
    );
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("store: sqlite: {0}")]
    struct Names(#[source] std::io::Error);

    #[test]
    fn a_cause_the_error_already_names_is_printed_once() {
        let io = std::io::Error::other("disk full");
        let e = anyhow::Error::new(Names(io)).context("cannot record the approval");
        assert_eq!(
            one_line(&e),
            "cannot record the approval: store: sqlite: disk full"
        );
    }
}
