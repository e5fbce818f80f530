//! Sentences that name settings, written once and read in two vocabularies.
//!
//! A library says leave out `augmented`; the command line that called it says
//! leave out `--augmented`. Neither may guess the other's words from the text, so a
//! [`Message`] keeps each setting it names as a setting, and whoever shows the
//! message names it: [`Display`] by the library's own name, [`Message::render`] by
//! whatever the caller calls it (a flag, a config key).

use std::fmt::{self, Display};

/// Text with settings named in it by their library names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    parts: Vec<Part>,
}

/// A piece of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Setting(&'static str),
}

impl Message {
    /// `self` followed by `text`.
    pub fn text(mut self, text: impl Display) -> Self {
        self.parts.push(Part::Text(text.to_string()));
        self
    }

    /// `self` followed by the setting named `setting` in the library (a config
    /// field: `learning_rate`).
    pub fn setting(mut self, setting: &'static str) -> Self {
        self.parts.push(Part::Setting(setting));
        self
    }

    /// `self` followed by `other`, whose settings stay settings.
    pub fn then(mut self, other: impl Into<Message>) -> Self {
        self.parts.extend(other.into().parts);
        self
    }

    /// The message with each setting named by `name` (a command line passes the
    /// setting's flag).
    pub fn render(&self, mut name: impl FnMut(&'static str) -> String) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Setting(setting) => name(setting),
            })
            .collect()
    }

    /// The settings the message names, in order.
    pub fn settings(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Setting(setting) => Some(*setting),
            Part::Text(_) => None,
        })
    }
}

/// Settings in backquotes, by their library names: "leave out `augmented`".
impl Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(|setting| format!("`{setting}`")))
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::default().text(text)
    }
}

impl From<&Message> for Message {
    fn from(message: &Message) -> Self {
        message.clone()
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::default().text(text)
    }
}

/// A [`Message`] from text pieces (format strings, with their arguments captured
/// by name) and settings in brackets:
///
/// ```
/// let examples = 3;
/// let message = settings::message!("{examples} examples cannot fill the folds: lower " [cv]);
/// assert_eq!(message.to_string(), "3 examples cannot fill the folds: lower `cv`");
/// assert_eq!(
///     message.render(|s| format!("<{s}>")),
///     "3 examples cannot fill the folds: lower <cv>"
/// );
/// ```
#[macro_export]
macro_rules! message {
    (@push $message:expr;) => { $message };
    (@push $message:expr; [$setting:ident] $($rest:tt)*) => {
        $crate::message!(@push $message.setting(stringify!($setting)); $($rest)*)
    };
    (@push $message:expr; $text:literal $($rest:tt)*) => {
        $crate::message!(@push $message.text(format!($text)); $($rest)*)
    };
    ($($piece:tt)+) => {
        $crate::message!(@push $crate::Message::default(); $($piece)+)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reader_names_the_settings_and_the_text_stays() {
        let message = Message::default()
            .text("a prompt replaces the head: leave out ")
            .setting("hidden")
            .text(" and ")
            .setting("batch_norm");
        assert_eq!(
            message.to_string(),
            "a prompt replaces the head: leave out `hidden` and `batch_norm`"
        );
        let variables = message.render(|s| format!("BERTCLS_{}", s.to_uppercase()));
        assert_eq!(
            variables,
            "a prompt replaces the head: leave out BERTCLS_HIDDEN and BERTCLS_BATCH_NORM"
        );
        assert_eq!(
            message.settings().collect::<Vec<_>>(),
            ["hidden", "batch_norm"]
        );
        assert_eq!(Message::from("plain").render(|_| unreachable!()), "plain");
    }
}
