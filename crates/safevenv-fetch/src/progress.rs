//! Progress bars on stderr: one per active download, and a total of artifacts ready.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const TOTAL_TEMPLATE: &str = "{prefix:>9.cyan.bold} [{bar:30}] {pos}/{len} artifacts";
const DOWNLOAD_TEMPLATE: &str =
    "{msg:>40.dim} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}";

/// The bars of one batch; all hidden when asked or when stderr is not a terminal.
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
    total: ProgressBar,
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants that parse; the fallback only keeps a typo from panicking.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress {
    pub(crate) fn new(show: bool, artifacts: usize) -> Self {
        if !show || !std::io::stderr().is_terminal() {
            return Self {
                multi: None,
                total: ProgressBar::hidden(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(
            ProgressBar::new(artifacts as u64)
                .with_style(style(TOTAL_TEMPLATE))
                .with_prefix("Fetching"),
        );
        Self {
            multi: Some(multi),
            total,
        }
    }

    /// A bar for one download, shown above the total until it is finished.
    pub(crate) fn download(&self, filename: &str, size: Option<u64>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        multi.insert_before(
            &self.total,
            ProgressBar::new(size.unwrap_or(0))
                .with_style(style(DOWNLOAD_TEMPLATE))
                .with_message(filename.to_string()),
        )
    }

    /// One more artifact is in the cache, checked.
    pub(crate) fn artifact_ready(&self) {
        self.total.inc(1);
    }

    /// Remove every bar from the terminal.
    pub(crate) fn finish(&self) {
        self.total.finish_and_clear();
        if let Some(multi) = &self.multi {
            // Clearing only fails when the terminal is gone; nothing is left to tidy then.
            multi.clear().ok();
        }
    }
}
