//! BERT (Devlin et al., 2019) as in the paper and in Hugging Face's `BertModel`:
//! embeddings, a stack of post-norm transformer layers, and the optional pooler.
//!
//! Field names follow the Hugging Face checkpoint keys (`embeddings.word_embeddings`,
//! `encoder.layer.3.attention.output.dense`, …) so that loading needs only the renames
//! Rust forces on us (`self` → `self_attention`, `LayerNorm` → `layer_norm`).

use std::sync::Arc;

use burn::module::{Initializer, Module};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::{Bool, Device, Int, Tensor};

use crate::kernels::panels::Epilogue;
use crate::kernels::reduced::ReducedLinear;
use crate::kernels::{self, dropout, gelu, layer_norm, masked_softmax, matmul};
use crate::{BertConfig, BertError, BertInput, HiddenAct, Precision};

/// The reduced-precision copy of a linear layer, set by [`BertModel::with_precision`]:
/// not a parameter (no gradient, never saved), and made from the weights as they were
/// then.
type ReducedCopy = Option<Arc<ReducedLinear>>;

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

/// Word + position + token-type embeddings, then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// One vector per vocabulary token.
    pub word_embeddings: Embedding,
    /// One vector per position.
    pub position_embeddings: Embedding,
    /// One vector per segment (token type).
    pub token_type_embeddings: Embedding,
    /// Normalises the summed embeddings.
    pub layer_norm: LayerNorm,
    /// Dropout on the normalised embeddings (training only).
    pub dropout: Dropout,
    /// The LayerNorm's epsilon (burn keeps its own private).
    #[module(skip)]
    layer_norm_eps: f64,
}

impl BertEmbeddings {
    fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, config.hidden_size)
                .with_initializer(init.clone())
                .init(device)
        };
        Self {
            word_embeddings: embedding(config.vocab_size),
            position_embeddings: embedding(config.max_position_embeddings),
            token_type_embeddings: embedding(config.type_vocab_size),
            layer_norm: layer_norm_layer(config, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `input_ids`, `token_type_ids`: `[batch, seq]` → `[batch, seq, hidden]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        self.forward_with(input_ids, token_type_ids, None)
    }

    /// [`forward`](Self::forward) with `perturbation` (`[batch, seq, hidden]`), when
    /// given, added to the looked-up word embeddings before positions, token types and
    /// LayerNorm: where adversarial training perturbs the input.
    pub fn forward_with(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        perturbation: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let words = self.word_embeddings.forward(input_ids);
        let word_embeddings = match perturbation {
            Some(delta) => words + delta,
            None => words,
        };
        let [_, seq_len, _] = word_embeddings.dims();
        let device = word_embeddings.device();
        let positions = Tensor::<1, Int>::arange(0..seq_len as i64, &device).unsqueeze::<2>();
        let embedded = word_embeddings
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_type_ids);
        let normalized = layer_norm(&self.layer_norm, self.layer_norm_eps, embedded);
        dropout(&self.dropout, normalized)
    }
}

/// The stack of transformer layers (`encoder.layer.N` in checkpoints).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// The layers, bottom first (`encoder.layer.N` in the checkpoint).
    pub layer: Vec<BertLayer>,
}

impl BertEncoder {
    fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
        Self {
            layer: (0..config.num_hidden_layers)
                .map(|_| BertLayer::new(config, init, device))
                .collect(),
        }
    }
}

/// One post-norm transformer layer: self-attention, then the feed-forward block,
/// each followed by dropout, a residual connection and LayerNorm.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Self-attention with its output projection and residual.
    pub attention: BertAttention,
    /// The feed-forward block's expansion and activation.
    pub intermediate: BertIntermediate,
    /// The feed-forward block's projection back, residual and LayerNorm.
    pub output: BertOutputBlock,
}

impl BertLayer {
    fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        Self {
            attention: BertAttention {
                self_attention: BertSelfAttention::new(config, init, device),
                output: BertOutputBlock::new(h, h, config, init, device),
            },
            intermediate: BertIntermediate {
                dense: linear(h, i, init, device),
                activation: config.hidden_act,
                reduced: None,
            },
            output: BertOutputBlock::new(i, h, config, init, device),
        }
    }

    /// `hidden`: `[batch, seq, hidden]`; `bias`: the additive attention mask, `[batch, seq]`.
    pub fn forward(&self, hidden: Tensor<3>, bias: &Tensor<2>) -> Tensor<3> {
        let context = self.attention.self_attention.forward(hidden.clone(), bias);
        let attended = self.attention.output.forward(context, hidden);
        let expanded = self.intermediate.forward(attended.clone());
        self.output.forward(expanded, attended)
    }
}

/// Self-attention and its output projection (`attention.self`, `attention.output`).
#[derive(Module, Debug)]
pub struct BertAttention {
    /// Queries, keys, values and the attention itself.
    pub self_attention: BertSelfAttention,
    /// Projection of the heads' concatenated contexts, residual and LayerNorm.
    pub output: BertOutputBlock,
}

/// Multi-head scaled dot-product self-attention.
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// The query projection.
    pub query: Linear,
    /// The key projection.
    pub key: Linear,
    /// The value projection.
    pub value: Linear,
    /// Dropout on the attention probabilities (training only).
    pub dropout: Dropout,
    num_heads: usize,
    head_dim: usize,
    /// Q, K and V as one product, in reduced-precision inference.
    #[module(skip)]
    reduced: ReducedCopy,
}

impl BertSelfAttention {
    fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            query: linear(h, h, init, device),
            key: linear(h, h, init, device),
            value: linear(h, h, init, device),
            dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            reduced: None,
        }
    }

    /// `softmax(Q Kᵀ / √d + bias) V` for every head, heads concatenated again.
    pub fn forward(&self, hidden: Tensor<3>, bias: &Tensor<2>) -> Tensor<3> {
        let [batch, seq_len, width] = hidden.dims();
        let heads = |t: Tensor<3>| {
            t.reshape([batch, seq_len, self.num_heads, self.head_dim])
                .swap_dims(1, 2)
        };
        // 1/√d applied to the queries rather than to the scores: the same product, and
        // head_dim / seq_len as many multiplications.
        let scale = (self.head_dim as f64).sqrt().recip();
        let (query, key, value) = match &self.reduced {
            Some(qkv) if bf16_attention_runs_here() => {
                // Both products in bf16 on the joined layer's output as it lies: the
                // scale joins the softmax's pass (see `kernels::bf16::attention`).
                let rows = hidden.reshape([batch * seq_len, width]);
                let qkv = kernels::reduced_linear(qkv, rows);
                let context =
                    kernels::bf16_attention(qkv, bias.clone(), self.num_heads, scale as f32);
                return context.reshape([batch, seq_len, width]);
            }
            Some(qkv) => {
                let [query, key, value]: [Tensor<3>; 3] = reduced_dense(qkv, hidden)
                    .try_into()
                    .expect("Q, K and V were joined");
                (query, key, value)
            }
            None => (
                dense(&self.query, hidden.clone()),
                dense(&self.key, hidden.clone()),
                dense(&self.value, hidden),
            ),
        };
        let (query, key, value) = (heads(query.mul_scalar(scale)), heads(key), heads(value));

        let scores = matmul(query, key.swap_dims(2, 3));
        let probs = dropout(&self.dropout, masked_softmax(scores, bias.clone()));
        matmul(probs, value)
            .swap_dims(1, 2)
            .reshape([batch, seq_len, width])
    }
}

/// The feed-forward expansion and its activation (`intermediate`).
#[derive(Module, Debug)]
pub struct BertIntermediate {
    /// Expands the hidden width to `intermediate_size`.
    pub dense: Linear,
    #[module(skip)]
    activation: HiddenAct,
    /// `dense` in reduced-precision inference.
    #[module(skip)]
    reduced: ReducedCopy,
}

impl BertIntermediate {
    fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.reduced {
            Some(layer) if layer.epilogue() == Epilogue::ErfGelu => {
                reduced_dense(layer, hidden).remove(0)
            }
            _ => activate(self.activation, project(&self.dense, &self.reduced, hidden)),
        }
    }
}

/// The configured `hidden_act`, wherever BERT applies it.
pub(crate) fn activate<const D: usize>(activation: HiddenAct, x: Tensor<D>) -> Tensor<D> {
    match activation {
        HiddenAct::Gelu => gelu(x),
        HiddenAct::GeluNew => gelu_approximate(x),
        HiddenAct::Relu => relu(x),
    }
}

/// `LayerNorm(dropout(W x + b) + residual)`: closes both the attention block
/// (`attention.output`) and the feed-forward block (`output`).
#[derive(Module, Debug)]
pub struct BertOutputBlock {
    /// The projection.
    pub dense: Linear,
    /// LayerNorm after the residual sum.
    pub layer_norm: LayerNorm,
    /// Dropout on the projection (training only).
    pub dropout: Dropout,
    /// The LayerNorm's epsilon (burn keeps its own private).
    #[module(skip)]
    layer_norm_eps: f64,
    /// `dense` in reduced-precision inference.
    #[module(skip)]
    reduced: ReducedCopy,
}

impl BertOutputBlock {
    fn new(
        d_in: usize,
        d_out: usize,
        config: &BertConfig,
        init: &Initializer,
        device: &Device,
    ) -> Self {
        Self {
            dense: linear(d_in, d_out, init, device),
            layer_norm: layer_norm_layer(config, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
            reduced: None,
        }
    }

    fn forward(&self, hidden: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let projected = dropout(&self.dropout, project(&self.dense, &self.reduced, hidden));
        layer_norm(&self.layer_norm, self.layer_norm_eps, projected + residual)
    }
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

/// A linear layer over every position at once: batch and sequence folded into the
/// rows of one `[batch·seq, d_in] × [d_in, d_out]` product. burn keeps a
/// `[batch, seq, d_in]` input batched, and the CPU backends then run one small product
/// per sequence, each packing the whole weight matrix again.
pub(crate) fn dense(layer: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, seq_len, d_in] = x.dims();
    let rows = kernels::linear(layer, x.reshape([batch * seq_len, d_in]));
    let d_out = rows.dims()[1];
    rows.reshape([batch, seq_len, d_out])
}

/// Whether reduced-precision inference runs attention's own products in bf16: where
/// the CPU multiplies bf16 natively (AVX-512 BF16). Elsewhere they stay f32, which is
/// then faster than bf16 emulated; the linear layers' precision is unchanged.
fn bf16_attention_runs_here() -> bool {
    kernels::bf16::gemm::Bf16Kernel::native()
}

/// [`dense`] through the layer's reduced-precision copy when it has one.
fn project(layer: &Linear, reduced: &ReducedCopy, x: Tensor<3>) -> Tensor<3> {
    match reduced {
        Some(weights) => reduced_dense(weights, x).remove(0),
        None => dense(layer, x),
    }
}

/// [`dense`] with reduced-precision weights: `[batch, seq, width]` for each layer they
/// join.
fn reduced_dense(weights: &ReducedLinear, x: Tensor<3>) -> Vec<Tensor<3>> {
    let [batch, seq_len, d_in] = x.dims();
    let parts = kernels::reduced_linear(weights, x.reshape([batch * seq_len, d_in]));
    let width = weights.d_out() / weights.parts();
    // Each part is a contiguous block: its view reshapes without a copy.
    (0..weights.parts())
        .map(|i| {
            parts
                .clone()
                .narrow(0, i, 1)
                .reshape([batch, seq_len, width])
        })
        .collect()
}

pub(crate) fn linear(d_in: usize, d_out: usize, init: &Initializer, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(init.clone())
        .init(device)
}

pub(crate) fn layer_norm_layer(config: &BertConfig, device: &Device) -> LayerNorm {
    // burn's default epsilon is 1e-5; BERT's is 1e-12 and it shows in the outputs.
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}
