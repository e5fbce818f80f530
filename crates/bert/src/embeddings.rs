//! The embedding block: word, position and token-type vectors summed, then
//! LayerNorm and dropout (`embeddings.*` in checkpoints).

use burn::module::{Initializer, Module};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm};
use burn::tensor::{Device, Int, Tensor};

use crate::BertConfig;
use crate::kernels::{dropout, layer_norm};
use crate::layers::layer_norm_layer;

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
    pub(crate) fn new(config: &BertConfig, init: &Initializer, device: &Device) -> Self {
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
