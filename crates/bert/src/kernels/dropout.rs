//! Dropout masks drawn in parallel from a counter-based generator.
//!
//! burn's dropout draws one Bernoulli sample per element from a ChaCha generator on
//! one thread: for MiniLM at 32 × 128 tokens that is 57 million draws per training
//! step, half of the forward pass. Here element `i` of the mask is a function of
//! `(seed, i)` only (SplitMix64's finaliser), so chunks fill independently on every
//! core and the mask is the same whatever the number of threads.

use rayon::prelude::*;

use super::math::vectorised;

const CHUNK: usize = 1 << 15;

/// Fills `mask` with `1/keep` (probability `keep`) or 0, independently per element.
pub fn fill_dropout_mask(mask: &mut [f32], keep: f64, seed: u64) {
    assert!(
        keep > 0.0 && keep <= 1.0,
        "keep probability {keep} outside (0, 1]"
    );
    let scale = (1.0 / keep) as f32;
    // An element is kept when the high 32 bits of its hash fall below keep · 2^32.
    let threshold = (keep * 4_294_967_296.0) as u64;
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk_index, chunk)| {
            fill_chunk(chunk, (chunk_index * CHUNK) as u64, seed, threshold, scale)
        });
}

vectorised! {
    fn fill_chunk(chunk: &mut [f32], first: u64, seed: u64, threshold: u64, scale: f32) {
        for (offset, value) in chunk.iter_mut().enumerate() {
            let counter = first + offset as u64;
            let bits = mix(seed.wrapping_add(counter.wrapping_mul(GOLDEN_GAMMA)));
            *value = if bits >> 32 < threshold { scale } else { 0.0 };
        }
    }
}

/// SplitMix64's increment: consecutive counters land far apart before mixing.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser (Steele, Lea & Flood, 2014): a bijection on u64 whose outputs
/// pass BigCrush for sequential inputs.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_asked_fraction_scaled_to_keep_the_mean() {
        let mut mask = vec![0.0f32; 1 << 20];
        fill_dropout_mask(&mut mask, 0.9, 7);
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
        // Binomial standard deviation at n = 2^20: 3e-4; six of them.
        assert!((kept - 0.9).abs() < 2e-3, "kept {kept}");
        assert!(mask.iter().all(|&m| m == 0.0 || m == (1.0 / 0.9f64) as f32));
        let mean = mask.iter().map(|&m| m as f64).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 3e-3, "mean {mean}");
    }

    #[test]
    fn the_mask_is_a_function_of_the_seed() {
        let draw = |seed| {
            let mut mask = vec![0.0f32; 100_000];
            fill_dropout_mask(&mut mask, 0.5, seed);
            mask
        };
        assert_eq!(draw(1), draw(1));
        let (a, b) = (draw(1), draw(2));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        // Independent masks at keep 0.5 agree on about half the elements.
        assert!(
            (same as f64 / a.len() as f64 - 0.5).abs() < 0.01,
            "{same} equal"
        );
    }

    #[test]
    fn neighbours_are_uncorrelated() {
        let mut mask = vec![0.0f32; 1 << 20];
        fill_dropout_mask(&mut mask, 0.5, 3);
        let both = mask
            .windows(2)
            .filter(|w| w[0] != 0.0 && w[1] != 0.0)
            .count();
        let rate = both as f64 / (mask.len() - 1) as f64;
        assert!((rate - 0.25).abs() < 3e-3, "P(both kept) = {rate}");
    }
}
