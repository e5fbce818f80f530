//! How fine-tuning runs: every setting, with the defaults of common BERT recipes.

use data::Sampling;
use serde::{Deserialize, Serialize};
use training::{DistillationLoss, LossSpec};
use training::{Monitor, Schedule};

use crate::Adversary;

/// How the weights are optimised: the schedule and its length, what is frozen,
/// regularisation, when to evaluate and stop, and the seed; each setting one plain
/// value. Flattened into [`FineTuneConfig`]'s serde form, so a job that runs
/// fine-tuning holds it as its settings, under the same names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Optimization {
    /// Passes over the training data.
    pub epochs: usize,
    /// At least this many optimizer steps: on data so small that `epochs` passes
    /// would take fewer, as many more epochs as reach it (see
    /// [`epochs_for`](Self::epochs_for)). A recipe counted in epochs alone does
    /// almost nothing on 24 examples (2 steps an epoch at batch 16).
    pub min_steps: usize,
    /// Examples per forward/backward pass.
    pub batch_size: usize,
    /// Passes whose gradients are summed before each optimizer step: the effective
    /// batch is `batch_size × grad_accumulation`, at the memory cost of one pass.
    pub grad_accumulation: usize,
    /// Peak learning rate of the encoder's top layer (and the pooler), reached at the
    /// end of warm-up.
    pub learning_rate: f64,
    /// Peak learning rate of the head; by default `learning_rate`. A new head starts
    /// far from its optimum while the pretrained body is near its own, so recipes give
    /// the head a larger rate (SetFit's `head_learning_rate`).
    pub head_learning_rate: Option<f64>,
    /// Layer-wise decay of the body's rate: each encoder layer trains at this factor of
    /// the rate of the layer above, the embeddings at this factor of the bottom
    /// layer's (Sun et al. 2019). 1 gives every layer `learning_rate`.
    pub layer_decay: f64,
    /// Fraction of the optimizer steps spent warming up linearly from 0.
    pub warmup_ratio: f64,
    /// The decay after warm-up (linear, cosine or constant).
    pub schedule: Schedule,
    /// AdamW's decoupled weight decay, on weight matrices and embeddings only.
    pub weight_decay: f64,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub max_grad_norm: f64,
    /// Do not train the embedding layer.
    pub freeze_embeddings: bool,
    /// Do not train the bottom this many encoder layers.
    pub freeze_layers: usize,
    /// Train only the top this many encoder layers (with the pooler and the head):
    /// the embeddings and the layers below are frozen as they run in inference (no
    /// dropout), so their output can come from a state cache
    /// ([`Examples::with_states`](crate::Examples::with_states)) instead of being
    /// computed at every step. All the layers is ordinary fine-tuning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_layers: Option<usize>,
    /// Evaluate (and checkpoint) every this many optimizer steps; by default at the
    /// end of each epoch.
    pub eval_every: Option<usize>,
    /// What picks the best evaluation, whose weights are kept.
    pub monitor: Monitor,
    /// Stop after this many evaluations without a gain above `min_delta`; by default
    /// training runs all epochs.
    pub patience: Option<usize>,
    /// L1 penalty on the head's weight matrices, added to the loss (sparse heads; BERT's
    /// own weights are left to weight decay).
    pub l1: f64,
    /// Dropout after the embeddings and each sub-layer; by default the checkpoint's
    /// `hidden_dropout_prob`.
    pub hidden_dropout: Option<f64>,
    /// Dropout on the attention weights; by default the checkpoint's
    /// `attention_probs_dropout_prob`.
    pub attention_dropout: Option<f64>,
    /// Decides the head's initial weights, the data order and every dropout mask.
    pub seed: u64,
}

impl Default for Optimization {
    fn default() -> Self {
        Self {
            epochs: 3,
            min_steps: 0,
            batch_size: 16,
            grad_accumulation: 1,
            learning_rate: 5e-5,
            head_learning_rate: None,
            layer_decay: 1.0,
            warmup_ratio: 0.1,
            schedule: Schedule::Linear,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            freeze_embeddings: false,
            freeze_layers: 0,
            train_layers: None,
            eval_every: None,
            monitor: Monitor::Loss,
            patience: None,
            l1: 0.0,
            hidden_dropout: None,
            attention_dropout: None,
            seed: 42,
        }
    }
}

impl Optimization {
    /// Checks every setting against its rule.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        use settings::{at_least_one, non_negative, optional_rate, positive, rate};
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("grad_accumulation", self.grad_accumulation)?;
        if let Some(every) = self.eval_every {
            at_least_one("eval_every", every)?;
        }
        if let Some(patience) = self.patience {
            at_least_one("patience", patience)?;
        }
        if let Some(top) = self.train_layers {
            at_least_one("train_layers", top)?;
            if self.freeze_layers > 0 || self.freeze_embeddings {
                return Err(settings::SettingError::new(
                    "train_layers",
                    top,
                    "decides what is frozen itself: leave freeze_layers and \
                     freeze_embeddings out",
                ));
            }
        }
        positive("learning_rate", self.learning_rate)?;
        if let Some(rate) = self.head_learning_rate {
            positive("head_learning_rate", rate)?;
        }
        if !(self.layer_decay > 0.0 && self.layer_decay <= 1.0) {
            return Err(settings::SettingError::new(
                "layer_decay",
                self.layer_decay,
                "must be in (0, 1]: 1 trains every layer at the same rate, 0.9 each layer \
                 at 0.9 times the rate of the layer above",
            ));
        }
        rate("warmup_ratio", self.warmup_ratio)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("max_grad_norm", self.max_grad_norm)?;
        non_negative("l1", self.l1)?;
        optional_rate("hidden_dropout", self.hidden_dropout)?;
        optional_rate("attention_dropout", self.attention_dropout)
    }

    /// The epochs a run of `steps_per_epoch` optimizer steps an epoch trains for:
    /// `epochs`, or more where that many fall short of `min_steps`.
    pub fn epochs_for(&self, steps_per_epoch: usize) -> usize {
        self.epochs
            .max(self.min_steps.div_ceil(steps_per_epoch.max(1)))
    }

    /// The bottom encoder layers frozen as in inference, when only the top
    /// [`train_layers`](Self::train_layers) of a model of `num_layers` train: the
    /// layer whose output a state cache must hold. `None` when every layer trains.
    pub fn frozen_bottom(&self, num_layers: usize) -> Option<usize> {
        self.train_layers
            .filter(|&top| top < num_layers)
            .map(|top| num_layers - top)
    }
}

/// Every setting of a fine-tuning run. Recorded in checkpoints (a resumed run must
/// use the same) and in the saved model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FineTuneConfig {
    /// How the weights are optimised.
    #[serde(flatten)]
    pub optimization: Optimization,
    /// The least gain in `monitor` that counts as one.
    pub min_delta: f64,
    /// The loss on the labels.
    #[serde(deserialize_with = "training::spec_or_kind")]
    pub loss: LossSpec,
    /// Which examples each epoch trains on (over- or under-sampling).
    pub sampling: Sampling,
    /// Adversarial passes on the word embeddings (FGM, PGD) added to each batch.
    pub adversary: Adversary,
    /// Learn from a teacher's soft targets (carried by the training examples) as well
    /// as from the labels, which `loss` scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distillation: Option<DistillationLoss>,
    /// Length buckets span this many batches: larger buckets mean less padding but
    /// batches of more uniform length.
    pub bucket_batches: usize,
    /// Examples per forward pass when evaluating.
    pub eval_batch_size: usize,
    /// Evaluate the starting weights before the first step, so that they compete for
    /// the weights kept: a classifier started from a trained head then never ends
    /// worse on validation than it began. Its record has no training loss (0).
    pub evaluate_start: bool,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            optimization: Optimization::default(),
            min_delta: 1e-4,
            loss: LossSpec::default(),
            sampling: Sampling::None,
            adversary: Adversary::None,
            distillation: None,
            bucket_batches: 50,
            eval_batch_size: 64,
            evaluate_start: false,
        }
    }
}

impl FineTuneConfig {
    /// Checks every setting, the class weights against `labels` (the training data's
    /// classes) and the frozen layers against the model's `num_layers`: the same
    /// rules as a head's for the same settings.
    pub fn validate_for(
        &self,
        labels: &[String],
        num_layers: usize,
    ) -> Result<(), settings::SettingError> {
        self.validate()?;
        self.loss.validate_for(labels)?;
        let optimization = &self.optimization;
        if optimization.freeze_layers > num_layers {
            return Err(settings::SettingError::new(
                "freeze_layers",
                optimization.freeze_layers,
                format!("the model has {num_layers} encoder layers"),
            ));
        }
        if let Some(top) = optimization.train_layers {
            if top > num_layers {
                return Err(settings::SettingError::new(
                    "train_layers",
                    top,
                    format!("the model has {num_layers} encoder layers"),
                ));
            }
            if top < num_layers && self.adversary != Adversary::None {
                return Err(settings::SettingError::new(
                    "train_layers",
                    top,
                    format!(
                        "adversarial training perturbs the word embeddings, below the \
                         {} frozen layers, where no gradient goes: train all \
                         {num_layers} layers or leave the adversary out",
                        num_layers - top
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks every setting that can be checked without the data.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        use settings::{at_least_one, non_negative};
        self.optimization.validate()?;
        at_least_one("eval_batch_size", self.eval_batch_size)?;
        at_least_one("bucket_batches", self.bucket_batches)?;
        non_negative("min_delta", self.min_delta)?;
        self.loss.validate()?;
        self.sampling.validate()?;
        self.adversary.validate()?;
        if let Some(distillation) = &self.distillation {
            distillation.validate()?;
        }
        Ok(())
    }

    /// The settings that differ from `other`, as `name: ours ≠ theirs`.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let (ours, theirs) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) else {
            return Vec::new();
        };
        ours.iter()
            .filter(|(key, value)| theirs.get(*key) != Some(value))
            .map(|(key, value)| {
                let other = theirs.get(key).cloned().unwrap_or_default();
                format!("{key}: {value} ≠ {other}")
            })
            .collect()
    }
}
