//! What the reduced-precision linear layers share: weights packed in panels of 16
//! columns, the schedule that cuts a product into tasks of rows and passes of panels,
//! and [`PackedLinear`], the layer itself, generic over what differs between the
//! precisions ([`PanelProduct`]).
//!
//! Both products (int8's `vpdpbusd`, bf16's `vdpbf16ps`) multiply, in each of a 512-bit register's 16 lanes of 32 bits, a short
//! block of adjacent inputs of one row by the same inputs of one column, and add the sum
//! to the lane. With a row's block broadcast to every lane, lane `j` must hold column
//! `j`'s block: so the columns are cut into panels of 16 and a panel stores, block after
//! block, its 16 columns' values, `[d_in / block][16][block]`: one register load per
//! block. The ragged edges are padded with zeros, which add nothing.

use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::buffer::filled_by;
use super::gelu::gelu_chunk_fused;

/// Columns per panel: the lanes of a 512-bit register of 32-bit accumulators.
pub const PANEL: usize = 16;

/// Rows of output per parallel task: enough to reuse each panel of weights from cache
/// many times, few enough that a batch's rows spread over every core.
const ROWS_PER_TASK: usize = 48;
/// Panels per pass over a task's rows: the register kernels' widest tile, 48 columns,
/// whose weights (384 inputs of them, MiniLM's width) stay in a 48 KiB L1 cache in bf16.
/// Measured on 4096 × 384 × 1536 (Zen 5): 8 × 3 tiles ran 3–5% faster than 6 × 4 in
/// both precisions, 12 × 2 the same as 8 × 3.
const PANELS_PER_PASS: usize = 3;

/// Rows of one register tile of the AVX-512 kernels.
pub const TILE_ROWS: usize = 8;
/// Panels of one register tile: 8 × 3 accumulators and 3 weight registers of the 32.
pub const TILE_PANELS: usize = 3;

/// Calls `tile(row, tile_rows, panel, tile_panels)` for the register tiles, at most
/// [`TILE_ROWS`] × [`TILE_PANELS`], that cover `rows × panels`.
pub fn for_each_register_tile(
    rows: Range<usize>,
    panels: Range<usize>,
    mut tile: impl FnMut(usize, usize, usize, usize),
) {
    for row in rows.clone().step_by(TILE_ROWS) {
        for panel in panels.clone().step_by(TILE_PANELS) {
            tile(
                row,
                TILE_ROWS.min(rows.end - row),
                panel,
                TILE_PANELS.min(panels.end - panel),
            );
        }
    }
}

/// `$tile.run::<R, P>()` for the register tile's shape `($rows, $panels)`: one
/// monomorphised kernel per shape, so that the accumulators stay in registers (the
/// loops over them unroll completely). Expands to an `unsafe` call: the caller states
/// why the kernel's features and bounds hold.
macro_rules! run_register_tile {
    ($tile:expr, $rows:expr, $panels:expr) => {
        run_register_tile!(@rows $tile, $rows, $panels; 1 2 3 4 5 6 7 8)
    };
    (@rows $tile:expr, $rows:expr, $panels:expr; $($r:literal)*) => {
        match ($rows, $panels) {
            $(($r, 1) => $tile.run::<$r, 1>(),
              ($r, 2) => $tile.run::<$r, 2>(),
              ($r, 3) => $tile.run::<$r, 3>(),)*
            _ => unreachable!(
                "register tiles are at most {} × {}",
                $crate::kernels::panels::TILE_ROWS,
                $crate::kernels::panels::TILE_PANELS
            ),
        }
    };
}
pub(crate) use run_register_tile;

/// A `[d_in, d_out]` matrix (row-major `values`) in panels of [`PANEL`] columns ×
/// `block` inputs, zero-padded to whole blocks and panels.
pub fn pack_panels<T: Copy + Default>(
    values: &[T],
    d_in: usize,
    d_out: usize,
    block: usize,
) -> Vec<T> {
    assert_eq!(values.len(), d_in * d_out, "pack: matrix shape");
    let (blocks, panels) = (d_in.div_ceil(block), d_out.div_ceil(PANEL));
    let mut packed = vec![T::default(); panels * blocks * PANEL * block];
    for k in 0..d_in {
        for n in 0..d_out {
            packed[panel_index(blocks, block, k, n)] = values[k * d_out + n];
        }
    }
    packed
}

/// Where input `k` of column `n` lies in a matrix packed by [`pack_panels`] with
/// `blocks` blocks of `block` inputs per panel.
pub fn panel_index(blocks: usize, block: usize, k: usize, n: usize) -> usize {
    let (panel, lane) = (n / PANEL, n % PANEL);
    ((panel * blocks + k / block) * PANEL + lane) * block + k % block
}

/// The output `[parts, rows, d_out / parts]` of a product over panels of columns,
/// computed tile by tile: tasks of rows run in parallel, each in passes of a few
/// panels; `product(rows, panels, tile)` writes a pass's raw products, row-major with
/// `panels.len() × PANEL` columns, `finish(row, columns, products, out)` writes one
/// row's output values for `columns` from their products into `out` and returns it
/// written, and `epilogue` is applied to them there, while they are in cache.
///
/// The output's columns are `parts` layers side by side (`d_out / parts` each), and each
/// part's result is written as its own contiguous block, so that the model reads each
/// as a tensor without a copy.
///
/// # Panics
/// If `finish` returns another slice than the one it was given.
pub fn tiled_product<T: Copy + Default + Send>(
    rows: usize,
    d_out: usize,
    parts: usize,
    epilogue: Epilogue,
    product: impl Fn(Range<usize>, Range<usize>, &mut [T]) + Sync,
    finish: impl for<'a> Fn(usize, Range<usize>, &[T], &'a mut [MaybeUninit<f32>]) -> &'a mut [f32]
    + Sync,
) -> Vec<f32> {
    assert!(
        parts > 0 && d_out.is_multiple_of(parts),
        "reduced linear: equal parts"
    );
    let width = d_out / parts;
    let panels = d_out.div_ceil(PANEL);
    let tasks = rows.div_ceil(ROWS_PER_TASK);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        // Each task's rows, in every part: disjoint slices of the output, handed out
        // before the tasks run so that each writes its own.
        let mut outputs: Vec<Vec<&mut [MaybeUninit<f32>]>> =
            (0..tasks).map(|_| Vec::new()).collect();
        for part in out.chunks_mut((rows * width).max(1)) {
            for (task, rows) in outputs
                .iter_mut()
                .zip(part.chunks_mut(ROWS_PER_TASK * width.max(1)))
            {
                task.push(rows);
            }
        }
        outputs
            .into_par_iter()
            .enumerate()
            .for_each(|(task, mut parts)| {
                let first = task * ROWS_PER_TASK;
                let rows = first..(first + ROWS_PER_TASK).min(rows);
                let mut tile = vec![T::default(); rows.len() * PANELS_PER_PASS * PANEL];
                for start in (0..panels).step_by(PANELS_PER_PASS) {
                    let pass = start..(start + PANELS_PER_PASS).min(panels);
                    let tile_width = pass.len() * PANEL;
                    product(rows.clone(), pass.clone(), &mut tile);
                    // The pass's columns, cut where one part ends and the next begins.
                    let mut column = start * PANEL;
                    let end = (pass.end * PANEL).min(d_out);
                    while column < end {
                        let (part, offset) = (column / width, column % width);
                        let stop = end.min((part + 1) * width);
                        for (r, row) in rows.clone().enumerate() {
                            let products = &tile[r * tile_width + column - start * PANEL..];
                            let out = &mut parts[part][r * width + offset..][..stop - column];
                            let given = (out.as_ptr().cast::<f32>(), out.len());
                            let out = finish(row, column..stop, &products[..stop - column], out);
                            assert!(
                                given == (out.as_ptr(), out.len()),
                                "reduced linear: finish must return the row it wrote"
                            );
                            epilogue.apply(out);
                        }
                        column = stop;
                    }
                }
            });
    };
    // SAFETY: the passes of each task cover every column of every part for each of its
    // rows, the tasks cover every row, and each of those runs of values was written:
    // `finish` returned it (checked above), as initialised `f32`s.
    unsafe { filled_by(rows * d_out, fill) }
}

/// What a reduced-precision layer applies to its outputs as it writes them, while
/// each row of a tile is still in cache: a pass over the whole output saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Epilogue {
    /// The outputs as they are.
    #[default]
    Identity,
    /// BERT's exact GELU, `x · Φ(x)` (the feed-forward expansion's activation).
    ErfGelu,
}

impl Epilogue {
    /// Applies it to freshly written outputs.
    pub fn apply(self, out: &mut [f32]) {
        if self == Self::ErfGelu {
            gelu_chunk_fused(out);
        }
    }
}

/// What one reduced precision brings to a [`PackedLinear`]: its packed weights, the
/// activations of a batch prepared once, the raw products of a tile, and how a row of
/// raw products becomes outputs. Implemented by each precision's kernel choice
/// (`int8::gemm::IntegerKernel`, `bf16::gemm::Bf16Kernel`), above this module.
pub trait PanelProduct: Copy + fmt::Debug + Send + Sync {
    /// The weights, packed once.
    type Weights: Clone + fmt::Debug + Send + Sync;
    /// A batch's activations, prepared once per forward pass.
    type Rows: Sync;
    /// One raw product: an exact integer sum, or an f32 sum.
    type Sum: Copy + Default + Send;
    /// The precision's name, for messages.
    const NAME: &'static str;

    /// The fastest implementation this CPU runs.
    fn detect() -> Self;
    /// `weight` (row-major `[d_in, d_out]`) packed for the product.
    fn pack(weight: &[f32], d_in: usize, d_out: usize) -> Self::Weights;
    /// `(d_in, d_out)` of packed weights.
    fn shape(weights: &Self::Weights) -> (usize, usize);
    /// The `rows` rows of `x` (row-major, `d_in` each), prepared for the product.
    fn prepare(x: &[f32], rows: usize) -> Self::Rows;
    /// The raw products of `rows` × `panels` into `tile` (row-major, `panels.len() ×
    /// PANEL` columns).
    fn products(
        self,
        activations: &Self::Rows,
        weights: &Self::Weights,
        rows: Range<usize>,
        panels: Range<usize>,
        tile: &mut [Self::Sum],
    );
    /// Row `row`'s outputs for `columns`, from their raw products `sums` and `bias`,
    /// written into `out` and returned.
    fn finish<'a>(
        activations: &Self::Rows,
        weights: &Self::Weights,
        row: usize,
        columns: Range<usize>,
        sums: &[Self::Sum],
        bias: &[f32],
        out: &'a mut [MaybeUninit<f32>],
    ) -> &'a mut [f32];
}

/// `x · W + b` with `W` in a reduced precision, packed once.
///
/// The layer may join several linear layers of the same input side by side (`parts` of
/// them, equally wide, such as attention's Q, K and V): their activations are then
/// prepared once, and the output holds each part's result as its own contiguous block.
#[derive(Clone, Debug)]
pub struct PackedLinear<K: PanelProduct> {
    weights: K::Weights,
    bias: Vec<f32>,
    parts: usize,
    kernel: K,
}

impl<K: PanelProduct> PackedLinear<K> {
    /// Packs `weight` (row-major `[d_in, d_out]`, as burn stores a linear layer's) and
    /// keeps `bias` (`d_out` values) in f32; the product runs on the fastest kernel of
    /// this CPU.
    pub fn new(weight: &[f32], bias: &[f32], d_in: usize, d_out: usize) -> Self {
        Self::joined(weight, bias, d_in, d_out, 1, K::detect())
    }

    /// As [`new`](Self::new), the `d_out` columns being `parts` layers of
    /// `d_out / parts` columns each, on the given kernel.
    pub fn joined(
        weight: &[f32],
        bias: &[f32],
        d_in: usize,
        d_out: usize,
        parts: usize,
        kernel: K,
    ) -> Self {
        assert_eq!(bias.len(), d_out, "{} linear: one bias per output", K::NAME);
        assert!(
            parts > 0 && d_out.is_multiple_of(parts),
            "{} linear: equal parts",
            K::NAME
        );
        Self {
            weights: K::pack(weight, d_in, d_out),
            bias: bias.to_vec(),
            parts,
            kernel,
        }
    }

    /// The inputs per row.
    pub fn d_in(&self) -> usize {
        K::shape(&self.weights).0
    }

    /// The outputs per row, all parts together.
    pub fn d_out(&self) -> usize {
        K::shape(&self.weights).1
    }

    /// The layers joined side by side.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The kernel the products run on.
    pub fn kernel(&self) -> K {
        self.kernel
    }

    /// `x · W + b` for the `rows` rows of `x` (row-major, `d_in` each), laid out
    /// `[parts, rows, d_out / parts]`: with one part, the row-major `[rows, d_out]`.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward_then(x, rows, Epilogue::Identity)
    }

    /// [`forward`](Self::forward), `epilogue` applied to each output as it is written.
    pub fn forward_then(&self, x: &[f32], rows: usize, epilogue: Epilogue) -> Vec<f32> {
        assert_eq!(
            x.len(),
            rows * self.d_in(),
            "{} linear: input shape",
            K::NAME
        );
        let (d_out, w) = (self.d_out(), &self.weights);
        if d_out == 0 || rows == 0 {
            return Vec::new();
        }
        let activations = K::prepare(x, rows);
        tiled_product(
            rows,
            d_out,
            self.parts,
            epilogue,
            |rows, panels, tile| self.kernel.products(&activations, w, rows, panels, tile),
            |row, columns, sums, out| {
                let bias = &self.bias[columns.clone()];
                K::finish(&activations, w, row, columns, sums, bias, out)
            },
        )
    }
}

/// Values in [-2, 2), of a few magnitudes and both signs, from a linear congruence:
/// the operands of the reduced-precision kernels' tests.
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_value_and_pads_with_zeros() {
        for block in [2, 4] {
            for (d_in, d_out) in [(1, 1), (3, 17), (4, 16), (9, 33), (70, 5)] {
                let values: Vec<i32> = (0..d_in * d_out).map(|i| i as i32 + 1).collect();
                let packed = pack_panels(&values, d_in, d_out, block);
                let blocks = d_in.div_ceil(block);
                for k in 0..d_in {
                    for n in 0..d_out {
                        let at = panel_index(blocks, block, k, n);
                        assert_eq!(packed[at], values[k * d_out + n], "({k}, {n})");
                    }
                }
                let padded = d_out.div_ceil(PANEL) * blocks * PANEL * block;
                assert_eq!(packed.len(), padded);
                let sum = |v: &[i32]| v.iter().map(|&x| x as i64).sum::<i64>();
                assert_eq!(sum(&packed), sum(&values), "{d_in}×{d_out}: padding is 0");
            }
        }
    }

    #[test]
    fn a_tiled_product_puts_every_column_of_every_part_in_its_block() {
        // The "product" of (row, column) is a number naming both: the output must hold
        // each where the layout `[parts, rows, width]` says.
        let (rows, parts, width) = (101, 3, 40);
        let d_out = parts * width;
        let out = tiled_product(
            rows,
            d_out,
            parts,
            Epilogue::Identity,
            |rows, panels, tile: &mut [f32]| {
                let tile_width = panels.len() * PANEL;
                for (r, row) in rows.enumerate() {
                    for c in 0..tile_width {
                        let column = panels.start * PANEL + c;
                        tile[r * tile_width + c] = (row * 1000 + column) as f32;
                    }
                }
            },
            |_, _, products, out| out.write_copy_of_slice(products),
        );
        for part in 0..parts {
            for row in 0..rows {
                for c in 0..width {
                    let column = part * width + c;
                    let got = out[(part * rows + row) * width + c];
                    assert_eq!(got, (row * 1000 + column) as f32, "({part}, {row}, {c})");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "finish must return the row it wrote")]
    fn a_finish_that_returns_other_values_than_it_was_given_is_refused() {
        // Values written elsewhere would leave the output's own uninitialised.
        tiled_product(
            3,
            PANEL,
            1,
            Epilogue::Identity,
            |_, _, tile: &mut [f32]| tile.fill(1.0),
            |_, _, products, _| Box::leak(products.to_vec().into_boxed_slice()),
        );
    }
}
