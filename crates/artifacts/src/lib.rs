//! What bertcls writes, and where it may write it.
//!
//! Three rules, each enforced here so that no writer can forget them:
//!
//! - **Whole or not at all.** A file is written to a temporary sibling, synced and
//!   renamed into place ([`AtomicFile`], [`write_atomic`]); a folder is built beside
//!   its final path and swapped in ([`StagedDir`]). A crash leaves the previous
//!   version or nothing under the final name, never a torn one.
//! - **Nothing foreign is replaced.** An output path that exists is replaced only
//!   when it is an artifact of the same kind that bertcls wrote (recognised by its
//!   [`Marker`], or by the files of an older version's artifacts); `.`, `..`, the
//!   home and root folders, folders of other files and files where a folder is
//!   expected are refused ([`check_folder_target`], [`write_output_file`]).
//!   [`Overwrite::AnyOwn`] (`--force`) widens this to bertcls artifacts of another
//!   kind, never to anything else. Standard output (`-`), a device or a named pipe
//!   named as an output file is written in place, every write checked
//!   ([`OutputFile`]): no temporary file is made beside it, nothing renamed over it.
//! - **What was written is what is read.** A sealed artifact's marker records the
//!   SHA-256 of each of its files; [`verify`] refuses a folder whose files changed.

#![warn(missing_docs)]

mod atomic;
mod error;
mod kind;
mod marker;
mod output;
mod process;
mod staged;
mod target;

pub use atomic::{AtomicFile, sha256_file, write_atomic, write_json};
pub use error::ArtifactError;
pub use kind::{ArtifactKind, FileKind};
pub use marker::{MARKER_FILE, Marker, mark, seal, verify};
pub use output::{OutputFile, output_name, write_output_file};
pub use staged::{StagedDir, claim_dir, remove_own_dir};
pub use target::{Occupant, Overwrite, STDOUT, check_folder_target};
