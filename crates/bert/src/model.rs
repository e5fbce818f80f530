//! BERT (Devlin et al., 2019) as in the paper and in Hugging Face's `BertModel`:
//! embeddings ([`BertEmbeddings`]), a stack of post-norm transformer layers
//! ([`BertEncoder`]), and the optional pooler, here.
//!
//! Field names follow the Hugging Face checkpoint keys (`embeddings.word_embeddings`,
//! `encoder.layer.3.attention.output.dense`, …) so that loading needs only the renames
//! Rust forces on us (`self` → `self_attention`, `LayerNorm` → `layer_norm`).

use std::sync::Arc;

use burn::module::{Initializer, Module};
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Tensor};

use crate::embeddings::BertEmbeddings;
use crate::encoder::{BertEncoder, ReducedCopy};
use crate::kernels::panels::Epilogue;
use crate::kernels::reduced::ReducedLinear;
use crate::layers::linear;
use crate::{BertConfig, BertError, BertInput, HiddenAct, Precision};

/// A BERT encoder: token ids in, one contextual vector per token out.
#[derive(Module, Debug)]
pub struct BertModel {
    /// Word, position and segment embeddings.
    pub embeddings: BertEmbeddings,
    /// The stack of transformer layers.
    pub encoder: BertEncoder,
    /// `tanh(W · h_[CLS] + b)`, trained by next-sentence prediction; absent in some
    /// checkpoints (sentence-transformers models usually keep it, unused).
    pub pooler: Option<BertPooler>,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct BertOutput {
    /// The final layer: `[batch, seq, hidden]`.
    pub last_hidden_state: Tensor<3>,
    /// The embedding output followed by every layer's output (`num_layers + 1` entries),
    /// when asked for with [`BertModel::forward_all_layers`]; empty otherwise. A batch
    /// that enters above layer L ([`BertInput::with_states`]) has the states from L on.
    pub hidden_states: Vec<Tensor<3>>,
    /// The pooler's output `[batch, hidden]`, when the model has a pooler.
    pub pooler_output: Option<Tensor<2>>,
}

impl BertModel {
    /// A randomly initialised BERT, normal(0, `initializer_range`) as in Hugging Face.
    pub fn new(config: &BertConfig, with_pooler: bool, device: &Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: config.initializer_range,
        };
        Self {
            embeddings: BertEmbeddings::new(config, &init, device),
            encoder: BertEncoder::new(config, &init, device),
            pooler: with_pooler.then(|| BertPooler::new(config, device)),
        }
    }

    /// Runs the encoder over a padded batch.
    pub fn forward(&self, input: &BertInput) -> BertOutput {
        self.run(input, None, false)
    }

    /// Like [`forward`](Self::forward), also keeping every layer's hidden states.
    pub fn forward_all_layers(&self, input: &BertInput) -> BertOutput {
        self.run(input, None, true)
    }

    /// Like [`forward`](Self::forward) with `perturbation` (`[batch, seq, hidden]`)
    /// added to the looked-up word embeddings: adversarial training's input, which
    /// leaves the embedding table itself untouched.
    pub fn forward_perturbed(&self, input: &BertInput, perturbation: Tensor<3>) -> BertOutput {
        self.run(input, Some(perturbation), false)
    }

    /// The embeddings and every layer, or, when the batch carries states from a
    /// cache, only the layers above them.
    fn run(
        &self,
        input: &BertInput,
        perturbation: Option<Tensor<3>>,
        keep_layers: bool,
    ) -> BertOutput {
        let (mut hidden, first_layer) = match &input.states {
            // Adversarial perturbations act on the word embeddings, which a batch that
            // enters above them never passes through: the trainer refuses the pair.
            Some(entry) => (entry.hidden.clone(), entry.after_layer),
            None => (
                self.embeddings.forward_with(
                    input.input_ids.clone(),
                    input.token_type_ids.clone(),
                    perturbation,
                ),
                0,
            ),
        };
        let bias = attention_bias(input.padding_mask());
        let mut hidden_states = Vec::new();
        for layer in self.encoder.layer.iter().skip(first_layer) {
            if keep_layers {
                hidden_states.push(hidden.clone());
            }
            hidden = layer.forward(hidden, &bias);
        }
        if keep_layers {
            hidden_states.push(hidden.clone());
        }
        let pooler_output = self.pooler.as_ref().map(|p| p.forward(hidden.clone()));
        BertOutput {
            last_hidden_state: hidden,
            hidden_states,
            pooler_output,
        }
    }

    /// The embeddings' output followed by the outputs of the bottom `layers` encoder
    /// layers (`layers + 1` tensors, `[batch, seq, hidden]`); the layers above are not
    /// run. What a state cache stores.
    pub fn bottom_states(&self, input: &BertInput, layers: usize) -> Vec<Tensor<3>> {
        let mut hidden = self
            .embeddings
            .forward(input.input_ids.clone(), input.token_type_ids.clone());
        let bias = attention_bias(input.padding_mask());
        let mut states = Vec::with_capacity(layers + 1);
        for layer in self.encoder.layer.iter().take(layers) {
            states.push(hidden.clone());
            hidden = layer.forward(hidden, &bias);
        }
        states.push(hidden);
        states
    }

    /// Width of the token states (`hidden_size`).
    pub fn hidden_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.dims()[1]
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }

    /// Overrides the checkpoint's dropout rates (`hidden_dropout_prob` after the
    /// embeddings and each sub-layer, `attention_probs_dropout_prob` on the attention
    /// weights): a fine-tuning choice, as in Hugging Face's `from_pretrained(…,
    /// hidden_dropout_prob=…)`. `None` keeps a rate.
    pub fn set_dropout(&mut self, hidden: Option<f64>, attention: Option<f64>) {
        if let Some(p) = hidden {
            self.embeddings.dropout.prob = p;
            for layer in &mut self.encoder.layer {
                layer.attention.output.dropout.prob = p;
                layer.output.dropout.prob = p;
            }
        }
        if let Some(p) = attention {
            for layer in &mut self.encoder.layer {
                layer.attention.self_attention.dropout.prob = p;
            }
        }
    }

    /// Freezes the embeddings and the bottom `layers` encoder layers as they run in
    /// inference: no gradients and no dropout. What fine-tuning the layers above from
    /// a state cache assumes of them (the cache holds their inference output), so that
    /// training through them and training from the cache agree.
    pub fn freeze_bottom_as_inference(mut self, layers: usize) -> Self {
        self.embeddings = self.embeddings.no_grad();
        self.embeddings.dropout.prob = 0.0;
        self.encoder.layer = std::mem::take(&mut self.encoder.layer)
            .into_iter()
            .enumerate()
            .map(|(i, layer)| {
                if i >= layers {
                    return layer;
                }
                let mut layer = layer.no_grad();
                layer.attention.self_attention.dropout.prob = 0.0;
                layer.attention.output.dropout.prob = 0.0;
                layer.output.dropout.prob = 0.0;
                layer
            })
            .collect();
        self
    }

    /// The model for inference in `precision`. [`Precision::Int8`] and
    /// [`Precision::Bf16`] make reduced-precision copies of the linear layers of every
    /// encoder layer once (Q, K and V joined into one product, whose activations are
    /// then converted once), on a CPU device only; [`Precision::Fp32`] drops any
    /// copies. The copies are made from the weights as they are now: weights changed
    /// afterwards (training, loading) need another call.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self, BertError> {
        let device = self.embeddings.word_embeddings.weight.device();
        precision.check_device(&device)?;
        let copy = |layers: &[&Linear]| reduced_copy(precision, layers, Epilogue::Identity);
        for layer in &mut self.encoder.layer {
            let attention = &mut layer.attention;
            let qkv = &attention.self_attention;
            attention.self_attention.reduced = copy(&[&qkv.query, &qkv.key, &qkv.value]);
            attention.output.reduced = copy(&[&attention.output.dense]);
            // BERT's GELU joins the expansion's product, applied as it writes.
            let epilogue = match layer.intermediate.activation {
                HiddenAct::Gelu => Epilogue::ErfGelu,
                _ => Epilogue::Identity,
            };
            layer.intermediate.reduced =
                reduced_copy(precision, &[&layer.intermediate.dense], epilogue);
            layer.output.reduced = copy(&[&layer.output.dense]);
        }
        Ok(self)
    }

    /// The precision of the encoder layers' linear layers.
    pub fn precision(&self) -> Precision {
        let copy = self
            .encoder
            .layer
            .first()
            .and_then(|l| l.output.reduced.as_ref());
        copy.map_or(Precision::Fp32, |layer| layer.precision())
    }
}

/// One layer in `precision` computing the given linear layers (equal inputs) side by
/// side, then `epilogue`: their weights joined column after column, and their biases;
/// `None` in fp32.
fn reduced_copy(precision: Precision, layers: &[&Linear], epilogue: Epilogue) -> ReducedCopy {
    if precision == Precision::Fp32 {
        return None;
    }
    let values = |t: Tensor<2>| -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("converted to f32")
    };
    let d_in = layers[0].weight.dims()[0];
    let mut joined: Vec<Vec<f32>> = vec![Vec::new(); d_in];
    let mut bias = Vec::new();
    for layer in layers {
        let d_out = layer.weight.dims()[1];
        let weight = values(layer.weight.val());
        for (row, values) in joined.iter_mut().zip(weight.chunks(d_out)) {
            row.extend_from_slice(values);
        }
        match &layer.bias {
            Some(b) => bias.extend(values(b.val().unsqueeze())),
            None => bias.extend(std::iter::repeat_n(0.0, d_out)),
        }
    }
    let (weight, d_out, parts) = (joined.concat(), bias.len(), layers.len());
    let layer = ReducedLinear::new(precision, &weight, &bias, d_in, d_out, parts)?;
    Some(Arc::new(layer.with_epilogue(epilogue)))
}

/// `tanh(W h_[CLS] + b)`.
#[derive(Module, Debug)]
pub struct BertPooler {
    /// The projection of the `[CLS]` state before tanh.
    pub dense: Linear,
}

impl BertPooler {
    /// A randomly initialised pooler, for checkpoints that have none: Hugging Face
    /// does the same when a sequence classifier is built on such a checkpoint.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: config.initializer_range,
        };
        Self {
            dense: linear(config.hidden_size, config.hidden_size, &init, device),
        }
    }

    fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let cls = hidden.narrow(1, 0, 1).reshape([batch, width]);
        self.dense.forward(cls).tanh()
    }
}

/// Turns the padding mask `[batch, seq]` (true = padding) into an additive bias over
/// the keys, `[batch, seq]`, the same for every head and query position. A large finite
/// negative value, as in Hugging Face, keeps softmax free of `inf - inf`.
fn attention_bias(padding: Tensor<2, Bool>) -> Tensor<2> {
    Tensor::<2>::zeros(padding.dims(), &padding.device()).mask_fill(padding, f32::MIN)
}
