//! Progress on stderr for the long phases of a run: a spinner for work of unknown length
//! (resolution, a build) and a counter for work of known length (verifying, staging).
//!
//! Everything is hidden when the caller asks (`-q`, machine output) or when stderr is not a
//! terminal, so logs and pipes never receive control sequences. Bars are cleared when their phase
//! ends: what stays on the terminal is the command's own summary.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const SPINNER_TEMPLATE: &str = "{spinner:.cyan} {prefix:.cyan.bold} {msg} {elapsed:.dim}";
const COUNTER_TEMPLATE: &str = "{prefix:>9.cyan.bold} [{bar:30}] {pos}/{len} {msg:.dim}";
const TICK: Duration = Duration::from_millis(100);

/// Whether progress is drawn in this run; cheap to copy into every stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    shown: bool,
}

impl Progress {
    /// Progress drawn when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        Self {
            shown: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// No progress at all (machine output, nested stages, tests).
    pub fn hidden() -> Self {
        Self { shown: false }
    }

    /// Whether anything is drawn.
    pub fn is_shown(self) -> bool {
        self.shown
    }

    /// A spinner for a phase of unknown length, labelled `label` (`Resolving`, `Building`).
    pub fn phase(self, label: &'static str, message: impl Into<Cow<'static, str>>) -> Phase {
        if !self.shown {
            return Phase(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style(SPINNER_TEMPLATE))
            .with_prefix(label)
            .with_message(message);
        bar.enable_steady_tick(TICK);
        Phase(bar)
    }

    /// A counter of `total` steps, labelled `label` (`Verifying`, `Staging`).
    pub fn counter(self, label: &'static str, total: usize) -> Counter {
        if !self.shown || total == 0 {
            return Counter(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
            .with_style(style(COUNTER_TEMPLATE))
            .with_prefix(label);
        Counter(bar)
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants that parse; the fallback only keeps a typo from panicking.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A phase in progress; cleared from the terminal when dropped.
#[derive(Debug)]
pub struct Phase(ProgressBar);

impl Phase {
    /// What the phase is doing now (`34 projects, 29 metadata`).
    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        self.0.set_message(message);
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A counted phase in progress; cleared from the terminal when dropped.
#[derive(Debug)]
pub struct Counter(ProgressBar);

impl Counter {
    /// One more step done; `what` names it (the package just staged).
    pub fn step(&self, what: impl Into<Cow<'static, str>>) {
        self.0.set_message(what);
        self.0.inc(1);
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_not_wanted() {
        let progress = Progress::new(false);
        assert!(!progress.is_shown());
        let phase = progress.phase("Resolving", "3 requirements");
        assert!(phase.0.is_hidden());
        let counter = progress.counter("Staging", 4);
        assert!(counter.0.is_hidden());
        counter.step("a 1.0");
        assert_eq!(
            counter.0.position(),
            1,
            "steps are counted even when hidden"
        );
    }

    #[test]
    fn nothing_is_drawn_when_stderr_is_not_a_terminal() {
        // The test harness captures stderr, so it is not a terminal here.
        if std::io::stderr().is_terminal() {
            return;
        }
        assert!(!Progress::new(true).is_shown());
    }

    #[test]
    fn an_empty_counter_is_hidden() {
        let progress = Progress { shown: true };
        assert!(progress.counter("Staging", 0).0.is_hidden());
        assert_eq!(progress.counter("Staging", 2).0.length(), Some(2));
    }
}
