//! Class-imbalance losses against closed forms computed here in f64, and their
//! gradients against finite differences.

use burn::tensor::{Device, Int, Tensor, TensorData};
use training::{
    ClassWeights, ClassificationLoss, CrossEntropy, FocalLoss, GhmcLoss, LossKind, LossSpec,
};

const LOGITS: [[f64; 3]; 4] = [
    [2.0, -1.0, 0.5],
    [0.1, 0.2, 1.3],
    [-0.4, 1.1, 0.3],
    [0.7, 0.0, -2.0],
];
const TARGETS: [usize; 4] = [0, 1, 2, 0];

fn tensors(logits: &[[f64; 3]; 4], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let flat: Vec<f32> = logits.iter().flatten().map(|&v| v as f32).collect();
    (
        Tensor::<2>::from_data(TensorData::new(flat, [4, 3]), device),
        Tensor::<1, Int>::from_data(TensorData::from(TARGETS.map(|t| t as i64)), device),
    )
}

fn log_softmax(row: &[f64; 3]) -> [f64; 3] {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    row.map(|v| v - log_sum)
}

fn value_on(loss: &dyn ClassificationLoss, logits: &[[f64; 3]; 4], device: &Device) -> f64 {
    let (l, t) = tensors(logits, device);
    loss.forward(l, t).into_scalar::<f32>() as f64
}

fn value(loss: &dyn ClassificationLoss, logits: &[[f64; 3]; 4]) -> f64 {
    value_on(loss, logits, &Device::flex())
}

/// On flex, ndarray and wgpu (CI requires it: BERTCLS_REQUIRE_WGPU=1), the loss of
/// `LOGITS` is `expected` and its gradient matches finite differences.
fn matches_on_every_backend(loss: &dyn ClassificationLoss, expected: f64) {
    let required = std::env::var("BERTCLS_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    for (kind, device) in bert::testing::backends_to_check(required).expect("wgpu must run") {
        let got = value_on(loss, &LOGITS, &device);
        assert!((got - expected).abs() < 1e-5, "{kind}: {got} vs {expected}");
        check_gradient(loss, &device);
    }
}

/// Autodiff gradient on `device` against central differences, every logit.
fn check_gradient(loss: &dyn ClassificationLoss, device: &Device) {
    let autodiff = device.clone().autodiff();
    let (logits, targets) = tensors(&LOGITS, &autodiff);
    let logits = logits.require_grad();
    let grads = loss.forward(logits.clone(), targets).backward();
    let analytic = crate::gradient(&logits, &grads);
    let point: Vec<f64> = LOGITS.iter().flatten().copied().collect();
    crate::assert_gradient(&analytic, &point, 1e-2, "logit", |flat| {
        let rows: [[f64; 3]; 4] = std::array::from_fn(|i| std::array::from_fn(|c| flat[i * 3 + c]));
        value_on(loss, &rows, device)
    });
}

#[test]
fn weighted_cross_entropy_with_label_smoothing_is_pytorchs() {
    let weights = [0.5f64, 2.0, 1.5];
    let epsilon = 0.1;
    let loss =
        CrossEntropy::weighted(weights.map(|w| w as f32).to_vec()).with_label_smoothing(epsilon);
    // −Σ_k w_k q_k log p_k per example, summed, over Σ w_target (PyTorch's formula).
    let (mut total, mut norm) = (0.0, 0.0);
    for (row, &t) in LOGITS.iter().zip(&TARGETS) {
        let lp = log_softmax(row);
        for k in 0..3 {
            let q = if k == t { 1.0 - epsilon } else { 0.0 } + epsilon / 3.0;
            total -= weights[k] * q * lp[k];
        }
        norm += weights[t];
    }
    matches_on_every_backend(&loss, total / norm);
    // Unweighted and unsmoothed it is the plain mean of −log p_target.
    let plain = LOGITS
        .iter()
        .zip(&TARGETS)
        .map(|(row, &t)| -log_softmax(row)[t])
        .sum::<f64>()
        / 4.0;
    assert!((value(&CrossEntropy::default(), &LOGITS) - plain).abs() < 1e-5);
}

#[test]
fn focal_loss_is_the_formula_and_reduces_to_cross_entropy() {
    let alpha = [0.25f64, 1.0, 0.75];
    let gamma = 2.0;
    let loss = FocalLoss {
        gamma,
        alpha: Some(alpha.map(|a| a as f32).to_vec()),
    };
    let expected = LOGITS
        .iter()
        .zip(&TARGETS)
        .map(|(row, &t)| {
            let lp = log_softmax(row)[t];
            -alpha[t] * (1.0 - lp.exp()).powf(gamma) * lp
        })
        .sum::<f64>()
        / 4.0;
    matches_on_every_backend(&loss, expected);
    let as_ce = FocalLoss {
        gamma: 0.0,
        alpha: None,
    };
    assert!((value(&as_ce, &LOGITS) - value(&CrossEntropy::default(), &LOGITS)).abs() < 1e-6);
}

#[test]
fn ghm_weights_by_hand() {
    // g = 0.05, 0.07 share bin 0; 0.5 is in bin 5; 0.95 in bin 9 (10 bins): three
    // non-empty bins, four examples → w = 4 / (count · 3).
    let ghm = GhmcLoss::new(10, 0.0);
    let w = ghm.weights(&[0.05, 0.07, 0.5, 0.95]);
    let expected = [4.0 / 6.0, 4.0 / 6.0, 4.0 / 3.0, 4.0 / 3.0];
    for (a, b) in w.iter().zip(expected) {
        assert!((a - b).abs() < 1e-12, "{w:?}");
    }
    // With momentum 0.5 the first batch's counts are halved (the average starts at 0),
    // and a second identical batch brings them to 3/4 of the counts.
    let ghm = GhmcLoss::new(10, 0.5);
    let first = ghm.weights(&[0.05, 0.07, 0.5, 0.95]);
    assert!((first[0] - 4.0 / (1.0 * 3.0)).abs() < 1e-12);
    assert!((first[2] - 4.0 / (0.5 * 3.0)).abs() < 1e-12);
    let second = ghm.weights(&[0.05, 0.07, 0.5, 0.95]);
    assert!((second[0] - 4.0 / (1.5 * 3.0)).abs() < 1e-12);
    assert!((second[3] - 4.0 / (0.75 * 3.0)).abs() < 1e-12);
}

#[test]
fn ghm_loss_is_the_weighted_cross_entropy_of_its_bins() {
    let ghm = GhmcLoss::new(4, 0.0);
    let g: Vec<f64> = LOGITS
        .iter()
        .zip(&TARGETS)
        .map(|(row, &t)| 1.0 - log_softmax(row)[t].exp())
        .collect();
    let weights = GhmcLoss::new(4, 0.0).weights(&g);
    let expected = LOGITS
        .iter()
        .zip(&TARGETS)
        .zip(&weights)
        .map(|((row, &t), w)| -w * log_softmax(row)[t])
        .sum::<f64>()
        / 4.0;
    // The weights are constants of the backward pass; away from bin edges the
    // finite difference sees the same bins.
    matches_on_every_backend(&ghm, expected);
}

#[test]
fn a_spec_builds_its_loss_with_weights_counted_on_the_training_targets() {
    let labels = ["a", "b", "c"].map(String::from);
    // Training targets 6 × a, 3 × b, 1 × c: balanced weights n / (k · n_c).
    let train: Vec<usize> = [vec![0; 6], vec![1; 3], vec![2; 1]].concat();
    let weights = vec![10.0f32 / 18.0, 10.0 / 9.0, 10.0 / 3.0];
    let balanced = Some(ClassWeights::Balanced);
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} vs {b}");

    let ce = LossSpec {
        class_weights: balanced.clone(),
        label_smoothing: 0.1,
        ..LossSpec::default()
    };
    let direct = CrossEntropy {
        class_weights: Some(weights.clone()),
        label_smoothing: 0.1,
    };
    let built = value(&*ce.build(&labels, &train), &LOGITS);
    close(built, value(&direct, &LOGITS));
    let unweighted = value(&CrossEntropy::default(), &LOGITS);
    assert!((built - unweighted).abs() > 1e-2, "the weights matter here");

    let focal = LossSpec {
        kind: LossKind::Focal,
        focal_gamma: 1.5,
        class_weights: balanced,
        ..LossSpec::default()
    };
    let direct = FocalLoss {
        gamma: 1.5,
        alpha: Some(weights),
    };
    close(
        value(&*focal.build(&labels, &train), &LOGITS),
        value(&direct, &LOGITS),
    );

    let ghm = LossSpec {
        kind: LossKind::Ghm,
        ghm_bins: 5,
        ghm_momentum: 0.0,
        ..LossSpec::default()
    };
    close(
        value(&*ghm.build(&labels, &train), &LOGITS),
        value(&GhmcLoss::new(5, 0.0), &LOGITS),
    );
}
