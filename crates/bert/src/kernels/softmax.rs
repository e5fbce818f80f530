//! Softmax over the last axis and its backward pass, row by row on every core.
//!
//! burn's autodiff has no softmax of its own: training records the five operations
//! it decomposes into (max, subtract, exp, sum, divide), each a pass over the
//! attention scores, and their five backward passes, all on one thread. Here the
//! forward pass is one pass per row, and the backward pass needs only the output:
//! `dx = p ⊙ (g − Σ g ⊙ p)`.

use rayon::prelude::*;

use super::math::exp;

/// Rows per parallel task: attention rows are short (the sequence length), so
/// several go together.
const ROWS_PER_TASK: usize = 64;

/// `row ← exp(row − max row) / Σ exp(row − max row)` for each `row_len`-long row.
pub fn softmax_rows_in_place(values: &mut [f32], row_len: usize) {
    assert!(
        row_len > 0 && values.len() % row_len == 0,
        "softmax: ragged rows"
    );
    values
        .par_chunks_mut(row_len * ROWS_PER_TASK)
        .for_each(|rows| {
            for row in rows.chunks_exact_mut(row_len) {
                let max = lanes(row, f32::NEG_INFINITY, f32::max);
                row.iter_mut().for_each(|x| *x = exp(*x - max));
                let scale = 1.0 / lanes(row, 0.0, |a, b| a + b);
                row.iter_mut().for_each(|x| *x *= scale);
            }
        });
}

/// `grad ← p ⊙ (grad − Σ grad ⊙ p)` row by row, `p` the softmax's output.
pub fn softmax_backward_in_place(output: &[f32], grad: &mut [f32], row_len: usize) {
    assert_eq!(
        output.len(),
        grad.len(),
        "softmax backward: output and gradient differ in length"
    );
    assert!(
        row_len > 0 && grad.len() % row_len == 0,
        "softmax backward: ragged rows"
    );
    let task = row_len * ROWS_PER_TASK;
    grad.par_chunks_mut(task)
        .zip(output.par_chunks(task))
        .for_each(|(grads, outputs)| {
            for (g, p) in grads
                .chunks_exact_mut(row_len)
                .zip(outputs.chunks_exact(row_len))
            {
                let dot = dot(g, p);
                g.iter_mut().zip(p).for_each(|(g, p)| *g = p * (*g - dot));
            }
        });
}

/// Width of the partial reductions below: one AVX-512 register, or two AVX2 ones.
const LANES: usize = 16;

/// `row` reduced by `op` through [`LANES`] independent partial results, which the
/// compiler keeps in vector registers (a single running value would serialise the
/// loop: float operations may not be reordered on its behalf).
#[inline(always)]
fn lanes(row: &[f32], init: f32, op: impl Fn(f32, f32) -> f32 + Copy) -> f32 {
    let mut partial = [init; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, &x) in partial.iter_mut().zip(chunk) {
            *p = op(*p, x);
        }
    }
    let tail = chunks.remainder().iter().fold(init, |a, &x| op(a, x));
    partial.iter().fold(tail, |a, &p| op(a, p))
}

/// `Σ a_i b_i`, by [`LANES`] partial sums.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0.0f32; LANES];
    let (mut a_chunks, mut b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for ((p, &x), &y) in partial.iter_mut().zip(x).zip(y) {
            *p += x * y;
        }
    }
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    partial.iter().sum::<f32>() + tail
}
