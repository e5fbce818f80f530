//! Prompt-based classification's output layer: the state at the prompt's `[MASK]`
//! scored against one word per label (the verbalizer), instead of a new layer learnt
//! from scratch.
//!
//! With a checkpoint that has a masked-LM head, a label's score is exactly what PET
//! uses: the MLM logit of its word (the mean over its word pieces), i.e. the
//! pretrained transform, then the dot product with the word's embedding plus its
//! output bias. all-MiniLM-L6-v2 has no MLM head; there the transform is a linear
//! projection initialised to the identity, so that training starts from "how close is
//! the `[MASK]` state to the word's embedding" rather than from noise. Either way the
//! verbalizer vectors start as the words' embeddings (the mean over pieces) and are
//! fine-tuned with the rest.

use bert::{BertConfig, BertMlmHead, BertPredictionTransform};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The `[MASK]` state's scores for each label.
#[derive(Module, Debug)]
pub struct VerbalizerHead {
    /// The checkpoint's MLM transform, when it has one.
    pub mlm_transform: Option<BertPredictionTransform>,
    /// Otherwise a projection, initialised to the identity.
    pub projection: Option<Linear>,
    /// `[classes, hidden]`: each label word's embedding (mean over its pieces).
    pub words: Param<Tensor<2>>,
    /// `[classes]`: the MLM output bias of each word (mean over pieces); 0 without one.
    pub bias: Param<Tensor<1>>,
}

impl VerbalizerHead {
    /// `pieces[c]`: the vocabulary ids of label `c`'s word; `word_embeddings`
    /// `[vocab, hidden]`, the BERT's input embedding table.
    pub fn new(
        pieces: &[Vec<u32>],
        word_embeddings: Tensor<2>,
        mlm: Option<BertMlmHead>,
        device: &Device,
    ) -> Self {
        let hidden = word_embeddings.dims()[1];
        let mean_rows = |table: Tensor<2>| -> Tensor<2> {
            let rows: Vec<Tensor<2>> = pieces
                .iter()
                .map(|ids| {
                    let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
                    let index =
                        Tensor::<1, Int>::from_data(TensorData::from(ids.as_slice()), device);
                    table.clone().select(0, index).mean_dim(0)
                })
                .collect();
            Tensor::cat(rows, 0)
        };
        let words = mean_rows(word_embeddings.detach());
        let (mlm_transform, projection, bias) = match mlm {
            Some(head) => {
                let vocab = head.bias.dims()[0];
                let bias = mean_rows(head.bias.val().detach().reshape([vocab, 1]));
                (Some(head.transform), None, bias.reshape([pieces.len()]))
            }
            None => {
                let mut projection = LinearConfig::new(hidden, hidden).init(device);
                projection.weight = Param::from_tensor(Tensor::eye(hidden, device));
                projection.bias = Some(Param::from_tensor(Tensor::zeros([hidden], device)));
                (
                    None,
                    Some(projection),
                    Tensor::zeros([pieces.len()], device),
                )
            }
        };
        // Fresh leaves: copies of the pretrained values, not views of the graph that
        // computed them, so that they train as parameters of their own.
        Self {
            mlm_transform,
            projection,
            words: Param::from_data(words.into_data(), device),
            bias: Param::from_data(bias.into_data(), device),
        }
    }

    /// The right shapes for `classes` and a BERT of `config`, values to be loaded
    /// from a saved model: the MLM transform's or the projection's, no words yet.
    pub fn untrained(classes: usize, config: &BertConfig, mlm_head: bool, device: &Device) -> Self {
        let hidden = config.hidden_size;
        let table = Tensor::<2>::zeros([1, hidden], device);
        let mlm = mlm_head.then(|| BertMlmHead::new(config, device));
        let pieces = vec![vec![0]; classes];
        Self::new(&pieces, table, mlm, device)
    }

    /// Logits `[n, classes]` of the `[MASK]` states `[n, hidden]`.
    pub fn forward(&self, mask_states: Tensor<2>) -> Tensor<2> {
        let transformed = match (&self.mlm_transform, &self.projection) {
            (Some(transform), _) => transform.forward(mask_states),
            (None, Some(projection)) => projection.forward(mask_states),
            (None, None) => mask_states,
        };
        let classes = self.bias.dims()[0];
        transformed.matmul(self.words.val().transpose()) + self.bias.val().reshape([1, classes])
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.bias.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bert::PretrainedBert;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn without_an_mlm_head_scores_start_as_dot_products_with_the_words() {
        let device = Device::flex();
        // A 4-word table in 2 dimensions; label 0 is word 1, label 1 the pieces 2 + 3.
        let table = Tensor::<2>::from_data(
            TensorData::from([[9.0f32, 9.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]]),
            &device,
        );
        let head = VerbalizerHead::new(&[vec![1], vec![2, 3]], table, None, &device);
        let states = Tensor::<2>::from_data(TensorData::from([[3.0f32, 4.0]]), &device);
        // (3, 4)·(1, 0) = 3; (3, 4)·mean((0, 2), (2, 0)) = (3, 4)·(1, 1) = 7.
        assert_eq!(values(head.forward(states)), vec![3.0, 7.0]);
    }

    #[test]
    fn with_an_mlm_head_scores_are_the_mean_mlm_logits_of_the_pieces() {
        let device = Device::flex();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bert/tests/fixtures/tiny-mlm-gelu");
        let bert = PretrainedBert::load(&dir, 32, &device).unwrap();
        let mlm = || {
            bert.mlm_head(&device)
                .unwrap()
                .expect("the fixture has an MLM head")
        };
        let table = bert.model.embeddings.word_embeddings.weight.val();
        let word = |w: &str| bert.tokenizer.token_to_id(w).unwrap();
        let pieces = vec![
            vec![word("cat")],
            vec![word("happy"), word("##s")],
            vec![word("oil")],
        ];
        let head = VerbalizerHead::new(&pieces, table.clone(), Some(mlm()), &device);
        let states = Tensor::<2>::random(
            [3, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let got = values(head.forward(states.clone()));
        // The full vocabulary's MLM logits, then the mean over each word's columns.
        let logits = values(mlm().forward(states, table));
        let vocab = logits.len() / 3;
        for row in 0..3 {
            for (c, ids) in pieces.iter().enumerate() {
                let expected = ids
                    .iter()
                    .map(|&id| logits[row * vocab + id as usize])
                    .sum::<f32>()
                    / ids.len() as f32;
                let diff = (got[row * 3 + c] - expected).abs();
                assert!(
                    diff < 1e-4,
                    "row {row}, class {c}: {} vs {expected}",
                    got[row * 3 + c]
                );
            }
        }
    }
}
