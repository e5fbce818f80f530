use std::path::PathBuf;

/// Errors from loading a tokenizer or tokenizing a text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The model folder has neither `tokenizer.json` nor `vocab.txt`.
    #[error(
        "no tokenizer in {dir}: expected tokenizer.json or vocab.txt (a Hugging Face BERT folder)"
    )]
    NoTokenizer { dir: PathBuf },

    /// A tokenizer file exists but could not be read or parsed.
    #[error("cannot load tokenizer from {path}: {message}")]
    Load { path: PathBuf, message: String },

    /// A special token (for example `[CLS]`) is not in the vocabulary.
    #[error(
        "the tokenizer in {dir} has no id for special token {token:?} ({role}); \
         check special_tokens_map.json or tokenizer_config.json"
    )]
    MissingSpecialToken {
        dir: PathBuf,
        role: &'static str,
        token: String,
    },

    /// `max_len` cannot hold even the special tokens.
    #[error("max_len {max_len} is too small: a sequence needs at least {min} tokens")]
    MaxLenTooSmall { max_len: usize, min: usize },

    /// The text (or one side of a pair) yields no tokens: empty, or only whitespace and
    /// control characters.
    #[error("{segment} is empty (no tokens after normalisation)")]
    EmptyText { segment: &'static str },

    /// A prompt template leaves no room for the text within `max_len`.
    #[error(
        "prompt {template:?} takes {tokens} tokens with [CLS] and [SEP], leaving no room for the text in max_len {max_len}: shorten it or raise --max-len"
    )]
    PromptTooLong {
        template: String,
        tokens: usize,
        max_len: usize,
    },

    /// The tokenizer has more tokens than the model has embeddings.
    #[error(
        "the tokenizer has {tokenizer} tokens but the model's vocab_size is {model}: the \
         tokenizer and the weights do not belong together"
    )]
    VocabTooLarge { tokenizer: usize, model: usize },

    /// A model config with no segment embeddings at all.
    #[error("the model's type_vocab_size is 0: it has no segment embeddings")]
    NoSegments,

    /// A sentence pair for a model with a single segment embedding.
    #[error(
        "it is a sentence pair (text_b), but the model has type_vocab_size 1: it reads single \
         texts only"
    )]
    PairsUnsupported,

    /// The tokenizers library failed on an input.
    #[error("tokenization failed: {0}")]
    Tokenize(String),
}
