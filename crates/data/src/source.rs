//! Where data is read from: a file, a named pipe or device, or standard input (`-`).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::formats::{MAX_TEXT_BYTES, check_text};
use crate::rows::{Framing, RowError, Rows};
use crate::{BadRow, DataError, Record};

/// The path that names standard input.
pub const STDIN: &str = "-";

/// `path` as messages name it: `standard input` for `-`.
pub fn source_name(path: &Path) -> PathBuf {
    if is_stdin(path) {
        PathBuf::from("standard input")
    } else {
        path.to_owned()
    }
}

/// True when `path` names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Opens an input for reading: standard input for `-`, else the file, named pipe or
/// device at `path`. A folder is refused here, by name, rather than failing on the
/// first read.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    if is_stdin(path) {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let metadata = file.metadata().map_err(|e| DataError::io(path, e))?;
    if metadata.is_dir() {
        return Err(DataError::Format {
            path: path.to_owned(),
            message: "is a folder, where a data file is needed (name a .jsonl, .csv or .tsv \
                      file, or - for standard input)"
                .into(),
        });
    }
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// The plain-text lines of `reader` (one text per line, as `bertcls predict` reads
/// standard input), each at most [`MAX_TEXT_BYTES`], read lazily: blank lines are
/// passed over; a line BERT would read as nothing or one over the limit is an error
/// naming `name` and the line, or is dropped when `skip_bad_rows` is set.
pub fn text_lines<R: BufRead>(
    reader: R,
    name: PathBuf,
    skip_bad_rows: bool,
) -> impl Iterator<Item = Result<Record, DataError>> {
    let io_name = name.clone();
    let bad = move |line, reason| {
        (!skip_bad_rows).then(|| {
            Err(DataError::BadRow {
                path: name.clone(),
                row: BadRow { line, reason },
            })
        })
    };
    let mut stopped = false;
    Rows::new(reader, Framing::Lines, MAX_TEXT_BYTES, skip_bad_rows).filter_map(move |row| {
        if stopped {
            return None;
        }
        let row = match row {
            Err(RowError::Io(e)) => Err(DataError::io(&io_name, e)),
            Err(RowError::TooLong { line, limit }) => {
                return bad(line, format!("the line is over the limit of {limit} bytes"));
            }
            Ok(row) => {
                let bytes = row.bytes.strip_suffix(b"\r").unwrap_or(&row.bytes);
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                match String::from_utf8(bytes.to_vec()) {
                    Err(e) => {
                        return bad(row.line, format!("invalid UTF-8 ({})", e.utf8_error()));
                    }
                    Ok(text) => match check_text(&text, "text") {
                        Err(reason) => return bad(row.line, reason),
                        Ok(()) => Ok(Record {
                            id: format!("line-{}", row.line),
                            text,
                            text_b: None,
                            label: None,
                        }),
                    },
                }
            }
        };
        stopped = row.is_err();
        Some(row)
    })
}

/// The longest settings file read ([`read_text_file`]): a sweep grid, a study, label
/// descriptions. Such files are a few kilobytes; a longer one is the wrong file.
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// The text of a small file a user names (`-`: standard input), read in bounded
/// memory: over [`MAX_SETTINGS_BYTES`], or not UTF-8, it is refused by name.
pub fn read_text_file(path: &Path) -> Result<String, DataError> {
    let name = source_name(path);
    let mut bytes = Vec::new();
    open_input(path)?
        .take(MAX_SETTINGS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(&name, e))?;
    if bytes.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(DataError::Format {
            path: name,
            message: format!(
                "over the limit of {MAX_SETTINGS_BYTES} bytes for a settings file (is it the \
                 right file?)"
            ),
        });
    }
    String::from_utf8(bytes).map_err(|e| DataError::Format {
        path: name,
        message: format!("not UTF-8 text ({})", e.utf8_error()),
    })
}
