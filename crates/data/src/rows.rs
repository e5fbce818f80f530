//! A byte stream cut into rows, each at most a fixed number of bytes, hashed as it
//! is read: the one way every data reader meets its input, so that a file, a named
//! pipe, standard input or an endless device like `/dev/zero` is read in bounded
//! memory.

use std::io::{BufRead, ErrorKind};

use sha2::{Digest, Sha256};

/// Where one row ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// At every newline (JSON lines, plain text: neither can hold a raw newline
    /// inside a value).
    Lines,
    /// At a newline outside a quoted field (CSV and TSV, RFC 4180 quoting, read as
    /// the `csv` crate reads it: a quote opens a quoted field only at a field's
    /// start, `""` inside one is a quote).
    Delimited {
        /// The field delimiter.
        delimiter: u8,
    },
}

/// Where the delimited framing is inside a row: only the states that decide
/// whether a newline ends the row (the `csv` crate's states, merged where they
/// agree on that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// At the start of a field, where a quote opens a quoted field.
    FieldStart,
    /// Inside an unquoted field (a quote here is an ordinary character).
    Unquoted,
    /// Inside a quoted field: a newline is part of the value.
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped
    /// quote, anything else closes the field.
    QuoteInQuoted,
}

impl Quoting {
    /// The state after `byte`, and whether `byte` ends the record (a newline or
    /// carriage return outside quotes).
    fn next(self, byte: u8, delimiter: u8) -> (Self, bool) {
        use Quoting::*;
        let ends = |b: u8| b == b'\n' || b == b'\r';
        match self {
            Quoted if byte == b'"' => (QuoteInQuoted, false),
            Quoted => (Quoted, false),
            FieldStart if byte == b'"' => (Quoted, false),
            QuoteInQuoted if byte == b'"' => (Quoted, false),
            _ if byte == delimiter => (FieldStart, false),
            _ if ends(byte) => (FieldStart, true),
            _ => (Unquoted, false),
        }
    }
}

/// One row: the line it starts on (from 1) and its bytes, the final newline
/// removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub line: u64,
    pub bytes: Vec<u8>,
}

/// Why a row could not be read.
#[derive(Debug)]
pub(crate) enum RowError {
    /// The stream failed.
    Io(std::io::Error),
    /// The row starting on `line` is longer than the limit. When skipping was asked
    /// for, the rest of the row has been read past and the next row follows.
    TooLong { line: u64, limit: usize },
}

/// The rows of `reader`, each at most `limit` bytes, and the SHA-256 of every byte
/// read (complete once the iterator has returned `None`).
pub(crate) struct Rows<R> {
    reader: R,
    framing: Framing,
    limit: usize,
    /// Read past an over-long row to the next one, instead of stopping there.
    skip_long: bool,
    /// The line the next byte is on.
    line: u64,
    hasher: Sha256,
    done: bool,
}

impl<R: BufRead> Rows<R> {
    pub(crate) fn new(reader: R, framing: Framing, limit: usize, skip_long: bool) -> Self {
        Self {
            reader,
            framing,
            limit,
            skip_long,
            line: 1,
            hasher: Sha256::new(),
            done: false,
        }
    }

    /// Rows from here on end as `framing` says (a format sniffed from the first line).
    pub(crate) fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// SHA-256 of the bytes read so far, in hex.
    pub(crate) fn sha256(&self) -> String {
        format!("{:x}", self.hasher.clone().finalize())
    }

    /// Reads one row into `row` (at most `limit` bytes kept; the rest of an over-long
    /// row is read past only when skipping). Returns whether the stream had anything
    /// left, and whether the row fit.
    fn fill(&mut self, row: &mut Vec<u8>) -> std::io::Result<(bool, bool)> {
        let mut quoting = Quoting::FieldStart;
        let mut started = false;
        let mut fits = true;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buffer.is_empty() {
                return Ok((started, fits));
            }
            started = true;
            // The bytes of this buffer up to the row's end (its newline included).
            let (taken, ended) = match self.framing {
                Framing::Lines => match buffer.iter().position(|&b| b == b'\n') {
                    Some(at) => (at + 1, true),
                    None => (buffer.len(), false),
                },
                Framing::Delimited { delimiter } => {
                    let mut end = None;
                    for (i, &byte) in buffer.iter().enumerate() {
                        let (next, term) = quoting.next(byte, delimiter);
                        quoting = next;
                        if term && byte == b'\n' {
                            end = Some(i + 1);
                            break;
                        }
                        if byte == b'\n' {
                            // A newline inside a quoted field: part of the row.
                            self.line += 1;
                        }
                    }
                    match end {
                        Some(at) => (at, true),
                        None => (buffer.len(), false),
                    }
                }
            };
            let chunk = &buffer[..taken];
            self.hasher.update(chunk);
            let body = if ended { &chunk[..taken - 1] } else { chunk };
            if fits && row.len() + body.len() <= self.limit {
                row.extend_from_slice(body);
            } else {
                fits = false;
            }
            self.reader.consume(taken);
            if ended {
                self.line += 1;
                return Ok((true, fits));
            }
            if !fits && !self.skip_long {
                return Ok((true, false));
            }
        }
    }
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let line = self.line;
        let mut bytes = Vec::new();
        match self.fill(&mut bytes) {
            Err(e) => {
                self.done = true;
                Some(Err(RowError::Io(e)))
            }
            Ok((false, _)) => {
                self.done = true;
                None
            }
            Ok((true, true)) => Some(Ok(Row { line, bytes })),
            Ok((true, false)) => {
                // Without skipping, nothing after an over-long row is read: the
                // stream may never end (`/dev/zero`).
                self.done |= !self.skip_long;
                Some(Err(RowError::TooLong {
                    line,
                    limit: self.limit,
                }))
            }
        }
    }
}

/// The newlines in `bytes` before the record that the `csv` crate says starts at
/// byte `start`: its first byte's line, counted from 0. (The crate starts a record
/// where the previous one's terminator ended, before any blank lines; its own line
/// numbers pass over blank lines and count bare carriage returns.)
pub(crate) fn newlines_before(bytes: &[u8], start: usize) -> usize {
    let start = start.min(bytes.len());
    let blank = bytes[start..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count();
    bytes[..start + blank]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8], framing: Framing, limit: usize, skip: bool) -> Vec<Result<Row, String>> {
        Rows::new(
            std::io::BufReader::with_capacity(3, input),
            framing,
            limit,
            skip,
        )
        .map(|r| {
            r.map_err(|e| match e {
                RowError::TooLong { line, .. } => format!("long at {line}"),
                RowError::Io(e) => e.to_string(),
            })
        })
        .collect()
    }

    fn row(line: u64, bytes: &str) -> Result<Row, String> {
        Ok(Row {
            line,
            bytes: bytes.as_bytes().to_vec(),
        })
    }

    #[test]
    fn lines_are_cut_at_every_newline_across_buffer_boundaries() {
        let got = rows(b"ab\n\ncdefg\nh", Framing::Lines, 100, false);
        assert_eq!(
            got,
            vec![row(1, "ab"), row(2, ""), row(3, "cdefg"), row(4, "h")]
        );
    }

    #[test]
    fn a_quoted_newline_stays_in_its_row_and_is_counted() {
        let csv = Framing::Delimited { delimiter: b',' };
        let got = rows(b"a,b\n\"x\ny\",2\nz\"q,3\n\"\"\"\",4\n", csv, 100, false);
        assert_eq!(
            got,
            vec![
                row(1, "a,b"),
                row(2, "\"x\ny\",2"),
                // A quote inside an unquoted field is an ordinary character.
                row(4, "z\"q,3"),
                // An escaped quote inside a quoted field does not close it.
                row(5, "\"\"\"\",4"),
            ]
        );
    }

    #[test]
    fn an_over_long_row_stops_the_read_or_is_read_past() {
        let input = b"ok\n0123456789\nafter\n";
        assert_eq!(
            rows(input, Framing::Lines, 5, false),
            vec![row(1, "ok"), Err("long at 2".into())]
        );
        assert_eq!(
            rows(input, Framing::Lines, 5, true),
            vec![row(1, "ok"), Err("long at 2".into()), row(3, "after")]
        );
    }

    #[test]
    fn an_endless_row_is_refused_after_the_limit_in_bounded_memory() {
        let mut endless = Rows::new(
            std::io::BufReader::new(std::io::repeat(0)),
            Framing::Lines,
            1 << 16,
            false,
        );
        assert!(matches!(
            endless.next(),
            Some(Err(RowError::TooLong { line: 1, .. }))
        ));
        assert!(endless.next().is_none());
    }

    #[test]
    fn the_checksum_covers_every_byte_read() {
        let input = b"{\"text\": \"a\"}\r\n\n{\"text\": \"b\"}";
        let mut rows = Rows::new(&input[..], Framing::Lines, 100, false);
        while rows.next().is_some() {}
        assert_eq!(rows.sha256(), format!("{:x}", Sha256::digest(input)));
    }

    /// Every record of `bytes` as the `csv` crate reads them whole, with the line its
    /// first byte is on (the crate's own line numbers pass over blank lines and
    /// count bare carriage returns).
    fn csv_records(bytes: &[u8], first_line: u64) -> Vec<(u64, Vec<Vec<u8>>)> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes)
            .byte_records()
            .map(|r| {
                let r = r.unwrap();
                let newlines = newlines_before(bytes, r.position().unwrap().byte() as usize);
                (
                    first_line + newlines as u64,
                    r.iter().map(<[u8]>::to_vec).collect(),
                )
            })
            .collect()
    }

    proptest::proptest! {
        /// Cutting a delimited file into rows and parsing each alone gives the records
        /// (and lines) the `csv` crate finds in the whole file, whatever the quotes,
        /// carriage returns and newlines.
        #[test]
        fn delimited_rows_are_the_records_csv_reads_whole(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"ab,\"\n\r ".to_vec()), 0..80),
            capacity in 1usize..8,
        ) {
            let framing = Framing::Delimited { delimiter: b',' };
            let reader = std::io::BufReader::with_capacity(capacity, bytes.as_slice());
            let by_rows: Vec<_> = Rows::new(reader, framing, 1000, false)
                .flat_map(|row| {
                    let row = row.unwrap();
                    csv_records(&row.bytes, row.line)
                })
                .collect();
            proptest::prop_assert_eq!(by_rows, csv_records(&bytes, 1));
        }
    }
}
