//! `tracing` to stderr, as JSON or for a person.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::progress::LogWriter;

/// Installs the global subscriber. `level` is one of trace, debug, info, warn, error.
///
/// Dependencies are held to `info` whatever the level: the connector's own events say what a
/// person needs at `trace`, and HTTP internals below `info` are noise that could, in some future
/// version of a dependency, print request headers.
pub fn init(level: &str, format: LogFormat) {
    let directives = format!("{level},hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info,tokio=info,mio=info");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_target(false);
    // A second init (tests calling main's code twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Console => builder.with_ansi(use_ansi()).try_init(),
    };
}

fn use_ansi() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
