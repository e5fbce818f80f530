//! The encoder stack as in the paper: post-norm transformer layers of multi-head
//! self-attention and a feed-forward block (`encoder.layer.N.*` in checkpoints), each
//! linear layer with its optional reduced-precision copy for inference.

use std::sync::Arc;

use burn::module::{Initializer, Module};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::{Device, Tensor};

use crate::kernels::panels::Epilogue;
use crate::kernels::reduced::ReducedLinear;
use crate::kernels::{self, dropout, gelu, layer_norm, masked_softmax, matmul};
use crate::layers::{dense, layer_norm_layer, linear};
use crate::{BertConfig, HiddenAct};

/// The reduced-precision copy of a linear layer, set by [`BertModel::with_precision`]:
/// not a parameter (no gradient, never saved), and made from the weights as they were
/// then.
pub(crate) type ReducedCopy = Option<Arc<ReducedLinear>>;

/// The stack of transformer layers (`encoder.layer.N` in checkpoints).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// The layers, bottom first (`encoder.layer.N` in the checkpoint).
    pub layer: Vec<BertLayer>,
}

impl BertEncoder {
    pub(crate) fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
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
    pub(crate) fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
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
    pub(crate) reduced: ReducedCopy,
}

impl BertSelfAttention {
    pub(crate) fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
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
    pub(crate) activation: HiddenAct,
    /// `dense` in reduced-precision inference.
    #[module(skip)]
    pub(crate) reduced: ReducedCopy,
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
    pub(crate) reduced: ReducedCopy,
}

impl BertOutputBlock {
    pub(crate) fn new(
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
