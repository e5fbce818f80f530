use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Label, Record};

/// Class (or, multi-label, label) names and their indices. Names are sorted, so the
/// same label set always gets the same indices, whatever order the records came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    names: Vec<String>,
}

impl LabelMap {
    /// The classes, or the labels of sets, that occur in `records` (unlabelled
    /// records and values are ignored).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        Self::from_labels(records.into_iter().flat_map(names).map(String::as_str))
    }

    /// The distinct labels of a sequence, sorted.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        let names: BTreeSet<&str> = labels.into_iter().collect();
        Self {
            names: names.into_iter().map(str::to_owned).collect(),
        }
    }

    /// The index of a class name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// The name of a class index.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// The class names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no classes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// How many records carry each label (as their class or among their set), in
    /// index order.
    pub fn counts<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> Vec<usize> {
        let mut counts = vec![0; self.len()];
        for index in records
            .into_iter()
            .flat_map(names)
            .filter_map(|l| self.index(l))
        {
            counts[index] += 1;
        }
        counts
    }
}

/// The names a record's label holds: its class, or the labels of its set.
fn names(record: &Record) -> &[String] {
    match &record.label {
        Some(Label::Class(class)) => std::slice::from_ref(class),
        Some(Label::Tags(tags)) => tags,
        Some(Label::Value(_)) | None => &[],
    }
}
