//! The marker file: what kind of artifact a folder is, that bertcls wrote it, and
//! (for sealed artifacts) the checksum of every file it wrote there.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::{sha256_file, write_json};
use crate::{ArtifactError, ArtifactKind};

/// The marker's name inside an artifact folder.
pub const MARKER_FILE: &str = "bertcls-artifact.json";

/// What `bertcls-artifact.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// What the folder is.
    pub kind: ArtifactKind,
    /// `bertcls <version>` that wrote it.
    pub written_by: String,
    /// Sealed artifacts: SHA-256 of each file (relative name → hex). Empty for
    /// folders whose content grows after they are claimed (run folders, reports).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

impl Marker {
    fn new(kind: ArtifactKind, files: BTreeMap<String, String>) -> Self {
        Self {
            kind,
            written_by: format!("bertcls {}", env!("CARGO_PKG_VERSION")),
            files,
        }
    }

    /// The marker of `dir`, or `None` when it has none.
    pub fn read(dir: &Path) -> Result<Option<Self>, ArtifactError> {
        let path = dir.join(MARKER_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ArtifactError::io("read", path, e)),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| ArtifactError::BadMarker {
                path: dir.to_owned(),
                message: e.to_string(),
            })
    }
}

/// Marks `dir` as a bertcls artifact of `kind` whose files may change later.
pub fn mark(dir: &Path, kind: ArtifactKind) -> Result<(), ArtifactError> {
    write_json(&dir.join(MARKER_FILE), &Marker::new(kind, BTreeMap::new()))
}

/// Marks `dir` as a finished artifact of `kind`, recording the checksum of every
/// file directly inside it (subfolders are artifacts of their own, with their own
/// markers). Each file is synced to disk first, so the marker never vouches for
/// data still in a write cache.
pub fn seal(dir: &Path, kind: ArtifactKind) -> Result<(), ArtifactError> {
    let mut files = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| ArtifactError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ArtifactError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name == MARKER_FILE || !path.is_file() {
            continue;
        }
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| ArtifactError::io("sync", &path, e))?;
        files.insert(name, sha256_file(&path)?);
    }
    write_json(&dir.join(MARKER_FILE), &Marker::new(kind, files))
}

/// Checks that `dir`, if it carries a marker, is an artifact of `kind` whose files
/// are those bertcls wrote. Returns the marker; `None` for a folder without one (an
/// older version's artifact, or a folder another tool wrote), which callers read on
/// their own terms.
pub fn verify(dir: &Path, kind: ArtifactKind) -> Result<Option<Marker>, ArtifactError> {
    let Some(marker) = Marker::read(dir)? else {
        return Ok(None);
    };
    if marker.kind != kind {
        return Err(ArtifactError::Unexpected {
            path: dir.to_owned(),
            found: marker.kind,
            wanted: kind,
        });
    }
    for (file, expected) in &marker.files {
        let path = dir.join(file);
        let tampered = |problem| ArtifactError::Tampered {
            path: dir.to_owned(),
            kind,
            file: file.clone(),
            problem,
        };
        if !path.is_file() {
            return Err(tampered("has gone missing"));
        }
        if &sha256_file(&path)? != expected {
            return Err(tampered("has changed"));
        }
    }
    Ok(Some(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_folder_verifies_until_a_byte_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("head.json"), "{}").unwrap();
        std::fs::write(dir.path().join("weights.bpk"), [1u8, 2, 3]).unwrap();
        seal(dir.path(), ArtifactKind::Head).unwrap();
        let marker = verify(dir.path(), ArtifactKind::Head).unwrap().unwrap();
        assert_eq!(marker.files.len(), 2);
        assert!(matches!(
            verify(dir.path(), ArtifactKind::EmbeddingCache),
            Err(ArtifactError::Unexpected { .. })
        ));
        std::fs::write(dir.path().join("weights.bpk"), [1u8, 2, 4]).unwrap();
        let error = verify(dir.path(), ArtifactKind::Head).unwrap_err();
        assert!(
            error.to_string().contains("weights.bpk has changed"),
            "{error}"
        );
        std::fs::remove_file(dir.path().join("weights.bpk")).unwrap();
        let error = verify(dir.path(), ArtifactKind::Head).unwrap_err();
        assert!(error.to_string().contains("has gone missing"), "{error}");
    }

    #[test]
    fn an_unmarked_folder_is_not_verified_and_a_broken_marker_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(verify(dir.path(), ArtifactKind::Head).unwrap(), None);
        std::fs::write(dir.path().join(MARKER_FILE), "{\"kind\": \"hed\"}").unwrap();
        assert!(matches!(
            verify(dir.path(), ArtifactKind::Head),
            Err(ArtifactError::BadMarker { .. })
        ));
    }
}
