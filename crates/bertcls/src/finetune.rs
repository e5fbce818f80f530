//! End-to-end mode as a job: BERT and a classification head fine-tuned together,
//! in phases (data → settings → training → decision → saving → testing), the best
//! model saved as a Hugging Face folder and the run described in `training.json`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bert::burn::tensor::Device;
use clap::Args;
use data::{LabelMap, Record, Sampling, stratified_split};
use joint::{
    BertClassifier, ClassifierConfig, ClassifierMeta, ClassifierPooling, EvalRecord, Examples,
    FineTuneConfig, PretrainedBertParts, PromptConfig, RunDir, SavedClassifier, StopReason,
    TrainEvent, fine_tune, load_for_training, remove_checkpoint,
};
use metrics::{ClassificationReport, DecisionRule};
use serde::{Deserialize, Serialize};
use training::{Activation, HeadConfig, LossSpec, Monitor, Schedule};

use crate::Job;
use crate::Observer;
use crate::classifier::{label_columns, reorder_columns, true_labels};
use crate::cross_validation::{CvData, cross_validate};
use crate::error::{Context, JobError, Result, refuse};
use crate::machine;
use crate::options::{
    AdversaryOptions, Columns, DecisionOptions, Force, LossOptions, ModelOptions,
};
use crate::predictions::write_predictions;
use crate::states::data_name;
use crate::teacher::Teacher;

/// The run folder when none is named.
pub const DEFAULT_OUT: &str = "runs/finetune";

/// Fine-tune BERT and a classification head together (`bertcls finetune`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(after_help = "Examples:\n  \
    bertcls finetune --train data/r8/train.jsonl --valid data/r8/validation.jsonl \\\n      \
    --test data/r8/test.jsonl --out runs/r8\n  \
    bertcls finetune --train pairs.csv --text-b-col hypothesis --epochs 2 --lr 3e-5 --out runs/nli\n  \
    bertcls finetune … --out runs/r8 --resume      # continue an interrupted run\n\n\
    The best model (by --monitor on validation) is saved in OUT/model as a Hugging Face \
    folder: `transformers.AutoModelForSequenceClassification.from_pretrained(\"OUT/model\")` \
    loads it. OUT/training.json holds the settings, the learning curves and the metrics; \
    with --test, OUT/test-predictions.jsonl holds the kept model's test predictions.")]
pub struct FineTuneJob {
    /// The base model.
    #[command(flatten)]
    #[serde(flatten)]
    pub model: ModelOptions,
    /// Training data (JSONL, CSV or TSV; `-`: standard input).
    #[arg(long)]
    pub train: PathBuf,
    /// Validation data, for model selection and early stopping. Without it, a
    /// stratified --valid-fraction of the training data is held out.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Augmented variants of training examples (e.g. from `bertcls augment`):
    /// --sampling oversample tops classes up from them instead of repeating examples.
    #[arg(long)]
    pub augmented: Option<PathBuf>,
    /// Held-out share of the training data when no --valid file is given.
    #[arg(long, default_value_t = 0.1)]
    pub valid_fraction: f64,
    /// Test data, evaluated once with the best model at the end.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// How the data files are read.
    #[command(flatten)]
    #[serde(flatten)]
    pub columns: Columns,
    /// Run folder: OUT/model (the best model), OUT/training.json, with --test
    /// OUT/test-predictions.jsonl, and OUT/checkpoint while training (removed when the
    /// run completes).
    #[arg(long, default_value = DEFAULT_OUT)]
    pub out: PathBuf,
    /// Continue the interrupted run in --out from its last checkpoint (same flags).
    #[arg(long)]
    pub resume: bool,
    /// Keep OUT/checkpoint after the run completes.
    #[arg(long)]
    pub keep_checkpoint: bool,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub force: Force,

    /// Keep only the bottom K encoder layers: a smaller, faster model.
    #[arg(long, value_name = "K")]
    pub num_layers: Option<usize>,
    /// What the head reads: cls (`[CLS]` through BERT's pooler, as
    /// BertForSequenceClassification) or mean (mean of the token states).
    #[arg(long, default_value_t = ClassifierPooling::Cls)]
    pub pooling: ClassifierPooling,
    /// Head: `linear` (BERT's usual single layer) or hidden widths like 256 or 512x256.
    #[arg(long, default_value = "linear")]
    pub hidden: String,
    /// Activation of MLP heads: relu, gelu or tanh.
    #[arg(long, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Batch normalisation in MLP heads.
    #[arg(long)]
    pub batch_norm: bool,
    /// Dropout before the head (default: the model's hidden_dropout_prob).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Dropout after the embeddings and each sub-layer of BERT (default: the model's
    /// hidden_dropout_prob).
    #[arg(long, value_name = "P")]
    pub hidden_dropout: Option<f64>,
    /// Dropout on BERT's attention weights (default: the model's
    /// attention_probs_dropout_prob).
    #[arg(long, value_name = "P")]
    pub attention_dropout: Option<f64>,
    /// L1 penalty on the head's weight matrices, added to the loss.
    #[arg(long, default_value_t = 0.0)]
    pub l1: f64,
    /// Prompt-based classification: the text goes into this template, with one
    /// `[MASK]` whose state is scored against each label's word (--verbalizer) instead
    /// of a new head over `[CLS]`; e.g. `"{text} [SEP] This is about [MASK]."`
    /// ({text_b} for pairs). With a checkpoint that has a masked-LM head the scores
    /// are its logits of the words (PET); without one (all-MiniLM-L6-v2), the `[MASK]`
    /// state through a projection initialised to the identity, against the words'
    /// embeddings.
    #[arg(long, value_name = "TEMPLATE", requires = "verbalizer")]
    pub prompt: Option<String>,
    /// With --prompt: each label's word, label=word,… (a word of several pieces
    /// scores as their mean).
    #[arg(
        long,
        value_name = "LABEL=WORD,…",
        value_delimiter = ',',
        requires = "prompt"
    )]
    pub verbalizer: Vec<String>,

    /// Passes over the training data.
    #[arg(long, default_value_t = FineTuneConfig::default().epochs)]
    pub epochs: usize,
    /// Examples per forward/backward pass.
    #[arg(long, default_value_t = FineTuneConfig::default().batch_size)]
    pub batch_size: usize,
    /// Passes per optimizer step: effective batch = batch size × this.
    #[arg(long, default_value_t = FineTuneConfig::default().grad_accumulation)]
    pub grad_accumulation: usize,
    /// Peak learning rate.
    #[arg(long = "lr", default_value_t = FineTuneConfig::default().learning_rate)]
    pub learning_rate: f64,
    /// Share of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = FineTuneConfig::default().warmup_ratio)]
    pub warmup_ratio: f64,
    /// Decay after warm-up: linear, cosine or constant.
    #[arg(long, default_value_t = FineTuneConfig::default().schedule)]
    pub schedule: Schedule,
    /// AdamW weight decay (not applied to biases and LayerNorm).
    #[arg(long, default_value_t = FineTuneConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this; 0 disables clipping.
    #[arg(long, default_value_t = FineTuneConfig::default().max_grad_norm)]
    pub max_grad_norm: f64,
    /// Do not train the embedding layer.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// Do not train the bottom N encoder layers.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub freeze_layers: usize,
    /// Train only the top K encoder layers, the pooler and the head. The embeddings and
    /// the layers below run once, frozen as in inference, and their output (the token
    /// states after layer N − K) is cached in --state-cache-dir, so each step runs K
    /// layers instead of N and never touches the word embeddings. K = N is ordinary
    /// fine-tuning. The saved model is the whole model, as with any fine-tuning.
    #[arg(long, value_name = "K", conflicts_with_all = ["freeze_layers", "freeze_embeddings"])]
    pub train_layers: Option<usize>,
    /// Where the state caches of --train-layers go (reused while the model, the data
    /// and max_len stay the same).
    #[arg(long, default_value = crate::states::DEFAULT_STATE_CACHE_DIR)]
    pub state_cache_dir: PathBuf,
    /// Evaluate and checkpoint every N optimizer steps (default: every epoch).
    #[arg(long, value_name = "N")]
    pub eval_every: Option<usize>,
    /// What picks the best evaluation: loss, macro-f1 or accuracy.
    #[arg(long, default_value_t = FineTuneConfig::default().monitor)]
    pub monitor: Monitor,
    /// Stop after N evaluations without improvement (default: run every epoch).
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// The loss on the labels.
    #[command(flatten)]
    #[serde(flatten)]
    pub loss: LossOptions,
    /// Adversarial training.
    #[command(flatten)]
    #[serde(flatten)]
    pub adversary: AdversaryOptions,
    /// How probabilities become a class.
    #[command(flatten)]
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[arg(long, default_value_t = Sampling::None)]
    #[serde(with = "settings::as_text")]
    pub sampling: Sampling,
    /// Stratified K-fold cross-validation of the training data instead of one run:
    /// each fold's model (OUT/fold-N) trains on the other folds, selecting its
    /// weights on --valid (or a hold-out of its folds), and is scored on its own;
    /// OUT/cv.json gets every metric's mean ± std, OUT/cv-predictions.jsonl the
    /// out-of-fold predictions. Not with --augmented: a held-out example's variants
    /// would train the model that scores it.
    #[arg(long, value_name = "K", conflicts_with_all = ["resume", "test", "augmented", "logit_adjust", "threshold"])]
    pub cv: Option<usize>,
    /// Train on a bootstrap sample of the training data (as many records, drawn with
    /// replacement by --seed): one member of a bagged ensemble, which `bertcls
    /// ensemble` assembles from several such runs.
    #[arg(long)]
    pub bootstrap: bool,
    /// Decides the head's initial weights, the data order and the dropout masks.
    #[arg(long, default_value_t = FineTuneConfig::default().seed)]
    pub seed: u64,
}

impl FineTuneJob {
    /// The default recipe on the training file `train`, into the run folder `out`.
    pub fn new(train: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        let config = FineTuneConfig::default();
        Self {
            model: ModelOptions::default(),
            train: train.into(),
            valid: None,
            augmented: None,
            valid_fraction: 0.1,
            test: None,
            columns: Columns::default(),
            out: out.into(),
            resume: false,
            keep_checkpoint: false,
            force: Force::default(),
            num_layers: None,
            pooling: ClassifierPooling::Cls,
            hidden: "linear".into(),
            activation: Activation::Relu,
            batch_norm: false,
            dropout: None,
            hidden_dropout: None,
            attention_dropout: None,
            l1: 0.0,
            prompt: None,
            verbalizer: Vec::new(),
            epochs: config.epochs,
            batch_size: config.batch_size,
            grad_accumulation: config.grad_accumulation,
            learning_rate: config.learning_rate,
            warmup_ratio: config.warmup_ratio,
            schedule: config.schedule,
            weight_decay: config.weight_decay,
            max_grad_norm: config.max_grad_norm,
            freeze_embeddings: false,
            freeze_layers: 0,
            train_layers: None,
            state_cache_dir: crate::states::DEFAULT_STATE_CACHE_DIR.into(),
            eval_every: None,
            monitor: config.monitor,
            patience: None,
            loss: LossOptions::default(),
            adversary: AdversaryOptions::default(),
            decision: DecisionOptions::default(),
            sampling: Sampling::None,
            cv: None,
            bootstrap: false,
            seed: config.seed,
        }
    }

    /// The classifier and recipe these settings describe, validated as far as they
    /// can be without the data and the model.
    pub fn configs(&self) -> Result<(ClassifierConfig, FineTuneConfig)> {
        let classifier = ClassifierConfig {
            pooling: self.pooling,
            head: HeadConfig {
                hidden: HeadConfig::parse_hidden(&self.hidden).map_err(crate::JobError::Refused)?,
                activation: self.activation,
                batch_norm: self.batch_norm,
                ..HeadConfig::default()
            },
            dropout: self.dropout,
            prompt: self.prompt_config()?,
        };
        let config = FineTuneConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            grad_accumulation: self.grad_accumulation,
            learning_rate: self.learning_rate,
            warmup_ratio: self.warmup_ratio,
            schedule: self.schedule,
            weight_decay: self.weight_decay,
            max_grad_norm: self.max_grad_norm,
            freeze_embeddings: self.freeze_embeddings,
            freeze_layers: self.freeze_layers,
            train_layers: self.train_layers,
            eval_every: self.eval_every,
            monitor: self.monitor,
            patience: self.patience,
            loss: self.loss.apply(LossSpec::default())?,
            sampling: self.sampling,
            adversary: self.adversary.adversary()?,
            l1: self.l1,
            hidden_dropout: self.hidden_dropout,
            attention_dropout: self.attention_dropout,
            seed: self.seed,
            ..FineTuneConfig::default()
        };
        // Checked here too, so that a bad setting fails before the model loads.
        config.validate()?;
        classifier.validate()?;
        Ok((classifier, config))
    }

    /// The prompt and verbalizer, checked as far as they can be without the model.
    fn prompt_config(&self) -> Result<Option<PromptConfig>> {
        let Some(template) = &self.prompt else {
            return Ok(None);
        };
        template
            .parse::<text::PromptTemplate>()
            .map_err(|e| crate::error::refused!("--prompt: {e}"))?;
        if self.pooling != ClassifierPooling::Cls || self.hidden != "linear" || self.batch_norm {
            refuse!(
                "--prompt replaces pooling and head: leave out --pooling, --hidden and --batch-norm"
            );
        }
        let mut verbalizer = BTreeMap::new();
        for pair in &self.verbalizer {
            let (label, word) = pair
                .split_once('=')
                .filter(|(l, w)| !l.trim().is_empty() && !w.trim().is_empty())
                .with_context(|| format!("--verbalizer {pair:?}: expected LABEL=WORD"))?;
            if verbalizer
                .insert(label.trim().to_owned(), word.trim().to_owned())
                .is_some()
            {
                refuse!("--verbalizer names {label} twice");
            }
        }
        Ok(Some(PromptConfig {
            template: template.clone(),
            verbalizer,
            mlm_head: false,
            mask_token_id: 0,
        }))
    }

    /// [`run`](Self::run), the model also learning from `teacher`'s soft targets.
    pub(crate) fn run_with(
        &self,
        teacher: Option<&Teacher>,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneOutcome> {
        if let Some(k) = self.cv {
            if teacher.is_some() {
                refuse!("cross-validation and distillation do not go together");
            }
            return self.cross_validate_folds(k, observer);
        }
        let train = self.columns.read(&self.train, true, observer)?;
        let (train, valid) = self.with_validation(train, observer)?;
        let run = self.train_on(train, valid, teacher, observer)?;
        Ok(FineTuneOutcome::Trained(Box::new(run)))
    }

    /// `train` and the validation records: the validation file's, or a stratified
    /// share held out of `train`.
    fn with_validation(
        &self,
        train: Vec<Record>,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<Record>, Vec<Record>)> {
        match &self.valid {
            Some(path) => Ok((train, self.columns.read(path, true, observer)?)),
            None => {
                if !(0.0..0.5).contains(&self.valid_fraction) || self.valid_fraction == 0.0 {
                    refuse!("--valid-fraction must be in (0, 0.5) when no --valid file is given");
                }
                let splits = stratified_split(train, self.valid_fraction, 0.0, self.seed);
                observer.note(&format!(
                    "no --valid file: holding out {} of {} training records (stratified)",
                    splits.validation.len(),
                    splits.validation.len() + splits.train.len()
                ));
                Ok((splits.train, splits.validation))
            }
        }
    }

    /// `--cv K`: a model fine-tuned per fold (in OUT/fold-N), each scored on the fold
    /// it held out.
    fn cross_validate_folds(
        &self,
        k: usize,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneOutcome> {
        let records = self.columns.read(&self.train, true, observer)?;
        let labels = LabelMap::from_records(&records);
        let truth: Vec<usize> = records
            .iter()
            .map(|r| {
                r.label
                    .as_deref()
                    .and_then(|l| labels.index(l))
                    .unwrap_or(0)
            })
            .collect();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let device = self.model.backend.device()?;
        let data = CvData {
            labels: labels.names(),
            truth: &truth,
            ids: &ids,
        };
        let kind = artifacts::ArtifactKind::CrossValidation;
        let out = artifacts::claim_dir(&self.out, kind, self.force.overwrite()).context("--out")?;
        let cv = cross_validate(
            k,
            self.seed,
            &data,
            &out,
            observer,
            &mut |fold, observer| {
                let pick = |indices: &[usize]| -> Vec<Record> {
                    indices.iter().map(|&i| records[i].clone()).collect()
                };
                let (train, valid) = self.with_validation(pick(&fold.train), observer)?;
                let fold_job = FineTuneJob {
                    out: out.join(format!("fold-{}", fold.index + 1)),
                    cv: None,
                    ..self.clone()
                };
                let run = fold_job.train_on(train, valid, None, observer)?;
                let model = SavedClassifier::load(&run.model_dir, None, &device)?;
                let probabilities =
                    model.predict_proba(&pick(&fold.held_out), 64, &device, &mut |_| {})?;
                let columns = label_columns(model.labels(), labels.names())
                    .with_context(|| format!("fold {}", fold.index + 1))?;
                Ok(reorder_columns(&probabilities, &columns, labels.len()))
            },
        )?;
        Ok(FineTuneOutcome::CrossValidation { out, cv })
    }

    /// Fine-tunes on these records (the training and validation files already read),
    /// saves the best model and `training.json`, tests it when a test file is given.
    fn train_on(
        &self,
        train_records: Vec<Record>,
        valid_records: Vec<Record>,
        teacher: Option<&Teacher>,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneRun> {
        let started = Instant::now();
        // Checks the settings against the data and the model, so a refused one leaves
        // no folder behind.
        let mut run = self.prepare(train_records, valid_records, teacher, observer)?;
        if self.resume && !joint::has_checkpoint(&self.out) {
            return Err(match TrainingSummary::read(&self.out) {
                Some(finished) => JobError::RunFinished {
                    dir: self.out.clone(),
                    how: finished.stop_words().into(),
                    steps: finished.steps,
                    model: self.out.join("model"),
                },
                None => joint::JointError::NoCheckpoint {
                    dir: self.out.clone(),
                }
                .into(),
            });
        }
        let kind = artifacts::ArtifactKind::FineTuneRun;
        artifacts::claim_dir(&self.out, kind, self.force.overwrite()).context("--out")?;
        let outcome = self.train(&mut run, observer)?;
        let decision = self.decision_rule(&run, &outcome, observer)?;
        let model_dir = self.persist(&run, &outcome, &decision, observer)?;
        let test = self.test(&run, &outcome, &decision, observer)?;
        let summary = TrainingSummary::of(self, &run, &outcome, test.as_ref(), started);
        let summary_path = self.out.join("training.json");
        artifacts::write_json(&summary_path, &summary)?;
        if outcome.stop != StopReason::Interrupted && !self.keep_checkpoint {
            remove_checkpoint(&self.out)?;
        }
        Ok(FineTuneRun {
            model_dir,
            summary_path,
            train_seconds: outcome.train_seconds,
            summary,
        })
    }

    /// The data as examples, and the model to train, loaded with its tokenizer.
    fn prepare(
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
            config.seed,
            &device,
        )
        .with_context(|| format!("loading {}", self.model.model.display()))?;
        note_prompt(&parts.classifier, observer);
        let encoder = parts.encoder()?;
        let train = Examples::from_records(&train_records, &encoder, &labels, "the training set")
            .with_context(|| format!("in {}", self.train.display()))?;
        let train = self.with_augmented(train, &encoder, &labels, observer)?;
        let train = match teacher {
            Some(_) if train.variants > 0 => {
                refuse!("augmented variants have no teacher targets: leave out --augmented")
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
        let (train, valid) = match config.frozen_bottom(model.bert.num_layers()) {
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
        observer.note(&format!(
            "fine-tuning {} ({} layers, max_len {}) on {} examples{}, {} classes; validating on {}",
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
    fn maybe_bootstrap(&self, records: Vec<Record>, observer: &mut dyn Observer) -> Vec<Record> {
        if !self.bootstrap {
            return records;
        }
        let sample = data::bootstrap_sample(records.len(), self.seed);
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
    fn with_augmented(
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
    fn with_cached_states(
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

    /// The training loop, its events told to `observer`.
    fn train(&self, run: &mut LoadedRun, observer: &mut dyn Observer) -> Result<joint::FineTuned> {
        let model = run.model.take().expect("the model is trained once");
        let pad = run.parts.tokenizer.special_tokens().pad;
        let mut on_event = |event: &TrainEvent<'_>| {
            tell(observer, event);
            ControlFlow::Continue(())
        };
        let outcome = fine_tune(
            model,
            &run.train,
            &run.valid,
            run.labels.names(),
            &run.config,
            pad,
            &run.device,
            Some(RunDir {
                path: &self.out,
                resume: self.resume,
            }),
            &mut on_event,
        );
        observer.end();
        Ok(outcome?)
    }

    /// The decision rule asked for, chosen on the trained model.
    fn decision_rule(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        observer: &mut dyn Observer,
    ) -> Result<DecisionRule> {
        let train_labels = &run.train.labels[..run.train.originals()];
        let rule =
            self.decision
                .rule(run.labels.names(), train_labels, &run.valid.labels, || {
                    run.evaluate(&outcome.model, &run.valid, &mut |_| {})
                        .probabilities
                })?;
        if rule != DecisionRule::Argmax {
            observer.note(&format!("decision: {rule}"));
        }
        Ok(rule)
    }

    /// The best model as a Hugging Face folder in OUT/model.
    fn persist(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        decision: &DecisionRule,
        observer: &mut dyn Observer,
    ) -> Result<PathBuf> {
        let model_dir = self.out.join("model");
        let meta = ClassifierMeta {
            labels: run.labels.names().to_vec(),
            classifier: run.classifier.clone(),
            max_len: self.model.max_len,
            base_model: self.model.model.clone(),
            fine_tune: Some(run.config.clone()),
            decision: decision.clone(),
        };
        SavedClassifier::save(&outcome.model, &meta, &model_dir)?;
        if !meta.classifier.is_hugging_face_compatible() {
            observer.note(
                "note: with --pooling mean, an MLP head or a prompt the folder is not a \
                 BertForSequenceClassification; bertcls loads it, transformers would not",
            );
        }
        Ok(model_dir)
    }

    /// The kept model on the test file, with its inference speed in docs/s; a test
    /// class the training data lacks counts as misses.
    fn test(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        decision: &DecisionRule,
        observer: &mut dyn Observer,
    ) -> Result<Option<(ClassificationReport, f64)>> {
        let Some(path) = &self.test else {
            return Ok(None);
        };
        let records = self.columns.read(path, true, observer)?;
        let truth = true_labels(&records, path)?;
        let encodings = run
            .parts
            .encoder()?
            .encode_all(&records)
            .with_context(|| format!("in {}", path.display()))?;
        observer.begin("testing", records.len());
        let started = Instant::now();
        let probabilities = joint::predict_proba(
            &outcome.model,
            &encodings,
            run.parts.tokenizer.special_tokens().pad,
            run.config.eval_batch_size,
            &run.device,
            &mut |n| observer.advance(n),
        );
        observer.end();
        let docs_per_second = records.len() as f64 / started.elapsed().as_secs_f64();
        let names = run.labels.names();
        let predicted = decision.decide(&probabilities, names.len());
        let report = ClassificationReport::by_name(names, &truth, &predicted, Some(&probabilities));
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let truth: Vec<Option<String>> = truth.iter().map(|t| Some((*t).to_owned())).collect();
        let path = self.out.join(TEST_PREDICTIONS_FILE);
        write_predictions(&path, names, &ids, &truth, &probabilities, &predicted)
            .context("writing the test predictions into --out")?;
        observer.note(&format!("test predictions: {}", path.display()));
        Ok(Some((report, docs_per_second)))
    }
}

impl Job for FineTuneJob {
    type Output = FineTuneOutcome;

    /// The classifier's and the recipe's settings, each against its rule.
    fn validate(&self) -> Result<()> {
        self.configs().map(drop)
    }

    /// Fine-tunes (or, with `cv`, cross-validates) as the settings say.
    fn execute(&self, observer: &mut dyn Observer) -> Result<FineTuneOutcome> {
        self.run_with(None, observer)
    }
}

/// The kept model's predictions on the test file, in the run folder.
pub const TEST_PREDICTIONS_FILE: &str = "test-predictions.jsonl";

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

/// Everything a run needs once the data and the model are loaded.
struct LoadedRun {
    /// As built: a prompt's [MASK] id and MLM-head use filled in.
    classifier: ClassifierConfig,
    config: FineTuneConfig,
    device: Device,
    labels: LabelMap,
    /// Taken by the training loop.
    model: Option<BertClassifier>,
    parts: PretrainedBertParts,
    train: Examples,
    valid: Examples,
    /// The state caches `train` and `valid` read, if any.
    states: Vec<StatesUsed>,
}

impl LoadedRun {
    fn evaluate(
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
            let known = r.label.as_deref().is_none_or(|l| labels.index(l).is_some());
            if !known {
                *unseen
                    .entry(r.label.clone().unwrap_or_default())
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

/// The training loop's events as progress: examples trained, the loss, and a line
/// per evaluation.
fn tell(observer: &mut dyn Observer, event: &TrainEvent<'_>) {
    match event {
        TrainEvent::Started {
            total_steps,
            steps_done,
            total_examples,
            examples_done,
        } => {
            if *steps_done > 0 {
                observer.note(&format!(
                    "resuming from the checkpoint: {steps_done} of {total_steps} steps done"
                ));
            }
            observer.begin("training", *total_examples);
            observer.set_position(*examples_done);
        }
        TrainEvent::Step {
            epoch,
            loss,
            learning_rate,
            examples_done,
            ..
        } => {
            observer.set_position(*examples_done);
            observer.status(&format!(
                "epoch {} loss {loss:.4} lr {learning_rate:.1e}",
                epoch + 1
            ));
        }
        TrainEvent::Evaluating { examples } => {
            observer.status(&format!("evaluating {examples} validation docs"));
        }
        TrainEvent::Evaluated { record, improved } => observer.note(&format!(
            "step {:>6}  epoch {:.2}  train loss {:.4}  valid loss {:.4}  macro-F1 {:.4}  accuracy {:.4}{}",
            record.step,
            record.epoch,
            record.train_loss,
            record.valid_loss,
            record.valid_macro_f1,
            record.valid_accuracy,
            if *improved { "  *best" } else { "" }
        )),
    }
}

/// What [`FineTuneJob::run`] made.
pub enum FineTuneOutcome {
    /// One run: its model, `training.json` and reports.
    Trained(Box<FineTuneRun>),
    /// A cross-validation: a run per fold in `out/fold-N`, the summary in `out`.
    CrossValidation {
        /// The folder of cv.json and the folds.
        out: PathBuf,
        /// Every fold's report and every metric's mean ± std.
        cv: report::CrossValidation,
    },
}

impl FineTuneOutcome {
    /// The one run (not a cross-validation).
    pub fn trained(&self) -> Option<&FineTuneRun> {
        match self {
            FineTuneOutcome::Trained(run) => Some(run),
            FineTuneOutcome::CrossValidation { .. } => None,
        }
    }

    /// The folder to hand on: the saved model, or the cross-validation's folder.
    pub fn path(&self) -> &Path {
        match self {
            FineTuneOutcome::Trained(run) => &run.model_dir,
            FineTuneOutcome::CrossValidation { out, .. } => out,
        }
    }
}

/// A finished fine-tuning run.
pub struct FineTuneRun {
    /// The saved best model (a Hugging Face folder).
    pub model_dir: PathBuf,
    /// Where `summary` was written.
    pub summary_path: PathBuf,
    /// Time spent training, validation passes included.
    pub train_seconds: f64,
    /// Everything `training.json` holds.
    pub summary: TrainingSummary,
}

impl FineTuneRun {
    /// How the run ended, the kept evaluation and the reports, and where it was
    /// saved: lines for a terminal or a log.
    pub fn summary_lines(&self) -> Vec<String> {
        let summary = &self.summary;
        let mut lines = summary.ending();
        if let (Some(best), Some(report)) = (&summary.best, &summary.valid) {
            lines.push(format!(
                "best evaluation: step {} (epoch {:.2}); validation:",
                best.step, best.epoch
            ));
            lines.push(report::classification_text(report, false));
        }
        if let (Some(report), Some(docs_per_second)) = (&summary.test, summary.test_docs_per_second)
        {
            lines.push(format!("test ({docs_per_second:.1} docs/s):"));
            lines.push(report::classification_text(report, true));
        }
        lines.push(format!(
            "saved {} and {}",
            self.model_dir.display(),
            self.summary_path.display()
        ));
        lines
    }
}

/// `training.json`: the settings, the learning curves and the metrics of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The base model folder.
    pub model: PathBuf,
    /// The backend it ran on.
    pub backend: bert::BackendKind,
    /// Tokens per sequence.
    pub max_len: usize,
    /// Encoder layers trained.
    pub num_layers: usize,
    /// The classifier as built.
    pub classifier: ClassifierConfig,
    /// The recipe.
    pub config: FineTuneConfig,
    /// The classes, in the order of the model's outputs.
    pub labels: Vec<String>,
    /// Training examples, and augmented variants among the rows.
    pub train_examples: usize,
    /// Augmented variants trained on besides the examples.
    pub augmented_variants: usize,
    /// Whether the training data was a bootstrap sample.
    pub bootstrap: bool,
    /// Validation examples.
    pub valid_examples: usize,
    /// Why training ended.
    pub stop: StopReason,
    /// Optimizer steps.
    pub steps: usize,
    /// The evaluation whose model was kept.
    pub best: Option<EvalRecord>,
    /// One record per evaluation.
    pub history: Vec<EvalRecord>,
    /// The kept model on validation.
    pub valid: Option<ClassificationReport>,
    /// The kept model on the test file.
    pub test: Option<ClassificationReport>,
    /// Inference speed on the test file.
    pub test_docs_per_second: Option<f64>,
    /// Time in training steps, evaluation excluded.
    pub train_seconds: f64,
    /// Training examples per second of training time.
    pub train_docs_per_second: f64,
    /// The adversary's passes per batch, as trained.
    pub adversary: joint::Adversary,
    /// Forward/backward passes, the adversarial ones included.
    pub passes: usize,
    /// Batches trained on.
    pub batches: usize,
    /// The whole run's wall time.
    pub wall_seconds: f64,
    /// Peak resident memory, where it can be read.
    pub peak_rss_mib: Option<f64>,
    /// The state caches read in place of the frozen bottom layers (`--train-layers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StatesUsed>,
}

impl TrainingSummary {
    fn of(
        job: &FineTuneJob,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        test: Option<&(ClassificationReport, f64)>,
        started: Instant,
    ) -> Self {
        Self {
            model: job.model.model.clone(),
            backend: job.model.backend,
            max_len: job.model.max_len,
            num_layers: run.parts.config.num_hidden_layers,
            classifier: run.classifier.clone(),
            config: run.config.clone(),
            labels: run.labels.names().to_vec(),
            train_examples: run.train.originals(),
            augmented_variants: run.train.variants,
            bootstrap: job.bootstrap,
            valid_examples: run.valid.len(),
            stop: outcome.stop,
            steps: outcome.steps,
            best: outcome.best_record().cloned(),
            history: outcome.history.clone(),
            valid: outcome.valid_report.clone(),
            test: test.map(|(r, _)| r.clone()),
            test_docs_per_second: test.map(|(_, d)| *d),
            train_seconds: outcome.train_seconds,
            train_docs_per_second: outcome.examples_per_second(),
            adversary: run.config.adversary,
            passes: outcome.passes,
            batches: outcome.batches,
            wall_seconds: started.elapsed().as_secs_f64(),
            peak_rss_mib: machine::peak_rss_mib(),
            states: run.states.clone(),
        }
    }

    /// The `training.json` of the run in `dir`, when it has a readable one.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("training.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// How the run ended, in words.
    pub fn stop_words(&self) -> &'static str {
        match self.stop {
            StopReason::Completed => "done",
            StopReason::EarlyStopped => "stopped early",
            StopReason::Interrupted => "interrupted",
        }
    }

    /// How the run ended, its speed and memory, the adversary's cost, in words.
    pub fn ending(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} after {} steps: {:.1} training docs/s over {:.0} s; peak memory {}",
            self.stop_words(),
            self.steps,
            self.train_docs_per_second,
            self.train_seconds,
            self.peak_rss_mib
                .map_or("?".into(), |m| format!("{m:.0} MiB")),
        )];
        if self.adversary != joint::Adversary::None {
            lines.push(format!(
                "adversarial training, {}: {:.2} forward/backward passes per batch ({} in {} batches)",
                self.adversary,
                self.passes as f64 / self.batches.max(1) as f64,
                self.passes,
                self.batches,
            ));
        }
        lines
    }
}
