//! The operations. Counts are rounded stochastically (a rate of 0.15 on 10 words makes
//! one swap or two, 1.5 on average) so that short texts are changed too, at the rate
//! asked for on average.

use std::sync::Arc;

use data::SplitMix64;

use crate::{TextOp, WordNeighbours};

/// `rate × n` rounded up or down at random, keeping the mean.
fn how_many(rate: f64, n: usize, rng: &mut SplitMix64) -> usize {
    let exact = rate * n as f64;
    let whole = exact.floor();
    whole as usize + usize::from(rng.unit() < exact - whole)
}

/// Swaps two random words, `rate × words` times.
pub struct RandomSwap {
    /// Swaps per word.
    pub rate: f64,
}

impl TextOp for RandomSwap {
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64) {
        if words.len() < 2 {
            return;
        }
        for _ in 0..how_many(self.rate, words.len(), rng) {
            let (a, b) = (rng.below(words.len()), rng.below(words.len()));
            words.swap(a, b);
        }
    }
}

/// Deletes each word with probability `rate`; one word always stays.
pub struct RandomDeletion {
    /// The chance that each word is dropped.
    pub rate: f64,
}

impl TextOp for RandomDeletion {
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64) {
        let survivor = rng.below(words.len());
        let mut index = 0;
        words.retain(|_| {
            let keep = index == survivor || rng.unit() >= self.rate;
            index += 1;
            keep
        });
    }
}

/// Inserts copies of the text's own words at random places, `rate × words` times.
pub struct RandomInsertion {
    /// Insertions per word.
    pub rate: f64,
}

impl TextOp for RandomInsertion {
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64) {
        for _ in 0..how_many(self.rate, words.len(), rng) {
            let word = words[rng.below(words.len())].clone();
            let at = rng.below(words.len() + 1);
            words.insert(at, word);
        }
    }
}

/// With probability `rate`, one typo in a word: two neighbouring letters swapped, a
/// letter dropped, doubled, or replaced by a random lowercase letter.
pub struct CharNoise {
    /// The chance that each word gets a typo.
    pub rate: f64,
}

impl TextOp for CharNoise {
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64) {
        for word in words.iter_mut() {
            if rng.unit() >= self.rate {
                continue;
            }
            let mut chars: Vec<char> = word.chars().collect();
            let letters: Vec<usize> = (0..chars.len())
                .filter(|&i| chars[i].is_alphabetic())
                .collect();
            if letters.is_empty() {
                continue;
            }
            let at = letters[rng.below(letters.len())];
            match rng.below(4) {
                0 if at + 1 < chars.len() => chars.swap(at, at + 1),
                1 if chars.len() > 1 => {
                    chars.remove(at);
                }
                2 => chars.insert(at, chars[at]),
                _ => chars[at] = (b'a' + rng.below(26) as u8) as char,
            }
            *word = chars.into_iter().collect();
        }
    }
}

/// With probability `rate`, a word becomes its nearest neighbour in the model's
/// word-embedding table (cosine), when the word is a whole token of the vocabulary.
pub struct NeighbourReplacement {
    /// The chance that each word is replaced.
    pub rate: f64,
    /// Each vocabulary word's nearest neighbour.
    pub neighbours: Arc<WordNeighbours>,
}

impl TextOp for NeighbourReplacement {
    fn apply(&self, words: &mut Vec<String>, rng: &mut SplitMix64) {
        for word in words.iter_mut() {
            if rng.unit() < self.rate
                && let Some(neighbour) = self.neighbours.nearest(word)
            {
                *word = neighbour.to_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn sorted(mut w: Vec<String>) -> Vec<String> {
        w.sort();
        w
    }

    const TEXT: &str = "one two three four five six seven eight nine ten";

    #[test]
    fn swap_only_reorders() {
        let mut rng = SplitMix64::new(1);
        let mut w = words(TEXT);
        RandomSwap { rate: 0.5 }.apply(&mut w, &mut rng);
        assert_eq!(sorted(w.clone()), sorted(words(TEXT)));
        assert_ne!(w, words(TEXT));
    }

    #[test]
    fn deletion_removes_in_order_and_keeps_a_word() {
        let mut rng = SplitMix64::new(2);
        let mut w = words(TEXT);
        RandomDeletion { rate: 0.3 }.apply(&mut w, &mut rng);
        assert!(w.len() < 10 && !w.is_empty());
        let original = words(TEXT);
        let mut rest = original.iter();
        assert!(
            w.iter().all(|x| rest.any(|o| o == x)),
            "a subsequence: {w:?}"
        );
        let mut all = words(TEXT);
        RandomDeletion { rate: 1.0 }.apply(&mut all, &mut rng);
        assert_eq!(all.len(), 1, "one word always stays");
    }

    #[test]
    fn insertion_adds_only_words_of_the_text() {
        let mut rng = SplitMix64::new(3);
        let mut w = words(TEXT);
        RandomInsertion { rate: 0.3 }.apply(&mut w, &mut rng);
        assert!(w.len() > 10);
        assert!(w.iter().all(|x| TEXT.split(' ').any(|o| o == x)));
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and
    /// adjacent transpositions, each costing 1.
    fn edit_distance(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1)
                    .min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn a_typo_is_one_small_edit_of_a_word() {
        assert_eq!(edit_distance("market", "mraket"), 1);
        assert_eq!(edit_distance("market", "mket"), 2);
        let mut rng = SplitMix64::new(4);
        for _ in 0..50 {
            let mut w = words("market");
            CharNoise { rate: 1.0 }.apply(&mut w, &mut rng);
            assert!(edit_distance(&w[0], "market") <= 1, "{}", w[0]);
        }
        let mut digits = words("2024 !!");
        CharNoise { rate: 1.0 }.apply(&mut digits, &mut rng);
        assert_eq!(digits, words("2024 !!"), "only letters get typos");
    }

    #[test]
    fn stochastic_rounding_keeps_the_mean() {
        let mut rng = SplitMix64::new(5);
        let total: usize = (0..10_000).map(|_| how_many(0.15, 10, &mut rng)).sum();
        assert!((total as f64 / 10_000.0 - 1.5).abs() < 0.03, "{total}");
    }
}
