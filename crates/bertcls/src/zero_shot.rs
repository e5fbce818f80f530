//! Zero-shot classification as a job: cached texts classified by their similarity to
//! descriptions of the labels, with no training (see `head::ZeroShot`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bert::{BackendKind, PretrainedBert};
use data::{LabelMap, LabelledText, Record};
use encoder::{EmbeddingCache, EmbeddingSpec, FrozenEncoder};
use head::{DEFAULT_TEMPLATE, LabelDescriptions, SIMILARITY_TEMPERATURE, ZeroShot};
use metrics::ClassificationReport;
use serde::{Deserialize, Serialize};
use training::Targets;

use crate::Job;
use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::predictions::{report_if_labelled, write_predictions};

/// Classify cached texts with no training, by their similarity to descriptions of
/// the labels embedded by the same encoder (`bertcls zero-shot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotJob {
    /// Embedding cache(s) of the texts to classify (`bertcls embed`; shards allowed).
    pub cache: Vec<PathBuf>,
    /// The labels [default: those of the cache's records, else of `descriptions`].
    pub labels: Vec<String>,
    /// A TOML file of descriptions: `label = "text"` or `label = ["text", …]`.
    pub descriptions: Option<PathBuf>,
    /// A description on the command line, `LABEL=TEXT`; repeat for more.
    pub describe: Vec<LabelledText>,
    /// The description of a label that has none: `{label}` is replaced by its name.
    pub template: String,
    /// Subtract each label's mean similarity over unlabeled texts: those of the given
    /// caches, or with no value those of `cache` itself (their labels are not used).
    pub calibrate: Option<Vec<PathBuf>>,
    /// The model folder, when it moved since the cache was built [default: the one
    /// recorded in the cache].
    pub model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities
    /// (`-`: standard output).
    pub output: PathBuf,
    /// Where the descriptions are embedded.
    pub backend: BackendKind,
}

/// The reports of a labelled run: without calibration, and with it when asked.
pub struct ZeroShotReports {
    /// Scored on the raw similarities.
    pub raw: Option<ClassificationReport>,
    /// Scored after calibration, when it was asked for.
    pub calibrated: Option<ClassificationReport>,
}

impl ZeroShotJob {
    /// Classifies the texts of `cache` by the template's descriptions of their labels;
    /// predictions into `output`.
    pub fn new(cache: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        Self {
            cache: vec![cache.into()],
            labels: Vec::new(),
            descriptions: None,
            describe: Vec::new(),
            template: DEFAULT_TEMPLATE.into(),
            calibrate: None,
            model: None,
            output: output.into(),
            backend: BackendKind::Flex,
        }
    }
}

impl Job for ZeroShotJob {
    type Output = ZeroShotReports;

    /// The template has its `{label}`.
    fn validate(&self) -> Result<()> {
        LabelDescriptions::from_template(&[], &self.template)
            .map_err(|e| crate::error::refused!([template] ": {e}"))?;
        Ok(())
    }

    /// Classifies the cache's texts and writes the predictions; with labelled texts,
    /// the reports (raw and calibrated).
    fn execute(&self, observer: &mut dyn Observer) -> Result<ZeroShotReports> {
        zero_shot(self, observer)
    }
}

fn zero_shot(args: &ZeroShotJob, observer: &mut dyn Observer) -> Result<ZeroShotReports> {
    let cache = EmbeddingCache::open_shards(&args.cache)?;
    let descriptions = descriptions(args, &cache)?;
    let mut classifier = embed_descriptions(args, &cache.meta.spec, &descriptions, observer)?;
    let names = classifier.labels.clone();
    let truth = &cache.meta.labels;

    let scores = classifier.scores(cache.vectors());
    let mut predicted = classifier.predict(&scores);
    let mut probabilities = classifier.probabilities(&scores);
    let raw = report_if_labelled(&names, truth, &predicted, &probabilities);
    let mut calibrated = None;
    if let Some(paths) = &args.calibrate {
        let unlabeled = if paths.is_empty() {
            cache.vectors().to_vec()
        } else {
            let other = EmbeddingCache::open_shards(paths)
                .with_context(|| format!("opening {}", paths[0].display()))?;
            same_encoder(&cache, &other)?;
            other.vectors().to_vec()
        };
        classifier.calibrate(&unlabeled);
        let offsets: Vec<String> = names
            .iter()
            .zip(classifier.offsets())
            .map(|(l, o)| format!("{l} {o:.3}"))
            .collect();
        observer.note(&format!(
            "calibrated on {} unlabeled texts; mean similarity subtracted: {}",
            unlabeled.len() / cache.meta.dim.max(1),
            offsets.join(", ")
        ));
        let scores = classifier.scores(cache.vectors());
        predicted = classifier.predict(&scores);
        probabilities = classifier.probabilities(&scores);
        calibrated = report_if_labelled(&names, truth, &predicted, &probabilities);
    }
    write_predictions(
        &args.output,
        &names,
        &cache.meta.ids,
        truth,
        &probabilities,
        &Targets::Classes(predicted),
    )
    .for_setting("output")?;
    observer.note(&format!(
        "wrote {} predictions to {} (probabilities: softmax of similarities / {SIMILARITY_TEMPERATURE})",
        cache.meta.rows,
        artifacts::output_name(&args.output).display()
    ));
    Ok(ZeroShotReports { raw, calibrated })
}

/// A label's descriptions in a TOML file: one text or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The labels and their descriptions: from the file and `--describe`, the template
/// for the rest. A description of an unknown label is refused, as it is likely a typo.
fn descriptions(args: &ZeroShotJob, cache: &EmbeddingCache) -> Result<LabelDescriptions> {
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(path) = &args.descriptions {
        let text = data::read_text_file(path)?;
        let table: BTreeMap<String, OneOrMany> = toml::from_str(&text).with_context(|| {
            format!(
                "{}: expected one entry per label, label = \"text\" or label = [\"text\", …]",
                path.display()
            )
        })?;
        for (label, texts) in table {
            let texts = match texts {
                OneOrMany::One(t) => vec![t],
                OneOrMany::Many(ts) => ts,
            };
            if texts.iter().all(|t| t.trim().is_empty()) {
                refuse!(
                    "{}: label {label} has no non-empty description",
                    path.display()
                );
            }
            given.entry(label).or_default().extend(texts);
        }
    }
    for LabelledText { label, text } in &args.describe {
        given.entry(label.clone()).or_default().push(text.clone());
    }
    let labels: Vec<String> = if !args.labels.is_empty() {
        args.labels.clone()
    } else if cache.meta.labels.iter().any(Option::is_some) {
        LabelMap::from_labels(
            cache
                .meta
                .labels
                .iter()
                .flatten()
                .filter_map(data::Label::class),
        )
        .names()
        .to_vec()
    } else {
        given.keys().cloned().collect()
    };
    if labels.len() < 2 {
        let (count, listed) = (labels.len(), labels.join(", "));
        refuse!(
            "{count} label(s) to choose from ({listed}): the cache has no labels, so give "
            [labels] " (a,b,…) or " [describe] " each label"
        );
    }
    if let Some(unknown) = given.keys().find(|l| !labels.contains(l)) {
        refuse!(
            "a description is given for {unknown:?}, which is not one of the labels ({})",
            labels.join(", ")
        );
    }
    let mut described = LabelDescriptions::from_template(&labels, &args.template)
        .map_err(|e| crate::error::refused!([template] ": {e}"))?;
    for (i, label) in labels.iter().enumerate() {
        if let Some(texts) = given.remove(label) {
            described.descriptions[i] = texts;
        }
    }
    Ok(described)
}

/// Embeds the descriptions with the encoder that built the cache and returns the
/// classifier. The model's files must be those the cache was built from.
fn embed_descriptions(
    args: &ZeroShotJob,
    spec: &EmbeddingSpec,
    descriptions: &LabelDescriptions,
    observer: &mut dyn Observer,
) -> Result<ZeroShot> {
    let model_dir = args
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&spec.model));
    check_model(&model_dir, spec)?;
    let device = args.backend.device()?;
    let bert = PretrainedBert::load(&model_dir, spec.max_len, &device)
        .with_context(|| format!("loading {}", model_dir.display()))?;
    let options = spec.options();
    let encoder = FrozenEncoder::new(bert, device, options)?;
    let texts = descriptions.texts();
    let records: Vec<Record> = texts
        .iter()
        .enumerate()
        .map(|(j, &(label, text))| Record {
            id: format!("{}#{j}", descriptions.labels[label]),
            text: text.to_owned(),
            text_b: None,
            label: None,
        })
        .collect();
    observer.begin("embedding descriptions", records.len());
    let embedded = encoder.embed(&records, &mut |n| observer.advance(n));
    observer.end();
    let (embeddings, _) = embedded?;
    let owners: Vec<usize> = texts.iter().map(|&(label, _)| label).collect();
    Ok(ZeroShot::new(
        descriptions.labels.clone(),
        &owners,
        &embeddings.values,
        embeddings.dim,
    ))
}

/// The weights and config of `model_dir` are those the cache recorded.
fn check_model(model_dir: &Path, spec: &EmbeddingSpec) -> Result<()> {
    let weights = bert::find_weights(model_dir).with_context(|| {
        let folder = model_dir.display();
        settings::message!("{folder}: no model weights (give " [model] ")")
    })?;
    for (what, path, expected) in [
        ("weights", weights, &spec.weights_sha256),
        ("config", model_dir.join("config.json"), &spec.config_sha256),
    ] {
        if &data::sha256_file(&path)? != expected {
            let (path, encoder) = (path.display(), spec.describe_encoder());
            refuse!(
                "{path}: these {what} are not those the cache was embedded with ({encoder}): \
                 descriptions must be embedded by the same encoder; give " [model]
                " with the original folder"
            );
        }
    }
    Ok(())
}

/// Calibration texts must be vectors of the same encoder.
fn same_encoder(cache: &EmbeddingCache, other: &EmbeddingCache) -> Result<()> {
    let (a, b) = (
        cache.meta.spec.encoder_only(),
        other.meta.spec.encoder_only(),
    );
    if a.fingerprint() != b.fingerprint() {
        let (path, theirs, ours) = (
            other.path.display(),
            b.describe_encoder(),
            a.describe_encoder(),
        );
        refuse!(
            [calibrate] " {path}: embedded by another encoder ({theirs}) than " [cache] " ({ours})"
        );
    }
    Ok(())
}
