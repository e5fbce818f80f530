//! BERT plus a classification layer: Hugging Face's `BertForSequenceClassification`,
//! with a choice of pooling and of head.

use std::collections::BTreeMap;

use bert::{BertConfig, BertInput, BertModel, BertOutput, BertPooler, Pooling};
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor, TensorData};
use data::SplitMix64;
use serde::{Deserialize, Serialize};
use text::{BertTokenizer, PromptTemplate};
use training::{Head, HeadConfig};

use crate::{JointError, Optimization, VerbalizerHead};

/// How the token states become the one vector the head reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierPooling {
    /// The `[CLS]` state through BERT's pooler (`tanh(W h + b)`), exactly as
    /// `BertForSequenceClassification` does; a checkpoint without a pooler gets a
    /// freshly initialised one, as in Hugging Face.
    #[default]
    Cls,
    /// The mean of the real tokens' final states (no pooler).
    Mean,
}

settings::serde_names!(ClassifierPooling);

/// The classifier put on top of BERT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// How token states become the vector the head reads.
    pub pooling: ClassifierPooling,
    /// The head over the pooled vector: the pipeline heads' architectures. No hidden
    /// layer is BERT's usual single classification layer.
    pub head: HeadConfig,
    /// Dropout on the pooled vector; by default the BERT's `hidden_dropout_prob`, as
    /// Hugging Face does when `classifier_dropout` is unset.
    pub dropout: Option<f64>,
    /// Prompt-based classification instead of pooling and a head: the text in a
    /// template, scored at its `[MASK]` against one word per label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptConfig>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            pooling: ClassifierPooling::Cls,
            head: HeadConfig::default(),
            dropout: None,
            prompt: None,
        }
    }
}

impl ClassifierConfig {
    /// Checks the head's shape and the dropout rates.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        self.head.validate()?;
        settings::optional_rate("dropout", self.dropout)
    }

    /// True when the model is exactly a `BertForSequenceClassification`, so that
    /// `transformers` can load the saved folder and compute the same logits.
    pub fn is_hugging_face_compatible(&self) -> bool {
        self.pooling == ClassifierPooling::Cls
            && self.head.hidden.is_empty()
            && self.prompt.is_none()
    }
}

/// A prompt and its verbalizer (see [`VerbalizerHead`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfig {
    /// `{text}` (and `{text_b}` for pairs), one `[MASK]`, e.g.
    /// `"{text} [SEP] This is about [MASK]."`
    pub template: String,
    /// Each label's word.
    pub verbalizer: BTreeMap<String, String>,
    /// Whether the scores are the checkpoint's masked-LM logits (it has an MLM head)
    /// rather than a projection's; set by [`PromptConfig::resolve`].
    #[serde(default)]
    pub mlm_head: bool,
    /// The tokenizer's `[MASK]` id, where the model reads its state; set by
    /// [`PromptConfig::resolve`].
    #[serde(default)]
    pub mask_token_id: u32,
}

impl PromptConfig {
    /// The template, parsed.
    pub fn template(&self) -> Result<PromptTemplate, JointError> {
        self.template
            .parse()
            .map_err(|e: text::TemplateError| JointError::Prompt(e.to_string()))
    }

    /// Each label's word pieces, in `labels`' order. A label without a word, or a
    /// word the vocabulary only knows as `[UNK]`, is an error naming it.
    pub fn pieces(
        &self,
        labels: &[String],
        tokenizer: &BertTokenizer,
    ) -> Result<Vec<Vec<u32>>, JointError> {
        if let Some(extra) = self.verbalizer.keys().find(|l| !labels.contains(l)) {
            return Err(JointError::Prompt(format!(
                "the verbalizer names {extra:?}, which is not a label ({})",
                labels.join(", ")
            )));
        }
        let unk = tokenizer.special_tokens().unk;
        labels
            .iter()
            .map(|label| {
                let word = self.verbalizer.get(label).ok_or_else(|| {
                    JointError::Prompt(format!(
                        "the verbalizer has no word for label {label:?}: add {label}=WORD"
                    ))
                })?;
                let ids = tokenizer
                    .encode_words(word)
                    .map_err(|e| JointError::Prompt(format!("{label}={word}: {e}")))?;
                if ids.is_empty() || ids.iter().all(|&id| id == unk) {
                    return Err(JointError::Prompt(format!(
                        "{label}={word}: the model's vocabulary has no piece of {word:?} (it reads as [UNK]); choose another word"
                    )));
                }
                Ok(ids)
            })
            .collect()
    }

    /// Fills in what the model decides: its `[MASK]` id and whether it has an MLM head.
    pub fn resolve(&mut self, tokenizer: &BertTokenizer, mlm_head: bool) {
        self.mask_token_id = tokenizer.special_tokens().mask;
        self.mlm_head = mlm_head;
    }
}

/// BERT, pooling, dropout and a head: text in, logits out. With a prompt, the
/// verbalizer replaces pooling and head.
#[derive(Module, Debug)]
pub struct BertClassifier {
    /// The encoder.
    pub bert: BertModel,
    /// Dropout on the pooled vector (training only).
    pub dropout: Dropout,
    /// The head over the pooled vector (none with a prompt).
    pub classifier: Option<Head>,
    /// The prompt's scores at the `[MASK]` (only with a prompt).
    pub verbalizer: Option<VerbalizerHead>,
    #[module(skip)]
    pooling: ClassifierPooling,
    /// The `[MASK]` id whose state the verbalizer reads.
    #[module(skip)]
    mask_token_id: u32,
}

impl BertClassifier {
    /// Puts a new head (initial weights from `rng`) on a BERT. With a prompt, the
    /// `verbalizer` [`load_for_training`](crate::load_for_training) built from the
    /// label words, or, when `None`, one of the right shapes for a saved model's
    /// weights to fill.
    pub fn new(
        mut bert: BertModel,
        bert_config: &BertConfig,
        config: &ClassifierConfig,
        classes: usize,
        verbalizer: Option<VerbalizerHead>,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        match config.pooling {
            _ if config.prompt.is_some() => bert.pooler = None,
            ClassifierPooling::Cls if bert.pooler.is_none() => {
                bert.pooler = Some(BertPooler::new(bert_config, device));
            }
            // Unused: dropped so that no forward pass computes it.
            ClassifierPooling::Mean => bert.pooler = None,
            ClassifierPooling::Cls => {}
        }
        let dropout = config.dropout.unwrap_or(bert_config.hidden_dropout_prob);
        let (classifier, verbalizer) = match &config.prompt {
            Some(prompt) => (
                None,
                Some(verbalizer.unwrap_or_else(|| {
                    VerbalizerHead::untrained(classes, bert_config, prompt.mlm_head, device)
                })),
            ),
            None => (
                Some(Head::new(
                    &config.head,
                    bert_config.hidden_size,
                    classes,
                    rng,
                    device,
                )),
                None,
            ),
        };
        Self {
            bert,
            dropout: DropoutConfig::new(dropout).init(),
            classifier,
            verbalizer,
            pooling: config.pooling,
            mask_token_id: config.prompt.as_ref().map_or(0, |p| p.mask_token_id),
        }
    }

    /// Logits `[batch, classes]` for prediction.
    pub fn forward(&self, input: &BertInput) -> Tensor<2> {
        match (&self.verbalizer, &self.classifier) {
            (Some(verbalizer), _) => verbalizer.forward(self.mask_states(input, None)),
            (None, Some(head)) => head.forward(self.pooled(input, None)),
            (None, None) => unreachable!("a classifier has a head or a verbalizer"),
        }
    }

    /// Logits for a training step: dropout is active (on an autodiff device); the
    /// head's own dropout masks come from `rng`.
    pub fn forward_train(&self, input: &BertInput, rng: &mut SplitMix64) -> Tensor<2> {
        self.train_logits(input, None, rng)
    }

    /// [`forward_train`](Self::forward_train) with `perturbation`
    /// (`[batch, seq, hidden]`) added to the word embeddings of the batch: the
    /// adversarial pass (see [`Adversary`](crate::Adversary)).
    pub fn forward_perturbed(
        &self,
        input: &BertInput,
        perturbation: Tensor<3>,
        rng: &mut SplitMix64,
    ) -> Tensor<2> {
        self.train_logits(input, Some(perturbation), rng)
    }

    fn train_logits(
        &self,
        input: &BertInput,
        perturbation: Option<Tensor<3>>,
        rng: &mut SplitMix64,
    ) -> Tensor<2> {
        match (&self.verbalizer, &self.classifier) {
            (Some(verbalizer), _) => verbalizer.forward(self.mask_states(input, perturbation)),
            (None, Some(head)) => head.forward_train(self.pooled(input, perturbation), rng),
            (None, None) => unreachable!("a classifier has a head or a verbalizer"),
        }
    }

    fn encode(&self, input: &BertInput, perturbation: Option<Tensor<3>>) -> BertOutput {
        match perturbation {
            Some(delta) => self.bert.forward_perturbed(input, delta),
            None => self.bert.forward(input),
        }
    }

    /// The final state at each sequence's `[MASK]` (a prompt puts exactly one in
    /// every sequence): a masked sum, so no gather is needed on any backend.
    fn mask_states(&self, input: &BertInput, perturbation: Option<Tensor<3>>) -> Tensor<2> {
        let hidden = self.encode(input, perturbation).last_hidden_state;
        let at_mask = input
            .input_ids
            .clone()
            .equal_elem(i64::from(self.mask_token_id))
            .float()
            .unsqueeze_dim::<3>(2);
        (hidden * at_mask).sum_dim(1).squeeze_dim::<2>(1)
    }

    /// The pooled vector the head reads, `[batch, hidden]`, without the head's
    /// dropout: a sentence embedding, as contrastive tuning compares them. BERT's own
    /// dropout is active on an autodiff device. A prompt classifier has none.
    pub fn embed(&self, input: &BertInput) -> Tensor<2> {
        self.pool(self.encode(input, None), input)
    }

    fn pooled(&self, input: &BertInput, perturbation: Option<Tensor<3>>) -> Tensor<2> {
        let pooled = self.pool(self.encode(input, perturbation), input);
        bert::kernels::dropout(&self.dropout, pooled)
    }

    fn pool(&self, output: BertOutput, input: &BertInput) -> Tensor<2> {
        match self.pooling {
            ClassifierPooling::Cls => output
                .pooler_output
                .expect("a cls-pooling classifier is built with a pooler"),
            ClassifierPooling::Mean => {
                Pooling::Mean.pool(output.last_hidden_state, input.attention_mask.clone())
            }
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match (&self.verbalizer, &self.classifier) {
            (Some(verbalizer), _) => verbalizer.classes(),
            (None, Some(head)) => head.output.weight.dims()[1],
            (None, None) => 0,
        }
    }

    /// The classifier started from given weights instead of random ones: `weight`
    /// (`hidden × classes`, row-major) and `bias` (one per class), such as a pipeline
    /// head's over the same pooled vectors (LP-FT: fine-tuning from a trained linear
    /// head, so that the first steps do not push the encoder's features towards a
    /// random head's errors). Only a linear classifier has such weights.
    pub fn with_head_weights(
        mut self,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, JointError> {
        let Some(head) = self
            .classifier
            .as_mut()
            .filter(|head| head.hidden.is_empty())
        else {
            return Err(JointError::Data(
                "only a linear classifier (no hidden layers, no prompt) starts from a \
                 linear head's weights"
                    .into(),
            ));
        };
        let [hidden, classes] = head.output.weight.dims();
        if weight.len() != hidden * classes || bias.len() != classes {
            return Err(JointError::Data(format!(
                "the starting head maps {} values to {} classes; this classifier reads \
                 {hidden} values and has {classes} classes",
                weight.len() / bias.len().max(1),
                bias.len()
            )));
        }
        let device = head.output.weight.device();
        head.output.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [hidden, classes]),
            &device,
        ));
        head.output.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [classes]),
            &device,
        )));
        Ok(self)
    }

    /// The model as `optimization` trains it: the bottom frozen, BERT's dropout rates
    /// set, and the layers below `train_layers` run as inference (their states may come
    /// from a cache).
    pub fn ready_for(self, optimization: &Optimization) -> Self {
        let mut model =
            self.freeze_bottom(optimization.freeze_embeddings, optimization.freeze_layers);
        model
            .bert
            .set_dropout(optimization.hidden_dropout, optimization.attention_dropout);
        if let Some(bottom) = optimization.frozen_bottom(model.bert.num_layers()) {
            model.bert = model.bert.freeze_bottom_as_inference(bottom);
        }
        model
    }

    /// Stops gradients to the embedding layer (when `embeddings`) and to the bottom
    /// `layers` encoder layers. Their dropout stays active, as with
    /// `requires_grad = False` in PyTorch; the optimizer never touches them.
    pub fn freeze_bottom(mut self, embeddings: bool, layers: usize) -> Self {
        if embeddings {
            self.bert.embeddings = self.bert.embeddings.no_grad();
        }
        self.bert.encoder.layer = std::mem::take(&mut self.bert.encoder.layer)
            .into_iter()
            .enumerate()
            .map(|(i, layer)| if i < layers { layer.no_grad() } else { layer })
            .collect();
        self
    }
}
