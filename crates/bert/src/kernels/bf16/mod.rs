//! bf16 linear layers for inference on the CPU.
//!
//! bf16 keeps f32's 8-bit exponent and 8 of its 24 bits of significand: a layer's
//! weights are rounded to it once, at load, and each row of activations per batch, both
//! to the nearest (ties to even). The products of two bf16 values are exact in f32, and
//! [`gemm`] sums them in f32 (`vdpbf16ps` where the CPU has AVX-512 BF16); the bias is
//! added in f32 on the way out. No scales: the only error is the operands' rounding,
//! a relative 2⁻⁸ each, where int8's grid has 255 steps per row.

pub mod attention;
pub mod gemm;

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use gemm::Bf16Kernel;

use super::buffer::{as_unwritten, filled_by};
use super::math::vectorised;
use super::panels::{PANEL, PackedLinear, PanelProduct, pack_panels, panel_index};

/// Inputs per block: the bf16 pairs `vdpbf16ps` sums into one 32-bit lane.
pub const BLOCK: usize = 2;

/// The bf16 nearest to `value` (ties to even), as its 16 bits: f32's top half, rounded.
/// A NaN stays a quiet NaN and an overflow becomes an infinity, as in IEEE rounding;
/// subnormals become zeros of their sign, which is how `vdpbf16ps` reads them anyway
/// (so both kernels see the same operands).
#[inline(always)]
pub fn to_bf16(value: f32) -> u16 {
    let bits = value.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    let top = (bits >> 16) as u16;
    if value.is_nan() {
        top | 0x0040
    } else if bits & 0x7f80_0000 == 0 {
        top & 0x8000
    } else {
        rounded
    }
}

/// The f32 a bf16 stands for (exact).
#[inline(always)]
pub fn from_bf16(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// Values per parallel task of [`round`].
const ROUND_CHUNK: usize = 16 * 1024;

/// `to_bf16` of every value, on every core.
pub fn round(values: &[f32]) -> Vec<u16> {
    let fill = |out: &mut [MaybeUninit<u16>]| {
        out.par_chunks_mut(ROUND_CHUNK)
            .zip(values.par_chunks(ROUND_CHUNK))
            .for_each(|(out, values)| {
                round_into(values, out);
            });
    };
    // SAFETY: the chunks of `out` and `values` pair up one to one, of equal lengths, and
    // `round_into` writes every value of its row.
    unsafe { filled_by(values.len(), fill) }
}

/// `out[i] = to_bf16(values[i])`, over values already there.
pub fn round_row(values: &[f32], out: &mut [u16]) {
    // SAFETY: `round_into` writes rounded values only, so `out` stays initialised.
    round_into(values, unsafe { as_unwritten(out) });
}

/// `out[i] = to_bf16(values[i])`, returning `out` written: by `vcvtneps2bf16` where the
/// CPU has AVX-512 BF16 (the same rounding: NaN quieted, subnormals to zero, ties to
/// even; tested bit for bit), elsewhere by the portable loop.
pub fn round_into<'a>(values: &[f32], out: &'a mut [MaybeUninit<u16>]) -> &'a mut [u16] {
    assert_eq!(
        values.len(),
        out.len(),
        "bf16: rounding into a row of another length"
    );
    #[cfg(target_arch = "x86_64")]
    if Bf16Kernel::native() {
        // SAFETY: the CPU has just been seen to support AVX-512F and BF16.
        unsafe { avx512::round_row(values, out) };
        // SAFETY: the kernel has written each of `out`'s values (the lengths are equal).
        return unsafe { out.assume_init_mut() };
    }
    round_row_portable(values, out);
    // SAFETY: the loop has written each of `out`'s values (the lengths are equal).
    unsafe { out.assume_init_mut() }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// [`round_into`](super::round_into), 16 values per instruction.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn round_row(values: &[f32], out: &mut [MaybeUninit<u16>]) {
        let mut chunks = values.chunks_exact(16);
        let mut outs = out.chunks_exact_mut(16);
        for (chunk, out) in (&mut chunks).zip(&mut outs) {
            // SAFETY: 16 values are read and 16 written, inside the chunks.
            unsafe {
                let rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(chunk.as_ptr()));
                let bits = std::mem::transmute::<__m256bh, __m256i>(rounded);
                _mm256_storeu_si256(out.as_mut_ptr().cast(), bits);
            }
        }
        super::round_row_portable(chunks.remainder(), outs.into_remainder());
    }
}

vectorised! {
    /// `out[i] = to_bf16(values[i])`, in portable code.
    fn round_row_portable(values: &[f32], out: &mut [MaybeUninit<u16>]) {
        for (out, &v) in out.iter_mut().zip(values) {
            out.write(to_bf16(v));
        }
    }
}

/// `out[n] = sums[n] + bias[n]`, returning `out` written.
fn add_bias<'a>(sums: &[f32], bias: &[f32], out: &'a mut [MaybeUninit<f32>]) -> &'a mut [f32] {
    assert!(
        sums.len() == out.len() && bias.len() == out.len(),
        "bf16: a row of sums, biases and outputs of different lengths"
    );
    add_bias_lanes(sums, bias, out);
    // SAFETY: the loop has written each of `out`'s values (the lengths are equal).
    unsafe { out.assume_init_mut() }
}

vectorised! {
    fn add_bias_lanes(sums: &[f32], bias: &[f32], out: &mut [MaybeUninit<f32>]) {
        for ((out, &s), &b) in out.iter_mut().zip(sums).zip(bias) {
            out.write(s + b);
        }
    }
}

/// Rows of activations in bf16, each padded with zeros to whole blocks.
#[derive(Clone, Debug)]
pub struct Bf16Rows {
    /// `rows × padded_len` values, row-major.
    pub values: Vec<u16>,
    /// The number of rows.
    pub rows: usize,
    /// The values per row before padding.
    pub len: usize,
    /// The stored length of a row: `len` rounded up to a whole block.
    pub padded_len: usize,
}

impl Bf16Rows {
    /// Rounds the `rows` rows of `values` (row-major, `values.len() / rows` each).
    pub fn new(values: &[f32], rows: usize) -> Self {
        let len = values.len().checked_div(rows).unwrap_or(0);
        assert_eq!(len * rows, values.len(), "bf16: ragged rows");
        let padded_len = len.div_ceil(BLOCK) * BLOCK;
        let fill = |out: &mut [MaybeUninit<u16>]| {
            if len > 0 {
                out.par_chunks_mut(padded_len)
                    .zip(values.par_chunks(len))
                    .for_each(|(out, row)| {
                        let (values, padding) = out.split_at_mut(len);
                        round_into(row, values);
                        padding.fill(MaybeUninit::new(0));
                    });
            }
        };
        // SAFETY: the `rows` chunks of `padded_len` values pair up with the rows, and
        // each is written whole: the row's values rounded, the padding with zeros.
        // Without values (`len` 0), there is no padding either.
        let rounded = unsafe { filled_by(rows * padded_len, fill) };
        Self {
            values: rounded,
            rows,
            len,
            padded_len,
        }
    }

    /// Rows already in bf16 (each `len` values, or more: the rest is ignored), copied
    /// on this thread: for the small operands of one attention head.
    pub fn from_rows<'a>(rows: impl ExactSizeIterator<Item = &'a [u16]>, len: usize) -> Self {
        let (count, padded_len) = (rows.len(), len.div_ceil(BLOCK) * BLOCK);
        let mut values = vec![0u16; count * padded_len];
        for (out, row) in values.chunks_exact_mut(padded_len.max(1)).zip(rows) {
            out[..len].copy_from_slice(&row[..len]);
        }
        Self {
            values,
            rows: count,
            len,
            padded_len,
        }
    }

    /// `rows` rows already in bf16 and in place, `padded_len` values apart, of which
    /// the first `len` are the row's: what follows them up to a whole block must be
    /// zero (a product tile's columns past its last real one are).
    pub fn from_padded(values: Vec<u16>, rows: usize, len: usize, padded_len: usize) -> Self {
        assert!(
            padded_len >= len.div_ceil(BLOCK) * BLOCK && values.len() >= rows * padded_len,
            "bf16 rows: padding"
        );
        Self {
            values,
            rows,
            len,
            padded_len,
        }
    }

    /// The value at (`row`, `col`), as the f32 it stands for.
    pub fn value(&self, row: usize, col: usize) -> f32 {
        from_bf16(self.values[row * self.padded_len + col])
    }
}

/// A `[d_in, d_out]` weight matrix in bf16, packed in panels for the product.
#[derive(Clone, Debug)]
pub struct PackedBf16 {
    /// `panels × blocks × PANEL × BLOCK` values.
    pub values: Vec<u16>,
    /// The inputs (rows of the matrix).
    pub d_in: usize,
    /// The outputs (columns of the matrix).
    pub d_out: usize,
    /// `d_in / BLOCK`, rounded up.
    pub blocks: usize,
    /// `d_out / PANEL`, rounded up.
    pub panels: usize,
}

impl PackedBf16 {
    /// Rounds `weight` (row-major `[d_in, d_out]`) to bf16 and packs it.
    pub fn new(weight: &[f32], d_in: usize, d_out: usize) -> Self {
        let rounded: Vec<u16> = weight.iter().map(|&w| to_bf16(w)).collect();
        Self {
            values: pack_panels(&rounded, d_in, d_out, BLOCK),
            d_in,
            d_out,
            blocks: d_in.div_ceil(BLOCK),
            panels: d_out.div_ceil(PANEL),
        }
    }

    /// The `[d_in, d_out]` matrix whose rows, already in bf16, are `rows` (`d_out`
    /// values each, or more: the rest is ignored), packed on this thread: for
    /// attention's values, a token's being one row.
    pub fn from_rows<'a>(rows: impl ExactSizeIterator<Item = &'a [u16]>, d_out: usize) -> Self {
        let mut packed = Self::zeros(rows.len(), d_out);
        let panel_len = packed.blocks * PANEL * BLOCK;
        for (k, row) in rows.enumerate() {
            // Input k's values lie one per lane, at the same offset in every panel.
            let offset = (k / BLOCK) * PANEL * BLOCK + k % BLOCK;
            for (panel, values) in row[..d_out].chunks(PANEL).enumerate() {
                let at = &mut packed.values[panel * panel_len + offset..];
                for (lane, &v) in values.iter().enumerate() {
                    at[lane * BLOCK] = v;
                }
            }
        }
        packed
    }

    /// The `[d_in, d_out]` matrix whose columns, already in bf16, are `columns` (`d_in`
    /// values each, or more: the rest is ignored), packed on this thread: for
    /// attention's keys, a token's being one column of `Kᵀ`.
    pub fn from_columns<'a>(
        columns: impl ExactSizeIterator<Item = &'a [u16]>,
        d_in: usize,
    ) -> Self {
        let mut packed = Self::zeros(d_in, columns.len());
        // A whole number of blocks, the last one padded with a zero.
        let mut rounded = vec![0u16; packed.blocks * BLOCK];
        for (n, column) in columns.enumerate() {
            rounded[..d_in].copy_from_slice(&column[..d_in]);
            // Column n's inputs lie in one lane of its panel, a block at a time.
            let start = (n / PANEL) * packed.blocks * PANEL * BLOCK + (n % PANEL) * BLOCK;
            for (block, pair) in rounded.chunks_exact(BLOCK).enumerate() {
                let at = start + block * PANEL * BLOCK;
                packed.values[at..at + BLOCK].copy_from_slice(pair);
            }
        }
        packed
    }

    /// A `[d_in, d_out]` matrix of zeros, packed.
    fn zeros(d_in: usize, d_out: usize) -> Self {
        let (blocks, panels) = (d_in.div_ceil(BLOCK), d_out.div_ceil(PANEL));
        Self {
            values: vec![0u16; panels * blocks * PANEL * BLOCK],
            d_in,
            d_out,
            blocks,
            panels,
        }
    }

    /// The weight of input `k`, column `n`, as the f32 it stands for.
    pub fn value(&self, k: usize, n: usize) -> f32 {
        from_bf16(self.values[panel_index(self.blocks, BLOCK, k, n)])
    }

    /// The values of one panel: `blocks × PANEL × BLOCK`.
    pub fn panel(&self, panel: usize) -> &[u16] {
        let len = self.blocks * PANEL * BLOCK;
        &self.values[panel * len..(panel + 1) * len]
    }
}

/// `x · W + b` with `W` in bf16: the weights rounded and packed once, each batch's
/// activations rounded, the exact products summed in f32. As
/// [`Int8Linear`](super::int8::Int8Linear), the layer may join `parts` linear layers
/// of the same input side by side, each part's output a contiguous block.
pub type Bf16Linear = PackedLinear<Bf16Kernel>;

impl PanelProduct for Bf16Kernel {
    type Weights = PackedBf16;
    type Rows = Bf16Rows;
    type Sum = f32;
    const NAME: &'static str = "bf16";

    fn detect() -> Self {
        Bf16Kernel::detect()
    }

    fn pack(weight: &[f32], d_in: usize, d_out: usize) -> PackedBf16 {
        PackedBf16::new(weight, d_in, d_out)
    }

    fn shape(weights: &PackedBf16) -> (usize, usize) {
        (weights.d_in, weights.d_out)
    }

    fn prepare(x: &[f32], rows: usize) -> Bf16Rows {
        Bf16Rows::new(x, rows)
    }

    fn products(
        self,
        activations: &Bf16Rows,
        weights: &PackedBf16,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [f32],
    ) {
        Bf16Kernel::products(self, activations, weights, rows, panels, tile);
    }

    fn finish<'a>(
        _: &Bf16Rows,
        _: &PackedBf16,
        _: usize,
        _: Range<usize>,
        sums: &[f32],
        bias: &[f32],
        out: &'a mut [MaybeUninit<f32>],
    ) -> &'a mut [f32] {
        add_bias(sums, bias, out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::panels::test_values as values;
    use super::*;

    #[test]
    fn rounding_keeps_the_top_half_to_the_nearest_ties_to_even() {
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: to the even one, 1.
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even one.
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        // Just above a half rounds up.
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        assert_eq!(to_bf16(-2.0), 0xc000);
        assert_eq!(to_bf16(f32::MAX), 0x7f80, "overflow rounds to +inf");
        assert_eq!(to_bf16(f32::NEG_INFINITY), 0xff80);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(
            to_bf16(-1.0e-40),
            0x8000,
            "a subnormal becomes a signed zero"
        );
        // Every rounding is within half a unit of bf16's last place: a relative 2⁻⁸.
        for v in values(10_000, 1) {
            let error = (from_bf16(to_bf16(v)) - v).abs();
            assert!(error <= v.abs() * 2f32.powi(-8), "{v}");
        }
    }

    #[test]
    fn every_rounding_path_gives_to_bf16_bit_for_bit() {
        // Ties, subnormals, NaNs (quiet and signalling), infinities, the largest
        // finite values, and a million bit patterns from a linear congruence.
        let mut bits: Vec<u32> = vec![
            0,
            0x8000_0000,
            1,
            0x8000_0001,
            0x007f_ffff,
            0x807f_ffff,
            0x0080_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7f80_0001,
            0x7fc0_0000,
            0xffff_ffff,
            0x7f7f_ffff,
            0x7f7f_8000,
            0x3f80_8000,
            0x3f81_8000,
            0x3f80_7fff,
            0xbf80_8000,
        ];
        let mut state = 7u64;
        bits.extend((0..1 << 20).map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 32) as u32
        }));
        let values: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let expected: Vec<u16> = values.iter().map(|&v| to_bf16(v)).collect();
        // Every length from 0 to 40 reaches the vector path's tails.
        for len in (0..=40).chain([values.len()]) {
            let mut out = vec![0u16; len];
            round_row(&values[..len], &mut out);
            assert_eq!(
                out,
                expected[..len],
                "{len} values, {:?}",
                Bf16Kernel::detect()
            );
            assert_eq!(
                round(&values[..len]),
                expected[..len],
                "{len} values, in parallel"
            );
            // SAFETY: the portable loop writes every value of a row as long as its input.
            let portable = unsafe { filled_by(len, |out| round_row_portable(&values[..len], out)) };
            assert_eq!(portable, expected[..len]);
        }
    }

    #[test]
    fn rows_are_rounded_and_padded_with_zeros() {
        let x = values(3 * 5, 2);
        let rows = Bf16Rows::new(&x, 3);
        assert_eq!((rows.len, rows.padded_len), (5, 6));
        for r in 0..3 {
            for c in 0..5 {
                assert_eq!(rows.value(r, c), from_bf16(to_bf16(x[r * 5 + c])));
            }
            assert_eq!(rows.values[r * 6 + 5], 0);
        }
    }

    /// The f64 product of the rounded operands, plus the bias, and the bound on what
    /// summing it in f32 may lose: `k · 2⁻²⁴ · Σ |x̂ ŵ|` (each of the `k` additions
    /// rounds once, by at most half an ulp of a partial sum no larger than that).
    fn reference(x: &[f32], w: &[f32], b: &[f32], m: usize, k: usize) -> Vec<(f64, f64)> {
        let n = b.len();
        let round = |v: f32| from_bf16(to_bf16(v)) as f64;
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let (mut sum, mut magnitude) = (b[j] as f64, b[j].abs() as f64);
                for t in 0..k {
                    let p = round(x[i * k + t]) * round(w[t * n + j]);
                    sum += p;
                    magnitude += p.abs();
                }
                out.push((sum, (k + 1) as f64 * 2f64.powi(-24) * magnitude));
            }
        }
        out
    }

    #[test]
    fn every_kernel_sums_the_exact_products_of_the_rounded_operands_to_f32() {
        let mut kernels = vec![Bf16Kernel::Portable];
        if Bf16Kernel::detect() == Bf16Kernel::Avx512Bf16 {
            kernels.push(Bf16Kernel::Avx512Bf16);
        } else {
            eprintln!("no AVX-512 BF16 on this CPU: the portable kernel alone is checked");
        }
        let mut shapes: Vec<(usize, usize, usize)> = (1..=70)
            .flat_map(|size| [(size, 5, 3), (3, size, 5), (5, 3, size)])
            .collect();
        shapes.extend([(13, 384, 70), (50, 1536, 17)]);
        for kernel in kernels {
            for &(m, k, n) in &shapes {
                let (x, w, b) = (values(m * k, 3), values(k * n, 4), values(n, 5));
                let layer = Bf16Linear::joined(&w, &b, k, n, 1, kernel);
                let y = layer.forward(&x, m);
                for (i, (&got, &(exact, bound))) in
                    y.iter().zip(&reference(&x, &w, &b, m, k)).enumerate()
                {
                    assert!(
                        (got as f64 - exact).abs() <= bound,
                        "{kernel:?} {m}×{k}×{n} at {i}: {got} against {exact} ± {bound}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_kernels_agree_bit_for_bit() {
        // Both add each lane's pair in the same order (the odd input, then the even),
        // every product exact: the sums round identically.
        if Bf16Kernel::detect() != Bf16Kernel::Avx512Bf16 {
            eprintln!("no AVX-512 BF16 on this CPU: nothing to compare");
            return;
        }
        let (m, k, n) = (61, 45, 70);
        let (x, w, b) = (values(m * k, 6), values(k * n, 7), values(n, 8));
        let portable = Bf16Linear::joined(&w, &b, k, n, 1, Bf16Kernel::Portable);
        let best = Bf16Linear::new(&w, &b, k, n);
        assert_eq!(portable.forward(&x, m), best.forward(&x, m));
    }

    #[test]
    fn packing_by_rows_or_by_columns_keeps_every_rounded_weight() {
        for (k, n) in [(9, 33), (1, 1), (32, 17), (40, 32)] {
            let w = values(k * n, 9);
            let transposed: Vec<f32> = (0..n)
                .flat_map(|j| (0..k).map(|t| w[t * n + j]).collect::<Vec<_>>())
                .collect();
            let (w16, transposed) = (round(&w), round(&transposed));
            for packed in [
                PackedBf16::new(&w, k, n),
                PackedBf16::from_rows(w16.chunks(n), n),
                PackedBf16::from_columns(transposed.chunks(k), k),
            ] {
                assert_eq!((packed.d_in, packed.d_out), (k, n));
                for t in 0..k {
                    for j in 0..n {
                        assert_eq!(
                            packed.value(t, j),
                            from_bf16(to_bf16(w[t * n + j])),
                            "{k}×{n} ({t}, {j})"
                        );
                    }
                }
                let padding = packed.values.iter().filter(|&&v| v != 0).count();
                let real = w.iter().filter(|&&v| to_bf16(v) != 0).count();
                assert_eq!(padding, real, "{k}×{n}: the padding holds zeros");
            }
        }
    }
}
