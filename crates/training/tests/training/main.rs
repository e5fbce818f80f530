//! The training toolbox: losses, distillation and the imbalance remedies against
//! closed forms and finite differences.
//!
//! One test binary for the crate's integration tests, each file a module: a file per
//! binary linked burn and the wgpu stack into every one of them, which multiplied the
//! disk and the link time of a CI build.

mod cross_entropy;
mod distillation;
mod remedies;
mod task_losses;

/// Asserts that `analytic`, autodiff's gradient of `value` at `point`, matches
/// central differences with step `h` in every coordinate; `what` names the inputs.
fn assert_gradient(
    analytic: &[f32],
    point: &[f64],
    h: f64,
    what: &str,
    value: impl Fn(&[f64]) -> f64,
) {
    assert_eq!(analytic.len(), point.len(), "one derivative per input");
    for (i, &a) in analytic.iter().enumerate() {
        let (mut plus, mut minus) = (point.to_vec(), point.to_vec());
        plus[i] += h;
        minus[i] -= h;
        let numeric = (value(&plus) - value(&minus)) / (2.0 * h);
        let a = a as f64;
        assert!(
            (a - numeric).abs() < 2e-3 + 2e-2 * numeric.abs(),
            "d/d {what}[{i}]: autodiff {a} vs finite difference {numeric}"
        );
    }
}

/// The gradient of `x` in `grads`, as floats.
fn gradient<const D: usize>(
    x: &burn::tensor::Tensor<D>,
    grads: &burn::tensor::Gradients,
) -> Vec<f32> {
    x.grad(grads)
        .expect("the input requires a gradient")
        .into_data()
        .try_into_vec_as()
        .expect("gradients are floats")
}
