use std::path::PathBuf;

use crate::{ArtifactKind, MARKER_FILE};

/// Why an artifact could not be written, replaced or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file system refused an operation.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: `read`, `create`, `rename`, ….
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A path that is never written over, whatever it holds.
    #[error("{path} is {what}: bertcls never writes over it; name a new path inside it instead")]
    Protected {
        /// The protected path.
        path: PathBuf,
        /// What it is (the working folder, the home folder, …).
        what: &'static str,
    },

    /// The path holds something bertcls did not write.
    #[error(
        "{path} already exists and holds {found}, which bertcls did not write: choose another \
         path (bertcls replaces only what it made itself)"
    )]
    Foreign {
        /// The occupied path.
        path: PathBuf,
        /// What is there, in words.
        found: String,
    },

    /// The path holds a bertcls artifact of another kind than the one to be written.
    #[error(
        "{path} holds a bertcls {found}, not a {wanted}: choose another path, or ask for it to \
         be replaced"
    )]
    OtherKind {
        /// The occupied path.
        path: PathBuf,
        /// The kind of artifact it holds.
        found: ArtifactKind,
        /// The kind that was to be written.
        wanted: ArtifactKind,
    },

    /// A file at an output path that is not one bertcls wrote.
    #[error(
        "{path} already exists and is not a {kind} bertcls wrote: choose another path \
         (bertcls replaces only what it made itself)"
    )]
    ForeignFile {
        /// The occupied path.
        path: PathBuf,
        /// The kind of file that was to be written.
        kind: crate::FileKind,
    },

    /// A file where a folder is needed, a link, or the like.
    #[error("{path} is {found}, where {wanted} is needed")]
    WrongType {
        /// The path.
        path: PathBuf,
        /// What it is.
        found: &'static str,
        /// What is needed there.
        wanted: &'static str,
    },

    /// The marker of an artifact folder cannot be read.
    #[error("{path}: its record of what bertcls wrote ({MARKER_FILE}) is unreadable: {message}")]
    BadMarker {
        /// The artifact folder.
        path: PathBuf,
        /// Why the marker cannot be read.
        message: String,
    },

    /// An artifact of another kind than the one asked for.
    #[error("{path} is a bertcls {found}, not the {wanted} expected here")]
    Unexpected {
        /// The artifact folder.
        path: PathBuf,
        /// The kind it is.
        found: ArtifactKind,
        /// The kind that was asked for.
        wanted: ArtifactKind,
    },

    /// A file of a sealed artifact no longer matches its recorded checksum.
    #[error(
        "{path}: {file} {problem} since bertcls wrote it (the {kind} was damaged or edited: \
         its checksum no longer matches the one in {MARKER_FILE}); write it again"
    )]
    Tampered {
        /// The artifact folder.
        path: PathBuf,
        /// Its kind.
        kind: ArtifactKind,
        /// The damaged file, relative to the folder.
        file: String,
        /// What changed: `is missing`, `has changed`, ….
        problem: &'static str,
    },
}

impl ArtifactError {
    /// An I/O failure of `action` on `path`, keeping the cause as the source.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArtifactError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
