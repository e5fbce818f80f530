//! `bertcls compare --suite few-shot`: with k labelled examples per class (k = 8, 16,
//! 32, 64, each drawn anew per seed), a pipeline head, [CLS] fine-tuning and prompt
//! fine-tuning, against zero-shot classification from the verbalizer's words.
//!
//! Every (k, seed) is two ordinary comparisons on the same draw: one fine-tuning
//! through [CLS], one through the prompt (its pipeline half repeats the first's,
//! which costs seconds). Zero-shot needs no examples: it runs once on the test split.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use report::{FewShotData, FewShotMethod, FewShotPoint, FewShotStudy, RunResult, ZeroShotScores};

use super::stages::CommandLine;
use super::suite::{announce_finished, compare_or_reuse, suite_defaults};
use super::{CompareArgs, Compared, machine};
use crate::commands::{embed, zero_shot};

/// Labelled examples per class.
const SHOTS: [usize; 4] = [8, 16, 32, 64];
/// Few examples make few steps per epoch: more epochs than a plain comparison.
const FEW_SHOT_EPOCHS: usize = 20;

/// A data set of the study, with its prompt.
struct FewShotSet<'a> {
    name: &'a str,
    data: &'a str,
    template: &'a str,
    /// label=word,…; zero-shot describes each label as "This text is about WORD.".
    verbalizer: &'a str,
}

const FEW_SHOT_DATA: &[FewShotSet<'static>] = &[
    FewShotSet {
        name: "R8",
        data: "r8",
        template: "{text} [SEP] This is about [MASK].",
        verbalizer: "acq=acquisition,crude=oil,earn=earnings,grain=grain,interest=interest,money-fx=currency,ship=shipping,trade=trade",
    },
    FewShotSet {
        name: "SpamAssassin",
        data: "spam",
        template: "{text} [SEP] This message is [MASK].",
        verbalizer: "ham=normal,spam=spam",
    },
];

/// Runs the study into `dir` (already created).
pub(super) fn run(args: &CompareArgs, dir: &Path) -> Result<()> {
    if args.shots.is_some() {
        bail!("--suite few-shot draws k = 8, 16, 32 and 64 itself; leave out --shots");
    }
    let started = Instant::now();
    let started_unix = machine::unix_now();
    let mut base = suite_defaults(args, dir)?;
    // Unlike the imbalance study, no cheap model by default: here the models are what
    // is compared. Only the epochs change, as few examples make few steps.
    base.epochs = args.epochs.or(Some(FEW_SHOT_EPOCHS));

    let user_set = match (&args.data, &args.prompt, &args.verbalizer) {
        (Some(data), Some(template), Some(verbalizer)) => Some(FewShotSet {
            name: Path::new(data)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(data),
            data,
            template,
            verbalizer,
        }),
        (Some(data), _, _) => bail!(
            "--suite few-shot --data {data}: give the prompt to fine-tune with, --prompt \"{{text}} [SEP] This is about [MASK].\" --verbalizer label=word,…"
        ),
        (None, _, _) => None,
    };
    let sets = match &user_set {
        Some(set) => std::slice::from_ref(set),
        None => FEW_SHOT_DATA,
    };
    let data_sets = sets
        .iter()
        .map(|set| run_data_set(set, &base, dir))
        .collect::<Result<Vec<_>>>()?;
    let seeds = base.seeds.unwrap_or(1);
    let study = FewShotStudy {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
        recipe: vec![
            format!(
                "model {}, max_len {}, backend {}; {seeds} draws of the k examples (seeds from {}), validation cut to k per class too",
                base.model.display(),
                base.max_len.unwrap_or(super::DEFAULT_MAX_LEN),
                base.backend,
                base.seed
            ),
            format!(
                "fine-tuning: {} encoder layers{}, {} epochs, peak learning rate {}, the best epoch on the k-shot validation kept",
                base.num_layers
                    .map_or_else(|| "all".to_owned(), |k| format!("the bottom {k}")),
                if base.freeze_embeddings == Some(true) {
                    " (embeddings frozen)"
                } else {
                    ""
                },
                base.epochs.unwrap_or_default(),
                base.learning_rate
                    .unwrap_or(joint::FineTuneConfig::default().learning_rate)
            ),
            "zero-shot: each label described as \"This text is about WORD.\", WORD its verbalizer word, embedded by the pipeline's encoder".into(),
        ],
        shots: SHOTS.to_vec(),
        data_sets,
    };
    report::write_few_shot(&study, dir)?;
    announce_finished(
        &study.terminal_tables(),
        study.wall_seconds,
        &dir.join(report::FEW_SHOT_HTML_FILE),
    );
    Ok(())
}

/// The comparisons of every (k, seed), and zero-shot, on one data set.
fn run_data_set(set: &FewShotSet<'_>, base: &CompareArgs, dir: &Path) -> Result<FewShotData> {
    let folder = dir.join(report::slug(set.name));
    let seeds: Vec<u64> = (0..base.seeds.unwrap_or(1) as u64)
        .map(|i| base.seed + i)
        .collect();
    // Per k: (pipeline, [CLS], prompt) runs and their reports.
    let mut points: Vec<[(Vec<RunResult>, Vec<String>); 3]> = Vec::new();
    let mut first: Option<Compared> = None;
    for k in SHOTS {
        let mut at_k: [(Vec<RunResult>, Vec<String>); 3] = Default::default();
        for &seed in &seeds {
            eprintln!("\n#### {}: k = {k}, seed {seed}", set.name);
            let mut args = base.clone();
            args.data = Some(set.data.to_owned());
            args.shots = Some(k);
            args.seed = seed;
            args.seeds = Some(1);
            args.prompt = None;
            args.verbalizer = None;
            args.out = folder.join(format!("k-{k}/cls"));
            let cls = compare_or_reuse(&args)?;
            args.prompt = Some(set.template.to_owned());
            args.verbalizer = Some(set.verbalizer.to_owned());
            args.out = folder.join(format!("k-{k}/prompt"));
            let prompt = compare_or_reuse(&args)?;
            let relative = |c: &Compared| {
                c.dir
                    .strip_prefix(dir)
                    .unwrap_or(&c.dir)
                    .display()
                    .to_string()
            };
            for (slot, (compared, mode)) in at_k.iter_mut().zip([
                (&cls, &cls.comparison.pipeline),
                (&cls, &cls.comparison.end_to_end),
                (&prompt, &prompt.comparison.end_to_end),
            ]) {
                slot.0.extend(mode.runs.iter().cloned());
                slot.1.push(relative(compared));
            }
            first.get_or_insert(cls);
        }
        points.push(at_k);
    }
    let first = first.context("a few-shot study runs at least one comparison")?;
    let zero_shot = zero_shot_scores(set, base, &first, &folder)?;
    let names = [
        (
            "pipeline head",
            "the best head of the sweep over frozen, cached features of the k examples".to_owned(),
        ),
        (
            "[CLS] fine-tuning",
            "BERT with [CLS] through its pooler and a linear layer, fine-tuned on the k examples"
                .to_owned(),
        ),
        (
            "prompt fine-tuning",
            format!(
                "BERT fine-tuned on the k examples through the prompt {:?}, scored at its [MASK] against the words {}",
                set.template, set.verbalizer
            ),
        ),
    ];
    let methods = names
        .into_iter()
        .enumerate()
        .map(|(m, (name, description))| FewShotMethod {
            name: name.to_owned(),
            description,
            points: SHOTS
                .iter()
                .zip(&points)
                .map(|(&k, at_k)| {
                    let (runs, reports) = &at_k[m];
                    FewShotPoint::of(k, &runs.iter().collect::<Vec<_>>(), reports.clone())
                })
                .collect(),
        })
        .collect();
    let data = &first.comparison.data;
    Ok(FewShotData {
        name: set.name.to_owned(),
        classes: data.classes.len(),
        test: data.test,
        zero_shot: Some(zero_shot),
        methods,
    })
}

/// Zero-shot on the test split the comparisons used, with the pipeline's encoder
/// (its cache is already there) and "This text is about WORD." for each label.
fn zero_shot_scores(
    set: &FewShotSet<'_>,
    args: &CompareArgs,
    first: &Compared,
    folder: &Path,
) -> Result<ZeroShotScores> {
    let c = &first.comparison;
    let test = c
        .data
        .files
        .iter()
        .find(|f| f.split == "test")
        .context("the comparison recorded its test file")?;
    let cache = embed::embed(
        &CommandLine::new(&["embed"])
            .arg("--input", &test.path)
            .arg("--model", args.model.display())
            .arg("--backend", args.backend)
            .arg("--max-len", c.settings.max_len)
            .arg("--cache-dir", args.cache_dir.display())
            .parse()?,
    )?;
    let mut line = CommandLine::new(&["zero-shot"])
        .arg("--cache", cache.path.display())
        .arg(
            "--output",
            folder.join("zero-shot-predictions.jsonl").display(),
        );
    for pair in set.verbalizer.split(',') {
        let (label, word) = pair
            .split_once('=')
            .with_context(|| format!("verbalizer entry {pair:?}: expected label=word"))?;
        line = line.arg("--describe", format!("{label}=This text is about {word}."));
    }
    eprintln!("\n#### {}: zero-shot", set.name);
    let outcome = zero_shot::zero_shot(&line.parse()?)?;
    let report = outcome.raw.context("the test split is labelled")?;
    Ok(ZeroShotScores {
        macro_f1: report.macro_f1,
        accuracy: report.accuracy,
    })
}
