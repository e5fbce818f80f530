//! The teacher of knowledge distillation: one or more fine-tuned models whose
//! softened probabilities a student learns from, computed once per (teacher, data)
//! and cached. Below the jobs that use it (fine-tuning, head sweeps, distillation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bert::burn::tensor::Device;
use data::{Record, sha256_file};
use joint::SavedClassifier;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use training::{DistillationLoss, SoftTargets};

use crate::Observer;
use crate::classifier::{label_columns, model_folder, reorder_columns};
use crate::error::{Context, Result, refuse};

/// The folder teachers' predictions are cached in by default.
pub const DEFAULT_TEACHER_CACHE: &str = ".cache/teachers";

/// Who teaches, and how strongly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherOptions {
    /// A fine-tuned model (`finetune`'s OUT or OUT/model). Several make an ensemble
    /// teacher: their softened probabilities averaged.
    pub teacher: Vec<PathBuf>,
    /// Temperature T softening teacher and student alike; higher shows more of the
    /// teacher's "dark knowledge" (how it ranks the wrong classes).
    pub temperature: f64,
    /// Weight α of the teacher's soft targets (scaled by T²); 1 − α goes to the labels.
    pub alpha: f64,
    /// Where the teachers' predictions are cached, named by teacher and data.
    pub teacher_cache: PathBuf,
}

impl TeacherOptions {
    /// The teachers `teacher` at the default temperature and weight.
    pub fn new(teacher: Vec<PathBuf>) -> Self {
        let loss = DistillationLoss::default();
        Self {
            teacher,
            temperature: loss.temperature,
            alpha: loss.alpha,
            teacher_cache: DEFAULT_TEACHER_CACHE.into(),
        }
    }

    /// The distillation loss these settings describe.
    fn loss(&self) -> DistillationLoss {
        DistillationLoss {
            temperature: self.temperature,
            alpha: self.alpha,
        }
    }

    /// Checks the temperature, the weight and that there is a teacher.
    pub fn validate(&self) -> Result<()> {
        self.loss().validate()?;
        if self.teacher.is_empty() {
            refuse!("distillation needs at least one teacher");
        }
        Ok(())
    }

    /// The teacher these settings describe, running on `device`.
    pub fn teacher(&self, device: Device) -> Result<Teacher> {
        self.validate()?;
        Ok(Teacher {
            members: self.teacher.clone(),
            loss: self.loss(),
            cache: self.teacher_cache.clone(),
            device,
        })
    }
}

/// One or more fine-tuned models whose averaged softened probabilities a student
/// learns from.
pub struct Teacher {
    /// The teachers' folders.
    members: Vec<PathBuf>,
    /// How the student mixes the teacher's targets and the labels.
    pub loss: DistillationLoss,
    cache: PathBuf,
    device: Device,
}

/// A teacher's probabilities over a data set, as cached.
#[derive(Serialize, Deserialize)]
struct CachedPredictions {
    teacher: PathBuf,
    labels: Vec<String>,
    ids: Vec<String>,
    /// `ids × labels`, row-major.
    probabilities: Vec<f32>,
}

impl CachedPredictions {
    /// The predictions are of `records` (same ids, in order), one finite probability
    /// per class and record.
    fn check(&self, records: &[Record]) -> Result<()> {
        let ids_match = self.ids.len() == records.len()
            && self.ids.iter().zip(records).all(|(id, r)| *id == r.id);
        if !ids_match {
            refuse!("its records are not these");
        }
        if self.labels.len() < 2
            || self.probabilities.len() != self.ids.len() * self.labels.len()
            || self.probabilities.iter().any(|p| !p.is_finite())
        {
            refuse!("its probabilities do not fit its classes and records");
        }
        Ok(())
    }
}

impl Teacher {
    /// The soft targets of `records` (in their order), columns in `labels`' order:
    /// each member's probabilities (from the cache when it has them) softened at the
    /// temperature and averaged.
    pub fn soft_targets(
        &self,
        records: &[Record],
        labels: &[String],
        observer: &mut dyn Observer,
    ) -> Result<SoftTargets> {
        let members = self
            .members
            .iter()
            .map(|member| {
                let predictions = self.predictions(member, records, observer)?;
                in_label_order(&predictions, labels)
                    .with_context(|| format!("teacher {}", member.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SoftTargets::from_probabilities(
            &members,
            labels.len(),
            self.loss.temperature,
        ))
    }

    /// One member's probabilities over `records`, computed or read back.
    fn predictions(
        &self,
        member: &Path,
        records: &[Record],
        observer: &mut dyn Observer,
    ) -> Result<CachedPredictions> {
        let dir = model_folder(member);
        let path = self
            .cache
            .join(format!("{}.json", fingerprint(&dir, records)?));
        if let Ok(text) = std::fs::read_to_string(&path) {
            // A damaged cache file is recomputed and replaced, never trusted.
            match serde_json::from_str::<CachedPredictions>(&text)
                .map_err(crate::JobError::from)
                .and_then(|cached| cached.check(records).map(|()| cached))
            {
                Ok(cached) => {
                    observer.note(&format!(
                        "teacher {}: predictions read from {}",
                        dir.display(),
                        path.display()
                    ));
                    return Ok(cached);
                }
                Err(e) => observer.note(&format!(
                    "teacher {}: {} is unusable ({e}); computing the predictions again",
                    dir.display(),
                    path.display()
                )),
            }
        }
        let classifier = SavedClassifier::load(&dir, None, &self.device)
            .with_context(|| format!("loading the teacher in {}", dir.display()))?;
        observer.begin("teacher", records.len());
        let probabilities =
            classifier.predict_proba(records, 32, &self.device, &mut |n| observer.advance(n));
        observer.end();
        let probabilities = probabilities?;
        let predictions = CachedPredictions {
            teacher: dir.clone(),
            labels: classifier.meta.labels.clone(),
            ids: records.iter().map(|r| r.id.clone()).collect(),
            probabilities,
        };
        predictions.check(records)?;
        std::fs::create_dir_all(&self.cache)
            .with_context(|| format!("creating {}", self.cache.display()))?;
        artifacts::write_atomic(&path, &serde_json::to_vec(&predictions)?)?;
        observer.note(&format!(
            "teacher {}: predictions on {} records cached in {}",
            dir.display(),
            records.len(),
            path.display()
        ));
        Ok(predictions)
    }
}

/// Names a teacher's predictions by what decides them: every file of the model
/// folder and the records' ids and texts.
fn fingerprint(model_dir: &Path, records: &[Record]) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(model_dir)
        .with_context(|| format!("reading the teacher folder {}", model_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for file in &files {
        hasher.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update(sha256_file(file)?.as_bytes());
    }
    for record in records {
        hasher.update(serde_json::to_vec(&(
            &record.id,
            &record.text,
            &record.text_b,
        ))?);
    }
    Ok(format!("{:x}", hasher.finalize())[..24].to_owned())
}

/// A teacher's probabilities with columns in `labels`' order; the teacher must know
/// exactly the student's classes.
fn in_label_order(predictions: &CachedPredictions, labels: &[String]) -> Result<Vec<f32>> {
    let columns = label_columns(&predictions.labels, labels)?;
    Ok(reorder_columns(
        &predictions.probabilities,
        &columns,
        labels.len(),
    ))
}

/// `records` in the order of `ids` (a cache's rows); an id without a record is an
/// error naming it.
pub(crate) fn records_in_order(records: &[Record], ids: &[String]) -> Result<Vec<Record>> {
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id.as_str())
                .map(|r| (*r).clone())
                .with_context(|| {
                    settings::message!(
                        "the training cache has record {id}, which the " [texts] " file lacks: it \
                         must be the file the cache was embedded from"
                    )
                })
        })
        .collect()
}
