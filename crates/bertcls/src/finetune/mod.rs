//! End-to-end mode as a job: BERT and a classification head fine-tuned together,
//! in phases (data → settings → training → decision → saving → testing), the best
//! model saved as a Hugging Face folder and the run described in `training.json`.
//!
//! `mod.rs` holds the job's settings; [`prepare`] loads the data and the model,
//! [`run`] trains, decides, saves and tests, [`summary`] is what a run leaves.

mod contrastive;
mod prepare;
mod run;
mod start_head;
mod summary;

use std::collections::BTreeMap;
use std::path::PathBuf;

use data::{LabelledText, Sampling};
use joint::{
    ClassifierConfig, ClassifierPooling, ContrastiveConfig, FineTuneConfig, Optimization,
    PromptConfig,
};
use serde::{Deserialize, Serialize};
use training::{Activation, HeadConfig, HiddenSizes, LossSpec};

use crate::Job;
use crate::Observer;
use crate::error::{Result, refuse};
use crate::options::{
    AdversaryOptions, Columns, DecisionOptions, Force, LossOptions, ModelOptions,
};

pub use prepare::StatesUsed;
pub use summary::{FineTuneOutcome, FineTuneRun, TEST_PREDICTIONS_FILE, TrainingSummary};

/// The run folder when none is named.
pub const DEFAULT_OUT: &str = "runs/finetune";

/// Fine-tune BERT and a classification head together (`bertcls finetune`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneJob {
    /// The base model.
    #[serde(flatten)]
    pub model: ModelOptions,
    /// Training data (JSONL, CSV or TSV; `-`: standard input).
    pub train: PathBuf,
    /// Validation data, for model selection and early stopping. Without it, a
    /// stratified `valid_fraction` of the training data is held out.
    pub valid: Option<PathBuf>,
    /// Augmented variants of training examples (e.g. from `bertcls augment`):
    /// `sampling` oversample tops classes up from them instead of repeating examples.
    pub augmented: Option<PathBuf>,
    /// Held-out share of the training data when no `valid` file is given.
    pub valid_fraction: f64,
    /// Test data, evaluated once with the best model at the end.
    pub test: Option<PathBuf>,
    /// How the data files are read.
    #[serde(flatten)]
    pub columns: Columns,
    /// Run folder: OUT/model (the best model), OUT/training.json, with `test`
    /// OUT/test-predictions.jsonl, and OUT/checkpoint while training (removed when the
    /// run completes).
    pub out: PathBuf,
    /// Continue the interrupted run in `out` from its last checkpoint (same flags).
    pub resume: bool,
    /// Keep OUT/checkpoint after the run completes.
    pub keep_checkpoint: bool,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[serde(flatten)]
    pub force: Force,

    /// Keep only the bottom K encoder layers: a smaller, faster model.
    pub num_layers: Option<usize>,
    /// What the head reads: cls (`[CLS]` through BERT's pooler, as
    /// BertForSequenceClassification) or mean (mean of the token states).
    pub pooling: ClassifierPooling,
    /// Head: `linear` (BERT's usual single layer) or hidden widths like 256 or 512x256.
    pub hidden: HiddenSizes,
    /// Activation of MLP heads: relu, gelu or tanh.
    pub activation: Activation,
    /// Batch normalisation in MLP heads.
    pub batch_norm: bool,
    /// Dropout before the head (default: the model's hidden_dropout_prob).
    pub dropout: Option<f64>,
    /// Start the linear classifier from a pipeline head (a folder from `bertcls head
    /// sweep` or `head train`) instead of random weights, its standardiser folded in:
    /// LP-FT (Kumar et al. 2022), fine-tuning from a head already right on the frozen
    /// features. The head must be linear and trained on mean-pooled final states of
    /// the same model, so the classifier pools by the mean too.
    pub start_head: Option<PathBuf>,
    /// Contrastive tuning for few labels (SetFit, Tunstall et al. 2022) instead of
    /// training on the labels directly: the encoder learns from pairs of training
    /// examples to embed a label's examples close together and different labels'
    /// apart; then logistic regression, SetFit's head, is fitted on the tuned
    /// embeddings and becomes the classifier's layer. Needs mean pooling and a linear
    /// head; the optimization settings apply to the pairs (SetFit's recipe:
    /// 1 epoch at 2e-5, 16 pairs per step, no weight decay).
    pub contrastive: bool,
    /// With `contrastive`: the pairs it draws.
    #[serde(flatten)]
    pub contrastive_pairs: ContrastiveConfig,
    /// Prompt-based classification: the text goes into this template, with one
    /// `[MASK]` whose state is scored against each label's word (`verbalizer`) instead
    /// of a new head over `[CLS]`; e.g. `"{text} [SEP] This is about [MASK]."`
    /// ({text_b} for pairs). With a checkpoint that has a masked-LM head the scores
    /// are its logits of the words (PET); without one (all-MiniLM-L6-v2), the `[MASK]`
    /// state through a projection initialised to the identity, against the words'
    /// embeddings.
    pub prompt: Option<String>,
    /// With `prompt`: each label's word, label=word,… (a word of several pieces
    /// scores as their mean).
    pub verbalizer: Vec<LabelledText>,

    /// How the weights are optimised: epochs, batch, learning rate and its schedule,
    /// weight decay, clipping, what is frozen, dropout, evaluation and early
    /// stopping, the seed.
    #[serde(flatten)]
    pub optimization: Optimization,
    /// Where the state caches of `train_layers` go (reused while the model, the data
    /// and max_len stay the same).
    pub state_cache_dir: PathBuf,
    /// The loss on the labels.
    #[serde(flatten)]
    pub loss: LossOptions,
    /// Adversarial training.
    #[serde(flatten)]
    pub adversary: AdversaryOptions,
    /// How probabilities become a class.
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[serde(with = "settings::as_text")]
    pub sampling: Sampling,
    /// Stratified K-fold cross-validation of the training data instead of one run:
    /// each fold's model (OUT/fold-N) trains on the other folds, selecting its
    /// weights on `valid` (or a hold-out of its folds), and is scored on its own;
    /// OUT/cv.json gets every metric's mean ± std, OUT/cv-predictions.jsonl the
    /// out-of-fold predictions. Not with `augmented`: a held-out example's variants
    /// would train the model that scores it.
    pub cv: Option<usize>,
    /// Train on a bootstrap sample of the training data (as many records, drawn with
    /// replacement by `seed`): one member of a bagged ensemble, which `bertcls
    /// ensemble` assembles from several such runs.
    pub bootstrap: bool,
}

impl FineTuneJob {
    /// The default recipe on the training file `train`, into the run folder `out`.
    pub fn new(train: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
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
            hidden: HiddenSizes::linear(),
            activation: Activation::Relu,
            batch_norm: false,
            dropout: None,
            start_head: None,
            contrastive: false,
            contrastive_pairs: ContrastiveConfig::default(),
            prompt: None,
            verbalizer: Vec::new(),
            state_cache_dir: crate::states::DEFAULT_STATE_CACHE_DIR.into(),
            loss: LossOptions::default(),
            adversary: AdversaryOptions::default(),
            decision: DecisionOptions::default(),
            sampling: Sampling::None,
            optimization: Optimization::default(),
            cv: None,
            bootstrap: false,
        }
    }

    /// The classifier and recipe these settings describe, validated as far as they
    /// can be without the data and the model.
    pub fn configs(&self) -> Result<(ClassifierConfig, FineTuneConfig)> {
        let classifier = ClassifierConfig {
            pooling: self.pooling,
            head: HeadConfig {
                hidden: self.hidden.0.clone(),
                activation: self.activation,
                batch_norm: self.batch_norm,
                ..HeadConfig::default()
            },
            dropout: self.dropout,
            prompt: self.prompt_config()?,
        };
        let config = FineTuneConfig {
            optimization: self.optimization.clone(),
            loss: self.loss.apply(LossSpec::default())?,
            sampling: self.sampling,
            adversary: self.adversary.adversary()?,
            // A classifier started from a trained head keeps it unless training gains.
            evaluate_start: self.start_head.is_some(),
            ..FineTuneConfig::default()
        };
        // Checked here too, so that a bad setting fails before the model loads.
        config.validate()?;
        classifier.validate()?;
        self.check_start_head()?;
        self.check_contrastive(&config)?;
        Ok((classifier, config))
    }

    /// Contrastive tuning's settings, and what it does not go with: it trains on pairs,
    /// so nothing that shapes the loss on labels, and a linear head over mean pooling
    /// (the form its fitted head is folded into).
    fn check_contrastive(&self, config: &FineTuneConfig) -> Result<()> {
        if !self.contrastive {
            return Ok(());
        }
        self.contrastive_pairs.validate()?;
        if self.pooling != ClassifierPooling::Mean || !self.hidden.is_linear() || self.batch_norm {
            refuse!(
                [contrastive] " tunes mean-pooled embeddings and fits a linear head on them: \
                 add " [pooling] " mean, leave out " [hidden] " and " [batch_norm]
            );
        }
        let unsupported = [
            (self.prompt.is_some(), "prompt"),
            (self.start_head.is_some(), "start_head"),
            (self.augmented.is_some(), "augmented"),
            (config.adversary != joint::Adversary::None, "adv"),
            (config.sampling != Sampling::None, "sampling"),
            (config.loss != LossSpec::default(), "loss"),
            (config.optimization.patience.is_some(), "patience"),
            (config.optimization.eval_every.is_some(), "eval_every"),
            (config.optimization.min_steps > 0, "min_steps"),
            (
                config.optimization.grad_accumulation > 1,
                "grad_accumulation",
            ),
            (config.optimization.l1 > 0.0, "l1"),
        ];
        if let Some(&(_, setting)) = unsupported.iter().find(|(set, _)| *set) {
            return Err(crate::error::JobError::Refused(
                settings::message!(
                    [contrastive] " trains on pairs of examples, with no validation until \
                     the head: leave out "
                )
                .setting(setting),
            ));
        }
        Ok(())
    }

    /// The prompt and verbalizer, checked as far as they can be without the model.
    fn prompt_config(&self) -> Result<Option<PromptConfig>> {
        let Some(template) = &self.prompt else {
            return Ok(None);
        };
        template
            .parse::<text::PromptTemplate>()
            .map_err(|e| crate::error::refused!([prompt] ": {e}"))?;
        if self.pooling != ClassifierPooling::Cls || !self.hidden.is_linear() || self.batch_norm {
            refuse!(
                [prompt] " replaces pooling and head: leave out " [pooling] ", " [hidden] " and "
                [batch_norm]
            );
        }
        let mut verbalizer = BTreeMap::new();
        for LabelledText { label, text: word } in &self.verbalizer {
            if verbalizer.insert(label.clone(), word.clone()).is_some() {
                refuse!([verbalizer] " names {label} twice");
            }
        }
        Ok(Some(PromptConfig {
            template: template.clone(),
            verbalizer,
            mlm_head: false,
            mask_token_id: 0,
        }))
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
