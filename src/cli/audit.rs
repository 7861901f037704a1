//! `audit verify|export`: the hash-chained ledger.

use super::Cli;
use std::io::Write as _;
use std::process::ExitCode;

/// `audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain; exit 1 and name the first bad record if anything was changed,
    /// removed or reordered.
    Verify,
    /// Write the ledger to standard output.
    Export {
        /// Output format (only `jsonl`: one JSON record per line).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
    },
}

/// Runs an `audit` subcommand.
pub async fn run(cli: &Cli, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let config = cli.load_config()?;
    let store = crate::store::open(&config.store)?;
    match command {
        AuditCommand::Verify => match crate::store::verify_ledger(store.as_ref()).await? {
            Ok(n) => {
                println!("ledger OK: {n} records, chain and head intact");
                Ok(ExitCode::SUCCESS)
            }
            Err(broken) => {
                eprintln!("ledger BROKEN: {broken}");
                Ok(ExitCode::from(1))
            }
        },
        AuditCommand::Export { .. } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut after = 0;
            loop {
                let page = store.audit_records(after, 10_000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                crate::audit::to_jsonl(&page, &mut out)?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
