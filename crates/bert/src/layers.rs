//! The building blocks the model and the masked-LM head share: linear layers over
//! every position at once, BERT's initialisation and its LayerNorm epsilon.

use burn::module::Initializer;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::BertConfig;
use crate::kernels;

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

/// A linear layer initialised as BERT initialises its weights.
pub(crate) fn linear(d_in: usize, d_out: usize, init: &Initializer, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(init.clone())
        .init(device)
}

/// A LayerNorm over the hidden size with the model's epsilon.
pub(crate) fn layer_norm_layer(config: &BertConfig, device: &Device) -> LayerNorm {
    // burn's default epsilon is 1e-5; BERT's is 1e-12 and it shows in the outputs.
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}
