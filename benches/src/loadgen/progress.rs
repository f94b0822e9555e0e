//! The progress bar on standard error (hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Jobs finished so far, drawn at most a few times a second.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` jobs.
    pub fn new(total: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} jobs {per_sec} eta {eta}")
        {
            bar.set_style(style);
        }
        Progress { bar }
    }

    /// `count` jobs are done.
    pub fn finished(&self, count: u64) {
        // Setting the position is cheap: drawing is rate-limited by indicatif.
        self.bar.set_position(count);
    }

    /// Removes the bar.
    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}
