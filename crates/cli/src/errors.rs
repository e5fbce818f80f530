//! Errors for people: the library's typed errors in the command line's terms.
//!
//! The library names a setting as its jobs do (`learning_rate`); clap's id of a flag
//! is that same field name, so the flag (`--lr`) is read off the command's own clap
//! definition, never guessed from the message's text.

use std::collections::HashMap;

use bertcls::JobError;
use bertcls::artifacts::ArtifactError;
use bertcls::data::DataError;
use bertcls::settings::SettingError;

/// The flags of a command line, by the library setting each one sets.
pub struct Flags {
    /// `--long` by clap id, for the subcommand that runs (first) and every other one.
    running: HashMap<String, String>,
    anywhere: HashMap<String, String>,
}

impl Flags {
    /// The flags of `command`, the subcommand at `path` (`["head", "sweep"]`) first:
    /// a setting another subcommand spells otherwise is named as this one spells it.
    pub fn of(command: &clap::Command, path: &[&str]) -> Self {
        let mut anywhere = HashMap::new();
        collect_all(command, &mut anywhere);
        let mut running = HashMap::new();
        let subcommand = path
            .iter()
            .try_fold(command, |command, name| command.find_subcommand(name));
        if let Some(subcommand) = subcommand {
            collect(subcommand, &mut running);
        }
        Self { running, anywhere }
    }

    /// The flag that sets `setting`; a setting no flag sets keeps its library name.
    pub fn name(&self, setting: &str) -> String {
        self.running
            .get(setting)
            .or_else(|| self.anywhere.get(setting))
            .cloned()
            .unwrap_or_else(|| format!("`{setting}`"))
    }
}

/// `--long` by id for the arguments of `command` itself.
fn collect(command: &clap::Command, flags: &mut HashMap<String, String>) {
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            flags
                .entry(arg.get_id().to_string())
                .or_insert_with(|| format!("--{long}"));
        }
    }
}

/// [`collect`] over `command` and all its subcommands.
fn collect_all(command: &clap::Command, flags: &mut HashMap<String, String>) {
    collect(command, flags);
    for subcommand in command.get_subcommands() {
        collect_all(subcommand, flags);
    }
}

/// The error and its causes as one message: each cause said once, joined by ": ",
/// each library setting named by its flag, and the command line's advice where it
/// has some.
pub fn describe(error: &anyhow::Error, flags: &Flags) -> String {
    let name = |setting: &str| flags.name(setting);
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let raw = cause.to_string();
        let shown = if let Some(s) = cause.downcast_ref::<SettingError>() {
            let requirement = s.requirement.render(name);
            format!("{} {}: {requirement}", name(s.setting), s.value)
        } else if let Some(error) = job_error(cause) {
            match error {
                JobError::Refused(message) => message.render(name),
                JobError::Context { context, .. } => context.render(name),
                JobError::ForSetting { setting, .. } => name(setting),
                JobError::SetByStudy {
                    setting,
                    value,
                    reason,
                } => format!("{} {value}: {reason}; leave it out", name(setting)),
                _ => raw.clone(),
            }
        } else if let Some(DataError::Format { path, message }) = cause.downcast_ref() {
            format!("{}: {}", path.display(), message.render(name))
        } else {
            raw.clone()
        };
        match parts.last_mut() {
            // A wrapper that displays its cause: the cause's own words replace it.
            Some(last) if *last == raw => *last = shown,
            // An error that prints its cause itself would otherwise say it twice.
            Some(last) if last.contains(&raw) => {}
            _ => parts.push(shown),
        }
    }
    let mut message = parts.join(": ");
    if let Some(advice) = error.chain().find_map(advice) {
        message.push_str(&format!(" ({advice})"));
    }
    message
}

/// `cause` as a job's error: itself, or the box a wrapping job error keeps its cause
/// in (a boxed source is a `Box<JobError>` to `downcast_ref`).
fn job_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a JobError> {
    cause
        .downcast_ref::<JobError>()
        .or_else(|| cause.downcast_ref::<Box<JobError>>().map(|boxed| &**boxed))
}

/// What the command line can add to a library error: the flags that act on it.
fn advice(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use bertcls::joint::JointError;
    use bertcls::text::TextError;
    if let Some(ArtifactError::OtherKind { .. }) = cause.downcast_ref() {
        Some("pass --force to replace it")
    } else if let Some(DataError::BadRow { .. }) = cause.downcast_ref() {
        Some("--skip-bad-rows drops bad rows")
    } else if let Some(JointError::NonFiniteLoss { .. }) = cause.downcast_ref() {
        Some("try a lower --lr, --max-grad-norm 1 or --warmup-ratio 0.1")
    } else if let Some(JointError::NoCheckpoint { .. }) = cause.downcast_ref() {
        Some("run without --resume")
    } else if let Some(JobError::RunFinished { .. }) = job_error(cause) {
        Some(
            "to train again, give another --out: the same --out without --resume replaces this run",
        )
    } else if let Some(TextError::PromptTooLong { .. }) = cause.downcast_ref() {
        Some("raise --max-len or shorten --prompt")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use clap::{Arg, Command, CommandFactory};

    use super::*;

    fn flags_of(path: &[&str]) -> Flags {
        Flags::of(&crate::Cli::command(), path)
    }

    #[test]
    fn a_setting_is_named_by_its_flag_and_each_cause_said_once() {
        let inner = bertcls::head::HeadError::Setting(SettingError::new(
            "learning_rate",
            -1.0,
            "must be a positive number",
        ));
        let error = anyhow::Error::new(inner).context("training the head");
        assert_eq!(
            describe(&error, &flags_of(&["finetune"])),
            "training the head: --lr -1: must be a positive number"
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(ArtifactError::io("read", "/x/y", io));
        assert_eq!(
            describe(&error, &flags_of(&["embed"])),
            "cannot read /x/y: No such file"
        );
    }

    #[test]
    fn flags_come_from_the_running_command_first() {
        let flags = flags_of(&["finetune"]);
        assert_eq!(flags.name("learning_rate"), "--lr");
        assert_eq!(flags.name("eval_every"), "--eval-every");
        assert_eq!(flags.name("no_such_setting"), "`no_such_setting`");
        // A setting the running command lacks is named as another command spells it.
        assert_eq!(flags_of(&["embed"]).name("learning_rate"), "--lr");
        let rate = |long: &'static str| Arg::new("rate").long(long);
        let tool = Command::new("tool")
            .subcommand(Command::new("a").arg(rate("lr")))
            .subcommand(Command::new("b").arg(rate("rate")));
        assert_eq!(Flags::of(&tool, &["a"]).name("rate"), "--lr");
        assert_eq!(Flags::of(&tool, &["b"]).name("rate"), "--rate");
    }

    #[test]
    fn messages_that_name_settings_name_their_flags() {
        let flags = flags_of(&["head", "sweep"]);
        let refused = bertcls::settings::message!("leave out " [augmented] " or add " [sampling]);
        let error = anyhow::Error::new(JobError::Refused(refused));
        assert_eq!(
            describe(&error, &flags),
            "leave out --augmented or add --sampling"
        );
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let write = JobError::from(ArtifactError::io("write", "/o", io));
        let error = anyhow::Error::new(JobError::ForSetting {
            setting: "out",
            source: Box::new(write),
        });
        assert_eq!(
            describe(&error, &flags),
            "--out: cannot write /o: disk full"
        );
        // A job error kept as another's cause is named in flags too.
        let inner = JobError::Refused(bertcls::settings::message!("give "[texts]));
        let outer = JobError::Context {
            context: "distilling".into(),
            source: Box::new(inner),
        };
        assert_eq!(
            describe(&anyhow::Error::new(outer), &flags_of(&["distill", "head"])),
            "distilling: give --texts"
        );
        let format = DataError::Format {
            path: "d.csv".into(),
            message: bertcls::settings::message!("no column \"text\"; choose one with "[text_col]),
        };
        assert_eq!(
            describe(&anyhow::Error::new(JobError::from(format)), &flags),
            "d.csv: no column \"text\"; choose one with --text-col"
        );
    }

    #[test]
    fn the_command_line_adds_the_flags_that_act_on_an_error() {
        let bad_row = bertcls::data::DataError::BadRow {
            path: "d.csv".into(),
            row: bertcls::data::BadRow {
                line: 3,
                reason: "no label".into(),
            },
        };
        let error = anyhow::Error::new(bad_row).context("reading the training data");
        assert_eq!(
            describe(&error, &flags_of(&["embed"])),
            "reading the training data: d.csv:3: no label (fix the row, or skip bad rows) \
             (--skip-bad-rows drops bad rows)"
        );
        let plain = anyhow::Error::new(bertcls::JobError::Refused("no".into()));
        assert_eq!(describe(&plain, &flags_of(&["embed"])), "no");
    }
}
