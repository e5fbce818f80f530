//! The fused kernels against closed forms evaluated in f64, forward and backward, on
//! every backend: a fast path must change no number beyond float error.

mod common;

use bert::burn::tensor::activation::gelu as burn_gelu;
use bert::burn::tensor::{Device, Distribution, Tensor};
use bert::kernels;
use bert::kernels::panels::Epilogue;
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
fn the_reduced_precision_gelu_epilogue_is_x_times_the_normal_cdf() {
    // Its multiply-adds fused where the CPU has AVX-512: other roundings than the fp32
    // kernel's, the same bound against the exact GELU.
    let (_, device) = backends().remove(0);
    let x = to_vec(activations(&device));
    let mut ours = x.clone();
    Epilogue::ErfGelu.apply(&mut ours);
    let reference: Vec<f64> = x.iter().map(|&x| x as f64 * normal_cdf(x as f64)).collect();
    assert_close(&ours, &reference, 1e-6, "the GELU epilogue");
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

/// Attention-like scores, `[2, 3, 5, 7]` (2 sequences, 3 heads, 5 queries, 7 keys), and
/// the additive key bias BERT uses (f32::MIN on padding): the last two keys of the first
/// sequence, the last key of the second, so that each row must find its own sequence's.
fn scores_and_key_bias(device: &Device) -> (Tensor<4>, Tensor<2>) {
    let scores = Tensor::<4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 4.0), device);
    let m = f32::MIN;
    let bias = Tensor::<2>::from_floats(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, m, m],
            [0.5, -1.0, 0.0, 2.0, 0.0, 0.0, m],
        ],
        device,
    );
    (scores, bias)
}

/// The padded keys of [`scores_and_key_bias`]'s sequences.
const PADDED_KEYS: [usize; 2] = [2, 1];

/// Rows per sequence of [`scores_and_key_bias`]: heads × queries.
const ROWS_PER_SEQUENCE: usize = 3 * 5;

/// Softmax of one row plus its bias, in f64.
fn softmax64(row: &[f32], bias: &[f32]) -> Vec<f64> {
    let row: Vec<f64> = row
        .iter()
        .zip(bias)
        .map(|(&x, &b)| x as f64 + b as f64)
        .collect();
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = row.iter().map(|&x| (x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Each score row with the bias row of its sequence.
fn rows_with_bias<'a>(
    scores: &'a [f32],
    bias: &'a [f32],
) -> impl Iterator<Item = (usize, &'a [f32], &'a [f32])> {
    scores.chunks(7).enumerate().map(move |(r, row)| {
        let sequence = r / ROWS_PER_SEQUENCE;
        (sequence, row, &bias[sequence * 7..][..7])
    })
}

#[test]
fn masked_softmax_is_the_normalised_exponential_of_the_biased_scores_on_every_backend() {
    for (kind, device) in backends() {
        let (scores, bias) = scores_and_key_bias(&device);
        let (values, bias_values) = (to_vec(scores.clone()), to_vec(bias.clone()));
        let reference: Vec<f64> = rows_with_bias(&values, &bias_values)
            .flat_map(|(_, row, bias)| softmax64(row, bias))
            .collect();
        let ours = to_vec(kernels::masked_softmax(scores, bias));
        assert_close(
            &ours,
            &reference,
            1e-6,
            &format!("masked softmax on {kind}"),
        );
        for (r, row) in ours.chunks(7).enumerate() {
            let padded = PADDED_KEYS[r / ROWS_PER_SEQUENCE];
            assert!(
                row[7 - padded..].iter().all(|&w| w == 0.0),
                "masked keys get exactly zero weight on {kind} (row {r}: {row:?})"
            );
        }
    }
}

#[test]
fn masked_softmax_gradients_are_the_exact_derivatives_on_every_backend() {
    for (kind, device) in backends() {
        let device = device.autodiff();
        let (scores, bias) = scores_and_key_bias(&device);
        let (scores, bias) = (scores.require_grad(), bias.require_grad());
        let weights = Tensor::<4>::random(scores.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads = (kernels::masked_softmax(scores.clone(), bias.clone()) * weights.clone())
            .sum()
            .backward();
        let ours = to_vec(scores.grad(&grads).expect("the scores require a gradient"));
        let ours_bias = to_vec(bias.grad(&grads).expect("the bias requires a gradient"));
        // d/dx_i Σ_j w_j p_j = p_i (w_i − Σ_j w_j p_j), row by row; a bias entry was added
        // to every row of its sequence, so its gradient is the sum over those rows.
        let (values, bias_values) = (to_vec(scores.inner()), to_vec(bias.inner()));
        let mut reference = Vec::new();
        let mut reference_bias = vec![0.0; 2 * 7];
        for ((sequence, row, bias), w) in
            rows_with_bias(&values, &bias_values).zip(to_vec(weights.inner()).chunks(7))
        {
            let p = softmax64(row, bias);
            let dot: f64 = p.iter().zip(w).map(|(p, &w)| p * w as f64).sum();
            for (j, (p, &w)) in p.iter().zip(w).enumerate() {
                let d = p * (w as f64 - dot);
                reference.push(d);
                reference_bias[sequence * 7 + j] += d;
            }
        }
        assert_close(
            &ours,
            &reference,
            1e-6,
            &format!("masked softmax d scores on {kind}"),
        );
        assert_close(
            &ours_bias,
            &reference_bias,
            1e-5,
            &format!("masked softmax d bias on {kind}"),
        );
    }
}

#[test]
fn dropout_masks_keep_the_mean_and_follow_the_device_seed() {
    use bert::burn::nn::DropoutConfig;
    let layer = DropoutConfig::new(0.25).init();
    for (kind, device) in backends() {
        let training = device.clone().autodiff();
        let ones = Tensor::<2>::ones([64, 1024], &training);
        let draw = |seed| {
            training.seed(seed);
            to_vec(kernels::dropout(&layer, ones.clone()))
        };
        let mask = draw(5);
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "{kind}: kept {kept}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.75).abs() < 1e-6),
            "{kind}: kept elements are scaled by 1/(1 - p)"
        );
        assert_eq!(mask, draw(5), "{kind}: the same seed, the same mask");
        assert_ne!(mask, draw(6), "{kind}: another seed, another mask");
        // Inference devices and layers switched off leave the input alone.
        assert_eq!(
            to_vec(kernels::dropout(&layer, Tensor::<2>::ones([4, 4], &device))),
            vec![1.0; 16]
        );
    }
}

#[test]
fn layer_norm_and_its_gradients_equal_burns_decomposition_on_every_backend() {
    use bert::burn::module::Param;
    use bert::burn::nn::LayerNormConfig;
    const EPSILON: f64 = 1e-12;
    for (kind, device) in backends() {
        let device = device.autodiff();
        let mut layer = LayerNormConfig::new(24).with_epsilon(EPSILON).init(&device);
        // γ and β away from their 1 and 0 starts, so that every term of the gradient counts.
        layer.gamma = Param::from_tensor(Tensor::random(
            [24],
            Distribution::Normal(1.0, 0.5),
            &device,
        ));
        layer.beta = Some(Param::from_tensor(Tensor::random(
            [24],
            Distribution::Normal(0.0, 0.5),
            &device,
        )));
        let x = Tensor::<3>::random([3, 11, 24], Distribution::Normal(2.0, 3.0), &device)
            .require_grad();
        let weights = Tensor::<3>::random([3, 11, 24], Distribution::Normal(0.0, 1.0), &device);
        // burn's own LayerNorm on an autodiff device: the decomposition autodiff
        // differentiates operation by operation, an independent reference.
        let run = |ours: bool| {
            let y = if ours {
                kernels::layer_norm(&layer, EPSILON, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let beta = layer.beta.as_ref().expect("a bias");
            [
                to_vec(y.inner()),
                to_vec(x.grad(&grads).expect("dx")),
                to_vec(layer.gamma.val().grad(&grads).expect("dγ")),
                to_vec(beta.val().grad(&grads).expect("dβ")),
            ]
        };
        let (ours, reference) = (run(true), run(false));
        for ((what, ours), reference) in ["y", "dx", "dγ", "dβ"].iter().zip(&ours).zip(&reference)
        {
            let reference: Vec<f64> = reference.iter().map(|&v| v as f64).collect();
            assert_close(
                ours,
                &reference,
                2e-5,
                &format!("layer norm {what} on {kind}"),
            );
        }
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

/// `a · b` for row-major `[m, k]` and `[k, n]` in f64.
fn product64(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
        }
    }
    out
}

/// Row-major `[rows, cols]` transposed.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

#[test]
fn matmul_of_transposed_views_and_its_gradients_equal_products_in_f64_on_every_backend() {
    // Attention's shapes: heads split off by a transpose, keys transposed once more;
    // 2 × 3 stacked products of [5, 4] · [4, 6].
    let (stack, m, k, n) = (6, 5, 4, 6);
    for (kind, device) in backends() {
        let device = device.autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        let query = Tensor::<4>::random([2, m, 3, k], normal, &device).require_grad();
        let key = Tensor::<4>::random([2, n, 3, k], normal, &device).require_grad();
        let weights = Tensor::<4>::random([2, 3, m, n], normal, &device);
        let (lhs, rhs) = (
            query.clone().swap_dims(1, 2),
            key.clone().swap_dims(1, 2).swap_dims(2, 3),
        );
        let product = kernels::matmul(lhs.clone(), rhs.clone());
        let grads = (product.clone() * weights.clone()).sum().backward();

        // The same numbers laid out contiguously, one [m, k] and [k, n] pair per head.
        let (a, b, w) = (
            to_vec(lhs.inner()),
            to_vec(rhs.inner()),
            to_vec(weights.inner()),
        );
        let (ours, d_query, d_key) = (
            to_vec(product.inner()),
            query.grad(&grads).expect("d query").swap_dims(1, 2),
            key.grad(&grads)
                .expect("d key")
                .swap_dims(1, 2)
                .swap_dims(2, 3),
        );
        let (d_lhs, d_rhs) = (to_vec(d_query), to_vec(d_key));
        for s in 0..stack {
            let (a, b, w) = (
                &a[s * m * k..][..m * k],
                &b[s * k * n..][..k * n],
                &w[s * m * n..][..m * n],
            );
            let at = |what: &str| format!("{what} of head {s} on {kind}");
            assert_close(
                &ours[s * m * n..][..m * n],
                &product64(a, b, (m, k, n)),
                1e-6,
                &at("product"),
            );
            // d lhs = W · bᵀ, d rhs = aᵀ · W.
            let d_a = product64(w, &transpose(b, k, n), (m, n, k));
            let d_b = product64(&transpose(a, m, k), w, (k, m, n));
            assert_close(&d_lhs[s * m * k..][..m * k], &d_a, 1e-6, &at("d lhs"));
            assert_close(&d_rhs[s * k * n..][..k * n], &d_b, 1e-6, &at("d rhs"));
        }
    }
}

#[test]
fn linear_and_its_gradients_equal_burns_linear_on_every_backend() {
    use bert::burn::nn::LinearConfig;
    for (kind, device) in backends() {
        let device = device.autodiff();
        let layer = LinearConfig::new(19, 7).init(&device);
        let x =
            Tensor::<2>::random([13, 19], Distribution::Normal(0.0, 2.0), &device).require_grad();
        let weights = Tensor::<2>::random([13, 7], Distribution::Normal(0.0, 1.0), &device);
        // burn's own Linear, which autodiff differentiates as matmul and add.
        let run = |ours: bool| {
            let y = if ours {
                kernels::linear(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let bias = layer.bias.as_ref().expect("a bias");
            [
                to_vec(y.inner()),
                to_vec(x.grad(&grads).expect("dx")),
                to_vec(layer.weight.val().grad(&grads).expect("dW")),
                to_vec(bias.val().grad(&grads).expect("db")),
            ]
        };
        let (ours, reference) = (run(true), run(false));
        for ((what, ours), reference) in ["y", "dx", "dW", "db"].iter().zip(&ours).zip(&reference) {
            let reference: Vec<f64> = reference.iter().map(|&v| v as f64).collect();
            assert_close(ours, &reference, 1e-5, &format!("linear {what} on {kind}"));
        }
    }
}
