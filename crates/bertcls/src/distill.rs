//! Knowledge distillation as jobs: a student (a fine-tuned BERT, or pipeline heads)
//! learns from a fine-tuned teacher's softened probabilities as well as from the
//! labels. The teacher itself is [`crate::teacher`], below the jobs that use it.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::Job;
use crate::Observer;
use crate::error::{Context, Result};
use crate::finetune::{FineTuneJob, FineTuneOutcome};
use crate::heads::{SweepJob, Swept};
use crate::options::Columns;
use crate::teacher::TeacherOptions;

/// A fine-tuned student: a smaller BERT (--num-layers K), or the teacher's own
/// architecture (born-again networks: often better than its teacher)
/// (`bertcls distill finetune`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(after_help = "Examples:\n  \
    bertcls distill finetune --teacher runs/r8 --num-layers 3 --train data/r8/train.jsonl \\\n      \
    --valid data/r8/validation.jsonl --test data/r8/test.jsonl --out runs/r8-student\n  \
    bertcls distill finetune --teacher runs/r8 --train … --out runs/r8-born-again   # same architecture\n  \
    bertcls distill finetune --teacher runs/r8-s1 runs/r8-s2 runs/r8-s3 --train … # an ensemble teaches\n\n\
    Every `finetune` flag applies to the student.")]
pub struct DistillFineTuneJob {
    /// The teacher.
    #[command(flatten)]
    #[serde(flatten)]
    pub teacher: TeacherOptions,
    /// The student's fine-tuning.
    #[command(flatten)]
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
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(after_help = "Example:\n  \
    bertcls distill head --teacher runs/r8 --texts data/r8/train.jsonl \\\n      \
    --train .cache/r8-train.emb --valid .cache/r8-valid.emb --out sweeps/r8-distilled\n\n\
    Every `head sweep` flag applies to the students; the best is saved as best.head.")]
pub struct DistillHeadJob {
    /// The teacher.
    #[command(flatten)]
    #[serde(flatten)]
    pub teacher: TeacherOptions,
    /// The training texts the --train cache was embedded from: the teacher reads them
    /// (records are matched to the cache's rows by id).
    #[arg(long)]
    pub texts: PathBuf,
    /// How `texts` is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub columns: Columns,
    /// The students' sweep.
    #[command(flatten)]
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
