//! The fused kernels against closed forms evaluated in f64, forward and backward, on
//! every backend: a fast path must change no number beyond float error.

mod common;

use bert::burn::tensor::activation::gelu as burn_gelu;
use bert::burn::tensor::{Device, Distribution, Tensor};
use bert::kernels;
use common::{backends, to_vec};

/// erf in f64, by its Maclaurin series (|z| < 3) or its continued fraction: a reference
/// independent of libm and of the kernels' approximation.
fn erf64(z: f64) -> f64 {
    let a = z.abs();
    let value = if a < 3.0 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // erfc(a) = e^(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …))))
        let fraction = (1..80)
            .rev()
            .fold(0.0, |fraction, k| (k as f64 / 2.0) / (a + fraction));
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + fraction)
    };
    value.copysign(z)
}

fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf64(x / std::f64::consts::SQRT_2))
}

fn normal_density(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Values over GELU's whole interesting range, tails included; a length that is not a
/// multiple of anything, so that the kernels' chunking has a ragged end.
fn activations(device: &Device) -> Tensor<3> {
    Tensor::<3>::random([3, 37, 129], Distribution::Normal(0.0, 3.0), device)
}

fn assert_close(ours: &[f32], reference: &[f64], tolerance: f64, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths differ");
    let (worst, at) = ours
        .iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b).abs() / (1.0 + b.abs()))
        .zip(0..)
        .fold(
            (0.0, 0),
            |best, next| if next.0 > best.0 { next } else { best },
        );
    assert!(
        worst <= tolerance,
        "{what}: element {at} is {} against {}, off by {worst:e} (tolerance {tolerance:e})",
        ours[at],
        reference[at]
    );
}

#[test]
fn gelu_is_x_times_the_normal_cdf_on_every_backend() {
    for (kind, device) in backends() {
        let x = activations(&device);
        let reference: Vec<f64> = to_vec(x.clone())
            .iter()
            .map(|&x| x as f64 * normal_cdf(x as f64))
            .collect();
        assert_close(
            &to_vec(kernels::gelu(x)),
            &reference,
            1e-6,
            &format!("gelu on {kind}"),
        );
    }
}

#[test]
fn gelu_gradient_is_the_exact_derivative_on_every_backend() {
    for (kind, device) in backends() {
        let device = device.autodiff();
        let x = activations(&device).require_grad();
        // A weighted sum, so that every element's gradient has its own incoming factor.
        let weights = Tensor::<3>::random(x.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads = (kernels::gelu(x.clone()) * weights.clone())
            .sum()
            .backward();
        let ours = to_vec(x.grad(&grads).expect("x requires a gradient"));
        let reference: Vec<f64> = to_vec(x.inner())
            .iter()
            .zip(to_vec(weights.inner()))
            .map(|(&x, w)| {
                let x = x as f64;
                w as f64 * (normal_cdf(x) + x * normal_density(x))
            })
            .collect();
        assert_close(&ours, &reference, 1e-6, &format!("gelu gradient on {kind}"));
    }
}

#[test]
fn gelu_agrees_with_burns_forward() {
    // burn's own GELU (libm's erf, one element at a time) is what the model used before.
    for (kind, device) in backends() {
        let x = activations(&device);
        let burns: Vec<f64> = to_vec(burn_gelu(x.clone()))
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert_close(
            &to_vec(kernels::gelu(x)),
            &burns,
            1e-6,
            &format!("gelu on {kind}"),
        );
    }
}

#[test]
fn gelu_leaves_a_shared_input_untouched() {
    // The CPU kernels work in place when they own the buffer; a tensor still in use
    // elsewhere must be copied first.
    let device = Device::flex();
    let x = activations(&device);
    let before = to_vec(x.clone());
    let _ = kernels::gelu(x.clone());
    assert_eq!(to_vec(x), before);
}
