//! Toy labelled data: two topics, animals and markets, told apart by their words, all
//! in the tiny model's vocabulary, so that even the tiny random BERT's features
//! separate them and a test can expect a classifier to beat chance.

use std::path::{Path, PathBuf};

/// The words of each topic; no word is in both.
const TOPICS: [(&str, [&str; 5]); 2] = [
    ("animals", ["cat", "dog", "bird", "fish", "fox"]),
    ("markets", ["oil", "price", "market", "bank", "rate"]),
];

/// Writes `dir/{name}.jsonl`: `n` records alternating between the topics (ids
/// `{name}-{i}`, 3 to 6 words), the texts varied by `offset` so that two files differ.
pub fn topic_file(dir: &Path, name: &str, n: usize, offset: usize) -> PathBuf {
    let lines: String = (0..n)
        .map(|i| {
            let (label, words) = TOPICS[i % 2];
            let text: Vec<&str> = (0..3 + (i + offset) % 4)
                .map(|j| words[(i * 3 + j + offset) % 5])
                .collect();
            let record = serde_json::json!({
                "id": format!("{name}-{i}"),
                "text": text.join(" the "),
                "label": label,
            });
            format!("{record}\n")
        })
        .collect();
    let path = dir.join(format!("{name}.jsonl"));
    std::fs::write(&path, lines).unwrap();
    path
}

/// Writes train (`train` records), validation and test (`held_out` each) topic files
/// into `dir`: the folder layout a comparison reads.
pub fn topic_splits(dir: &Path, train: usize, held_out: usize) {
    for (split, n, offset) in [
        ("train", train, 0),
        ("validation", held_out, 1),
        ("test", held_out, 2),
    ] {
        topic_file(dir, split, n, offset);
    }
}
