use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{DataError, Label, LabelMap, SplitName, Splits, Task};

/// Where a data set came from and what is in it: written beside the split files so a
/// result can always be traced to its exact data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The data set's short name (`r8`, `spam`).
    pub name: String,
    /// What it is, in a sentence.
    pub description: String,
    /// The package it was converted from.
    pub source: SourceInfo,
    /// Its licence, as its source states it.
    pub licence: String,
    /// How the splits were made (official split, seeded stratified split, …).
    pub split_method: String,
    /// The seed of any split made during conversion.
    pub seed: u64,
    /// What its labels are: classes, sets of labels or values (manifests written
    /// before there was a choice are single-label).
    #[serde(default)]
    pub task: Task,
    /// The class names, sorted (none for regression).
    pub labels: Vec<String>,
    /// Each split file (`train`, `validation`, `test`) and what it holds.
    pub splits: BTreeMap<String, SplitInfo>,
    /// Anything a user should know: duplicates dropped, texts cleaned, ….
    pub notes: Vec<String>,
}

/// The registry package a data set was converted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `pypi` or `npm`.
    pub registry: String,
    /// The package's name in its registry.
    pub package: String,
    /// The pinned version.
    pub version: String,
    /// The file inside the package the data came from.
    pub file: String,
    /// The downloaded package's SHA-256.
    pub sha256: String,
}

/// One split file: size, class counts and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// The split's file name, relative to the data folder.
    pub file: String,
    /// How many records it holds.
    pub records: usize,
    /// Records per class (per label, for sets of labels).
    pub class_counts: BTreeMap<String, usize>,
    /// The values' distribution, for regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<ValueSummary>,
    /// The file's SHA-256.
    pub sha256: String,
}

/// How a split's values are spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueSummary {
    /// The mean.
    pub mean: f64,
    /// The standard deviation (of the population).
    pub std: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// Values are finite, so equality is an equivalence.
impl Eq for ValueSummary {}

impl ValueSummary {
    /// The summary of some values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Some(Self {
            mean,
            std: variance.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

impl Manifest {
    /// Describes `splits` as written in `dir` (checksums are of the files there).
    pub fn describe_splits(
        dir: &Path,
        splits: &Splits,
        labels: &LabelMap,
    ) -> Result<BTreeMap<String, SplitInfo>, DataError> {
        SplitName::ALL
            .iter()
            .map(|&name| {
                let records = splits.get(name);
                let class_counts = labels
                    .names()
                    .iter()
                    .cloned()
                    .zip(labels.counts(records))
                    .collect();
                let values: Vec<f64> = records
                    .iter()
                    .filter_map(|r| r.label.as_ref().and_then(Label::value))
                    .collect();
                let info = SplitInfo {
                    file: name.file_name().into(),
                    records: records.len(),
                    class_counts,
                    values: ValueSummary::of(&values),
                    sha256: sha256_file(&dir.join(name.file_name()))?,
                };
                Ok((name.to_string(), info))
            })
            .collect()
    }

    /// Writes the manifest as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        Ok(artifacts::write_json(path, self)?)
    }

    /// Reads a manifest written by [`Manifest::write`].
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| DataError::Format {
            path: path.to_owned(),
            message: e.to_string().into(),
        })
    }
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    Ok(artifacts::sha256_file(path)?)
}
