use burn::tensor::{Device, Int, Tensor, TensorData};
use training::{ClassificationLoss, CrossEntropy};

fn logits_and_targets(device: &Device) -> (Tensor<2>, Tensor<1, Int>, [[f64; 3]; 2], [usize; 2]) {
    let values = [[2.0, -1.0, 0.5], [0.1, 0.2, 30.0]];
    let targets = [0usize, 1];
    let logits = Tensor::<2>::from_data(
        TensorData::from(values.map(|r| r.map(|v| v as f32))),
        device,
    );
    let t = Tensor::<1, Int>::from_data(TensorData::from(targets.map(|t| t as i64)), device);
    (logits, t, values, targets)
}

fn softmax(row: &[f64; 3]) -> [f64; 3] {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let exp = row.map(|v| (v - max).exp());
    let sum: f64 = exp.iter().sum();
    exp.map(|e| e / sum)
}

#[test]
fn value_matches_the_closed_form() {
    let device = Device::flex();
    let (logits, targets, values, t) = logits_and_targets(&device);
    let loss = CrossEntropy::default()
        .forward(logits, targets)
        .into_scalar::<f32>() as f64;
    let expected = (0..2).map(|i| -softmax(&values[i])[t[i]].ln()).sum::<f64>() / 2.0;
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
}

#[test]
fn gradient_is_softmax_minus_one_hot_over_batch() {
    let device = Device::flex().autodiff();
    let (logits, targets, values, t) = logits_and_targets(&device);
    let logits = logits.require_grad();
    let grads = CrossEntropy::default()
        .forward(logits.clone(), targets)
        .backward();
    let grad: Vec<f32> = logits
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    for i in 0..2 {
        let p = softmax(&values[i]);
        for c in 0..3 {
            let expected = (p[c] - if c == t[i] { 1.0 } else { 0.0 }) / 2.0;
            assert!((grad[i * 3 + c] as f64 - expected).abs() < 1e-6);
        }
    }
}

#[test]
fn example_weights_give_the_weighted_mean() {
    let device = Device::flex();
    let (logits, targets, values, t) = logits_and_targets(&device);
    let w = [0.25f64, 3.0];
    let weights = Tensor::<1>::from_data(TensorData::from(w.map(|v| v as f32)), &device);
    let loss = CrossEntropy::default()
        .forward_weighted(logits, targets, weights)
        .into_scalar::<f32>() as f64;
    let expected = (0..2)
        .map(|i| -w[i] * softmax(&values[i])[t[i]].ln())
        .sum::<f64>()
        / (w[0] + w[1]);
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
}
