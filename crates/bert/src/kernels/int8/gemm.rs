//! The integer product of quantised activations and packed weights, exact in `i32`.
//!
//! Two implementations compute the same integers: AVX-512 VNNI (`vpdpbusd`: 64
//! byte products summed into 16 lanes per instruction), chosen at run time where the
//! CPU has it, and a portable loop, the reference it is tested against and the path of
//! every other CPU. Overflow cannot happen: a lane adds at most `d_in` products of
//! `255 · 127`, under `2³¹` while `d_in < 66 000`.

use std::ops::Range;

use super::packed::{BLOCK, PANEL, PackedWeights};
use super::quantize::QuantizedRows;

/// Which implementation computes the integer products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerKernel {
    /// AVX-512 VNNI dot products.
    Vnni,
    /// Plain integer arithmetic, on any CPU.
    Portable,
}

impl IntegerKernel {
    /// The fastest implementation this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
        {
            return Self::Vnni;
        }
        Self::Portable
    }

    /// Writes `Σ_k a[m][k] · w[k][n]`, the signed codes' product, for the rows `rows`
    /// of `a` and the columns of the panels `panels` of `w` into `tile`, row-major with
    /// `panels.len() × PANEL` columns (those of a last partial panel included, as 0).
    pub fn products(
        self,
        a: &QuantizedRows,
        w: &PackedWeights,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [i32],
    ) {
        assert_eq!(a.len, w.d_in, "int8 product: inner dimensions differ");
        assert!(rows.end <= a.rows() && panels.end <= w.panels);
        assert!(tile.len() >= rows.len() * panels.len() * PANEL);
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Vnni => {
                assert!(Self::detect() == Self::Vnni, "int8 product: no VNNI here");
                // SAFETY: the CPU has the features (checked above); the bounds of every
                // pointer the kernel forms are checked by the asserts above.
                unsafe { vnni::products(a, w, rows, panels, tile) }
            }
            _ => portable(a, w, rows, panels, tile),
        }
    }
}

/// The products one multiply-add at a time: the path of CPUs without VNNI, and the
/// reference the VNNI kernel is tested against.
fn portable(
    a: &QuantizedRows,
    w: &PackedWeights,
    rows: Range<usize>,
    panels: Range<usize>,
    tile: &mut [i32],
) {
    let width = panels.len() * PANEL;
    for (r, row) in rows.enumerate() {
        let bytes = &a.bytes[row * a.padded_len..(row + 1) * a.padded_len];
        for (p, panel) in panels.clone().enumerate() {
            let codes = w.panel(panel);
            for lane in 0..PANEL {
                let mut sum = 0i32;
                for block in 0..w.blocks {
                    let x = &bytes[block * BLOCK..(block + 1) * BLOCK];
                    let c = &codes[(block * PANEL + lane) * BLOCK..][..BLOCK];
                    sum += (0..BLOCK).map(|t| x[t] as i32 * c[t] as i32).sum::<i32>();
                }
                let n = panel * PANEL + lane;
                tile[r * width + p * PANEL + lane] = sum - w.offset_sums[n];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::super::super::panels::{for_each_register_tile, run_register_tile};
    use super::{BLOCK, PANEL, PackedWeights, QuantizedRows};

    /// The tiles of `rows × panels`, each by the register kernel of its size.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and VNNI; the ranges must lie inside `a`, `w`, `tile`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn products(
        a: &QuantizedRows,
        w: &PackedWeights,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [i32],
    ) {
        let width = panels.len() * PANEL;
        let panel_len = w.blocks * PANEL * BLOCK;
        let (first_row, first_panel) = (rows.start, panels.start);
        for_each_register_tile(rows, panels, |row, tile_rows, panel, tile_panels| {
            let at = Tile {
                a: unsafe { a.bytes.as_ptr().add(row * a.padded_len) },
                a_stride: a.padded_len,
                w: unsafe { w.codes.as_ptr().add(panel * panel_len) },
                w_stride: panel_len,
                blocks: w.blocks,
                offsets: unsafe { w.offset_sums.as_ptr().add(panel * PANEL) },
                out: unsafe {
                    tile.as_mut_ptr()
                        .add((row - first_row) * width + (panel - first_panel) * PANEL)
                },
                out_stride: width,
            };
            // SAFETY: as this function's; the tile lies inside the ranges.
            unsafe { run_register_tile!(at, tile_rows, tile_panels) }
        });
    }

    /// Where one register tile reads and writes.
    struct Tile {
        a: *const u8,
        a_stride: usize,
        w: *const i8,
        w_stride: usize,
        blocks: usize,
        offsets: *const i32,
        out: *mut i32,
        out_stride: usize,
    }

    impl Tile {
        /// `R` rows × `P` panels of products: per block of 4 inputs, `P` weight loads,
        /// `R` broadcasts of the rows' 4 bytes and `R × P` dot products.
        ///
        /// # Safety
        /// As [`products`]: VNNI present, `R` rows and `P` panels inside the buffers.
        #[target_feature(enable = "avx512f,avx512vnni")]
        #[inline]
        unsafe fn run<const R: usize, const P: usize>(&self) {
            let mut acc = [[_mm512_setzero_si512(); P]; R];
            for block in 0..self.blocks {
                let mut weights = [_mm512_setzero_si512(); P];
                for (p, w) in weights.iter_mut().enumerate() {
                    let at = p * self.w_stride + block * PANEL * BLOCK;
                    *w = unsafe { _mm512_loadu_si512(self.w.add(at).cast()) };
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let at = r * self.a_stride + block * BLOCK;
                    let x = unsafe { self.a.add(at).cast::<i32>().read_unaligned() };
                    let x = _mm512_set1_epi32(x);
                    for (acc, &w) in acc.iter_mut().zip(&weights) {
                        *acc = _mm512_dpbusd_epi32(*acc, x, w);
                    }
                }
            }
            for p in 0..P {
                let offsets = unsafe { _mm512_loadu_si512(self.offsets.add(p * PANEL).cast()) };
                for (r, acc) in acc.iter().enumerate() {
                    let out = unsafe { self.out.add(r * self.out_stride + p * PANEL) };
                    let exact = _mm512_sub_epi32(acc[p], offsets);
                    unsafe { _mm512_storeu_si512(out.cast(), exact) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::quantize::{QuantizedColumns, QuantizedRows};
    use super::*;

    /// Codes of every value in `[-127, 127]` from a small linear congruence.
    fn codes(len: usize, seed: usize) -> Vec<i8> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 255) as i32 - 127)
            .map(|c| c as i8)
            .collect()
    }

    /// Rows of activations whose codes are exactly `codes` (scale 1: each row holds 127).
    fn rows_with_codes(codes: &[i8], rows: usize) -> QuantizedRows {
        let len = codes.len() / rows;
        let mut values: Vec<f32> = codes.iter().map(|&c| c as f32).collect();
        for row in values.chunks_mut(len) {
            row[0] = 127.0;
        }
        QuantizedRows::new(&values, rows)
    }

    fn reference(a: &QuantizedRows, w: &QuantizedColumns) -> Vec<i64> {
        let (m, k, n) = (a.rows(), w.d_in, w.d_out);
        let mut out = vec![0i64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|t| a.code(i, t) as i64 * w.codes[t * n + j] as i64)
                    .sum();
            }
        }
        out
    }

    /// Weights of the given codes (`k × n`, scale 1), packed, and the exact product of
    /// `a` with them.
    fn weights_and_product(
        a: &QuantizedRows,
        codes: Vec<i8>,
        k: usize,
        n: usize,
    ) -> (PackedWeights, Vec<i64>) {
        let columns = QuantizedColumns {
            codes,
            scales: vec![1.0; n],
            d_in: k,
            d_out: n,
        };
        (PackedWeights::new(&columns), reference(a, &columns))
    }

    /// Every product of the tile over `rows × panels` against the exact one.
    fn assert_tile(
        kernel: IntegerKernel,
        a: &QuantizedRows,
        w: &PackedWeights,
        expected: &[i64],
        rows: Range<usize>,
        panels: Range<usize>,
    ) {
        let width = panels.len() * PANEL;
        let mut tile = vec![i32::MIN; rows.len() * width];
        kernel.products(a, w, rows.clone(), panels.clone(), &mut tile);
        let n = w.d_out;
        for (r, i) in rows.enumerate() {
            for j in panels.start * PANEL..(panels.end * PANEL).min(n) {
                let got = tile[r * width + j - panels.start * PANEL];
                assert_eq!(
                    got as i64,
                    expected[i * n + j],
                    "{kernel:?} {}×{}×{n} at ({i}, {j})",
                    a.rows(),
                    w.d_in
                );
            }
        }
    }

    fn check(kernel: IntegerKernel, m: usize, k: usize, n: usize) {
        let a = rows_with_codes(&codes(m * k, 1), m);
        let (w, expected) = weights_and_product(&a, codes(k * n, 2), k, n);
        assert_tile(kernel, &a, &w, &expected, 0..m, 0..w.panels);
    }

    fn kernels() -> Vec<IntegerKernel> {
        let mut kernels = vec![IntegerKernel::Portable];
        if IntegerKernel::detect() == IntegerKernel::Vnni {
            kernels.push(IntegerKernel::Vnni);
        } else {
            eprintln!("no AVX-512 VNNI on this CPU: the portable kernel alone is checked");
        }
        kernels
    }

    #[test]
    fn every_size_from_1_to_70_in_each_dimension_is_the_exact_integer_product() {
        for kernel in kernels() {
            for size in 1..=70 {
                check(kernel, size, 5, 3);
                check(kernel, 3, size, 5);
                check(kernel, 5, 3, size);
            }
            check(kernel, 13, 384, 70);
        }
    }

    #[test]
    fn extreme_codes_at_the_largest_inner_dimension_of_bert_do_not_overflow() {
        let (m, k, n) = (7, 3072, 19);
        let a = rows_with_codes(&vec![127; m * k], m);
        let mut w_codes = vec![127i8; k * n];
        w_codes[5] = -127;
        let (w, expected) = weights_and_product(&a, w_codes, k, n);
        for kernel in kernels() {
            assert_tile(kernel, &a, &w, &expected, 0..m, 0..w.panels);
        }
    }

    #[test]
    fn a_sub_range_of_rows_and_panels_is_that_part_of_the_product() {
        let (m, k, n) = (20, 37, 70);
        let a = rows_with_codes(&codes(m * k, 3), m);
        let (w, expected) = weights_and_product(&a, codes(k * n, 4), k, n);
        for kernel in kernels() {
            assert_tile(kernel, &a, &w, &expected, 7..19, 1..4);
        }
    }
}
