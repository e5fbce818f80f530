//! Pipeline mode, stage 1: a pretrained BERT, frozen, turns every record of a data
//! set into one feature vector.
//!
//! Records are tokenized, sorted by length and batched, so each batch is padded only
//! to its own longest sequence; vectors come back in the input order.

mod embed;
mod npy;

pub use embed::{EmbedOptions, EmbedSummary, Embeddings, EncodeError, FrozenEncoder};
pub use npy::{NpyError, read_npy, write_npy};
