//! A fine-tuning run's inputs: the records as examples (bootstrapped, augmented,
//! over cached states), the classes kept, and the model loaded with its tokenizer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bert::burn::tensor::Device;
use data::{LabelMap, Record};
use joint::{
    BertClassifier, ClassifierConfig, Examples, FineTuneConfig, PretrainedBertParts,
    load_for_training,
};
use serde::{Deserialize, Serialize};

use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::states::data_name;
use crate::teacher::Teacher;

use super::FineTuneJob;

impl FineTuneJob {
    /// The data as examples, and the model to train, loaded with its tokenizer.
    pub(super) fn prepare(
        &self,
        train_records: Vec<Record>,
        valid_records: Vec<Record>,
        teacher: Option<&Teacher>,
        observer: &mut dyn Observer,
    ) -> Result<LoadedRun> {
        let (classifier, mut config) = self.configs()?;
        let device = self.model.backend.device()?;
        let train_records = self.maybe_bootstrap(train_records, observer);
        let labels = LabelMap::from_records(&train_records);
        if labels.len() < 2 {
            refuse!(
                "{} has {} class(es): a classifier needs at least 2",
                self.train.display(),
                labels.len()
            );
        }
        let (model, parts) = load_for_training(
            &self.model.model,
            self.model.max_len,
            self.num_layers,
            &classifier,
            labels.names(),
            config.optimization.seed,
            &device,
        )
        .with_context(|| format!("loading {}", self.model.model.display()))?;
        let model = self.start_from_head(model, &labels, &device, observer)?;
        note_prompt(&parts.classifier, observer);
        let encoder = parts.encoder()?;
        let train = Examples::from_records(&train_records, &encoder, &labels, "the training set")
            .with_context(|| format!("in {}", self.train.display()))?;
        let train = self.with_augmented(train, &encoder, &labels, observer)?;
        let train = match teacher {
            Some(_) if train.variants > 0 => {
                refuse!("augmented variants have no teacher targets: leave out "[augmented])
            }
            Some(teacher) => {
                config.distillation = Some(teacher.loss);
                let targets = teacher.soft_targets(&train_records, labels.names(), observer)?;
                train.with_soft_targets(targets)
            }
            None => train,
        };
        let valid_records = known_classes(valid_records, &labels, "validation", observer);
        let valid = Examples::from_records(&valid_records, &encoder, &labels, "the validation set")
            .context("in the validation data")?;
        // Before any state is cached: a refused setting costs nothing.
        config.validate_for(labels.names(), model.bert.num_layers())?;
        let mut states = Vec::new();
        let (train, valid) = match config.optimization.frozen_bottom(model.bert.num_layers()) {
            // Named as `bertcls embed --states-after` names them, so that fine-tuning
            // finds the states an embedding pass over the same files kept.
            Some(bottom) => {
                let (train_name, valid_name) = (
                    data_name(&self.train),
                    self.valid.as_deref().map_or("validation".into(), data_name),
                );
                (
                    self.with_cached_states(train, &train_name, bottom, &mut states, observer)?,
                    self.with_cached_states(valid, &valid_name, bottom, &mut states, observer)?,
                )
            }
            None => (train, valid),
        };
        // Contrastive tuning counts its steps in pairs, and says so itself.
        if !self.contrastive {
            let steps = joint::steps_per_epoch(&config, &train, labels.len());
            let optimization = &config.optimization;
            let epochs = optimization.epochs_for(steps);
            let raised = if epochs > optimization.epochs {
                format!(
                    " (raised from {} to reach min_steps {})",
                    optimization.epochs, optimization.min_steps
                )
            } else {
                String::new()
            };
            observer.note(&format!(
                "fine-tuning {} ({} layers, max_len {}) on {} examples{}, {} classes; \
                 validating on {}; {epochs} epochs of {steps} steps{raised}",
                self.model.model.display(),
                parts.config.num_hidden_layers,
                self.model.max_len,
                train.originals(),
                match train.variants {
                    0 => String::new(),
                    n => format!(" (+{n} augmented variants)"),
                },
                labels.len(),
                valid.len()
            ));
        }
        Ok(LoadedRun {
            classifier: parts.classifier.clone(),
            config,
            device,
            labels,
            model: Some(model),
            parts,
            train,
            valid,
            states,
        })
    }

    /// With `bootstrap`, a sample of the records drawn with replacement.
    pub(super) fn maybe_bootstrap(
        &self,
        records: Vec<Record>,
        observer: &mut dyn Observer,
    ) -> Vec<Record> {
        if !self.bootstrap {
            return records;
        }
        let sample = data::bootstrap_sample(records.len(), self.optimization.seed);
        let distinct = sample
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        observer.note(&format!(
            "bootstrap sample: {} draws, {distinct} distinct records",
            sample.len()
        ));
        sample.iter().map(|&i| records[i].clone()).collect()
    }

    /// The training examples followed by the augmented variants, when a file of them
    /// is given.
    pub(super) fn with_augmented(
        &self,
        train: Examples,
        encoder: &joint::RecordEncoder<'_>,
        labels: &LabelMap,
        observer: &mut dyn Observer,
    ) -> Result<Examples> {
        let Some(path) = &self.augmented else {
            return Ok(train);
        };
        let records = self.columns.read(path, true, observer)?;
        let variants = Examples::from_records(&records, encoder, labels, "the augmented set")
            .with_context(|| format!("in {}", path.display()))?;
        Ok(train.with_variants(variants))
    }

    /// `examples` (of the data called `name`) reading their states after layer
    /// `bottom` from a state cache, built first when there is none; the cache is
    /// added to `used`.
    pub(super) fn with_cached_states(
        &self,
        examples: Examples,
        name: &str,
        bottom: usize,
        used: &mut Vec<StatesUsed>,
        observer: &mut dyn Observer,
    ) -> Result<Examples> {
        let mut caches = crate::states::state_caches(
            &self.model,
            &self.state_cache_dir,
            self.force.overwrite(),
            &examples.encodings,
            name,
            &[bottom],
            observer,
        )?;
        let cache = caches.remove(0);
        observer.note(&format!(
            "{name}: states after layer {bottom} from {} ({:.1} MiB)",
            cache.path.display(),
            cache.payload_bytes() as f64 / (1 << 20) as f64
        ));
        used.push(StatesUsed {
            data: name.to_owned(),
            after_layer: bottom,
            path: cache.path.clone(),
            bytes: cache.payload_bytes() as u64,
            build_seconds: cache.meta.build.map(|b| b.seconds),
        });
        Ok(examples.with_states(cache)?)
    }
}

/// Everything a run needs once the data and the model are loaded.
pub(super) struct LoadedRun {
    /// As built: a prompt's [MASK] id and MLM-head use filled in.
    pub(super) classifier: ClassifierConfig,
    pub(super) config: FineTuneConfig,
    pub(super) device: Device,
    pub(super) labels: LabelMap,
    /// Taken by the training loop.
    pub(super) model: Option<BertClassifier>,
    pub(super) parts: PretrainedBertParts,
    pub(super) train: Examples,
    pub(super) valid: Examples,
    /// The state caches `train` and `valid` read, if any.
    pub(super) states: Vec<StatesUsed>,
}

impl LoadedRun {
    pub(super) fn evaluate(
        &self,
        model: &BertClassifier,
        examples: &Examples,
        progress: &mut dyn FnMut(usize),
    ) -> joint::Evaluation {
        joint::evaluate_examples(
            model,
            examples,
            self.labels.names(),
            self.parts.tokenizer.special_tokens().pad,
            self.config.eval_batch_size,
            &self.device,
            progress,
        )
    }
}

/// What a prompt scores with, in a note.
fn note_prompt(classifier: &ClassifierConfig, observer: &mut dyn Observer) {
    if let Some(prompt) = &classifier.prompt {
        observer.note(&format!(
            "prompt {:?}; scores: {}",
            prompt.template,
            if prompt.mlm_head {
                "the checkpoint's masked-LM logits of the label words"
            } else {
                "no masked-LM head in the checkpoint: the [MASK] state, projected, against the label words' embeddings"
            }
        ));
    }
}

/// The records of classes the training data has; a note names the classes left out
/// (a class the model cannot learn cannot guide the choice of its weights).
pub(crate) fn known_classes(
    records: Vec<Record>,
    labels: &LabelMap,
    split: &str,
    observer: &mut dyn Observer,
) -> Vec<Record> {
    let mut unseen: BTreeMap<String, usize> = BTreeMap::new();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|r| {
            let known = r.class().is_none_or(|l| labels.index(l).is_some());
            if !known {
                *unseen
                    .entry(r.class().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
            known
        })
        .collect();
    if !unseen.is_empty() {
        let named: Vec<String> = unseen.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        observer.note(&format!(
            "note: {split} records of classes the training data lacks are left out of model selection: {}",
            named.join(", ")
        ));
    }
    kept
}

/// A state cache a run read (with `--train-layers`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatesUsed {
    /// The data whose states it holds: its file's name without the extension.
    pub data: String,
    /// The layer after which the states were taken (N − K).
    pub after_layer: usize,
    /// The `.states` folder.
    pub path: PathBuf,
    /// Bytes of stored states.
    pub bytes: u64,
    /// What building it cost (whenever it was built; a later run that reuses it pays
    /// nothing); absent when the cache does not record it.
    pub build_seconds: Option<f64>,
}
