//! The `ncp-share-approver` binary: parse the command line, set up tracing, hand over to the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // On AWS Lambda the runtime starts the `bootstrap` binary without arguments: run `serve`.
    let cli =
        if std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            ncp_share_approver::cli::Cli::parse_from(["ncp-share-approver", "serve"])
        } else {
            ncp_share_approver::cli::Cli::parse()
        };
    ncp_share_approver::telemetry::init_with_default(cli.default_log_filter());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(ncp_share_approver::cli::run(cli))
}
