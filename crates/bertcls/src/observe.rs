//! How a job tells its caller how far it got: progress through counted work and
//! lines for the person running it. The command line turns these into progress bars
//! on a terminal and plain lines in a log; a program may ignore them ([`Quiet`]).
//! A job that runs others also asks its caller how it would run them itself
//! ([`Stage`]), for its report.

use bert::Precision;

use crate::Stage;

/// Hears of a job's progress. Every method has a default that does nothing.
pub trait Observer: Send {
    /// Work on `total` items (documents, heads, training examples) begins; `what`
    /// names it ("embedding", "heads", "training").
    fn begin(&mut self, what: &str, total: usize) {
        let _ = (what, total);
    }

    /// `done` more items are finished.
    fn advance(&mut self, done: usize) {
        let _ = done;
    }

    /// The position is `done` items (after resuming, say).
    fn set_position(&mut self, done: usize) {
        let _ = done;
    }

    /// How the work goes, in a few words (the current loss, the last head's score).
    fn status(&mut self, status: &str) {
        let _ = status;
    }

    /// The counted work ended.
    fn end(&mut self) {}

    /// A line for the person running the job: what was found, decided or skipped.
    fn note(&mut self, line: &str) {
        let _ = line;
    }

    /// A line that names settings: by their library names unless the caller names
    /// them its own way (the command line: by their flags).
    fn note_message(&mut self, message: &settings::Message) {
        self.note(&message.to_string());
    }

    /// How the caller would run `stage` itself (the `bertcls` binary: its command
    /// line), for a report that lists its stages. `None`, the default, lists the
    /// stage's settings in the library's names ([`Stage::describe`]).
    fn command_line(&self, stage: Stage<'_>) -> Option<String> {
        let _ = stage;
        None
    }

    /// How the caller would give `stage` the settings named in `only` (a study's arm
    /// that differs from its baseline in those). `None`, the default, lists them in
    /// the library's names.
    fn settings_line(&self, stage: Stage<'_>, only: &[&str]) -> Option<String> {
        let _ = (stage, only);
        None
    }
}

/// Tells `observer` when this CPU lacks the instructions `precision`'s kernels are
/// built on ([`Precision::missing_instructions`]), where a job is about to run them.
pub(crate) fn note_missing_instructions(observer: &mut dyn Observer, precision: Precision) {
    if let Some(note) = precision.missing_instructions() {
        observer.note(&note);
    }
}

/// An observer that ignores everything: for programs that only want the result.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {}
