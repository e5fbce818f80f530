//! Batched inference with a classifier.

use bert::BertInput;
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
    let classes = model.classes();
    let mut probabilities = vec![0f32; encodings.len() * classes];
    let order = length_order(encodings);
    for batch in order.chunks(batch_size.max(1)) {
        let batch_encodings: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
        let input = BertInput::from_encodings(&batch_encodings, pad_id, device);
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
