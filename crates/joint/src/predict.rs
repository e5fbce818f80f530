//! Batched inference with a classifier.

use bert::{BertInput, LayerStates};
use burn::tensor::Device;
use burn::tensor::activation::softmax;
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
    let classes = model.classes();
    let mut probabilities = vec![0f32; encodings.len() * classes];
    let order = length_order(encodings);
    for batch in order.chunks(batch_size.max(1)) {
        let input = batch_input(encodings, states, batch, pad_id, device);
        let rows = softmax(model.forward(&input), 1)
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("probabilities are floats");
        for (row, &index) in rows.chunks_exact(classes).zip(batch) {
            probabilities[index * classes..(index + 1) * classes].copy_from_slice(row);
        }
        progress(batch.len());
    }
    probabilities
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
