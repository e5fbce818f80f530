//! Single files the user names as outputs (`--output`, `--json`, `--export-npy`):
//! a regular file is written whole or not at all and replaces only its own kind;
//! standard output (`-`), a device or a named pipe is written in place, since a
//! temporary name beside it and a rename cannot apply there.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::atomic::AtomicFile;
use crate::target::{STDOUT, refuse_protected, wrong_type};
use crate::{ArtifactError, FileKind};

/// An output file being written. Nothing is final until [`finish`](Self::finish):
/// a regular file appears under its name only then (dropped before, it leaves
/// nothing); a stream is flushed then, and every write before it is checked, so a
/// full device or a closed pipe is an error naming the path, not lost output.
pub struct OutputFile {
    /// The path as messages name it (`standard output` for `-`).
    name: PathBuf,
    sink: Sink,
}

enum Sink {
    /// A regular file: a temporary sibling, renamed into place when finished.
    File(AtomicFile),
    /// Standard output, a character device or a named pipe, written directly.
    Stream(BufWriter<Box<dyn Write>>),
}

/// What an output path holds, as far as writing a file there is concerned.
enum Destination {
    /// Standard output.
    Stdout,
    /// A character device or named pipe (through links): written in place.
    Stream,
    /// Anything else: the rules for regular files apply.
    File,
}

impl OutputFile {
    /// Opens `path` for an output of `kind`.
    ///
    /// - `-` or `/dev/stdout`: standard output.
    /// - An existing character device (`/dev/null`, a terminal) or named pipe, also
    ///   through a link: opened and written in place, never truncated, replaced or
    ///   given a temporary file beside it. A block device (a disk) is refused.
    /// - Otherwise a regular file, written under a temporary name and renamed into
    ///   place by [`finish`](Self::finish). An existing file is replaced only when it
    ///   is a `kind` file bertcls wrote (recognised by its content); another file, a
    ///   folder, a link or a protected path is refused.
    pub fn create(path: &Path, kind: FileKind) -> Result<Self, ArtifactError> {
        let name = output_name(path);
        let sink = match destination(path)? {
            Destination::Stdout => Sink::Stream(BufWriter::new(Box::new(std::io::stdout()))),
            Destination::Stream => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| ArtifactError::io("open", path, e))?;
                Sink::Stream(BufWriter::new(Box::new(file) as Box<dyn Write>))
            }
            Destination::File => {
                check_file_target(path, kind)?;
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| ArtifactError::io("create", parent, e))?;
                }
                Sink::File(AtomicFile::create(path)?)
            }
        };
        Ok(Self { name, sink })
    }

    /// Writes all of `bytes`; a failure is an error naming the path.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        let written = match &mut self.sink {
            Sink::File(file) => file.write_all(bytes),
            Sink::Stream(stream) => stream.write_all(bytes),
        };
        written.map_err(|e| ArtifactError::io("write", &self.name, e))
    }

    /// Pushes what was written so far to a stream (a reader at the other end of a
    /// pipe sees it now); a regular file is not touched until it is finished.
    pub fn flush(&mut self) -> Result<(), ArtifactError> {
        match &mut self.sink {
            Sink::File(_) => Ok(()),
            Sink::Stream(stream) => stream
                .flush()
                .map_err(|e| ArtifactError::io("write", &self.name, e)),
        }
    }

    /// Ends the output: a regular file is synced and renamed into place, a stream
    /// flushed, each checked.
    pub fn finish(mut self) -> Result<(), ArtifactError> {
        self.flush()?;
        match self.sink {
            Sink::File(file) => file.commit(),
            Sink::Stream(_) => Ok(()),
        }
    }
}

/// Writes a single output file the user named (see [`OutputFile::create`] for what
/// may be written where). A regular file that already holds exactly `bytes` is left
/// as it is.
pub fn write_output_file(path: &Path, kind: FileKind, bytes: &[u8]) -> Result<(), ArtifactError> {
    if let Destination::File = destination(path)? {
        let unchanged = std::fs::symlink_metadata(path).is_ok_and(|m| {
            m.is_file()
                && m.len() == bytes.len() as u64
                && std::fs::read(path).is_ok_and(|old| old == bytes)
        });
        if unchanged {
            return Ok(());
        }
    }
    let mut output = OutputFile::create(path, kind)?;
    output.write_all(bytes)?;
    output.finish()
}

/// An output path as messages name it: `standard output` for `-`.
pub fn output_name(path: &Path) -> PathBuf {
    if path.as_os_str() == STDOUT {
        PathBuf::from("standard output")
    } else {
        path.to_owned()
    }
}

/// Where `path` leads. A block device or socket is refused here.
fn destination(path: &Path) -> Result<Destination, ArtifactError> {
    if path.as_os_str() == STDOUT || path == Path::new("/dev/stdout") {
        return Ok(Destination::Stdout);
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        // Nothing there, or a dangling link: the file rules decide.
        Err(_) => return Ok(Destination::File),
    };
    if metadata.is_file() || metadata.is_dir() {
        return Ok(Destination::File);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_block_device() {
            return Err(wrong_type(path, "a block device (a disk)", "a file"));
        }
        if kind.is_socket() {
            return Err(wrong_type(path, "a socket", "a file"));
        }
    }
    Ok(Destination::Stream)
}

/// Refuses a regular-file output path that holds anything but a `kind` file
/// bertcls wrote: a protected path, a folder, a link, another file.
fn check_file_target(path: &Path, kind: FileKind) -> Result<(), ArtifactError> {
    refuse_protected(path)?;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ArtifactError::io("inspect", path, e)),
        Ok(metadata) if metadata.file_type().is_symlink() => {
            Err(wrong_type(path, "a symbolic link", "a file"))
        }
        Ok(metadata) if metadata.is_dir() => Err(wrong_type(path, "a folder", "a file")),
        Ok(_) if kind.recognises(path) => Ok(()),
        Ok(_) => Err(ArtifactError::ForeignFile {
            path: path.to_owned(),
            kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"{\"id\":\"1\",\"label\":\"a\",\"probabilities\":{\"a\":1.0}}\n";

    #[test]
    fn a_device_is_written_in_place_and_its_failures_name_it() {
        write_output_file(Path::new("/dev/null"), FileKind::Predictions, LINE).unwrap();
        if Path::new("/dev/full").exists() {
            let error = write_output_file(Path::new("/dev/full"), FileKind::Predictions, LINE)
                .unwrap_err()
                .to_string();
            assert_eq!(error, "cannot write /dev/full");
        }
    }

    #[test]
    fn a_link_to_a_users_folder_or_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mine");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("notes.txt"), "keep").unwrap();
        let file = dir.path().join("thesis.tex");
        std::fs::write(&file, "years of work").unwrap();
        for (target, name) in [(&folder, "to-folder"), (&file, "to-file")] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            let error = write_output_file(&link, FileKind::Predictions, LINE).unwrap_err();
            assert!(matches!(error, ArtifactError::WrongType { .. }), "{error}");
            assert!(
                std::fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(std::fs::read(folder.join("notes.txt")).unwrap(), b"keep");
        assert_eq!(std::fs::read(&file).unwrap(), b"years of work");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn an_unfinished_file_leaves_nothing_and_a_finished_one_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/p.jsonl");
        let mut output = OutputFile::create(&path, FileKind::Predictions).unwrap();
        output.write_all(LINE).unwrap();
        output.flush().unwrap();
        assert!(!path.exists());
        drop(output);
        assert_eq!(
            std::fs::read_dir(dir.path().join("out")).unwrap().count(),
            0
        );
        let mut output = OutputFile::create(&path, FileKind::Predictions).unwrap();
        output.write_all(LINE).unwrap();
        output.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), LINE);
    }

    #[test]
    fn an_output_file_replaces_only_its_own_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"id\": \"1\", \"text\": \"my data\"}\n").unwrap();
        let error = write_output_file(&path, FileKind::Predictions, LINE).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("is not a predictions file bertcls wrote"),
            "{error}"
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains("my data"));
        std::fs::write(&path, LINE).unwrap();
        let other = b"{\"id\":\"1\",\"label\":\"b\",\"probabilities\":{\"b\":1.0}}\n";
        write_output_file(&path, FileKind::Predictions, other).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), other);
        let npy = dir.path().join("x.npy");
        std::fs::write(&npy, b"\x93NUMPY").unwrap();
        write_output_file(&npy, FileKind::NumpyMatrix, b"\x93NUMPY").unwrap();
        assert!(write_output_file(&npy, FileKind::NumpyMatrix, b"\x93NUMPY2").is_err());
    }
}
