//! The damage a file on disk can suffer (a flipped byte, a cut), as proptest
//! strategies, and copies of a saved artifact with one file damaged.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

/// One thing done to a file.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// The byte at `at` (modulo the length) XOR `mask` (never 0).
    Flip {
        /// The byte to change (taken modulo the length).
        at: usize,
        /// XORed into it (never 0).
        mask: u8,
    },
    /// Only the first `keep` bytes (modulo the length) are left.
    Truncate {
        /// Bytes to keep (taken modulo the length).
        keep: usize,
    },
}

/// Flips and cuts anywhere in a file.
pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        any::<usize>().prop_map(|keep| Damage::Truncate { keep }),
    ]
}

impl Damage {
    /// Damages the file at `path` in place.
    pub fn apply(self, path: &Path) {
        let mut bytes = std::fs::read(path).expect("the file to damage exists");
        if bytes.is_empty() {
            return;
        }
        match self {
            Damage::Flip { at, mask } => {
                let at = at % bytes.len();
                bytes[at] ^= mask;
            }
            Damage::Truncate { keep } => bytes.truncate(keep % bytes.len()),
        }
        std::fs::write(path, bytes).expect("the damaged file is written");
    }
}

/// A copy of an artifact folder with one of its files damaged.
pub struct DamagedCopy {
    _root: tempfile::TempDir,
    /// The damaged folder.
    pub dir: PathBuf,
    /// The file that was damaged.
    pub file: PathBuf,
    /// False when the damage happened to leave the file as it was.
    pub changed: bool,
    sealed: bool,
}

impl DamagedCopy {
    /// Copies `original` (as `name` in a fresh temporary folder), removes its marker
    /// unless `sealed` (a folder an older version or another tool wrote), and damages
    /// its `file`-th file (modulo their number).
    pub fn of(original: &Path, name: &str, file: usize, damage: Damage, sealed: bool) -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        let dir = root.path().join(name);
        copy_dir(original, &dir);
        if !sealed {
            std::fs::remove_file(dir.join(artifacts::MARKER_FILE)).expect("a marked original");
        }
        let names = files_in(&dir);
        let file = dir.join(&names[file % names.len()]);
        let before = std::fs::read(&file).expect("the file exists");
        damage.apply(&file);
        let changed = std::fs::read(&file).expect("the file exists") != before;
        Self {
            _root: root,
            dir,
            file,
            changed,
            sealed,
        }
    }

    /// True when loading must fail: a file of a sealed artifact changed (the marker
    /// itself aside, which may change in what it does not vouch for).
    pub fn must_be_refused(&self) -> bool {
        self.sealed && self.changed && !self.file.ends_with(artifacts::MARKER_FILE)
    }

    /// True when a load that succeeds must give the original's results.
    pub fn must_load_as_original(&self) -> bool {
        self.sealed
    }
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's folder is created");
    for entry in std::fs::read_dir(from).expect("the folder to copy is readable") {
        let path = entry.expect("a readable entry").path();
        let target = to.join(path.file_name().expect("entries have names"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("the file is copied");
        }
    }
}

/// The names of the files directly inside `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the folder is readable")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
