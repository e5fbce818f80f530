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
/// naming `name` and the line, which ends the lines, or is dropped when
/// `skip_bad_rows` is set.
pub fn text_lines<R: BufRead>(
    reader: R,
    name: PathBuf,
    skip_bad_rows: bool,
) -> impl Iterator<Item = Result<Record, DataError>> {
    let mut rows = Rows::new(reader, Framing::Lines, MAX_TEXT_BYTES, skip_bad_rows);
    let mut stopped = false;
    std::iter::from_fn(move || {
        while !stopped {
            let bad = |line, reason| DataError::BadRow {
                path: name.clone(),
                row: BadRow { line, reason },
            };
            let read = match rows.next()? {
                Err(RowError::Io(e)) => Err(DataError::io(&name, e)),
                Err(RowError::TooLong { line, limit }) => Err(bad(
                    line,
                    format!("the line is over the limit of {limit} bytes"),
                )),
                Ok(row) => match text_line(&row.bytes) {
                    Ok(None) => continue,
                    Ok(Some(text)) => Ok(Record {
                        id: format!("line-{}", row.line),
                        text,
                        text_b: None,
                        label: None,
                    }),
                    Err(reason) => Err(bad(row.line, reason)),
                },
            };
            match read {
                Err(DataError::BadRow { .. }) if skip_bad_rows => continue,
                read => {
                    stopped = read.is_err();
                    return Some(read);
                }
            }
        }
        None
    })
}

/// One line's text (its carriage return removed), `None` when blank, or why BERT
/// cannot read it.
fn text_line(bytes: &[u8]) -> Result<Option<String>, String> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|e| format!("invalid UTF-8 ({})", e.utf8_error()))?;
    check_text(&text, "text")?;
    Ok(Some(text))
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
            )
            .into(),
        });
    }
    String::from_utf8(bytes).map_err(|e| DataError::Format {
        path: name,
        message: format!("not UTF-8 text ({})", e.utf8_error()).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], skip: bool) -> Vec<Result<(String, String), String>> {
        text_lines(input, PathBuf::from("standard input"), skip)
            .map(|r| r.map(|r| (r.id, r.text)).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn plain_lines_are_named_by_their_line_and_a_bad_one_ends_them_or_is_dropped() {
        let input = b"oil rose\r\n\n  \nbad \xff\ncats\n";
        let ok = |id: &str, text: &str| Ok((id.to_owned(), text.to_owned()));
        let stopped = lines(input, false);
        assert_eq!(stopped[0], ok("line-1", "oil rose"));
        assert!(
            stopped[1]
                .as_ref()
                .is_err_and(|e| e.starts_with("standard input:4: invalid UTF-8")),
            "{stopped:?}"
        );
        assert_eq!(stopped.len(), 2);
        assert_eq!(
            lines(input, true),
            [ok("line-1", "oil rose"), ok("line-5", "cats")]
        );
    }
}
