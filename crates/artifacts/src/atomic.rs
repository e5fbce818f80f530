//! Files written whole or not at all.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ArtifactError;

/// Distinguishes temporary names made by one process.
static NEXT_TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// `.<name>.bertcls-<what>-<pid>-<n>` beside `path`: a name no user file has, unique
/// to this process and call, and hidden so that it does not clutter a listing.
pub(crate) fn temporary_sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let n = NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.bertcls-{what}-{}-{n}", std::process::id()))
}

/// A file being written under a temporary name beside its final path. Nothing
/// appears under the final name until [`commit`](Self::commit); dropped without a
/// commit (an error on the way), the temporary file is removed.
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (its folder must exist).
    pub fn create(target: &Path) -> Result<Self, ArtifactError> {
        let temporary = temporary_sibling(target, "tmp");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(|e| ArtifactError::io("create", &temporary, e))?;
        Ok(Self {
            target: target.to_owned(),
            temporary,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Flushes, syncs to disk and renames the file into place. If any of it fails
    /// (a full disk), the temporary file is removed and nothing is renamed.
    pub fn commit(mut self) -> Result<(), ArtifactError> {
        let writer = self.writer.take().expect("committed once");
        let written = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .and_then(|()| std::fs::rename(&self.temporary, &self.target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&self.temporary);
            return Err(ArtifactError::io("write", &self.target, e));
        }
        sync_parent(&self.target);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Not committed: the temporary file is ours and incomplete.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file, sync, rename). For files
/// inside folders bertcls owns; a path the user names goes through
/// [`write_output_file`](crate::write_output_file), which first checks what is there.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| ArtifactError::io("write", path, e))?;
    file.commit()
}

/// Writes `value` as pretty-printed JSON to `path` atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ArtifactError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| ArtifactError::io("serialise", path, std::io::Error::other(e)))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Makes a rename durable: syncs the folder that holds `path`. Best effort: some
/// platforms and file systems cannot sync a folder, and the rename itself stands.
pub(crate) fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// SHA-256 of a file's content, in hex.
pub fn sha256_file(path: &Path) -> Result<String, ArtifactError> {
    let mut file = File::open(path).map_err(|e| ArtifactError::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| ArtifactError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_under_the_final_name_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn an_abandoned_write_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn checksums_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        write_atomic(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
