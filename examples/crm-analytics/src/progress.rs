//! A progress bar on standard error for long runs; silent when standard
//! error is not a terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display of one command.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress display; hidden when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            None,
            if quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        Self { bar }
    }

    /// Starts a byte-counting bar (reading a file of `total` bytes).
    pub fn start_bytes(&self, total: u64, message: &'static str) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:22} [{bar:30}] {bytes}/{total_bytes} {elapsed} (eta {eta})",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(message);
    }

    /// Starts a counting bar over `total` items.
    pub fn start_items(&self, total: u64, message: &'static str) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:22} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})")
        {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(message);
    }

    /// Shows a step without a measurable length.
    pub fn step(&self, message: &'static str) {
        if let Ok(style) = ProgressStyle::with_template("{msg} {elapsed}") {
            self.bar.set_style(style);
        }
        self.bar.set_message(message);
        self.bar.tick();
    }

    /// Moves the bar to `position`.
    pub fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Completes the current bar.
    pub fn finish(&self) {
        self.bar.set_position(self.bar.length().unwrap_or(0));
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
