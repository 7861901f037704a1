//! `shares <image-no>`: the live share list of one image, straight from NCP.

use super::Cli;
use crate::domain::ImageNo;
use crate::ncp::{CloudApi, NcpClient, NcpError};
use std::process::ExitCode;

/// Arguments of `shares`.
#[derive(Debug, clap::Args)]
pub struct SharesArgs {
    /// The image number (memberServerImageInstanceNo or serverImageNo).
    pub image_no: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Looks the image up and prints its share list.
pub async fn run(cli: &Cli, args: &SharesArgs) -> anyhow::Result<ExitCode> {
    let no = ImageNo::parse(&args.image_no)?;
    let config = cli.load_config()?;
    let secrets = config.secrets.source.open();
    let client = NcpClient::new(&config.ncp, secrets)?;
    match client.image(&no).await {
        Ok(view) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!(
                    "image {} ({}, {}, status {})",
                    view.no, view.name, view.hypervisor, view.status
                );
                if view.shared_with.is_empty() {
                    println!("not shared with any account");
                } else {
                    println!("shared with {} account(s):", view.shared_with.len());
                    for id in &view.shared_with {
                        println!("  {id}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("hint: {}", hint(&e, client.base_url()));
            Ok(ExitCode::from(2))
        }
    }
}

/// What to check next, for each kind of failure (`catalog refresh` uses it too).
pub(super) fn hint(e: &NcpError, endpoint: &str) -> String {
    match e {
        NcpError::Authentication { access_key, .. } => format!(
            "check NCP_ACCESS_KEY ({}) / NCP_SECRET_KEY (or [secrets] source) and that the key is active",
            if access_key.is_empty() { "not set" } else { access_key }
        ),
        NcpError::ImageNotFound(_) => {
            "check the image number and that it belongs to the account of NCP_ACCESS_KEY, and [ncp] region".into()
        }
        NcpError::Transport { .. } => format!(
            "check that {endpoint} is reachable (NCP_API_ENDPOINT or [ncp] site/endpoint)"
        ),
        NcpError::Gateway { .. } => "NCP's gateway refused the call; retry later or check quotas".into(),
        NcpError::Service { .. } => "NCP refused the call; its code and message are above".into(),
        NcpError::Decode { .. } => format!("{endpoint} does not answer like the NCP vserver v2 API"),
        NcpError::ReadOnly { .. } => "this process may only read from NCP".into(),
    }
}
