use std::path::PathBuf;

/// Errors of end-to-end training and of saved classifiers.
#[derive(Debug, thiserror::Error)]
pub enum JointError {
    /// The base model could not be loaded.
    #[error(transparent)]
    Bert(#[from] bert::BertError),

    /// A record's text could not be tokenized.
    #[error(transparent)]
    Text(#[from] text::RecordTextError),

    // Not transparent: the inner error stays in the source chain, where the command
    // line finds it to name its flag.
    /// An output could not be written, or may not be replaced.
    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),

    /// A record without a label where labels are needed.
    #[error("record {id:?} has no label: training and evaluation need labelled data")]
    MissingLabel {
        /// The record's id.
        id: String,
    },

    /// A record's label is not a class of the model.
    #[error(
        "record {id:?}: label {label:?} is not a class of this model (classes: {known}); \
         train on data that has it, or drop the record"
    )]
    UnknownLabel {
        /// The record's id.
        id: String,
        /// Its label.
        label: String,
        /// The model's classes, comma-separated.
        known: String,
    },

    /// A data set with no records.
    #[error("{what} has no records")]
    NoExamples {
        /// Which one (`training`, `validation`).
        what: &'static str,
    },

    /// A training setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),

    /// Training data that does not fit the settings.
    #[error("{0}")]
    Data(String),

    /// A model or checkpoint file could not be read or written.
    #[error("cannot {action} {path}")]
    File {
        /// What was being done: `read`, `write`, ….
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A folder that holds no sequence classifier.
    #[error(
        "{path} is not a sequence classifier: {message} \
         (expected a folder saved by `bertcls finetune` or a Hugging Face \
         BertForSequenceClassification)"
    )]
    NotAClassifier {
        /// The folder.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },

    /// The loss became NaN or infinite.
    #[error(
        "the loss became {loss} at optimizer step {step}: training stopped, nothing written. \
         {checkpoint}A lower learning rate, gradient clipping or a longer warm-up usually \
         helps."
    )]
    NonFiniteLoss {
        /// The optimizer step it happened at.
        step: usize,
        /// The loss.
        loss: f32,
        /// Where the last good checkpoint is, as a sentence (empty when there is none).
        checkpoint: String,
    },

    /// A prompt or verbalizer that cannot be used.
    #[error("prompt: {0}")]
    Prompt(String),

    /// Resuming was asked for, and the folder has no checkpoint.
    #[error("no checkpoint to resume in {dir}: start a new run instead")]
    NoCheckpoint {
        /// The run's folder.
        dir: PathBuf,
    },

    /// Resuming was asked for with other settings than the checkpoint's.
    #[error(
        "the checkpoint in {dir} was written by a run with other settings ({details}); \
         resume with the same settings, or start a new run in another folder"
    )]
    ResumeMismatch {
        /// The run's folder.
        dir: PathBuf,
        /// The settings that differ.
        details: String,
    },
}

impl JointError {
    pub(crate) fn file(
        action: &'static str,
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        JointError::File {
            action,
            path: path.to_owned(),
            source: source.into(),
        }
    }
}
