use std::time::Instant;

use bert::burn::tensor::{Device, Tensor};
use bert::{BertInput, Pooling, Precision, PretrainedBert, l2_normalize};

use crate::LayerSelection;
use data::Record;
use text::{Encoding, RecordTextError, length_order};

/// Errors from embedding a data set.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A record the tokenizer refused (an empty text, say), named by its id.
    #[error(transparent)]
    Record(#[from] RecordTextError),
    /// No records to embed.
    #[error("nothing to embed: the input has no records")]
    NoRecords,
    /// An embedding setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),
    /// A layer selection the model cannot give.
    #[error("{0}")]
    Layers(String),
    /// A precision the device cannot run.
    #[error(transparent)]
    Precision(#[from] bert::BertError),
}

/// How texts become vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOptions {
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// How token states become one vector.
    pub pooling: Pooling,
    /// Which layers feed the pooling.
    pub layers: LayerSelection,
    /// Scale every vector to unit length (cosine similarity = dot product).
    pub normalize: bool,
    /// What the encoder layers' linear layers compute in.
    pub precision: Precision,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            pooling: Pooling::Mean,
            layers: LayerSelection::Last,
            normalize: false,
            precision: Precision::Fp32,
        }
    }
}

/// One vector per record, in the records' order: a `rows × dim` row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The vectors, `rows × dim`, row-major.
    pub values: Vec<f32>,
    /// How many vectors.
    pub rows: usize,
    /// Floats per vector.
    pub dim: usize,
}

impl Embeddings {
    /// The vector of record `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// What an embedding run did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EmbedSummary {
    /// Records embedded.
    pub documents: usize,
    /// Real tokens (padding excluded), special tokens included.
    pub tokens: usize,
    /// Tokens computed including padding: the cost actually paid.
    pub padded_tokens: usize,
    /// Wall time of the forward passes.
    pub seconds: f64,
}

impl EmbedSummary {
    /// Records embedded per second.
    pub fn docs_per_second(&self) -> f64 {
        self.documents as f64 / self.seconds.max(1e-9)
    }
}

/// A pretrained BERT, frozen, on an inference device: no autodiff graph, no dropout.
pub struct FrozenEncoder {
    bert: PretrainedBert,
    device: Device,
    options: EmbedOptions,
}

impl FrozenEncoder {
    /// An encoder over `bert` on `device`; refuses a batch size of 0 and layers the model does not have.
    pub fn new(
        bert: PretrainedBert,
        device: Device,
        options: EmbedOptions,
    ) -> Result<Self, EncodeError> {
        settings::at_least_one("batch_size", options.batch_size)?;
        options.layers.validate(bert.model.num_layers())?;
        let bert = PretrainedBert {
            model: bert.model.with_precision(options.precision)?,
            ..bert
        };
        Ok(Self {
            bert,
            device,
            options,
        })
    }

    /// Width of the vectors produced.
    pub fn dim(&self) -> usize {
        self.bert.config.hidden_size * self.options.layers.width_factor()
    }

    /// Sequences per forward pass.
    pub fn batch_size(&self) -> usize {
        self.options.batch_size
    }

    /// How texts become vectors.
    pub fn options(&self) -> &EmbedOptions {
        &self.options
    }

    /// The model it runs.
    pub fn bert(&self) -> &PretrainedBert {
        &self.bert
    }

    /// Tokenizes every record; the first one the tokenizer refuses is an error naming it.
    pub fn tokenize(&self, records: &[Record]) -> Result<Vec<Encoding>, EncodeError> {
        Ok(self.bert.tokenizer.encode_all(
            records
                .iter()
                .map(|r| (r.id.as_str(), r.text.as_str(), r.text_b.as_deref())),
        )?)
    }

    /// Embeds `records` in length-sorted batches; `progress` is told how many more
    /// documents are done after each batch.
    pub fn embed(
        &self,
        records: &[Record],
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Embeddings, EmbedSummary), EncodeError> {
        if records.is_empty() {
            return Err(EncodeError::NoRecords);
        }
        let start = Instant::now();
        let encodings = self.tokenize(records)?;
        let order = length_order(&encodings);
        let (sorted_rows, padded_tokens) = self.embed_rows(&encodings, &order, progress);
        let dim = self.dim();
        let mut values = vec![0f32; records.len() * dim];
        scatter_rows(&mut values, &sorted_rows, &order, dim);
        let summary = EmbedSummary {
            documents: records.len(),
            tokens: encodings.iter().map(Encoding::len).sum(),
            padded_tokens,
            seconds: start.elapsed().as_secs_f64(),
        };
        let embeddings = Embeddings {
            values,
            rows: records.len(),
            dim,
        };
        Ok((embeddings, summary))
    }

    /// Embeds `encodings[rows[0]]`, `encodings[rows[1]]`, … in batches, in that order;
    /// returns the vectors (`rows.len() × dim`, row-major) and the tokens computed
    /// including padding. Give rows in length order so batches need little padding.
    pub fn embed_rows(
        &self,
        encodings: &[Encoding],
        rows: &[usize],
        progress: &mut dyn FnMut(usize),
    ) -> (Vec<f32>, usize) {
        let (vectors, _, padded_tokens) =
            self.embed_rows_with_states(encodings, rows, &[], progress);
        (vectors, padded_tokens)
    }

    /// [`embed_rows`](Self::embed_rows), also keeping from the same forward passes the
    /// token states after each layer of `state_layers`, as
    /// [`states_rows`](Self::states_rows) returns them: one pass fills an embedding
    /// cache and the state caches that fine-tuning the layers above reads. Every layer
    /// must be at most [`num_layers`](Self::num_layers).
    pub fn embed_rows_with_states(
        &self,
        encodings: &[Encoding],
        rows: &[usize],
        state_layers: &[usize],
        progress: &mut dyn FnMut(usize),
    ) -> (Vec<f32>, Vec<Vec<f32>>, usize) {
        let mut vectors = Vec::with_capacity(rows.len() * self.dim());
        let mut states = vec![Vec::new(); state_layers.len()];
        let mut padded_tokens = 0;
        for batch in rows.chunks(self.options.batch_size) {
            let batch_encodings: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
            padded_tokens +=
                batch.len() * batch_encodings.iter().map(|e| e.len()).max().unwrap_or(0);
            let (pooled, batch_states) =
                self.embed_batch_with_states(&batch_encodings, state_layers);
            vectors.extend(pooled);
            for (out, layer_states) in states.iter_mut().zip(batch_states) {
                out.extend(layer_states);
            }
            progress(batch.len());
        }
        (vectors, states, padded_tokens)
    }

    /// One forward pass over a batch; returns `batch × dim` values, row-major.
    pub fn embed_batch(&self, encodings: &[&Encoding]) -> Vec<f32> {
        self.embed_batch_with_states(encodings, &[]).0
    }

    /// One forward pass over a batch: its vectors (`batch × dim`, row-major) and, per
    /// layer of `state_layers`, its real tokens' states after that layer.
    fn embed_batch_with_states(
        &self,
        encodings: &[&Encoding],
        state_layers: &[usize],
    ) -> (Vec<f32>, Vec<Vec<f32>>) {
        let pad = self.bert.tokenizer.special_tokens().pad;
        let input = BertInput::from_encodings(encodings, pad, &self.device);
        let selection = self.options.layers;
        let (last, hidden_states) = if selection.needs_all_layers() || !state_layers.is_empty() {
            let output = self.bert.model.forward_all_layers(&input);
            (output.last_hidden_state, output.hidden_states)
        } else {
            (
                self.bert.model.forward(&input).last_hidden_state,
                Vec::new(),
            )
        };
        let states = state_layers
            .iter()
            .map(|&layer| real_token_states(hidden_states[layer].clone(), encodings))
            .collect();
        let combined = if selection.needs_all_layers() {
            selection.combine(last, hidden_states)
        } else {
            last
        };
        let mut pooled: Tensor<2> = self.options.pooling.pool(combined, input.attention_mask);
        if self.options.normalize {
            pooled = l2_normalize(pooled);
        }
        let vectors = pooled
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("pooled embeddings are float tensors");
        (vectors, states)
    }

    /// The token states after each layer of `layers` (0: the embeddings' output) of
    /// `encodings[rows[0]]`, `encodings[rows[1]]`, …, in batches: per layer, every
    /// row's real tokens (`len × hidden` values, padding dropped) one row after
    /// another. Only the layers up to the highest asked for are run. Also returns the
    /// tokens computed including padding.
    pub fn states_rows(
        &self,
        encodings: &[Encoding],
        rows: &[usize],
        layers: &[usize],
        progress: &mut dyn FnMut(usize),
    ) -> (Vec<Vec<f32>>, usize) {
        let deepest = layers.iter().copied().max().unwrap_or(0);
        let pad = self.bert.tokenizer.special_tokens().pad;
        let mut states = vec![Vec::new(); layers.len()];
        let mut padded_tokens = 0;
        for batch in rows.chunks(self.options.batch_size) {
            let batch_encodings: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
            let input = BertInput::from_encodings(&batch_encodings, pad, &self.device);
            let [_, seq_len] = input.dims();
            padded_tokens += batch.len() * seq_len;
            let computed = self.bert.model.bottom_states(&input, deepest);
            for (out, &layer) in states.iter_mut().zip(layers) {
                out.extend(real_token_states(computed[layer].clone(), &batch_encodings));
            }
            progress(batch.len());
        }
        (states, padded_tokens)
    }

    /// Encoder layers in the model.
    pub fn num_layers(&self) -> usize {
        self.bert.model.num_layers()
    }
}

/// A batch's states (`[batch, seq, hidden]`) without its padding: each sequence's
/// real tokens (`len × hidden` values), one sequence after another.
fn real_token_states(states: Tensor<3>, encodings: &[&Encoding]) -> Vec<f32> {
    let [_, seq_len, width] = states.dims();
    let values = states
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("hidden states are float tensors");
    let mut out = Vec::with_capacity(encodings.iter().map(|e| e.len()).sum::<usize>() * width);
    for (sequence, encoding) in values.chunks_exact(seq_len * width).zip(encodings) {
        out.extend_from_slice(&sequence[..encoding.len() * width]);
    }
    out
}

/// Writes `rows` (in the order of `indices`) to their places `indices` in `values`.
pub(crate) fn scatter_rows(values: &mut [f32], rows: &[f32], indices: &[usize], dim: usize) {
    for (row, &index) in rows.chunks_exact(dim).zip(indices) {
        values[index * dim..(index + 1) * dim].copy_from_slice(row);
    }
}
