//! `bertcls compare --suite …`: a study. Every arm (the baseline and each remedy) is
//! an ordinary comparison of both modes over several seeds, run with the user's
//! settings plus the arm's flags; the arms are then set side by side against the
//! baseline in one report (`report::Study`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use data::{ClassShare, Sampling};
use report::{Arm, Study, StudyData};

use super::stages::CommandLine;
use super::{CompareArgs, Compared, compare, fresh_dir, machine};
use crate::args::{DecisionArgs, LossArgs};

/// The studies `--suite` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Every class-imbalance remedy against plain cross-entropy, both modes.
    Imbalance,
    /// k = 8, 16, 32, 64 labelled examples per class: a pipeline head, [CLS] and
    /// prompt fine-tuning, against zero-shot.
    FewShot,
    /// Adversarial training (FGM, PGD), distillation (smaller student, born-again,
    /// distilled head) and ensembles (bagging, boosting, seed averaging) against
    /// plain training, on clean and perturbed test sets.
    Robustness,
}

/// A data set of a study, as the `compare` flags that make it.
struct StudySet<'a> {
    name: &'a str,
    flags: &'a [&'a str],
}

/// One arm: what it changes, as `compare` flags.
struct ArmSpec {
    name: &'static str,
    description: &'static str,
    flags: &'static [&'static str],
    /// Only for two-class data (a decision threshold).
    binary_only: bool,
}

const fn arm(
    name: &'static str,
    description: &'static str,
    flags: &'static [&'static str],
) -> ArmSpec {
    ArmSpec {
        name,
        description,
        flags,
        binary_only: false,
    }
}

/// R8's rarest class, grain, is 0.7% of its training set; SpamAssassin is balanced
/// enough (31% spam) that spam is cut to 5% to make it a rare class.
const IMBALANCE_DATA: &[StudySet<'static>] = &[
    StudySet {
        name: "R8",
        flags: &["--data", "r8"],
    },
    StudySet {
        name: "SpamAssassin, spam cut to 5%",
        flags: &["--data", "spam", "--class-share", "spam=0.05"],
    },
];

/// The baseline first. Ratios: over-sampling lifts every class to half the largest;
/// under-sampling caps every class at 5× the smallest, which the rotating variant
/// redraws every epoch.
const IMBALANCE_ARMS: &[ArmSpec] = &[
    arm(
        "baseline",
        "plain cross-entropy, every training example once per epoch",
        &[],
    ),
    arm(
        "weighted CE",
        "cross-entropy with balanced class weights n / (k · n_c)",
        &["--class-weights", "balanced"],
    ),
    arm(
        "focal",
        "focal loss, γ = 2",
        &["--loss", "focal", "--focal-gamma", "2"],
    ),
    arm(
        "GHM-C",
        "GHM-C loss, 10 bins, momentum 0.75",
        &["--loss", "ghm"],
    ),
    arm(
        "over",
        "random over-sampling of every class to half the largest",
        &["--sampling", "oversample:0.5"],
    ),
    arm(
        "over+aug",
        "over-sampling drawing from 3 augmented copies (swaps, deletions, insertions, typos) instead of repeats",
        &["--sampling", "oversample:0.5", "--augment", "3"],
    ),
    arm(
        "under",
        "random under-sampling of every class to at most 5× the smallest, the same subset every epoch",
        &["--sampling", "undersample:0.2"],
    ),
    arm(
        "rotating",
        "under-sampling to the same cap, a different majority subset every epoch",
        &["--sampling", "rotating:0.2"],
    ),
    arm(
        "balanced",
        "class-balanced sampling: each draw picks a class uniformly",
        &["--sampling", "class-balanced"],
    ),
    arm(
        "logit adj.",
        "post-hoc logit adjustment by the training priors, τ = 1",
        &["--logit-adjust", "1"],
    ),
    ArmSpec {
        name: "threshold",
        description: "a decision threshold on the second class (in label order), chosen on validation for its best F1",
        flags: &["--threshold", "f1"],
        binary_only: true,
    },
];

/// What an arm's (and a data set's) flags may set: parsed by their own parser, so a
/// typo in a table above fails the first run loudly.
#[derive(Args, Debug)]
struct ArmFlags {
    #[arg(long)]
    data: Option<String>,
    #[arg(long)]
    class_share: Option<ClassShare>,
    #[command(flatten)]
    loss: LossArgs,
    #[arg(long)]
    sampling: Option<Sampling>,
    #[arg(long)]
    augment: Option<usize>,
    #[command(flatten)]
    decision: DecisionArgs,
}

impl ArmFlags {
    fn parse(flags: &[&str]) -> Result<Self> {
        CommandLine::new(&["compare"])
            .args(flags.iter().map(|f| f.to_string()))
            .parse()
    }

    /// `base` with these flags applied.
    fn apply(self, base: &CompareArgs) -> CompareArgs {
        let mut args = base.clone();
        args.data = self.data.or(args.data);
        args.class_share = self.class_share.or(args.class_share);
        args.loss = self.loss;
        args.sampling = self.sampling;
        args.augment = self.augment;
        args.decision = self.decision;
        args
    }
}

/// The suite's own defaults, for settings the user left unset. The imbalance study
/// runs 21 arm × data-set comparisons of 3 seeds each; with the full MiniLM at the
/// default recipe that is a day on 2 cores, so end-to-end fine-tunes only the bottom
/// encoder layer, embeddings frozen, at 32 tokens (about 10× cheaper). The pipeline
/// keeps the whole frozen encoder.
const SUITE_SEEDS: usize = 3;
const SUITE_NUM_LAYERS: usize = 1;
const SUITE_MAX_LEN: usize = 32;
const SUITE_EPOCHS: usize = 2;
const SUITE_LEARNING_RATE: f64 = 3e-4;
/// A small head grid (softmax regression at three learning rates) so that every arm is
/// measured on the same kind of head, not on whichever the sweep happened to favour.
const SUITE_HEADS: &str = "hidden = [[]]\nlearning_rates = [0.003, 0.01, 0.03]\nl2 = [0.0001]\n";

/// Runs the study and writes its report; returns the study's folder.
pub fn run(suite: Suite, args: &CompareArgs) -> Result<PathBuf> {
    if args.quick {
        bail!(
            "--suite and --quick do not go together: a study needs the full data to mean anything; --seeds 1 and --epochs 1 make it cheaper"
        );
    }
    let name = match suite {
        Suite::Imbalance => "imbalance",
        Suite::FewShot => "few-shot",
        Suite::Robustness => "robustness",
    };
    let dir = match &args.resume {
        Some(dir) if dir.is_dir() => artifacts::claim_dir(
            dir,
            artifacts::ArtifactKind::Study,
            artifacts::Overwrite::SameKind,
        )
        .context("--resume")?,
        Some(dir) => bail!("--resume {}: no such study folder", dir.display()),
        None => fresh_dir(
            &args.out,
            &format!("suite-{name}-{}", machine::timestamp(machine::unix_now())),
            artifacts::ArtifactKind::Study,
        )?,
    };
    match suite {
        Suite::Imbalance => run_imbalance(args, &dir)?,
        Suite::FewShot => super::few_shot::run(args, &dir)?,
        Suite::Robustness => super::robustness::run(args, &dir)?,
    }
    Ok(dir)
}

/// The imbalance study into `dir`.
fn run_imbalance(args: &CompareArgs, dir: &Path) -> Result<()> {
    if !args.loss.to_flags().is_empty()
        || args.sampling.is_some()
        || args.augment.is_some()
        || !args.decision.to_flags().is_empty()
    {
        bail!(
            "--suite imbalance sets the loss, sampling, augmentation and decision rule of each arm itself; leave out --loss, --class-weights, --focal-gamma, --ghm-*, --label-smoothing, --sampling, --augment, --logit-adjust and --threshold"
        );
    }
    if args.shots.is_some() || args.prompt.is_some() {
        bail!(
            "--suite imbalance trains on all the data with a [CLS] head; --shots and --prompt belong to --suite few-shot"
        );
    }
    let started = Instant::now();
    let started_unix = machine::unix_now();
    let base = imbalance_defaults(args, dir)?;
    // --data (already in `base`) replaces the suite's own data sets.
    let user_set = args.data.as_deref().map(|data| StudySet {
        name: Path::new(data)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(data),
        flags: &[],
    });
    let sets = match &user_set {
        Some(set) => std::slice::from_ref(set),
        None => IMBALANCE_DATA,
    };
    let data_sets = sets
        .iter()
        .map(|set| run_data_set(set, &base, dir))
        .collect::<Result<Vec<_>>>()?;
    let study = Study {
        suite: "imbalance".into(),
        question: "Which class-imbalance remedies help, in each mode, against plain cross-entropy: macro-F1, the rare class's recall and F1, accuracy and training cost, on the test set.".into(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
        recipe: recipe(&base),
        data_sets,
    };
    report::write_study(&study, dir)?;
    announce_finished(
        &study.terminal_tables(),
        study.wall_seconds,
        &dir.join(report::STUDY_HTML_FILE),
    );
    Ok(())
}

/// The study's tables on the terminal, its time and where its report is.
pub(super) fn announce_finished(tables: &str, seconds: f64, report: &Path) {
    eprintln!("\n{tables}");
    eprintln!(
        "study finished in {seconds:.0} s; report: {}",
        report.display()
    );
}

/// The user's settings with every suite's defaults where they left one unset: 3
/// seeds, the small head grid (written into the study's folder).
pub(super) fn suite_defaults(args: &CompareArgs, dir: &Path) -> Result<CompareArgs> {
    let mut base = args.clone();
    base.seeds = Some(args.seeds.unwrap_or(SUITE_SEEDS));
    if base.heads.is_none() {
        let grid = dir.join("heads.toml");
        artifacts::write_atomic(&grid, SUITE_HEADS.as_bytes())?;
        base.heads = Some(grid);
    }
    Ok(base)
}

/// The comparison `args` describe, or, when the study is resumed and `args.out`
/// already holds a complete one (its `results.json` is written last), that one.
pub(super) fn compare_or_reuse(args: &CompareArgs) -> Result<Compared> {
    if args.resume.is_some() {
        let finished = std::fs::read_dir(&args.out)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|dir| dir.join(report::RESULTS_FILE).is_file());
        if let Some(dir) = finished {
            eprintln!("already done: {}", dir.display());
            let comparison = report::read_results(&dir.join(report::RESULTS_FILE))?;
            return Ok(Compared { comparison, dir });
        }
    }
    compare(args)
}

/// [`suite_defaults`] and the imbalance study's cheap end-to-end recipe.
fn imbalance_defaults(args: &CompareArgs, dir: &Path) -> Result<CompareArgs> {
    let mut base = suite_defaults(args, dir)?;
    base.num_layers = args.num_layers.or(Some(SUITE_NUM_LAYERS));
    base.freeze_embeddings = args.freeze_embeddings.or(Some(true));
    base.max_len = args.max_len.or(Some(SUITE_MAX_LEN));
    base.epochs = args.epochs.or(Some(SUITE_EPOCHS));
    base.learning_rate = args.learning_rate.or(Some(SUITE_LEARNING_RATE));
    Ok(base)
}

/// Every arm on one data set, the baseline first; the rare class watched is the
/// baseline's rarest.
fn run_data_set(set: &StudySet<'_>, base: &CompareArgs, dir: &Path) -> Result<StudyData> {
    let mut arms = Vec::new();
    // The baseline's data summary and rarest class, once it has run.
    let mut baseline: Option<(report::DataInfo, String)> = None;
    for spec in IMBALANCE_ARMS {
        if spec.binary_only && baseline.as_ref().is_some_and(|(d, _)| d.classes.len() != 2) {
            continue;
        }
        let mut flags: Vec<&str> = set.flags.to_vec();
        flags.extend(spec.flags);
        let mut args = ArmFlags::parse(&flags)
            .with_context(|| format!("the {} arm's flags {flags:?}", spec.name))?
            .apply(base);
        let folder = format!("{}/{}", report::slug(set.name), report::slug(spec.name));
        args.out = dir.join(&folder);
        eprintln!("\n#### {}: {} ({})", set.name, spec.name, spec.description);
        let compared = compare_or_reuse(&args)?;
        let (_, focus) = baseline.get_or_insert_with(|| {
            let data = compared.comparison.data.clone();
            let focus = data.rarest_class().unwrap_or_default().to_owned();
            (data, focus)
        });
        let report = compared
            .dir
            .strip_prefix(dir)
            .unwrap_or(&compared.dir)
            .display()
            .to_string();
        arms.push(Arm::from_comparison(
            spec.name,
            spec.description,
            &spec.flags.join(" "),
            &report,
            &compared.comparison,
            focus,
        ));
    }
    let (data, focus) = baseline.context("a study runs at least its baseline")?;
    let focus_train = data
        .classes
        .iter()
        .position(|c| *c == focus)
        .map_or(0, |i| data.train_counts[i]);
    Ok(StudyData {
        name: set.name.to_owned(),
        classes: data.classes.len(),
        train: data.train,
        test: data.test,
        derivation: data.derivation,
        focus_class: focus,
        focus_train,
        arms,
    })
}

/// The shared settings, in words.
fn recipe(base: &CompareArgs) -> Vec<String> {
    let layers = base
        .num_layers
        .map_or_else(|| "all".to_owned(), |k| k.to_string());
    vec![
        format!(
            "model {}, max_len {}, backend {}, {} seeds from {}",
            base.model.display(),
            base.max_len.unwrap_or_default(),
            base.backend,
            base.seeds.unwrap_or(1),
            base.seed
        ),
        format!(
            "pipeline: the whole frozen encoder, features cached; heads from {}",
            base.heads
                .as_ref()
                .map_or_else(|| "the default grid".to_owned(), |h| h.display().to_string())
        ),
        format!(
            "end-to-end: {layers} encoder layer(s) fine-tuned{}, {} epochs, peak learning rate {}",
            if base.freeze_embeddings == Some(true) {
                " with the embeddings frozen"
            } else {
                ""
            },
            base.epochs.unwrap_or_default(),
            base.learning_rate.unwrap_or_default()
        ),
        "both modes select their model on validation macro-F1 or loss as a plain comparison does; the test split is never seen before the end".into(),
    ]
}
