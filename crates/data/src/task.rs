//! The three tasks a data set can pose, and how its labels say which one it is.

use serde::{Deserialize, Serialize};

use crate::Label;

/// What a model learns: one class per text, a set of labels per text, or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// One class of a fixed set per text (softmax, cross-entropy).
    #[default]
    SingleLabel,
    /// Any number of labels per text, none included (a sigmoid per label, binary
    /// cross-entropy).
    MultiLabel,
    /// A real value per text (one linear output, squared error).
    Regression,
}

settings::serde_names!(Task);

/// A task and why it was chosen, for the run to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChoice {
    /// The task.
    pub task: Task,
    /// Why: asked for, or what the labels look like.
    pub evidence: Evidence,
}

/// What chose a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The setting asked for it.
    Asked,
    /// Some label is a list: multi-label.
    Lists,
    /// Every label is a number, some not whole: regression.
    Fractions,
    /// Every label is a whole number: read as classes, though they may be values.
    WholeNumbers,
    /// The labels are names of classes (or there are none).
    Classes,
}

impl TaskChoice {
    /// Why, in a sentence's words.
    pub fn reason(&self) -> settings::Message {
        match self.evidence {
            Evidence::Asked => settings::message!("asked for by "[task]),
            Evidence::Lists => "the labels are lists".into(),
            Evidence::Fractions => "the labels are numbers, not all whole".into(),
            Evidence::WholeNumbers => settings::message!(
                "the labels are whole numbers, read as classes; to read them as values, set "
                    [task] " to regression"
            ),
            Evidence::Classes => "the labels are single classes".into(),
        }
    }

    /// True where a reader might have expected another task: anything but names of
    /// classes read as single-label, so a run says what it found.
    pub fn is_worth_saying(&self) -> bool {
        self.evidence != Evidence::Classes
    }
}

impl Task {
    /// The task `requested`, or when none is, the task the labels' form says:
    /// - a list anywhere (JSON `[...]`, or a cell split by a label separator) makes
    ///   the data multi-label, and a plain class beside it is a set of one;
    /// - classes that are all numbers, some not whole, make it regression (whole
    ///   numbers stay classes, `0`/`1` being far more often classes than values:
    ///   ask for regression to read them as values);
    /// - otherwise it is single-label.
    ///
    /// [`Task::read`] then puts each label in the chosen task's form.
    pub fn choose<'a>(
        labels: impl IntoIterator<Item = &'a Label>,
        requested: Option<Task>,
    ) -> TaskChoice {
        if let Some(task) = requested {
            return TaskChoice {
                task,
                evidence: Evidence::Asked,
            };
        }
        let (mut any, mut tags, mut all_numbers, mut fractions) = (false, false, true, false);
        for label in labels {
            any = true;
            tags |= matches!(label, Label::Tags(_));
            match number(label) {
                Some(v) => fractions |= v.fract() != 0.0,
                None => all_numbers = false,
            }
        }
        let (task, evidence) = match (tags, any && all_numbers, fractions) {
            (true, _, _) => (Task::MultiLabel, Evidence::Lists),
            (false, true, true) => (Task::Regression, Evidence::Fractions),
            (false, true, false) => (Task::SingleLabel, Evidence::WholeNumbers),
            (false, false, _) => (Task::SingleLabel, Evidence::Classes),
        };
        TaskChoice { task, evidence }
    }

    /// `label` in this task's form (a class as a set of one, a number written as
    /// text as its value, …), or why it does not fit.
    pub fn read(self, label: Label) -> Result<Label, String> {
        let refuse = |label: &Label, problem: &str| {
            let written = serde_json::to_string(label).expect("a label always serialises");
            Err(format!("the label {written} {problem}"))
        };
        match (self, label) {
            (Task::SingleLabel, Label::Class(c)) => Ok(Label::Class(c)),
            (Task::SingleLabel, Label::Value(v)) => Ok(Label::Class(v.to_string())),
            (Task::SingleLabel, tags @ Label::Tags(_)) => refuse(
                &tags,
                "is a list, and single-label data has one class per record (is the task \
                 multi-label?)",
            ),
            (Task::MultiLabel, Label::Class(c)) => Ok(Label::tags([c])),
            (Task::MultiLabel, Label::Tags(t)) => Ok(Label::tags(t)),
            (Task::MultiLabel, Label::Value(v)) => Ok(Label::tags([v.to_string()])),
            (Task::Regression, label) => match number(&label) {
                Some(v) => Ok(Label::Value(v)),
                None => refuse(
                    &label,
                    "is not a finite number, and regression reads values",
                ),
            },
        }
    }
}

/// A label that is a finite number (or a class spelled as one).
fn number(label: &Label) -> Option<f64> {
    match label {
        Label::Value(v) => Some(*v),
        Label::Class(c) => c.trim().parse::<f64>().ok(),
        Label::Tags(_) => None,
    }
    .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(c: &str) -> Label {
        Label::from(c)
    }

    #[test]
    fn the_labels_form_says_the_task() {
        let cases = [
            (vec![class("a"), class("b")], Task::SingleLabel),
            (vec![class("0"), class("1")], Task::SingleLabel),
            (vec![class("0.5"), class("-2")], Task::Regression),
            (vec![Label::tags(["x"]), class("y")], Task::MultiLabel),
            (vec![class("inf"), class("0.5")], Task::SingleLabel),
            (vec![], Task::SingleLabel),
        ];
        for (labels, task) in cases {
            let choice = Task::choose(&labels, None);
            assert_eq!(choice.task, task, "{labels:?}");
            for label in labels {
                assert_eq!(task.read(label).unwrap().task(), task);
            }
        }
        assert_eq!(
            Task::choose(&[class("a")], Some(Task::MultiLabel)).task,
            Task::MultiLabel
        );
    }

    #[test]
    fn a_label_is_read_in_the_tasks_form_or_refused_with_the_reason() {
        assert_eq!(Task::Regression.read(class(" 3 ")), Ok(Label::Value(3.0)));
        assert_eq!(Task::MultiLabel.read(class("b")), Ok(Label::tags(["b"])));
        assert_eq!(Task::SingleLabel.read(Label::Value(2.0)), Ok(class("2")));
        let error = Task::Regression.read(class("high")).unwrap_err();
        assert!(
            error.contains(r#""high" is not a finite number"#),
            "{error}"
        );
        let error = Task::SingleLabel.read(Label::tags(["a"])).unwrap_err();
        assert!(error.contains("task multi-label?"), "{error}");
    }
}
