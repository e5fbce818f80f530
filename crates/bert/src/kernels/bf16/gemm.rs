//! The product of bf16 activations and packed bf16 weights, summed in f32.
//!
//! Two implementations: AVX-512 BF16 (`vdpbf16ps`: 32 bf16 products summed in pairs
//! into 16 f32 lanes per instruction), chosen at run time where the CPU has it, and a
//! portable loop, the path of every other CPU. Both add a lane's pair in the order
//! Intel documents for `vdpbf16ps` (the odd input, then the even), each product exact
//! in f32.

use std::ops::Range;

use super::{BLOCK, Bf16Rows, PANEL, PackedBf16, from_bf16};

/// Which implementation computes the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX-512 BF16 dot products.
    Avx512Bf16,
    /// f32 arithmetic on the rounded operands, on any CPU.
    Portable,
}

impl Bf16Kernel {
    /// The fastest implementation this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
        {
            return Self::Avx512Bf16;
        }
        Self::Portable
    }

    /// Whether this CPU multiplies bf16 natively (AVX-512 BF16).
    pub fn native() -> bool {
        Self::detect() == Self::Avx512Bf16
    }

    /// Writes `Σ_k a[m][k] · w[k][n]` for the rows `rows` of `a` and the columns of the
    /// panels `panels` of `w` into `tile`, row-major with `panels.len() × PANEL`
    /// columns (those of a last partial panel included, as 0).
    pub fn products(
        self,
        a: &Bf16Rows,
        w: &PackedBf16,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [f32],
    ) {
        assert_eq!(a.len, w.d_in, "bf16 product: inner dimensions differ");
        assert!(rows.end <= a.rows && panels.end <= w.panels);
        assert!(tile.len() >= rows.len() * panels.len() * PANEL);
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Bf16 => {
                assert!(
                    Self::detect() == Self::Avx512Bf16,
                    "bf16 product: no AVX-512 BF16 here"
                );
                // SAFETY: the CPU has the features (checked above); the bounds of every
                // pointer the kernel forms are checked by the asserts above.
                unsafe { avx512::products(a, w, rows, panels, tile) }
            }
            _ => portable(a, w, rows, panels, tile),
        }
    }
}

/// The products one multiply-add at a time: the path of CPUs without AVX-512 BF16.
fn portable(
    a: &Bf16Rows,
    w: &PackedBf16,
    rows: Range<usize>,
    panels: Range<usize>,
    tile: &mut [f32],
) {
    let width = panels.len() * PANEL;
    for (r, row) in rows.enumerate() {
        let x = &a.values[row * a.padded_len..(row + 1) * a.padded_len];
        for (p, panel) in panels.clone().enumerate() {
            let values = w.panel(panel);
            for lane in 0..PANEL {
                let mut sum = 0.0f32;
                for block in 0..w.blocks {
                    let x = &x[block * BLOCK..][..BLOCK];
                    let v = &values[(block * PANEL + lane) * BLOCK..][..BLOCK];
                    sum += from_bf16(x[1]) * from_bf16(v[1]);
                    sum += from_bf16(x[0]) * from_bf16(v[0]);
                }
                tile[r * width + p * PANEL + lane] = sum;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::super::super::panels::{for_each_register_tile, run_register_tile};
    use super::{BLOCK, Bf16Rows, PANEL, PackedBf16};

    /// The tiles of `rows × panels`, each by the register kernel of its size.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and BF16; the ranges must lie inside `a`, `w`, `tile`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn products(
        a: &Bf16Rows,
        w: &PackedBf16,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [f32],
    ) {
        let width = panels.len() * PANEL;
        let panel_len = w.blocks * PANEL * BLOCK;
        let (first_row, first_panel) = (rows.start, panels.start);
        for_each_register_tile(rows, panels, |row, tile_rows, panel, tile_panels| {
            let at = Tile {
                a: unsafe { a.values.as_ptr().add(row * a.padded_len) },
                a_stride: a.padded_len,
                w: unsafe { w.values.as_ptr().add(panel * panel_len) },
                w_stride: panel_len,
                blocks: w.blocks,
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

    /// 512 bits of 32 bf16 values, as the type the bf16 instructions take.
    #[inline(always)]
    fn as_bf16(bits: __m512i) -> __m512bh {
        // SAFETY: both are 512 bits of plain data; every bit pattern is valid in both.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(bits) }
    }

    /// Where one register tile reads and writes.
    struct Tile {
        a: *const u16,
        a_stride: usize,
        w: *const u16,
        w_stride: usize,
        blocks: usize,
        out: *mut f32,
        out_stride: usize,
    }

    impl Tile {
        /// `R` rows × `P` panels of sums: per block of 2 inputs, `P` weight loads, `R`
        /// broadcasts of the rows' pair and `R × P` dot products.
        ///
        /// # Safety
        /// As [`products`]: BF16 present, `R` rows and `P` panels inside the buffers.
        #[target_feature(enable = "avx512f,avx512bf16")]
        #[inline]
        unsafe fn run<const R: usize, const P: usize>(&self) {
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            for block in 0..self.blocks {
                let mut weights = [as_bf16(_mm512_setzero_si512()); P];
                for (p, w) in weights.iter_mut().enumerate() {
                    let at = p * self.w_stride + block * PANEL * BLOCK;
                    *w = as_bf16(unsafe { _mm512_loadu_si512(self.w.add(at).cast()) });
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let at = r * self.a_stride + block * BLOCK;
                    let pair = unsafe { self.a.add(at).cast::<i32>().read_unaligned() };
                    let x = as_bf16(_mm512_set1_epi32(pair));
                    for (acc, &w) in acc.iter_mut().zip(&weights) {
                        *acc = _mm512_dpbf16_ps(*acc, x, w);
                    }
                }
            }
            for p in 0..P {
                for (r, acc) in acc.iter().enumerate() {
                    let out = unsafe { self.out.add(r * self.out_stride + p * PANEL) };
                    unsafe { _mm512_storeu_ps(out, acc[p]) };
                }
            }
        }
    }
}
