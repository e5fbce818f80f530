//! Which examples are paired for contrastive tuning, as SetFit draws them.

use data::SplitMix64;

use crate::JointError;
use crate::batches::derived_seed;

/// Stream of [`derived_seed`] for the pairs' order.
const PAIR_STREAM: u64 = 4;

/// Two training examples (indices) and whether they share a label: the cosine
/// similarity of their embeddings is trained towards 1 when they do, 0 when not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The first example.
    pub first: usize,
    /// The second example (the first itself in some similar pairs).
    pub second: usize,
    /// Whether the two share a label.
    pub similar: bool,
}

/// The pairs of `labels`' examples that contrastive tuning trains on, SetFit's way
/// (`setfit.sampler.ContrastiveDataset` with `num_iterations`):
///
/// 1. every unordered pair, an example with itself included (`i ≤ j`), in an order
///    shuffled by `seed`;
/// 2. split by kind: similar (same label) and dissimilar;
/// 3. each kind repeated cyclically (or cut) to `iterations × examples` pairs;
/// 4. the two kinds interleaved, similar first.
///
/// So the pairs are balanced between the kinds whatever the class sizes, and
/// `iterations` sets their number: `2 × iterations × examples`. Labels of one class
/// have no dissimilar pair, which is an error.
pub fn draw_pairs(labels: &[usize], iterations: usize, seed: u64) -> Result<Vec<Pair>, JointError> {
    let n = labels.len();
    let mut all: Vec<(usize, usize)> = (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect();
    SplitMix64::new(derived_seed(seed, PAIR_STREAM, 0)).shuffle(&mut all);
    let (similar, dissimilar): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|&(i, j)| labels[i] == labels[j]);
    if dissimilar.is_empty() {
        return Err(JointError::Data(
            "contrastive tuning needs examples of at least two classes: every pair of \
             the training examples shares its label"
                .into(),
        ));
    }
    let per_kind = iterations * n;
    let cycled = |pool: Vec<(usize, usize)>, similar: bool| {
        pool.into_iter()
            .cycle()
            .take(per_kind)
            .map(move |(first, second)| Pair {
                first,
                second,
                similar,
            })
    };
    Ok(cycled(similar, true)
        .zip(cycled(dissimilar, false))
        .flat_map(|(a, b)| [a, b])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_kinds_of_the_requested_number_each_pair_labelled_by_its_labels() {
        // 3 + 2 + 1 examples: 21 unordered pairs with self-pairs, 6 + 3 + 1 = 10 similar.
        let labels = [0, 0, 0, 1, 1, 2];
        let pairs = draw_pairs(&labels, 4, 7).unwrap();
        assert_eq!(pairs.len(), 2 * 4 * labels.len());
        for (k, pair) in pairs.iter().enumerate() {
            assert_eq!(pair.similar, k % 2 == 0, "the kinds alternate");
            assert_eq!(pair.similar, labels[pair.first] == labels[pair.second]);
            assert!(pair.first <= pair.second);
        }
        // 24 pairs of each kind cycle through 10 similar and 11 dissimilar ones: every
        // pair of a kind comes up, and none more than 3 times.
        for (similar, distinct) in [(true, 10), (false, 11)] {
            let mut seen: Vec<(usize, usize)> = pairs
                .iter()
                .filter(|p| p.similar == similar)
                .map(|p| (p.first, p.second))
                .collect();
            seen.sort_unstable();
            let counts: Vec<usize> = seen
                .chunk_by(|a, b| a == b)
                .map(<[(usize, usize)]>::len)
                .collect();
            assert_eq!(counts.len(), distinct);
            assert!(counts.iter().all(|&c| (2..=3).contains(&c)), "{counts:?}");
        }
    }

    #[test]
    fn the_seed_decides_the_draw_reproducibly() {
        let labels = [0, 1, 0, 1, 1];
        let a = draw_pairs(&labels, 3, 1).unwrap();
        let b = draw_pairs(&labels, 3, 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, draw_pairs(&labels, 3, 1).unwrap());
    }

    #[test]
    fn one_class_has_no_dissimilar_pair() {
        let error = draw_pairs(&[1, 1, 1], 2, 0).unwrap_err();
        assert!(error.to_string().contains("two classes"), "{error}");
    }
}
