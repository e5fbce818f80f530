//! Tokenization for BERT models.
//!
//! A [`BertTokenizer`] turns a text, or a sentence pair, into the ids a BERT reads:
//! `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, with token type ids 0 for the first
//! segment and 1 for the second. It reads a Hugging Face `tokenizer.json` when the model
//! folder has one, and otherwise builds the WordPiece tokenizer from `vocab.txt`.
//! Truncation is always ours (`max_len`, longest side first): whatever a `tokenizer.json`
//! says about padding and truncation is overridden, because batching pads later.
//!
//! A [`PromptTemplate`] places a text around a `[MASK]` for prompt-based
//! classification, cutting the text, never the template, to fit.
//!
//! This crate knows nothing of tensors; it is shared by every stage that reads text.

#![warn(missing_docs)]

mod error;
mod prompt;
mod special;
mod tokenizer;

pub use error::TextError;
pub use prompt::{PromptEncoding, PromptTemplate, TemplateError};
pub use special::SpecialTokens;
pub use tokenizer::{BertTokenizer, Encoding, RecordTextError, length_order};

/// The files of a Hugging Face model folder that decide how it tokenizes (those
/// present are read, fingerprinted and copied with the model).
pub const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];
