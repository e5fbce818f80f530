//! LayerNorm over the last axis for training, and its backward pass, row by row on
//! every core.
//!
//! burn's autodiff has no LayerNorm of its own: training records the nine operations
//! it decomposes into and their backward passes, thirteen times per MiniLM forward
//! pass. Here the forward pass keeps what the backward pass needs, the normalised
//! rows `x̂` and each row's `1/σ`, and the backward pass is one sweep:
//! `dx = (gγ − mean(gγ) − x̂ · mean(gγ ⊙ x̂)) / σ`, `dγ = Σ g ⊙ x̂`, `dβ = Σ g`.

use rayon::prelude::*;

use super::math::vectorised;
use super::reduce::{dot, sum};

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Normalises each `gamma.len()`-long row of `x` in place (x ← x̂) and returns
/// `(y, 1/σ per row)` with `y = x̂ ⊙ γ + β`.
pub fn layer_norm_train(
    x: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "layer norm: ragged rows"
    );
    let mut y = vec![0.0f32; x.len()];
    let mut inv_std = vec![0.0f32; x.len() / width];
    x.par_chunks_mut(width * ROWS_PER_TASK)
        .zip(y.par_chunks_mut(width * ROWS_PER_TASK))
        .zip(inv_std.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|((x, y), inv_std)| normalize_rows(x, y, inv_std, gamma, beta, epsilon));
    (y, inv_std)
}

vectorised! {
    fn normalize_rows(
        x: &mut [f32],
        y: &mut [f32],
        inv_std: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        epsilon: f64,
    ) {
        let width = gamma.len();
        for ((row, out), inv) in x
            .chunks_exact_mut(width)
            .zip(y.chunks_exact_mut(width))
            .zip(inv_std)
        {
            let mean = sum(row) / width as f32;
            row.iter_mut().for_each(|v| *v -= mean);
            let variance = dot(row, row) / width as f32;
            *inv = (1.0 / (variance as f64 + epsilon).sqrt()) as f32;
            for (((v, o), g), b) in row.iter_mut().zip(out.iter_mut()).zip(gamma).zip(beta) {
                *v *= *inv;
                *o = *v * g + b;
            }
        }
    }
}

/// Given the output gradient `grad`, the normalised rows and `1/σ` that
/// [`layer_norm_train`] kept, and γ: turns `grad` into the input's gradient in place
/// and returns `(dγ, dβ)`.
pub fn layer_norm_backward(
    grad: &mut [f32],
    normalized: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    assert_eq!(
        grad.len(),
        normalized.len(),
        "layer norm backward: shapes differ"
    );
    assert_eq!(
        grad.len(),
        inv_std.len() * width,
        "layer norm backward: one 1/σ per row"
    );
    let zeros = || (vec![0.0f32; width], vec![0.0f32; width]);
    grad.par_chunks_mut(width * ROWS_PER_TASK)
        .zip(normalized.par_chunks(width * ROWS_PER_TASK))
        .zip(inv_std.par_chunks(ROWS_PER_TASK))
        .map(|((grad, normalized), inv_std)| backward_rows(grad, normalized, inv_std, gamma))
        .reduce(zeros, |(mut ga, mut ba), (gb, bb)| {
            ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
            ba.iter_mut().zip(bb).for_each(|(a, b)| *a += b);
            (ga, ba)
        })
}

vectorised! {
    /// One task's rows of [`layer_norm_backward`]: the input gradients in place, and
    /// the task's partial sums of `dγ` and `dβ`.
    fn backward_rows(
        grad: &mut [f32],
        normalized: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let width = gamma.len();
        let (mut d_gamma, mut d_beta) = (vec![0.0f32; width], vec![0.0f32; width]);
        let mut scaled = vec![0.0f32; width];
        for ((g, x_hat), &inv) in grad
            .chunks_exact_mut(width)
            .zip(normalized.chunks_exact(width))
            .zip(inv_std)
        {
            for i in 0..width {
                d_gamma[i] += g[i] * x_hat[i];
                d_beta[i] += g[i];
                scaled[i] = g[i] * gamma[i];
            }
            let mean = sum(&scaled) / width as f32;
            let mean_x_hat = dot(&scaled, x_hat) / width as f32;
            for i in 0..width {
                g[i] = inv * (scaled[i] - mean - x_hat[i] * mean_x_hat);
            }
        }
        (d_gamma, d_beta)
    }
}
