//! The masked-language-model head of `BertForMaskedLM` and `BertForPreTraining`
//! (`cls.predictions`): what BERT predicts at a `[MASK]`. Prompt-based classification
//! reads it at the verbalizer's words.
//!
//! `transform` (dense, activation, LayerNorm) then a projection onto the vocabulary
//! whose weights are the word embeddings (tied, as in every BERT checkpoint; the
//! checkpoints do not even store them twice) plus a bias per vocabulary entry.

use std::path::Path;

use burn::module::{Initializer, Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::store::KeyRemapper;
use burn::tensor::{Device, Tensor};

use crate::encoder::activate;
use crate::kernels::layer_norm;
use crate::layers::{layer_norm_layer, linear};
use crate::weights::apply_checkpoint;
use crate::{BertConfig, BertError, HiddenAct};

/// `cls.predictions.transform`: `LayerNorm(act(W h + b))`.
#[derive(Module, Debug)]
pub struct BertPredictionTransform {
    /// The hidden-to-hidden projection.
    pub dense: Linear,
    /// Its LayerNorm.
    pub layer_norm: LayerNorm,
    #[module(skip)]
    activation: HiddenAct,
    #[module(skip)]
    layer_norm_eps: f64,
}

impl BertPredictionTransform {
    /// `LayerNorm(act(W h + b))` of states `[n, hidden]`.
    pub fn forward(&self, hidden: Tensor<2>) -> Tensor<2> {
        let x = activate(self.activation, self.dense.forward(hidden));
        layer_norm(&self.layer_norm, self.layer_norm_eps, x)
    }
}

/// `cls.predictions`: the transform and the output bias; the output weights are the
/// word embeddings, passed in by the caller that owns them.
#[derive(Module, Debug)]
pub struct BertMlmHead {
    /// Dense, activation and LayerNorm before the vocabulary projection.
    pub transform: BertPredictionTransform,
    /// One bias per vocabulary entry.
    pub bias: Param<Tensor<1>>,
}

impl BertMlmHead {
    /// A randomly initialised head (the shape checkpoints are read into).
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: config.initializer_range,
        };
        Self {
            transform: BertPredictionTransform {
                dense: linear(config.hidden_size, config.hidden_size, &init, device),
                layer_norm: layer_norm_layer(config, device),
                activation: config.hidden_act,
                layer_norm_eps: config.layer_norm_eps,
            },
            bias: Param::from_tensor(Tensor::zeros([config.vocab_size], device)),
        }
    }

    /// Logits `[n, vocab]` of the states `[n, hidden]`, with `word_embeddings`
    /// `[vocab, hidden]` as the output weights.
    pub fn forward(&self, hidden: Tensor<2>, word_embeddings: Tensor<2>) -> Tensor<2> {
        let vocab = word_embeddings.dims()[0];
        self.transform
            .forward(hidden)
            .matmul(word_embeddings.transpose())
            + self.bias.val().reshape([1, vocab])
    }
}

/// Reads `cls.predictions.*` from a checkpoint: `Ok(None)` when it has no such head
/// (a `BertModel` or a sequence classifier, like the shipped MiniLM), an error naming
/// the tensors when it has part of one.
pub fn load_mlm_head(
    config: &BertConfig,
    path: &Path,
    device: &Device,
) -> Result<Option<BertMlmHead>, BertError> {
    let remapper = [
        (r"^cls\.predictions\.", ""),
        (r"\.LayerNorm\.", ".layer_norm."),
    ]
    .into_iter()
    .fold(KeyRemapper::new(), |remapper, (from, to)| {
        remapper
            .add_pattern(from, to)
            .expect("the remapping patterns are valid regexes")
    });
    let mut head = BertMlmHead::new(config, device);
    let result = apply_checkpoint(&mut head, path, remapper)?;
    if result.applied.is_empty() {
        return Ok(None);
    }
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    problems.extend(
        result
            .missing
            .iter()
            .map(|(name, _)| format!("missing tensor cls.predictions.{name}")),
    );
    if !problems.is_empty() {
        return Err(BertError::WeightsMismatch {
            path: path.to_owned(),
            details: format!(
                "  {}\n(an incomplete masked-LM head)",
                problems.join("\n  ")
            ),
        });
    }
    Ok(Some(head))
}
