use std::path::PathBuf;

use data::{DataError, Label, LabelMap, ReadOptions, Task, read_records};

fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn bad_row_line(err: DataError) -> u64 {
    match err {
        DataError::BadRow { row, .. } => row.line,
        other => panic!("expected a bad row, got {other}"),
    }
}

#[test]
fn reads_jsonl_with_numeric_labels_and_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "d.jsonl",
        b"{\"id\":\"a\",\"text\":\"first\",\"text_b\":\"second\",\"label\":1}\n\n{\"text\":\"x\",\"text_b\":\"y\",\"label\":\"0\"}\n",
    );
    let options = ReadOptions {
        text_b_col: Some("text_b".into()),
        ..ReadOptions::default()
    };
    let out = read_records(&path, &options).unwrap();
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.records[0].text_b.as_deref(), Some("second"));
    assert_eq!(out.records[0].class(), Some("1"));
    // Without an id column, a record is named by its line (line 2 is blank).
    assert_eq!(out.records[1].id, "line-3");
    assert_eq!(LabelMap::from_records(&out.records).names(), ["0", "1"]);
}

#[test]
fn lists_and_separated_cells_are_sets_of_labels_and_fractions_values() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = file(
        &dir,
        "tags.jsonl",
        b"{\"text\":\"a\",\"label\":[\"sport\",\" politics \",\"sport\"]}\n\
          {\"text\":\"b\",\"label\":[]}\n{\"text\":\"c\",\"label\":\"sport\"}\n",
    );
    let out = read_records(&jsonl, &ReadOptions::default()).unwrap();
    assert_eq!(out.task.task, Task::MultiLabel);
    let labels: Vec<_> = out
        .records
        .iter()
        .map(|r| r.label.clone().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            Label::tags(["politics", "sport"]),
            Label::tags(Vec::<String>::new()),
            Label::tags(["sport"])
        ]
    );
    assert_eq!(
        LabelMap::from_records(&out.records).counts(&out.records),
        [1, 2]
    );

    let csv = file(&dir, "tags.csv", b"text,label\na,x|y\nb,\n");
    let separated = ReadOptions {
        label_sep: Some("|".into()),
        ..ReadOptions::default()
    };
    let out = read_records(&csv, &separated).unwrap();
    assert_eq!(out.records[0].label, Some(Label::tags(["x", "y"])));
    let empty = ReadOptions {
        label_sep: Some(String::new()),
        ..ReadOptions::default()
    };
    match read_records(&csv, &empty) {
        Err(DataError::Format { message, .. }) => {
            assert!(message.to_string().contains("`label_sep`"), "{message}")
        }
        other => panic!("an empty separator must be refused, got {other:?}"),
    }
    assert_eq!(
        out.records[1].label,
        Some(Label::tags(Vec::<String>::new()))
    );

    let values = file(
        &dir,
        "values.csv",
        b"text,label\na,0.5\nb,-2\nc,high\nd,3\n",
    );
    let regression = ReadOptions {
        task: Some(Task::Regression),
        ..ReadOptions::default()
    };
    assert_eq!(
        bad_row_line(read_records(&values, &regression).unwrap_err()),
        4
    );
    let skipping = ReadOptions {
        skip_bad_rows: true,
        ..regression
    };
    let out = read_records(&values, &skipping).unwrap();
    let read: Vec<_> = out
        .records
        .iter()
        .map(|r| r.label.as_ref().unwrap().value())
        .collect();
    assert_eq!(read, [Some(0.5), Some(-2.0), Some(3.0)]);
    assert_eq!(out.skipped[0].line, 4);
}

#[test]
fn reads_csv_and_tsv_with_chosen_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = file(
        &dir,
        "d.csv",
        b"body,cls\n\"hello, world\",pos\n\"two\nlines\",neg\n",
    );
    let tsv = file(&dir, "d.tsv", b"cls\tbody\npos\thello\n");
    let options = ReadOptions {
        text_col: "body".into(),
        label_col: "cls".into(),
        ..ReadOptions::default()
    };
    let out = read_records(&csv, &options).unwrap();
    assert_eq!(out.records[0].text, "hello, world");
    assert_eq!(out.records[1].text, "two\nlines");
    assert_eq!(out.records[1].class(), Some("neg"));
    assert_eq!(
        read_records(&tsv, &options).unwrap().records[0].text,
        "hello"
    );
}

#[test]
fn a_missing_text_column_names_the_columns_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "d.csv", b"body,label\nx,1\n");
    let err = read_records(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"text\"") && err.contains("body, label") && err.contains("`text_col`"),
        "{err}"
    );
}

#[test]
fn bad_rows_stop_the_read_with_their_line_number() {
    let dir = tempfile::tempdir().unwrap();
    // Line 3 has an empty text; line 4 invalid UTF-8; line 5 no label.
    let mut bytes = b"text,label\nfine,a\n   ,b\n".to_vec();
    bytes.extend_from_slice(b"caf\xe9,a\nno label,\nlast,b\n");
    let path = file(&dir, "d.csv", &bytes);
    let err = read_records(&path, &ReadOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("d.csv:3") && message.contains("skip bad rows"),
        "{message}"
    );
    assert_eq!(bad_row_line(err), 3);

    let options = ReadOptions {
        skip_bad_rows: true,
        ..ReadOptions::default()
    };
    let out = read_records(&path, &options).unwrap();
    assert_eq!(
        out.records
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>(),
        ["fine", "last"]
    );
    let lines: Vec<u64> = out.skipped.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 4, 5]);
    assert!(out.skipped[1].reason.contains("UTF-8"));
}

#[test]
fn jsonl_bad_rows_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "d.jsonl", b"{\"text\":\"ok\",\"label\":\"a\"}\n{\"text\":\"\xff\",\"label\":\"a\"}\nnot json\n{\"label\":\"a\"}\n");
    let err = read_records(&path, &ReadOptions::default()).unwrap_err();
    assert_eq!(bad_row_line(err), 2);
    let options = ReadOptions {
        skip_bad_rows: true,
        ..ReadOptions::default()
    };
    let out = read_records(&path, &options).unwrap();
    assert_eq!(out.records.len(), 1);
    assert_eq!(
        out.skipped.iter().map(|b| b.line).collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

#[test]
fn unlabelled_data_is_accepted_when_labels_are_optional() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "d.jsonl", b"{\"text\":\"no label here\"}\n");
    assert!(read_records(&path, &ReadOptions::default()).is_err());
    let options = ReadOptions {
        require_labels: false,
        ..ReadOptions::default()
    };
    assert_eq!(
        read_records(&path, &options).unwrap().records[0].label,
        None
    );
}

#[test]
fn an_input_without_an_extension_is_read_in_the_format_of_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let options = ReadOptions {
        require_labels: false,
        ..ReadOptions::default()
    };
    for (name, bytes) in [
        ("json", &b"\n  {\"text\": \"a, b\"}\n"[..]),
        ("tsv", b"id\ttext\nx\ta, b\n"),
        ("csv", b"text,id\n\"a, b\",x\n"),
    ] {
        let path = file(&dir, name, bytes);
        let records = read_records(&path, &options).unwrap().records;
        assert_eq!(records[0].text, "a, b", "{name}");
    }
}

#[test]
fn the_checksum_is_the_files_taken_in_the_same_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "d.csv",
        "\u{feff}text,label\r\n\"two\r\nlines\",a\r\n\r\nb,c".as_bytes(),
    );
    let out = read_records(&path, &ReadOptions::default()).unwrap();
    assert_eq!(out.records[0].text, "two\r\nlines");
    assert_eq!(out.records[1].id, "line-5");
    assert_eq!(out.sha256, data::sha256_file(&path).unwrap());
}

#[test]
fn an_over_long_row_is_named_by_its_line_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(data::MAX_ROW_BYTES + 1);
    let bytes = format!(
        "{{\"text\": \"a\", \"label\": \"1\"}}\n{{\"text\": \"{long}\"}}\n{{\"text\": \"b\", \"label\": \"2\"}}\n"
    );
    let path = file(&dir, "d.jsonl", bytes.as_bytes());
    let err = read_records(&path, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
    assert_eq!(bad_row_line(err), 2);
    let options = ReadOptions {
        skip_bad_rows: true,
        ..ReadOptions::default()
    };
    let out = read_records(&path, &options).unwrap();
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.records[1].id, "line-3");
    assert_eq!(out.skipped[0].line, 2);
}

#[test]
fn an_endless_input_without_newlines_is_refused_at_its_first_line() {
    // A sniffed (extension-less) input: its first line is read as a line, with the
    // same bound.
    let err = read_records(std::path::Path::new("/dev/zero"), &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/dev/zero:1") && err.contains("over the limit"),
        "{err}"
    );
}

#[test]
fn a_named_pipe_is_read_once_and_a_folder_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available here");
        return;
    }
    let bytes = b"{\"text\": \"cat\", \"label\": \"a\"}\n{\"text\": \"dog\", \"label\": \"b\"}\n";
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let out = read_records(&fifo, &ReadOptions::default()).unwrap();
    writer.join().unwrap();
    assert_eq!(out.records.len(), 2);
    assert_eq!(
        out.sha256,
        format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(bytes))
    );
    let folder = dir.path().join("data.jsonl");
    std::fs::create_dir(&folder).unwrap();
    let err = read_records(&folder, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.jsonl") && err.contains("is a folder"),
        "{err}"
    );
}
