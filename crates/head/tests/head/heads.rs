use artifacts::Overwrite;
use burn::tensor::Device;
use data::SplitMix64;
use head::{FeatureOrigin, Features, SavedHead, SweepGrid, TrainConfig, sweep, train_head};
use training::HeadConfig;

fn normal(rng: &mut SplitMix64) -> f64 {
    // Box–Muller.
    let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 + f64::MIN_POSITIVE;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` points per class around `means`, unit variance in every direction.
fn gaussian_classes(means: &[Vec<f64>], n: usize, seed: u64) -> Features {
    let mut rng = SplitMix64::new(seed);
    let dim = means[0].len();
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n * means.len() {
        let class = i % means.len();
        values.extend(means[class].iter().map(|m| (m + normal(&mut rng)) as f32));
        labels.push(class);
    }
    Features::new(values, dim, labels)
}

fn means() -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(99);
    (0..3)
        .map(|_| (0..8).map(|_| 1.2 * normal(&mut rng)).collect())
        .collect()
}

fn labels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

/// With equal priors and identity covariance, the Bayes-optimal rule is the nearest
/// true mean: no classifier can do better on average.
fn bayes_accuracy(features: &Features, means: &[Vec<f64>]) -> f64 {
    let predicted: Vec<usize> = (0..features.rows)
        .map(|i| {
            let distance = |m: &Vec<f64>| {
                features
                    .row(i)
                    .iter()
                    .zip(m)
                    .map(|(x, m)| (*x as f64 - m).powi(2))
                    .sum::<f64>()
            };
            (0..means.len())
                .min_by(|&a, &b| distance(&means[a]).total_cmp(&distance(&means[b])))
                .unwrap()
        })
        .collect();
    accuracy(&predicted, features.classes())
}

#[test]
fn softmax_regression_reaches_the_bayes_optimal_accuracy() {
    let means = means();
    let (train, valid, test) = (
        gaussian_classes(&means, 300, 1),
        gaussian_classes(&means, 100, 2),
        gaussian_classes(&means, 500, 3),
    );
    let device = Device::flex();
    let head = train_head(&train, &valid, &labels(3), &TrainConfig::default(), &device).unwrap();
    let probabilities = head.predict_proba(&test, &device);
    let predicted: Vec<usize> = probabilities
        .chunks_exact(3)
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
        })
        .collect();
    let (ours, bayes) = (
        accuracy(&predicted, test.classes()),
        bayes_accuracy(&test, &means),
    );
    assert!(ours >= bayes - 0.015, "head {ours:.3} vs Bayes {bayes:.3}");
    assert!(bayes < 0.999, "the problem must not be trivially separable");
}

/// XOR of two coordinates: no linear head can beat chance; an MLP can.
fn xor(n: usize, seed: u64) -> Features {
    let mut rng = SplitMix64::new(seed);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (x, y) = (normal(&mut rng), normal(&mut rng));
        values.extend([x as f32, y as f32]);
        labels.push(usize::from((x > 0.0) != (y > 0.0)));
    }
    Features::new(values, 2, labels)
}

#[test]
fn an_mlp_with_batch_norm_and_dropout_learns_what_a_linear_head_cannot() {
    let (train, valid) = (xor(1000, 4), xor(400, 5));
    let device = Device::flex();
    let linear = train_head(&train, &valid, &labels(2), &TrainConfig::default(), &device).unwrap();
    let mlp_config = TrainConfig {
        head: HeadConfig {
            hidden: vec![32, 16],
            dropout: 0.1,
            batch_norm: true,
            ..HeadConfig::default()
        },
        learning_rate: 1e-2,
        epochs: 40,
        patience: 40,
        ..TrainConfig::default()
    };
    let mlp = train_head(&train, &valid, &labels(2), &mlp_config, &device).unwrap();
    assert!(
        linear.valid_report.accuracy().unwrap() < 0.65,
        "linear {}",
        linear.valid_report.accuracy().unwrap()
    );
    assert!(
        mlp.valid_report.accuracy().unwrap() > 0.9,
        "mlp {}",
        mlp.valid_report.accuracy().unwrap()
    );
}

#[test]
fn training_is_deterministic_under_a_seed_and_early_stopping_keeps_the_best_epoch() {
    let means = means();
    let (train, valid) = (
        gaussian_classes(&means, 100, 6),
        gaussian_classes(&means, 50, 7),
    );
    let device = Device::flex();
    let config = TrainConfig {
        head: HeadConfig {
            hidden: vec![16],
            dropout: 0.2,
            ..HeadConfig::default()
        },
        epochs: 60,
        patience: 3,
        learning_rate: 3e-2,
        ..TrainConfig::default()
    };
    let a = train_head(&train, &valid, &labels(3), &config, &device).unwrap();
    let b = train_head(&train, &valid, &labels(3), &config, &device).unwrap();
    assert_eq!(a.history, b.history);
    assert_eq!(
        a.predict_proba(&valid, &device),
        b.predict_proba(&valid, &device)
    );

    assert!(a.history.len() < 60, "patience 3 should stop early");
    // The kept epoch is the best by the monitor (validation loss, by default): no
    // epoch improved on it by more than min_delta, and none came after it for the
    // 3 epochs of patience.
    let best = &a.history[a.best_epoch - 1];
    assert!(
        a.history
            .iter()
            .all(|e| e.valid_loss >= best.valid_loss - config.min_delta)
    );
    assert_eq!(a.history.len(), a.best_epoch + 3);
    // The weights kept are that epoch's: evaluated again now, they give its loss
    // and macro-F1, and not the last epoch's.
    let probabilities = a.predict_proba(&valid, &device);
    let loss = metrics::mean_log_loss(&probabilities, 3, valid.classes());
    let report = metrics::DecisionRule::Argmax.report(&labels(3), valid.classes(), &probabilities);
    assert!(
        (loss - best.valid_loss).abs() < 1e-9,
        "{loss} vs {}",
        best.valid_loss
    );
    assert_eq!(report.macro_f1, best.valid_score);
    let last = a.history.last().unwrap();
    assert!(
        (loss - last.valid_loss).abs() > 1e-9,
        "the last epoch's weights were kept"
    );
}

#[test]
fn an_l1_penalty_makes_weights_sparse() {
    let means = means();
    let (train, valid) = (
        gaussian_classes(&means, 200, 8),
        gaussian_classes(&means, 50, 9),
    );
    let device = Device::flex();
    let near_zero = |l1: f64| {
        let config = TrainConfig {
            l1,
            l2: 0.0,
            epochs: 40,
            patience: 40,
            learning_rate: 1e-2,
            ..TrainConfig::default()
        };
        let head = train_head(&train, &valid, &labels(3), &config, &device).unwrap();
        let weights: Vec<f32> = head
            .model
            .output
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        weights.iter().filter(|w| w.abs() < 1e-2).count()
    };
    assert!(near_zero(0.05) > near_zero(0.0) + 4, "L1 did not sparsify");
}

#[test]
fn a_saved_head_predicts_the_same_and_refuses_other_features() {
    let means = means();
    let (train, valid) = (
        gaussian_classes(&means, 100, 10),
        gaussian_classes(&means, 50, 11),
    );
    let device = Device::flex();
    let grid = SweepGrid {
        base: TrainConfig {
            epochs: 5,
            ..TrainConfig::default()
        },
        hidden: vec![vec![], vec![8]],
        learning_rates: vec![1e-3, 1e-2],
        l2: vec![0.0],
        l1: vec![0.0],
        dropout: vec![0.0, 0.3],
        batch_norm: vec![false],
        optimizers: vec![training::OptimizerKind::AdamW],
    };
    let configs = grid.configs();
    assert_eq!(configs.len(), 2 + 4, "linear heads do not vary dropout");
    let sampled = grid.sample(3, 1);
    assert_eq!(sampled.len(), 3);
    assert!(sampled.iter().all(|c| configs.contains(c)));
    assert!(
        sampled
            .iter()
            .enumerate()
            .all(|(i, c)| !sampled[..i].contains(c)),
        "draws are distinct"
    );
    assert_eq!(sampled, grid.sample(3, 1));
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let count = |_: &head::SweepEntry| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let (entries, best) = sweep(&train, &valid, &labels(3), &configs, &device, 2, &count).unwrap();
    assert_eq!(seen.into_inner(), 6);
    // The same ranking and numbers with one worker: heads own their randomness.
    let (serial, _) = sweep(&train, &valid, &labels(3), &configs, &device, 1, &|_| {}).unwrap();
    let key = |e: &head::SweepEntry| {
        (
            e.valid_score.to_bits(),
            e.best_epoch,
            e.config.head.shape_name(),
            e.config.learning_rate.to_bits(),
        )
    };
    assert_eq!(
        entries.iter().map(key).collect::<Vec<_>>(),
        serial.iter().map(key).collect::<Vec<_>>()
    );
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].valid_score >= w[1].valid_score)
    );
    assert_eq!(entries[0].valid_score, best.valid_report.main());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("best.head");
    let origin = FeatureOrigin {
        fingerprint: "fp-1".into(),
        description: "encoder A".into(),
        spec: serde_json::json!({"model": "A"}),
    };
    SavedHead::save(&best, &labels(3), &origin, &path, Overwrite::SameKind).unwrap();
    let loaded = SavedHead::load(&path, &device).unwrap();
    let (probabilities, _) = loaded.predict(&valid, &device);
    assert_eq!(probabilities, best.predict_proba(&valid, &device));
    assert!(loaded.check_features("fp-1", "encoder A").is_ok());
    assert_eq!(loaded.features(), &origin);
    let message = loaded
        .check_features("fp-2", "encoder B")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("encoder A") && message.contains("encoder B"),
        "{message}"
    );
}

/// Two overlapping classes, 20 times as many of class 0: features of class `c` are
/// N(±0.4, 1) in every one of 4 directions.
fn imbalanced(n_major: usize, n_minor: usize, seed: u64) -> Features {
    let mut rng = SplitMix64::new(seed);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for (class, n, mean) in [(0, n_major, -0.4), (1, n_minor, 0.4)] {
        for _ in 0..n {
            values.extend((0..4).map(|_| (mean + normal(&mut rng)) as f32));
            labels.push(class);
        }
    }
    Features::new(values, 4, labels)
}

fn minority_recall(head: &head::TrainedHead) -> f64 {
    head.valid_report.classes().unwrap().per_class[1].recall
}

#[test]
fn imbalance_remedies_raise_the_rare_class_recall_and_sampling_sets_the_epoch_size() {
    let device = Device::flex();
    let (train, valid) = (imbalanced(400, 20, 1), imbalanced(400, 20, 2));
    let base = TrainConfig {
        epochs: 10,
        patience: 10,
        ..TrainConfig::default()
    };
    let train_with =
        |config: TrainConfig| train_head(&train, &valid, &labels(2), &config, &device).unwrap();
    let plain = train_with(base.clone());
    assert_eq!(plain.examples_trained, 10 * 420);

    let weighted = train_with(TrainConfig {
        loss: training::LossSpec {
            class_weights: Some(training::ClassWeights::Balanced),
            ..training::LossSpec::default()
        },
        ..base.clone()
    });
    let sampled = |sampling: data::Sampling, per_epoch: usize| {
        let head = train_with(TrainConfig {
            sampling,
            ..base.clone()
        });
        assert_eq!(head.examples_trained, 10 * per_epoch, "{sampling}");
        head
    };
    let oversampled = sampled(data::Sampling::Oversample { ratio: 1.0 }, 800);
    let rotating = sampled(data::Sampling::RotatingUndersample { ratio: 1.0 }, 40);
    sampled(data::Sampling::Undersample { ratio: 0.5 }, 60);
    sampled(data::Sampling::ClassBalanced, 420);

    // The class means are 1.6 standard deviations apart: with equal priors the best
    // rule finds Φ(0.8) ≈ 79% of the rare class. At 20:1 the plain head leans towards
    // the majority (0.5 on this seed); each remedy buys recall back (0.75–0.85 here).
    let recall = minority_recall(&plain);
    for (name, head) in [
        ("balanced weights", &weighted),
        ("over-sampling", &oversampled),
        ("rotating under-sampling", &rotating),
    ] {
        assert!(
            minority_recall(head) >= recall + 0.15,
            "{name}: rare-class recall {} against {recall} without",
            minority_recall(head)
        );
    }
}

#[test]
fn augmented_variants_feed_over_sampling_and_nothing_else() {
    let device = Device::flex();
    let (train, valid) = (imbalanced(400, 20, 1), imbalanced(400, 20, 2));
    // Variants of the rare class: its rows, jittered.
    let mut rng = SplitMix64::new(5);
    let rare: Vec<usize> = (0..train.rows)
        .filter(|&i| train.classes()[i] == 1)
        .collect();
    let mut variants = train.subset(&[rare.clone(), rare].concat());
    variants
        .values
        .iter_mut()
        .for_each(|v| *v += 0.3 * normal(&mut rng) as f32);
    let augmented = train.clone().with_variants(&variants);
    assert_eq!((augmented.rows, augmented.originals()), (460, 420));
    let fit = |features: &Features, sampling| {
        let config = TrainConfig {
            epochs: 5,
            patience: 5,
            sampling,
            ..TrainConfig::default()
        };
        train_head(features, &valid, &labels(2), &config, &device).unwrap()
    };
    let weights = |head: &head::TrainedHead| head.predict_proba(&valid, &device);

    // Without over-sampling the variants are not read: the very same head.
    let plain = fit(&train, data::Sampling::None);
    let ignoring = fit(&augmented, data::Sampling::None);
    assert_eq!(weights(&plain), weights(&ignoring));
    assert_eq!(ignoring.examples_trained, 5 * 420);
    // Over-sampling tops the rare class up from the variants: same epoch size, other head.
    let oversample = data::Sampling::Oversample { ratio: 1.0 };
    let copies = fit(&train, oversample);
    let from_variants = fit(&augmented, oversample);
    assert_eq!(from_variants.examples_trained, 5 * 800);
    assert_ne!(weights(&copies), weights(&from_variants));
}

#[test]
fn a_distilled_head_follows_its_teacher_as_far_as_alpha_says() {
    // A teacher that, for every example of class y, puts 0.9 on class (y + 1) mod 3:
    // with α = 1 the student learns the teacher's rule, with α = 0 the labels'.
    let device = Device::flex();
    let means = means();
    let train = gaussian_classes(&means, 150, 1);
    let valid = gaussian_classes(&means, 100, 2);
    let shifted = |features: &Features| -> Vec<usize> {
        features.classes().iter().map(|&y| (y + 1) % 3).collect()
    };
    let teacher: Vec<f32> = shifted(&train)
        .iter()
        .flat_map(|&c| (0..3).map(move |k| if k == c { 0.9 } else { 0.05 }))
        .collect();
    let taught = train
        .clone()
        .with_soft_targets(training::SoftTargets::from_probabilities(
            &[teacher],
            3,
            2.0,
        ));
    for (alpha, expected) in [(1.0, shifted(&valid)), (0.0, valid.classes().to_vec())] {
        let config = TrainConfig {
            distillation: Some(training::DistillationLoss {
                temperature: 2.0,
                alpha,
            }),
            ..TrainConfig::default()
        };
        // Validation scored against the rule the student should learn, so that early
        // stopping keeps the epoch that learned it best.
        let judged = Features::new(valid.values.clone(), valid.dim, expected.clone());
        let head = train_head(&taught, &judged, &labels(3), &config, &device).unwrap();
        let probabilities = head.predict_proba(&valid, &device);
        let predicted = metrics::argmax_rows(&probabilities, 3);
        let bayes = bayes_accuracy(&valid, &means);
        let agreement = accuracy(&predicted, &expected);
        assert!(
            agreement > bayes - 0.08,
            "α {alpha}: agreement {agreement:.3} with the expected rule (Bayes {bayes:.3})"
        );
    }
}

#[test]
fn logistic_regression_reaches_the_optimum_of_its_penalised_loss() {
    // At the optimum of mean cross-entropy + (λ/2)‖θ‖² (λ = 1/n, every parameter
    // penalised as Adam's coupled L2 does), the gradient vanishes:
    // (1/n) Σ zᵢ (pᵢ − yᵢ)ᵀ + λ W = 0 and (1/n) Σ (pᵢ − yᵢ) + λ b = 0, with z the
    // standardised features. Checked in f64 from the trained weights alone.
    let device = Device::flex();
    let train = gaussian_classes(&means(), 12, 5);
    let valid = gaussian_classes(&means(), 4, 6);
    let n = train.classes().len();
    let config = TrainConfig::logistic_regression(n, 3);
    let head = train_head(&train, &valid, &labels(3), &config, &device).unwrap();
    assert_eq!(head.history.len(), 500, "no early stop");
    let values = |t: burn::tensor::TensorData| -> Vec<f64> {
        t.try_into_vec_as::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let weight = values(head.model.output.weight.val().into_data());
    let bias = values(head.model.output.bias.as_ref().unwrap().val().into_data());
    let z = head.standardizer.apply(&train);
    let (dim, classes, lambda) = (train.dim, 3, 1.0 / n as f64);
    let gradient = |weight: &[f64], bias: &[f64]| {
        let mut grad: Vec<f64> = weight.iter().chain(bias).map(|p| lambda * p).collect();
        for (i, &label) in z.classes().iter().enumerate() {
            let row = z.row(i);
            let logits: Vec<f64> = (0..classes)
                .map(|c| {
                    let dot: f64 = (0..dim)
                        .map(|d| f64::from(row[d]) * weight[d * classes + c])
                        .sum();
                    bias[c] + dot
                })
                .collect();
            let top = logits.iter().copied().fold(f64::MIN, f64::max);
            let total: f64 = logits.iter().map(|l| (l - top).exp()).sum();
            for c in 0..classes {
                let residual = (logits[c] - top).exp() / total - f64::from(u8::from(c == label));
                grad[dim * classes + c] += residual / n as f64;
                for d in 0..dim {
                    grad[d * classes + c] += f64::from(row[d]) * residual / n as f64;
                }
            }
        }
        grad.iter().fold(0.0f64, |m, g| m.max(g.abs()))
    };
    let at_start = gradient(&vec![0.0; weight.len()], &[0.0; 3]);
    let at_end = gradient(&weight, &bias);
    // Adam at a constant rate hovers about the optimum; a penalty 10× off would leave
    // a gradient of the size of λ W, a quarter of the starting one here.
    assert!(
        at_end < 0.02 * at_start,
        "the gradient fell from {at_start} to {at_end} only"
    );
}
