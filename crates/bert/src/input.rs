use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use text::Encoding;

use crate::{EntryStates, LayerStates};

/// A padded batch, ready for [`BertModel::forward`](crate::BertModel::forward).
#[derive(Debug, Clone)]
pub struct BertInput {
    /// `[batch, seq]` vocabulary ids, `[PAD]` after each sequence's end.
    pub input_ids: Tensor<2, Int>,
    /// `[batch, seq]` segment ids (0 for the first text, 1 for the second of a pair).
    pub token_type_ids: Tensor<2, Int>,
    /// `[batch, seq]`, 1 for a real token and 0 for padding, as in Hugging Face.
    pub attention_mask: Tensor<2, Int>,
    /// The batch's states after a frozen bottom stack of layers, when it enters the
    /// model above them ([`with_states`](Self::with_states)); the ids then serve only
    /// to find positions (a prompt's `[MASK]`), and the layers below are not run.
    pub states: Option<EntryStates>,
}

impl BertInput {
    /// Pads encodings to the longest one in the batch. Sorting inputs by length before
    /// batching keeps that padding, and the work spent on it, small.
    ///
    /// # Panics
    /// If `encodings` is empty: a batch has at least one sequence.
    pub fn from_encodings(encodings: &[&Encoding], pad_id: u32, device: &Device) -> Self {
        assert!(!encodings.is_empty(), "a batch needs at least one sequence");
        let batch = encodings.len();
        let seq_len = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = vec![pad_id as i64; batch * seq_len];
        let mut types = vec![0i64; batch * seq_len];
        let mut mask = vec![0i64; batch * seq_len];
        for (row, encoding) in encodings.iter().enumerate() {
            let start = row * seq_len;
            for (col, (&id, &ty)) in encoding.ids.iter().zip(&encoding.type_ids).enumerate() {
                ids[start + col] = id as i64;
                types[start + col] = ty as i64;
                mask[start + col] = 1;
            }
        }
        let tensor = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [batch, seq_len]), device)
        };
        Self {
            input_ids: tensor(ids),
            token_type_ids: tensor(types),
            attention_mask: tensor(mask),
            states: None,
        }
    }

    /// This batch entering the model above layer `states.after_layer()`: `rows` are
    /// the batch's sequences in `states`, in the batch's order. The stored states must
    /// be those of these very sequences (the caller checks the token counts).
    pub fn with_states(mut self, states: &dyn LayerStates, rows: &[usize]) -> Self {
        let [_, seq_len] = self.dims();
        let device = self.input_ids.device();
        self.states = Some(EntryStates::gather(states, rows, seq_len, &device));
        self
    }

    /// `[batch, seq]`, true where a position is padding.
    pub fn padding_mask(&self) -> Tensor<2, Bool> {
        self.attention_mask.clone().equal_elem(0)
    }

    /// `[batch, seq]`.
    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }
}
