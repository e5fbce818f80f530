//! What a record's label is: one class, a set of labels, or a value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Task;

/// A record's label: what a model learns to predict for it. In JSON a class is a
/// string, a set of labels a list and a value a number, so files of every task keep
/// the one `label` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// One class of a fixed set (single-label classification).
    Class(String),
    /// The labels that apply, possibly none (multi-label classification); sorted,
    /// without repeats.
    Tags(Vec<String>),
    /// A real value (regression); always finite.
    Value(f64),
}

/// Values are finite (the reader refuses others), so equality is an equivalence.
impl Eq for Label {}

impl Label {
    /// A set of labels, sorted and without repeats.
    pub fn tags<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> Self {
        let mut tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        tags.sort();
        tags.dedup();
        Label::Tags(tags)
    }

    /// The class, for a single-label record.
    pub fn class(&self) -> Option<&str> {
        match self {
            Label::Class(class) => Some(class),
            _ => None,
        }
    }

    /// The labels that apply, for a multi-label record.
    pub fn tag_list(&self) -> Option<&[String]> {
        match self {
            Label::Tags(tags) => Some(tags),
            _ => None,
        }
    }

    /// The value, for a regression record.
    pub fn value(&self) -> Option<f64> {
        match self {
            Label::Value(value) => Some(*value),
            _ => None,
        }
    }

    /// The task a label of this kind belongs to.
    pub fn task(&self) -> Task {
        match self {
            Label::Class(_) => Task::SingleLabel,
            Label::Tags(_) => Task::MultiLabel,
            Label::Value(_) => Task::Regression,
        }
    }
}

/// A class as itself, a set as its labels joined by commas (`(none)` when empty), a
/// value as its number.
impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Class(class) => f.write_str(class),
            Label::Tags(tags) if tags.is_empty() => f.write_str("(none)"),
            Label::Tags(tags) => f.write_str(&tags.join(", ")),
            Label::Value(value) => write!(f, "{value}"),
        }
    }
}

impl From<String> for Label {
    fn from(class: String) -> Self {
        Label::Class(class)
    }
}

impl From<&str> for Label {
    fn from(class: &str) -> Self {
        Label::Class(class.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_its_json_form() {
        for (label, json) in [
            (Label::from("spam"), r#""spam""#),
            (Label::tags(["b", "a", "b"]), r#"["a","b"]"#),
            (Label::tags(Vec::<String>::new()), "[]"),
            (Label::Value(-1.25), "-1.25"),
        ] {
            assert_eq!(serde_json::to_string(&label).unwrap(), json);
            assert_eq!(serde_json::from_str::<Label>(json).unwrap(), label);
        }
    }
}
