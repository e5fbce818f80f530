//! BERT text classifiers, two ways, as a library: every workflow of the `bertcls`
//! tool is a job here, a typed configuration that validates itself and a function
//! that runs it and returns what it made.
//!
//! - **Pipeline mode**: [`EmbedJob`] runs a frozen BERT over a data set into an
//!   embedding cache; [`TrainHeadJob`], [`SweepJob`] and [`PredictHeadJob`] train,
//!   sweep and apply heads over the cached features.
//! - **End-to-end mode**: [`FineTuneJob`] fine-tunes BERT and its head together;
//!   [`DistillFineTuneJob`] and [`DistillHeadJob`] teach a student from a fine-tuned
//!   teacher.
//! - **Any saved model**: [`Classifier`] loads a fine-tuned model, a head or an
//!   ensemble; [`PredictJob`], [`EvaluateJob`] and [`EnsembleJob`] use them.
//! - **The comparison**: [`CompareJob`] runs both modes on the same data and writes
//!   one report; a study ([`study::Suite`]) runs many comparisons.
//!
//! Each job implements [`Job`]: `validate()` checks its settings, `run()` validates
//! and does the work. A job is plain data (serde, no command line): the `bertcls`
//! binary declares a flag for each setting and turns its flags into jobs. A job
//! reports its progress to an [`Observer`] ([`Quiet`] ignores it).
//!
//! ```no_run
//! use bertcls::{EmbedJob, Job, Quiet};
//!
//! let job = EmbedJob::new("data/r8/train.jsonl");
//! let embedded = job.run(&mut Quiet)?;
//! println!("{} × {} features in {}", embedded.cache.meta.rows, embedded.cache.meta.dim, embedded.cache.path.display());
//! # Ok::<(), bertcls::JobError>(())
//! ```

#![warn(missing_docs, unreachable_pub)]

mod augmentation;
mod bench;
mod classifier;
mod compare;
mod cross_validation;
mod distill;
mod embed;
mod ensemble;
mod error;
mod finetune;
mod heads;
mod job;
pub mod machine;
mod observe;
mod options;
mod predict;
mod predictions;
mod stage;
mod states;
mod teacher;
mod zero_shot;

pub use augmentation::{AugmentJob, Augmented};
pub use bench::{BenchEncoderJob, BenchStepJob, EncoderTimings, Pass, StepTiming, StepTimings};
pub use classifier::{
    Classifier, ENSEMBLE_FILE, Ensemble, EnsembleMember, EnsembleSpec, HeadOnText,
};
pub use compare::{
    CompareJob, Compared, ComparisonDefaults, HeadStart, Studied, StudyJob, SuiteSource,
};

/// Studies as data: the parts of a suite file, for programs that build or inspect
/// one (`bertcls compare --suite FILE` reads them).
pub mod study {
    pub use crate::compare::{
        DataSet, Design, FewShotDesign, ImbalanceArm, ImbalanceDesign, Mode, PerturbationSpec,
        Recipe, RobustArmSpec, RobustnessDesign, SettingsTable, Suite, SuiteCommon,
    };
}
pub use cross_validation::{CvData, FitPredict, Fold, cross_validate};
pub use distill::{DistillFineTuneJob, DistillHeadJob};
pub use embed::{DEFAULT_CACHE_DIR, EmbedJob, Embedded};
pub use ensemble::{EnsembleEvaluation, EnsembleJob, EnsembleMade, MemberReport};
pub use error::{Context, JobError, Result};
pub use finetune::{
    DEFAULT_OUT, FineTuneJob, FineTuneOutcome, FineTuneRun, StatesUsed, TEST_PREDICTIONS_FILE,
    TrainingSummary,
};
pub use heads::{
    FeatureCaches, GridOptions, PredictHeadJob, SweepJob, Swept, TrainHeadJob, TrainedHeads,
};
pub use job::Job;
pub use observe::{Observer, Quiet};
pub use options::{
    AdversaryOptions, Columns, DEFAULT_MODEL, DecisionOptions, Force, Input, LossOptions,
    ModelOptions,
};
pub use predict::{ClassifierOptions, EvaluateJob, Evaluated, PredictJob, Predicted};
pub use predictions::{prediction_line, prediction_lines, write_predictions};
pub use stage::Stage;
pub use states::DEFAULT_STATE_CACHE_DIR;
pub use teacher::{DEFAULT_TEACHER_CACHE, Teacher, TeacherOptions};
pub use zero_shot::{ZeroShotJob, ZeroShotReports};

// The component crates, for programs that go below the jobs.
pub use {
    artifacts, augment, bert, data, encoder, head, joint, metrics, report, settings, text, training,
};
