//! The one tracing-subscriber setup both service binaries use: an environment filter
//! (`RUST_LOG`, else the binary's default), logs on stderr, colour only on a terminal (logs
//! redirected to a file or journald stay plain text), and one JSON object per line on request.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogOutput {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` wins over `default_filter` (e.g.
/// `info` or `quietcount_node=debug`). Does nothing if a subscriber is already installed.
pub fn init(default_filter: &str, output: LogOutput) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal: logs redirected to a file or journald stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (e.g. by a test); keep that one.
    let _ = match output {
        LogOutput::Json => builder.json().try_init(),
        LogOutput::Text => builder.try_init(),
    };
}
