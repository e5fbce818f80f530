//! Folds for multi-label cross-validation by iterative stratification (Sechidis,
//! Tsoumakas and Vlahavas, "On the Stratification of Multi-Label Data", ECML PKDD
//! 2011): stratifying by each label set (the label powerset) leaves most sets with
//! one or two examples, so instead the rarest label is dealt out first, each of its
//! examples to the fold that most lacks that label.

use crate::SplitMix64;

/// The fold (0..k) of each example, `label_sets[i]` holding the label indices (below
/// `labels`) of example `i`. Repeatedly, among the labels with examples left, the one
/// with the fewest is taken, and each of its examples goes to the fold that still
/// wants the most examples of it (ties: the fold that wants the most examples, then
/// a seeded draw); that fold's wants shrink by the example's labels. Examples without
/// a label go last, each to the fold that wants the most examples.
pub fn multi_label_folds(
    label_sets: &[Vec<usize>],
    labels: usize,
    k: usize,
    seed: u64,
) -> Vec<usize> {
    assert!(k >= 2, "cross-validation needs at least 2 folds");
    let n = label_sets.len();
    let mut rng = SplitMix64::new(seed);
    // Desired counts, as fractions: each fold's share of the examples and of each label.
    let mut wanted: Vec<f64> = vec![n as f64 / k as f64; k];
    let mut per_label = vec![0usize; labels];
    for set in label_sets {
        for &label in set {
            per_label[label] += 1;
        }
    }
    let mut wanted_of: Vec<Vec<f64>> = per_label
        .iter()
        .map(|&count| vec![count as f64 / k as f64; k])
        .collect();
    let mut fold = vec![usize::MAX; n];
    let mut remaining = per_label.clone();
    while let Some(rarest) = (0..labels)
        .filter(|&l| remaining[l] > 0)
        .min_by_key(|&l| (remaining[l], l))
    {
        // Its examples in a seeded order, so ties between folds are not decided by
        // the input's order alone.
        let mut members: Vec<usize> = (0..n)
            .filter(|&i| fold[i] == usize::MAX && label_sets[i].contains(&rarest))
            .collect();
        rng.shuffle(&mut members);
        for i in members {
            let chosen = best_fold(&wanted_of[rarest], &wanted, &mut rng);
            fold[i] = chosen;
            wanted[chosen] -= 1.0;
            for &label in &label_sets[i] {
                wanted_of[label][chosen] -= 1.0;
                remaining[label] -= 1;
            }
        }
    }
    let mut unlabelled: Vec<usize> = (0..n).filter(|&i| fold[i] == usize::MAX).collect();
    rng.shuffle(&mut unlabelled);
    for i in unlabelled {
        let chosen = best_fold(&wanted, &wanted, &mut rng);
        fold[i] = chosen;
        wanted[chosen] -= 1.0;
    }
    fold
}

/// The fold wanting the most by `first`, then by `second`, then a seeded draw.
fn best_fold(first: &[f64], second: &[f64], rng: &mut SplitMix64) -> usize {
    let key = |j: usize| (first[j], second[j]);
    let best = (0..first.len())
        .map(key)
        .fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |a, b| {
            if b > a { b } else { a }
        });
    let tied: Vec<usize> = (0..first.len()).filter(|&j| key(j) == best).collect();
    tied[rng.below(tied.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 examples over 6 labels of very different frequencies (label 5 on 7
    /// examples), some with no label.
    fn label_sets() -> Vec<Vec<usize>> {
        let mut rng = SplitMix64::new(3);
        let frequencies = [0.6, 0.35, 0.2, 0.1, 0.05, 0.035];
        (0..200)
            .map(|_| {
                (0..6)
                    .filter(|&l| (rng.below(1000) as f64) < frequencies[l] * 1000.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_fold_holds_each_labels_share_to_within_one_example() {
        let sets = label_sets();
        let k = 5;
        let folds = multi_label_folds(&sets, 6, k, 42);
        assert!(folds.iter().all(|&f| f < k));
        for label in 0..6 {
            let total = sets.iter().filter(|s| s.contains(&label)).count();
            for fold in 0..k {
                let count = (0..sets.len())
                    .filter(|&i| folds[i] == fold && sets[i].contains(&label))
                    .count();
                let share = total as f64 / k as f64;
                assert!(
                    (count as f64 - share).abs() <= 1.0 + 1e-9,
                    "label {label} (on {total}): fold {fold} holds {count}, its share {share}"
                );
            }
        }
        let sizes: Vec<usize> = (0..k)
            .map(|f| folds.iter().filter(|&&x| x == f).count())
            .collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 2,
            "{sizes:?}"
        );
        assert!(
            sets.iter().any(Vec::is_empty),
            "the test covers examples without a label"
        );
        assert_eq!(multi_label_folds(&sets, 6, k, 42), folds);
        assert_ne!(multi_label_folds(&sets, 6, k, 43), folds);
    }
}
