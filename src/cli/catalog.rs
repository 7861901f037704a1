//! `catalog refresh|list`: the image catalog the request form's picker offers (the scheduler
//! refreshes it every `[ncp] catalog_refresh_secs`; these do it now, or show it).

use super::Cli;
use crate::domain::ImageCatalog;
use crate::ncp::NcpClient;
use crate::workflow::WorkflowError;
use chrono::SecondsFormat;
use std::process::ExitCode;

/// `catalog` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Read the account's images from NCP now and store the shareable ones (status CREAT).
    Refresh,
    /// Print the stored catalog: number, name and when it was refreshed.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `catalog` subcommand.
pub async fn run(cli: &Cli, command: &CatalogCommand) -> anyhow::Result<ExitCode> {
    let config = cli.load_config()?;
    let store = crate::startup::open_store(&config).await?.store;
    match command {
        CatalogCommand::Refresh => {
            let secrets = config.secrets.source.open();
            let client = NcpClient::new(&config.ncp, secrets)?;
            match crate::workflow::catalog::refresh(&client, store.as_ref(), chrono::Utc::now())
                .await
            {
                Ok(catalog) => {
                    println!(
                        "image catalog refreshed: {} shareable image(s) at {}",
                        catalog.images.len(),
                        at(&catalog)
                    );
                    // A backend may keep fewer than it was given (DynamoDB's item limit).
                    if let Some(stored) = store.image_catalog().await? {
                        if stored.refreshed_at == catalog.refreshed_at
                            && stored.images.len() < catalog.images.len()
                        {
                            eprintln!(
                                "warning: the store kept {} of them (its size limit); the others are not offered by the picker",
                                stored.images.len()
                            );
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(WorkflowError::Ncp(e)) => {
                    eprintln!("error: {e}");
                    eprintln!("hint: {}", super::shares::hint(&e, client.base_url()));
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
        CatalogCommand::List { json } => {
            let Some(catalog) = store.image_catalog().await? else {
                if *json {
                    println!("null");
                } else {
                    println!(
                        "no image catalog yet: `catalog refresh` reads it now (serve and the scheduler refresh it every [ncp] catalog_refresh_secs)"
                    );
                }
                return Ok(ExitCode::SUCCESS);
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&catalog)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} shareable image(s), refreshed at {}",
                catalog.images.len(),
                at(&catalog)
            );
            if !catalog.images.is_empty() {
                println!("{:<19}  {:<40}  refreshed_at", "no", "name");
            }
            for image in &catalog.images {
                println!(
                    "{:<19}  {:<40}  {}",
                    image.no,
                    crate::domain::truncate_for_display(&image.name),
                    at(&catalog)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn at(catalog: &ImageCatalog) -> String {
    catalog
        .refreshed_at
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}
