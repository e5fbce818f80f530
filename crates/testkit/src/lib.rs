//! Test support shared by the workspace's tests: the damage a file on disk can
//! suffer (a flipped byte, a cut), as proptest strategies, so every loader of a
//! saved artifact is held to the same property: damage gives an error or, where
//! the damage is harmless, the original content; never a panic.

use std::path::Path;

use proptest::prelude::*;

/// One thing done to a file.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// The byte at `at` (modulo the length) XOR `mask` (never 0).
    Flip { at: usize, mask: u8 },
    /// Only the first `keep` bytes (modulo the length) are left.
    Truncate { keep: usize },
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
