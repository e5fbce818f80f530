//! A model measured on labelled examples: the validation pass of a run, and any
//! evaluation after it.

use burn::tensor::Device;
use metrics::{ClassificationReport, DecisionRule, mean_log_loss};

use super::EvalRecord;
use crate::checkpoint::TrainState;
use crate::{BertClassifier, Examples};

/// The validation set and how to run over it.
pub(super) struct Validation<'a> {
    pub(super) examples: &'a Examples,
    pub(super) labels: &'a [String],
    pub(super) pad_id: u32,
    pub(super) batch_size: usize,
    pub(super) device: &'a Device,
}

impl Validation<'_> {
    /// Metrics and mean cross-entropy of `model`.
    pub(super) fn pass(&self, model: &BertClassifier) -> Evaluation {
        evaluate_examples(
            model,
            self.examples,
            self.labels,
            self.pad_id,
            self.batch_size,
            self.device,
            &mut |_| {},
        )
    }

    /// Evaluates `model` and closes the training-loss window of `state`.
    pub(super) fn evaluate(
        &self,
        model: &BertClassifier,
        state: &mut TrainState,
        steps_per_epoch: usize,
        learning_rate: f64,
    ) -> (EvalRecord, ClassificationReport) {
        let Evaluation {
            report,
            loss: valid_loss,
            ..
        } = self.pass(model);
        let record = EvalRecord {
            step: state.step,
            epoch: state.step as f64 / steps_per_epoch as f64,
            train_loss: state.loss_sum / state.loss_count.max(1) as f64,
            valid_loss,
            valid_macro_f1: report.macro_f1,
            valid_accuracy: report.accuracy,
            learning_rate,
        };
        state.loss_sum = 0.0;
        state.loss_count = 0;
        (record, report)
    }
}

/// A pass of a model over labelled examples.
pub struct Evaluation {
    /// `examples × classes`, row-major.
    pub probabilities: Vec<f32>,
    /// With argmax decisions.
    pub report: ClassificationReport,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Probabilities, the metric report and mean cross-entropy of `model` (on `device`
/// without autodiff) on labelled `examples`; `progress` hears of each batch done.
pub fn evaluate_examples(
    model: &BertClassifier,
    examples: &Examples,
    labels: &[String],
    pad_id: u32,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Evaluation {
    let probabilities = crate::predict::predict_rows(
        model,
        &examples.encodings,
        examples.states.as_deref(),
        pad_id,
        batch_size,
        device,
        progress,
    );
    let loss = mean_log_loss(&probabilities, labels.len(), &examples.labels);
    let report = DecisionRule::Argmax.report(labels, &examples.labels, &probabilities);
    Evaluation {
        probabilities,
        report,
        loss,
    }
}
