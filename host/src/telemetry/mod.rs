//! Logs: `tracing` with an env filter (`RUST_LOG`), as text or JSON lines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default` is the filter used when
/// `RUST_LOG` is unset.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second install (tests, the demo inside a test) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .try_init();
}
