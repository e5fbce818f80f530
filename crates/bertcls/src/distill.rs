//! Knowledge distillation as jobs: a student (a fine-tuned BERT, or pipeline heads)
//! learns from a fine-tuned teacher's softened probabilities as well as from the
//! labels. The teacher itself is [`crate::teacher`], below the jobs that use it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Job;
use crate::Observer;
use crate::error::{Context, Result};
use crate::finetune::{FineTuneJob, FineTuneOutcome};
use crate::heads::{SweepJob, Swept};
use crate::options::Columns;
use crate::teacher::TeacherOptions;

/// A fine-tuned student: a smaller BERT (`num_layers` K), or the teacher's own
/// architecture (born-again networks: often better than its teacher)
/// (`bertcls distill finetune`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillFineTuneJob {
    /// The teacher.
    #[serde(flatten)]
    pub teacher: TeacherOptions,
    /// The student's fine-tuning.
    #[serde(flatten)]
    pub finetune: FineTuneJob,
}

impl Job for DistillFineTuneJob {
    type Output = FineTuneOutcome;

    fn validate(&self) -> Result<()> {
        self.teacher.validate()?;
        self.finetune.validate()
    }

    /// Fine-tunes the student; returns what fine-tuning returns.
    fn execute(&self, observer: &mut dyn Observer) -> Result<FineTuneOutcome> {
        let teacher = self
            .teacher
            .teacher(self.finetune.model.backend.device()?)?;
        self.finetune.run_with(Some(&teacher), observer)
    }
}

/// Pipeline heads over cached frozen embeddings, taught by a fine-tuned model: the
/// cheap model learns from the expensive one (`bertcls distill head`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillHeadJob {
    /// The teacher.
    #[serde(flatten)]
    pub teacher: TeacherOptions,
    /// The training texts the `train` cache was embedded from: the teacher reads them
    /// (records are matched to the cache's rows by id).
    pub texts: PathBuf,
    /// How `texts` is read.
    #[serde(flatten)]
    pub columns: Columns,
    /// The students' sweep.
    #[serde(flatten)]
    pub sweep: SweepJob,
}

impl Job for DistillHeadJob {
    type Output = Swept;

    fn validate(&self) -> Result<()> {
        self.teacher.validate()?;
        self.sweep.validate()
    }

    /// Sweeps the students; returns what a sweep returns.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Swept> {
        let teacher = self.teacher.teacher(self.sweep.caches.backend.device()?)?;
        let records = self.columns.read(&self.texts, true, observer)?;
        self.sweep
            .run_with(Some((&teacher, &records)), observer)
            .with_context(|| format!("distilling into heads from {}", self.texts.display()))
    }
}
