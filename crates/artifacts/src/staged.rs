//! Folders built beside their final path and swapped in, and folders claimed to be
//! filled in place.

use std::path::{Path, PathBuf};

use crate::atomic::{sync_parent, temporary_sibling};
use crate::target::check_folder_target;
use crate::{ArtifactError, ArtifactKind, Marker, Occupant, Overwrite, mark, seal};

/// Tags a staging folder as bertcls's, with the id of the process building it, so
/// that a later run can tell an abandoned one from a user's folder.
const STAGING_TAG: &str = "bertcls-staging";
/// The stamp of a resumable staging folder: what its partial content was made for.
const STAMP_FILE: &str = "bertcls-stamp";

/// An artifact folder under construction: written at a hidden sibling of its final
/// path and swapped in by [`commit`](Self::commit), so the final path holds the
/// previous version or the complete new one, never a mix. Dropped uncommitted, a
/// fresh staging folder is removed; a resumable one stays for the next run.
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    kind: ArtifactKind,
    overwrite: Overwrite,
    resumable: bool,
    committed: bool,
}

impl StagedDir {
    /// Starts a new artifact of `kind` for `target`, after checking that `target`
    /// may receive it.
    pub fn new(
        target: &Path,
        kind: ArtifactKind,
        overwrite: Overwrite,
    ) -> Result<Self, ArtifactError> {
        check_folder_target(target, kind, overwrite)?;
        create_parent(target)?;
        remove_abandoned_stagings(target);
        let staging = temporary_sibling(target, "staging");
        create_tagged(&staging, None)?;
        Ok(Self {
            target: target.to_owned(),
            staging,
            kind,
            overwrite,
            resumable: false,
            committed: false,
        })
    }

    /// Like [`new`](Self::new), but at a fixed staging path that survives an
    /// interruption: when the staging folder left by an earlier run was made for
    /// the same `stamp`, its content is kept (returned `true`) so the work can
    /// resume; otherwise it starts empty.
    pub fn resumable(
        target: &Path,
        kind: ArtifactKind,
        overwrite: Overwrite,
        stamp: &str,
    ) -> Result<(Self, bool), ArtifactError> {
        check_folder_target(target, kind, overwrite)?;
        create_parent(target)?;
        remove_abandoned_stagings(target);
        let staging = Self::resumable_path(target);
        let resumed = match std::fs::symlink_metadata(&staging) {
            Err(_) => false,
            Ok(metadata) if metadata.is_dir() && staging.join(STAGING_TAG).is_file() => {
                let same =
                    std::fs::read_to_string(staging.join(STAMP_FILE)).is_ok_and(|s| s == stamp);
                if !same {
                    // Moved out of the fixed path first, so that a run killed while
                    // removing it leaves nothing there that the next run cannot tell
                    // for bertcls's (the tag may go before the rest).
                    let doomed = temporary_sibling(target, "old");
                    std::fs::rename(&staging, &doomed)
                        .map_err(|e| ArtifactError::io("move aside", &staging, e))?;
                    remove_tree(&doomed)?;
                }
                same
            }
            Ok(_) => {
                return Err(ArtifactError::Foreign {
                    path: staging,
                    found: "files without bertcls's staging tag".into(),
                });
            }
        };
        if !resumed {
            create_tagged(&staging, Some(stamp))?;
        }
        let dir = Self {
            target: target.to_owned(),
            staging,
            kind,
            overwrite,
            resumable: true,
            committed: false,
        };
        Ok((dir, resumed))
    }

    /// Where [`resumable`](Self::resumable) keeps the partial work for `target`.
    pub fn resumable_path(target: &Path) -> PathBuf {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        target.with_file_name(format!(".{name}.bertcls-partial"))
    }

    /// The folder to write the artifact's files into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The path the artifact will have.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Marks the finished folder (sealed: with the checksum of every file, so a
    /// later [`verify`](crate::verify) catches any change) and swaps it into place,
    /// replacing the previous artifact there. Returns the final path.
    pub fn commit(mut self, sealed: bool) -> Result<PathBuf, ArtifactError> {
        if self.resumable {
            // Out of the fixed resumable path before the tag goes: a run killed while
            // committing leaves an ordinary staging folder, tagged with this process
            // (removed by the next run as abandoned), never an untagged folder at the
            // path the next run resumes from, which it would have to refuse.
            let moved = temporary_sibling(&self.target, "staging");
            let pid = std::process::id().to_string();
            crate::write_atomic(&self.staging.join(STAGING_TAG), pid.as_bytes())?;
            std::fs::rename(&self.staging, &moved)
                .map_err(|e| ArtifactError::io("move aside", &self.staging, e))?;
            self.staging = moved;
            self.resumable = false;
        }
        for name in [STAGING_TAG, STAMP_FILE] {
            let path = self.staging.join(name);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| ArtifactError::io("remove", &path, e))?;
            }
        }
        if sealed {
            seal(&self.staging, self.kind)?;
        } else {
            mark(&self.staging, self.kind)?;
        }
        // Checked again: the target may have changed while the artifact was built.
        match check_folder_target(&self.target, self.kind, self.overwrite)? {
            Occupant::Nothing | Occupant::EmptyFolder => {
                std::fs::rename(&self.staging, &self.target)
                    .map_err(|e| ArtifactError::io("move into place", &self.target, e))?;
            }
            Occupant::Artifact(_) => {
                swap(&self.staging, &self.target)?;
                // The previous artifact is now at the staging path.
                remove_tree(&self.staging)?;
            }
        }
        sync_parent(&self.target);
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // A resumable staging folder is kept for the next run, unless it holds no
        // work to resume (the build failed before its first piece).
        let holds_work = self.resumable
            && std::fs::read_dir(&self.staging).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name();
                    name != STAGING_TAG && name != STAMP_FILE
                })
            });
        if !holds_work {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Exchanges two folders atomically where the platform can (Linux's
/// `renameat2(RENAME_EXCHANGE)`), else with two renames.
fn swap(new: &Path, target: &Path) -> Result<(), ArtifactError> {
    #[cfg(target_os = "linux")]
    if exchange(new, target).is_ok() {
        return Ok(());
    }
    let old = temporary_sibling(target, "old");
    std::fs::rename(target, &old).map_err(|e| ArtifactError::io("move aside", target, e))?;
    if let Err(e) = std::fs::rename(new, target) {
        let _ = std::fs::rename(&old, target);
        return Err(ArtifactError::io("move into place", target, e));
    }
    std::fs::rename(&old, new).map_err(|e| ArtifactError::io("move aside", &old, e))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let result = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn create_parent(target: &Path) -> Result<(), ArtifactError> {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|e| ArtifactError::io("create", parent, e))
        }
        _ => Ok(()),
    }
}

/// Creates the staging folder `path` with its tag (and stamp) already inside: it is
/// made under a temporary name and renamed, so that a run killed at any moment leaves
/// no staging folder that cannot be told for bertcls's.
fn create_tagged(path: &Path, stamp: Option<&str>) -> Result<(), ArtifactError> {
    let temporary = temporary_sibling(path, "tmp");
    std::fs::create_dir(&temporary).map_err(|e| ArtifactError::io("create", &temporary, e))?;
    let pid = std::process::id().to_string();
    let filled = crate::write_atomic(&temporary.join(STAGING_TAG), pid.as_bytes()).and_then(|()| {
        stamp.map_or(Ok(()), |s| {
            crate::write_atomic(&temporary.join(STAMP_FILE), s.as_bytes())
        })
    });
    let renamed = filled.and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|e| ArtifactError::io("create", path, e))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    renamed
}

fn remove_tree(path: &Path) -> Result<(), ArtifactError> {
    std::fs::remove_dir_all(path).map_err(|e| ArtifactError::io("remove", path, e))
}

/// Removes the artifact folder at `path` without it ever standing torn under its
/// name: one rename moves it aside to a staging name of this process, then it is
/// deleted file by file. A run killed while deleting leaves a hidden staging folder,
/// tagged with its process, which the next staging of `path` removes as abandoned
/// (only a kill between the rename and the tag, microseconds, leaves it untagged).
fn remove_whole(path: &Path) -> Result<(), ArtifactError> {
    let aside = temporary_sibling(path, "staging");
    std::fs::rename(path, &aside).map_err(|e| ArtifactError::io("move aside", path, e))?;
    // Tagged once aside, so that the folder at `path` is never changed in place.
    let pid = std::process::id().to_string();
    crate::write_atomic(&aside.join(STAGING_TAG), pid.as_bytes())?;
    remove_tree(&aside)
}

/// Removes staging folders of `target` that a killed run left behind: tagged as
/// bertcls's by a process that no longer runs (known on Linux only; elsewhere they
/// are left alone).
fn remove_abandoned_stagings(target: &Path) {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!(".{}.bertcls-staging-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let tagged = std::fs::read_to_string(path.join(STAGING_TAG))
            .is_ok_and(|t| t.trim() == pid.to_string());
        if tagged && !crate::process::is_running(pid) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Claims `path` as a folder of `kind` to be filled in place (a run folder, a
/// report folder): creates and marks it, or reuses it when it already is one.
/// With [`Overwrite::AnyOwn`], a bertcls artifact of another kind there is removed
/// first. Refused as [`check_folder_target`] refuses.
pub fn claim_dir(
    path: &Path,
    kind: ArtifactKind,
    overwrite: Overwrite,
) -> Result<PathBuf, ArtifactError> {
    match check_folder_target(path, kind, overwrite)? {
        Occupant::Nothing => {
            std::fs::create_dir_all(path).map_err(|e| ArtifactError::io("create", path, e))?;
            mark(path, kind)?;
        }
        Occupant::EmptyFolder => mark(path, kind)?,
        Occupant::Artifact(found) if found == kind => {
            if Marker::read(path)?.is_none() {
                mark(path, kind)?;
            }
        }
        Occupant::Artifact(_) => {
            remove_whole(path)?;
            std::fs::create_dir_all(path).map_err(|e| ArtifactError::io("create", path, e))?;
            mark(path, kind)?;
        }
    }
    Ok(path.to_owned())
}

/// Removes the artifact folder `path` if it is a `kind` bertcls wrote; anything
/// else there is left alone (and reported).
pub fn remove_own_dir(path: &Path, kind: ArtifactKind) -> Result<(), ArtifactError> {
    match check_folder_target(path, kind, Overwrite::SameKind)? {
        Occupant::Nothing => Ok(()),
        Occupant::EmptyFolder => remove_tree(path),
        Occupant::Artifact(_) => remove_whole(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify;

    #[test]
    fn a_staged_folder_appears_whole_and_replaces_its_predecessor() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("r8.head");
        for version in ["one", "two"] {
            let staged = StagedDir::new(&target, ArtifactKind::Head, Overwrite::SameKind).unwrap();
            std::fs::write(staged.path().join("head.json"), version).unwrap();
            assert!(
                !target.join("head.json").exists()
                    || std::fs::read_to_string(target.join("head.json")).unwrap() != version
            );
            staged.commit(true).unwrap();
            assert_eq!(
                std::fs::read_to_string(target.join("head.json")).unwrap(),
                version
            );
            verify(&target, ArtifactKind::Head).unwrap().unwrap();
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["r8.head"], "no staging or old folder is left");
    }

    #[test]
    fn an_abandoned_staging_is_removed_and_a_failed_one_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.emb");
        let staged =
            StagedDir::new(&target, ArtifactKind::EmbeddingCache, Overwrite::SameKind).unwrap();
        let staging = staged.path().to_owned();
        drop(staged);
        assert!(!staging.exists());
        // A staging folder tagged by a process that no longer exists.
        let stale = dir.path().join(".x.emb.bertcls-staging-999999999-0");
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join(STAGING_TAG), "999999999").unwrap();
        let _staged =
            StagedDir::new(&target, ArtifactKind::EmbeddingCache, Overwrite::SameKind).unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn an_artifact_is_removed_aside_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("checkpoint");
        let kind = ArtifactKind::Checkpoint;
        let staged = StagedDir::new(&target, kind, Overwrite::SameKind).unwrap();
        for name in ["model.bpk", "optimizer.bpk", "state.json"] {
            std::fs::write(staged.path().join(name), name).unwrap();
        }
        staged.commit(true).unwrap();
        remove_own_dir(&target, kind).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        // What a removal killed midway leaves (aside, tagged by a process now gone,
        // half deleted) goes with the next staging of the same target.
        let aside = temporary_sibling(&target, "staging");
        let dead = aside.with_file_name(".checkpoint.bertcls-staging-999999999-0");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("model.bpk"), "half").unwrap();
        std::fs::write(dead.join(STAGING_TAG), "999999999").unwrap();
        let _staged = StagedDir::new(&target, kind, Overwrite::SameKind).unwrap();
        assert!(!dead.exists());
    }

    #[test]
    fn a_resumable_staging_survives_until_its_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("y.emb");
        let kind = ArtifactKind::EmbeddingCache;
        let (staged, resumed) =
            StagedDir::resumable(&target, kind, Overwrite::SameKind, "spec-1").unwrap();
        assert!(!resumed);
        let staging = staged.path().to_owned();
        drop(staged);
        assert!(
            !staging.exists(),
            "a staging folder with no work in it goes"
        );
        let (staged, _) =
            StagedDir::resumable(&target, kind, Overwrite::SameKind, "spec-1").unwrap();
        std::fs::write(staged.path().join("chunk-0"), "done").unwrap();
        drop(staged);
        let (staged, resumed) =
            StagedDir::resumable(&target, kind, Overwrite::SameKind, "spec-1").unwrap();
        assert!(resumed && staged.path().join("chunk-0").exists());
        drop(staged);
        let (staged, resumed) =
            StagedDir::resumable(&target, kind, Overwrite::SameKind, "spec-2").unwrap();
        assert!(!resumed && !staged.path().join("chunk-0").exists());
        staged.commit(true).unwrap();
        assert!(!target.join(STAMP_FILE).exists() && !target.join(STAGING_TAG).exists());
        let names = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), ["y.emb"], "the resumable path is gone");
        // What a run killed while committing leaves (the folder moved off the
        // resumable path, still tagged by its dead process) is removed by the next.
        let killed = dir.path().join(".y.emb.bertcls-staging-999999999-0");
        std::fs::create_dir(&killed).unwrap();
        std::fs::write(killed.join(STAGING_TAG), "999999999").unwrap();
        let (staged, resumed) =
            StagedDir::resumable(&target, kind, Overwrite::SameKind, "spec-3").unwrap();
        assert!(!resumed && !killed.exists());
        drop(staged);
        assert_eq!(names(dir.path()), ["y.emb"]);
    }

    #[test]
    fn claiming_keeps_what_is_inside_and_refuses_foreign_folders() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        claim_dir(&run, ArtifactKind::FineTuneRun, Overwrite::SameKind).unwrap();
        std::fs::write(run.join("training.json"), "{}").unwrap();
        claim_dir(&run, ArtifactKind::FineTuneRun, Overwrite::SameKind).unwrap();
        assert!(run.join("training.json").exists());
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.tex"), "years of work").unwrap();
        assert!(claim_dir(&foreign, ArtifactKind::FineTuneRun, Overwrite::AnyOwn).is_err());
        assert!(remove_own_dir(&foreign, ArtifactKind::Checkpoint).is_err());
        assert!(foreign.join("thesis.tex").exists());
    }
}
