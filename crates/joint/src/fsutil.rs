//! Folders written whole or not at all.

use std::fs;
use std::path::{Path, PathBuf};

use crate::JointError;

/// `dir` with `suffix` appended to its last component.
pub(crate) fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// An empty `<dir>.partial` folder to write `dir`'s new contents into.
pub(crate) fn partial_dir(dir: &Path) -> Result<PathBuf, JointError> {
    let partial = sibling(dir, ".partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| JointError::file("clear", &partial, e))?;
    }
    fs::create_dir_all(&partial).map_err(|e| JointError::file("create", &partial, e))?;
    Ok(partial)
}

/// Replaces `dir` by the finished `partial` with two renames; between them the
/// previous version survives as `<dir>.old`, so some complete version always exists.
pub(crate) fn install_dir(partial: &Path, dir: &Path) -> Result<(), JointError> {
    let old = sibling(dir, ".old");
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| JointError::file("remove", &old, e))?;
    }
    if dir.exists() {
        fs::rename(dir, &old).map_err(|e| JointError::file("replace", dir, e))?;
    }
    fs::rename(partial, dir).map_err(|e| JointError::file("install", dir, e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| JointError::file("remove", &old, e))?;
    }
    Ok(())
}
