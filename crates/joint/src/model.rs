//! BERT plus a classification layer: Hugging Face's `BertForSequenceClassification`,
//! with a choice of pooling and of head.

use std::fmt;
use std::str::FromStr;

use bert::{BertConfig, BertInput, BertModel, BertPooler, Pooling};
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};
use data::SplitMix64;
use head::{Head, HeadConfig};
use serde::{Deserialize, Serialize};

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

impl fmt::Display for ClassifierPooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClassifierPooling::Cls => "cls",
            ClassifierPooling::Mean => "mean",
        })
    }
}

impl FromStr for ClassifierPooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cls" => Ok(ClassifierPooling::Cls),
            "mean" => Ok(ClassifierPooling::Mean),
            _ => Err(format!("unknown pooling {s:?}: expected cls or mean")),
        }
    }
}

/// The classifier put on top of BERT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    pub pooling: ClassifierPooling,
    /// The head over the pooled vector: the pipeline heads' architectures. No hidden
    /// layer is BERT's usual single classification layer.
    pub head: HeadConfig,
    /// Dropout on the pooled vector; by default the BERT's `hidden_dropout_prob`, as
    /// Hugging Face does when `classifier_dropout` is unset.
    pub dropout: Option<f64>,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            pooling: ClassifierPooling::Cls,
            head: HeadConfig::default(),
            dropout: None,
        }
    }
}

impl ClassifierConfig {
    /// True when the model is exactly a `BertForSequenceClassification`, so that
    /// `transformers` can load the saved folder and compute the same logits.
    pub fn is_hugging_face_compatible(&self) -> bool {
        self.pooling == ClassifierPooling::Cls && self.head.hidden.is_empty()
    }
}

/// BERT, pooling, dropout and a head: text in, logits out.
#[derive(Module, Debug)]
pub struct BertClassifier {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Head,
    #[module(skip)]
    pooling: ClassifierPooling,
}

impl BertClassifier {
    /// Puts a new head (initial weights from `rng`) on a BERT.
    pub fn new(
        mut bert: BertModel,
        bert_config: &BertConfig,
        config: &ClassifierConfig,
        classes: usize,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        match config.pooling {
            ClassifierPooling::Cls if bert.pooler.is_none() => {
                bert.pooler = Some(BertPooler::new(bert_config, device));
            }
            // Unused: dropped so that no forward pass computes it.
            ClassifierPooling::Mean => bert.pooler = None,
            ClassifierPooling::Cls => {}
        }
        let dropout = config.dropout.unwrap_or(bert_config.hidden_dropout_prob);
        Self {
            bert,
            dropout: DropoutConfig::new(dropout).init(),
            classifier: Head::new(&config.head, bert_config.hidden_size, classes, rng, device),
            pooling: config.pooling,
        }
    }

    /// Logits `[batch, classes]` for prediction.
    pub fn forward(&self, input: &BertInput) -> Tensor<2> {
        self.classifier.forward(self.pooled(input))
    }

    /// Logits for a training step: dropout is active (on an autodiff device); the
    /// head's own dropout masks come from `rng`.
    pub fn forward_train(&self, input: &BertInput, rng: &mut SplitMix64) -> Tensor<2> {
        self.classifier.forward_train(self.pooled(input), rng)
    }

    fn pooled(&self, input: &BertInput) -> Tensor<2> {
        let output = self.bert.forward(input);
        let pooled = match self.pooling {
            ClassifierPooling::Cls => output
                .pooler_output
                .expect("a cls-pooling classifier is built with a pooler"),
            ClassifierPooling::Mean => {
                Pooling::Mean.pool(output.last_hidden_state, input.attention_mask.clone())
            }
        };
        bert::kernels::dropout(&self.dropout, pooled)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classifier.output.weight.dims()[1]
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
