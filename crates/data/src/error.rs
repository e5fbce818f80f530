use std::fmt;
use std::path::PathBuf;

/// One row of an input file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file.
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Errors from reading, converting or writing data sets.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },

    #[error(
        "{path}:{}: {} (fix the row, or pass --skip-bad-rows to drop bad rows)",
        .row.line, .row.reason
    )]
    BadRow { path: PathBuf, row: BadRow },

    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },

    #[error("{path}: no usable records")]
    Empty { path: PathBuf },

    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            cause,
        }
    }
}
