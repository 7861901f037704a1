//! Tracing setup: human-readable lines on stderr locally, JSON on Lambda (CloudWatch).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins; otherwise `info` (`debug` with `-v`).
pub fn init(verbose: bool) {
    init_with_default(if verbose {
        "info,ncp_share_approver=debug"
    } else {
        "info"
    });
}

/// Installs the global subscriber with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: piped or captured logs (tee, CloudWatch, CI) stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let _ = builder.json().without_time().try_init();
    } else {
        let _ = builder.compact().try_init();
    }
}
