//! int8 linear layers for inference on the CPU.
//!
//! A layer's weights are quantised once, per output channel and symmetrically
//! ([`quantize`]), and packed for the product ([`packed`]); at run time each row of
//! activations (a token) gets its own scale, the codes are multiplied exactly in
//! integers ([`gemm`]: AVX-512 VNNI where the CPU has it) and one pass turns each
//! product back into a float with its two scales and the bias.
//!
//! Per-row activation scales, not ONNX Runtime's one scale per tensor: a token with a
//! large activation no longer coarsens the grid of every other token of the batch.

pub mod gemm;
pub mod packed;
pub mod quantize;

use std::mem::MaybeUninit;
use std::ops::Range;

use gemm::IntegerKernel;
use packed::PackedWeights;
use quantize::{QuantizedColumns, QuantizedRows};

use super::math::vectorised;
use super::panels::{PackedLinear, PanelProduct};

/// `x · W + b` with `W` in int8: the weights quantised per output channel and packed
/// once, each batch's activations quantised per row, the products exact in `i32`.
pub type Int8Linear = PackedLinear<IntegerKernel>;

impl PanelProduct for IntegerKernel {
    type Weights = PackedWeights;
    type Rows = QuantizedRows;
    type Sum = i32;
    const NAME: &'static str = "int8";

    fn detect() -> Self {
        IntegerKernel::detect()
    }

    fn pack(weight: &[f32], d_in: usize, d_out: usize) -> PackedWeights {
        PackedWeights::new(&QuantizedColumns::new(weight, d_in, d_out))
    }

    fn shape(weights: &PackedWeights) -> (usize, usize) {
        (weights.d_in, weights.d_out)
    }

    fn prepare(x: &[f32], rows: usize) -> QuantizedRows {
        QuantizedRows::new(x, rows)
    }

    fn products(
        self,
        activations: &QuantizedRows,
        weights: &PackedWeights,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [i32],
    ) {
        IntegerKernel::products(self, activations, weights, rows, panels, tile);
    }

    fn finish<'a>(
        activations: &QuantizedRows,
        weights: &PackedWeights,
        row: usize,
        columns: Range<usize>,
        sums: &[i32],
        bias: &[f32],
        out: &'a mut [MaybeUninit<f32>],
    ) -> &'a mut [f32] {
        dequantize(
            sums,
            activations.scales[row],
            &weights.scales[columns],
            bias,
            out,
        )
    }
}

/// `out[n] = products[n] · (row_scale · column_scales[n]) + bias[n]`: a row of integer
/// products back in the units of `x · W + b`, returning `out` written.
pub fn dequantize<'a>(
    products: &[i32],
    row_scale: f32,
    column_scales: &[f32],
    bias: &[f32],
    out: &'a mut [MaybeUninit<f32>],
) -> &'a mut [f32] {
    let len = out.len();
    assert!(
        products.len() == len && column_scales.len() == len && bias.len() == len,
        "int8: a row of products, scales, biases and outputs of different lengths"
    );
    dequantize_lanes(products, row_scale, column_scales, bias, out);
    // SAFETY: the loop has written each of `out`'s values (the lengths are equal).
    unsafe { out.assume_init_mut() }
}

vectorised! {
    fn dequantize_lanes(
        products: &[i32],
        row_scale: f32,
        column_scales: &[f32],
        bias: &[f32],
        out: &mut [MaybeUninit<f32>],
    ) {
        for (((out, &p), &s), &b) in out.iter_mut().zip(products).zip(column_scales).zip(bias) {
            out.write(p as f32 * (row_scale * s) + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::panels::test_values as values;
    use super::*;

    #[test]
    fn the_output_is_the_dequantised_integer_product_plus_the_bias() {
        let (m, k, n) = (53, 70, 37);
        let (x, w, b) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let layer = Int8Linear::new(&w, &b, k, n);
        let y = layer.forward(&x, m);
        let (qa, qw) = (QuantizedRows::new(&x, m), QuantizedColumns::new(&w, k, n));
        for i in 0..m {
            for j in 0..n {
                let exact: i64 = (0..k)
                    .map(|t| qa.code(i, t) as i64 * qw.codes[t * n + j] as i64)
                    .sum();
                let expected =
                    exact as f64 * qa.scales[i] as f64 * qw.scales[j] as f64 + b[j] as f64;
                let tolerance = 1e-6 * (expected.abs() + 1.0);
                assert!(
                    (y[i * n + j] as f64 - expected).abs() <= tolerance,
                    "({i}, {j})"
                );
            }
        }
    }

    #[test]
    fn the_output_is_within_the_quantisation_bound_of_the_f32_product() {
        // |Σ x w − Σ x̂ ŵ| ≤ Σ |x| δw + |w| δx + δx δw, with δ half a step of each grid.
        let (m, k, n) = (9, 384, 33);
        let (x, w, b) = (values(m * k, 4), values(k * n, 5), values(n, 6));
        let y = Int8Linear::new(&w, &b, k, n).forward(&x, m);
        let (qa, qw) = (QuantizedRows::new(&x, m), QuantizedColumns::new(&w, k, n));
        for i in 0..m {
            for j in 0..n {
                let (dx, dw) = (qa.scales[i] as f64 / 2.0, qw.scales[j] as f64 / 2.0);
                let (mut exact, mut bound) = (b[j] as f64, 0.0);
                for t in 0..k {
                    let (xv, wv) = (x[i * k + t] as f64, w[t * n + j] as f64);
                    exact += xv * wv;
                    bound += xv.abs() * dw + wv.abs() * dx + dx * dw;
                }
                let error = (y[i * n + j] as f64 - exact).abs();
                assert!(
                    error <= bound * 1.0001 + 1e-5,
                    "({i}, {j}): {error} > {bound}"
                );
            }
        }
    }

    #[test]
    fn every_integer_kernel_gives_the_same_output() {
        let (m, k, n) = (61, 45, 70);
        let (x, w, b) = (values(m * k, 7), values(k * n, 8), values(n, 9));
        let portable = Int8Linear::joined(&w, &b, k, n, 1, IntegerKernel::Portable);
        let best = Int8Linear::new(&w, &b, k, n);
        assert_eq!(
            portable.forward(&x, m),
            best.forward(&x, m),
            "{:?}",
            best.kernel()
        );
    }

    #[test]
    fn joined_layers_give_each_layer_its_own_output_block() {
        let (m, k, width) = (50, 24, 20);
        let x = values(m * k, 10);
        let layers: Vec<(Vec<f32>, Vec<f32>)> = (0..3)
            .map(|i| (values(k * width, 11 + i), values(width, 21 + i)))
            .collect();
        let joined_weight: Vec<f32> = (0..k)
            .flat_map(|row| {
                layers
                    .iter()
                    .flat_map(move |(w, _)| w[row * width..][..width].to_vec())
            })
            .collect();
        let joined_bias: Vec<f32> = layers.iter().flat_map(|(_, b)| b.clone()).collect();
        let kernel = IntegerKernel::detect();
        let joined = Int8Linear::joined(&joined_weight, &joined_bias, k, 3 * width, 3, kernel);
        let separate: Vec<f32> = layers
            .iter()
            .flat_map(|(w, b)| Int8Linear::new(w, b, k, width).forward(&x, m))
            .collect();
        assert_eq!(joined.forward(&x, m), separate);
    }

    #[test]
    fn empty_inputs_give_empty_or_bias_outputs() {
        let layer = Int8Linear::new(&[], &[0.5, -1.0], 0, 2);
        assert_eq!(layer.forward(&[], 3), vec![0.5, -1.0, 0.5, -1.0, 0.5, -1.0]);
        assert!(
            Int8Linear::new(&[1.0; 6], &[0.0; 2], 3, 2)
                .forward(&[], 0)
                .is_empty()
        );
    }
}
