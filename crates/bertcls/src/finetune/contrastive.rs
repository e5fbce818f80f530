//! `finetune --contrastive`: SetFit's recipe as a fine-tuning run. The encoder is
//! tuned on pairs of training examples ([`joint::tune_contrastively`]), SetFit's
//! head, logistic regression ([`TrainConfig::logistic_regression`]), is fitted on
//! its embeddings of the training data, and the head, its standardiser folded in,
//! becomes the classifier's layer: the result is an ordinary fine-tuned classifier,
//! which `predict`, `evaluate` and the rest load like any other.

use std::ops::ControlFlow;

use head::{Features, TrainConfig};
use joint::{EvalRecord, Examples, FineTuned, StopReason, TrainEvent};

use super::FineTuneJob;
use super::prepare::LoadedRun;
use super::run::tell;
use crate::Observer;
use crate::error::{Context, Result};

impl FineTuneJob {
    /// Contrastive tuning, then the head: the outcome as a fine-tuning run's, with
    /// one evaluation (the finished classifier on validation).
    pub(super) fn tune_contrastively(
        &self,
        run: &mut LoadedRun,
        observer: &mut dyn Observer,
    ) -> Result<FineTuned> {
        let model = run.model.take().expect("the model is trained once");
        let optimization = &run.config.optimization;
        let pairs = joint::draw_pairs(
            &run.train.labels,
            self.contrastive_pairs.pair_iterations,
            optimization.seed,
        )?;
        observer.note(&format!(
            "contrastive tuning of {} ({} layers, max_len {}): {} pairs of {} training \
             examples ({} of one label), {} epoch(s) of {} steps; then logistic regression \
             on its embeddings ({} validation examples)",
            self.model.model.display(),
            model.bert.num_layers(),
            self.model.max_len,
            pairs.len(),
            run.train.len(),
            pairs.iter().filter(|p| p.similar).count(),
            optimization.epochs,
            pairs.len().div_ceil(optimization.batch_size),
            run.valid.len(),
        ));
        let pad = run.parts.tokenizer.special_tokens().pad;
        let mut on_event = |event: &TrainEvent<'_>| {
            tell(observer, event);
            ControlFlow::Continue(())
        };
        let tuned = joint::tune_contrastively(
            model,
            &run.train,
            &pairs,
            optimization,
            pad,
            &run.device,
            &mut on_event,
        );
        observer.end();
        let tuned = tuned?;
        let train = self.embeddings(run, &tuned.model, &run.train, "training", observer);
        let valid = self.embeddings(run, &tuned.model, &run.valid, "validation", observer);
        let config = TrainConfig::logistic_regression(train.originals(), optimization.seed);
        let best = head::train_head(&train, &valid, run.labels.names(), &config, &run.device)
            .context("fitting the head on the tuned embeddings")?;
        observer.note(&format!(
            "head: logistic regression on the tuned embeddings, validation {}",
            best.valid_report.summary()
        ));
        let affine = best
            .standardizer
            .fold_head(&best.model)
            .expect("logistic regression is linear");
        let model = tuned.model.with_head_weights(affine.weight, affine.bias)?;
        // The classifier computes the head over the embeddings: its validation scores
        // are the head's, with no second pass of BERT over validation.
        let kept = best
            .history
            .iter()
            .find(|epoch| epoch.epoch == best.best_epoch)
            .expect("the kept epoch is in the head's history");
        let record = EvalRecord {
            step: tuned.steps,
            epoch: optimization.epochs as f64,
            train_loss: tuned.epoch_losses.last().copied().unwrap_or(f64::NAN),
            valid_loss: kept.valid_loss,
            // Contrastive tuning reads single-label data: the main score is macro-F1.
            valid_macro_f1: best.valid_report.main(),
            valid_accuracy: best.valid_report.accuracy().unwrap_or_default(),
            learning_rate: 0.0,
        };
        Ok(FineTuned {
            model,
            best: Some(0),
            history: vec![record],
            valid_report: best.valid_report.classes().cloned(),
            stop: if tuned.interrupted {
                StopReason::Interrupted
            } else {
                StopReason::Completed
            },
            steps: tuned.steps,
            examples_trained: tuned.pairs_trained,
            passes: tuned.steps,
            batches: tuned.steps,
            train_seconds: tuned.train_seconds + best.seconds,
        })
    }

    /// The tuned encoder's embeddings of `examples`, as a head reads features.
    fn embeddings(
        &self,
        run: &LoadedRun,
        model: &joint::BertClassifier,
        examples: &Examples,
        what: &str,
        observer: &mut dyn Observer,
    ) -> Features {
        observer.begin(&format!("embedding the {what} examples"), examples.len());
        let values = joint::embed_rows(
            model,
            &examples.encodings,
            run.parts.tokenizer.special_tokens().pad,
            run.config.eval_batch_size,
            &run.device,
            &mut |n| observer.advance(n),
        );
        observer.end();
        Features::new(values, model.bert.hidden_size(), examples.labels.clone())
    }
}
