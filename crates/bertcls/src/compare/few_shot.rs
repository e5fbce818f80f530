//! The few-shot study: with k labelled examples per class (each k drawn anew per
//! seed), a pipeline head, fine-tuning from it, prompt fine-tuning and contrastive
//! tuning (SetFit), against zero-shot classification from the verbalizer's words.
//!
//! Every (k, seed) is two ordinary comparisons on the same draw: one fine-tuning
//! from the pipeline's head, with contrastive tuning, one through the data set's
//! prompt (its pipeline half repeats the first's, which costs seconds). Zero-shot needs no examples: it runs once on the
//! test split.

use std::path::Path;
use std::time::Instant;

use data::LabelledText;
use report::{FewShotData, FewShotMethod, FewShotPoint, FewShotStudy, RunResult, ZeroShotScores};
use serde::{Deserialize, Serialize};

use super::study::{DataSet, Studied, Study, recipe_line};
use super::{CompareJob, Compared};
use crate::error::{Context, Result, refuse};
use crate::options::{Input, ModelOptions};
use crate::{EmbedJob, Job, Observer, ZeroShotJob, machine};

/// At one k, per method (pipeline, fine-tuning, prompt, contrastive): the runs of
/// every seed and the report folders they came from.
type MethodRuns = [(Vec<RunResult>, Vec<String>); 4];

/// What a few-shot study varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShotDesign {
    /// Labelled examples per class, one point of the curves each.
    pub shots: Vec<usize>,
    /// How zero-shot describes each label; `{word}` is its verbalizer word.
    pub zero_shot_description: String,
}

impl FewShotDesign {
    pub(super) fn check(&self) -> Result<()> {
        if self.shots.is_empty() || self.shots.contains(&0) {
            refuse!("shots lists the examples per class to try, each at least 1, e.g. [8, 16]");
        }
        if !self.zero_shot_description.contains("{word}") {
            refuse!("zero_shot_description has a {{word}} for each label's verbalizer word");
        }
        Ok(())
    }

    /// Runs every k and seed on every data set, and zero-shot; writes the report.
    pub(super) fn run(&self, study: &Study<'_>, observer: &mut dyn Observer) -> Result<Studied> {
        study.refuse_user_settings(
            &["shots"],
            "this study draws its k examples per class itself",
        )?;
        let started = Instant::now();
        let started_unix = machine::unix_now();
        let sets = match (&study.user.data, &study.user.prompt) {
            (Some(data), None) => refuse!(
                "a few-shot study on " [data] " {data} needs the prompt to fine-tune with: "
                [prompt] " \"{{text}} [SEP] This is about [MASK].\" " [verbalizer]
                " label=word,…"
            ),
            _ => study.data_sets(),
        };
        let data_sets = sets
            .iter()
            .map(|set| self.run_data_set(study, set, observer))
            .collect::<Result<Vec<_>>>()?;
        let report = FewShotStudy {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_unix,
            wall_seconds: started.elapsed().as_secs_f64(),
            recipe: self.recipe(&study.base),
            shots: self.shots.clone(),
            data_sets,
        };
        report::write_few_shot(&report, study.dir)?;
        Ok(Studied {
            dir: study.dir.to_owned(),
            tables: report.terminal_tables(),
            report: study.dir.join(report::FEW_SHOT_HTML_FILE),
            wall_seconds: report.wall_seconds,
        })
    }

    /// The comparisons of every (k, seed), and zero-shot, on one data set.
    fn run_data_set(
        &self,
        study: &Study<'_>,
        set: &DataSet,
        observer: &mut dyn Observer,
    ) -> Result<FewShotData> {
        let on_set = study.on(set)?;
        if on_set.prompt.is_none() {
            refuse!(
                "data set {:?}: a few-shot study fine-tunes through a prompt: give it prompt and verbalizer settings",
                set.name
            );
        }
        let folder = study.dir.join(report::slug(&set.name));
        let (points, first) = self.comparisons(study, set, &on_set, &folder, observer)?;
        observer.note(&format!("\n#### {}: zero-shot", set.name));
        let zero_shot = self.zero_shot_scores(&on_set, &first, &folder, observer)?;
        let methods = self.methods(&on_set, &points);
        let data = &first.comparison.data;
        Ok(FewShotData {
            name: set.name.clone(),
            classes: data.classes.len(),
            test: data.test,
            zero_shot: Some(zero_shot),
            methods,
        })
    }

    /// Per k, the (pipeline, [CLS], prompt) runs of every seed and their report
    /// folders; and the first comparison (whose splits zero-shot reuses).
    fn comparisons(
        &self,
        study: &Study<'_>,
        set: &DataSet,
        on_set: &CompareJob,
        folder: &Path,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<MethodRuns>, Compared)> {
        let mut points: Vec<MethodRuns> = Vec::new();
        let mut first: Option<Compared> = None;
        for &k in &self.shots {
            let mut at_k: MethodRuns = Default::default();
            for seed in on_set.seed_list() {
                observer.note(&format!("\n#### {}: k = {k}, seed {seed}", set.name));
                let mut args = CompareJob {
                    shots: Some(k),
                    contrastive: Some(true),
                    seed,
                    seeds: Some(1),
                    prompt: None,
                    verbalizer: Vec::new(),
                    out: folder.join(format!("k-{k}/cls")),
                    ..on_set.clone()
                };
                let cls = study.compare_or_reuse(&args, observer)?;
                args.prompt.clone_from(&on_set.prompt);
                args.verbalizer.clone_from(&on_set.verbalizer);
                args.out = folder.join(format!("k-{k}/prompt"));
                // Contrastive tuning reads no prompt: the first comparison has it.
                args.contrastive = Some(false);
                let prompt = study.compare_or_reuse(&args, observer)?;
                let contrastive = cls
                    .comparison
                    .contrastive
                    .as_ref()
                    .context("the few-shot comparison tuned contrastively")?;
                for (slot, (compared, mode)) in at_k.iter_mut().zip([
                    (&cls, &cls.comparison.pipeline),
                    (&cls, &cls.comparison.end_to_end),
                    (&prompt, &prompt.comparison.end_to_end),
                    (&cls, contrastive),
                ]) {
                    slot.0.extend(mode.runs.iter().cloned());
                    slot.1.push(study.relative(&compared.dir));
                }
                first.get_or_insert(cls);
            }
            points.push(at_k);
        }
        let first = first.context("a few-shot study runs at least one comparison")?;
        Ok((points, first))
    }

    /// The three methods, each with its point per k.
    fn methods(&self, on_set: &CompareJob, points: &[MethodRuns]) -> Vec<FewShotMethod> {
        let template = on_set.prompt.clone().unwrap_or_default();
        let names = [
            (
                "pipeline head",
                "the best head of the sweep over frozen, cached features of the k examples"
                    .to_owned(),
            ),
            (
                "fine-tuning",
                "BERT and a linear layer on the mean of its final states, started from the \
                 pipeline's linear head and fine-tuned on the k examples"
                    .to_owned(),
            ),
            (
                "prompt fine-tuning",
                format!(
                    "BERT fine-tuned on the k examples through the prompt {template:?}, scored at its [MASK] against the words {}",
                    on_set
                        .verbalizer
                        .iter()
                        .map(LabelledText::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            (
                report::CONTRASTIVE_NAME,
                "BERT's encoder tuned on pairs of the k examples (cosine similarity towards 1 \
                 within a label, 0 across), then a linear head on its embeddings"
                    .to_owned(),
            ),
        ];
        names
            .into_iter()
            .enumerate()
            .map(|(m, (name, description))| FewShotMethod {
                name: name.to_owned(),
                description,
                points: self
                    .shots
                    .iter()
                    .zip(points)
                    .map(|(&k, at_k)| {
                        let (runs, reports) = &at_k[m];
                        FewShotPoint::of(k, &runs.iter().collect::<Vec<_>>(), reports.clone())
                    })
                    .collect(),
            })
            .collect()
    }

    /// Zero-shot on the test split the comparisons used, with the pipeline's encoder
    /// (its cache is already there) and the description of each label's word.
    fn zero_shot_scores(
        &self,
        args: &CompareJob,
        first: &Compared,
        folder: &Path,
        observer: &mut dyn Observer,
    ) -> Result<ZeroShotScores> {
        let c = &first.comparison;
        let test = c
            .data
            .files
            .iter()
            .find(|f| f.split == "test")
            .context("the comparison recorded its test file")?;
        let embed = EmbedJob {
            model: ModelOptions {
                model: args.model.clone(),
                backend: args.backend,
                max_len: c.settings.max_len,
            },
            input: Input::new(&test.path),
            cache_dir: args.cache_dir.clone(),
            ..EmbedJob::new(&test.path)
        };
        let cache = embed.run(observer)?.cache;
        let mut job = ZeroShotJob::new(&cache.path, folder.join("zero-shot-predictions.jsonl"));
        for LabelledText { label, text: word } in &args.verbalizer {
            job.describe.push(LabelledText {
                label: label.clone(),
                text: self.zero_shot_description.replace("{word}", word),
            });
        }
        let reports = job.run(observer)?;
        let report = reports.raw.context("the test split is labelled")?;
        Ok(ZeroShotScores {
            macro_f1: report.macro_f1,
            accuracy: report.accuracy,
        })
    }

    /// The study's settings, in words.
    fn recipe(&self, base: &CompareJob) -> Vec<String> {
        let setfit = joint::setfit_recipe(base.seed);
        vec![
            format!(
                "{}; draws of the k examples per seed, validation cut to k per class too",
                recipe_line(base)
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
                base.epochs(),
                base.learning_rate()
            ),
            format!(
                "contrastive tuning: SetFit's recipe ({} epoch at {}, {} pairs per step), {} pairs of each kind per example, then logistic regression on the tuned embeddings",
                setfit.epochs,
                setfit.learning_rate,
                setfit.batch_size,
                base.pair_iterations()
            ),
            format!(
                "zero-shot: each label described as {:?}, WORD its verbalizer word, embedded by the pipeline's encoder",
                self.zero_shot_description.replace("{word}", "WORD")
            ),
        ]
    }
}
