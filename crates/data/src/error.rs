use std::fmt;
use std::path::PathBuf;

/// One row of an input file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong with it.
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
    /// The file could not be read or written.
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        cause: std::io::Error,
    },

    /// A row that cannot be used.
    #[error(
        "{path}:{}: {} (fix the row, or skip bad rows)",
        .row.line, .row.reason
    )]
    BadRow {
        /// The file.
        path: PathBuf,
        /// The row and what is wrong with it.
        row: BadRow,
    },

    /// The file is not in the format its extension promises.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What does not fit; it may name the settings that read the file.
        message: settings::Message,
    },

    /// The file has no record that can be used.
    #[error("{path}: no usable records")]
    Empty {
        /// The file.
        path: PathBuf,
    },

    /// A converted data set could not be written.
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
