use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DataError;

/// One example: a text (or a pair of texts) and, when known, its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Stable identifier, unique within a data set.
    pub id: String,
    pub text: String,
    /// The second text of a sentence pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_b: Option<String>,
    /// The class name; `None` for unlabelled data (prediction inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Writes records as JSONL, atomically: to a temporary file renamed into place, so an
/// interrupted write never leaves a truncated file under the final name.
pub fn write_jsonl(path: &Path, records: &[Record]) -> Result<(), DataError> {
    let tmp = path.with_extension("jsonl.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let mut out = std::io::BufWriter::new(file);
    for record in records {
        let line = serde_json::to_string(record).expect("a record always serialises");
        writeln!(out, "{line}").map_err(|e| DataError::io(&tmp, e))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| DataError::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}
