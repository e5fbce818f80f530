//! Errors for people: the library's typed errors in the command line's terms.

use bertcls::JobError;
use bertcls::artifacts::ArtifactError;
use bertcls::settings::SettingError;

/// The error and its causes as one message: each cause said once, joined by ": ",
/// a library setting named by the flag that sets it, and the command line's advice
/// where it has some.
pub fn describe(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let raw = cause.to_string();
        let shown = if let Some(s) = cause.downcast_ref::<SettingError>() {
            format!("{} {}: {}", flag(s.setting), s.value, s.requirement)
        } else if let Some(JobError::SetByStudy {
            setting,
            value,
            reason,
        }) = cause.downcast_ref::<JobError>()
        {
            format!("{} {value}: {reason}; leave it out", flag(setting))
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

/// What the command line can add to a library error: the flags that act on it.
fn advice(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use bertcls::data::DataError;
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
    } else if let Some(JobError::RunFinished { .. }) = cause.downcast_ref() {
        Some(
            "to train again, give another --out: the same --out without --resume replaces this run",
        )
    } else if let Some(TextError::PromptTooLong { .. }) = cause.downcast_ref() {
        Some("raise --max-len or shorten --prompt")
    } else {
        None
    }
}

/// The flag that sets a library setting: its name in kebab case, but for the few
/// the command line spells otherwise.
pub fn flag(setting: &str) -> String {
    match setting {
        "learning_rate" => "--lr".into(),
        "effective_beta" => "--class-weights".into(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_named_by_its_flag_and_each_cause_said_once() {
        let inner = bertcls::head::HeadError::Setting(SettingError::new(
            "learning_rate",
            -1.0,
            "must be a positive number",
        ));
        let error = anyhow::Error::new(inner).context("training the head");
        assert_eq!(
            describe(&error),
            "training the head: --lr -1: must be a positive number"
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(ArtifactError::io("read", "/x/y", io));
        assert_eq!(describe(&error), "cannot read /x/y: No such file");
        assert_eq!(flag("eval_every"), "--eval-every");
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
            describe(&error),
            "reading the training data: d.csv:3: no label (fix the row, or skip bad rows) \
             (--skip-bad-rows drops bad rows)"
        );
        let plain = anyhow::Error::new(bertcls::JobError::Refused("no".into()));
        assert_eq!(describe(&plain), "no");
    }
}
