//! How a job's progress shows on a terminal: an indicatif bar for counted work, lines
//! above it for notes. Where stderr is not a terminal (logs, CI) the bar is hidden,
//! notes are plain lines, and long work prints a progress line now and then.

use std::time::{Duration, Instant};

use bertcls::{Observer, Stage};
use indicatif::{ProgressBar, ProgressStyle};

/// How often a hidden bar prints a progress line.
const LOG_INTERVAL: Duration = Duration::from_secs(30);

/// The command line's [`Observer`]: bars on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Option<ProgressBar>,
    what: String,
    status: String,
    last_log: Option<Instant>,
}

impl Bars {
    /// Prints a progress line when the bar is hidden and the interval has passed.
    fn maybe_log(&mut self) {
        let Some(bar) = &self.bar else { return };
        if !bar.is_hidden() || self.last_log.is_some_and(|t| t.elapsed() < LOG_INTERVAL) {
            return;
        }
        self.last_log = Some(Instant::now());
        eprintln!(
            "{} {}/{}  {:.1}/s  ETA {}s  {}",
            self.what,
            bar.position(),
            bar.length().unwrap_or(0),
            bar.per_sec(),
            bar.eta().as_secs(),
            self.status
        );
    }
}

impl Observer for Bars {
    fn begin(&mut self, what: &str, total: usize) {
        self.end();
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len}  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_owned());
        self.what = what.to_owned();
        self.status.clear();
        self.last_log = Some(Instant::now());
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(done as u64);
        }
        self.maybe_log();
    }

    fn set_position(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
        self.maybe_log();
    }

    fn status(&mut self, status: &str) {
        status.clone_into(&mut self.status);
        if let Some(bar) = &self.bar {
            bar.set_message(status.to_owned());
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn note(&mut self, line: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    fn note_message(&mut self, message: &bertcls::settings::Message) {
        use clap::CommandFactory;
        let flags = crate::errors::Flags::of(&crate::Cli::command(), &[]);
        self.note(&message.render(|setting| flags.name(setting)));
    }

    fn command_line(&self, stage: Stage<'_>) -> Option<String> {
        crate::command_line::command_line(stage).ok()
    }

    fn settings_line(&self, stage: Stage<'_>, only: &[&str]) -> Option<String> {
        crate::command_line::settings_line(stage, only).ok()
    }
}
