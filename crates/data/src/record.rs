use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{DataError, Label};

/// One example: a text (or a pair of texts) and, when known, its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Stable identifier, unique within a data set.
    pub id: String,
    /// The text (the first one of a pair).
    pub text: String,
    /// The second text of a sentence pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_b: Option<String>,
    /// The label (a class, a set of labels or a value); `None` for unlabelled data
    /// (prediction inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
}

impl Record {
    /// The class of a single-label record.
    pub fn class(&self) -> Option<&str> {
        self.label.as_ref().and_then(Label::class)
    }
}

/// Writes records as JSONL, atomically: to a temporary file renamed into place, so an
/// interrupted write never leaves a truncated file under the final name. For files
/// in folders bertcls owns; see [`jsonl_bytes`] for a path the user names.
pub fn write_jsonl(path: &Path, records: &[Record]) -> Result<(), DataError> {
    Ok(artifacts::write_atomic(path, &jsonl_bytes(records))?)
}

/// Records as JSONL text, one per line.
pub fn jsonl_bytes(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record).expect("a record always serialises");
        out.push(b'\n');
    }
    out
}
