//! Token states stored after a frozen bottom stack of layers: where a batch can enter
//! the model above them, so the layers below need not run again.

use burn::tensor::{Device, Tensor, TensorData};

/// The token states after encoder layer [`after_layer`](Self::after_layer) for a set
/// of sequences, one row of `tokens(row) × width` values per sequence (real tokens
/// only, no padding): what a batch needs to enter BERT above that layer.
///
/// A state cache on disk implements it (`encoder::StateCache`); so can anything that
/// holds such states in memory.
pub trait LayerStates: Send + Sync + std::fmt::Debug {
    /// The layer the states come out of: 0 is the embeddings' output, `k` the output
    /// of encoder layer `k` (counted from 1).
    fn after_layer(&self) -> usize;
    /// Floats per token: the model's hidden size.
    fn width(&self) -> usize;
    /// How many sequences.
    fn rows(&self) -> usize;
    /// Tokens of sequence `row` (special tokens included).
    fn tokens(&self, row: usize) -> usize;
    /// Writes the states of sequence `row` into `out`, `tokens(row) × width` values,
    /// token-major.
    fn read_row(&self, row: usize, out: &mut [f32]);
}

/// A batch's states at the layer where it enters the model: the output of layer
/// `after_layer`, `[batch, seq, hidden]`, zero at padded positions.
#[derive(Debug, Clone)]
pub struct EntryStates {
    /// The layer the states come out of (see [`LayerStates::after_layer`]).
    pub after_layer: usize,
    /// `[batch, seq, hidden]`.
    pub hidden: Tensor<3>,
}

impl EntryStates {
    /// The states of sequences `rows` of `states`, padded with zeros to `seq_len`
    /// tokens (a longer sequence is cut there) on `device`. Padded positions never
    /// reach a real token: attention gives them weight 0 and every other operation is
    /// per token, so their value does not matter.
    pub fn gather(
        states: &dyn LayerStates,
        rows: &[usize],
        seq_len: usize,
        device: &Device,
    ) -> Self {
        let width = states.width();
        let mut values = vec![0f32; rows.len() * seq_len * width];
        let mut row_values = Vec::new();
        for (slot, &row) in values.chunks_exact_mut(seq_len * width).zip(rows) {
            let tokens = states.tokens(row);
            row_values.resize(tokens * width, 0.0);
            states.read_row(row, &mut row_values);
            let kept = tokens.min(seq_len) * width;
            slot[..kept].copy_from_slice(&row_values[..kept]);
        }
        let data = TensorData::new(values, [rows.len(), seq_len, width]);
        Self {
            after_layer: states.after_layer(),
            hidden: Tensor::from_data(data, device),
        }
    }
}

/// Token states held in memory as f32, sequences one after another: what a benchmark
/// or a test computes on the spot instead of reading a cache.
#[derive(Debug, Clone)]
pub struct InMemoryStates {
    after_layer: usize,
    width: usize,
    lengths: Vec<usize>,
    offsets: Vec<usize>,
    values: Vec<f32>,
}

impl InMemoryStates {
    /// The states after layer `after_layer` of sequences of `lengths` tokens, stored
    /// one after another in `values` (`Σ lengths × width` floats).
    ///
    /// # Panics
    /// If `values` does not hold exactly that many floats.
    pub fn new(after_layer: usize, width: usize, lengths: Vec<usize>, values: Vec<f32>) -> Self {
        let offsets: Vec<usize> = lengths
            .iter()
            .scan(0, |next, &len| {
                let offset = *next;
                *next += len;
                Some(offset)
            })
            .collect();
        assert_eq!(
            values.len(),
            lengths.iter().sum::<usize>() * width,
            "one state per token"
        );
        Self {
            after_layer,
            width,
            lengths,
            offsets,
            values,
        }
    }
}

impl LayerStates for InMemoryStates {
    fn after_layer(&self) -> usize {
        self.after_layer
    }

    fn width(&self) -> usize {
        self.width
    }

    fn rows(&self) -> usize {
        self.lengths.len()
    }

    fn tokens(&self, row: usize) -> usize {
        self.lengths[row]
    }

    fn read_row(&self, row: usize, out: &mut [f32]) {
        let start = self.offsets[row] * self.width;
        out.copy_from_slice(&self.values[start..start + self.lengths[row] * self.width]);
    }
}
