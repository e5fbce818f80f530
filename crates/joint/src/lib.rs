//! End-to-end mode: BERT and a classification head fine-tuned together.
//!
//! - [`BertClassifier`]: BERT, pooling (`[CLS]` through the pooler, or mean), dropout
//!   and a head (one linear layer, or the pipeline's MLP heads).
//! - [`fine_tune`]: the training loop (AdamW with decoupled decay, warm-up and decay,
//!   global-norm clipping, gradient accumulation, length-bucketed batches, freezing,
//!   early stopping, atomic checkpoints and exact resume).
//! - [`SavedClassifier`]: the result as a Hugging Face folder that `transformers`
//!   loads, and the loader for any `BertForSequenceClassification` folder.
//! - [`tune_contrastively`]: SetFit's contrastive tuning of the encoder on pairs of
//!   examples, for few labels.
//! - [`VerbalizerHead`]: prompt-based classification's scores at the `[MASK]`
//!   (the MLM logits of one word per label, or their analogue without an MLM head).

#![warn(missing_docs)]

mod adversarial;
mod batches;
mod checkpoint;
mod config;
mod contrastive;
mod error;
mod examples;
mod model;
mod optim;
mod predict;
mod rates;
mod saved;
mod train;
mod verbalizer;

use std::path::Path;

use bert::PretrainedBert;
use burn::tensor::Device;
use data::SplitMix64;

pub use adversarial::{Adversary, AdversaryKind, ascend};
pub use batches::{derived_seed, epoch_batches};
pub use checkpoint::{checkpoint_dir, has_checkpoint, remove_checkpoint};
pub use config::{FineTuneConfig, Optimization};
pub use contrastive::{
    ContrastiveConfig, ContrastiveTuned, Pair, cosine_similarity, draw_pairs, setfit_recipe,
    tune_contrastively,
};
pub use error::JointError;
pub use examples::{Examples, RecordEncoder};
pub use model::{BertClassifier, ClassifierConfig, ClassifierPooling, PromptConfig};
pub use optim::{WarmupSchedule, build_optimizer, clip_global_norm};
pub use predict::{embed_rows, predict_proba};
pub use saved::{ClassifierMeta, META_FILE, SavedClassifier};
pub use train::{
    EvalRecord, Evaluation, FineTuned, RunDir, Steps, StopReason, TrainEvent, evaluate_examples,
    fine_tune, steps_per_epoch,
};
pub use verbalizer::VerbalizerHead;

/// Stream of [`derived_seed`] for the head's initial weights.
const HEAD_STREAM: u64 = 3;

/// A pretrained BERT (its bottom `num_layers` when given) with a new head for
/// `labels`, on `device`'s autodiff twin, ready for [`fine_tune`]. The head's
/// initial weights derive from `seed`. With a prompt, the verbalizer starts from the
/// label words' embeddings and the checkpoint's masked-LM head when it has one.
pub fn load_for_training(
    model_dir: &Path,
    max_len: usize,
    num_layers: Option<usize>,
    classifier: &ClassifierConfig,
    labels: &[String],
    seed: u64,
    device: &Device,
) -> Result<(BertClassifier, PretrainedBertParts), JointError> {
    classifier.validate()?;
    let autodiff = device.clone().autodiff();
    let pretrained = PretrainedBert::load_layers(model_dir, max_len, num_layers, &autodiff)?;
    let mut classifier = classifier.clone();
    let verbalizer = match &mut classifier.prompt {
        Some(prompt) => {
            prompt.template()?;
            let pieces = prompt.pieces(labels, &pretrained.tokenizer)?;
            let mlm = pretrained.mlm_head(&autodiff)?;
            prompt.resolve(&pretrained.tokenizer, mlm.is_some());
            let words = pretrained.model.embeddings.word_embeddings.weight.val();
            Some(VerbalizerHead::new(&pieces, words, mlm, &autodiff))
        }
        None => None,
    };
    let mut rng = SplitMix64::new(derived_seed(seed, HEAD_STREAM, 0));
    let model = BertClassifier::new(
        pretrained.model,
        &pretrained.config,
        &classifier,
        labels.len(),
        verbalizer,
        &mut rng,
        &autodiff,
    );
    let parts = PretrainedBertParts {
        config: pretrained.config,
        tokenizer: pretrained.tokenizer,
        report: pretrained.report,
        classifier,
    };
    Ok((model, parts))
}

/// What else came with a pretrained BERT loaded by [`load_for_training`].
pub struct PretrainedBertParts {
    /// The model's `config.json`.
    pub config: bert::BertConfig,
    /// The folder's tokenizer.
    pub tokenizer: text::BertTokenizer,
    /// What loading the weights found.
    pub report: bert::LoadReport,
    /// The classifier as built: a prompt's `[MASK]` id and MLM-head use filled in.
    /// Save this one with the model.
    pub classifier: ClassifierConfig,
}

impl PretrainedBertParts {
    /// How the model reads records (its prompt, if any).
    pub fn encoder(&self) -> Result<RecordEncoder<'_>, JointError> {
        RecordEncoder::new(&self.tokenizer, &self.classifier)
    }
}
