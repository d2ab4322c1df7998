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

/// The process's peak resident memory in MiB (`VmHWM` of `/proc/self/status`), reported by the
/// final log line of a sync; `None` where that file does not exist.
pub fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.div_ceil(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_memory_is_read_on_linux() {
        let before = super::peak_memory_mib().expect("VmHWM on Linux");
        // A few MiB touched can only raise the peak.
        let block = vec![1u8; 8 << 20];
        std::hint::black_box(&block);
        let after = super::peak_memory_mib().expect("VmHWM on Linux");
        assert!(before > 0 && after >= before, "{before} then {after}");
    }
}
