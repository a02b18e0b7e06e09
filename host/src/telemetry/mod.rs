//! Logs: `tracing` to stderr as text, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default` is the filter used when
/// `RUST_LOG` is unset.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second install (tests, the demo inside a test) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // stdout is the command's own output (the demo's report).
        .with_writer(std::io::stderr)
        .try_init();
}
