//! Symmetric int8 quantisation: a scale per row of activations (chosen at run time, per
//! token) and per output channel of a weight matrix (chosen once, at load).
//!
//! A group of values `v` gets the scale `s = max|v| / 127` and the codes
//! `q = round(v / s)` (to the nearest, ties to even), clamped to `[-127, 127]`, so
//! `q · s` is within `s / 2` of `v` and the grid is symmetric (−128 is never used: its
//! absence keeps `−q` a code). An all-zero group gets the scale 0 and the codes 0; a
//! group holding a NaN or an infinity, the scale NaN.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::super::buffer::filled_by;
use super::super::math::{ROUND, vectorised};

/// The largest code: `max|v|` maps to it.
pub const MAX_CODE: f32 = 127.0;

vectorised! {
    /// The largest magnitude in `values`, NaN where one of them is NaN or infinite (so
    /// that a broken input stays broken: a NaN scale makes every output of its row
    /// NaN, as the f32 product would; `f32::max` would drop a NaN).
    pub fn largest_magnitude(values: &[f32]) -> f32 {
        // Lanes of independent maxima, in the compare-and-select form that compiles to
        // vector max instructions, and a sum of `v · 0`, which only a NaN or an
        // infinity leaves other than 0: the activations' scales come at run time, for
        // every row of every product.
        const LANES: usize = 16;
        let (mut largest, mut poison) = ([0.0f32; LANES], [0.0f32; LANES]);
        let chunks = values.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for i in 0..LANES {
                let magnitude = chunk[i].abs();
                largest[i] = if magnitude > largest[i] { magnitude } else { largest[i] };
                poison[i] += chunk[i] * 0.0;
            }
        }
        for (i, &v) in tail.iter().enumerate() {
            largest[i] = largest[i].max(v.abs());
            poison[i] += v * 0.0;
        }
        if poison.iter().any(|&p| p != 0.0) {
            return f32::NAN;
        }
        largest.into_iter().fold(0.0, f32::max)
    }
}

vectorised! {
    /// The unsigned bytes VNNI reads for the codes of `row` on the grid whose inverse
    /// scale is `inverse_scale`: `code + 128`, which in 8 bits flips the sign bit.
    fn encode_row(row: &[f32], inverse_scale: f32, out: &mut [MaybeUninit<u8>]) {
        for (byte, &v) in out.iter_mut().zip(row) {
            byte.write(code(v, inverse_scale) as u8 ^ 0x80);
        }
    }
}

/// The scale of a group whose largest magnitude is `largest`, and the factor that turns
/// a value into its code.
pub fn scales_for(largest: f32) -> (f32, f32) {
    if largest == 0.0 {
        return (0.0, 0.0);
    }
    (largest / MAX_CODE, MAX_CODE / largest)
}

/// The code of `value` on the grid whose inverse scale is `inverse_scale`.
#[inline(always)]
pub fn code(value: f32, inverse_scale: f32) -> i8 {
    // `ROUND` rounds and leaves the code in the sum's low byte: operations that
    // vectorise, where `f32::round` is a libm call per value and a checked cast more.
    let clamped = (value * inverse_scale).clamp(-MAX_CODE, MAX_CODE);
    (clamped + ROUND).to_bits() as u8 as i8
}

/// Activations quantised per row, stored as the unsigned bytes the VNNI instruction
/// multiplies: `code + 128`, each row padded with zero codes (128) to a multiple of 4.
#[derive(Clone, Debug)]
pub struct QuantizedRows {
    /// `rows × padded_len` bytes, row-major.
    pub bytes: Vec<u8>,
    /// Each row's scale.
    pub scales: Vec<f32>,
    /// The values per row before padding.
    pub len: usize,
    /// The stored length of a row: `len` rounded up to a multiple of 4.
    pub padded_len: usize,
}

/// What `code + OFFSET` turns a signed code into: the unsigned byte VNNI reads.
pub const OFFSET: i32 = 128;

impl QuantizedRows {
    /// Quantises the `rows` rows of `values` (row-major, `values.len() / rows` each).
    pub fn new(values: &[f32], rows: usize) -> Self {
        let len = values.len().checked_div(rows).unwrap_or(0);
        assert_eq!(len * rows, values.len(), "quantise: ragged rows");
        let padded_len = len.div_ceil(4) * 4;
        let mut scales = vec![0.0; rows];
        let fill = |bytes: &mut [MaybeUninit<u8>]| {
            if len > 0 {
                bytes
                    .par_chunks_mut(padded_len)
                    .zip(scales.par_iter_mut())
                    .zip(values.par_chunks(len))
                    .for_each(|((out, scale), row)| {
                        let (s, inverse) = scales_for(largest_magnitude(row));
                        *scale = s;
                        let (codes, padding) = out.split_at_mut(len);
                        encode_row(row, inverse, codes);
                        padding.fill(MaybeUninit::new(OFFSET as u8));
                    });
            }
        };
        // SAFETY: the `rows` chunks of `padded_len` bytes pair up with the rows, and each
        // is written whole: the row's codes (one per value, the lengths being equal),
        // then the padding with the zero code. Without values there is no padding.
        let bytes = unsafe { filled_by(rows * padded_len, fill) };
        Self {
            bytes,
            scales,
            len,
            padded_len,
        }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// The signed code at (`row`, `col`).
    pub fn code(&self, row: usize, col: usize) -> i32 {
        self.bytes[row * self.padded_len + col] as i32 - OFFSET
    }
}

/// A `[d_in, d_out]` weight matrix quantised per output channel (per column).
#[derive(Clone, Debug)]
pub struct QuantizedColumns {
    /// `d_in × d_out` codes, row-major as the matrix was.
    pub codes: Vec<i8>,
    /// Each column's scale.
    pub scales: Vec<f32>,
    /// The inputs (rows of the matrix).
    pub d_in: usize,
    /// The outputs (columns of the matrix).
    pub d_out: usize,
}

impl QuantizedColumns {
    /// Quantises `weight`, row-major `[d_in, d_out]`, column by column.
    pub fn new(weight: &[f32], d_in: usize, d_out: usize) -> Self {
        assert_eq!(weight.len(), d_in * d_out, "quantise: weight shape");
        let column = |n: usize| (0..d_in).map(|k| weight[k * d_out + n]).collect::<Vec<_>>();
        let (scales, inverse): (Vec<f32>, Vec<f32>) = (0..d_out)
            .map(|n| scales_for(largest_magnitude(&column(n))))
            .unzip();
        let codes = weight
            .iter()
            .enumerate()
            .map(|(i, &w)| code(w, inverse[i % d_out.max(1)]))
            .collect();
        Self {
            codes,
            scales,
            d_in,
            d_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_rounded_quotients_and_dequantise_within_half_a_step() {
        let row = [0.3f32, -1.27, 0.0, 0.6351, 1.0e-3, -0.0051];
        let q = QuantizedRows::new(&row, 1);
        let s = 1.27f32 / 127.0;
        assert!((q.scales[0] - s).abs() <= f32::EPSILON * s);
        let expected = [30, -127, 0, 64, 0, -1];
        for (col, (&v, &e)) in row.iter().zip(&expected).enumerate() {
            assert_eq!(q.code(0, col), e, "code of {v}");
            assert!((q.code(0, col) as f32 * q.scales[0] - v).abs() <= s / 2.0 + 1e-7);
        }
        assert_eq!((q.len, q.padded_len), (6, 8));
        assert_eq!(&q.bytes[6..], &[128, 128], "padding is the zero code");
    }

    #[test]
    fn zero_groups_get_zero_codes_and_a_nan_poisons_its_group_alone() {
        let q = QuantizedRows::new(
            &[0.0, 0.0, f32::NAN, 1.0, 2.0, f32::NAN, f32::INFINITY, 1.0],
            4,
        );
        assert_eq!(q.scales[0], 0.0);
        assert!(q.scales[1].is_nan() && q.scales[2].is_nan() && q.scales[3].is_nan());
        // A NaN in the tail of a long row, and in one of its full lanes.
        for at in [3, 40] {
            let mut row = vec![1.0f32; 41];
            row[at] = f32::NAN;
            assert!(
                QuantizedRows::new(&row, 1).scales[0].is_nan(),
                "NaN at {at}"
            );
        }
        let mut row: Vec<f32> = (0..41).map(|i| i as f32 - 20.0).collect();
        row[37] = -50.0;
        assert_eq!(largest_magnitude(&row), 50.0);
        assert!((0..2).all(|c| q.code(0, c) == 0));
    }

    #[test]
    fn columns_get_their_own_scales() {
        // [[1, -4], [0.5, 2]]: column 0 scaled by 1/127, column 1 by 4/127.
        let w = QuantizedColumns::new(&[1.0, -4.0, 0.5, 2.0], 2, 2);
        assert_eq!(w.scales, vec![1.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(w.codes, vec![127, -127, 64, 64]);
    }
}
