//! Matrix products on the flex backend, straight into the buffer that becomes the
//! result.
//!
//! burn-flex's matmul allocates its output zeroed as bytes and then copies it once
//! more to align it (a memset, a copy and the page faults of a fresh buffer for every
//! product: 7% of the encoder's time), and `linear` adds the bias in a further pass.
//! Here the output is written once by `gemm`: a linear layer's rows start as the bias
//! and the product accumulates onto them, and a plain product overwrites memory that
//! was never initialised. Operands are read through their strides, so the transposes
//! of attention and of the backward passes cost no copy.

use rayon::prelude::*;

/// A stack of equally shaped matrices inside a buffer: where each starts, and how to
/// step along its rows and columns.
#[derive(Clone, Debug)]
pub struct Matrices<'a> {
    pub values: &'a [f32],
    /// The first element of each matrix.
    pub offsets: Vec<usize>,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Matrices<'a> {
    /// A tensor's matrices from its shape and strides (in elements; all
    /// non-negative): the last two axes are each matrix's, the leading ones stack them.
    pub fn from_layout(
        values: &'a [f32],
        shape: &[usize],
        strides: &[usize],
        start: usize,
    ) -> Self {
        let rank = shape.len();
        assert!(
            rank >= 2 && strides.len() == rank,
            "product: a matrix needs two axes"
        );
        let mut offsets = vec![start];
        for axis in 0..rank - 2 {
            offsets = offsets
                .iter()
                .flat_map(|&o| (0..shape[axis]).map(move |i| o + i * strides[axis]))
                .collect();
        }
        let matrices = Self {
            values,
            offsets,
            rows: shape[rank - 2],
            cols: shape[rank - 1],
            row_stride: strides[rank - 2],
            col_stride: strides[rank - 1],
        };
        matrices.check_bounds();
        matrices
    }

    /// Every element `gemm` will read lies inside `values`: what makes the raw
    /// pointers below sound.
    fn check_bounds(&self) {
        if self.rows == 0 || self.cols == 0 {
            return;
        }
        let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
        for &offset in &self.offsets {
            assert!(
                offset + last < self.values.len(),
                "product: a view outside its buffer"
            );
        }
    }
}

/// `lhs · rhs` for each pair of stacked matrices, written into a new row-major buffer
/// `[stack, lhs.rows, rhs.cols]`, which starts as `base` repeated when one is given (a
/// row to add to every output row, such as a bias) and as nothing otherwise.
pub fn product(lhs: &Matrices, rhs: &Matrices, base: Option<&[f32]>) -> Vec<f32> {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "product: inner dimensions differ");
    assert_eq!(
        lhs.offsets.len(),
        rhs.offsets.len(),
        "product: stacks differ"
    );
    if let Some(row) = base {
        assert_eq!(
            row.len(),
            n,
            "product: the base row must match the output's width"
        );
    }
    let stack = lhs.offsets.len();
    let len = stack * m * n;
    let mut out = match base {
        Some(row) => repeated(row, stack * m),
        None if k == 0 => vec![0.0; len],
        None => Vec::with_capacity(len),
    };
    if k == 0 || len == 0 {
        return out;
    }
    let accumulate = base.is_some();
    // An address rather than a pointer, so that the tasks below may share it.
    let dst = out.as_mut_ptr() as usize;
    let one = |b: usize, parallelism: gemm::Parallelism| {
        // SAFETY: the operands' elements are in bounds (`check_bounds`), `dst` holds
        // `len` elements (initialised or reserved) and matrix `b` writes only its own
        // `m × n` block of them.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                (dst as *mut f32).add(b * m * n),
                1,
                n as isize,
                accumulate,
                lhs.values.as_ptr().add(lhs.offsets[b]),
                lhs.col_stride as isize,
                lhs.row_stride as isize,
                rhs.values.as_ptr().add(rhs.offsets[b]),
                rhs.col_stride as isize,
                rhs.row_stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    };
    // Many small matrices (attention's heads) go one per task; a few large ones
    // (linear layers) let gemm split each across the cores.
    if stack >= 2 * rayon::current_num_threads() {
        (0..stack)
            .into_par_iter()
            .for_each(|b| one(b, gemm::Parallelism::None));
    } else {
        (0..stack).for_each(|b| one(b, gemm::Parallelism::Rayon(0)));
    }
    if !accumulate {
        // SAFETY: with `read_dst` false gemm stores every element of each `m × n`
        // block (k > 0 here), so all `len` elements are initialised.
        unsafe { out.set_len(len) };
    }
    out
}

/// `row` repeated `count` times, written on every core.
fn repeated(row: &[f32], count: usize) -> Vec<f32> {
    const ROWS_PER_TASK: usize = 64;
    let len = row.len() * count;
    let mut out = Vec::with_capacity(len);
    // Each chunk starts at a multiple of the row's length, so cycling the row fills it.
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(row.len().max(1) * ROWS_PER_TASK)
        .for_each(|chunk| {
            for (slot, &x) in chunk.iter_mut().zip(row.iter().cycle()) {
                slot.write(x);
            }
        });
    // SAFETY: the chunks cover the `len` reserved elements and each was written.
    unsafe { out.set_len(len) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook triple loop over explicit indices.
    fn naive(a: &[f32], (m, k): (usize, usize), b: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 * 0.37 + seed).sin() * 2.0).round() / 2.0)
            .collect()
    }

    #[test]
    fn contiguous_product_with_and_without_a_base_row() {
        let (m, k, n) = (5, 3, 4);
        let (a, b) = (values(m * k, 0.1), values(k * n, 0.7));
        let lhs = Matrices::from_layout(&a, &[m, k], &[k, 1], 0);
        let rhs = Matrices::from_layout(&b, &[k, n], &[n, 1], 0);
        let expected = naive(&a, (m, k), &b, n);
        assert_eq!(product(&lhs, &rhs, None), expected);
        let bias = [1.0, -2.0, 0.5, 3.0];
        let with_bias: Vec<f32> = expected
            .iter()
            .enumerate()
            .map(|(i, x)| x + bias[i % n])
            .collect();
        assert_eq!(product(&lhs, &rhs, Some(&bias)), with_bias);
    }

    #[test]
    fn transposed_and_stacked_views_need_no_copy() {
        // rhs stored as [n, k] and read transposed; lhs a stack of 3 matrices inside a
        // larger buffer starting at offset 2.
        let (stack, m, k, n) = (3, 4, 6, 5);
        let a = values(2 + stack * m * k, 0.3);
        let bt = values(n * k, 1.1);
        let lhs = Matrices::from_layout(&a, &[stack, m, k], &[m * k, k, 1], 2);
        let rhs_t = Matrices::from_layout(&bt, &[k, n], &[1, k], 0);
        let mut b = vec![0.0; k * n];
        for p in 0..k {
            for j in 0..n {
                b[p * n + j] = bt[j * k + p];
            }
        }
        // Every stacked matrix against the same rhs: the rhs's stack is its offsets.
        let rhs = Matrices {
            offsets: vec![0; stack],
            ..rhs_t
        };
        let got = product(&lhs, &rhs, None);
        for s in 0..stack {
            let start = 2 + s * m * k;
            let expected = naive(&a[start..start + m * k], (m, k), &b, n);
            assert_eq!(&got[s * m * n..(s + 1) * m * n], expected.as_slice());
        }
    }

    #[test]
    fn empty_inner_dimension_gives_the_base() {
        let (a, b) = (Vec::new(), Vec::new());
        let lhs = Matrices::from_layout(&a, &[2, 0], &[0, 1], 0);
        let rhs = Matrices::from_layout(&b, &[0, 3], &[3, 1], 0);
        assert_eq!(product(&lhs, &rhs, None), vec![0.0; 6]);
        assert_eq!(
            product(&lhs, &rhs, Some(&[1.0, 2.0, 3.0])),
            [1.0, 2.0, 3.0].repeat(2)
        );
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn a_view_past_its_buffer_is_refused() {
        let a = vec![0.0; 5];
        Matrices::from_layout(&a, &[2, 3], &[3, 1], 0);
    }
}
