//! Each kind of job run in process: what it returns is what it wrote, two jobs that
//! measure the same thing agree, a seed decides a run, and a refused setting is a
//! typed error that leaves nothing behind.

use std::path::{Path, PathBuf};

use bertcls::settings::SettingError;
use bertcls::training::HiddenSizes;
use bertcls::{
    CompareJob, EmbedJob, FineTuneJob, FineTuneOutcome, FineTuneRun, GridOptions, Job, JobError,
    ModelOptions, PredictHeadJob, Quiet, SweepJob,
};
use testkit::{tiny_model, topic_splits};

/// The tiny model at 16 tokens.
fn tiny() -> ModelOptions {
    ModelOptions {
        model: tiny_model(),
        max_len: 16,
        ..ModelOptions::default()
    }
}

/// Topic data in a fresh folder: 30 training records, 16 each held out.
fn topics() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    topic_splits(dir.path(), 30, 16);
    dir
}

/// `dir/{split}.jsonl` embedded by the tiny model into `dir/{split}.emb`.
fn embedded(dir: &Path, split: &str) -> PathBuf {
    let mut job = EmbedJob::new(dir.join(format!("{split}.jsonl")));
    job.model = tiny();
    job.output = Some(dir.join(format!("{split}.emb")));
    job.run(&mut Quiet).unwrap().cache.path
}

#[test]
fn the_swept_best_head_predicts_as_the_sweep_ranked_it() {
    let dir = topics();
    let (train, valid) = (
        embedded(dir.path(), "train"),
        embedded(dir.path(), "validation"),
    );
    let mut sweep = SweepJob::new(&train, &valid, dir.path().join("sweep"));
    sweep.grid.hidden = Some(vec![HiddenSizes::linear(), HiddenSizes(vec![8])]);
    sweep.grid.learning_rates = Some(vec![0.01]);
    let swept = sweep.run(&mut Quiet).unwrap();
    assert_eq!(swept.entries.len(), swept.grid.configs().len());
    let scores: Vec<f64> = swept.entries.iter().map(|e| e.valid_score).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );

    // The saved head, loaded back by another job, scores the validation split as
    // the sweep did when it ranked it first.
    let predict = PredictHeadJob::new(&swept.best_head, &valid, dir.path().join("p.jsonl"));
    let report = predict
        .run(&mut Quiet)
        .unwrap()
        .expect("the split is labelled");
    let best = &swept.entries[0];
    let report = report.classes().expect("single-label data").clone();
    assert!(
        (report.macro_f1 - best.valid_score).abs() < 1e-6,
        "{} against {}",
        report.macro_f1,
        best.valid_score
    );
    assert!((report.accuracy - best.valid_accuracy.unwrap()).abs() < 1e-6);
    let lines = std::fs::read_to_string(dir.path().join("p.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 16);
}

/// A two-epoch run of the tiny model on `dir`'s topics, into `dir/out`.
fn fine_tuned(dir: &Path, out: &str) -> FineTuneRun {
    let mut job = FineTuneJob::new(dir.join("train.jsonl"), dir.join(out));
    job.model = tiny();
    job.valid = Some(dir.join("validation.jsonl"));
    job.optimization.epochs = 2;
    job.optimization.batch_size = 8;
    match job.run(&mut Quiet).unwrap() {
        FineTuneOutcome::Trained(run) => *run,
        FineTuneOutcome::CrossValidation { .. } => panic!("no cv was asked for"),
    }
}

#[test]
fn fine_tuning_writes_what_it_returns_and_its_seed_decides_it() {
    let _turn = testkit::rng_turn();
    let dir = topics();
    let run = fine_tuned(dir.path(), "a");
    // 30 examples in batches of 8: 4 optimizer steps an epoch, one evaluation each.
    assert_eq!(run.summary.steps, 8);
    assert_eq!(run.summary.history.len(), 2);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.summary_path).unwrap()).unwrap();
    assert_eq!(written, serde_json::to_value(&run.summary).unwrap());
    assert!(run.model_dir.join("config.json").is_file());

    let again = fine_tuned(dir.path(), "b");
    let curve = |run: &FineTuneRun| serde_json::to_value(&run.summary.history).unwrap();
    assert_eq!(curve(&again), curve(&run), "the same seed, the same run");
}

/// Every line's probabilities in a predictions file, by record id.
fn probabilities(path: &Path) -> std::collections::BTreeMap<String, Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            let p = line["probabilities"].as_object().unwrap();
            let id = line["id"].as_str().unwrap().to_owned();
            (id, p.values().map(|v| v.as_f64().unwrap()).collect())
        })
        .collect()
}

/// The best linear head of a sweep over `dir`'s embedded topics (the grid as `grid`
/// leaves it), and its test predictions file.
fn best_linear_head(dir: &Path, grid: impl FnOnce(&mut GridOptions)) -> (PathBuf, PathBuf) {
    let split = |name: &str| embedded(dir, name);
    let (train, valid, test) = (split("train"), split("validation"), split("test"));
    let mut sweep = SweepJob::new(&train, &valid, dir.join("sweep"));
    sweep.grid.hidden = Some(vec![HiddenSizes::linear()]);
    grid(&mut sweep.grid);
    let head = sweep.run(&mut Quiet).unwrap().best_head;
    let predictions = dir.join("head.jsonl");
    PredictHeadJob::new(&head, &test, &predictions)
        .run(&mut Quiet)
        .unwrap();
    (head, predictions)
}

#[test]
fn fine_tuning_from_a_pipeline_head_starts_with_its_predictions() {
    let _turn = testkit::rng_turn();
    // The head reads cached, standardised features; the classifier its standardiser
    // folded into the weights, over the same mean-pooled states it computes itself.
    // At a vanishing learning rate the fine-tuned model is its starting point, so its
    // test probabilities must be the head's.
    let dir = topics();
    let (head, head_predictions) = best_linear_head(dir.path(), |grid| {
        grid.learning_rates = Some(vec![0.01]);
    });

    let mut job = FineTuneJob::new(dir.path().join("train.jsonl"), dir.path().join("lp-ft"));
    job.model = tiny();
    job.valid = Some(dir.path().join("validation.jsonl"));
    job.test = Some(dir.path().join("test.jsonl"));
    job.start_head = Some(head.clone());
    job.pooling = bertcls::joint::ClassifierPooling::Mean;
    job.optimization.epochs = 1;
    job.optimization.learning_rate = 1e-30;
    let FineTuneOutcome::Trained(run) = job.run(&mut Quiet).unwrap() else {
        panic!("no cv was asked for");
    };
    let run_dir = run.model_dir.parent().unwrap();
    let (ours, theirs) = (
        probabilities(&run_dir.join(bertcls::TEST_PREDICTIONS_FILE)),
        probabilities(&head_predictions),
    );
    assert_eq!(ours.len(), 16);
    for (id, p) in &ours {
        let q = &theirs[id];
        let gap = p
            .iter()
            .zip(q)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(gap < 1e-4, "record {id}: {p:?} against the head's {q:?}");
    }

    // A classifier that pools otherwise, or a head of other features, is refused.
    job.pooling = bertcls::joint::ClassifierPooling::Cls;
    let Err(refused) = job.run(&mut Quiet) else {
        panic!("cls pooling is refused");
    };
    assert!(refused.to_string().contains("mean-pooled"), "{refused}");
}

/// The largest difference between two predictions files' probabilities, by record.
fn largest_gap(ours: &Path, theirs: &Path) -> f64 {
    let (ours, theirs) = (probabilities(ours), probabilities(theirs));
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .flat_map(|(id, p)| p.iter().zip(&theirs[id]).map(|(a, b)| (a - b).abs()))
        .fold(0.0, f64::max)
}

#[test]
fn contrastive_tuning_ends_in_logistic_regression_on_its_embeddings() {
    let _turn = testkit::rng_turn();
    // At a vanishing rate the encoder stays as it was: the classifier must then be
    // what the pipeline makes of the same encoder with the same head, logistic
    // regression over its cached mean-pooled features, standardiser and all. The head
    // is spelt out here as the pipeline's flags would: Adam with an L2 of 1/n (30
    // examples), full batches, a constant rate, 500 epochs.
    let dir = topics();
    let (_, head_predictions) = best_linear_head(dir.path(), |grid| {
        grid.optimizer = Some(vec![bertcls::training::OptimizerKind::Adam]);
        grid.learning_rates = Some(vec![1e-2]);
        grid.l2 = Some(vec![1.0 / 30.0]);
        grid.schedule = Some(bertcls::training::Schedule::Constant);
        grid.epochs = Some(500);
        grid.batch_size = Some(30);
        grid.patience = Some(500);
    });

    let mut job = FineTuneJob::new(dir.path().join("train.jsonl"), dir.path().join("setfit"));
    job.model = tiny();
    job.valid = Some(dir.path().join("validation.jsonl"));
    job.test = Some(dir.path().join("test.jsonl"));
    job.pooling = bertcls::joint::ClassifierPooling::Mean;
    job.contrastive = true;
    job.contrastive_pairs.pair_iterations = 2;
    job.optimization.epochs = 1;
    job.optimization.learning_rate = 1e-30;
    let FineTuneOutcome::Trained(run) = job.run(&mut Quiet).unwrap() else {
        panic!("no cv was asked for");
    };
    // 30 examples, 2 iterations: 120 pairs in steps of 16.
    assert_eq!(run.summary.steps, 8);
    assert_eq!(run.summary.contrastive, Some(job.contrastive_pairs.clone()));
    let run_dir = run.model_dir.parent().unwrap();
    let gap = largest_gap(
        &run_dir.join(bertcls::TEST_PREDICTIONS_FILE),
        &head_predictions,
    );
    assert!(gap < 2e-4, "probabilities differ by {gap}");

    // Tuning that moves the encoder moves the predictions.
    job.optimization.learning_rate = 1e-3;
    job.out = dir.path().join("tuned");
    job.run(&mut Quiet).unwrap();
    let gap = largest_gap(
        &job.out.join(bertcls::TEST_PREDICTIONS_FILE),
        &head_predictions,
    );
    assert!(gap > 2e-3, "probabilities differ by only {gap}");

    // The top layer alone, over the cached states of the layer below (it moves less
    // than the whole encoder: a higher rate).
    job.optimization.train_layers = Some(1);
    job.optimization.learning_rate = 1e-2;
    job.out = dir.path().join("top-1");
    let FineTuneOutcome::Trained(top) = job.run(&mut Quiet).unwrap() else {
        panic!("no cv was asked for");
    };
    assert_eq!(top.summary.steps, 8);
    assert!(
        !top.summary.states.is_empty(),
        "the bottom layer's states were cached"
    );
    let gap = largest_gap(
        &job.out.join(bertcls::TEST_PREDICTIONS_FILE),
        &head_predictions,
    );
    assert!(
        gap > 2e-3,
        "the top layer moved the predictions by only {gap}"
    );
    job.optimization.train_layers = None;

    // It tunes mean-pooled embeddings and trains on no loss of labels.
    job.pooling = bertcls::joint::ClassifierPooling::Cls;
    let refused = job.run(&mut Quiet).unwrap_err().to_string();
    assert!(refused.contains("mean-pooled"), "{refused}");
    job.pooling = bertcls::joint::ClassifierPooling::Mean;
    job.sampling = bertcls::data::Sampling::Oversample { ratio: 1.0 };
    let refused = job.run(&mut Quiet).unwrap_err().to_string();
    assert!(refused.contains("sampling"), "{refused}");
}

#[test]
fn a_refused_setting_is_a_typed_error_and_leaves_no_folder() {
    let dir = topics();
    let out = dir.path().join("refused");
    let mut job = FineTuneJob::new(dir.path().join("train.jsonl"), &out);
    job.model = tiny();
    job.valid_fraction = 0.7;
    let error = job.run(&mut Quiet).unwrap_err();
    assert!(
        matches!(
            &error,
            JobError::Setting(SettingError {
                setting: "valid_fraction",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(!out.exists());

    let mut job = FineTuneJob::new(dir.path().join("train.jsonl"), &out);
    job.model = tiny();
    job.optimization.learning_rate = -1.0;
    let error = job.run(&mut Quiet).unwrap_err();
    assert!(
        error.chain().contains("learning_rate -1"),
        "{}",
        error.chain()
    );
    assert!(!out.exists());
}

#[test]
fn a_comparison_returns_the_results_it_wrote() {
    let _turn = testkit::rng_turn();
    let dir = topics();
    let mut job = CompareJob::new(dir.path().to_str().unwrap());
    job.model = tiny_model();
    job.quick = true;
    job.max_len = Some(16);
    job.epochs = Some(1);
    job.out = dir.path().join("reports");
    job.cache_dir = dir.path().join("cache");
    job.state_cache_dir = dir.path().join("states");
    let compared = job.run(&mut Quiet).unwrap();
    let written =
        bertcls::report::read_results(&compared.dir.join(bertcls::report::RESULTS_FILE)).unwrap();
    assert_eq!(written, compared.comparison);
    let c = &compared.comparison;
    assert_eq!((c.pipeline.runs.len(), c.end_to_end.runs.len()), (1, 1));
    assert_eq!(c.data.train, 30);
}

/// `dir/{split}.jsonl` of texts mixing the two topics' words: labelled with the
/// list of topics present (multi-label) or the share of market words, in quarters
/// (regression). Every word is in the tiny model's vocabulary.
fn mixed_topics(dir: &Path, task: bertcls::data::Task) {
    const ANIMALS: [&str; 4] = ["cat", "dog", "bird", "fox"];
    const MARKETS: [&str; 4] = ["oil", "price", "bank", "rate"];
    for (split, n, offset) in [("train", 40, 0), ("validation", 16, 1), ("test", 16, 2)] {
        let lines: String = (0..n)
            .map(|i: usize| {
                let markets = (i + offset) % 5; // 0 to 4 of the 4 words
                let words: Vec<&str> = (0..4)
                    .map(|j| {
                        if j < markets {
                            MARKETS[(i + j) % 4]
                        } else {
                            ANIMALS[(i + j) % 4]
                        }
                    })
                    .collect();
                let label = match task {
                    bertcls::data::Task::MultiLabel => {
                        let mut tags = Vec::new();
                        if markets < 4 {
                            tags.push("animals");
                        }
                        if markets > 0 {
                            tags.push("markets");
                        }
                        serde_json::json!(tags)
                    }
                    // A share with a fraction, so that the reader sees values.
                    _ => serde_json::json!(markets as f64 / 4.0 + 0.1),
                };
                let record = serde_json::json!({
                    "id": format!("{split}-{i}"),
                    "text": words.join(" the "),
                    "label": label,
                });
                format!("{record}\n")
            })
            .collect();
        std::fs::write(dir.join(format!("{split}.jsonl")), lines).unwrap();
    }
}

#[test]
fn heads_of_tags_and_values_predict_in_their_labels_form_as_the_sweep_ranked_them() {
    use bertcls::data::Task;
    use bertcls::metrics::TaskReport;
    for task in [Task::MultiLabel, Task::Regression] {
        let dir = tempfile::tempdir().unwrap();
        mixed_topics(dir.path(), task);
        let (train, valid, test) = (
            embedded(dir.path(), "train"),
            embedded(dir.path(), "validation"),
            embedded(dir.path(), "test"),
        );
        let mut sweep = SweepJob::new(&train, &valid, dir.path().join("sweep"));
        sweep.grid.hidden = Some(vec![HiddenSizes::linear(), HiddenSizes(vec![8])]);
        sweep.grid.learning_rates = Some(vec![0.01]);
        sweep.grid.epochs = Some(20);
        let swept = sweep.run(&mut Quiet).unwrap();
        let best = &swept.entries[0];
        assert_eq!(best.metric, bertcls::metrics::MainMetric::of(task));

        // Loaded back, the best head scores validation as the sweep ranked it.
        let again = PredictHeadJob::new(&swept.best_head, &valid, dir.path().join("v.jsonl"));
        let report = again.run(&mut Quiet).unwrap().expect("labelled");
        assert_eq!(report.task(), task);
        assert!(
            (report.main() - best.valid_score).abs() < 1e-5,
            "{task}: {} against {}",
            report.main(),
            best.valid_score
        );

        // Predictions carry the label in the data's own form.
        let out = dir.path().join("p.jsonl");
        let predicted = PredictHeadJob::new(&swept.best_head, &test, &out)
            .run(&mut Quiet)
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        for line in text.lines() {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            match task {
                Task::MultiLabel => {
                    assert!(line["label"].is_array(), "{line}");
                    assert_eq!(line["probabilities"].as_object().unwrap().len(), 2);
                }
                _ => assert!(line["label"].is_f64(), "{line}"),
            }
        }
        match (task, predicted) {
            (Task::MultiLabel, Some(TaskReport::MultiLabel(r))) => assert_eq!(r.examples, 16),
            (Task::Regression, Some(TaskReport::Regression(r))) => assert_eq!(r.examples, 16),
            (task, other) => panic!("{task}: {other:?}"),
        }

        // The commands that take any model read a head of any task from texts, and
        // agree with the head's own prediction over the cache of the same texts.
        let evaluated = bertcls::EvaluateJob::new(&swept.best_head, dir.path().join("test.jsonl"))
            .run(&mut Quiet)
            .unwrap();
        let from_cache = PredictHeadJob::new(&swept.best_head, &test, dir.path().join("c.jsonl"))
            .run(&mut Quiet)
            .unwrap()
            .unwrap();
        assert!(
            (evaluated.report.main() - from_cache.main()).abs() < 1e-5,
            "{task}: {} from texts, {} from the cache",
            evaluated.report.summary(),
            from_cache.summary()
        );
        let mut predict = bertcls::PredictJob::new(&swept.best_head, dir.path().join("test.jsonl"));
        predict.output = None;
        let predicted = predict.run(&mut Quiet).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(predicted.lines.unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(
            first["label"].is_array(),
            task == Task::MultiLabel,
            "{first}"
        );
        assert_eq!(predicted.report.unwrap().task(), task);

        // Thresholds chosen per label, and at least one label for every text.
        if task == Task::MultiLabel {
            let mut decided = SweepJob::new(&train, &valid, dir.path().join("decided"));
            decided.grid = sweep.grid.clone();
            decided.decision.threshold = Some(bertcls::metrics::ThresholdTarget::BestF1);
            decided.decision.at_least_one = true;
            let swept = decided.run(&mut Quiet).unwrap();
            let out = dir.path().join("d.jsonl");
            PredictHeadJob::new(&swept.best_head, &test, &out)
                .run(&mut Quiet)
                .unwrap();
            let saved: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(swept.best_head.join("head.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(saved["thresholds"]["at_least_one"], true, "{saved}");
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(
                text.lines().all(|l| !l.contains(r#""label":[]"#)),
                "every text gets a label:\n{text}"
            );
        } else {
            let mut decided = SweepJob::new(&train, &valid, dir.path().join("decided"));
            decided.decision.at_least_one = true;
            let refused = decided.run(&mut Quiet).map(|_| ()).unwrap_err().to_string();
            assert!(
                refused.contains("regression head's value is its prediction"),
                "{refused}"
            );
        }

        // Cross-validation folds the training examples by the task's targets and
        // scores each fold by its metrics.
        let mut cv = bertcls::TrainHeadJob::new(&train, &valid, dir.path().join("cv"));
        cv.grid.epochs = Some(5);
        cv.cv = Some(4);
        let bertcls::TrainedHeads::CrossValidation { cv, out } = cv.run(&mut Quiet).unwrap() else {
            panic!("a cross-validation was asked for")
        };
        let metric = bertcls::metrics::MainMetric::of(task);
        assert!(
            cv.summary.contains_key(metric.key()),
            "{:?}",
            cv.summary.keys()
        );
        let held_out: usize = cv
            .folds
            .iter()
            .map(|f| match f {
                TaskReport::MultiLabel(r) => r.examples,
                TaskReport::Regression(r) => r.examples,
                other => panic!("{task}: {other:?}"),
            })
            .sum();
        assert_eq!(held_out, 40, "every training example held out once");
        let lines = std::fs::read_to_string(out.join("cv-predictions.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 40);
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(
            first["label"].is_array(),
            task == Task::MultiLabel,
            "{first}"
        );
        assert_eq!(
            first["true_label"].is_array(),
            task == Task::MultiLabel,
            "{first}"
        );
        assert!(first["fold"].is_u64(), "{first}");

        // Labelled data of another task is refused, both tasks named.
        let classes = topics();
        let other = embedded(classes.path(), "test");
        let refused = PredictHeadJob::new(&swept.best_head, &other, dir.path().join("o.jsonl"))
            .run(&mut Quiet)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("holds single-label data")
                && refused.contains(&format!("learnt {task} data")),
            "{refused}"
        );
    }
}
