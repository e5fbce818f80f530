use burn::tensor::{Int, Tensor};

/// How a sequence of token vectors becomes one vector per text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The final state of `[CLS]`, the token BERT's pre-training summarises into.
    Cls,
    /// The mean over real tokens (padding excluded): what sentence-transformers
    /// models such as all-MiniLM-L6-v2 were trained for.
    #[default]
    Mean,
    /// The element-wise maximum over real tokens.
    Max,
}

settings::serde_names!(Pooling);

impl Pooling {
    /// `hidden`: `[batch, seq, width]`; `attention_mask`: `[batch, seq]`, 1 for tokens.
    /// Returns `[batch, width]`.
    pub fn pool(self, hidden: Tensor<3>, attention_mask: Tensor<2, Int>) -> Tensor<2> {
        let [batch, seq_len, width] = hidden.dims();
        match self {
            Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, width]),
            Pooling::Mean => {
                let mask = attention_mask.float().reshape([batch, seq_len, 1]);
                let summed = (hidden * mask.clone()).sum_dim(1).reshape([batch, width]);
                let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
                summed / counts
            }
            Pooling::Max => {
                let padding = attention_mask
                    .equal_elem(0)
                    .reshape([batch, seq_len, 1])
                    .expand([batch, seq_len, width]);
                hidden
                    .mask_fill(padding, f32::MIN)
                    .max_dim(1)
                    .reshape([batch, width])
            }
        }
    }

    /// Every pooling, for help texts and exhaustive tests.
    pub const ALL: [Pooling; 3] = [Pooling::Cls, Pooling::Mean, Pooling::Max];
}
/// Scales each row to unit Euclidean length, so that dot products are cosines.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norms = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norms
}
