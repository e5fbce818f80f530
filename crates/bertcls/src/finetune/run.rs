//! A fine-tuning run from its loaded inputs: cross-validation folds or one run,
//! the training loop's events as progress, the decision rule, the saved model and
//! its test.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use data::{Label, LabelMap, Record, stratified_split};
use joint::{
    ClassifierMeta, RunDir, SavedClassifier, StopReason, TrainEvent, fine_tune, remove_checkpoint,
};
use metrics::{ClassificationReport, DecisionRule};
use settings::SettingError;
use training::Targets;

use super::FineTuneJob;
use super::prepare::LoadedRun;
use super::summary::{FineTuneOutcome, FineTuneRun, TEST_PREDICTIONS_FILE, TrainingSummary};
use crate::Observer;
use crate::classifier::{label_columns, reorder_columns, true_labels};
use crate::cross_validation::{CvData, cross_validate};
use crate::error::{Context, JobError, Result, refuse};
use crate::predictions::write_predictions;
use crate::teacher::Teacher;

impl FineTuneJob {
    /// [`run`](Self::run), the model also learning from `teacher`'s soft targets.
    pub(crate) fn run_with(
        &self,
        teacher: Option<&Teacher>,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneOutcome> {
        if let Some(k) = self.cv {
            if teacher.is_some() {
                refuse!("cross-validation and distillation do not go together");
            }
            return self.cross_validate_folds(k, observer);
        }
        let train = self.columns.read(&self.train, true, observer)?;
        let (train, valid) = self.with_validation(train, observer)?;
        let run = self.train_on(train, valid, teacher, observer)?;
        Ok(FineTuneOutcome::Trained(Box::new(run)))
    }

    /// `train` and the validation records: the validation file's, or a stratified
    /// share held out of `train`.
    pub(super) fn with_validation(
        &self,
        train: Vec<Record>,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<Record>, Vec<Record>)> {
        match &self.valid {
            Some(path) => Ok((train, self.columns.read(path, true, observer)?)),
            None => {
                if !(0.0..0.5).contains(&self.valid_fraction) || self.valid_fraction == 0.0 {
                    let requirement =
                        settings::message!("must be in (0, 0.5) when no " [valid] " file is given");
                    return Err(SettingError::new(
                        "valid_fraction",
                        self.valid_fraction,
                        requirement,
                    )
                    .into());
                }
                let splits =
                    stratified_split(train, self.valid_fraction, 0.0, self.optimization.seed);
                observer.note(&format!(
                    "no validation file: holding out {} of {} training records (stratified)",
                    splits.validation.len(),
                    splits.validation.len() + splits.train.len()
                ));
                Ok((splits.train, splits.validation))
            }
        }
    }

    /// `--cv K`: a model fine-tuned per fold (in OUT/fold-N), each scored on the fold
    /// it held out.
    pub(super) fn cross_validate_folds(
        &self,
        k: usize,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneOutcome> {
        let records = self.columns.read(&self.train, true, observer)?;
        let labels = LabelMap::from_records(&records);
        let truth = Targets::Classes(
            records
                .iter()
                .map(|r| r.class().and_then(|l| labels.index(l)).unwrap_or(0))
                .collect(),
        );
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let device = self.model.backend.device()?;
        let data = CvData {
            labels: labels.names(),
            truth: &truth,
            ids: &ids,
        };
        let kind = artifacts::ArtifactKind::CrossValidation;
        let out =
            artifacts::claim_dir(&self.out, kind, self.force.overwrite()).for_setting("out")?;
        let cv = cross_validate(
            k,
            self.optimization.seed,
            &data,
            &out,
            observer,
            &mut |fold, observer| {
                let pick = |indices: &[usize]| -> Vec<Record> {
                    indices.iter().map(|&i| records[i].clone()).collect()
                };
                let (train, valid) = self.with_validation(pick(&fold.train), observer)?;
                let fold_job = FineTuneJob {
                    out: out.join(format!("fold-{}", fold.index + 1)),
                    cv: None,
                    ..self.clone()
                };
                let run = fold_job.train_on(train, valid, None, observer)?;
                let model = SavedClassifier::load(&run.model_dir, None, &device)?;
                let probabilities =
                    model.predict_proba(&pick(&fold.held_out), 64, &device, &mut |_| {})?;
                let columns = label_columns(model.labels(), labels.names())
                    .with_context(|| format!("fold {}", fold.index + 1))?;
                Ok(reorder_columns(&probabilities, &columns, labels.len()))
            },
        )?;
        Ok(FineTuneOutcome::CrossValidation { out, cv })
    }

    /// Fine-tunes on these records (the training and validation files already read),
    /// saves the best model and `training.json`, tests it when a test file is given.
    pub(super) fn train_on(
        &self,
        train_records: Vec<Record>,
        valid_records: Vec<Record>,
        teacher: Option<&Teacher>,
        observer: &mut dyn Observer,
    ) -> Result<FineTuneRun> {
        let started = Instant::now();
        // Checks the settings against the data and the model, so a refused one leaves
        // no folder behind.
        let mut run = self.prepare(train_records, valid_records, teacher, observer)?;
        if self.resume && !joint::has_checkpoint(&self.out) {
            return Err(match TrainingSummary::read(&self.out) {
                Some(finished) => JobError::RunFinished {
                    dir: self.out.clone(),
                    how: finished.stop_words().into(),
                    steps: finished.steps,
                    model: self.out.join("model"),
                },
                None => joint::JointError::NoCheckpoint {
                    dir: self.out.clone(),
                }
                .into(),
            });
        }
        let kind = artifacts::ArtifactKind::FineTuneRun;
        artifacts::claim_dir(&self.out, kind, self.force.overwrite()).for_setting("out")?;
        let outcome = if self.contrastive {
            self.tune_contrastively(&mut run, observer)?
        } else {
            self.train(&mut run, observer)?
        };
        let decision = self.decision_rule(&run, &outcome, observer)?;
        let model_dir = self.persist(&run, &outcome, &decision, observer)?;
        let test = self.test(&run, &outcome, &decision, observer)?;
        let summary = TrainingSummary::of(self, &run, &outcome, test.as_ref(), started);
        let summary_path = self.out.join("training.json");
        artifacts::write_json(&summary_path, &summary)?;
        if outcome.stop != StopReason::Interrupted && !self.keep_checkpoint {
            remove_checkpoint(&self.out)?;
        }
        Ok(FineTuneRun {
            model_dir,
            summary_path,
            train_seconds: outcome.train_seconds,
            summary,
        })
    }

    /// The training loop, its events told to `observer`.
    pub(super) fn train(
        &self,
        run: &mut LoadedRun,
        observer: &mut dyn Observer,
    ) -> Result<joint::FineTuned> {
        let model = run.model.take().expect("the model is trained once");
        let pad = run.parts.tokenizer.special_tokens().pad;
        let mut on_event = |event: &TrainEvent<'_>| {
            tell(observer, event);
            ControlFlow::Continue(())
        };
        let outcome = fine_tune(
            model,
            &run.train,
            &run.valid,
            run.labels.names(),
            &run.config,
            pad,
            &run.device,
            Some(RunDir {
                path: &self.out,
                resume: self.resume,
            }),
            &mut on_event,
        );
        observer.end();
        Ok(outcome?)
    }

    /// The decision rule asked for, chosen on the trained model.
    pub(super) fn decision_rule(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        observer: &mut dyn Observer,
    ) -> Result<DecisionRule> {
        let train_labels = &run.train.labels[..run.train.originals()];
        let rule =
            self.decision
                .rule(run.labels.names(), train_labels, &run.valid.labels, || {
                    run.evaluate(&outcome.model, &run.valid, &mut |_| {})
                        .probabilities
                })?;
        if rule != DecisionRule::Argmax {
            observer.note(&format!("decision: {rule}"));
        }
        Ok(rule)
    }

    /// The best model as a Hugging Face folder in OUT/model.
    pub(super) fn persist(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        decision: &DecisionRule,
        observer: &mut dyn Observer,
    ) -> Result<PathBuf> {
        let model_dir = self.out.join("model");
        let meta = ClassifierMeta {
            labels: run.labels.names().to_vec(),
            classifier: run.classifier.clone(),
            max_len: self.model.max_len,
            base_model: self.model.model.clone(),
            fine_tune: Some(run.config.clone()),
            decision: decision.clone(),
        };
        SavedClassifier::save(&outcome.model, &meta, &model_dir)?;
        if !meta.classifier.is_hugging_face_compatible() {
            observer.note(
                "note: with mean pooling, an MLP head or a prompt the folder is not a \
                 BertForSequenceClassification; bertcls loads it, transformers would not",
            );
        }
        Ok(model_dir)
    }

    /// The kept model on the test file, with its inference speed in docs/s; a test
    /// class the training data lacks counts as misses.
    pub(super) fn test(
        &self,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        decision: &DecisionRule,
        observer: &mut dyn Observer,
    ) -> Result<Option<(ClassificationReport, f64)>> {
        let Some(path) = &self.test else {
            return Ok(None);
        };
        let records = self.columns.read(path, true, observer)?;
        let truth = true_labels(&records, path)?;
        let encodings = run
            .parts
            .encoder()?
            .encode_all(&records)
            .with_context(|| format!("in {}", path.display()))?;
        observer.begin("testing", records.len());
        let started = Instant::now();
        let probabilities = joint::predict_proba(
            &outcome.model,
            &encodings,
            run.parts.tokenizer.special_tokens().pad,
            run.config.eval_batch_size,
            &run.device,
            &mut |n| observer.advance(n),
        );
        observer.end();
        let docs_per_second = records.len() as f64 / started.elapsed().as_secs_f64();
        let names = run.labels.names();
        let predicted = decision.decide(&probabilities, names.len());
        let report = ClassificationReport::by_name(names, &truth, &predicted, Some(&probabilities));
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let truth: Vec<Option<Label>> = truth.iter().map(|&t| Some(t.into())).collect();
        let path = self.out.join(TEST_PREDICTIONS_FILE);
        let predicted = Targets::Classes(predicted);
        write_predictions(&path, names, &ids, &truth, &probabilities, &predicted)
            .with_context(|| settings::message!("writing the test predictions into "[out]))?;
        observer.note(&format!("test predictions: {}", path.display()));
        Ok(Some((report, docs_per_second)))
    }
}

/// The training loop's events as progress: examples trained, the loss, and a line
/// per evaluation.
pub(super) fn tell(observer: &mut dyn Observer, event: &TrainEvent<'_>) {
    match event {
        TrainEvent::Started {
            total_steps,
            steps_done,
            total_examples,
            examples_done,
        } => {
            if *steps_done > 0 {
                observer.note(&format!(
                    "resuming from the checkpoint: {steps_done} of {total_steps} steps done"
                ));
            }
            observer.begin("training", *total_examples);
            observer.set_position(*examples_done);
        }
        TrainEvent::Step {
            epoch,
            loss,
            learning_rate,
            examples_done,
            ..
        } => {
            observer.set_position(*examples_done);
            observer.status(&format!(
                "epoch {} loss {loss:.4} lr {learning_rate:.1e}",
                epoch + 1
            ));
        }
        TrainEvent::Evaluating { examples } => {
            observer.status(&format!("evaluating {examples} validation docs"));
        }
        TrainEvent::Evaluated { record, improved } => observer.note(&format!(
            "step {:>6}  epoch {:.2}  train loss {:>6}  valid loss {:.4}  macro-F1 {:.4}  accuracy {:.4}{}",
            record.step,
            record.epoch,
            // The starting weights' evaluation comes before any training.
            match record.step {
                0 => "-".to_owned(),
                _ => format!("{:.4}", record.train_loss),
            },
            record.valid_loss,
            record.valid_macro_f1,
            record.valid_accuracy,
            if *improved { "  *best" } else { "" }
        )),
    }
}
