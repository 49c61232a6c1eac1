//! A progress bar on standard error for long runs; silent when standard
//! error is not a terminal or with `--quiet`.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display of one command.
pub struct Progress {
    bar: ProgressBar,
    /// With `--timings`: the running step, when it started and the
    /// process's page faults then.
    timings: Option<Mutex<(&'static str, Instant, Option<Memory>)>>,
}

impl Progress {
    /// A progress display; hidden when `quiet`.
    pub fn new(quiet: bool) -> Self {
        // Starts with an empty template so nothing shows before a step starts.
        let bar = ProgressBar::with_draw_target(
            None,
            if quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        if let Ok(style) = ProgressStyle::with_template("") {
            bar.set_style(style);
        }
        Self { bar, timings: None }
    }

    /// The same display, also printing how long each step took (to
    /// standard error, even when quiet).
    pub fn with_timings(mut self, timings: bool) -> Self {
        self.timings = timings.then(|| Mutex::new(("start", Instant::now(), Memory::now())));
        self
    }

    /// Prints the duration of the step that ends and starts timing `next`.
    fn time_step(&self, next: &'static str) {
        if let Some(timings) = &self.timings
            && let Ok(mut running) = timings.lock()
        {
            let (step, started, before) = *running;
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            let now = Memory::now();
            match (before, now) {
                (Some(before), Some(now)) => eprintln!(
                    "timing: {step}: {elapsed:.1} ms, {} page faults, resident {:.1} MB",
                    now.minor_faults.saturating_sub(before.minor_faults),
                    now.resident_bytes as f64 / 1e6
                ),
                _ => eprintln!("timing: {step}: {elapsed:.1} ms"),
            }
            *running = (next, Instant::now(), now);
        }
    }

    /// Starts a byte-counting bar (reading a file of `total` bytes).
    pub fn start_bytes(&self, total: u64, message: &'static str) {
        self.begin(
            "{msg:22} [{bar:30}] {bytes}/{total_bytes} {elapsed} (eta {eta})",
            message,
            Some(total),
        );
    }

    /// Starts a counting bar over `total` items.
    pub fn start_items(&self, total: u64, message: &'static str) {
        self.begin(
            "{msg:22} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})",
            message,
            Some(total),
        );
    }

    /// Shows a step without a measurable length.
    pub fn step(&self, message: &'static str) {
        self.begin("{msg} {elapsed}", message, None);
        self.bar.tick();
    }

    /// Switches to a new step: blank, reset (position and elapsed time),
    /// then the step's style, so no frame mixes two steps.
    fn begin(&self, template: &str, message: &'static str, total: Option<u64>) {
        self.time_step(message);
        if let Ok(blank) = ProgressStyle::with_template("") {
            self.bar.set_style(blank);
        }
        self.bar.reset();
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(message);
    }

    /// Moves the bar to `position`.
    pub fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Completes the current bar.
    pub fn finish(&self) {
        self.bar.set_position(self.bar.length().unwrap_or(0));
    }

    /// Prints a line to standard error without tearing the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.time_step("done");
        self.bar.finish_and_clear();
    }
}

/// The byte-counting bar of reading a transaction file.
impl crm_csv::transactions::ReadProgress for Progress {
    fn start(&self, total_bytes: u64) {
        self.start_bytes(total_bytes, "reading transactions");
    }

    fn read(&self, bytes: u64) {
        self.set(bytes);
    }

    fn finish(&self) {
        Progress::finish(self);
    }
}

/// The process's memory counters, where the system tells them (Linux's
/// `/proc/self/stat`): each fresh page the process touches is a minor page
/// fault, which the kernel must clear before handing it over.
#[derive(Debug, Clone, Copy)]
struct Memory {
    minor_faults: u64,
    resident_bytes: u64,
}

impl Memory {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name, which is in parentheses and
        // may hold spaces: the state is field 3, minflt field 10.
        let minor_faults = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(10 - 3)?
            .parse()
            .ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(Self {
            minor_faults,
            resident_bytes: kb * 1024,
        })
    }
}
