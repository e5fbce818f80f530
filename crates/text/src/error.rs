use std::path::PathBuf;

/// Errors from loading a tokenizer or tokenizing a text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The model folder has neither `tokenizer.json` nor `vocab.txt`.
    #[error(
        "no tokenizer in {dir}: expected tokenizer.json or vocab.txt (a Hugging Face BERT folder)"
    )]
    NoTokenizer {
        /// The model folder.
        dir: PathBuf,
    },

    /// A tokenizer file exists but could not be read or parsed.
    #[error("cannot load tokenizer from {path}: {message}")]
    Load {
        /// The tokenizer file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// A special token (for example `[CLS]`) is not in the vocabulary.
    #[error(
        "the tokenizer in {dir} has no id for special token {token:?} ({role}); \
         check special_tokens_map.json or tokenizer_config.json"
    )]
    MissingSpecialToken {
        /// The model folder.
        dir: PathBuf,
        /// What the token does (`classifier`, `separator`, …).
        role: &'static str,
        /// The token's text.
        token: String,
    },

    /// `max_len` cannot hold even the special tokens.
    #[error("max_len {max_len} is too small: a sequence needs at least {min} tokens")]
    MaxLenTooSmall {
        /// The length asked for.
        max_len: usize,
        /// The fewest tokens a sequence needs.
        min: usize,
    },

    /// The text (or one side of a pair) yields no tokens: empty, or only whitespace and
    /// control characters.
    #[error("{segment} is empty (no tokens after normalisation)")]
    EmptyText {
        /// Which text: `text`, `text_b`, ….
        segment: &'static str,
    },

    /// A prompt template leaves no room for the text within `max_len`.
    #[error(
        "prompt {template:?} takes {tokens} tokens with [CLS] and [SEP], leaving no room for the text in max_len {max_len}: shorten it or raise max_len"
    )]
    PromptTooLong {
        /// The template.
        template: String,
        /// Its tokens with `[CLS]` and `[SEP]`.
        tokens: usize,
        /// The length asked for.
        max_len: usize,
    },

    /// The tokenizer has more tokens than the model has embeddings.
    #[error(
        "the tokenizer has {tokenizer} tokens but the model's vocab_size is {model}: the \
         tokenizer and the weights do not belong together"
    )]
    VocabTooLarge {
        /// The tokenizer's vocabulary size.
        tokenizer: usize,
        /// The model's `vocab_size`.
        model: usize,
    },

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
