//! Any saved classifier behind one interface, so that `predict`, `evaluate` and
//! `ensemble` take whatever the user trained: a fine-tuned model, a pipeline head
//! (reading texts through the frozen encoder it was trained over), or an ensemble of
//! them (`ensemble.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result, refuse};
use bert::burn::tensor::Device;
use bert::{Precision, PretrainedBert};
use data::Record;
use encoder::{EmbedOptions, EmbeddingSpec, FrozenEncoder};
use head::{Combine, Features, SavedHead};
use joint::SavedClassifier;
use metrics::DecisionRule;
use serde::{Deserialize, Serialize};
use training::Readout;

/// The file that makes a folder an ensemble.
pub const ENSEMBLE_FILE: &str = "ensemble.json";

/// What `ensemble.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// How the members' probabilities are combined.
    pub combine: Combine,
    /// The classes, in the order of the ensemble's probabilities.
    pub labels: Vec<String>,
    /// The members, in order.
    pub members: Vec<EnsembleMember>,
}

/// One member: a classifier folder (relative paths are relative to the ensemble's
/// folder) and its weight in the combination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleMember {
    /// The member's folder.
    pub path: PathBuf,
    /// Its weight in the combination (1 unless given).
    pub weight: f64,
}

impl EnsembleSpec {
    /// Writes `DIR/ensemble.json` (DIR: the ensemble's staging folder).
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        self.validate()?;
        Ok(artifacts::write_json(&dir.join(ENSEMBLE_FILE), self)?)
    }

    /// What must hold for the ensemble to combine its members: classes (at least 2,
    /// distinct), members, and weights that are finite, ≥ 0 and not all 0.
    pub fn validate(&self) -> Result<()> {
        let distinct: std::collections::BTreeSet<&String> = self.labels.iter().collect();
        if self.labels.len() < 2 || distinct.len() != self.labels.len() {
            refuse!(
                "it must name at least 2 distinct classes, not {:?}",
                self.labels
            );
        }
        if self.members.is_empty() {
            refuse!("it lists no members");
        }
        let weights = || self.members.iter().map(|m| m.weight);
        if weights().any(|w| !(w.is_finite() && w >= 0.0)) || weights().all(|w| w == 0.0) {
            refuse!("member weights must be ≥ 0 and not all 0");
        }
        Ok(())
    }
}

/// How deep ensembles may nest (an ensemble of ensembles of …): far more than any
/// real use, and a bound on a cycle that the path check cannot see.
const MAX_NESTING: usize = 8;

/// A loaded classifier of any kind.
pub enum Classifier {
    /// A fine-tuned BERT folder (ours or a Hugging Face sequence classifier).
    FineTuned(Box<SavedClassifier>),
    /// A pipeline head with the frozen encoder its features came from.
    Head(Box<HeadOnText>),
    /// An ensemble of any of these.
    Ensemble(Ensemble),
}

/// A pipeline head with the frozen encoder that turns texts into its features.
pub struct HeadOnText {
    /// The head.
    pub head: SavedHead,
    encoder: FrozenEncoder,
}

/// Members whose probabilities (columns put in the ensemble's label order) are
/// combined by the spec's rule.
pub struct Ensemble {
    /// The ensemble's folder.
    pub dir: PathBuf,
    /// Its `ensemble.json`.
    pub spec: EnsembleSpec,
    /// Each member, with the index of each of its classes in the ensemble's label order.
    pub members: Vec<(Classifier, Vec<usize>)>,
}

impl Classifier {
    /// The classifier in `path`: an ensemble folder, a head folder (`head.json`), or
    /// a fine-tuned model (`finetune`'s OUT or OUT/model, any Hugging Face
    /// BertForSequenceClassification folder). `max_len` overrides a fine-tuned
    /// model's.
    pub fn load(path: &Path, max_len: Option<usize>, device: &Device) -> Result<Self> {
        Self::load_within(path, max_len, device, &mut Vec::new())
    }

    /// [`load`](Self::load) as a member of the ensembles `within` (canonical paths,
    /// outermost first), so that an ensemble that lists itself is an error, not an
    /// endless recursion.
    fn load_within(
        path: &Path,
        max_len: Option<usize>,
        device: &Device,
        within: &mut Vec<PathBuf>,
    ) -> Result<Self> {
        if !path.exists() {
            refuse!("{} does not exist", path.display());
        }
        if path.join(ENSEMBLE_FILE).exists() {
            return Ok(Classifier::Ensemble(Ensemble::load(
                path, max_len, device, within,
            )?));
        }
        if path.join("head.json").exists() {
            if let Some(max_len) = max_len {
                refuse!(
                    "{} is a head: it reads texts as its features were embedded, so a max_len \
                     ({max_len}) cannot be chosen for it",
                    path.display()
                );
            }
            return Ok(Classifier::Head(Box::new(HeadOnText::load(path, device)?)));
        }
        let dir = model_folder(path);
        let model = SavedClassifier::load(&dir, max_len, device)
            .with_context(|| format!("loading the classifier in {}", dir.display()))?;
        Ok(Classifier::FineTuned(Box::new(model)))
    }

    /// The classifier with its encoder in `precision` (`None`: as saved). A fine-tuned
    /// model's encoder is converted (on a CPU backend); a head keeps the precision its
    /// features were embedded in, and refuses another, since its texts would then
    /// become vectors it was not trained on; an ensemble passes it to every member.
    pub fn with_precision(self, precision: Option<Precision>) -> Result<Self> {
        let Some(precision) = precision else {
            return Ok(self);
        };
        Ok(match self {
            Classifier::FineTuned(mut model) => {
                model.model.bert = model.model.bert.with_precision(precision)?;
                Classifier::FineTuned(model)
            }
            Classifier::Head(head) => {
                let trained = head.encoder.options().precision;
                if trained != precision {
                    let path = head.head.path.display();
                    refuse!(
                        "the head in {path} was trained on features of {trained} products; \
                         texts embedded with {precision} products would not match them: leave "
                        [precision] " out (or give {trained}), or train a head on features \
                         embedded in {precision}"
                    );
                }
                Classifier::Head(head)
            }
            Classifier::Ensemble(mut ensemble) => {
                ensemble.members = std::mem::take(&mut ensemble.members)
                    .into_iter()
                    .map(|(member, columns)| Ok((member.with_precision(Some(precision))?, columns)))
                    .collect::<Result<_>>()?;
                Classifier::Ensemble(ensemble)
            }
        })
    }

    /// The classes or labels, in the order of [`predict_proba`](Self::predict_proba)'s
    /// columns (a regression head: its value's name, or none).
    pub fn labels(&self) -> &[String] {
        match self {
            Classifier::FineTuned(model) => model.labels(),
            Classifier::Head(head) => &head.head.labels,
            Classifier::Ensemble(ensemble) => &ensemble.spec.labels,
        }
    }

    /// `records × outputs` scores: class or label probabilities, or a regression
    /// head's values; `progress` hears of records done.
    pub fn predict_proba(
        &self,
        records: &[Record],
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        match self {
            Classifier::FineTuned(model) => {
                Ok(model.predict_proba(records, batch_size, device, progress)?)
            }
            Classifier::Head(head) => head.predict_proba(records, device, progress),
            Classifier::Ensemble(ensemble) => {
                ensemble.predict_proba(records, batch_size, device, progress)
            }
        }
    }

    /// How its scores become predictions: a model's or head's saved rule or
    /// thresholds (a head of any task); an ensemble's largest combined probability.
    pub fn readout(&self) -> Readout {
        match self {
            Classifier::FineTuned(model) => Readout::SingleLabel {
                decision: model.meta.decision.clone(),
            },
            Classifier::Head(head) => head.head.readout().clone(),
            Classifier::Ensemble(_) => Readout::SingleLabel {
                decision: DecisionRule::Argmax,
            },
        }
    }

    /// What it learnt.
    pub fn task(&self) -> data::Task {
        match self {
            Classifier::Head(head) => head.head.task(),
            Classifier::FineTuned(_) | Classifier::Ensemble(_) => data::Task::SingleLabel,
        }
    }

    /// Scores per record: [`predict_proba`](Self::predict_proba)'s width.
    pub fn outputs(&self) -> usize {
        Readout::outputs(self.task(), self.labels().len())
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        match self {
            Classifier::FineTuned(model) => &model.dir,
            Classifier::Head(head) => &head.head.path,
            Classifier::Ensemble(ensemble) => &ensemble.dir,
        }
    }
}

impl HeadOnText {
    fn load(path: &Path, device: &Device) -> Result<Self> {
        let head = SavedHead::load(path, device)?;
        let spec: EmbeddingSpec = serde_json::from_value(head.features().spec.clone())
            .with_context(|| format!("{}: unreadable feature spec", path.display()))?;
        let model_dir = PathBuf::from(&spec.model);
        let encoder = head_encoder(&head, &model_dir, spec.max_len, spec.options(), device)
            .with_context(|| format!("the encoder of the head in {}", path.display()))?;
        Ok(Self { head, encoder })
    }

    fn predict_proba(
        &self,
        records: &[Record],
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        Ok(self.head.predict(&self.embed(records, progress)?, device).0)
    }

    /// `records` as this head's features.
    fn embed(&self, records: &[Record], progress: &mut dyn FnMut(usize)) -> Result<Features> {
        let (embeddings, _) = self.encoder.embed(records, progress)?;
        Ok(Features::new(
            embeddings.values,
            embeddings.dim,
            vec![0; records.len()],
        ))
    }
}

/// The frozen encoder `head` was trained over (`model_dir` at `max_len` with
/// `options`), refused when the model's files changed since.
pub(crate) fn head_encoder(
    head: &SavedHead,
    model_dir: &Path,
    max_len: usize,
    options: EmbedOptions,
    device: &Device,
) -> Result<FrozenEncoder> {
    let spec = EmbeddingSpec::for_encoder(model_dir, max_len, &options)?;
    head.check_features(&spec.fingerprint(), &spec.describe_encoder())?;
    let bert = PretrainedBert::load(model_dir, max_len, device)?;
    Ok(FrozenEncoder::new(bert, device.clone(), options)?)
}

impl Ensemble {
    fn load(
        dir: &Path,
        max_len: Option<usize>,
        device: &Device,
        within: &mut Vec<PathBuf>,
    ) -> Result<Self> {
        let path = dir.join(ENSEMBLE_FILE);
        let canonical =
            std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
        if within.contains(&canonical) || within.len() >= MAX_NESTING {
            refuse!(
                "{} lists itself as a member (directly or through other ensembles)",
                path.display()
            );
        }
        artifacts::verify(dir, artifacts::ArtifactKind::Ensemble)?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let spec: EnsembleSpec = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an ensemble file", path.display()))?;
        spec.validate()
            .with_context(|| format!("{} is not a usable ensemble", path.display()))?;
        within.push(canonical);
        let members = spec
            .members
            .iter()
            .map(|member| {
                let member_dir = dir.join(&member.path);
                let classifier = Classifier::load_within(&member_dir, max_len, device, within)
                    .with_context(|| {
                        format!("member {} of {}", member.path.display(), path.display())
                    })?;
                // Members' probabilities are averaged or voted as classes.
                if classifier.task() != data::Task::SingleLabel {
                    refuse!(
                        "member {} of {} is a {} model; ensembles combine single-label ones",
                        member.path.display(),
                        path.display(),
                        classifier.task()
                    );
                }
                let columns = label_columns(classifier.labels(), &spec.labels)
                    .with_context(|| format!("member {}", member_dir.display()))?;
                Ok((classifier, columns))
            })
            .collect::<Result<Vec<_>>>()?;
        within.pop();
        Ok(Self {
            dir: dir.to_owned(),
            spec,
            members,
        })
    }

    fn predict_proba(
        &self,
        records: &[Record],
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        let classes = self.spec.labels.len();
        let mut members = Vec::with_capacity(self.members.len());
        // Heads over the same encoder (a bagged or boosted ensemble) share one
        // embedding of the records instead of one each.
        let mut features: HashMap<String, Features> = HashMap::new();
        for (index, (member, columns)) in self.members.iter().enumerate() {
            // Progress counts records of the last member only, so a bar sized to the
            // records fills once.
            let mut quiet = |_: usize| {};
            let hook: &mut dyn FnMut(usize) = if index + 1 == self.members.len() {
                &mut *progress
            } else {
                &mut quiet
            };
            let probabilities = match member {
                Classifier::Head(head) => {
                    let key = head.head.features().fingerprint.clone();
                    if !features.contains_key(&key) {
                        features.insert(key.clone(), head.embed(records, hook)?);
                    }
                    head.head.predict(&features[&key], device).0
                }
                other => other.predict_proba(records, batch_size, device, hook)?,
            };
            members.push(reorder_columns(&probabilities, columns, classes));
        }
        let weights: Vec<f64> = self.spec.members.iter().map(|m| m.weight).collect();
        Ok(self.spec.combine.apply(&members, &weights, classes))
    }
}

/// For each of `labels`, its column among `member`'s classes; the two must name the
/// same classes.
pub(crate) fn label_columns(member: &[String], labels: &[String]) -> Result<Vec<usize>> {
    let (mut sorted_member, mut sorted_labels) = (member.to_vec(), labels.to_vec());
    sorted_member.sort();
    sorted_labels.sort();
    if sorted_member != sorted_labels {
        refuse!(
            "it predicts the classes {} where {} are needed: ensemble members and teachers must know exactly the classes of the data",
            member.join(", "),
            labels.join(", ")
        );
    }
    Ok(labels
        .iter()
        .map(|l| member.iter().position(|m| m == l).unwrap_or(0))
        .collect())
}

/// `probabilities` (`rows × classes`) with column `columns[c]` moved to `c`.
pub(crate) fn reorder_columns(
    probabilities: &[f32],
    columns: &[usize],
    classes: usize,
) -> Vec<f32> {
    probabilities
        .chunks(classes)
        .flat_map(|row| columns.iter().map(|&c| row[c]))
        .collect()
}

/// A run folder stands for the model inside it.
pub(crate) fn model_folder(path: &Path) -> PathBuf {
    let inner = path.join("model");
    if !path.join("config.json").exists() && inner.join("config.json").exists() {
        inner
    } else {
        path.to_owned()
    }
}

/// Each record's true label, for scoring; a record without one is an error naming
/// it and `source` (a label the model does not know is scored as a miss).
pub(crate) fn true_labels<'a>(records: &'a [Record], source: &Path) -> Result<Vec<&'a str>> {
    records
        .iter()
        .map(|r| {
            r.class()
                .with_context(|| format!("record {:?} in {} has no label", r.id, source.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A fine-tuned classifier committed as a test fixture (a folder another tool
    /// could have written: no marker).
    fn member() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../joint/tests/fixtures/tiny-classifier")
    }

    fn records() -> Vec<Record> {
        ["cat dog", "oil price"]
            .iter()
            .enumerate()
            .map(|(i, text)| Record {
                id: i.to_string(),
                text: text.to_string(),
                text_b: None,
                label: None,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A damaged `ensemble.json` is an error, or an ensemble that predicts;
        /// never a panic.
        #[test]
        fn a_damaged_ensemble_file_never_panics(
            damages in proptest::collection::vec(testkit::damage(), 1..3),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let spec = EnsembleSpec {
                combine: Combine::Mean,
                labels: vec!["animals".into(), "markets".into()],
                members: vec![
                    EnsembleMember { path: member(), weight: 1.0 },
                    EnsembleMember { path: ".".into(), weight: 0.5 },
                ],
            };
            let path = dir.path().join(ENSEMBLE_FILE);
            std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
            for damage in damages {
                damage.apply(&path);
            }
            let device = Device::flex();
            if let Ok(classifier) = Classifier::load(dir.path(), None, &device) {
                let probabilities = classifier.predict_proba(&records(), 2, &device, &mut |_| {});
                prop_assert!(probabilities.is_ok());
            }
        }
    }

    #[test]
    fn an_ensemble_listing_itself_is_refused_and_a_sound_one_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let mut spec = EnsembleSpec {
            combine: Combine::Mean,
            labels: vec!["markets".into(), "animals".into()],
            members: vec![EnsembleMember {
                path: member(),
                weight: 1.0,
            }],
        };
        spec.write_into(dir.path()).unwrap();
        let ensemble = Classifier::load(dir.path(), None, &device).unwrap();
        let single = Classifier::load(&member(), None, &device).unwrap();
        let (a, b) = (
            ensemble
                .predict_proba(&records(), 2, &device, &mut |_| {})
                .unwrap(),
            single
                .predict_proba(&records(), 2, &device, &mut |_| {})
                .unwrap(),
        );
        // The ensemble's columns are in its own label order: reversed.
        assert_eq!((a[0], a[1]), (b[1], b[0]));
        spec.members.push(EnsembleMember {
            path: ".".into(),
            weight: 1.0,
        });
        spec.write_into(dir.path()).unwrap();
        let error = Classifier::load(dir.path(), None, &device).err().unwrap();
        assert!(error.chain().contains("lists itself"), "{}", error.chain());
    }
}
