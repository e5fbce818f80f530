//! Fine-tuning from a pipeline head (LP-FT): the head as one affine map of the raw
//! features, its classes put in the classifier's order, checked against the model
//! whose features it read.

use bert::Pooling;
use bert::burn::tensor::Device;
use data::LabelMap;
use encoder::{EmbeddingSpec, LayerSelection, ModelChecksums};
use head::SavedHead;
use joint::{BertClassifier, ClassifierPooling};

use super::FineTuneJob;
use crate::Observer;
use crate::error::{Context, Result, refuse};

impl FineTuneJob {
    /// The settings a start head needs, checked without reading it.
    pub(super) fn check_start_head(&self) -> Result<()> {
        if self.start_head.is_none() {
            return Ok(());
        }
        if self.prompt.is_some() {
            refuse!([start_head] " starts a linear classifier: leave out " [prompt]);
        }
        if !self.hidden.is_linear() || self.batch_norm {
            refuse!([start_head] " is a linear head: leave out " [hidden] " and " [batch_norm]);
        }
        if self.pooling != ClassifierPooling::Mean {
            refuse!(
                [start_head] " was trained on mean-pooled features, which a classifier reads \
                 with " [pooling] " mean"
            );
        }
        if self.num_layers.is_some() {
            refuse!(
                [start_head] " read the features of every layer of the model: leave out "
                [num_layers]
            );
        }
        if self.cv.is_some() {
            refuse!(
                [start_head] " was trained on every fold's records, so each fold's model \
                 would start from a head that saw the records it is scored on: leave out "
                [cv]
            );
        }
        Ok(())
    }

    /// `classifier` with its weights from the start head, if any, its
    /// classes in the order of `labels`.
    pub(super) fn start_from_head(
        &self,
        classifier: BertClassifier,
        labels: &LabelMap,
        device: &Device,
        observer: &mut dyn Observer,
    ) -> Result<BertClassifier> {
        let Some(path) = &self.start_head else {
            return Ok(classifier);
        };
        let shown = path.display();
        let head = SavedHead::load(path, device)?;
        let spec: EmbeddingSpec = serde_json::from_value(head.features().spec.clone())
            .with_context(|| format!("{shown}: reading the spec of its features"))?;
        let features = spec.describe_encoder();
        if spec.pooling != Pooling::Mean || spec.layers != LayerSelection::Last || spec.normalize {
            refuse!(
                [start_head] " {shown} was trained on features ({features}) other than the \
                 unnormalised mean of the final states, which fine-tuning pools"
            );
        }
        let model = &self.model.model;
        let checksums = ModelChecksums::of(model)?;
        if (
            &checksums.weights_sha256,
            &checksums.config_sha256,
            &checksums.tokenizer_sha256,
        ) != (
            &spec.weights_sha256,
            &spec.config_sha256,
            &spec.tokenizer_sha256,
        ) {
            let model = model.display();
            refuse!(
                [start_head] " {shown} was trained on the features of another model \
                 ({features}), not of {model}: start from a head trained over this model's \
                 embeddings"
            );
        }
        let Some(affine) = head.affine() else {
            let shape = head.config.head.shape_name();
            refuse!([start_head] " {shown} has hidden layers ({shape}): start from a linear head");
        };
        let order: Option<Vec<usize>> = labels
            .names()
            .iter()
            .map(|name| head.labels.iter().position(|l| l == name))
            .collect();
        let order = match order {
            Some(order) if head.labels.len() == labels.len() => order,
            _ => {
                let (theirs, ours) = (&head.labels, labels.names());
                refuse!(
                    [start_head] " {shown} classifies into {theirs:?}, the training data into \
                     {ours:?}: start from a head trained on the same classes"
                )
            }
        };
        let classes = head.labels.len();
        let weight = affine
            .weight
            .chunks_exact(classes)
            .flat_map(|row| order.iter().map(|&j| row[j]))
            .collect();
        let bias = order.iter().map(|&j| affine.bias[j]).collect();
        observer.note(&format!(
            "the classifier starts from the head in {shown} ({}, its standardiser folded in)",
            head.config.head.shape_name()
        ));
        Ok(classifier.with_head_weights(weight, bias)?)
    }
}
