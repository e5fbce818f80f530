//! The three formats of users' data files, and how one row of each becomes a
//! record: the columns chosen, the checks every text passes.

use std::path::Path;

use serde_json::Value;
use unicode_categories::UnicodeCategories;

use crate::rows::{self, Framing};
use crate::{BadRow, DataError, Label, Record, Task};

/// The field of the second text of a sentence pair, read wherever a record has it.
pub const TEXT_B_FIELD: &str = "text_b";

/// The longest text read, in bytes. BERT reads at most a few hundred tokens, a few
/// kilobytes of text; a longer one is almost always a file read with the wrong
/// columns or delimiter, and tokenizing it whole would take minutes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The longest row read, in bytes: two texts at [`MAX_TEXT_BYTES`] (a pair), their
/// escapes and the short fields beside them fit in four times the text limit. A
/// longer row is refused before it is read whole, so memory stays bounded whatever
/// the input (an endless one without newlines included).
pub const MAX_ROW_BYTES: usize = 4 * MAX_TEXT_BYTES;

/// The file formats read, chosen from the extension (or, without one, from the
/// first line).
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

    /// The format of an input without an extension (standard input, a pipe), from
    /// its first non-blank line: JSON lines when it is a JSON object, TSV when it
    /// has a tab, else CSV.
    pub fn sniff(first_line: &[u8]) -> Self {
        if first_line.trim_ascii_start().starts_with(b"{") {
            FileFormat::JsonLines
        } else if first_line.contains(&b'\t') {
            FileFormat::Tsv
        } else {
            FileFormat::Csv
        }
    }

    /// Where one row of this format ends.
    pub(crate) fn framing(self) -> Framing {
        match self {
            FileFormat::JsonLines => Framing::Lines,
            FileFormat::Csv => Framing::Delimited { delimiter: b',' },
            FileFormat::Tsv => Framing::Delimited { delimiter: b'\t' },
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
    /// Splits a label written as text into the labels of a multi-label record
    /// (`"a|b"` with `|`); `None` reads it whole. A JSON list is a set of labels
    /// either way.
    pub label_sep: Option<String>,
    /// The task the labels pose; `None` infers it from their form ([`Task::choose`]).
    pub task: Option<Task>,
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
            label_sep: None,
            task: None,
            id_col: "id".into(),
            require_labels: true,
            skip_bad_rows: false,
        }
    }
}

/// A record and the line it starts on, or why the row is bad.
pub(crate) type RecordRow = Result<(u64, Record), BadRow>;

/// The fields of one row, however the file spells them.
struct Fields {
    id: Option<String>,
    text: Option<String>,
    text_b: Option<String>,
    label: Option<Label>,
}

/// Turns the fields of row `line` into a record, or says why it is bad.
fn to_record(fields: Fields, line: u64, options: &ReadOptions) -> RecordRow {
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
    let label = fields.label;
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
pub(crate) fn check_text(text: &str, column: &str) -> Result<(), String> {
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

/// Turns the rows of one file into records, in its format; a delimited file's
/// first row is its header.
pub(crate) enum Parser {
    /// JSON lines; remembers whether any record had a second text.
    Json { has_text_b: bool },
    /// CSV or TSV: the columns of id, text, text_b and label, once the header is read.
    Delimited {
        delimiter: u8,
        columns: Option<[Option<usize>; 4]>,
    },
}

impl Parser {
    pub(crate) fn new(format: FileFormat) -> Self {
        match format.framing() {
            Framing::Lines => Parser::Json { has_text_b: false },
            Framing::Delimited { delimiter } => Parser::Delimited {
                delimiter,
                columns: None,
            },
        }
    }

    /// The records of one row (none for blank lines and the header; more than one
    /// only for a delimited file whose lines end in a bare carriage return), or
    /// what is wrong with them. A header without the text column is an error of the
    /// whole file.
    pub(crate) fn parse(
        &mut self,
        row: &rows::Row,
        options: &ReadOptions,
        path: &Path,
    ) -> Result<Vec<RecordRow>, DataError> {
        match self {
            Parser::Json { has_text_b } => {
                if row.bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Vec::new());
                }
                let parsed = json_row(&row.bytes, row.line, options);
                *has_text_b |= matches!(&parsed, Ok((_, r)) if r.text_b.is_some());
                Ok(vec![parsed])
            }
            Parser::Delimited { delimiter, columns } => {
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(*delimiter)
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(row.bytes.as_slice());
                let mut parsed = Vec::new();
                for result in reader.byte_records() {
                    let line_of = |position: Option<&csv::Position>| {
                        let start = position.map_or(0, |p| p.byte() as usize);
                        row.line + crate::rows::newlines_before(&row.bytes, start) as u64
                    };
                    let record = match result {
                        Ok(record) => record,
                        Err(e) => {
                            parsed.push(Err(BadRow {
                                line: line_of(e.position()),
                                reason: format!("malformed row ({e})"),
                            }));
                            continue;
                        }
                    };
                    let line = line_of(record.position());
                    match columns {
                        None => *columns = Some(header_columns(&record, options, path)?),
                        Some(columns) => {
                            parsed.push(delimited_row(&record, *columns, line, options))
                        }
                    }
                }
                Ok(parsed)
            }
        }
    }

    /// After the last row: a pair column named on purpose that no JSON record has is
    /// a typo, not single texts (a delimited file's header has already been checked).
    pub(crate) fn check_pairs_found(
        &self,
        any_record: bool,
        options: &ReadOptions,
        path: &Path,
    ) -> Result<(), DataError> {
        if let (Parser::Json { has_text_b: false }, Some(col), true) =
            (self, &options.text_b_col, any_record)
        {
            return Err(DataError::Format {
                path: path.to_owned(),
                message: settings::message!(
                    "no record has a {col:?} field for the second text of a pair; check "
                        [text_b_col]
                ),
            });
        }
        Ok(())
    }
}

fn json_row(line: &[u8], number: u64, options: &ReadOptions) -> RecordRow {
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
    let scalar = |key: &str| object.get(key).and_then(scalar_text);
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let text_b_col = options.text_b_col.as_deref().unwrap_or(TEXT_B_FIELD);
    let text_b = match object.get(text_b_col) {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) => Some(b.clone()),
        Some(_) => return Err(bad(format!("{text_b_col:?} is not a string"))),
    };
    let label = match object.get(&options.label_col) {
        Some(Value::Array(items)) => {
            let tags: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            let tags = tags.ok_or_else(|| {
                bad(format!(
                    "{:?} is a list with an item that is not a label (a string or number)",
                    options.label_col
                ))
            })?;
            Some(Label::tags(
                tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()),
            ))
        }
        _ => scalar(&options.label_col).and_then(|l| text_label(&l, options)),
    };
    let fields = Fields {
        id: scalar(&options.id_col),
        text: text(&options.text_col),
        text_b,
        label,
    };
    to_record(fields, number, options)
}

/// A JSON string, number or boolean as text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A label written as text: a class, or with a label separator the set of labels it
/// lists (empty when the text is); `None` when there is no class.
fn text_label(text: &str, options: &ReadOptions) -> Option<Label> {
    match &options.label_sep {
        Some(sep) => Some(Label::tags(
            text.split(sep.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty()),
        )),
        None => Some(text.trim()).filter(|t| !t.is_empty()).map(Label::from),
    }
}

/// The positions of the id, text, text_b and label columns in a header; the text
/// column (and a pair column named on purpose) must be there.
fn header_columns(
    header: &csv::ByteRecord,
    options: &ReadOptions,
    path: &Path,
) -> Result<[Option<usize>; 4], DataError> {
    let column = |name: &str| header.iter().position(|h| h == name.as_bytes());
    let listed = || {
        header
            .iter()
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text_col = column(&options.text_col).ok_or_else(|| {
        let (name, columns) = (&options.text_col, listed());
        DataError::Format {
            path: path.to_owned(),
            message: settings::message!(
                "no column {name:?} in the header (columns: {columns}); choose one with "[text_col]
            ),
        }
    })?;
    let text_b_col = match &options.text_b_col {
        None => column(TEXT_B_FIELD),
        Some(name) => Some(column(name).ok_or_else(|| {
            let columns = listed();
            DataError::Format {
                path: path.to_owned(),
                message: settings::message!(
                    "no column {name:?} for the second text of pairs in the header \
                     (columns: {columns}); check "[text_b_col]
                ),
            }
        })?),
    };
    Ok([
        column(&options.id_col),
        Some(text_col),
        text_b_col,
        column(&options.label_col),
    ])
}

fn delimited_row(
    record: &csv::ByteRecord,
    [id, text, text_b, label]: [Option<usize>; 4],
    line: u64,
    options: &ReadOptions,
) -> RecordRow {
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
        label: field(label)?.and_then(|l| text_label(&l, options)),
    };
    to_record(fields, line, options)
}
