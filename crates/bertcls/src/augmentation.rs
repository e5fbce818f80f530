//! Augmentation as a job: write augmented copies of a data file, to see what the
//! augmentation operations do before training with them (`bertcls augment`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::Job;
use crate::error::{Context, Result, refuse};
use augment::{AugmentConfig, Augmenter, WordNeighbours};
use bert::PretrainedBert;
use data::{Record, SplitMix64};
use serde::{Deserialize, Serialize};

use crate::Observer;
use crate::options::{DEFAULT_MODEL, Input};

/// Augmented copies of a data file's records, written as JSONL (`bertcls augment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentJob {
    /// The data file to augment.
    #[serde(flatten)]
    pub input: Input,
    /// Where to write the augmented records (JSONL; ids get #aug1, #aug2, …; `-`:
    /// standard output).
    pub output: PathBuf,
    /// Augmented copies per record.
    pub copies: usize,
    /// Augment only the records of these classes (default: all).
    pub classes: Vec<String>,
    /// Also write every input record, unchanged, before its copies.
    pub keep_original: bool,
    /// Swaps of two random words, as a share of a text's words.
    pub swap: f64,
    /// Probability of deleting each word (one always stays).
    pub delete: f64,
    /// Insertions of one of the text's own words at a random place, as a share.
    pub insert: f64,
    /// Probability of one typo in each word.
    pub typo: f64,
    /// Probability of replacing each word by its nearest neighbour in `model`'s
    /// word embeddings.
    pub neighbour: f64,
    /// The BERT folder whose word embeddings `neighbour` uses.
    pub model: PathBuf,
    /// Seed of every random choice: the same seed writes the same copies.
    pub seed: u64,
}

/// What [`AugmentJob::run`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Augmented {
    /// Records written, originals included.
    pub written: usize,
    /// Of those, augmented copies.
    pub augmented: usize,
}

impl AugmentJob {
    /// One copy of each record of `input` with the given operation rates, into `output`.
    pub fn new(
        input: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
        config: AugmentConfig,
    ) -> Self {
        Self {
            input: Input::new(input),
            output: output.into(),
            copies: 1,
            classes: Vec::new(),
            keep_original: false,
            swap: config.swap,
            delete: config.delete,
            insert: config.insert,
            typo: config.typo,
            neighbour: config.neighbour,
            model: DEFAULT_MODEL.into(),
            seed: 42,
        }
    }

    /// The operation rates.
    pub fn config(&self) -> AugmentConfig {
        AugmentConfig {
            swap: self.swap,
            delete: self.delete,
            insert: self.insert,
            typo: self.typo,
            neighbour: self.neighbour,
        }
    }
}

impl Job for AugmentJob {
    type Output = Augmented;

    fn validate(&self) -> Result<()> {
        settings::at_least_one("copies", self.copies)?;
        if self.config() == AugmentConfig::default() {
            refuse!("no operation chosen: give a rate to swap, delete, insert, typo or neighbour");
        }
        Ok(())
    }

    /// Reads the input, augments it and writes the copies.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Augmented> {
        write_augmented(self, observer)
    }
}

fn write_augmented(args: &AugmentJob, observer: &mut dyn Observer) -> Result<Augmented> {
    let config = args.config();
    let neighbours = if config.neighbour > 0.0 {
        Some(Arc::new(word_neighbours(args)?))
    } else {
        None
    };
    let augmenter =
        Augmenter::new(&config, neighbours).map_err(|e| crate::JobError::Refused(e.into()))?;
    let records = args.input.read(false, observer)?;
    let chosen = |r: &Record| {
        args.classes.is_empty()
            || r.class()
                .is_some_and(|l| args.classes.iter().any(|c| c == l))
    };
    let mut out = Vec::new();
    for (index, record) in records.iter().enumerate() {
        if args.keep_original {
            out.push(record.clone());
        }
        if !chosen(record) {
            continue;
        }
        for copy in 1..=args.copies {
            let seed = copy_seed(args.seed, index, copy);
            out.push(Record {
                id: format!("{}#aug{copy}", record.id),
                text: augmenter.augment(&record.text, seed),
                text_b: record
                    .text_b
                    .as_ref()
                    .map(|b| augmenter.augment(b, seed ^ 1)),
                label: record.label.clone(),
            });
        }
    }
    artifacts::write_output_file(
        &args.output,
        artifacts::FileKind::AugmentedRecords,
        &data::jsonl_bytes(&out),
    )
    .for_setting("output")?;
    let augmented = out.iter().filter(|r| r.id.contains("#aug")).count();
    observer.note(&format!(
        "wrote {} records ({augmented} augmented) to {}",
        out.len(),
        args.output.display()
    ));
    Ok(Augmented {
        written: out.len(),
        augmented,
    })
}

/// A seed for copy `copy` of record `index`, independent across records and copies.
fn copy_seed(seed: u64, index: usize, copy: usize) -> u64 {
    let mut rng = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..copy).map(|_| rng.next_u64()).last().unwrap_or(0)
}

/// The model's vocabulary and word-embedding rows.
fn word_neighbours(args: &AugmentJob) -> Result<WordNeighbours> {
    let device = bert::burn::tensor::Device::flex();
    let bert = PretrainedBert::load(&args.model, 8, &device)
        .with_context(|| format!("loading the word embeddings of {}", args.model.display()))?;
    let weights = bert.model.embeddings.word_embeddings.weight.val();
    let [rows, dim] = weights.dims();
    let values: Vec<f32> = weights
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| crate::error::refused!("reading the word embeddings: {e:?}"))?;
    let vocab: Vec<String> = (0..rows as u32)
        .map(|id| bert.tokenizer.id_to_token(id).unwrap_or_default())
        .collect();
    Ok(WordNeighbours::new(&vocab, &values, dim))
}
