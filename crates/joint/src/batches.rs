//! Which examples train together, and in which order.

use data::SplitMix64;

/// A seed for one use (`stream`) at one point (`index`: an epoch, a step) of a run,
/// so that any point of a run can be recreated from the run's seed alone: what makes
/// `--resume` give the same result as an uninterrupted run.
pub fn derived_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mixed = SplitMix64::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F)).next_u64();
    SplitMix64::new(mixed ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB)).next_u64()
}

/// Streams of [`derived_seed`].
pub(crate) const ORDER_STREAM: u64 = 1;
pub(crate) const DROPOUT_STREAM: u64 = 2;

/// The batches of one epoch, as indices into the training set.
///
/// Examples are shuffled, cut into buckets of `bucket_batches` batches, sorted by
/// length inside each bucket and cut into batches; then the batches are shuffled.
/// Similar lengths share a batch, so little work goes into padding, while the order
/// stays random. The result depends only on `(seed, epoch)`.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    bucket_batches: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut rng = SplitMix64::new(derived_seed(seed, ORDER_STREAM, epoch as u64));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut batches: Vec<Vec<usize>> = Vec::with_capacity(lengths.len().div_ceil(batch_size));
    for bucket in order.chunks_mut(batch_size * bucket_batches.max(1)) {
        bucket.sort_by_key(|&i| lengths[i]);
        batches.extend(bucket.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded_tokens(batches: &[Vec<usize>], lengths: &[usize]) -> usize {
        batches
            .iter()
            .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0))
            .sum()
    }

    #[test]
    fn every_example_once_reproducibly_with_less_padding() {
        let mut rng = SplitMix64::new(3);
        let lengths: Vec<usize> = (0..1000).map(|_| 5 + rng.below(120)).collect();
        let batches = epoch_batches(&lengths, 16, 20, 42, 2);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(batches, epoch_batches(&lengths, 16, 20, 42, 2));
        assert_ne!(batches, epoch_batches(&lengths, 16, 20, 42, 3));

        let unbucketed = epoch_batches(&lengths, 16, 1, 42, 2);
        let (bucketed, random) = (
            padded_tokens(&batches, &lengths),
            padded_tokens(&unbucketed, &lengths),
        );
        assert!(
            (bucketed as f64) < 0.8 * random as f64,
            "bucketing should cut padding: {bucketed} vs {random}"
        );
    }

    #[test]
    fn the_python_reference_draws_the_same_batches() {
        // Values printed by the port in scripts/reference/finetune.py: the PyTorch
        // reference trains on exactly our batches, in our order.
        assert_eq!(derived_seed(42, ORDER_STREAM, 0), 8361180016661393708);
        assert_eq!(derived_seed(42, DROPOUT_STREAM, 7), 6224535214354335040);
        let lengths = [5, 3, 9, 1, 7, 2, 8, 4, 6, 10];
        assert_eq!(
            epoch_batches(&lengths, 3, 2, 42, 1),
            vec![vec![3, 5, 1], vec![7, 2, 9], vec![6], vec![0, 8, 4]]
        );
    }

    #[test]
    fn derived_seeds_differ_by_stream_and_index() {
        let a = derived_seed(42, ORDER_STREAM, 0);
        assert_ne!(a, derived_seed(42, ORDER_STREAM, 1));
        assert_ne!(a, derived_seed(42, DROPOUT_STREAM, 0));
        assert_ne!(a, derived_seed(43, ORDER_STREAM, 0));
        assert_eq!(a, derived_seed(42, ORDER_STREAM, 0));
    }
}
