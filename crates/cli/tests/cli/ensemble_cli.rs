//! Ensembles through `bertcls`: bagged and boosted heads, `bertcls ensemble` over a
//! fine-tuned model and a head, and `predict` on all of them.

use crate::common;

use std::path::Path;

use common::{bertcls, bertcls_fails, embedded_topics, read_jsonl, tiny_model};

/// Each prediction line's probabilities, by label.
fn probabilities(path: &Path) -> Vec<(String, Vec<(String, f64)>)> {
    read_jsonl(path)
        .into_iter()
        .map(|line| {
            let probabilities = line["probabilities"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(label, p)| (label.clone(), p.as_f64().unwrap()))
                .collect();
            (line["id"].as_str().unwrap().to_owned(), probabilities)
        })
        .collect()
}

fn predict(model: &Path, input: &Path, output: &Path) {
    bertcls(
        &["predict"],
        &[("--model", model), ("--input", input), ("--output", output)],
    );
}

#[test]
fn bagged_and_boosted_heads_save_an_ensemble_that_predict_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topics = embedded_topics(d, 10);
    let caches = [
        ("--train", topics.train_cache.as_path()),
        ("--valid", &topics.valid_cache),
    ];
    for (flags, members, combine) in [
        (&["--bag", "3", "--combine", "vote"][..], 3, "vote"),
        (&["--boost", "3"][..], 0, "vote"),
    ] {
        let out = d.join(format!("heads-{}", flags[0].trim_start_matches('-')));
        let mut args = vec!["head", "train", "--epochs", "10"];
        args.extend_from_slice(flags);
        let mut paths = caches.to_vec();
        paths.push(("--out", &out));
        let output = bertcls(&args, &paths);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("best member"), "{stderr}");
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("ensemble.json")).unwrap())
                .unwrap();
        assert_eq!(spec["combine"], combine);
        let listed = spec["members"].as_array().unwrap().len();
        if members > 0 {
            assert_eq!(listed, members);
        }
        assert!(listed >= 1 && out.join("members/01.head/head.json").exists());
        // predict embeds the texts as the heads' features were and combines the heads.
        let predictions = d.join("predictions.jsonl");
        predict(&out, &topics.valid, &predictions);
        let lines = probabilities(&predictions);
        assert_eq!(lines.len(), 10);
        for (_, p) in &lines {
            assert!((p.iter().map(|(_, v)| v).sum::<f64>() - 1.0).abs() < 1e-5);
        }
    }
    let refused = bertcls_fails(
        &["head", "train", "--boost", "2", "--loss", "focal"],
        &[caches[0], caches[1], ("--out", &d.join("x"))],
    );
    assert!(refused.contains("plain cross-entropy"), "{refused}");
}

#[test]
fn an_ensemble_of_a_fine_tuned_model_and_a_head_averages_their_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topics = embedded_topics(d, 10);
    let (run, head) = (d.join("run"), d.join("head"));
    let output = common::finetune_briefly(
        &["--lr", "1e-3", "--bootstrap"],
        &[
            ("--model", &tiny_model()),
            ("--train", &topics.train),
            ("--valid", &topics.valid),
            ("--out", &run),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bootstrap sample: 30 draws,"), "{stderr}");
    bertcls(
        &["head", "train", "--epochs", "10"],
        &[
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &head),
        ],
    );
    let ensemble = d.join("ensemble");
    let members = [run.to_str().unwrap(), head.to_str().unwrap()];
    let output = bertcls(
        &[
            "ensemble",
            "--member",
            members[0],
            members[1],
            "--weights",
            "1,3",
        ],
        &[("--evaluate", &topics.valid), ("--out", &ensemble)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("over the best member"), "{stderr}");
    let evaluation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ensemble.join("evaluation.json")).unwrap())
            .unwrap();
    assert_eq!(evaluation["members"].as_array().unwrap().len(), 2);

    // The ensemble's probabilities are the members' weighted mean, label by label.
    let files = ["run", "head", "ensemble"].map(|name| d.join(format!("{name}.jsonl")));
    for (model, file) in [&run, &head, &ensemble].into_iter().zip(&files) {
        predict(model, &topics.valid, file);
    }
    let [run_p, head_p, ensemble_p] = files.map(|f| probabilities(&f));
    for ((id, combined), ((_, a), (_, b))) in ensemble_p.iter().zip(run_p.iter().zip(&head_p)) {
        for (label, p) in combined {
            let of =
                |member: &Vec<(String, f64)>| member.iter().find(|(l, _)| l == label).unwrap().1;
            let expected = (of(a) + 3.0 * of(b)) / 4.0;
            assert!(
                (p - expected).abs() < 1e-5,
                "{id} {label}: {p} vs {expected}"
            );
        }
    }
    let refused = bertcls_fails(
        &["ensemble", "--member", members[0], "--weights", "1,2,3"],
        &[("--out", &d.join("bad"))],
    );
    assert!(
        refused.contains("--weights has 3 values for 1 members"),
        "{refused}"
    );
}
