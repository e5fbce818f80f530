//! Heads of the tasks without one class per row: a sigmoid per label, one value.

use artifacts::Overwrite;
use burn::tensor::Device;
use data::{Sampling, SplitMix64, Task};
use head::{FeatureOrigin, Features, HeadError, SavedHead, TrainConfig, train_head};
use metrics::{MultiLabelReport, TaskReport};
use training::{Monitor, Readout, Targets};

fn normal(rng: &mut SplitMix64) -> f64 {
    // Box–Muller.
    let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 + f64::MIN_POSITIVE;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn gaussian_rows(rows: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..rows * dim).map(|_| normal(&mut rng)).collect()
}

const WEIGHTS: [f64; 4] = [1.5, -2.0, 0.5, 3.0];

/// Rows whose value is `100 + 30·(x·w) + ε`, ε of spread 3: far from unit scale,
/// so a head that did not standardise its targets, or did not restore them,
/// misses by a mile.
fn values(rows: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let x = gaussian_rows(rows, WEIGHTS.len(), seed);
    let mut rng = SplitMix64::new(seed ^ 0xfeed);
    let y = x
        .chunks_exact(WEIGHTS.len())
        .map(|row| {
            let signal: f64 = row.iter().zip(WEIGHTS).map(|(x, w)| x * w).sum();
            100.0 + 30.0 * signal + 3.0 * normal(&mut rng)
        })
        .collect();
    (x, y)
}

fn value_features(x: &[f64], y: &[f64]) -> Features {
    Features::with_targets(
        x.iter().map(|&v| v as f32).collect(),
        WEIGHTS.len(),
        Targets::Values(y.iter().map(|&v| v as f32).collect()),
    )
}

/// Ordinary least squares with an intercept, from the normal equations solved by
/// Gaussian elimination in f64: the exact minimiser of the squared error.
fn least_squares(x: &[f64], y: &[f64], dim: usize) -> Vec<f64> {
    let k = dim + 1;
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, &target) in x.chunks_exact(dim).zip(y) {
        let z: Vec<f64> = row.iter().copied().chain([1.0]).collect();
        for i in 0..k {
            for j in 0..k {
                a[i][j] += z[i] * z[j];
            }
            a[i][k] += z[i] * target;
        }
    }
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col] / pivot_row[col];
                for (v, p) in values.iter_mut().zip(&pivot_row).skip(col) {
                    *v -= factor * p;
                }
            }
        }
    }
    (0..k).map(|i| a[i][k] / a[i][i]).collect()
}

/// A linear head trained to convergence: full batches, no penalty, and patience
/// for every epoch, so the kept weights are the optimum's and not an early stop's.
fn linear(rows: usize) -> TrainConfig {
    TrainConfig {
        learning_rate: 5e-2,
        schedule: training::Schedule::Constant,
        l2: 0.0,
        epochs: 600,
        batch_size: rows,
        patience: 600,
        min_delta: 0.0,
        ..TrainConfig::default()
    }
}

#[test]
fn a_linear_regression_head_finds_the_least_squares_fit_in_the_data_units() {
    let device = Device::flex();
    let (x, y) = values(400, 1);
    let train = value_features(&x, &y);
    // Validated on its own training data, the kept epoch is the training optimum's,
    // which least squares computes exactly.
    let head = train_head(&train, &train, &[], &linear(400), &device).unwrap();
    assert!(matches!(head.readout, Readout::Regression { .. }));

    let beta = least_squares(&x, &y, WEIGHTS.len());
    let (vx, vy) = values(200, 2);
    let predicted = head.predict_proba(&value_features(&vx, &vy), &device);
    let mut worst: f64 = 0.0;
    for (row, &p) in vx.chunks_exact(WEIGHTS.len()).zip(&predicted) {
        let ols: f64 = row.iter().zip(&beta).map(|(x, b)| x * b).sum::<f64>() + beta[4];
        worst = worst.max((f64::from(p) - ols).abs());
    }
    // The targets spread by about 115; the fits agree to well under one unit.
    assert!(worst < 0.5, "largest gap to least squares: {worst}");

    // The report is of the restored values, in the data's units.
    let fitted = head.predict_proba(&train, &device);
    let rmse = (fitted
        .iter()
        .zip(&y)
        .map(|(&p, &t)| (f64::from(p) - t).powi(2))
        .sum::<f64>()
        / y.len() as f64)
        .sqrt();
    let TaskReport::Regression(report) = &head.valid_report else {
        panic!("a regression head reports values: {:?}", head.valid_report)
    };
    assert!(
        (report.rmse - rmse).abs() < 1e-3,
        "{} vs {rmse}",
        report.rmse
    );
    assert!(
        rmse < 4.0,
        "noise of spread 3 leaves an RMSE near 3, not {rmse}"
    );
}

/// Three labels, label `j` applying where feature `j` is positive: rows with none,
/// one, two or all three.
fn tags(rows: usize, seed: u64) -> Features {
    let x = gaussian_rows(rows, 5, seed);
    let marks = x
        .chunks_exact(5)
        .flat_map(|row| row[..3].iter().map(|&v| v > 0.0).collect::<Vec<_>>())
        .collect();
    Features::with_targets(
        x.iter().map(|&v| v as f32).collect(),
        5,
        Targets::Tags { labels: 3, marks },
    )
}

fn tag_names() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

#[test]
fn a_multi_label_head_decides_each_label_on_its_own() {
    let device = Device::flex();
    let (train, valid) = (tags(600, 3), tags(300, 4));
    let head = train_head(&train, &valid, &tag_names(), &linear(600), &device).unwrap();
    let scores = head.predict_proba(&valid, &device);

    // Sigmoids, not a softmax: rows with every label hold three scores near 1.
    let Targets::Tags { marks, .. } = &valid.targets else {
        unreachable!()
    };
    let full = marks
        .chunks_exact(3)
        .position(|row| row.iter().all(|&m| m))
        .expect("some row has every label");
    let sum: f32 = scores[full * 3..full * 3 + 3].iter().sum();
    assert!(sum > 2.0, "a row with three labels scores {sum} in all");

    // The report is the metrics crate's over the scores cut at 0.5.
    let decided: Vec<bool> = scores.iter().map(|&p| p >= 0.5).collect();
    let expected = MultiLabelReport::new(&tag_names(), marks, &decided, Some(&scores));
    assert_eq!(head.valid_report, TaskReport::MultiLabel(expected.clone()));
    assert!(expected.micro_f1 > 0.95, "micro-F1 {}", expected.micro_f1);
}

#[test]
fn saved_heads_of_each_task_predict_as_they_did_before_saving() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let origin = FeatureOrigin {
        fingerprint: "fp".into(),
        description: "encoder".into(),
        spec: serde_json::json!({}),
    };
    let (x, y) = values(100, 5);
    let cases = [
        (tags(100, 5), tags(50, 6), tag_names(), Task::MultiLabel),
        (
            value_features(&x, &y),
            value_features(&x[..200], &y[..50]),
            vec!["sentiment".to_string()],
            Task::Regression,
        ),
    ];
    for (i, (train, valid, names, task)) in cases.into_iter().enumerate() {
        let config = TrainConfig {
            epochs: 5,
            ..TrainConfig::default()
        };
        let head = train_head(&train, &valid, &names, &config, &device).unwrap();
        let path = dir.path().join(format!("head-{i}"));
        SavedHead::save(&head, &names, &origin, &path, Overwrite::SameKind).unwrap();
        let loaded = SavedHead::load(&path, &device).unwrap();
        assert_eq!(loaded.task(), task);
        assert_eq!(loaded.readout(), &head.readout);
        let (scores, predicted) = loaded.predict(&valid, &device);
        let expected = head.predict_proba(&valid, &device);
        assert_eq!(scores, expected, "{task}");
        assert_eq!(predicted.task(), task);
    }
}

#[test]
fn what_draws_or_scores_by_class_is_refused_for_other_tasks_by_name() {
    let device = Device::flex();
    let setting_of = |result: Result<_, HeadError>| match result {
        Err(HeadError::Setting(e)) => e.setting,
        Err(other) => panic!("expected a setting's error, got {other}"),
        Ok(_) => panic!("expected a setting's error, got a head"),
    };
    let oversampled = TrainConfig {
        sampling: Sampling::Oversample { ratio: 1.0 },
        ..TrainConfig::default()
    };
    let (train, valid) = (tags(20, 7), tags(10, 8));
    let refused = train_head(&train, &valid, &tag_names(), &oversampled, &device);
    assert_eq!(setting_of(refused), "sampling");

    let (x, y) = values(20, 9);
    let by_f1 = TrainConfig {
        monitor: Some(Monitor::MacroF1),
        ..TrainConfig::default()
    };
    let (train, valid) = (value_features(&x, &y), value_features(&x, &y));
    assert_eq!(
        setting_of(train_head(&train, &valid, &[], &by_f1, &device)),
        "monitor"
    );

    // Training values against validation tags: the data, named by task.
    let mixed = train_head(&train, &tags(10, 8), &[], &TrainConfig::default(), &device);
    let Err(HeadError::Data(message)) = mixed else {
        panic!("mixed tasks must be refused")
    };
    assert!(
        message.contains("regression") && message.contains("multi-label"),
        "{message}"
    );
}
