//! The progress bar on a terminal, and the log writer that keeps it intact.
//!
//! A bar is drawn only when stderr is a terminal; otherwise every call here does nothing. Log
//! lines go to stderr through [`LogWriter`], which hides the bar while a line is written so the
//! two never interleave.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar currently drawn, for [`LogWriter`].
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Counts shown while a sync runs. Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    pages: AtomicU64,
    users: AtomicU64,
    groups: AtomicU64,
    memberships: AtomicU64,
}

impl Progress {
    /// A bar when stderr is a terminal, else a silent counter.
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::with_bar()
        } else {
            Self::hidden()
        }
    }

    pub fn hidden() -> Self {
        Self::default()
    }

    fn with_bar() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        let p = Self {
            bar: Some(bar),
            counts: Arc::default(),
        };
        p.redraw();
        p
    }

    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    pub fn add_page(&self) {
        self.counts.pages.fetch_add(1, Ordering::Relaxed);
        self.redraw();
    }

    pub fn add_users(&self, n: u64) {
        self.counts.users.fetch_add(n, Ordering::Relaxed);
        self.redraw();
    }

    pub fn add_groups(&self, n: u64) {
        self.counts.groups.fetch_add(n, Ordering::Relaxed);
        self.redraw();
    }

    pub fn add_memberships(&self, n: u64) {
        self.counts.memberships.fetch_add(n, Ordering::Relaxed);
        self.redraw();
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "pages {}  users {}  groups {}  memberships {}",
                self.counts.pages.load(Ordering::Relaxed),
                self.counts.users.load(Ordering::Relaxed),
                self.counts.groups.load(Ordering::Relaxed),
                self.counts.memberships.load(Ordering::Relaxed),
            ));
        }
    }

    /// Stops drawing; the last state stays on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            self.redraw();
            bar.finish();
            let mut active = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner);
            *active = None;
        }
    }
}

/// stderr for `tracing`, hiding the progress bar while a line is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)).map(|()| buf.len()),
            None => std::io::stderr().write_all(buf).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_counts_without_a_bar() {
        let p = Progress::hidden();
        p.add_page();
        p.add_users(3);
        assert!(!p.is_visible());
        assert_eq!(p.counts.users.load(Ordering::Relaxed), 3);
        p.finish();
    }
}
