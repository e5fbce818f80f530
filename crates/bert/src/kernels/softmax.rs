//! Softmax over the last axis and its backward pass, row by row on every core.
//!
//! burn's autodiff has no softmax of its own: training records the five operations
//! it decomposes into (max, subtract, exp, sum, divide), each a pass over the
//! attention scores, and their five backward passes, all on one thread. Here the
//! forward pass is one pass per row, and the backward pass needs only the output:
//! `dx = p ⊙ (g − Σ g ⊙ p)`. Attention's padding bias is added to each row as it is
//! normalised, while the row is in cache, instead of in a pass of its own over all the
//! scores.

use rayon::prelude::*;

use super::math::{exp_with, multiply_add, vectorised};
use super::reduce::{dot, lanes, sum};

/// Rows per parallel task: attention rows are short (the sequence length), so
/// several go together.
const ROWS_PER_TASK: usize = 64;

/// `row ← softmax(row + bias_s)` for each `row_len`-long row, where `bias` holds one
/// `row_len`-long row per sequence `s` and the rows of a sequence (its heads' queries)
/// are consecutive: `values` is `[sequences, rows per sequence, row_len]`.
pub fn masked_softmax_rows_in_place(values: &mut [f32], row_len: usize, bias: &[f32]) {
    assert!(
        row_len > 0 && values.len().is_multiple_of(row_len),
        "softmax: ragged rows"
    );
    assert!(
        !bias.is_empty()
            && bias.len().is_multiple_of(row_len)
            && values.len().is_multiple_of(bias.len()),
        "softmax: the bias must hold one row per sequence"
    );
    let rows_per_sequence = values.len() / bias.len();
    values
        .par_chunks_mut(row_len * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, rows)| {
            let first_row = task * ROWS_PER_TASK;
            softmax_rows(rows, row_len, bias, first_row, rows_per_sequence);
        });
}

vectorised! {
    fn softmax_rows(
        rows: &mut [f32],
        row_len: usize,
        bias: &[f32],
        first_row: usize,
        rows_per_sequence: usize,
    ) {
        for (i, row) in rows.chunks_exact_mut(row_len).enumerate() {
            let sequence = (first_row + i) / rows_per_sequence;
            softmax_row::<false>(row, &bias[sequence * row_len..][..row_len], 1.0);
        }
    }
}

/// `row ← softmax(scale · row + bias)`; `FUSED`: as [`multiply_add`]'s.
#[inline(always)]
fn softmax_row<const FUSED: bool>(row: &mut [f32], bias: &[f32], scale: f32) {
    row.iter_mut()
        .zip(bias)
        .for_each(|(x, b)| *x = multiply_add::<FUSED>(*x, scale, *b));
    let max = lanes(row, f32::NEG_INFINITY, f32::max);
    row.iter_mut()
        .for_each(|x| *x = exp_with::<FUSED>(*x - max));
    let normaliser = 1.0 / sum(row);
    row.iter_mut().for_each(|x| *x *= normaliser);
}

vectorised! {
    /// `row ← softmax(scale · row + bias)` for each of the `row_len`-long rows that
    /// start every `stride` values of `values` (a product's tile, wider than its
    /// rows): attention's scores in reduced-precision inference, their scale and
    /// padding bias added in the same pass, multiply-adds fused where the CPU has FMA
    /// (outputs that need not match fp32's bit for bit).
    pub fn scaled_softmax_rows(
        values: &mut [f32],
        row_len: usize,
        stride: usize,
        bias: &[f32],
        scale: f32,
    ) {
        for row in values.chunks_mut(stride) {
            softmax_row::<FMA>(&mut row[..row_len], bias, scale);
        }
    }
}

/// `grad ← p ⊙ (grad − Σ grad ⊙ p)` row by row, `p` the softmax's output.
pub fn softmax_backward_in_place(output: &[f32], grad: &mut [f32], row_len: usize) {
    assert_eq!(
        output.len(),
        grad.len(),
        "softmax backward: output and gradient differ in length"
    );
    assert!(
        row_len > 0 && grad.len().is_multiple_of(row_len),
        "softmax backward: ragged rows"
    );
    let task = row_len * ROWS_PER_TASK;
    grad.par_chunks_mut(task)
        .zip(output.par_chunks(task))
        .for_each(|(grads, outputs)| softmax_backward_rows(outputs, grads, row_len));
}

vectorised! {
    fn softmax_backward_rows(outputs: &[f32], grads: &mut [f32], row_len: usize) {
        for (g, p) in grads
            .chunks_exact_mut(row_len)
            .zip(outputs.chunks_exact(row_len))
        {
            let dot = dot(g, p);
            g.iter_mut().zip(p).for_each(|(g, p)| *g = p * (*g - dot));
        }
    }
}
