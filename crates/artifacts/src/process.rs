//! Whether the process that left something behind is still at work on it.

use std::path::Path;

/// True while process `pid` runs (this process included). Where that cannot be
/// told (outside Linux), every process counts as running, so nothing another run
/// may still be writing is ever taken for abandoned.
pub(crate) fn is_running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}
