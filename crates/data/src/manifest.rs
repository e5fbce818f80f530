use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{DataError, LabelMap, SplitName, Splits};

/// Where a data set came from and what is in it: written beside the split files so a
/// result can always be traced to its exact data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    pub source: SourceInfo,
    pub licence: String,
    /// How the splits were made (official split, seeded stratified split, …).
    pub split_method: String,
    pub seed: u64,
    pub labels: Vec<String>,
    pub splits: BTreeMap<String, SplitInfo>,
    /// Anything a user should know: duplicates dropped, texts cleaned, ….
    pub notes: Vec<String>,
}

/// The registry package a data set was converted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `pypi` or `npm`.
    pub registry: String,
    pub package: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

/// One split file: size, class counts and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitInfo {
    pub file: String,
    pub records: usize,
    pub class_counts: BTreeMap<String, usize>,
    pub sha256: String,
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
                let info = SplitInfo {
                    file: name.file_name().into(),
                    records: records.len(),
                    class_counts,
                    sha256: sha256_file(&dir.join(name.file_name()))?,
                };
                Ok((name.to_string(), info))
            })
            .collect()
    }

    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        Ok(artifacts::write_json(path, self)?)
    }

    pub fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| DataError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    Ok(artifacts::sha256_file(path)?)
}
