//! The readers on damaged and arbitrary files: a bad file is an error or a set of
//! bad rows, never a panic, whatever its bytes.

use data::{ReadOptions, read_records};
use proptest::prelude::*;
use testkit::{Damage, damage};

const JSONL: &str = concat!(
    "{\"id\": \"a\", \"text\": \"the cat sat\", \"label\": \"animals\"}\n",
    "{\"id\": \"b\", \"text\": \"oil rose\", \"text_b\": \"prices\", \"label\": 3}\n",
    "\n",
    "{\"id\": \"c\", \"text\": \"dog\", \"text_b\": null, \"label\": \" animals \"}\n",
);
const CSV: &str =
    "\u{feff}id,text,text_b,label\na,\"the cat, sat\",,animals\nb,\"two\nlines\",b side,markets\n";

fn options(require_labels: bool, skip_bad_rows: bool) -> ReadOptions {
    ReadOptions {
        require_labels,
        skip_bad_rows,
        ..ReadOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_files_never_panic(
        damages in proptest::collection::vec(damage(), 1..4),
        csv in any::<bool>(),
        require_labels in any::<bool>(),
        skip_bad_rows in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (name, text) = if csv { ("d.csv", CSV) } else { ("d.jsonl", JSONL) };
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        for d in damages {
            d.apply(&path);
        }
        let _ = read_records(&path, &options(require_labels, skip_bad_rows));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        extension in prop_oneof![Just("jsonl"), Just("csv"), Just("tsv")],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("d.{extension}"));
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_records(&path, &options(false, true));
        let _ = read_records(&path, &options(true, false));
    }
}

#[test]
fn the_undamaged_files_read_as_intended() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("d.jsonl");
    std::fs::write(&jsonl, JSONL).unwrap();
    let records = read_records(&jsonl, &options(true, false)).unwrap().records;
    // Pairs and single texts mix; a null text_b is a single text; labels are trimmed.
    assert_eq!(records[1].text_b.as_deref(), Some("prices"));
    assert_eq!(records[2].text_b, None);
    assert_eq!(records[2].class(), Some("animals"));
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, CSV).unwrap();
    let records = read_records(&csv, &options(true, false)).unwrap().records;
    // The byte-order mark does not hide the first column; an empty text_b is none.
    assert_eq!(records[0].id, "a");
    assert_eq!(records[0].text_b, None);
    assert_eq!(records[1].text, "two\nlines");
    assert_eq!(records[1].text_b.as_deref(), Some("b side"));
    // A flipped byte is at worst a bad row or an error, as the properties show; one
    // that renames the text field is reported, not read silently.
    Damage::Flip { at: 16, mask: 0x01 }.apply(&jsonl);
    assert!(read_records(&jsonl, &options(true, false)).is_err());
}
