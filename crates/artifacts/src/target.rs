//! What may be written where: the checks made before anything is replaced.

use std::path::{Path, PathBuf};

use crate::{ArtifactError, ArtifactKind, Marker};

/// The path that names standard output where a single file is written.
pub const STDOUT: &str = "-";

/// Which existing bertcls artifacts an output may replace. Nothing bertcls did not
/// write is ever replaced, whichever is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Only an artifact of the kind being written (a head by a head, …).
    #[default]
    SameKind,
    /// Any bertcls artifact (`--force`): a head where a cache was, say.
    AnyOwn,
}

/// What an output folder's path holds now, once it is known that it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant {
    /// Nothing: the folder will be created.
    Nothing,
    /// An empty folder, which the artifact takes over.
    EmptyFolder,
    /// A bertcls artifact of this kind, which the new one replaces.
    Artifact(ArtifactKind),
}

/// Checks that `path` may receive a folder artifact of `kind`, and says what it
/// replaces. Refused: protected paths (the root, home and current folders and
/// their ancestors), files and links, folders holding anything bertcls did not
/// write, and (unless `overwrite` is [`Overwrite::AnyOwn`]) artifacts of another
/// kind.
pub fn check_folder_target(
    path: &Path,
    kind: ArtifactKind,
    overwrite: Overwrite,
) -> Result<Occupant, ArtifactError> {
    if path.as_os_str() == STDOUT {
        return Err(wrong_type(path, "standard output", "a folder"));
    }
    refuse_protected(path)?;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Occupant::Nothing),
        Err(e) => return Err(ArtifactError::io("inspect", path, e)),
    };
    if !metadata.is_dir() {
        return Err(wrong_type(path, file_type_noun(&metadata), "a folder"));
    }
    let found = match Marker::read(path)? {
        Some(marker) => marker.kind,
        None => match ArtifactKind::of_legacy_folder(path) {
            Some(kind) => kind,
            None => return foreign_or_empty(path),
        },
    };
    if found == kind || overwrite == Overwrite::AnyOwn {
        Ok(Occupant::Artifact(found))
    } else {
        Err(ArtifactError::OtherKind {
            path: path.to_owned(),
            found,
            wanted: kind,
        })
    }
}

/// An unmarked folder: usable when empty, refused (naming a few of its entries)
/// otherwise. A folder holding only what a killed bertcls was writing into it (its
/// marker, say, under a temporary name: [`is_abandoned_temporary`]) is bertcls's
/// own half-made folder: those files are removed and the folder is empty.
fn foreign_or_empty(path: &Path) -> Result<Occupant, ArtifactError> {
    let entries = std::fs::read_dir(path).map_err(|e| ArtifactError::io("list", path, e))?;
    let (abandoned, mut names): (Vec<String>, Vec<String>) = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .partition(|name| is_abandoned_temporary(name));
    if names.is_empty() {
        for name in abandoned {
            let file = path.join(name);
            std::fs::remove_file(&file).map_err(|e| ArtifactError::io("remove", &file, e))?;
        }
        return Ok(Occupant::EmptyFolder);
    }
    names.sort();
    let total = names.len();
    names.truncate(3);
    let more = if total > 3 {
        format!(", … ({total} entries)")
    } else {
        String::new()
    };
    Err(ArtifactError::Foreign {
        path: path.to_owned(),
        found: format!("{}{more}", names.join(", ")),
    })
}

/// True for a file bertcls was writing under a temporary name
/// (`.NAME.bertcls-tmp-PID-N`, as [`AtomicFile`](crate::AtomicFile) names it) whose
/// process is no longer running: killed before it could rename or remove it.
fn is_abandoned_temporary(name: &str) -> bool {
    let Some((_, tail)) = name.rsplit_once(".bertcls-tmp-") else {
        return false;
    };
    let Some((pid, n)) = tail.split_once('-') else {
        return false;
    };
    match (pid.parse::<u32>(), n.parse::<u64>()) {
        (Ok(pid), Ok(_)) => name.starts_with('.') && !crate::process::is_running(pid),
        _ => false,
    }
}

pub(crate) fn wrong_type(path: &Path, found: &'static str, wanted: &'static str) -> ArtifactError {
    ArtifactError::WrongType {
        path: path.to_owned(),
        found,
        wanted,
    }
}

/// What a path that is not a folder is, in words.
fn file_type_noun(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a file"
    }
}

/// Refuses the paths never written over, whatever they hold: the file system's
/// root, the user's home, the current folder and every folder above it.
pub(crate) fn refuse_protected(path: &Path) -> Result<(), ArtifactError> {
    let protected = |what| ArtifactError::Protected {
        path: path.to_owned(),
        what,
    };
    let Some(resolved) = resolve(path) else {
        return Err(protected(
            "a path with no name of its own (such as .. or /)",
        ));
    };
    if resolved.parent().is_none() {
        return Err(protected("the root folder"));
    }
    let home = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok());
    if home.as_deref() == Some(resolved.as_path()) {
        return Err(protected("your home folder"));
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd == resolved {
            return Err(protected("the current folder"));
        }
        if cwd.starts_with(&resolved) {
            return Err(protected("a folder that holds the current folder"));
        }
    }
    Ok(())
}

/// The absolute path `path` names, links in its folders resolved (the last
/// component kept as written, so a link there is seen as a link). `None` when the
/// path has no last component to keep (`..`, `/`).
fn resolve(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let name = absolute.file_name()?;
    let parent = absolute.parent()?;
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    let joined = parent.join(name);
    // `a/.` names `a` itself: `absolute` keeps the dot, `file_name` skips it.
    if absolute.ends_with(".") {
        return std::fs::canonicalize(&absolute).ok();
    }
    Some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{mark, seal};

    /// A run killed while writing its marker leaves the marker under a temporary
    /// name: the next run takes the folder over; a live process's temporary, or a
    /// file of another name, still makes the folder foreign.
    #[test]
    fn a_folder_left_with_only_a_killed_runs_temporary_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sweep");
        std::fs::create_dir(&folder).unwrap();
        // No process has this id: Linux's largest is 2^22.
        let dead = folder.join(".bertcls-artifact.json.bertcls-tmp-999999999-0");
        std::fs::write(&dead, "{").unwrap();
        assert_eq!(
            check_folder_target(&folder, ArtifactKind::HeadSweep, Overwrite::SameKind).unwrap(),
            Occupant::EmptyFolder
        );
        assert!(!dead.exists());
        let alive = folder.join(format!(
            ".bertcls-artifact.json.bertcls-tmp-{}-0",
            std::process::id()
        ));
        std::fs::write(&alive, "{").unwrap();
        assert!(matches!(
            check_folder_target(&folder, ArtifactKind::HeadSweep, Overwrite::SameKind),
            Err(ArtifactError::Foreign { .. })
        ));
        std::fs::remove_file(&alive).unwrap();
        std::fs::write(folder.join("notes.bertcls-tmp-999999999-0"), "mine").unwrap();
        assert!(matches!(
            check_folder_target(&folder, ArtifactKind::HeadSweep, Overwrite::SameKind),
            Err(ArtifactError::Foreign { .. })
        ));
    }

    #[test]
    fn foreign_folders_and_files_are_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("mine");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
        let error = check_folder_target(&foreign, ArtifactKind::Head, Overwrite::AnyOwn)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("notes.txt") && error.contains("did not write"),
            "{error}"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            check_folder_target(&file, ArtifactKind::Head, Overwrite::SameKind),
            Err(ArtifactError::WrongType { .. })
        ));
    }

    #[test]
    fn own_artifacts_are_replaced_by_their_kind_and_others_only_when_forced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("a.emb");
        std::fs::create_dir(&cache).unwrap();
        seal(&cache, ArtifactKind::EmbeddingCache).unwrap();
        assert_eq!(
            check_folder_target(&cache, ArtifactKind::EmbeddingCache, Overwrite::SameKind).unwrap(),
            Occupant::Artifact(ArtifactKind::EmbeddingCache)
        );
        assert!(matches!(
            check_folder_target(&cache, ArtifactKind::Head, Overwrite::SameKind),
            Err(ArtifactError::OtherKind { .. })
        ));
        assert!(check_folder_target(&cache, ArtifactKind::Head, Overwrite::AnyOwn).is_ok());
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        mark(&run, ArtifactKind::FineTuneRun).unwrap();
        assert!(check_folder_target(&run, ArtifactKind::FineTuneRun, Overwrite::SameKind).is_ok());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            check_folder_target(&empty, ArtifactKind::Head, Overwrite::SameKind).unwrap(),
            Occupant::EmptyFolder
        );
    }

    #[test]
    fn an_older_versions_artifact_is_recognised_by_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let head = dir.path().join("old.head");
        std::fs::create_dir(&head).unwrap();
        std::fs::write(head.join("head.json"), "{}").unwrap();
        std::fs::write(head.join("weights.bpk"), "").unwrap();
        assert_eq!(
            check_folder_target(&head, ArtifactKind::Head, Overwrite::SameKind).unwrap(),
            Occupant::Artifact(ArtifactKind::Head)
        );
    }

    #[test]
    fn the_root_and_dot_dot_are_protected() {
        for path in ["/", "..", "../.."] {
            assert!(
                matches!(
                    check_folder_target(Path::new(path), ArtifactKind::Head, Overwrite::AnyOwn),
                    Err(ArtifactError::Protected { .. })
                ),
                "{path}"
            );
        }
        let cwd = std::env::current_dir().unwrap();
        for path in [Path::new("."), cwd.as_path(), cwd.parent().unwrap()] {
            assert!(matches!(
                refuse_protected(path),
                Err(ArtifactError::Protected { .. })
            ));
        }
    }
}
