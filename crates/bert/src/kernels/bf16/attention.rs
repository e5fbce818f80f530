//! Attention for reduced-precision inference: `softmax(Q Kᵀ / √d + bias) V` per
//! sequence and head, both products on bf16 operands summed in f32, the softmax in f32.
//!
//! In f32, attention's two products run as burn's batched matmuls over views of Q, K
//! and V that are first copied into `[batch, heads, seq, head_dim]` order, and the
//! scores make two more passes (the padding bias, the softmax). Here one task per
//! sequence reads its heads' operands in place from the joined Q, K, V layer's output,
//! and the scores of a head stay in cache from the product through the softmax to the
//! second product.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::super::buffer::filled_by;
use super::super::panels::PANEL;
use super::super::softmax::scaled_softmax_rows;
use super::gemm::Bf16Kernel;
use super::{Bf16Rows, PackedBf16, round, round_row};

/// The sizes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence, padding included.
    pub seq_len: usize,
    /// Attention heads.
    pub heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

impl AttentionShape {
    /// Every head side by side: the width of Q, K, V and the output.
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Tokens of every sequence: the rows of Q, K, V and the output.
    pub fn rows(&self) -> usize {
        self.batch * self.seq_len
    }
}

/// `softmax(scale · Q Kᵀ + bias_b) V` for every sequence `b` and head, the heads side by
/// side again, `[batch · seq_len, width]` row-major. `qkv` holds Q, K and V as three
/// consecutive `[batch · seq_len, width]` blocks (what the joined Q, K, V layer
/// writes); `key_bias` one row of `seq_len` values per sequence, added to every score
/// of its keys (0, or a huge negative number for padding).
pub fn attention(
    qkv: &[f32],
    key_bias: &[f32],
    shape: AttentionShape,
    scale: f32,
    kernel: Bf16Kernel,
) -> Vec<f32> {
    let (rows, width) = (shape.rows(), shape.width());
    let (seq_len, head_dim) = (shape.seq_len, shape.head_dim);
    assert_eq!(qkv.len(), 3 * rows * width, "attention: Q, K and V blocks");
    assert_eq!(key_bias.len(), rows, "attention: one bias per key");
    if rows == 0 || width == 0 {
        return vec![0.0; rows * width];
    }
    // Every operand rounded once, in one pass on every core.
    let rounded = round(qkv);
    let block = |part: usize| &rounded[part * rows * width..(part + 1) * rows * width];
    let (score_panels, context_panels) = (seq_len.div_ceil(PANEL), head_dim.div_ceil(PANEL));
    let (score_stride, context_stride) = (score_panels * PANEL, context_panels * PANEL);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(seq_len * width)
            .enumerate()
            .for_each(|(b, out)| {
                let first = b * seq_len;
                let bias = &key_bias[first..first + seq_len];
                let mut scores = vec![0.0f32; seq_len * score_stride];
                let mut probabilities = vec![0u16; seq_len * score_stride];
                let mut context = vec![0.0f32; seq_len * context_stride];
                for head in 0..shape.heads {
                    let columns = head * head_dim;
                    // Where token `t`'s values of this head start in each block.
                    let at = |t: usize| (first + t) * width + columns;
                    let token = |part: usize| {
                        let block = block(part);
                        (0..seq_len).map(move |t| &block[at(t)..at(t) + head_dim])
                    };
                    let q = Bf16Rows::from_rows(token(0), head_dim);
                    let k = PackedBf16::from_columns(token(1), head_dim);
                    kernel.products(&q, &k, 0..seq_len, 0..score_panels, &mut scores);
                    scaled_softmax_rows(&mut scores, seq_len, score_stride, bias, scale);
                    // The scores' columns past the last key are zero: the product of zero
                    // padding, left alone by the softmax.
                    round_row(&scores, &mut probabilities);
                    let p = std::mem::take(&mut probabilities);
                    let p = Bf16Rows::from_padded(p, seq_len, seq_len, score_stride);
                    let v = PackedBf16::from_rows(token(2), head_dim);
                    kernel.products(&p, &v, 0..seq_len, 0..context_panels, &mut context);
                    probabilities = p.values;
                    for (t, sums) in context.chunks(context_stride).enumerate() {
                        out[t * width + columns..][..head_dim]
                            .write_copy_of_slice(&sums[..head_dim]);
                    }
                }
            });
    };
    // SAFETY: each sequence's `seq_len` rows are written whole: every head writes its
    // `head_dim` columns of every token, and the heads side by side are `width` columns.
    unsafe { filled_by(rows * width, fill) }
}

#[cfg(test)]
mod tests {
    use super::super::super::panels::test_values as values;
    use super::*;

    /// Attention in f64 on the unrounded operands, head by head, as the paper writes it.
    fn reference(qkv: &[f32], bias: &[f32], shape: AttentionShape, scale: f64) -> Vec<f64> {
        let (rows, width, n, d) = (shape.rows(), shape.width(), shape.seq_len, shape.head_dim);
        let at =
            |part: usize, row: usize, col: usize| qkv[(part * rows + row) * width + col] as f64;
        let mut out = vec![0.0; rows * width];
        for b in 0..shape.batch {
            for h in 0..shape.heads {
                for i in 0..n {
                    let scores: Vec<f64> = (0..n)
                        .map(|j| {
                            let dot: f64 = (0..d)
                                .map(|c| at(0, b * n + i, h * d + c) * at(1, b * n + j, h * d + c))
                                .sum();
                            scale * dot + bias[b * n + j] as f64
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = exps.iter().sum();
                    for c in 0..d {
                        out[(b * n + i) * width + h * d + c] = (0..n)
                            .map(|j| exps[j] / total * at(2, b * n + j, h * d + c))
                            .sum();
                    }
                }
            }
        }
        out
    }

    fn kernels() -> Vec<Bf16Kernel> {
        let mut kernels = vec![Bf16Kernel::Portable];
        if Bf16Kernel::detect() == Bf16Kernel::Avx512Bf16 {
            kernels.push(Bf16Kernel::Avx512Bf16);
        }
        kernels
    }

    #[test]
    fn bf16_attention_is_within_rounding_of_attention_in_f64() {
        // Odd sizes: ragged panels of keys and of head values, and padded keys.
        for shape in [
            AttentionShape {
                batch: 3,
                seq_len: 19,
                heads: 2,
                head_dim: 5,
            },
            AttentionShape {
                batch: 2,
                seq_len: 40,
                heads: 3,
                head_dim: 32,
            },
        ] {
            let (rows, width) = (shape.rows(), shape.width());
            let qkv = values(3 * rows * width, 1);
            let mut bias = vec![0.0f32; rows];
            // The last 4 keys of the second sequence are padding.
            for t in shape.seq_len - 4..shape.seq_len {
                bias[shape.seq_len + t] = f32::MIN;
            }
            let scale = 1.0 / (shape.head_dim as f32).sqrt();
            let expected = reference(&qkv, &bias, shape, scale as f64);
            for kernel in kernels() {
                let got = attention(&qkv, &bias, shape, scale, kernel);
                // Each operand rounds by at most 2⁻⁸ of itself: scores by about
                // 2⁻⁷ · Σ|q k| · scale, which moves the probabilities by a few percent
                // of themselves at worst, and the context by that share of |v| ≤ 2.
                let worst = got
                    .iter()
                    .zip(&expected)
                    .map(|(&g, &e)| (g as f64 - e).abs())
                    .fold(0.0, f64::max);
                assert!(worst < 0.05, "{kernel:?} {shape:?}: off by {worst}");
            }
        }
    }

    #[test]
    fn padded_keys_are_not_attended_to() {
        let shape = AttentionShape {
            batch: 2,
            seq_len: 9,
            heads: 2,
            head_dim: 4,
        };
        let (rows, width) = (shape.rows(), shape.width());
        let mut qkv = values(3 * rows * width, 2);
        let mut bias = vec![0.0f32; rows];
        bias[shape.seq_len + 8] = f32::MIN;
        let before = attention(&qkv, &bias, shape, 0.5, Bf16Kernel::detect());
        // Key and value of the padded token changed: nothing else may move.
        for part in [1, 2] {
            for c in 0..width {
                qkv[(part * rows + shape.seq_len + 8) * width + c] = 100.0;
            }
        }
        let after = attention(&qkv, &bias, shape, 0.5, Bf16Kernel::detect());
        assert_eq!(before, after);
    }
}
