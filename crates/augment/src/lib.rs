//! Text augmentation: each operation a small type, an [`Augmenter`] a seeded sequence
//! of them. Used so that repeated (over-sampled) minority examples are not identical
//! copies, and to perturb test texts when measuring robustness.
//!
//! Texts are split on whitespace and rejoined with single spaces. Every result is a
//! function of the text, the settings and the seed: the same augmented data set can be
//! produced again, and an epoch's augmentation can be keyed by `(seed, epoch, record)`.

#![warn(missing_docs)]

mod neighbours;
mod ops;

pub use neighbours::WordNeighbours;
pub use ops::{CharNoise, NeighbourReplacement, RandomDeletion, RandomInsertion, RandomSwap};

use data::SplitMix64;
use serde::{Deserialize, Serialize};

/// One way of changing a text, word by word.
pub trait TextOp: Send + Sync {
    /// Changes `words` in place, drawing every random choice from `rng`.
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64);
}

/// The rate of every operation (0 turns it off).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Swaps of two random words, as a share of the text's words.
    pub swap: f64,
    /// Probability of deleting each word (one word always stays).
    pub delete: f64,
    /// Insertions of a copy of one of the text's words at a random place, as a share.
    pub insert: f64,
    /// Probability of one character-level typo in each word.
    pub typo: f64,
    /// Probability of replacing each word by its nearest neighbour in the word
    /// embeddings (needs a [`WordNeighbours`]).
    pub neighbour: f64,
}

/// A seeded sequence of operations.
pub struct Augmenter {
    ops: Vec<Box<dyn TextOp>>,
}

impl Augmenter {
    /// The operations `config` turns on, in a fixed order (neighbour replacement first,
    /// so that typos are not looked up). `neighbours` is needed when
    /// `config.neighbour > 0`.
    pub fn new(
        config: &AugmentConfig,
        neighbours: Option<std::sync::Arc<WordNeighbours>>,
    ) -> Result<Self, String> {
        for (name, rate) in [
            ("swap", config.swap),
            ("delete", config.delete),
            ("insert", config.insert),
            ("typo", config.typo),
            ("neighbour", config.neighbour),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} rate {rate} must be in [0, 1]"));
            }
        }
        let mut ops: Vec<Box<dyn TextOp>> = Vec::new();
        if config.neighbour > 0.0 {
            let neighbours =
                neighbours.ok_or("neighbour replacement needs the model's word embeddings")?;
            ops.push(Box::new(NeighbourReplacement {
                rate: config.neighbour,
                neighbours,
            }));
        }
        if config.swap > 0.0 {
            ops.push(Box::new(RandomSwap { rate: config.swap }));
        }
        if config.insert > 0.0 {
            ops.push(Box::new(RandomInsertion {
                rate: config.insert,
            }));
        }
        if config.delete > 0.0 {
            ops.push(Box::new(RandomDeletion {
                rate: config.delete,
            }));
        }
        if config.typo > 0.0 {
            ops.push(Box::new(CharNoise { rate: config.typo }));
        }
        Ok(Self { ops })
    }

    /// `text` changed by every operation in turn, drawn from `seed`.
    pub fn augment(&self, text: &str, seed: u64) -> String {
        let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return text.to_owned();
        }
        let mut rng = SplitMix64::new(seed);
        for op in &self.ops {
            op.apply(&mut words, &mut rng);
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "oil prices rose sharply as traders weighed new supply cuts";

    #[test]
    fn no_rates_change_nothing_but_whitespace() {
        let none = Augmenter::new(&AugmentConfig::default(), None).unwrap();
        assert_eq!(none.augment("a  b\tc", 1), "a b c");
        assert_eq!(none.augment("", 1), "");
    }

    #[test]
    fn augmentation_is_a_function_of_the_seed() {
        let config = AugmentConfig {
            swap: 0.2,
            delete: 0.1,
            insert: 0.1,
            typo: 0.1,
            neighbour: 0.0,
        };
        let augmenter = Augmenter::new(&config, None).unwrap();
        assert_eq!(augmenter.augment(TEXT, 5), augmenter.augment(TEXT, 5));
        let outputs: std::collections::BTreeSet<String> =
            (0..20).map(|seed| augmenter.augment(TEXT, seed)).collect();
        assert!(
            outputs.len() > 15,
            "seeds give different texts: {outputs:?}"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let too_high = AugmentConfig {
            delete: 1.5,
            ..AugmentConfig::default()
        };
        assert!(Augmenter::new(&too_high, None).is_err_and(|e| e.contains("delete")));
        let needs_table = AugmentConfig {
            neighbour: 0.1,
            ..AugmentConfig::default()
        };
        assert!(Augmenter::new(&needs_table, None).is_err());
    }
}
