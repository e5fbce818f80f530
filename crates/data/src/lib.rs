//! Labelled text data: what a record is, how users' files are read, how the real data
//! sets are converted, split and described.
//!
//! The canonical form of a data set is a folder with `train.jsonl`, `validation.jsonl`,
//! `test.jsonl` (one [`Record`] per line: `{"id","text","label"}`, the label a class, a list of
//! labels or a value ([`Label`], [`Task`]), plus `text_b` for
//! sentence pairs) and a `manifest.json` ([`Manifest`]) recording where it came from.
//! Users' own CSV, TSV and JSONL files are read by [`read_records`], which reports
//! bad rows with file and line, from a file, a pipe or standard input (`-`), in
//! bounded memory.

#![warn(missing_docs)]

mod class_share;
mod error;
mod formats;
mod iterative_stratification;
mod label;
mod labelled_text;
mod labels;
mod manifest;
mod reader;
mod record;
mod rng;
mod rows;
mod sampling;
mod source;
pub mod sources;
mod split;
mod task;
#[cfg(test)]
mod test_records;

pub use class_share::ClassShare;
pub use error::{BadRow, DataError};
pub use formats::{FileFormat, MAX_ROW_BYTES, MAX_TEXT_BYTES, ReadOptions, TEXT_B_FIELD};
pub use iterative_stratification::multi_label_folds;
pub use label::Label;
pub use labelled_text::LabelledText;
pub use labels::LabelMap;
pub use manifest::{Manifest, SourceInfo, SplitInfo, ValueSummary, sha256_file};
pub use reader::{ReadOutcome, read_records};
pub use record::{Record, jsonl_bytes, write_jsonl};
pub use rng::SplitMix64;
pub use sampling::{Sampling, bootstrap_sample};
pub use source::{
    MAX_SETTINGS_BYTES, STDIN, is_stdin, open_input, read_text_file, source_name, text_lines,
};
pub use split::{
    SplitName, Splits, VALUE_STRATA, per_class_sample, stratified_folds, stratified_split,
    value_bins,
};
pub use task::{Evidence, Task, TaskChoice};
