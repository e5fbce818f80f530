//! Argument groups shared by subcommands, so every command spells them the same way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bert::burn::tensor::Device;
use bert::{BackendKind, PretrainedBert};
use clap::Args;
use data::{ReadOptions, ReadOutcome, Record, read_records};
use joint::{Adversary, AdversaryKind};
use metrics::{DecisionRule, ThresholdTarget};
use training::{ClassWeights, LossKind, LossSpec};

/// Which BERT, on which device, reading how many tokens.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A Hugging Face BERT folder (config.json, weights, tokenizer).
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// Where tensors run: flex (CPU, default), ndarray (CPU) or wgpu (GPU; needs the
    /// `wgpu` feature).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Tokens per sequence, [CLS] and [SEP] included; longer texts are truncated.
    #[arg(long, default_value_t = 128)]
    pub max_len: usize,
}

impl ModelArgs {
    /// Loads the model folder onto the chosen backend's inference device.
    pub fn load(&self) -> Result<(PretrainedBert, Device)> {
        let device = self.backend.device()?;
        let bert = PretrainedBert::load(&self.model, self.max_len, &device)
            .with_context(|| format!("loading the model in {}", self.model.display()))?;
        Ok((bert, device))
    }
}

/// A data file and how to read it.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// JSONL, CSV or TSV (by extension), one record per line/row.
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
}

impl InputArgs {
    /// The column choices, as recorded in cache fingerprints.
    pub fn describe_columns(&self) -> String {
        self.columns.describe()
    }

    /// Reads the records, saying on stderr how many bad rows were skipped.
    pub fn read(&self, require_labels: bool) -> Result<Vec<Record>> {
        self.columns.read(&self.input, require_labels)
    }
}

/// Which columns (or JSON keys) of data files hold what.
#[derive(Args, Debug, Clone)]
pub struct ColumnArgs {
    /// Column (or JSON key) holding the text.
    #[arg(long, default_value = "text")]
    pub text_col: String,
    /// Column holding the second text of sentence pairs ([CLS] a [SEP] b [SEP])
    /// [default: text_b, read wherever a record has it]. A record without one is a
    /// single text, so a file may mix pairs and single texts.
    #[arg(long)]
    pub text_b_col: Option<String>,
    /// Column holding the label.
    #[arg(long, default_value = "label")]
    pub label_col: String,
    /// Column holding record ids; rows without one are named by their line number.
    #[arg(long, default_value = "id")]
    pub id_col: String,
    /// Drop rows that cannot be used (reported with their line numbers) instead of stopping.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl ColumnArgs {
    /// The column choices, as recorded in cache fingerprints.
    pub fn describe(&self) -> String {
        format!(
            "text={} text_b={} label={} id={} skip_bad_rows={}",
            self.text_col,
            self.text_b_col.as_deref().unwrap_or(data::TEXT_B_FIELD),
            self.label_col,
            self.id_col,
            self.skip_bad_rows
        )
    }

    /// True when these are the standard fields (`id`, `text`, `text_b`, `label`), the
    /// ones bertcls writes in its own JSONL files.
    pub fn are_standard(&self) -> bool {
        self.text_col == "text"
            && self.label_col == "label"
            && self.id_col == "id"
            && self
                .text_b_col
                .as_deref()
                .is_none_or(|b| b == data::TEXT_B_FIELD)
    }

    /// These choices as command-line flags, to hand on to another command.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = vec![
            "--text-col".into(),
            self.text_col.clone(),
            "--label-col".into(),
            self.label_col.clone(),
            "--id-col".into(),
            self.id_col.clone(),
        ];
        if let Some(b) = &self.text_b_col {
            flags.extend(["--text-b-col".into(), b.clone()]);
        }
        if self.skip_bad_rows {
            flags.push("--skip-bad-rows".into());
        }
        flags
    }

    /// Reads `path`, saying on stderr how many bad rows were skipped.
    pub fn read(&self, path: &Path, require_labels: bool) -> Result<Vec<Record>> {
        let options = ReadOptions {
            text_col: self.text_col.clone(),
            text_b_col: self.text_b_col.clone(),
            label_col: self.label_col.clone(),
            id_col: self.id_col.clone(),
            require_labels,
            skip_bad_rows: self.skip_bad_rows,
        };
        let ReadOutcome {
            records,
            skipped,
            path,
        } = read_records(path, &options)?;
        if !skipped.is_empty() {
            eprintln!("skipped {} bad rows in {}:", skipped.len(), path.display());
            for row in skipped.iter().take(10) {
                eprintln!("  {row}");
            }
            if skipped.len() > 10 {
                eprintln!("  … and {} more", skipped.len() - 10);
            }
        }
        Ok(records)
    }
}

/// The loss of either mode, and the remedies for class imbalance it carries. Unset
/// flags keep the base spec's values (the defaults, or a grid file's).
#[derive(Args, Debug, Clone, Default)]
pub struct LossArgs {
    /// ce (cross-entropy), focal (down-weights easy examples) or ghm (GHM-C:
    /// down-weights examples whose gradient norm is common, easy ones and outliers).
    #[arg(long)]
    pub loss: Option<LossKind>,
    /// Per-class weights (ce's class weights, focal's α): balanced (n / (k·n_c)),
    /// effective[:BETA] (effective number of samples, β 0.999), or label=weight,….
    #[arg(long, value_name = "WEIGHTS")]
    pub class_weights: Option<ClassWeights>,
    /// ce only: label smoothing ε in [0, 1).
    #[arg(long, value_name = "EPSILON")]
    pub label_smoothing: Option<f64>,
    /// focal only: γ, how strongly well-classified examples are down-weighted [default: 2].
    #[arg(long, value_name = "GAMMA")]
    pub focal_gamma: Option<f64>,
    /// ghm only: bins of the gradient-norm histogram [default: 10].
    #[arg(long, value_name = "N")]
    pub ghm_bins: Option<usize>,
    /// ghm only: EMA momentum of the bin counts across batches [default: 0.75].
    #[arg(long, value_name = "M")]
    pub ghm_momentum: Option<f64>,
}

impl LossArgs {
    /// `base` with every flag given here applied, validated.
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

    /// The flags given, to hand on to another command.
    pub fn to_flags(&self) -> Vec<String> {
        given_flags([
            ("--loss", self.loss.map(|v| v.to_string())),
            (
                "--class-weights",
                self.class_weights.as_ref().map(|v| v.to_string()),
            ),
            (
                "--label-smoothing",
                self.label_smoothing.map(|v| v.to_string()),
            ),
            ("--focal-gamma", self.focal_gamma.map(|v| v.to_string())),
            ("--ghm-bins", self.ghm_bins.map(|v| v.to_string())),
            ("--ghm-momentum", self.ghm_momentum.map(|v| v.to_string())),
        ])
    }
}

/// Decision-level remedies: chosen once training is done, saved with the model, used
/// by every prediction.
#[derive(Args, Debug, Clone, Default)]
pub struct DecisionArgs {
    /// Logit adjustment: divide each class's probability by its training prior to the
    /// power TAU before taking the largest (1 suits a test set with balanced classes).
    #[arg(long, value_name = "TAU", conflicts_with = "threshold")]
    pub logit_adjust: Option<f64>,
    /// Two classes only: predict the second class (in label order) above a threshold
    /// chosen on validation: f1 (its best F1) or recall:R (the highest threshold
    /// reaching recall R).
    #[arg(long, value_name = "TARGET")]
    pub threshold: Option<ThresholdTarget>,
}

impl DecisionArgs {
    /// The rule asked for: from the training labels' priors, or from validation
    /// probabilities (computed only when a threshold needs them).
    pub fn rule(
        &self,
        labels: &[String],
        train_labels: &[usize],
        valid_truth: &[usize],
        valid_probabilities: impl FnOnce() -> Vec<f32>,
    ) -> Result<DecisionRule> {
        if let Some(tau) = self.logit_adjust {
            if !(tau.is_finite() && tau >= 0.0) {
                anyhow::bail!("--logit-adjust {tau}: τ must be ≥ 0");
            }
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
            anyhow::bail!(
                "--threshold needs two classes, the data has {} ({}); --logit-adjust works for any number",
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

    /// The flags given, to hand on to another command.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(tau) = self.logit_adjust {
            flags.extend(["--logit-adjust".to_owned(), tau.to_string()]);
        }
        if let Some(target) = self.threshold {
            flags.extend(["--threshold".to_owned(), target.to_string()]);
        }
        flags
    }
}

/// Adversarial training on the word embeddings (end-to-end mode).
#[derive(Args, Debug, Clone, Default)]
pub struct AdversaryArgs {
    /// fgm: each batch also trains on its word embeddings moved by r = ε·g/‖g‖ (g the
    /// loss's gradient there): one extra forward/backward pass. pgd: --adv-steps
    /// ascent steps of --adv-alpha, each projected back onto the ε-ball: that many
    /// extra passes. none [default].
    #[arg(long, value_name = "METHOD")]
    pub adv: Option<AdversaryKind>,
    /// Radius ε of the perturbation (L2 norm over the batch's word embeddings)
    /// [default: 1].
    #[arg(long, value_name = "EPSILON", requires = "adv")]
    pub adv_epsilon: Option<f64>,
    /// pgd only: size α of each ascent step [default: 2.5·ε/K].
    #[arg(long, value_name = "ALPHA", requires = "adv")]
    pub adv_alpha: Option<f64>,
    /// pgd only: ascent steps K [default: 3].
    #[arg(long, value_name = "K", requires = "adv")]
    pub adv_steps: Option<usize>,
}

impl AdversaryArgs {
    /// The adversary these flags describe, validated.
    pub fn adversary(&self) -> Result<Adversary> {
        let kind = self.adv.unwrap_or(AdversaryKind::None);
        if kind != AdversaryKind::Pgd && (self.adv_alpha.is_some() || self.adv_steps.is_some()) {
            anyhow::bail!("--adv-alpha and --adv-steps are PGD's: add --adv pgd");
        }
        let adversary = kind.with(self.adv_epsilon, self.adv_alpha, self.adv_steps);
        adversary.validate()?;
        Ok(adversary)
    }

    /// The flags given, to hand on to another command.
    pub fn to_flags(&self) -> Vec<String> {
        given_flags([
            ("--adv", self.adv.map(|v| v.to_string())),
            ("--adv-epsilon", self.adv_epsilon.map(|v| v.to_string())),
            ("--adv-alpha", self.adv_alpha.map(|v| v.to_string())),
            ("--adv-steps", self.adv_steps.map(|v| v.to_string())),
        ])
    }
}

/// Whether an output may replace a bertcls artifact of another kind.
#[derive(Args, Debug, Clone, Default)]
pub struct ForceArgs {
    /// Replace whatever bertcls wrote at the output path (a head where a cache was,
    /// say). Without it only an output of the same kind is replaced; with it too,
    /// files and folders bertcls did not write are never touched.
    #[arg(long)]
    pub force: bool,
}

impl ForceArgs {
    /// What the output may replace.
    pub fn overwrite(&self) -> artifacts::Overwrite {
        if self.force {
            artifacts::Overwrite::AnyOwn
        } else {
            artifacts::Overwrite::SameKind
        }
    }
}

/// `FLAG VALUE` for each value given, to hand on to another command.
pub fn given_flags<const N: usize>(flags: [(&str, Option<String>); N]) -> Vec<String> {
    flags
        .into_iter()
        .filter_map(|(flag, value)| value.map(|value| [flag.to_owned(), value]))
        .flatten()
        .collect()
}
