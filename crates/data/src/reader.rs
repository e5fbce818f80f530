//! Reading users' data files into records: any of the three formats, from a file,
//! a pipe or standard input, in bounded memory, with every bad row named by its line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::formats::{FileFormat, MAX_ROW_BYTES, MAX_TEXT_BYTES, Parser, ReadOptions, RecordRow};
use crate::rows::{Framing, RowError, Rows};
use crate::source::{open_input, source_name};
use crate::{BadRow, DataError, Record, Task, TaskChoice};

/// The records of a file, and the rows dropped on the way (with `skip_bad_rows`).
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The file that was read (`-` for standard input).
    pub path: PathBuf,
    /// The usable records, in file order.
    pub records: Vec<Record>,
    /// The rows that were skipped, and why (only when skipping was asked for).
    pub skipped: Vec<BadRow>,
    /// SHA-256 of every byte read, in hex: the file's checksum, taken in the same
    /// pass (a pipe or standard input cannot be read twice).
    pub sha256: String,
    /// The task the labels pose, and why ([`Task::choose`]); the records' labels
    /// are in its form.
    pub task: TaskChoice,
}

/// Reads a JSONL, CSV or TSV file into records: a regular file, a named pipe or
/// device, or standard input (`-`; see [`open_input`]).
///
/// The format comes from the extension; a path without one (standard input, a pipe
/// such as `/dev/fd/63`) is read as JSON lines when its first line is a JSON object,
/// as TSV when that line has a tab, else as CSV.
///
/// The input is read as a stream of rows, each at most [`MAX_ROW_BYTES`]: a longer
/// row is a bad row, found without reading it whole, so an endless input without
/// newlines (`/dev/zero`) is refused in bounded memory.
///
/// A bad row (a missing column, invalid UTF-8, a text with nothing BERT would read,
/// a text over [`MAX_TEXT_BYTES`], a row over [`MAX_ROW_BYTES`], an id used before, a
/// missing label when labels are required) stops the read with its line number,
/// unless `skip_bad_rows` is set; then it is dropped and listed in
/// [`ReadOutcome::skipped`]. Labels are read without surrounding whitespace (`" spam"`
/// and `"spam"` are one label); a byte-order mark at the start of the file is ignored.
///
/// The labels are then read as [`ReadOptions::task`], or as the task their form
/// says ([`Task::choose`]); a label that does not fit stops the read with its line.
pub fn read_records(path: &Path, options: &ReadOptions) -> Result<ReadOutcome, DataError> {
    let name = source_name(path);
    if options.label_sep.as_deref() == Some("") {
        return Err(DataError::Format {
            path: name,
            message: settings::message!(
                "an empty "[label_sep]" would split a label between every character; give the \
                 text between two labels (such as |)"
            ),
        });
    }
    let mut format = match path.extension() {
        Some(_) => Some(FileFormat::from_path(path)?),
        None => None,
    };
    // A format still to be sniffed is decided on the first line, read as a line.
    let framing = format.map_or(Framing::Lines, FileFormat::framing);
    let mut rows = Rows::new(
        open_input(path)?,
        framing,
        MAX_ROW_BYTES,
        options.skip_bad_rows,
    );
    let mut collector = Collector::new(name.clone(), options);
    let mut parser: Option<Parser> = None;
    while let Some(row) = rows.next() {
        let mut row = match row {
            Ok(row) => row,
            Err(RowError::Io(e)) => return Err(DataError::io(&name, e)),
            Err(RowError::TooLong { line, limit }) => {
                collector.take(Err(BadRow {
                    line,
                    reason: format!(
                        "the row runs past {limit} bytes without ending, over the limit (a \
                         record holds at most two texts of {MAX_TEXT_BYTES} bytes): is this a \
                         data file?"
                    ),
                }))?;
                continue;
            }
        };
        let parser = match &mut parser {
            Some(parser) => parser,
            None => {
                if row.bytes.starts_with(BOM) {
                    row.bytes.drain(..BOM.len());
                }
                if row.bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let chosen = *format.get_or_insert_with(|| FileFormat::sniff(&row.bytes));
                rows.set_framing(chosen.framing());
                parser.insert(Parser::new(chosen))
            }
        };
        for parsed in parser.parse(&row, options, &name)? {
            collector.take(parsed)?;
        }
    }
    if let Some(parser) = &parser {
        parser.check_pairs_found(!collector.records.is_empty(), options, &name)?;
    }
    collector.finish(rows.sha256(), path)
}

/// A byte-order mark, ignored at the start of a file.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// The records read so far, and the rows dropped.
struct Collector<'a> {
    name: PathBuf,
    options: &'a ReadOptions,
    records: Vec<Record>,
    skipped: Vec<BadRow>,
    first_line_of: HashMap<String, u64>,
}

impl<'a> Collector<'a> {
    fn new(name: PathBuf, options: &'a ReadOptions) -> Self {
        Self {
            name,
            options,
            records: Vec::new(),
            skipped: Vec::new(),
            first_line_of: HashMap::new(),
        }
    }

    /// Keeps a record whose id is new, drops a bad row when skipping, else stops.
    fn take(&mut self, row: RecordRow) -> Result<(), DataError> {
        let row = row.and_then(|(line, record)| match self.first_line_of.get(&record.id) {
            Some(first) => Err(BadRow {
                line,
                reason: format!(
                    "id {:?} was used before, on line {first} (ids must be unique within a file)",
                    record.id
                ),
            }),
            None => {
                self.first_line_of.insert(record.id.clone(), line);
                Ok(record)
            }
        });
        match row {
            Ok(record) => self.records.push(record),
            Err(row) if self.options.skip_bad_rows => self.skipped.push(row),
            Err(row) => {
                return Err(DataError::BadRow {
                    path: self.name.clone(),
                    row,
                });
            }
        }
        Ok(())
    }

    /// The records, their labels read as the task chosen for them all; a label that
    /// does not fit is a bad row.
    fn finish(mut self, sha256: String, path: &Path) -> Result<ReadOutcome, DataError> {
        let task = Task::choose(
            self.records.iter().filter_map(|r| r.label.as_ref()),
            self.options.task,
        );
        let records = std::mem::take(&mut self.records);
        for mut record in records {
            let label = record.label.take().map(|l| task.task.read(l)).transpose();
            let line = self.first_line_of[&record.id];
            match label {
                Ok(label) => self.records.push(Record { label, ..record }),
                Err(reason) if self.options.skip_bad_rows => {
                    self.skipped.push(BadRow { line, reason })
                }
                Err(reason) => {
                    return Err(DataError::BadRow {
                        path: self.name,
                        row: BadRow { line, reason },
                    });
                }
            }
        }
        if self.records.is_empty() {
            return Err(DataError::Empty { path: self.name });
        }
        self.skipped.sort_by_key(|row| row.line);
        Ok(ReadOutcome {
            path: path.to_owned(),
            records: self.records,
            skipped: self.skipped,
            sha256,
            task,
        })
    }
}
