//! Batched inference with a classifier.

use bert::{BertInput, LayerStates};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use text::{Encoding, length_order};

use crate::BertClassifier;

/// Class probabilities, `encodings.len() × classes` in input order, computed in
/// length-sorted batches so little work goes into padding. `model` must be on
/// `device` without autodiff (`model.valid()`); `progress` hears of each batch done.
pub fn predict_proba(
    model: &BertClassifier,
    encodings: &[Encoding],
    pad_id: u32,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Vec<f32> {
    predict_rows(model, encodings, None, pad_id, batch_size, device, progress)
}

/// [`predict_proba`], the batches entering above the frozen layers when `states`
/// holds every encoding's states there.
pub(crate) fn predict_rows(
    model: &BertClassifier,
    encodings: &[Encoding],
    states: Option<&dyn LayerStates>,
    pad_id: u32,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Vec<f32> {
    let batches = Batches {
        encodings,
        states,
        pad_id,
        batch_size,
        device,
    };
    batches.rows(
        model.classes(),
        |input| softmax(model.forward(input), 1),
        progress,
    )
}

/// The sentence embeddings of `encodings` (`encodings.len() × hidden`, in input
/// order): the vectors the classifier's head reads, with no dropout. `model` must be
/// on `device` without autodiff.
pub fn embed_rows(
    model: &BertClassifier,
    encodings: &[Encoding],
    pad_id: u32,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Vec<f32> {
    let batches = Batches {
        encodings,
        states: None,
        pad_id,
        batch_size,
        device,
    };
    batches.rows(
        model.bert.hidden_size(),
        |input| model.embed(input),
        progress,
    )
}

/// Encodings run through a model in length-sorted batches.
struct Batches<'a> {
    encodings: &'a [Encoding],
    states: Option<&'a dyn LayerStates>,
    pad_id: u32,
    batch_size: usize,
    device: &'a Device,
}

impl Batches<'_> {
    /// `width` values per encoding from `forward`, in input order; sorting by length
    /// keeps little work in padding.
    fn rows(
        &self,
        width: usize,
        forward: impl Fn(&BertInput) -> Tensor<2>,
        progress: &mut dyn FnMut(usize),
    ) -> Vec<f32> {
        let mut values = vec![0f32; self.encodings.len() * width];
        let order = length_order(self.encodings);
        for batch in order.chunks(self.batch_size.max(1)) {
            let input = batch_input(self.encodings, self.states, batch, self.pad_id, self.device);
            let rows = forward(&input)
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("model outputs are floats");
            for (row, &index) in rows.chunks_exact(width).zip(batch) {
                values[index * width..(index + 1) * width].copy_from_slice(row);
            }
            progress(batch.len());
        }
        values
    }
}

/// The padded batch of `encodings[batch[0]]`, `encodings[batch[1]]`, …, with their
/// stored states when there are any.
pub(crate) fn batch_input(
    encodings: &[Encoding],
    states: Option<&dyn LayerStates>,
    batch: &[usize],
    pad_id: u32,
    device: &Device,
) -> BertInput {
    let batch_encodings: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
    let input = BertInput::from_encodings(&batch_encodings, pad_id, device);
    match states {
        Some(states) => input.with_states(states, batch),
        None => input,
    }
}
