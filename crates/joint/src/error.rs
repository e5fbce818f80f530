use std::path::PathBuf;

/// Errors of end-to-end training and of saved classifiers.
#[derive(Debug, thiserror::Error)]
pub enum JointError {
    #[error(transparent)]
    Bert(#[from] bert::BertError),

    #[error(transparent)]
    Text(#[from] text::RecordTextError),

    // Not transparent: the inner error stays in the source chain, where the command
    // line finds it to name its flag.
    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),

    #[error("record {id:?} has no label: training and evaluation need labelled data")]
    MissingLabel { id: String },

    #[error(
        "record {id:?}: label {label:?} is not a class of this model (classes: {known}); \
         train on data that has it, or drop the record"
    )]
    UnknownLabel {
        id: String,
        label: String,
        known: String,
    },

    #[error("{what} has no records")]
    NoExamples { what: &'static str },

    #[error("{0}")]
    Setting(#[from] settings::SettingError),

    /// Training data that does not fit the settings.
    #[error("{0}")]
    Data(String),

    #[error("cannot {action} {path}")]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error(
        "{path} is not a sequence classifier: {message} \
         (expected a folder saved by `bertcls finetune` or a Hugging Face \
         BertForSequenceClassification)"
    )]
    NotAClassifier { path: PathBuf, message: String },

    #[error(
        "the loss became {loss} at optimizer step {step}: training stopped, nothing written. \
         {checkpoint}Try a lower --lr, --max-grad-norm 1, or more warm-up."
    )]
    NonFiniteLoss {
        step: usize,
        loss: f32,
        checkpoint: String,
    },

    /// A prompt or verbalizer that cannot be used.
    #[error("prompt: {0}")]
    Prompt(String),

    #[error("no checkpoint to resume in {dir}: run without --resume to start training")]
    NoCheckpoint { dir: PathBuf },

    #[error(
        "the checkpoint in {dir} was written by a run with other settings ({details}); \
         resume with the same settings, or start a new run in another folder"
    )]
    ResumeMismatch { dir: PathBuf, details: String },
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
