//! Reading users' files: JSONL, CSV and TSV, with column names chosen by flags.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use unicode_categories::UnicodeCategories;

use crate::{BadRow, DataError, Record};

/// The field of the second text of a sentence pair, read wherever a record has it.
pub const TEXT_B_FIELD: &str = "text_b";

/// The longest text read, in bytes. BERT reads at most a few hundred tokens, a few
/// kilobytes of text; a longer one is almost always a file read with the wrong
/// columns or delimiter, and tokenizing it whole would take minutes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The file formats read, chosen from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    JsonLines,
    /// Comma-separated with a header row (`.csv`).
    Csv,
    /// Tab-separated with a header row (`.tsv`, `.tab`).
    Tsv,
}

impl FileFormat {
    /// The format named by the file's extension (`.jsonl`, `.csv`, `.tsv`).
    pub fn from_path(path: &Path) -> Result<Self, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => Ok(FileFormat::JsonLines),
            Some("csv") => Ok(FileFormat::Csv),
            Some("tsv" | "tab") => Ok(FileFormat::Tsv),
            _ => Err(DataError::Format {
                path: path.to_owned(),
                message: "unknown format: expected a .jsonl, .csv or .tsv file".into(),
            }),
        }
    }
}

/// Which columns hold what, and what to do with rows that cannot be used.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The column (or JSON field) holding the text.
    pub text_col: String,
    /// The column of the second text of sentence pairs: `None` reads the standard
    /// [`TEXT_B_FIELD`] wherever a record has it; a name must be a column of the
    /// file. Either way a record without a second text (absent, null or empty) is a
    /// single text, so a file may mix pairs and single texts.
    pub text_b_col: Option<String>,
    /// The column holding the label.
    pub label_col: String,
    /// Column with record ids; without one, records are named by their line number.
    pub id_col: String,
    /// A record without a label is bad (training data) or fine (data to predict).
    pub require_labels: bool,
    /// Drop bad rows and report them, instead of stopping at the first.
    pub skip_bad_rows: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            text_col: "text".into(),
            text_b_col: None,
            label_col: "label".into(),
            id_col: "id".into(),
            require_labels: true,
            skip_bad_rows: false,
        }
    }
}

/// The records of a file, and the rows dropped on the way (with `skip_bad_rows`).
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The file that was read.
    pub path: PathBuf,
    /// The usable records, in file order.
    pub records: Vec<Record>,
    /// The rows that were skipped, and why (only when skipping was asked for).
    pub skipped: Vec<BadRow>,
}

/// Reads a JSONL, CSV or TSV file into records.
///
/// A bad row (a missing column, invalid UTF-8, a text with nothing BERT would read,
/// a text over [`MAX_TEXT_BYTES`], an id used before, a missing label when labels are
/// required) stops the read with its line number, unless `skip_bad_rows` is set;
/// then it is dropped and listed in [`ReadOutcome::skipped`]. Labels are read
/// without surrounding whitespace (`" spam"` and `"spam"` are one label); a byte-order
/// mark at the start of the file is ignored.
pub fn read_records(path: &Path, options: &ReadOptions) -> Result<ReadOutcome, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let rows = match FileFormat::from_path(path)? {
        FileFormat::JsonLines => json_rows(bytes, options, path)?,
        FileFormat::Csv => delimited_rows(bytes, b',', options, path)?,
        FileFormat::Tsv => delimited_rows(bytes, b'\t', options, path)?,
    };
    let mut outcome = ReadOutcome {
        path: path.to_owned(),
        records: Vec::new(),
        skipped: Vec::new(),
    };
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for row in rows {
        let row = row.and_then(|(line, record)| match first_line_of.get(&record.id) {
            Some(first) => Err(BadRow {
                line,
                reason: format!(
                    "id {:?} was used before, on line {first} (ids must be unique within a file)",
                    record.id
                ),
            }),
            None => {
                first_line_of.insert(record.id.clone(), line);
                Ok(record)
            }
        });
        match row {
            Ok(record) => outcome.records.push(record),
            Err(row) if options.skip_bad_rows => outcome.skipped.push(row),
            Err(row) => {
                return Err(DataError::BadRow {
                    path: path.to_owned(),
                    row,
                });
            }
        }
    }
    if outcome.records.is_empty() {
        return Err(DataError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(outcome)
}

/// A record and the line it starts on, or why the row is bad.
type Row = Result<(u64, Record), BadRow>;

/// The fields of one row, however the file spells them.
struct Fields {
    id: Option<String>,
    text: Option<String>,
    text_b: Option<String>,
    label: Option<String>,
}

/// Turns the fields of row `line` into a record, or says why it is bad.
fn to_record(fields: Fields, line: u64, options: &ReadOptions) -> Row {
    let bad = |reason: String| BadRow { line, reason };
    let text = fields
        .text
        .ok_or_else(|| bad(format!("no {:?} column", options.text_col)))?;
    check_text(&text, &options.text_col).map_err(bad)?;
    let text_b_col = options.text_b_col.as_deref().unwrap_or(TEXT_B_FIELD);
    let text_b = fields.text_b.filter(|b| !b.is_empty());
    if let Some(b) = &text_b {
        check_text(b, text_b_col).map_err(bad)?;
    }
    let label = fields
        .label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    if options.require_labels && label.is_none() {
        return Err(bad(format!("no label in column {:?}", options.label_col)));
    }
    let record = Record {
        id: fields.id.unwrap_or_else(|| format!("line-{line}")),
        text,
        text_b,
        label,
    };
    Ok((line, record))
}

/// Refuses a text BERT would read as nothing (empty, or only whitespace, control
/// and format characters such as zero-width spaces, or marks that accent
/// stripping removes), or one too long to be meant as one record.
fn check_text(text: &str, column: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the text in column {column:?} is {} bytes, over the limit of {MAX_TEXT_BYTES} (BERT \
             reads only its first few hundred tokens: cut long texts before reading them)",
            text.len()
        ));
    }
    if !text.chars().any(is_read_by_bert) {
        return Err(format!(
            "the text in column {column:?} has nothing BERT reads (it is empty, or only \
             whitespace, control or zero-width characters)"
        ));
    }
    Ok(())
}

/// False for what BERT's text cleaning removes (the rules of BertNormalizer: NUL,
/// U+FFFD, whitespace, Unicode's "other" categories) and for combining marks, which
/// accent stripping removes and which mean nothing alone.
fn is_read_by_bert(c: char) -> bool {
    !(c == '\0' || c == '\u{fffd}' || c.is_whitespace() || c.is_other() || c.is_mark_nonspacing())
}

fn json_rows(bytes: &[u8], options: &ReadOptions, path: &Path) -> Result<Vec<Row>, DataError> {
    let mut has_text_b = false;
    let rows: Vec<Row> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(number, line)| {
            let row = json_row(line, number, options);
            has_text_b |= matches!(&row, Ok((_, r)) if r.text_b.is_some());
            row
        })
        .collect();
    // A pair column named on purpose that no record has is a typo, not single texts.
    if let Some(col) = &options.text_b_col
        && !has_text_b
        && rows.iter().any(Result::is_ok)
    {
        return Err(DataError::Format {
            path: path.to_owned(),
            message: format!(
                "no record has a {col:?} field for the second text of a pair; check --text-b-col"
            ),
        });
    }
    Ok(rows)
}

fn json_row(line: &[u8], number: u64, options: &ReadOptions) -> Row {
    let bad = |reason: String| BadRow {
        line: number,
        reason,
    };
    let line = std::str::from_utf8(line).map_err(|e| bad(format!("invalid UTF-8 ({e})")))?;
    let value: Value =
        serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON ({e})")))?;
    let Value::Object(object) = value else {
        return Err(bad("not a JSON object".into()));
    };
    // Labels and ids may be written as numbers; texts must be strings.
    let scalar = |key: &str| match object.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let text_b_col = options.text_b_col.as_deref().unwrap_or(TEXT_B_FIELD);
    let text_b = match object.get(text_b_col) {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) => Some(b.clone()),
        Some(_) => return Err(bad(format!("{text_b_col:?} is not a string"))),
    };
    let fields = Fields {
        id: scalar(&options.id_col),
        text: text(&options.text_col),
        text_b,
        label: scalar(&options.label_col),
    };
    to_record(fields, number, options)
}

fn delimited_rows(
    bytes: &[u8],
    delimiter: u8,
    options: &ReadOptions,
    path: &Path,
) -> Result<Vec<Row>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(bytes);
    let header = reader.byte_headers().map_err(|e| DataError::Format {
        path: path.to_owned(),
        message: format!("cannot read the header row: {e}"),
    })?;
    let column = |name: &str| header.iter().position(|h| h == name.as_bytes());
    let text_col = column(&options.text_col).ok_or_else(|| DataError::Format {
        path: path.to_owned(),
        message: format!(
            "no column {:?} in the header (columns: {}); choose one with --text-col",
            options.text_col,
            header
                .iter()
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    let text_b_col = match &options.text_b_col {
        None => column(TEXT_B_FIELD),
        Some(name) => Some(column(name).ok_or_else(|| DataError::Format {
            path: path.to_owned(),
            message: format!(
                "no column {name:?} for the second text of pairs in the header (columns: {}); \
                 check --text-b-col",
                header
                    .iter()
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?),
    };
    let label_col = column(&options.label_col);
    let id_col = column(&options.id_col);

    let mut rows = Vec::new();
    for result in reader.byte_records() {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.push(Err(BadRow {
                    line,
                    reason: format!("malformed row ({e})"),
                }));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        rows.push(delimited_row(
            &record,
            [id_col, Some(text_col), text_b_col, label_col],
            line,
            options,
        ));
    }
    Ok(rows)
}

fn delimited_row(
    record: &csv::ByteRecord,
    [id, text, text_b, label]: [Option<usize>; 4],
    line: u64,
    options: &ReadOptions,
) -> Row {
    let field = |col: Option<usize>| -> Result<Option<String>, BadRow> {
        let Some(bytes) = col.and_then(|c| record.get(c)) else {
            return Ok(None);
        };
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| BadRow {
                line,
                reason: format!("invalid UTF-8 ({})", e.utf8_error()),
            })
    };
    let fields = Fields {
        id: field(id)?,
        text: field(text)?,
        text_b: field(text_b)?,
        label: field(label)?,
    };
    to_record(fields, line, options)
}
