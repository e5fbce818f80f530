//! `bertcls finetune`: end-to-end mode, BERT and head trained together.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use data::{LabelMap, Record, Sampling, stratified_split};
use indicatif::ProgressBar;
use joint::{
    ClassifierConfig, ClassifierMeta, ClassifierPooling, EvalRecord, Examples, FineTuneConfig,
    PromptConfig, RunDir, SavedClassifier, StopReason, TrainEvent, fine_tune, load_for_training,
    remove_checkpoint,
};
use metrics::{ClassificationReport, DecisionRule};
use training::LossSpec;
use training::{Activation, HeadConfig, Monitor, Schedule};

use crate::args::{AdversaryArgs, ColumnArgs, DecisionArgs, ForceArgs, LossArgs, ModelArgs};
use crate::classifier::{label_columns, reorder_columns, true_labels};
use crate::commands::cross_validation::{CvData, cross_validate};
use crate::commands::distill::Teacher;
use crate::output::print_report;
use crate::progress;

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    bertcls finetune --train data/r8/train.jsonl --valid data/r8/validation.jsonl \\\n      \
    --test data/r8/test.jsonl --out runs/r8\n  \
    bertcls finetune --train pairs.csv --text-b-col hypothesis --epochs 2 --lr 3e-5 --out runs/nli\n  \
    bertcls finetune … --out runs/r8 --resume      # continue an interrupted run\n\n\
    The best model (by --monitor on validation) is saved in OUT/model as a Hugging Face \
    folder: `transformers.AutoModelForSequenceClassification.from_pretrained(\"OUT/model\")` \
    loads it. OUT/training.json holds the settings, the learning curves and the metrics.")]
pub struct FinetuneArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Training data (JSONL, CSV or TSV).
    #[arg(long)]
    pub train: PathBuf,
    /// Validation data, for model selection and early stopping. Without it, a
    /// stratified --valid-fraction of the training data is held out.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Augmented variants of training examples (e.g. from `bertcls augment`):
    /// --sampling oversample tops classes up from them instead of repeating examples.
    #[arg(long)]
    pub augmented: Option<PathBuf>,
    /// Held-out share of the training data when no --valid file is given.
    #[arg(long, default_value_t = 0.1)]
    pub valid_fraction: f64,
    /// Test data, evaluated once with the best model at the end.
    #[arg(long)]
    pub test: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Run folder: OUT/model (the best model), OUT/training.json, and
    /// OUT/checkpoint while training (removed when the run completes).
    #[arg(long, default_value = "runs/finetune")]
    pub out: PathBuf,
    /// Continue the interrupted run in --out from its last checkpoint (same flags).
    #[arg(long)]
    pub resume: bool,
    /// Keep OUT/checkpoint after the run completes.
    #[arg(long)]
    pub keep_checkpoint: bool,
    #[command(flatten)]
    pub force: ForceArgs,

    /// Keep only the bottom K encoder layers: a smaller, faster model.
    #[arg(long, value_name = "K")]
    pub num_layers: Option<usize>,
    /// What the head reads: cls ([CLS] through BERT's pooler, as
    /// BertForSequenceClassification) or mean (mean of the token states).
    #[arg(long, default_value_t = ClassifierPooling::Cls)]
    pub pooling: ClassifierPooling,
    /// Head: `linear` (BERT's usual single layer) or hidden widths like 256 or 512x256.
    #[arg(long, default_value = "linear")]
    pub hidden: String,
    /// Activation of MLP heads: relu, gelu or tanh.
    #[arg(long, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Batch normalisation in MLP heads.
    #[arg(long)]
    pub batch_norm: bool,
    /// Dropout before the head (default: the model's hidden_dropout_prob).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Dropout after the embeddings and each sub-layer of BERT (default: the model's
    /// hidden_dropout_prob).
    #[arg(long, value_name = "P")]
    pub hidden_dropout: Option<f64>,
    /// Dropout on BERT's attention weights (default: the model's
    /// attention_probs_dropout_prob).
    #[arg(long, value_name = "P")]
    pub attention_dropout: Option<f64>,
    /// L1 penalty on the head's weight matrices, added to the loss.
    #[arg(long, default_value_t = 0.0)]
    pub l1: f64,
    /// Prompt-based classification: the text goes into this template, with one
    /// [MASK] whose state is scored against each label's word (--verbalizer) instead
    /// of a new head over [CLS]; e.g. "{text} [SEP] This is about [MASK]."
    /// ({text_b} for pairs). With a checkpoint that has a masked-LM head the scores
    /// are its logits of the words (PET); without one (all-MiniLM-L6-v2), the [MASK]
    /// state through a projection initialised to the identity, against the words'
    /// embeddings.
    #[arg(long, value_name = "TEMPLATE", requires = "verbalizer")]
    pub prompt: Option<String>,
    /// With --prompt: each label's word, label=word,… (a word of several pieces
    /// scores as their mean).
    #[arg(
        long,
        value_name = "LABEL=WORD,…",
        value_delimiter = ',',
        requires = "prompt"
    )]
    pub verbalizer: Vec<String>,

    /// Passes over the training data.
    #[arg(long, default_value_t = FineTuneConfig::default().epochs)]
    pub epochs: usize,
    /// Examples per forward/backward pass.
    #[arg(long, default_value_t = FineTuneConfig::default().batch_size)]
    pub batch_size: usize,
    /// Passes per optimizer step: effective batch = batch size × this.
    #[arg(long, default_value_t = FineTuneConfig::default().grad_accumulation)]
    pub grad_accumulation: usize,
    /// Peak learning rate.
    #[arg(long = "lr", default_value_t = FineTuneConfig::default().learning_rate)]
    pub learning_rate: f64,
    /// Share of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = FineTuneConfig::default().warmup_ratio)]
    pub warmup_ratio: f64,
    /// Decay after warm-up: linear, cosine or constant.
    #[arg(long, default_value = "linear")]
    pub schedule: Schedule,
    /// AdamW weight decay (not applied to biases and LayerNorm).
    #[arg(long, default_value_t = FineTuneConfig::default().weight_decay)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this; 0 disables clipping.
    #[arg(long, default_value_t = FineTuneConfig::default().max_grad_norm)]
    pub max_grad_norm: f64,
    /// Do not train the embedding layer.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// Do not train the bottom N encoder layers.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub freeze_layers: usize,
    /// Evaluate and checkpoint every N optimizer steps (default: every epoch).
    #[arg(long, value_name = "N")]
    pub eval_every: Option<usize>,
    /// What picks the best evaluation: loss, macro-f1 or accuracy.
    #[arg(long, default_value = "loss")]
    pub monitor: Monitor,
    /// Stop after N evaluations without improvement (default: run every epoch).
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    #[command(flatten)]
    pub loss: LossArgs,
    #[command(flatten)]
    pub adversary: AdversaryArgs,
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Which examples each epoch trains on: none, oversample[:R], undersample[:R],
    /// rotating[:R] (a different majority subset every epoch) or class-balanced.
    #[arg(long, default_value_t = Sampling::None)]
    pub sampling: Sampling,
    /// Stratified K-fold cross-validation of the training data instead of one run:
    /// each fold's model (OUT/fold-N) trains on the other folds, selecting its
    /// weights on --valid (or a hold-out of its folds), and is scored on its own;
    /// OUT/cv.json gets every metric's mean ± std, OUT/cv-predictions.jsonl the
    /// out-of-fold predictions. Not with --augmented: a held-out example's variants
    /// would train the model that scores it.
    #[arg(long, value_name = "K", conflicts_with_all = ["resume", "test", "augmented", "logit_adjust", "threshold"])]
    pub cv: Option<usize>,
    /// Train on a bootstrap sample of the training data (as many records, drawn with
    /// replacement by --seed): one member of a bagged ensemble, which `bertcls
    /// ensemble` assembles from several such runs.
    #[arg(long)]
    pub bootstrap: bool,
    /// Decides the head's initial weights, the data order and the dropout masks.
    #[arg(long, default_value_t = FineTuneConfig::default().seed)]
    pub seed: u64,
}

impl FinetuneArgs {
    /// The classifier and recipe these flags describe, validated.
    pub(crate) fn configs(&self) -> Result<(ClassifierConfig, FineTuneConfig)> {
        let classifier = ClassifierConfig {
            pooling: self.pooling,
            head: HeadConfig {
                hidden: HeadConfig::parse_hidden(&self.hidden).map_err(anyhow::Error::msg)?,
                activation: self.activation,
                batch_norm: self.batch_norm,
                ..HeadConfig::default()
            },
            dropout: self.dropout,
            prompt: self.prompt_config()?,
        };
        let config = FineTuneConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            grad_accumulation: self.grad_accumulation,
            learning_rate: self.learning_rate,
            warmup_ratio: self.warmup_ratio,
            schedule: self.schedule,
            weight_decay: self.weight_decay,
            max_grad_norm: self.max_grad_norm,
            freeze_embeddings: self.freeze_embeddings,
            freeze_layers: self.freeze_layers,
            eval_every: self.eval_every,
            monitor: self.monitor,
            patience: self.patience,
            loss: self.loss.apply(LossSpec::default())?,
            sampling: self.sampling,
            adversary: self.adversary.adversary()?,
            l1: self.l1,
            hidden_dropout: self.hidden_dropout,
            attention_dropout: self.attention_dropout,
            seed: self.seed,
            ..FineTuneConfig::default()
        };
        // Checked here too, so that a bad flag fails before the model loads.
        config.validate()?;
        classifier.validate()?;
        Ok((classifier, config))
    }

    /// The prompt and verbalizer, checked as far as they can be without the model.
    fn prompt_config(&self) -> Result<Option<PromptConfig>> {
        let Some(template) = &self.prompt else {
            return Ok(None);
        };
        template
            .parse::<text::PromptTemplate>()
            .map_err(|e| anyhow::anyhow!("--prompt: {e}"))?;
        if self.pooling != ClassifierPooling::Cls || self.hidden != "linear" || self.batch_norm {
            bail!(
                "--prompt replaces pooling and head: leave out --pooling, --hidden and --batch-norm"
            );
        }
        let mut verbalizer = std::collections::BTreeMap::new();
        for pair in &self.verbalizer {
            let (label, word) = pair
                .split_once('=')
                .filter(|(l, w)| !l.trim().is_empty() && !w.trim().is_empty())
                .with_context(|| format!("--verbalizer {pair:?}: expected LABEL=WORD"))?;
            if verbalizer
                .insert(label.trim().to_owned(), word.trim().to_owned())
                .is_some()
            {
                bail!("--verbalizer names {label} twice");
            }
        }
        Ok(Some(PromptConfig {
            template: template.clone(),
            verbalizer,
            mlm_head: false,
            mask_token_id: 0,
        }))
    }

    /// Training and validation records: the --valid file, or a stratified hold-out.
    fn read_splits(&self) -> Result<(Vec<Record>, Vec<Record>)> {
        let train = self.columns.read(&self.train, true)?;
        self.with_validation(train)
    }

    /// `train` and the validation records: the --valid file's, or a stratified
    /// --valid-fraction held out of `train`.
    fn with_validation(&self, train: Vec<Record>) -> Result<(Vec<Record>, Vec<Record>)> {
        match &self.valid {
            Some(path) => Ok((train, self.columns.read(path, true)?)),
            None => {
                if !(0.0..0.5).contains(&self.valid_fraction) || self.valid_fraction == 0.0 {
                    bail!("--valid-fraction must be in (0, 0.5) when no --valid file is given");
                }
                let splits = stratified_split(train, self.valid_fraction, 0.0, self.seed);
                eprintln!(
                    "no --valid file: holding out {} of {} training records (stratified)",
                    splits.validation.len(),
                    splits.validation.len() + splits.train.len()
                );
                Ok((splits.train, splits.validation))
            }
        }
    }
}

/// Fine-tunes (or cross-validates) as `args` say; returns the saved model's folder
/// (the run folder with --cv).
pub fn run(args: FinetuneArgs) -> Result<PathBuf> {
    if let Some(k) = args.cv {
        cross_validate_folds(&args, k)?;
        return Ok(args.out);
    }
    Ok(finetune(&args)?.model_dir)
}

/// `--cv K`: a model fine-tuned per fold (in OUT/fold-N), each scored on the fold it
/// held out.
fn cross_validate_folds(args: &FinetuneArgs, k: usize) -> Result<()> {
    let records = args.columns.read(&args.train, true)?;
    let labels = LabelMap::from_records(&records);
    let truth: Vec<usize> = records
        .iter()
        .map(|r| {
            r.label
                .as_deref()
                .and_then(|l| labels.index(l))
                .unwrap_or(0)
        })
        .collect();
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let device = args.model.backend.device()?;
    let data = CvData {
        labels: labels.names(),
        truth: &truth,
        ids: &ids,
    };
    cross_validate(k, args.seed, &data, &args.out, &mut |fold| {
        let pick = |indices: &[usize]| -> Vec<Record> {
            indices.iter().map(|&i| records[i].clone()).collect()
        };
        let (train, valid) = args.with_validation(pick(&fold.train))?;
        let fold_args = FinetuneArgs {
            out: args.out.join(format!("fold-{}", fold.index + 1)),
            cv: None,
            ..args.clone()
        };
        let outcome = train_on(&fold_args, train, valid, None)?;
        let model = SavedClassifier::load(&outcome.model_dir, None, &device)?;
        let probabilities = model.predict_proba(&pick(&fold.held_out), 64, &device, &mut |_| {})?;
        let columns = label_columns(model.labels(), labels.names())
            .with_context(|| format!("fold {}", fold.index + 1))?;
        Ok(reorder_columns(&probabilities, &columns, labels.len()))
    })?;
    Ok(())
}

/// What a fine-tuning run produced (also written to OUT/training.json).
pub struct FinetuneOutcome {
    /// The saved best model (a Hugging Face folder).
    pub model_dir: PathBuf,
    /// One record per evaluation on validation.
    pub history: Vec<EvalRecord>,
    /// The evaluation whose model was kept.
    pub best: Option<EvalRecord>,
    /// The kept model on the --test data, and its inference speed in docs/s.
    pub test: Option<(ClassificationReport, f64)>,
    /// Time spent training, validation passes included.
    pub train_seconds: f64,
}

/// Fine-tunes as `args` say, saves the best model and training.json, prints the
/// validation and test reports; resumes from OUT/checkpoint with --resume.
pub fn finetune(args: &FinetuneArgs) -> Result<FinetuneOutcome> {
    finetune_with(args, None)
}

/// [`finetune`], the model also learning from `teacher`'s soft targets.
pub fn finetune_with(args: &FinetuneArgs, teacher: Option<&Teacher>) -> Result<FinetuneOutcome> {
    let (train_records, valid_records) = args.read_splits()?;
    train_on(args, train_records, valid_records, teacher)
}

/// Fine-tunes on these records as `args` say (its --train and --valid already read).
fn train_on(
    args: &FinetuneArgs,
    train_records: Vec<Record>,
    valid_records: Vec<Record>,
    teacher: Option<&Teacher>,
) -> Result<FinetuneOutcome> {
    let started = Instant::now();
    let (classifier, mut config) = args.configs()?;
    let device = args.model.backend.device()?;
    let train_records = if args.bootstrap {
        let sample = data::bootstrap_sample(train_records.len(), args.seed);
        let distinct = sample
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        eprintln!(
            "bootstrap sample: {} draws, {distinct} distinct records",
            sample.len()
        );
        sample.iter().map(|&i| train_records[i].clone()).collect()
    } else {
        train_records
    };
    let labels = LabelMap::from_records(&train_records);
    if labels.len() < 2 {
        bail!(
            "{} has {} class(es): a classifier needs at least 2",
            args.train.display(),
            labels.len()
        );
    }
    let (model, parts) = load_for_training(
        &args.model.model,
        args.model.max_len,
        args.num_layers,
        &classifier,
        labels.names(),
        config.seed,
        &device,
    )
    .with_context(|| format!("loading {}", args.model.model.display()))?;
    // As built: a prompt's [MASK] id and MLM-head use are filled in.
    let classifier = parts.classifier.clone();
    if let Some(prompt) = &classifier.prompt {
        eprintln!(
            "prompt {:?}; scores: {}",
            prompt.template,
            if prompt.mlm_head {
                "the checkpoint's masked-LM logits of the label words"
            } else {
                "no masked-LM head in the checkpoint: the [MASK] state, projected, against the label words' embeddings"
            }
        );
    }
    let encoder = parts.encoder()?;
    let train = Examples::from_records(&train_records, &encoder, &labels, "the training set")
        .with_context(|| format!("in {}", args.train.display()))?;
    let train = match &args.augmented {
        Some(path) => {
            let records = args.columns.read(path, true)?;
            let variants = Examples::from_records(&records, &encoder, &labels, "the augmented set")
                .with_context(|| format!("in {}", path.display()))?;
            train.with_variants(variants)
        }
        None => train,
    };
    let train = match teacher {
        Some(_) if train.variants > 0 => {
            bail!("augmented variants have no teacher targets: leave out --augmented")
        }
        Some(teacher) => {
            config.distillation = Some(teacher.loss);
            train.with_soft_targets(teacher.soft_targets(&train_records, labels.names())?)
        }
        None => train,
    };
    let valid_records = known_classes(valid_records, &labels, "validation");
    let valid = Examples::from_records(&valid_records, &encoder, &labels, "the validation set")
        .context("in the validation data")?;
    eprintln!(
        "fine-tuning {} ({} layers, max_len {}) on {} examples{}, {} classes; validating on {}",
        args.model.model.display(),
        parts.config.num_hidden_layers,
        args.model.max_len,
        train.originals(),
        match train.variants {
            0 => String::new(),
            n => format!(" (+{n} augmented variants)"),
        },
        labels.len(),
        valid.len()
    );
    // The settings against the data first, so a refused one leaves no folder behind.
    config.validate_for(labels.names(), parts.config.num_hidden_layers)?;
    if args.resume && !joint::has_checkpoint(&args.out) {
        return Err(joint::JointError::NoCheckpoint {
            dir: args.out.clone(),
        }
        .into());
    }
    artifacts::claim_dir(
        &args.out,
        artifacts::ArtifactKind::FineTuneRun,
        args.force.overwrite(),
    )
    .context("--out")?;

    let bar = progress::documents(0, "training");
    let mut log = progress::LogLines::every(std::time::Duration::from_secs(30));
    let mut on_event = |event: &TrainEvent<'_>| {
        report_event(&bar, &mut log, event);
        ControlFlow::Continue(())
    };
    let pad = parts.tokenizer.special_tokens().pad;
    let outcome = fine_tune(
        model,
        &train,
        &valid,
        labels.names(),
        &config,
        pad,
        &device,
        Some(RunDir {
            path: &args.out,
            resume: args.resume,
        }),
        &mut on_event,
    )?;
    bar.finish_and_clear();

    let evaluate = |examples: &Examples, progress: &mut dyn FnMut(usize)| {
        joint::evaluate_examples(
            &outcome.model,
            examples,
            labels.names(),
            pad,
            config.eval_batch_size,
            &device,
            progress,
        )
    };
    let decision = args.decision.rule(
        labels.names(),
        &train.labels[..train.originals()],
        &valid.labels,
        || evaluate(&valid, &mut |_| {}).probabilities,
    )?;
    if decision != DecisionRule::Argmax {
        eprintln!("decision: {decision}");
    }
    let model_dir = args.out.join("model");
    let meta = ClassifierMeta {
        labels: labels.names().to_vec(),
        classifier: classifier.clone(),
        max_len: args.model.max_len,
        base_model: args.model.model.clone(),
        fine_tune: Some(config.clone()),
        decision: decision.clone(),
    };
    SavedClassifier::save(&outcome.model, &meta, &model_dir)?;
    if !meta.classifier.is_hugging_face_compatible() {
        eprintln!(
            "note: with --pooling mean, an MLP head or a prompt the folder is not a \
             BertForSequenceClassification; bertcls loads it, transformers would not"
        );
    }

    let test_report = match &args.test {
        Some(path) => {
            let records = args.columns.read(path, true)?;
            let truth = true_labels(&records, path)?;
            let encodings = encoder
                .encode_all(&records)
                .with_context(|| format!("in {}", path.display()))?;
            let bar = progress::documents(records.len(), "testing");
            let inference_started = Instant::now();
            let probabilities = joint::predict_proba(
                &outcome.model,
                &encodings,
                pad,
                config.eval_batch_size,
                &device,
                &mut |n| bar.inc(n as u64),
            );
            // Scored by name: a test class the training data lacks counts as misses.
            let report = decision.report_names(labels.names(), &truth, &probabilities);
            bar.finish_and_clear();
            let docs_per_second = records.len() as f64 / inference_started.elapsed().as_secs_f64();
            Some((report, docs_per_second))
        }
        None => None,
    };

    let peak_rss = progress::peak_rss_mib();
    let summary = serde_json::json!({
        "model": args.model.model,
        "backend": args.model.backend.to_string(),
        "max_len": args.model.max_len,
        "num_layers": parts.config.num_hidden_layers,
        "classifier": classifier,
        "config": config,
        "labels": labels.names(),
        "train_examples": train.originals(),
        "augmented_variants": train.variants,
        "bootstrap": args.bootstrap,
        "valid_examples": valid.len(),
        "stop": outcome.stop,
        "steps": outcome.steps,
        "best": outcome.best_record(),
        "history": outcome.history,
        "valid": outcome.valid_report,
        "test": test_report.as_ref().map(|(r, _)| r),
        "test_docs_per_second": test_report.as_ref().map(|(_, d)| d),
        "train_seconds": outcome.train_seconds,
        "train_docs_per_second": outcome.examples_per_second(),
        "adversary": config.adversary,
        "passes": outcome.passes,
        "batches": outcome.batches,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "peak_rss_mib": peak_rss,
    });
    let summary_path = args.out.join("training.json");
    artifacts::write_json(&summary_path, &summary)?;
    if outcome.stop != StopReason::Interrupted && !args.keep_checkpoint {
        remove_checkpoint(&args.out)?;
    }

    eprintln!(
        "{} after {} steps: {:.1} training docs/s over {:.0} s; peak memory {}",
        match outcome.stop {
            StopReason::Completed => "done",
            StopReason::EarlyStopped => "stopped early",
            StopReason::Interrupted => "interrupted",
        },
        outcome.steps,
        outcome.examples_per_second(),
        outcome.train_seconds,
        peak_rss.map_or("?".into(), |m| format!("{m:.0} MiB")),
    );
    if config.adversary != joint::Adversary::None {
        eprintln!(
            "adversarial training, {}: {:.2} forward/backward passes per batch ({} in {} batches)",
            config.adversary,
            outcome.passes as f64 / outcome.batches.max(1) as f64,
            outcome.passes,
            outcome.batches,
        );
    }
    if let (Some(best), Some(report)) = (outcome.best_record(), &outcome.valid_report) {
        eprintln!(
            "best evaluation: step {} (epoch {:.2}); validation:",
            best.step, best.epoch
        );
        print_report(report, false);
    }
    if let Some((report, docs_per_second)) = &test_report {
        eprintln!("test ({docs_per_second:.1} docs/s):");
        print_report(report, true);
    }
    eprintln!(
        "saved {} and {}",
        model_dir.display(),
        summary_path.display()
    );
    Ok(FinetuneOutcome {
        model_dir,
        best: outcome.best_record().cloned(),
        history: outcome.history,
        test: test_report,
        train_seconds: outcome.train_seconds,
    })
}

/// The records of classes the training data has; a line names the classes left out
/// (a class the model cannot learn cannot guide the choice of its weights).
pub(crate) fn known_classes(records: Vec<Record>, labels: &LabelMap, split: &str) -> Vec<Record> {
    let mut unseen: std::collections::BTreeMap<String, usize> = Default::default();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|r| {
            let known = r.label.as_deref().is_none_or(|l| labels.index(l).is_some());
            if !known {
                *unseen
                    .entry(r.label.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            known
        })
        .collect();
    if !unseen.is_empty() {
        let named: Vec<String> = unseen.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        eprintln!(
            "note: {split} records of classes the training data lacks are left out of model selection: {}",
            named.join(", ")
        );
    }
    kept
}

/// Progress bar updates and one line per evaluation.
fn report_event(bar: &ProgressBar, log: &mut progress::LogLines, event: &TrainEvent<'_>) {
    match event {
        TrainEvent::Started {
            total_steps,
            steps_done,
            total_examples,
            examples_done,
        } => {
            if *steps_done > 0 {
                progress::println(
                    bar,
                    format!(
                        "resuming from the checkpoint: {steps_done} of {total_steps} steps done"
                    ),
                );
            }
            bar.set_length(*total_examples as u64);
            bar.set_position(*examples_done as u64);
            bar.reset_eta();
        }
        TrainEvent::Step {
            epoch,
            loss,
            learning_rate,
            examples_done,
            ..
        } => {
            bar.set_position(*examples_done as u64);
            let message = format!("epoch {} loss {loss:.4} lr {learning_rate:.1e}", epoch + 1);
            log.maybe(bar, &message);
            bar.set_message(message);
        }
        TrainEvent::Evaluating { examples } => {
            bar.set_message(format!("evaluating {examples} validation docs"));
        }
        TrainEvent::Evaluated { record, improved } => {
            let line = format!(
                "step {:>6}  epoch {:.2}  train loss {:.4}  valid loss {:.4}  macro-F1 {:.4}  accuracy {:.4}{}",
                record.step,
                record.epoch,
                record.train_loss,
                record.valid_loss,
                record.valid_macro_f1,
                record.valid_accuracy,
                if *improved { "  *best" } else { "" }
            );
            progress::println(bar, line);
        }
    }
}
