//! `bertcls zero-shot` with the tiny model: predictions are the labels whose
//! descriptions are most similar, recomputed here from vectors `bertcls embed` wrote
//! for the same descriptions; calibration and the refusals.

use crate::common;

use common::{bertcls, bertcls_fails, embedded_topics, tiny_model};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

use common::read_jsonl as predictions;

#[test]
fn predicts_the_label_with_the_most_similar_descriptions() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let topics = embedded_topics(d, 10);
    let labels = d.join("labels.toml");
    std::fs::write(
        &labels,
        "animals = [\"cat dog bird\", \"fish fox\"]\nmarkets = \"oil price market bank\"\n",
    )
    .unwrap();
    let output = d.join("zero-shot.jsonl");
    let run = bertcls(
        &["zero-shot"],
        &[
            ("--cache", &topics.train_cache),
            ("--descriptions", &labels),
            ("--output", &output),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("macro-F1"),
        "labelled texts get a report: {stderr}"
    );

    // The same descriptions embedded by `bertcls embed`, as the cache's texts were.
    let descriptions = d.join("descriptions.jsonl");
    std::fs::write(
        &descriptions,
        ["cat dog bird", "fish fox", "oil price market bank"]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "{}\n",
                    serde_json::json!({"id": format!("d{i}"), "text": t})
                )
            })
            .collect::<String>(),
    )
    .unwrap();
    let described = d.join("descriptions.emb");
    bertcls(
        &["embed", "--max-len", "16"],
        &[
            ("--model", &tiny_model()),
            ("--input", &descriptions),
            ("--output", &described),
        ],
    );
    let described = encoder::EmbeddingCache::open(&described).unwrap();
    let texts = encoder::EmbeddingCache::open(&topics.train_cache).unwrap();
    let lines = predictions(&output);
    assert_eq!(lines.len(), texts.meta.rows);
    // Each label's score: the mean cosine of the text with its descriptions.
    let scores = |i: usize| {
        let text = texts.row(i);
        let animals = (cosine(text, described.row(0)) + cosine(text, described.row(1))) / 2.0;
        (animals, cosine(text, described.row(2)))
    };
    let mut right = 0;
    for (i, line) in lines.iter().enumerate() {
        let (animals, markets) = scores(i);
        if (animals - markets).abs() < 1e-5 {
            continue;
        }
        let expected = if animals > markets {
            "animals"
        } else {
            "markets"
        };
        assert_eq!(
            line["label"], expected,
            "record {i}: {animals} vs {markets}"
        );
        let p = &line["probabilities"];
        let total = p["animals"].as_f64().unwrap() + p["markets"].as_f64().unwrap();
        assert!((total - 1.0).abs() < 1e-5);
        right += usize::from(line["label"] == line["true_label"]);
    }
    assert!(
        right * 10 >= lines.len() * 8,
        "disjoint topic words: {right}/{}",
        lines.len()
    );

    // Calibration on the texts themselves: both reports, and its effect, are printed.
    let calibrated = d.join("calibrated.jsonl");
    let run = bertcls(
        &["zero-shot", "--calibrate"],
        &[
            ("--cache", &topics.train_cache),
            ("--descriptions", &labels),
            ("--output", &calibrated),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    for expected in [
        "without calibration",
        "with calibration",
        "calibration: macro-F1",
    ] {
        assert!(stderr.contains(expected), "{expected} missing: {stderr}");
    }
    // In closed form: each label's mean score over the texts is subtracted, and the
    // probabilities are a softmax of the calibrated scores at temperature 0.05.
    let rows = texts.meta.rows as f64;
    let (offset_animals, offset_markets) = (0..texts.meta.rows)
        .map(scores)
        .fold((0.0, 0.0), |(a, m), (x, y)| (a + x / rows, m + y / rows));
    let calibrated = predictions(&calibrated);
    assert_eq!(calibrated.len(), lines.len());
    for (i, line) in calibrated.iter().enumerate() {
        let (animals, markets) = scores(i);
        let (animals, markets) = (animals - offset_animals, markets - offset_markets);
        let temperature = f64::from(head::SIMILARITY_TEMPERATURE);
        let p_animals = 1.0 / (1.0 + ((markets - animals) / temperature).exp());
        let written = line["probabilities"]["animals"].as_f64().unwrap();
        assert!(
            (written - p_animals).abs() < 1e-4,
            "record {i}: {written} vs {p_animals}"
        );
        if (animals - markets).abs() > 1e-5 {
            let expected = if animals > markets {
                "animals"
            } else {
                "markets"
            };
            assert_eq!(line["label"], expected, "record {i}");
        }
    }
}

#[test]
fn refuses_unknown_labels_and_a_foreign_calibration_set() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let topics = embedded_topics(d, 10);
    let output = d.join("out.jsonl");
    let err = bertcls_fails(
        &["zero-shot", "--describe", "plants=trees and flowers"],
        &[("--cache", &topics.train_cache), ("--output", &output)],
    );
    assert!(
        err.contains("\"plants\"") && err.contains("not one of the labels"),
        "{err}"
    );
    let err = bertcls_fails(
        &["zero-shot", "--template", "no slot here"],
        &[("--cache", &topics.train_cache), ("--output", &output)],
    );
    assert!(err.contains("{label}"), "{err}");
    // A calibration cache of another encoder (another max_len) is refused.
    let other = d.join("other.emb");
    bertcls(
        &["embed", "--max-len", "8"],
        &[
            ("--model", &tiny_model()),
            ("--input", &topics.valid),
            ("--output", &other),
        ],
    );
    let err = bertcls_fails(
        &["zero-shot"],
        &[
            ("--cache", &topics.train_cache),
            ("--calibrate", &other),
            ("--output", &output),
        ],
    );
    assert!(err.contains("another encoder"), "{err}");
}
