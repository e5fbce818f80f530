//! The multi-label and regression losses against closed forms computed here in f64
//! (including logits where a naive sigmoid rounds to 0 or 1), and their gradients
//! against central differences, on every backend.

use burn::tensor::{Device, Tensor, TensorData};
use training::{
    BinaryCrossEntropy, FocalBinaryCrossEntropy, Huber, MultiLabelLoss, RegressionLoss,
    SquaredError,
};

const LOGITS: [[f64; 3]; 3] = [[2.0, -1.0, 0.5], [0.1, -0.3, 1.3], [30.0, -30.0, 0.0]];
const TAGS: [[f64; 3]; 3] = [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]];

fn matrix(values: &[[f64; 3]; 3], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = values.iter().flatten().map(|&v| v as f32).collect();
    Tensor::<2>::from_data(TensorData::new(flat, [3, 3]), device)
}

fn vector(values: &[f64], device: &Device) -> Tensor<1> {
    let flat: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::<1>::from_data(TensorData::new(flat, [values.len()]), device)
}

/// `log σ(x)` in f64, stable for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    -((-x.abs()).exp().ln_1p() + (-x).max(0.0))
}

/// The closed form of one binary cross-entropy term.
fn bce(x: f64, y: f64, positive_weight: f64) -> f64 {
    -(positive_weight * y * log_sigmoid(x) + (1.0 - y) * log_sigmoid(-x))
}

fn backends() -> Vec<(String, Device)> {
    let required = std::env::var("BERTCLS_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    bert::testing::backends_to_check(required)
        .expect("wgpu must run")
        .into_iter()
        .map(|(kind, device)| (kind.to_string(), device))
        .collect()
}

fn multi_label_value(loss: &dyn MultiLabelLoss, logits: &[[f64; 3]; 3], device: &Device) -> f64 {
    loss.forward(matrix(logits, device), matrix(&TAGS, device))
        .into_scalar::<f32>() as f64
}

/// The value on every backend, and the gradient against central differences.
fn check_multi_label(loss: &dyn MultiLabelLoss, expected: f64) {
    for (kind, device) in backends() {
        let got = multi_label_value(loss, &LOGITS, &device);
        assert!(
            (got - expected).abs() < 1e-5 * expected.max(1.0),
            "{kind}: {got} vs {expected}"
        );
        let autodiff = device.clone().autodiff();
        let logits = matrix(&LOGITS, &autodiff).require_grad();
        let grads = loss
            .forward(logits.clone(), matrix(&TAGS, &autodiff))
            .backward();
        let analytic = crate::gradient(&logits, &grads);
        let point: Vec<f64> = LOGITS.iter().flatten().copied().collect();
        crate::assert_gradient(&analytic, &point, 1e-2, &format!("{kind} logit"), |flat| {
            let rows: [[f64; 3]; 3] =
                std::array::from_fn(|i| std::array::from_fn(|j| flat[i * 3 + j]));
            multi_label_value(loss, &rows, &device)
        });
    }
}

#[test]
fn binary_cross_entropy_is_the_weighted_closed_form_even_at_saturated_logits() {
    let weights = [2.0, 0.5, 1.0];
    let mut total = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            total += bce(LOGITS[i][j], TAGS[i][j], weights[j]);
        }
    }
    let loss = BinaryCrossEntropy {
        positive_weights: Some(weights.map(|w| w as f32).to_vec()),
    };
    // The term of logit 30 with truth 0 is 30: a naive log(1 − σ(30)) is −inf in f32.
    check_multi_label(&loss, total / 9.0);
    let unweighted: f64 = (0..9)
        .map(|k| bce(LOGITS[k / 3][k % 3], TAGS[k / 3][k % 3], 1.0))
        .sum();
    check_multi_label(&BinaryCrossEntropy::default(), unweighted / 9.0);
}

#[test]
fn focal_binary_cross_entropy_scales_each_term_by_its_miss_and_alpha() {
    let (gamma, alpha) = (2.0, 0.25);
    let mut total = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            let (x, y) = (LOGITS[i][j], TAGS[i][j]);
            let p = 1.0 / (1.0 + (-x).exp());
            let p_truth = if y == 1.0 { p } else { 1.0 - p };
            let alpha_t = if y == 1.0 { alpha } else { 1.0 - alpha };
            total += alpha_t * (1.0 - p_truth).powf(gamma) * bce(x, y, 1.0);
        }
    }
    let focal = FocalBinaryCrossEntropy {
        gamma,
        alpha: Some(alpha),
    };
    check_multi_label(&focal, total / 9.0);
    // γ = 0 without α is binary cross-entropy.
    let plain = FocalBinaryCrossEntropy {
        gamma: 0.0,
        alpha: None,
    };
    let device = Device::flex();
    let (a, b) = (
        multi_label_value(&plain, &LOGITS, &device),
        multi_label_value(&BinaryCrossEntropy::default(), &LOGITS, &device),
    );
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

const PREDICTED: [f64; 5] = [0.5, -1.0, 3.0, 0.2, -2.5];
const VALUES: [f64; 5] = [0.0, -1.5, 0.5, 0.3, -2.5];

fn regression_value(loss: &dyn RegressionLoss, predicted: &[f64; 5], device: &Device) -> f64 {
    loss.forward(vector(predicted, device), vector(&VALUES, device))
        .into_scalar::<f32>() as f64
}

fn check_regression(loss: &dyn RegressionLoss, expected: f64) {
    for (kind, device) in backends() {
        let got = regression_value(loss, &PREDICTED, &device);
        assert!((got - expected).abs() < 1e-6, "{kind}: {got} vs {expected}");
        let autodiff = device.clone().autodiff();
        let predicted = vector(&PREDICTED, &autodiff).require_grad();
        let grads = loss
            .forward(predicted.clone(), vector(&VALUES, &autodiff))
            .backward();
        let analytic = crate::gradient(&predicted, &grads);
        crate::assert_gradient(
            &analytic,
            &PREDICTED,
            1e-3,
            &format!("{kind} prediction"),
            |p| regression_value(loss, &std::array::from_fn(|i| p[i]), &device),
        );
    }
}

#[test]
fn squared_error_and_huber_are_their_closed_forms() {
    let residuals: Vec<f64> = PREDICTED.iter().zip(VALUES).map(|(p, v)| p - v).collect();
    let mse = residuals.iter().map(|r| r * r).sum::<f64>() / 5.0;
    check_regression(&SquaredError, mse);
    // Residuals 0.5, 0.5, 2.5, −0.1, 0: with δ = 1 only 2.5 is past δ.
    let delta = 1.0;
    let huber: f64 = residuals
        .iter()
        .map(|r| {
            if r.abs() <= delta {
                0.5 * r * r
            } else {
                delta * (r.abs() - 0.5 * delta)
            }
        })
        .sum::<f64>()
        / 5.0;
    assert!((huber - (0.125 + 0.125 + 2.0 + 0.005) / 5.0).abs() < 1e-12);
    check_regression(&Huber { delta }, huber);
}

/// The built loss weighs each label's positive terms by its balanced ratio, counted
/// on the training targets.
#[test]
fn a_multi_label_spec_builds_binary_cross_entropy_with_counted_positive_weights() {
    let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let targets: Vec<bool> = TAGS.iter().flatten().map(|&t| t == 1.0).collect();
    let spec = training::LossSpec {
        class_weights: Some(training::ClassWeights::Balanced),
        ..training::LossSpec::default()
    };
    spec.validate_for_multi_label(&labels).unwrap();
    // TAGS: label a true on 1 of 3 rows (weight 2/1), b on 1 (2), c on 3 (0 negatives: 1/3).
    let expected = BinaryCrossEntropy {
        positive_weights: Some(vec![2.0, 2.0, 1.0 / 3.0]),
    };
    let device = Device::flex();
    let built = spec.build_multi_label(&labels, &targets);
    let (a, b) = (
        multi_label_value(built.as_ref(), &LOGITS, &device),
        multi_label_value(&expected, &LOGITS, &device),
    );
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}
