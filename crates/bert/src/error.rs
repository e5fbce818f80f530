use std::path::PathBuf;

/// Errors from reading a BERT's configuration or weights, or choosing a backend.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    /// A file of the model folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        cause: std::io::Error,
    },

    /// `config.json` is not a BERT configuration this crate can build.
    #[error("invalid BERT config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },

    /// The folder has no weights file.
    #[error(
        "no weights in {dir}: expected model.safetensors or pytorch_model.bin \
         (a Hugging Face BERT folder)"
    )]
    NoWeights {
        /// The model folder.
        dir: PathBuf,
    },

    /// The weights file cannot be parsed.
    #[error("cannot read weights from {path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// The checkpoint lacks tensors the encoder needs, or has them in the wrong shape.
    #[error("{path} does not fit this BERT config:\n{details}")]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// Every missing or misshapen tensor, one per line.
        details: String,
    },

    /// The folder's tokenizer could not be loaded.
    #[error(transparent)]
    Tokenizer(#[from] text::TextError),

    /// A backend name that is none of flex, ndarray, wgpu.
    #[error("unknown backend {0:?}: expected flex, ndarray or wgpu")]
    UnknownBackend(String),

    /// wgpu was asked for in a build without the `wgpu` feature.
    #[error("backend wgpu is not compiled in: rebuild with `--features wgpu`")]
    WgpuNotCompiled,

    /// wgpu was asked for and no adapter (GPU or software) answers.
    #[error(
        "no wgpu adapter answers (no GPU driver; on Linux, mesa-vulkan-drivers provides lavapipe, a software one)"
    )]
    NoWgpuAdapter,

    /// Sequences longer than the position embeddings cover.
    #[error("max_len {max_len} exceeds the model's max_position_embeddings {max_positions}")]
    MaxLenTooLong {
        /// The length asked for.
        max_len: usize,
        /// The model's `max_position_embeddings`.
        max_positions: usize,
    },

    /// A reduced precision asked of a device whose kernels do not run it.
    #[error(
        "precision {precision} runs on the CPU backends (flex, ndarray) and for inference only: \
         choose one of them, or precision fp32"
    )]
    PrecisionNeedsCpu {
        /// The precision asked for.
        precision: crate::Precision,
    },

    /// More encoder layers were asked for than the model has.
    #[error("cannot keep {asked} encoder layers: the model has {available}")]
    TooManyLayers {
        /// Layers asked for.
        asked: usize,
        /// Layers the model has.
        available: usize,
    },
}
