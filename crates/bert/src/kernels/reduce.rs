//! Reductions of f32 rows that the compiler can vectorise.

/// Width of the partial reductions below: one AVX-512 register, or two AVX2 ones.
const LANES: usize = 16;

/// `row` reduced by `op` through [`LANES`] independent partial results, which the
/// compiler keeps in vector registers (a single running value would serialise the
/// loop: float operations may not be reordered on its behalf).
#[inline(always)]
pub fn lanes(row: &[f32], init: f32, op: impl Fn(f32, f32) -> f32 + Copy) -> f32 {
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
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// `Σ row`, by [`LANES`] partial sums.
#[inline(always)]
pub fn sum(row: &[f32]) -> f32 {
    lanes(row, 0.0, |a, b| a + b)
}
