//! `bertcls distill finetune|head`.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::finetune::FineTuneFlags;
use super::heads::SweepFlags;
use super::options::{ColumnsFlags, TeacherFlags};

/// A fine-tuned student: a smaller BERT (--num-layers K), or the teacher's own
/// architecture (born-again networks: often better than its teacher)
/// (`bertcls distill finetune`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls distill finetune --teacher runs/r8 --num-layers 3 --train data/r8/train.jsonl \\\n      \
    --valid data/r8/validation.jsonl --test data/r8/test.jsonl --out runs/r8-student\n  \
    bertcls distill finetune --teacher runs/r8 --train … --out runs/r8-born-again   # same architecture\n  \
    bertcls distill finetune --teacher runs/r8-s1 runs/r8-s2 runs/r8-s3 --train … # an ensemble teaches\n\n\
    Every `finetune` flag applies to the student.")]
pub(crate) struct DistillFineTuneFlags {
    /// The teacher.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) teacher: TeacherFlags,
    /// The student's fine-tuning.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) finetune: FineTuneFlags,
}

/// Pipeline heads over cached frozen embeddings, taught by a fine-tuned model: the
/// cheap model learns from the expensive one (`bertcls distill head`).
#[derive(Args, Serialize)]
#[command(after_help = "Example:\n  \
    bertcls distill head --teacher runs/r8 --texts data/r8/train.jsonl \\\n      \
    --train .cache/r8-train.emb --valid .cache/r8-valid.emb --out sweeps/r8-distilled\n\n\
    Every `head sweep` flag applies to the students; the best is saved as best.head.")]
pub(crate) struct DistillHeadFlags {
    /// The teacher.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) teacher: TeacherFlags,
    /// The training texts the --train cache was embedded from: the teacher reads them
    /// (records are matched to the cache's rows by id).
    #[arg(long)]
    pub(crate) texts: PathBuf,
    /// How `texts` is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// The students' sweep.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) sweep: SweepFlags,
}
