//! Nearest neighbours in a BERT word-embedding table: a replacement that keeps the
//! meaning close, in the model's own terms.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The word-embedding rows of whole-word tokens, unit length, for cosine look-ups.
/// Special tokens (`[CLS]`, `[unused3]`, …) and word pieces (`##ing`) are never
/// proposed, and a word is never its own neighbour.
pub struct WordNeighbours {
    tokens: Vec<String>,
    index: HashMap<String, usize>,
    /// `tokens.len() × dim`, each row of unit length.
    vectors: Vec<f32>,
    dim: usize,
    /// Answers already computed: a scan of the table is ~12 M multiply-adds for
    /// MiniLM, and texts repeat their words.
    memo: Mutex<HashMap<usize, Option<usize>>>,
}

impl WordNeighbours {
    /// From the vocabulary (token of each row) and the `vocab × dim` embedding matrix.
    pub fn new(vocab: &[String], embeddings: &[f32], dim: usize) -> Self {
        assert_eq!(vocab.len() * dim, embeddings.len(), "one row per token");
        let whole_word = |t: &str| {
            !(t.is_empty() || t.starts_with("##") || (t.starts_with('[') && t.ends_with(']')))
        };
        let (mut tokens, mut vectors) = (Vec::new(), Vec::new());
        for (token, row) in vocab.iter().zip(embeddings.chunks(dim)) {
            if whole_word(token) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                vectors.extend(row.iter().map(|v| v / norm));
                tokens.push(token.clone());
            }
        }
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Self {
            tokens,
            index,
            vectors,
            dim,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The most similar other whole-word token to `word` (matched lowercased, as an
    /// uncased vocabulary stores it), or `None` when `word` is not a whole token.
    pub fn nearest(&self, word: &str) -> Option<&str> {
        let i = *self
            .index
            .get(word)
            .or_else(|| self.index.get(&word.to_lowercase()))?;
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        let nearest = (*memo.entry(i).or_insert_with(|| self.scan(i)))?;
        Some(self.tokens[nearest].as_str())
    }

    /// The row most similar to row `i`, other than `i`.
    fn scan(&self, i: usize) -> Option<usize> {
        let query = &self.vectors[i * self.dim..(i + 1) * self.dim];
        self.vectors
            .chunks(self.dim)
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(j, row)| (j, row.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(j, _)| j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_whole_word_by_cosine() {
        let vocab: Vec<String> = ["[PAD]", "cat", "dog", "##s", "car", "kitten"]
            .map(String::from)
            .to_vec();
        // kitten points almost like cat; ##s and [PAD] point exactly like cat but are
        // not whole words; dog is further; car is far. Lengths differ: cosine ignores them.
        let rows: [[f32; 2]; 6] = [
            [1.0, 0.0],
            [1.0, 0.0],
            [0.6, 0.8],
            [2.0, 0.0],
            [0.0, 1.0],
            [3.0, 0.3],
        ];
        let neighbours = WordNeighbours::new(&vocab, rows.as_flattened(), 2);
        assert_eq!(neighbours.nearest("cat"), Some("kitten"));
        assert_eq!(neighbours.nearest("Cat"), Some("kitten"), "uncased look-up");
        assert_eq!(neighbours.nearest("car"), Some("dog"));
        assert_eq!(neighbours.nearest("kittens"), None, "not a whole token");
        assert_eq!(
            neighbours.nearest("[PAD]"),
            None,
            "special tokens are not words"
        );
    }
}
