//! Which examples each epoch trains on, in which batches.

use data::Sampling;

use crate::batches::epoch_batches;
use crate::{Examples, FineTuneConfig};

/// The batches of one epoch: over every example, or over those `config.sampling`
/// picks for this epoch (bucketed by length the same way).
pub(super) fn epoch_plan(
    config: &FineTuneConfig,
    train: &Examples,
    lengths: &[usize],
    classes: usize,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let batches = |lengths: &[usize]| {
        epoch_batches(
            lengths,
            config.optimization.batch_size,
            config.bucket_batches,
            config.optimization.seed,
            epoch,
        )
    };
    let originals = train.originals();
    if config.sampling == Sampling::None {
        return batches(&lengths[..originals]);
    }
    let (labels, variants) = train.labels.split_at(originals);
    let picked = config.sampling.epoch_with_variants(
        labels,
        variants,
        classes,
        config.optimization.seed,
        epoch,
    );
    let picked_lengths: Vec<usize> = picked.iter().map(|&i| lengths[i]).collect();
    batches(&picked_lengths)
        .into_iter()
        .map(|batch| batch.into_iter().map(|j| picked[j]).collect())
        .collect()
}

/// Examples per epoch: the same every epoch for every [`Sampling`].
pub(super) fn epoch_size(config: &FineTuneConfig, train: &Examples, classes: usize) -> usize {
    let (labels, variants) = train.labels.split_at(train.originals());
    match config.sampling {
        Sampling::None => labels.len(),
        sampling => sampling
            .epoch_with_variants(labels, variants, classes, config.optimization.seed, 0)
            .len(),
    }
}

/// Optimizer steps in one epoch of `train` under `config` (its sampling, batch size
/// and accumulation); with [`Optimization::epochs_for`](crate::Optimization::epochs_for),
/// the length of a run.
pub fn steps_per_epoch(config: &FineTuneConfig, train: &Examples, classes: usize) -> usize {
    epoch_size(config, train, classes)
        .div_ceil(config.optimization.batch_size)
        .div_ceil(config.optimization.grad_accumulation)
}
