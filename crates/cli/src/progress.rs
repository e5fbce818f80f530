//! Progress bars and the numbers printed when long work ends.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting documents, with rate and ETA; hidden when stderr is not a terminal.
pub fn documents(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} docs  {per_sec}  ETA {eta}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar counting items of any kind (heads of a sweep, say), with a message slot.
pub fn counter(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} {what}  ETA {{eta}}  {{msg}}"
        ))
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}

/// Peak resident memory of this process in MiB (Linux), if it can be read.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts a new peak-memory window: the next [`peak_rss_mib`] reports the peak since
/// now (Linux ≥ 4.0 resets VmHWM to the current RSS on writing 5 to clear_refs).
/// Returns false where that is not possible; the peak then covers the whole process.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Prints a line above the bar, or plainly when the bar is hidden (stderr is not a
/// terminal: logs, CI), where indicatif would swallow it.
pub fn println(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// For long work whose bar is hidden: a plain progress line at most every `interval`,
/// so that logs still show how far it got and how fast.
pub struct LogLines {
    interval: Duration,
    last: Instant,
}

impl LogLines {
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            last: Instant::now(),
        }
    }

    /// Prints position, rate, ETA and `message` when the bar is hidden and the
    /// interval has passed.
    pub fn maybe(&mut self, bar: &ProgressBar, message: &str) {
        if !bar.is_hidden() || self.last.elapsed() < self.interval {
            return;
        }
        self.last = Instant::now();
        eprintln!(
            "{}/{} docs  {:.1}/s  ETA {}s  {message}",
            bar.position(),
            bar.length().unwrap_or(0),
            bar.per_sec(),
            bar.eta().as_secs()
        );
    }
}
