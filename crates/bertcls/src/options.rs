//! Groups of settings that several jobs share, so that every job (and the command
//! line derived from it) spells them the same way: which model, which data file and
//! columns, the loss and its imbalance remedies, the decision rule, the adversary,
//! and what an output may replace.

use std::path::{Path, PathBuf};

use bert::burn::tensor::Device;
use bert::{BackendKind, PretrainedBert};
use data::{ReadOptions, ReadOutcome, Record, read_records};
use joint::{Adversary, AdversaryKind};
use metrics::{DEFAULT_LABEL_THRESHOLD, DecisionRule, LabelThresholds, ThresholdTarget};
use serde::{Deserialize, Serialize};
use training::{ClassWeights, LossKind, LossSpec};

use crate::Observer;
use crate::error::{Context, Result, refuse};

/// The model folder every job reads by default: what `cargo xtask fetch model` puts
/// there.
pub const DEFAULT_MODEL: &str = "models/all-MiniLM-L6-v2";

/// Which BERT, on which device, reading how many tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// A Hugging Face BERT folder (config.json, weights, tokenizer).
    pub model: PathBuf,
    /// Where tensors run: flex (CPU, default), ndarray (CPU) or wgpu (GPU; needs the
    /// `wgpu` feature).
    pub backend: BackendKind,
    /// Tokens per sequence, `[CLS]` and `[SEP]` included; longer texts are truncated.
    pub max_len: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            backend: BackendKind::Flex,
            max_len: 128,
        }
    }
}

impl ModelOptions {
    /// Loads the model folder onto the chosen backend's inference device.
    pub fn load(&self) -> Result<(PretrainedBert, Device)> {
        let device = self.backend.device()?;
        let bert = PretrainedBert::load(&self.model, self.max_len, &device)
            .with_context(|| format!("loading the model in {}", self.model.display()))?;
        Ok((bert, device))
    }

    /// `records` as the model folder's tokenizer alone makes them (at `max_len`, no
    /// weights loaded), in order; the first one it refuses is an error naming it.
    pub fn tokenize(&self, records: &[data::Record]) -> Result<Vec<text::Encoding>> {
        let tokenizer = text::BertTokenizer::from_dir(&self.model, self.max_len)
            .with_context(|| format!("the tokenizer in {}", self.model.display()))?;
        Ok(tokenizer.encode_all(
            records
                .iter()
                .map(|r| (r.id.as_str(), r.text.as_str(), r.text_b.as_deref())),
        )?)
    }
}

/// A data file and how to read it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// JSONL, CSV or TSV (by extension), one record per line/row; `-` reads standard
    /// input (a path without an extension is read in the format of its first line).
    pub input: PathBuf,
    /// How it is read.
    #[serde(flatten)]
    pub columns: Columns,
}

impl Input {
    /// The file `path`, read with the standard columns.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            input: path.into(),
            columns: Columns::default(),
        }
    }

    /// Reads the records; skipped bad rows are noted to `observer`.
    pub fn read(&self, require_labels: bool, observer: &mut dyn Observer) -> Result<Vec<Record>> {
        self.columns.read(&self.input, require_labels, observer)
    }
}

/// Which columns (or JSON keys) of data files hold what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    /// Column (or JSON key) holding the text.
    pub text_col: String,
    /// Column holding the second text of sentence pairs (`[CLS]` a `[SEP]` b `[SEP]`)
    /// [default: text_b, read wherever a record has it]. A record without one is a
    /// single text, so a file may mix pairs and single texts.
    pub text_b_col: Option<String>,
    /// Column holding the label.
    pub label_col: String,
    /// Splits a label written as text into the labels of a multi-label record
    /// (`--label-sep '|'` reads `sports|politics` as two). A JSON list is a set of
    /// labels without it.
    pub label_sep: Option<String>,
    /// single-label, multi-label or regression [default: what the labels' form says:
    /// lists are multi-label, numbers not all whole are regression, else single-label].
    pub task: Option<data::Task>,
    /// Column holding record ids; rows without one are named by their line number.
    pub id_col: String,
    /// Drop rows that cannot be used (reported with their line numbers) instead of stopping.
    pub skip_bad_rows: bool,
}

impl Default for Columns {
    /// The reader's own defaults.
    fn default() -> Self {
        let ReadOptions {
            text_col,
            text_b_col,
            label_col,
            label_sep,
            task,
            id_col,
            skip_bad_rows,
            require_labels: _,
        } = ReadOptions::default();
        Self {
            text_col,
            text_b_col,
            label_col,
            label_sep,
            task,
            id_col,
            skip_bad_rows,
        }
    }
}

impl Columns {
    /// The column choices, as recorded in cache fingerprints (the label reading only
    /// where it is set, so that caches made before it existed still match).
    pub fn describe(&self) -> String {
        let mut described = format!(
            "text={} text_b={} label={} id={} skip_bad_rows={}",
            self.text_col,
            self.text_b_col.as_deref().unwrap_or(data::TEXT_B_FIELD),
            self.label_col,
            self.id_col,
            self.skip_bad_rows
        );
        if let Some(sep) = &self.label_sep {
            described += &format!(" label_sep={sep:?}");
        }
        if let Some(task) = self.task {
            described += &format!(" task={task}");
        }
        described
    }

    /// True when these are the standard fields (`id`, `text`, `text_b`, `label`), the
    /// ones bertcls writes in its own JSONL files.
    pub fn are_standard(&self) -> bool {
        Columns {
            skip_bad_rows: self.skip_bad_rows,
            task: self.task,
            text_b_col: self.text_b_col.clone().filter(|b| b != data::TEXT_B_FIELD),
            ..self.clone()
        } == Columns {
            skip_bad_rows: self.skip_bad_rows,
            task: self.task,
            ..Columns::default()
        }
    }

    /// Refuses a column setting given where no data file is read: `requirement` says
    /// what is read instead (a cache's rows, plain lines). `skip_bad_rows` is
    /// allowed where `rows_can_be_bad`.
    pub fn refuse_where_unread(
        &self,
        rows_can_be_bad: bool,
        requirement: &str,
    ) -> Result<(), settings::SettingError> {
        let default = Columns::default();
        let given: [(&'static str, bool, String); 7] = [
            (
                "text_col",
                self.text_col != default.text_col,
                self.text_col.clone(),
            ),
            (
                "text_b_col",
                self.text_b_col.is_some(),
                self.text_b_col.clone().unwrap_or_default(),
            ),
            (
                "label_col",
                self.label_col != default.label_col,
                self.label_col.clone(),
            ),
            (
                "label_sep",
                self.label_sep.is_some(),
                self.label_sep.clone().unwrap_or_default(),
            ),
            (
                "task",
                self.task.is_some(),
                self.task.map(|t| t.to_string()).unwrap_or_default(),
            ),
            ("id_col", self.id_col != default.id_col, self.id_col.clone()),
            (
                "skip_bad_rows",
                self.skip_bad_rows && !rows_can_be_bad,
                "true".into(),
            ),
        ];
        match given.into_iter().find(|(_, set, _)| *set) {
            Some((setting, _, value)) => Err(settings::SettingError::new(
                setting,
                value,
                format!("applies to a data file, and {requirement}"),
            )),
            None => Ok(()),
        }
    }

    /// Reads `path` (`-`: standard input) for the commands that learn single-label
    /// data only so far (fine-tuning, the comparison, zero-shot, augmentation); skipped
    /// bad rows (the first ten by line) are noted to `observer`. Labels of another
    /// task are refused, naming the task found and why, and what does learn it.
    pub fn read(
        &self,
        path: &Path,
        require_labels: bool,
        observer: &mut dyn Observer,
    ) -> Result<Vec<Record>> {
        let outcome = self.read_quietly(path, require_labels, observer)?;
        let task = outcome.task.task;
        if task != data::Task::SingleLabel {
            let name = data::source_name(path);
            let name = name.display();
            return Err(crate::JobError::Refused(
                settings::message!("{name} is {task} data (")
                    .then(outcome.task.reason())
                    .text(
                        "); this command learns single-label data only so far (pipeline heads \
                         learn every task: `bertcls embed`, then `bertcls head sweep`)",
                    ),
            ));
        }
        say_task(&outcome, path, observer);
        Ok(outcome.records)
    }

    /// Reads `path` whatever task its labels pose (as embedding does: the cache
    /// keeps each label in its form), with the input's checksum taken in the same
    /// pass.
    pub fn read_outcome(
        &self,
        path: &Path,
        require_labels: bool,
        observer: &mut dyn Observer,
    ) -> Result<ReadOutcome> {
        let outcome = self.read_quietly(path, require_labels, observer)?;
        say_task(&outcome, path, observer);
        Ok(outcome)
    }

    /// Reads `path`, noting skipped rows but not the task.
    fn read_quietly(
        &self,
        path: &Path,
        require_labels: bool,
        observer: &mut dyn Observer,
    ) -> Result<ReadOutcome> {
        let options = ReadOptions {
            text_col: self.text_col.clone(),
            text_b_col: self.text_b_col.clone(),
            label_col: self.label_col.clone(),
            label_sep: self.label_sep.clone(),
            task: self.task,
            id_col: self.id_col.clone(),
            require_labels,
            skip_bad_rows: self.skip_bad_rows,
        };
        let outcome = read_records(path, &options)?;
        let skipped = &outcome.skipped;
        if !skipped.is_empty() {
            observer.note(&format!(
                "skipped {} bad rows in {}:",
                skipped.len(),
                data::source_name(path).display()
            ));
            for row in skipped.iter().take(10) {
                observer.note(&format!("  {row}"));
            }
            if skipped.len() > 10 {
                observer.note(&format!("  … and {} more", skipped.len() - 10));
            }
        }
        Ok(outcome)
    }
}

/// Tells `observer` which task `outcome`'s labels were read as, where their form
/// chose one a reader might not have expected.
fn say_task(outcome: &ReadOutcome, path: &Path, observer: &mut dyn Observer) {
    if outcome.task.is_worth_saying() && outcome.records.iter().any(|r| r.label.is_some()) {
        let (name, task) = (data::source_name(path), outcome.task.task);
        let name = name.display();
        observer.note_message(
            &settings::message!("{name}: read as {task} data (")
                .then(outcome.task.reason())
                .text(")"),
        );
    }
}

/// The loss of either mode, and the remedies for class imbalance it carries. Unset
/// settings keep the base spec's values (the defaults, or a grid file's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossOptions {
    /// ce (cross-entropy), focal (down-weights easy examples) or ghm (GHM-C:
    /// down-weights examples whose gradient norm is common, easy ones and outliers).
    pub loss: Option<LossKind>,
    /// Per-class weights (ce's class weights, focal's α): balanced (n / (k·n_c)),
    /// `effective[:BETA]` (effective number of samples, β 0.999), or label=weight,….
    #[serde(with = "settings::as_text::option")]
    pub class_weights: Option<ClassWeights>,
    /// ce only: label smoothing ε in [0, 1).
    pub label_smoothing: Option<f64>,
    /// focal only: γ, how strongly well-classified examples are down-weighted [default: 2].
    pub focal_gamma: Option<f64>,
    /// ghm only: bins of the gradient-norm histogram [default: 10].
    pub ghm_bins: Option<usize>,
    /// ghm only: EMA momentum of the bin counts across batches [default: 0.75].
    pub ghm_momentum: Option<f64>,
}

impl LossOptions {
    /// `base` with every setting given here applied, validated.
    pub fn apply(&self, base: LossSpec) -> Result<LossSpec> {
        let spec = LossSpec {
            kind: self.loss.unwrap_or(base.kind),
            class_weights: self.class_weights.clone().or(base.class_weights),
            label_smoothing: self.label_smoothing.unwrap_or(base.label_smoothing),
            focal_gamma: self.focal_gamma.unwrap_or(base.focal_gamma),
            ghm_bins: self.ghm_bins.unwrap_or(base.ghm_bins),
            ghm_momentum: self.ghm_momentum.unwrap_or(base.ghm_momentum),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// True when no setting is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Decision-level remedies: chosen once training is done, saved with the model, used
/// by every prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionOptions {
    /// Logit adjustment: divide each class's probability by its training prior to the
    /// power TAU before taking the largest (1 suits a test set with balanced classes).
    pub logit_adjust: Option<f64>,
    /// Two classes: predict the second class (in label order) above a threshold
    /// chosen on validation: f1 (its best F1) or recall:R (the highest threshold
    /// reaching recall R). Multi-label: each label's own threshold, chosen so.
    #[serde(with = "settings::as_text::option")]
    pub threshold: Option<ThresholdTarget>,
    /// Multi-label: an example with no label above its threshold gets its most
    /// probable one.
    #[serde(default)]
    pub at_least_one: bool,
}

impl DecisionOptions {
    /// True when no rule is asked for (argmax).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The rule asked for: from the training labels' priors, or from validation
    /// probabilities (computed only when a threshold needs them).
    pub fn rule(
        &self,
        labels: &[String],
        train_labels: &[usize],
        valid_truth: &[usize],
        valid_probabilities: impl FnOnce() -> Vec<f32>,
    ) -> Result<DecisionRule> {
        if self.at_least_one {
            refuse!(
                [at_least_one] " gives multi-label examples a label; one class per example is \
                 always one (leave it out)"
            );
        }
        if let Some(tau) = self.logit_adjust {
            settings::non_negative("logit_adjust", tau)?;
            return Ok(DecisionRule::logit_adjusted(
                tau,
                train_labels,
                labels.len(),
            ));
        }
        let Some(target) = self.threshold else {
            return Ok(DecisionRule::Argmax);
        };
        if labels.len() != 2 {
            refuse!(
                "a threshold needs two classes, the data has {} ({}); logit adjustment works for any number",
                labels.len(),
                labels.join(", ")
            );
        }
        Ok(DecisionRule::threshold(
            &valid_probabilities(),
            valid_truth,
            target,
        ))
    }
}

impl DecisionOptions {
    /// The thresholds of a multi-label model over `labels` labels: 0.5 for each, or
    /// each label's own for `threshold`, chosen on validation (`valid_truth` and the
    /// probabilities, both `examples × labels`, computed only when needed).
    pub fn label_thresholds(
        &self,
        labels: usize,
        valid_truth: &[bool],
        valid_probabilities: impl FnOnce() -> Vec<f32>,
    ) -> Result<LabelThresholds> {
        if self.logit_adjust.is_some() {
            refuse!(
                [logit_adjust] " reweighs the classes of a softmax; multi-label labels are \
                 decided each on its own (use " [threshold] ")"
            );
        }
        Ok(match self.threshold {
            None => LabelThresholds::fixed(labels, DEFAULT_LABEL_THRESHOLD, self.at_least_one),
            Some(target) => LabelThresholds::tuned(
                &valid_probabilities(),
                valid_truth,
                labels,
                target,
                self.at_least_one,
            ),
        })
    }
}

/// Adversarial training on the word embeddings (end-to-end mode).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdversaryOptions {
    /// fgm: each batch also trains on its word embeddings moved by r = ε·g/‖g‖ (g the
    /// loss's gradient there): one extra forward/backward pass. pgd: `adv_steps`
    /// ascent steps of `adv_alpha`, each projected back onto the ε-ball: that many
    /// extra passes. none (the default).
    pub adv: Option<AdversaryKind>,
    /// Radius ε of the perturbation (L2 norm over the batch's word embeddings)
    /// [default: 1].
    pub adv_epsilon: Option<f64>,
    /// pgd only: size α of each ascent step [default: 2.5·ε/K].
    pub adv_alpha: Option<f64>,
    /// pgd only: ascent steps K [default: 3].
    pub adv_steps: Option<usize>,
}

impl AdversaryOptions {
    /// The adversary these settings describe, validated.
    pub fn adversary(&self) -> Result<Adversary> {
        let kind = self.adv.unwrap_or(AdversaryKind::None);
        if kind != AdversaryKind::Pgd && (self.adv_alpha.is_some() || self.adv_steps.is_some()) {
            return Err(settings::SettingError::new(
                "adv",
                kind,
                "takes no step size or step count: those are pgd's",
            )
            .into());
        }
        let adversary = kind.with(self.adv_epsilon, self.adv_alpha, self.adv_steps);
        adversary.validate()?;
        Ok(adversary)
    }

    /// True when no adversary is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether an output may replace a bertcls output of another kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Force {
    /// Replace whatever bertcls wrote at the output path (a head where a cache was,
    /// say). Without it only an output of the same kind is replaced; with it too,
    /// files and folders bertcls did not write are never touched.
    pub force: bool,
}

impl Force {
    /// What the output may replace.
    pub fn overwrite(&self) -> artifacts::Overwrite {
        if self.force {
            artifacts::Overwrite::AnyOwn
        } else {
            artifacts::Overwrite::SameKind
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_for_every_text_is_for_multi_label_decisions_only() {
        let decision = DecisionOptions {
            at_least_one: true,
            ..DecisionOptions::default()
        };
        let names = ["a".to_string(), "b".to_string()];
        let refused = decision.rule(&names, &[0, 1], &[0, 1], Vec::new);
        assert!(refused.unwrap_err().to_string().contains("at_least_one"));
        let thresholds = decision.label_thresholds(2, &[], Vec::new).unwrap();
        assert_eq!(
            thresholds,
            LabelThresholds::fixed(2, DEFAULT_LABEL_THRESHOLD, true)
        );
        let adjusted = DecisionOptions {
            logit_adjust: Some(1.0),
            ..DecisionOptions::default()
        };
        assert!(adjusted.label_thresholds(2, &[], Vec::new).is_err());
    }
}
