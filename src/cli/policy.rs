//! `policy check FILE` and `policy explain`: the policy file, checked and dry-run.

use super::Cli;
use crate::domain::{ImageNo, LoginId, ShareDuration};
use crate::policy::{Action, Identity, Policy, RequestFacts, check_report, explain};
use std::path::PathBuf;
use std::process::ExitCode;

/// `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Load and validate a policy file; print a summary, or every problem with its line.
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Dry run: which rule a request would match, who must approve, or why nothing matches.
    Explain(ExplainArgs),
}

/// Arguments of `policy explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Policy file (default: `policy` from the configuration).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Who asks, as SYSTEM:ID (slack:U012ALICE, jira:5b10..., servicenow:abc).
    #[arg(long)]
    pub requester: String,
    /// The image number.
    #[arg(long)]
    pub image: String,
    /// The image's name, so that `name:` patterns can match (without it only `no:` patterns do).
    #[arg(long)]
    pub image_name: Option<String>,
    /// A target login ID; repeat for several, or separate with commas.
    #[arg(long = "target", required = true, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// share, unshare or set.
    #[arg(long, default_value = "share")]
    pub action: String,
    /// How long the share lasts (30m, 24h, 7d, 2w).
    #[arg(long)]
    pub duration: Option<String>,
    /// The reason given.
    #[arg(long)]
    pub reason: Option<String>,
}

/// Runs a `policy` subcommand.
pub fn run(cli: &Cli, command: &PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { file } => match check_report(file) {
            Ok(report) => {
                print!("{report}");
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s) in {}", errors.len(), file.display());
                Ok(ExitCode::from(1))
            }
        },
        PolicyCommand::Explain(args) => {
            let path = match &args.policy {
                Some(p) => p.clone(),
                None => match cli.load_config()?.policy {
                    crate::policy_source::PolicySource::File(p) => p,
                    other => anyhow::bail!(
                        "the configured policy is at {other}; download it and pass --policy FILE"
                    ),
                },
            };
            let policy = load_policy(&path)?;
            let requester = Identity::parse(&args.requester).map_err(anyhow::Error::msg)?;
            let image_no = ImageNo::parse(&args.image)?;
            let targets = args
                .targets
                .iter()
                .map(|t| LoginId::parse(t.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            let action: Action = args.action.parse().map_err(anyhow::Error::msg)?;
            let duration = args
                .duration
                .as_deref()
                .map(ShareDuration::parse)
                .transpose()?;
            let facts = RequestFacts {
                requester: &requester,
                image_no: &image_no,
                image_name: args.image_name.as_deref(),
                action,
                targets: &targets,
                duration,
                reason: args.reason.as_deref(),
            };
            print!("{}", explain(&policy, &facts, chrono::Utc::now()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads a policy, turning its list of problems into one error that shows them all.
pub fn load_policy(path: &std::path::Path) -> anyhow::Result<Policy> {
    Policy::load(path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the policy file has {} problem(s):\n{}",
            errors.len(),
            lines.join("\n")
        )
    })
}
