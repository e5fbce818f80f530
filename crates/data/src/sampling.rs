//! Data-level remedies for class imbalance: which training examples an epoch visits.
//!
//! A [`Sampling`] turns the training labels into the multiset of example indices of one
//! epoch; the trainer then shuffles and batches them as usual. Every draw is a function
//! of `(seed, epoch)` alone, so a resumed or repeated run sees the same epochs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SplitMix64;

/// How an epoch's training examples are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Sampling {
    /// Every example once.
    #[default]
    None,
    /// Random over-sampling: every class smaller than `ratio` × the largest is topped
    /// up to that size with copies drawn with replacement, anew each epoch.
    Oversample {
        /// The share of the largest class every class is topped up to, in (0, 1].
        ratio: f64,
    },
    /// Random under-sampling: every class larger than the smallest / `ratio` is cut to
    /// that size; the kept subset is drawn once and is the same every epoch.
    Undersample {
        /// Every class is cut to the smallest's size divided by this, in (0, 1].
        ratio: f64,
    },
    /// Under-sampling that draws a *different* subset of each large class every epoch:
    /// epoch e takes the e-th slice of a fixed per-class shuffle, wrapping around, so
    /// within ⌈n_c / cap⌉ epochs every example has been used and none is thrown away.
    RotatingUndersample {
        /// Every class is cut to the smallest's size divided by this, in (0, 1].
        ratio: f64,
    },
    /// As many draws as examples, each class equally likely, examples uniform within
    /// their class (probability ∝ 1 / n_c), with replacement.
    ClassBalanced,
}

/// Decorrelates the streams of different epochs and classes drawn from one seed.
fn stream(seed: u64, a: u64, b: u64) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed ^ a.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let base = mix.next_u64();
    SplitMix64::new(base ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

const WHOLE_RUN: u64 = u64::MAX;

impl Sampling {
    /// The indices (into `labels`, class indices below `classes`) that epoch `epoch`
    /// (0-based) trains on, grouped by class: shuffle them before batching.
    pub fn epoch(&self, labels: &[usize], classes: usize, seed: u64, epoch: usize) -> Vec<usize> {
        self.epoch_with_variants(labels, &[], classes, seed, epoch)
    }

    /// As [`Sampling::epoch`], with augmented variants of training examples available
    /// as rows `labels.len()..`, `variant_labels` their classes: over-sampling tops a
    /// class up with its variants (so that no copy is identical to its original) when
    /// the class has any. Other samplings train on the original rows only.
    pub fn epoch_with_variants(
        &self,
        labels: &[usize],
        variant_labels: &[usize],
        classes: usize,
        seed: u64,
        epoch: usize,
    ) -> Vec<usize> {
        let by_class = members(labels, classes);
        let variants: Vec<Vec<usize>> = members(variant_labels, classes)
            .into_iter()
            .map(|rows| rows.into_iter().map(|i| labels.len() + i).collect())
            .collect();
        let sizes: Vec<usize> = by_class.iter().map(Vec::len).filter(|&n| n > 0).collect();
        let (smallest, largest) = (
            sizes.iter().copied().min().unwrap_or(0),
            sizes.iter().copied().max().unwrap_or(0),
        );
        let epoch = epoch as u64;
        let mut out = Vec::new();
        match *self {
            Sampling::None => out.extend(0..labels.len()),
            Sampling::Oversample { ratio } => {
                let target = (ratio * largest as f64).ceil() as usize;
                for (c, members) in by_class.iter().enumerate() {
                    out.extend(members);
                    let pool = if variants[c].is_empty() {
                        members
                    } else {
                        &variants[c]
                    };
                    if pool.is_empty() {
                        continue;
                    }
                    let mut rng = stream(seed, epoch, c as u64);
                    for _ in members.len()..target {
                        out.push(pool[rng.below(pool.len())]);
                    }
                }
            }
            Sampling::Undersample { ratio } | Sampling::RotatingUndersample { ratio } => {
                let cap = ((smallest as f64 / ratio).ceil() as usize).max(1);
                let rotating = matches!(self, Sampling::RotatingUndersample { .. });
                for (c, members) in by_class.iter().enumerate() {
                    if members.len() <= cap {
                        out.extend(members);
                        continue;
                    }
                    let mut order = members.clone();
                    stream(seed, WHOLE_RUN, c as u64).shuffle(&mut order);
                    let start = if rotating { epoch as usize * cap } else { 0 };
                    out.extend((start..start + cap).map(|i| order[i % order.len()]));
                }
            }
            Sampling::ClassBalanced => {
                let present: Vec<&Vec<usize>> = by_class.iter().filter(|m| !m.is_empty()).collect();
                let mut rng = stream(seed, epoch, WHOLE_RUN);
                for _ in 0..labels.len() {
                    let members = present[rng.below(present.len())];
                    out.push(members[rng.below(members.len())]);
                }
                out.sort_unstable_by_key(|&i| labels[i]);
            }
        }
        out
    }

    /// Checks the ratio: in (0, 1].
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        match *self {
            Sampling::Oversample { ratio }
            | Sampling::Undersample { ratio }
            | Sampling::RotatingUndersample { ratio }
                if !(ratio > 0.0 && ratio <= 1.0) =>
            {
                Err(settings::SettingError::new(
                    "sampling",
                    self,
                    "its ratio must be in (0, 1]",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Example indices of each class.
fn members(labels: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label].push(i);
    }
    by_class
}

impl fmt::Display for Sampling {
    /// The form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampling::None => f.write_str("none"),
            Sampling::Oversample { ratio } => write!(f, "oversample:{ratio}"),
            Sampling::Undersample { ratio } => write!(f, "undersample:{ratio}"),
            Sampling::RotatingUndersample { ratio } => write!(f, "rotating:{ratio}"),
            Sampling::ClassBalanced => f.write_str("class-balanced"),
        }
    }
}

impl FromStr for Sampling {
    type Err = String;

    /// `none`, `oversample[:R]`, `undersample[:R]`, `rotating[:R]` (R the target
    /// ratio of smaller to larger classes, 1 by default) or `class-balanced`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, ratio) = match s.split_once(':') {
            Some((name, r)) => (
                name,
                r.parse::<f64>()
                    .map_err(|_| format!("{s:?}: {r:?} is not a ratio"))?,
            ),
            None => (s, 1.0),
        };
        let sampling = match name {
            "none" => Sampling::None,
            "oversample" => Sampling::Oversample { ratio },
            "undersample" => Sampling::Undersample { ratio },
            "rotating" => Sampling::RotatingUndersample { ratio },
            "class-balanced" => Sampling::ClassBalanced,
            _ => {
                return Err(format!(
                    "{s:?}: expected none, oversample[:R], undersample[:R], rotating[:R] or class-balanced"
                ));
            }
        };
        sampling.validate().map_err(|e| e.to_string())?;
        Ok(sampling)
    }
}

/// A bootstrap sample of `n` examples: `n` indices drawn uniformly with replacement,
/// decided by `seed` (bagging's resampling; about 63% of the examples appear).
pub fn bootstrap_sample(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ 0xB007_5712_A9C3_0001);
    (0..n).map(|_| rng.below(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 × class 0, 30 × class 1, 10 × class 2, interleaved.
    fn labels() -> Vec<usize> {
        let mut labels = [vec![0; 100], vec![1; 30], vec![2; 10]].concat();
        SplitMix64::new(9).shuffle(&mut labels);
        labels
    }

    fn counts(labels: &[usize], picked: &[usize]) -> [usize; 3] {
        let mut counts = [0; 3];
        for &i in picked {
            counts[labels[i]] += 1;
        }
        counts
    }

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort_unstable();
        v
    }

    #[test]
    fn none_is_every_example_once() {
        let l = labels();
        assert_eq!(
            Sampling::None.epoch(&l, 3, 1, 0),
            (0..140).collect::<Vec<_>>()
        );
    }

    #[test]
    fn oversampling_tops_classes_up_keeping_every_original() {
        let l = labels();
        let s = Sampling::Oversample { ratio: 1.0 };
        let e0 = s.epoch(&l, 3, 7, 0);
        assert_eq!(counts(&l, &e0), [100, 100, 100]);
        let mut distinct = sorted(e0.clone());
        distinct.dedup();
        assert_eq!(distinct, (0..140).collect::<Vec<_>>(), "originals all kept");
        assert_eq!(e0, s.epoch(&l, 3, 7, 0), "a function of (seed, epoch)");
        assert_ne!(e0, s.epoch(&l, 3, 7, 1), "fresh copies each epoch");
        let half = Sampling::Oversample { ratio: 0.5 }.epoch(&l, 3, 7, 0);
        assert_eq!(counts(&l, &half), [100, 50, 50]);
    }

    #[test]
    fn oversampling_tops_up_with_variants_when_a_class_has_them() {
        let l = labels();
        // Variants of class 2 only: rows 140..150.
        let variants = vec![2; 10];
        let s = Sampling::Oversample { ratio: 1.0 };
        let e = s.epoch_with_variants(&l, &variants, 3, 7, 0);
        let originals = |class| e.iter().filter(|&&i| i < 140 && l[i] == class).count();
        assert_eq!(originals(2), 10, "every original once");
        assert_eq!(
            e.iter().filter(|&&i| i >= 140).count(),
            90,
            "the top-up is all variants"
        );
        assert_eq!(originals(1), 100, "class 1 has no variants: copies");
        let plain =
            Sampling::Undersample { ratio: 1.0 }.epoch_with_variants(&l, &variants, 3, 7, 0);
        assert!(
            plain.iter().all(|&i| i < 140),
            "other samplings ignore variants"
        );
    }

    #[test]
    fn undersampling_keeps_one_subset_of_each_large_class() {
        let l = labels();
        let s = Sampling::Undersample { ratio: 1.0 };
        let e0 = s.epoch(&l, 3, 7, 0);
        assert_eq!(counts(&l, &e0), [10, 10, 10]);
        assert_eq!(
            sorted(e0.clone()),
            sorted(s.epoch(&l, 3, 7, 5)),
            "same subset"
        );
        let mut distinct = sorted(e0);
        distinct.dedup();
        assert_eq!(distinct.len(), 30, "no example twice");
        // Ratio 0.5: classes may be twice the smallest.
        let e = Sampling::Undersample { ratio: 0.5 }.epoch(&l, 3, 7, 0);
        assert_eq!(counts(&l, &e), [20, 20, 10]);
    }

    #[test]
    fn rotating_undersampling_uses_all_the_majority_over_the_epochs() {
        let l = labels();
        let s = Sampling::RotatingUndersample { ratio: 1.0 };
        let mut seen = Vec::new();
        // Class 0 has 100 examples and a cap of 10: ten epochs cover it.
        for epoch in 0..10 {
            let e = s.epoch(&l, 3, 7, epoch);
            assert_eq!(counts(&l, &e), [10, 10, 10]);
            if epoch > 0 {
                assert_ne!(sorted(e.clone()), sorted(s.epoch(&l, 3, 7, epoch - 1)));
            }
            seen.extend(e);
        }
        let mut distinct = sorted(seen);
        distinct.dedup();
        assert_eq!(
            distinct,
            (0..140).collect::<Vec<_>>(),
            "nothing thrown away"
        );
    }

    #[test]
    fn class_balanced_draws_classes_equally_often() {
        let l = labels();
        let drawn: Vec<usize> = (0..30)
            .flat_map(|e| Sampling::ClassBalanced.epoch(&l, 3, 7, e))
            .collect();
        assert_eq!(drawn.len(), 30 * 140);
        // 4200 draws, p = 1/3 each: standard deviation √(4200·2/9) ≈ 30.6; allow 4σ.
        for c in counts(&l, &drawn) {
            assert!((c as f64 - 1400.0).abs() < 123.0, "{c}");
        }
    }

    #[test]
    fn flags_read_back_what_they_print() {
        for text in [
            "none",
            "oversample:0.5",
            "undersample:1",
            "rotating:0.25",
            "class-balanced",
        ] {
            let s: Sampling = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
        assert_eq!(
            "rotating".parse(),
            Ok(Sampling::RotatingUndersample { ratio: 1.0 })
        );
        for bad in ["oversample:0", "undersample:2", "rotate", "oversample:x"] {
            assert!(bad.parse::<Sampling>().is_err(), "{bad}");
        }
    }
}
