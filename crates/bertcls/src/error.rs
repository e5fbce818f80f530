//! The error of every job: what went wrong, in the library's terms, with the chain
//! of causes kept (`std::error::Error::source`), never flattened into a string.
//!
//! Each wrapping variant shows its cause's message and also returns the cause as its
//! source (not `transparent`), so that a caller walking the chain finds the typed
//! error inside (a [`settings::SettingError`], say, which the command line names by
//! its flag).

use settings::Message;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A data file could not be read, or a record is bad.
    #[error("{0}")]
    Data(#[from] data::DataError),
    /// A model folder could not be loaded.
    #[error("{0}")]
    Bert(#[from] bert::BertError),
    /// A tokenizer could not be loaded or refused a text.
    #[error("{0}")]
    Text(#[from] text::TextError),
    /// A record's text could not be tokenized.
    #[error("{0}")]
    RecordText(#[from] text::RecordTextError),
    /// An embedding cache could not be read or written.
    #[error("{0}")]
    Cache(#[from] encoder::CacheError),
    /// Embedding a data set failed.
    #[error("{0}")]
    Build(#[from] encoder::BuildError),
    /// A record could not be encoded.
    #[error("{0}")]
    Encode(#[from] encoder::EncodeError),
    /// An `.npy` file could not be read or written.
    #[error("{0}")]
    Npy(#[from] encoder::NpyError),
    /// A shard that cannot be cut.
    #[error("{0}")]
    Shard(#[from] encoder::ShardError),
    /// Training, saving or applying a head failed.
    #[error("{0}")]
    Head(#[from] head::HeadError),
    /// Fine-tuning, saving or loading a fine-tuned model failed.
    #[error("{0}")]
    Joint(#[from] joint::JointError),
    /// A report could not be written or read.
    #[error("{0}")]
    Report(#[from] report::ReportError),
    /// An output could not be written, or may not be replaced.
    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),
    /// A setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),
    /// A JSON file (a saved ensemble, a results file) is not what it should be.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A TOML file (a sweep grid, a study) is not what it should be.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The job refuses this combination of settings or inputs, and says why; the
    /// settings it names are named by their caller ([`settings::Message::render`]).
    #[error("{0}")]
    Refused(Message),
    /// A study sets this setting itself, and the user gave it too.
    #[error("{setting} {value}: {reason}; leave it out")]
    SetByStudy {
        /// The setting's name, as in the job's serde form (`class_weights`).
        setting: String,
        /// The value the user gave, as the job's serde form writes it.
        value: String,
        /// How the study sets it.
        reason: String,
    },
    /// Resuming was asked for in a fine-tuning run's folder whose run finished:
    /// there is nothing to resume, and its model is kept.
    #[error(
        "nothing to resume in {dir}: its run finished ({how} after {steps} optimizer steps) \
         and its model is in {model}; resuming continues an interrupted run from the \
         checkpoint it left"
    )]
    RunFinished {
        /// The run's folder.
        dir: std::path::PathBuf,
        /// How it ended, in words (`done`, `stopped early`).
        how: String,
        /// Optimizer steps it took.
        steps: usize,
        /// Where its model is.
        model: std::path::PathBuf,
    },
    /// The setting whose value (a file, a folder, a model) its cause failed on.
    #[error("`{setting}`")]
    ForSetting {
        /// The setting's name in the job (`out`).
        setting: &'static str,
        /// What failed.
        #[source]
        source: Box<JobError>,
    },
    /// What the job was doing when its cause failed.
    #[error("{context}")]
    Context {
        /// What was being done, for the message; it may name settings.
        context: Message,
        /// What failed.
        #[source]
        source: Box<JobError>,
    },
}

impl JobError {
    /// The message with every cause after it, `outer: inner: innermost`, each said
    /// once (a cause whose text its wrapper already shows is skipped).
    pub fn chain(&self) -> String {
        let mut parts: Vec<String> = vec![self.to_string()];
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !parts.last().is_some_and(|last| last.ends_with(&text)) {
                parts.push(text);
            }
            source = cause.source();
        }
        parts.join(": ")
    }
}

/// A job's result.
pub type Result<T, E = JobError> = std::result::Result<T, E>;

/// Says what was being done when an error happened, keeping the error as the cause.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<Message>) -> Result<T>;
    /// Wraps the error with the context `make` gives (computed only on error).
    fn with_context<M: Into<Message>>(self, make: impl FnOnce() -> M) -> Result<T>;
    /// Wraps the error as one of the value of `setting` (the file in `out`, say).
    fn for_setting(self, setting: &'static str) -> Result<T>;
}

impl<T, E: Into<JobError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<Message>) -> Result<T> {
        self.map_err(|e| JobError::Context {
            context: context.into(),
            source: Box::new(e.into()),
        })
    }

    fn with_context<M: Into<Message>>(self, make: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| JobError::Context {
            context: make().into(),
            source: Box::new(e.into()),
        })
    }

    fn for_setting(self, setting: &'static str) -> Result<T> {
        self.map_err(|e| JobError::ForSetting {
            setting,
            source: Box::new(e.into()),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<Message>) -> Result<T> {
        self.ok_or_else(|| JobError::Refused(context.into()))
    }

    fn with_context<M: Into<Message>>(self, make: impl FnOnce() -> M) -> Result<T> {
        self.ok_or_else(|| JobError::Refused(make().into()))
    }

    fn for_setting(self, setting: &'static str) -> Result<T> {
        self.ok_or_else(|| JobError::Refused(Message::default().text("give ").setting(setting)))
    }
}

/// Returns a [`JobError::Refused`]: a formatted message, or one that names settings
/// (`refuse!("leave out " [augmented])`, see [`settings::message!`]).
macro_rules! refuse {
    ($($message:tt)*) => {
        return Err($crate::error::refused!($($message)*))
    };
}
pub(crate) use refuse;

/// A [`JobError::Refused`] as [`refuse!`] makes it (for `map_err` and `ok_or_else`).
macro_rules! refused {
    ([$setting:ident] $($rest:tt)*) => {
        $crate::error::JobError::Refused(settings::message!([$setting] $($rest)*))
    };
    ($text:literal [$setting:ident] $($rest:tt)*) => {
        $crate::error::JobError::Refused(settings::message!($text [$setting] $($rest)*))
    };
    ($($message:tt)*) => {
        $crate::error::JobError::Refused(format!($($message)*).into())
    };
}
pub(crate) use refused;
