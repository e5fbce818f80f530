use std::path::Path;

use bert::{Pooling, Precision, find_weights};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CacheError, EmbedOptions, LayerSelection};

/// Everything that determines the vectors of a cache. Two runs with equal specs
/// produce the same vectors, so the second is a cache hit; any difference is a miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingSpec {
    /// The model folder, for messages; its content is identified by the checksums.
    pub model: String,
    /// SHA-256 of the weights file.
    pub weights_sha256: String,
    /// SHA-256 of `config.json`.
    pub config_sha256: String,
    /// SHA-256 of the tokenizer files.
    pub tokenizer_sha256: String,
    /// Tokens per sequence (longer texts are truncated).
    pub max_len: usize,
    /// How token states become one vector.
    pub pooling: Pooling,
    /// Which layers feed the pooling.
    pub layers: LayerSelection,
    /// Whether the vectors are scaled to unit length.
    pub normalize: bool,
    /// What the encoder's linear layers computed in. Left out of the stored spec (and
    /// so of the fingerprint) when fp32, so that f32 caches keep their fingerprints.
    #[serde(default, skip_serializing_if = "is_fp32")]
    pub precision: Precision,
    /// The data file, for messages; its content is identified by the checksum.
    pub input: String,
    /// SHA-256 of the data file.
    pub input_sha256: String,
    /// How the input was read (columns), since it decides the texts.
    pub columns: String,
    /// Rows `start..end` of the input, when this is one shard of several.
    pub shard: Option<Shard>,
}

/// One of `count` deterministic slices of an input: rows `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards the input is cut into.
    pub count: usize,
    /// Its first row.
    pub start: usize,
    /// One past its last row.
    pub end: usize,
    /// Rows in the whole input.
    pub total: usize,
}

/// A shard that cannot be cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form `i/N`.
    #[error("bad shard {0:?}: expected i/N with 0 ≤ i < N, e.g. 0/4")]
    Syntax(String),
    /// `i` is not below `N`.
    #[error("shard {index}/{count}: expected 0 ≤ i < N")]
    OutOfRange {
        /// `i`.
        index: usize,
        /// `N`.
        count: usize,
    },
    /// More shards than rows.
    #[error(
        "shard {index}/{count} of an input of {total} rows: N must be at most the row count, \
         or some shards would be empty"
    )]
    TooMany {
        /// `i`.
        index: usize,
        /// `N`.
        count: usize,
        /// Rows in the input.
        total: usize,
    },
}

impl Shard {
    /// The `index`-th of `count` contiguous, near-equal slices of `total` rows; every
    /// slice holds at least one row.
    pub fn new(index: usize, count: usize, total: usize) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        if count > total {
            return Err(ShardError::TooMany {
                index,
                count,
                total,
            });
        }
        Ok(Self {
            index,
            count,
            start: index * total / count,
            end: (index + 1) * total / count,
            total,
        })
    }
}

impl std::fmt::Display for Shard {
    /// `i/N`, as [`FromStr`](std::str::FromStr) reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = ShardError;

    /// `i/N`; the rows are filled in by [`Shard::new`] once the input's size is known.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(syntax)?;
        let parse = |x: &str| x.trim().parse::<usize>().map_err(|_| syntax());
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard {
            index,
            count,
            start: 0,
            end: 0,
            total: 0,
        })
    }
}

fn is_fp32(precision: &Precision) -> bool {
    *precision == Precision::Fp32
}

impl EmbeddingSpec {
    /// The spec of embedding `input` (read with `columns`; its bytes' SHA-256 taken
    /// as it was read, [`data::ReadOutcome::sha256`], since a pipe cannot be read
    /// again) with the model folder `model_dir`. Only the model files' checksums are
    /// computed; the model is not loaded, so a cache hit is decided in well under a
    /// second.
    pub fn for_run(
        model_dir: &Path,
        max_len: usize,
        options: &EmbedOptions,
        input: &Path,
        input_sha256: String,
        columns: String,
        shard: Option<Shard>,
    ) -> Result<Self, CacheError> {
        Ok(Self {
            input: input.display().to_string(),
            input_sha256,
            columns,
            shard,
            ..Self::for_encoder(model_dir, max_len, options)?
        })
    }

    /// The spec of the encoder alone (no data): what [`encoder_only`](Self::encoder_only)
    /// gives for any run of `model_dir` with these settings.
    pub fn for_encoder(
        model_dir: &Path,
        max_len: usize,
        options: &EmbedOptions,
    ) -> Result<Self, CacheError> {
        let files = ModelChecksums::of(model_dir)?;
        Ok(Self {
            model: model_dir.display().to_string(),
            weights_sha256: files.weights_sha256,
            config_sha256: files.config_sha256,
            tokenizer_sha256: files.tokenizer_sha256,
            max_len,
            pooling: options.pooling,
            layers: options.layers,
            normalize: options.normalize,
            precision: options.precision,
            input: String::new(),
            input_sha256: String::new(),
            columns: String::new(),
            shard: None,
        })
    }

    /// The embedding settings this spec records (default batch size), to embed new
    /// text the same way.
    pub fn options(&self) -> EmbedOptions {
        EmbedOptions {
            pooling: self.pooling,
            layers: self.layers,
            normalize: self.normalize,
            precision: self.precision,
            ..EmbedOptions::default()
        }
    }

    /// SHA-256 of the fields that decide the vectors (not the display paths).
    pub fn fingerprint(&self) -> String {
        let mut content = self.clone();
        content.model.clear();
        content.input.clear();
        let json = serde_json::to_string(&content).expect("a spec always serialises");
        format!("{:x}", Sha256::digest(json.as_bytes()))
    }

    /// The spec with the data left out: what decides how any text becomes a vector.
    /// Features of train, validation and test must share it to feed the same head.
    pub fn encoder_only(&self) -> Self {
        Self {
            input: String::new(),
            input_sha256: String::new(),
            columns: String::new(),
            shard: None,
            ..self.clone()
        }
    }

    /// One line naming the encoder settings (no data), for messages.
    pub fn describe_encoder(&self) -> String {
        format!(
            "model {} (weights {}), max_len {}, {} pooling, layers {}{}{}",
            self.model,
            &self.weights_sha256[..12.min(self.weights_sha256.len())],
            self.max_len,
            self.pooling,
            self.layers,
            if self.normalize { ", normalised" } else { "" },
            match self.precision {
                Precision::Fp32 => String::new(),
                other => format!(", {other} products"),
            }
        )
    }

    /// The same spec without the shard: what all shards of one run share.
    pub fn unsharded(&self) -> Self {
        Self {
            shard: None,
            ..self.clone()
        }
    }

    /// A one-line description for messages: the encoder, then the data.
    pub fn describe(&self) -> String {
        format!(
            "{}, data {} ({})",
            self.describe_encoder(),
            self.input,
            &self.input_sha256[..12.min(self.input_sha256.len())]
        )
    }
}

/// The checksums that identify a model folder's content: what decides every output
/// of its encoder, whatever the folder is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChecksums {
    /// SHA-256 of the weights file.
    pub weights_sha256: String,
    /// SHA-256 of `config.json`.
    pub config_sha256: String,
    /// SHA-256 of the tokenizer files.
    pub tokenizer_sha256: String,
}

impl ModelChecksums {
    /// Reads the checksums of `model_dir`'s weights, `config.json` (which must parse)
    /// and tokenizer files; the model is not loaded.
    pub fn of(model_dir: &Path) -> Result<Self, CacheError> {
        let model_error = |source| CacheError::Model {
            path: model_dir.to_owned(),
            source,
        };
        let weights = find_weights(model_dir).map_err(model_error)?;
        let mut tokenizer = Sha256::new();
        for name in text::TOKENIZER_FILES {
            let path = model_dir.join(name);
            if path.exists() {
                tokenizer.update(name.as_bytes());
                tokenizer.update(hash_file(&path)?.as_bytes());
            }
        }
        let config = model_dir.join("config.json");
        bert::BertConfig::from_file(&config).map_err(model_error)?;
        Ok(Self {
            weights_sha256: hash_file(&weights)?,
            config_sha256: hash_file(&config)?,
            tokenizer_sha256: format!("{:x}", tokenizer.finalize()),
        })
    }
}

fn hash_file(path: &Path) -> Result<String, CacheError> {
    Ok(artifacts::sha256_file(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_input_exactly_once() {
        let total = 103;
        let mut next = 0;
        for i in 0..4 {
            let shard = Shard::new(i, 4, total).unwrap();
            assert_eq!(shard.start, next);
            next = shard.end;
        }
        assert_eq!(next, total);
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x/4".parse::<Shard>().is_err());
        assert_eq!("1/3".parse::<Shard>().unwrap().index, 1);
        assert_eq!(
            Shard::new(0, 5, 4),
            Err(ShardError::TooMany {
                index: 0,
                count: 5,
                total: 4
            })
        );
    }
}
