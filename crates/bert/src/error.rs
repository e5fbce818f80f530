use std::path::PathBuf;

/// Errors from reading a BERT's configuration or weights, or choosing a backend.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },

    #[error("invalid BERT config {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error(
        "no weights in {dir}: expected model.safetensors or pytorch_model.bin \
         (a Hugging Face BERT folder)"
    )]
    NoWeights { dir: PathBuf },

    #[error("cannot read weights from {path}: {message}")]
    Weights { path: PathBuf, message: String },

    /// The checkpoint lacks tensors the encoder needs, or has them in the wrong shape.
    #[error("{path} does not fit this BERT config:\n{details}")]
    WeightsMismatch { path: PathBuf, details: String },

    #[error(transparent)]
    Tokenizer(#[from] text::TextError),

    #[error("unknown backend {0:?}: expected flex, ndarray or wgpu")]
    UnknownBackend(String),

    #[error("backend wgpu is not compiled in: rebuild with `--features wgpu`")]
    WgpuNotCompiled,

    #[error(
        "no wgpu adapter answers (no GPU driver; on Linux, mesa-vulkan-drivers provides lavapipe, a software one)"
    )]
    NoWgpuAdapter,

    #[error("max_len {max_len} exceeds the model's max_position_embeddings {max_positions}")]
    MaxLenTooLong {
        max_len: usize,
        max_positions: usize,
    },

    #[error("cannot keep {asked} encoder layers: the model has {available}")]
    TooManyLayers { asked: usize, available: usize },
}
